// engine/engine_health.cpp — the Engine's verdicts: bots graded (and declared stalled when
// their records stop), forgotten when silent for long, the health report and error
// statistics, and the report page published with the board's health entries.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>

#include "common/safe_text.hpp"
#include "engine/engine.hpp"
#include "evaluate/health_report_format.hpp"

namespace telering::reader {

namespace {

// How often the bots that got records are re-graded between reports: a health change goes
// out within this, at the cost of one health check per active bot (~1 µs each) per period.
constexpr std::uint64_t kRegradeIntervalNs = 10'000'000;

}  // namespace

HealthStatus Engine::grade(const Bot& b, std::uint64_t now_ns) const {
  if (b.stalled) return HealthStatus::Critical;
  return run_full_health_check(b.monitor, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_)
      .overall_status;
}

// A bot whose records stop (or whose scan loop stops completing) cannot say so itself: the
// reader notices the silence, declares the bot CRITICAL, raises an alert and takes the
// configured action once per stall. Recording again ends the stall.
void Engine::check_stalls(std::uint64_t now_ns) {
  next_stall_check_ns_ = now_ns + 100'000'000;  // 100 ms: stalls are seconds long
  const auto silence = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.stall.max_silence).count());
  const auto scan_gap = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.stall.max_scan_interval).count());
  if (silence == 0 && scan_gap == 0) return;
  for (auto& [id, b] : bots_) {
    if (b.stalled || b.last_seen_ns == 0) continue;
    char reason[96] = {};
    if (silence && now_ns > b.last_seen_ns && now_ns - b.last_seen_ns > silence)
      std::snprintf(reason, sizeof reason, "no record for %.1f s", static_cast<double>(now_ns - b.last_seen_ns) / 1e9);
    else if (scan_gap && b.last_scan_ns && now_ns > b.last_scan_ns && now_ns - b.last_scan_ns > scan_gap)
      std::snprintf(reason, sizeof reason, "no completed scan for %.1f s (max cycle %.1f s)",
                    static_cast<double>(now_ns - b.last_scan_ns) / 1e9, static_cast<double>(scan_gap) / 1e9);
    if (reason[0] == '\0') continue;
    b.stalled = true;
    b.stall_reason = reason;
    report_requested_ = true;
    raise_alert("stall/" + b.name, "bot " + b.name + " stalled: " + reason, Severity::Critical, now_ns);
    switch (config_.stall.action) {
      case StallConfig::Action::Alert:
        break;
      case StallConfig::Action::OpenBreakers:
        for (NameId component : b.components) breakers_->open_for_bot(component, id, now_ns, "stall:" + b.name);
        break;
      case StallConfig::Action::Shutdown:
        board_.request_shutdown(true);
        shutdown_published_ = true;
        record_decision(0, now_ns, b.name, "SHUTDOWN requested (stalled)", "stall");
        break;
    }
  }
}

// Bots come and go (restarts under new names, a writer inventing names): each one kept costs
// windows, a report entry and metric series, so a bot silent for prune_bots_after is
// forgotten. Its board health goes back to UNKNOWN; its breakers and error history stay.
void Engine::prune_bots(std::uint64_t now_ns) {
  next_prune_ns_ = now_ns + 1'000'000'000;  // 1 s: pruning is about hours
  const auto after = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.prune_bots_after).count());
  if (after == 0) return;
  std::size_t pruned = 0;
  for (auto it = bots_.begin(); it != bots_.end();) {
    const Bot& b = it->second;
    if (now_ns <= b.last_seen_ns || now_ns - b.last_seen_ns <= after) {
      ++it;
      continue;
    }
    const NameId id = it->first;
    bots_by_id_[id] = nullptr;
    std::erase(dirty_bots_, id);
    board_.set_health(id, HealthStatus::Unknown);
    it = bots_.erase(it);
    ++pruned;
  }
  if (pruned == 0) return;
  stats_.bots_pruned += pruned;
  report_requested_ = true;
  spdlog::info("forgot {} bot(s) without a record for more than {:.0f} s ([reader] prune_bots_after)", pruned,
               static_cast<double>(after) / 1e9);
}

// Cheap early publication of a status change: grades only the bots that got records (and
// the host, which got them too) and asks for a report when a grade differs from the
// published one. Time-driven changes (errors leaving the window) wait for publish_interval.
void Engine::regrade_dirty(std::uint64_t now_ns) {
  next_regrade_ns_ = now_ns + kRegradeIntervalNs;
  const std::int64_t wall = static_cast<std::int64_t>(now_ns) + wall_offset_ns_;
  HealthStatus overall = run_full_health_check(host_, config_.thresholds, now_ns, wall).overall_status;
  bool changed = false;
  for (NameId id : dirty_bots_) {
    Bot& b = *bots_by_id_[id];
    b.dirty = false;
    changed = changed || grade(b, now_ns) != b.status;
  }
  dirty_bots_.clear();
  for (const auto& [id, b] : bots_) overall = worst(overall, b.status);
  if (changed || overall != published_status_) report_requested_ = true;
}

HealthReport Engine::health_report(std::uint64_t now_ns) const {
  HealthReport report = run_full_health_check(host_, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_);
  for (const auto& [id, b] : bots_) report.overall_status = worst(report.overall_status, b.status);
  return report;
}

std::optional<HealthReport> Engine::bot_health_report(NameId id, std::uint64_t now_ns) const {
  const auto it = bots_.find(id);
  if (it == bots_.end()) return std::nullopt;
  return run_full_health_check(it->second.monitor, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_);
}

ErrorStatistics Engine::error_statistics(std::uint64_t now_ns) const { return errors_.statistics(now_ns); }

std::string Engine::health_summary(std::uint64_t now_ns) const { return format_health_summary(health_report(now_ns)); }

namespace {

// How many entries of each long list a report keeps (npos: all).
struct ReportLimits {
  std::size_t bots = std::string::npos;
  std::size_t breakers = std::string::npos;
  std::size_t error_types = std::string::npos;
  std::size_t recent_errors = std::string::npos;
};

// Severity rank for ordering what a truncated report keeps: worst first.
int status_rank(const std::string& s) {
  if (s == "CRITICAL") return 0;
  if (s == "WARNING") return 1;
  if (s == "UNKNOWN") return 2;
  return 3;
}

}  // namespace

std::string Engine::report_json(std::uint64_t now_ns, std::size_t max_bytes, bool* truncated_out) const {
  if (truncated_out) *truncated_out = false;
  nlohmann::json doc = health_report_to_json(health_report(now_ns));
  nlohmann::json stats = error_statistics_to_json(error_statistics(now_ns));
  // Entries of the long lists, most telling first.
  std::vector<std::pair<std::string, nlohmann::json>> bots;
  bots.reserve(bots_.size());
  for (const auto& [id, b] : bots_) {
    nlohmann::json j = health_report_to_json(run_full_health_check(b.monitor, config_.thresholds, now_ns,
                                                                    static_cast<std::int64_t>(now_ns) + wall_offset_ns_));
    j["last_seen_s_ago"] = b.last_seen_ns && now_ns >= b.last_seen_ns ? static_cast<double>(now_ns - b.last_seen_ns) / 1e9 : 0.0;
    if (b.stalled) {
      j["overall_status"] = "CRITICAL";
      j["stalled"] = b.stall_reason;
    }
    bots.emplace_back(b.name, std::move(j));
  }
  std::vector<std::pair<std::string, nlohmann::json>> breakers;
  breakers.reserve(breakers_->all().size());
  for (const auto& [id, b] : breakers_->all()) {
    const BreakerMetrics m = b.breaker.metrics();
    nlohmann::json j{{"state", to_string(m.state)},
                     {"failure_rate", m.failure_rate},
                     {"slow_call_rate", m.slow_call_rate},
                     {"calls_in_window", m.calls_in_window},
                     {"consecutive_failures", m.consecutive_failures},
                     {"trips", m.trips}};
    if (m.open_until_ns > now_ns) j["open_for_s"] = static_cast<double>(m.open_until_ns - now_ns) / 1e9;
    if (const auto& t = b.breaker.last_transition()) j["last_rule"] = to_string(t->rule);
    if (b.bot_id != kNoName) {
      j["component"] = b.component;
      j["bot"] = name_of(b.bot_id);
    }
    breakers.emplace_back(b.bot_id != kNoName ? b.component + "@" + name_of(b.bot_id) : b.component, std::move(j));
  }
  // What the board says: a published request stays in force until ClearShutdown.
  doc["shutdown_requested"] = shutdown_published_;

  const auto build = [&](const ReportLimits& limits) {
    nlohmann::json out = doc;
    nlohmann::json st = stats;
    nlohmann::json truncated = nlohmann::json::object();
    const auto keep = [&](auto& list, std::size_t limit, const char* what) {
      if (limit >= list.size()) return list.size();
      truncated[what] = list.size() - limit;
      return limit;
    };
    nlohmann::json kept_bots = nlohmann::json::object();
    for (std::size_t i = 0, n = keep(bots, limits.bots, "bots"); i < n; ++i) kept_bots[bots[i].first] = bots[i].second;
    out["bots"] = std::move(kept_bots);
    nlohmann::json k = nlohmann::json::object();
    for (std::size_t i = 0, n = keep(breakers, limits.breakers, "breakers"); i < n; ++i) k[breakers[i].first] = breakers[i].second;
    out["breakers"] = std::move(k);
    if (nlohmann::json& types = st["errors_by_type"]; types.size() > limits.error_types) {
      std::vector<std::pair<std::string, nlohmann::json>> by_count;
      for (const auto& t : types.items()) by_count.emplace_back(t.key(), t.value());
      std::stable_sort(by_count.begin(), by_count.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
      truncated["errors_by_type"] = by_count.size() - limits.error_types;
      types = nlohmann::json::object();
      for (std::size_t i = 0; i < limits.error_types; ++i) types[by_count[i].first] = by_count[i].second;
    }
    if (nlohmann::json& recent = st["recent_errors"]; recent.size() > limits.recent_errors) {
      truncated["recent_errors"] = recent.size() - limits.recent_errors;
      recent.erase(recent.begin(), recent.end() - static_cast<std::ptrdiff_t>(limits.recent_errors));  // newest kept
    }
    out["error_statistics"] = std::move(st);
    if (!truncated.empty()) {
      truncated["reason"] = "the whole report did not fit the " + std::to_string(max_bytes) +
                            "-byte report page; the worst bots, breakers not CLOSED, the most frequent error types and "
                            "the newest errors are kept; /metrics has every bot";
      out["truncated"] = std::move(truncated);
    }
    return to_json_text(out);
  };

  std::string text = build(ReportLimits{});
  if (text.size() <= max_bytes) return text;
  if (truncated_out) *truncated_out = true;
  // Degrade: order each list by what matters most, then halve what is kept until it fits.
  std::stable_sort(bots.begin(), bots.end(), [](const auto& x, const auto& y) {
    return status_rank(x.second.at("overall_status").template get<std::string>()) <
           status_rank(y.second.at("overall_status").template get<std::string>());
  });
  std::stable_sort(breakers.begin(), breakers.end(), [](const auto& x, const auto& y) {
    return (x.second.at("state") != "CLOSED") > (y.second.at("state") != "CLOSED");
  });
  ReportLimits limits{bots.size(), breakers.size(), stats.at("errors_by_type").size(), stats.at("recent_errors").size()};
  for (;;) {
    limits.bots /= 2, limits.breakers /= 2, limits.error_types /= 2, limits.recent_errors /= 2;
    text = build(limits);
    if (text.size() <= max_bytes) return text;
    if (limits.bots + limits.breakers + limits.error_types + limits.recent_errors == 0) break;
  }
  // Even the lists' skeleton does not fit (a tiny page): the verdict alone.
  return to_json_text(nlohmann::json{{"overall_status", doc.at("overall_status")},
                                     {"truncated", {{"reason", "page too small"}}}});
}

void Engine::publish_report(std::uint64_t now_ns) {
  for (auto& [id, b] : bots_) {
    const HealthStatus s = grade(b, now_ns);
    if (s != b.status) {
      board_.set_health(id, s);
      if (s == HealthStatus::Critical && config_.alerts.on_critical_health)
        raise_alert("health/" + b.name, "bot " + b.name + " health CRITICAL", Severity::Critical, now_ns);
      b.status = s;
    }
  }
  const HealthReport report = health_report(now_ns);
  if (report.overall_status != published_status_) {
    spdlog::info("overall health {} -> {}", to_string(published_status_), to_string(report.overall_status));
    published_status_ = report.overall_status;
  }
  board_.set_overall_health(report.overall_status);
  // Always publishes: a report that does not fit is degraded (report_json), never left stale.
  bool truncated = false;
  const std::string json = report_json(now_ns, report_page_.capacity(), &truncated);
  if (truncated) ++stats_.reports_truncated;
  if (!report_page_.publish(json, report.overall_status, now_ns))
    spdlog::error("report of {} bytes does not fit the report page ({} bytes): not published", json.size(), report_page_.capacity());
  segment_->board().report_seq.fetch_add(1, std::memory_order_release);
  ++stats_.reports_published;
  report_requested_ = false;
  next_publish_ns_ = now_ns + static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.publish_interval).count());
}

}  // namespace telering::reader
