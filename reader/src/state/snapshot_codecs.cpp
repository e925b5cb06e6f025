// state/snapshot_codecs.cpp — see snapshot_codecs.hpp.
#include "state/snapshot_codecs.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace telering::reader {

namespace {

using nlohmann::json;

// Bounds on what one snapshot copies on the loop thread (see ReaderLoop::save_snapshot).
constexpr std::size_t kMaxSavedWindowSamples = 1000;
constexpr std::size_t kMaxSavedHistory = 1000;

// A time that JSON can hold: +inf (an uncapped backoff) is written as null.
[[nodiscard]] json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
[[nodiscard]] double null_is_inf(const json& j) {
  return j.is_null() ? std::numeric_limits<double>::infinity() : j.get<double>();
}

[[nodiscard]] Severity severity_of(const json& j) {
  const auto v = j.get<std::uint32_t>();
  return v <= kMaxSeverity ? static_cast<Severity>(v) : Severity::None;
}

}  // namespace

namespace detail {

json SnapshotAccess::save(const RollingWindow& w) {
  std::vector<double> v = w.values();
  if (v.size() > kMaxSavedWindowSamples) v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(kMaxSavedWindowSamples));
  return json{{"samples", std::move(v)}, {"pushed", w.pushed_}, {"rejected", w.rejected_}};
}

void SnapshotAccess::load(RollingWindow& w, const json& j) {
  w.clear();
  for (const json& v : j.at("samples")) w.push(v.get<double>());
  w.pushed_ = j.at("pushed").get<std::uint64_t>();
  w.rejected_ = j.at("rejected").get<std::uint64_t>();
}

json SnapshotAccess::save(const RateWindow& w) {
  json buckets = json::array();
  for (std::size_t i = 0; i < w.counts_.size(); ++i)
    if (w.second_[i] != RateWindow::kNoSecond && w.counts_[i] != 0) buckets.push_back({w.second_[i], w.counts_[i]});
  return json{{"buckets", std::move(buckets)}, {"total", w.total_}};
}

void SnapshotAccess::load(RateWindow& w, const json& j, const TimeShift& shift) {
  w.clear();
  for (const json& b : j.at("buckets")) {
    const std::uint64_t second = shift.second(b.at(0).get<std::uint64_t>());
    w.add(second * RateWindow::kNsPerSecond, b.at(1).get<std::uint64_t>());
  }
  w.total_ = j.at("total").get<std::uint64_t>();
}

json SnapshotAccess::save(const PerformanceMonitor& m, const NameOf& endpoint_name) {
  json endpoints = json::array();
  for (const auto& [id, window] : m.endpoints_) {
    const std::string name = endpoint_name(id);
    if (!name.empty()) endpoints.push_back({{"name", name}, {"window", save(window)}});
  }
  return json{{"scan_times", save(m.scan_times_)},
              {"api_latencies", save(m.api_latencies_)},
              {"memory_bytes", save(m.memory_bytes_)},
              {"errors", save(m.errors_)},
              {"warnings", save(m.warnings_)},
              {"endpoints", std::move(endpoints)},
              {"untracked_endpoint_calls", m.untracked_endpoint_calls_},
              {"last_scan_ns", m.last_scan_ns_},
              {"last_api_ns", m.last_api_ns_},
              {"last_memory_ns", m.last_memory_ns_},
              {"last_update_ns", m.last_update_ns_},
              {"rejected", m.rejected_}};
}

void SnapshotAccess::load(PerformanceMonitor& m, const json& j, const TimeShift& shift, const IdOf& endpoint_id) {
  load(m.scan_times_, j.at("scan_times"));
  load(m.api_latencies_, j.at("api_latencies"));
  load(m.memory_bytes_, j.at("memory_bytes"));
  load(m.errors_, j.at("errors"), shift);
  load(m.warnings_, j.at("warnings"), shift);
  m.endpoints_.clear();
  for (const json& e : j.at("endpoints")) {
    const std::uint16_t id = endpoint_id(e.at("name").get<std::string>());
    if (id == 0 || m.endpoints_.size() >= m.config_.max_endpoints) continue;
    const auto it = std::lower_bound(m.endpoints_.begin(), m.endpoints_.end(), id,
                                     [](const auto& entry, std::uint16_t v) { return entry.first < v; });
    if (it != m.endpoints_.end() && it->first == id) continue;
    load(m.endpoints_.emplace(it, id, RollingWindow(m.config_.endpoint_window_size))->second, e.at("window"));
  }
  m.untracked_endpoint_calls_ = j.at("untracked_endpoint_calls").get<std::uint64_t>();
  m.last_scan_ns_ = shift(j.at("last_scan_ns").get<std::uint64_t>());
  m.last_api_ns_ = shift(j.at("last_api_ns").get<std::uint64_t>());
  m.last_memory_ns_ = shift(j.at("last_memory_ns").get<std::uint64_t>());
  m.last_update_ns_ = shift(j.at("last_update_ns").get<std::uint64_t>());
  m.rejected_ = j.at("rejected").get<std::uint64_t>();
}

json SnapshotAccess::save(const ErrorLog& log, const NameOf& bot_name, std::size_t max_history) {
  json history = json::array();
  for (const ErrorEvent& e : log.recent(std::min(max_history, kMaxSavedHistory)))
    history.push_back({e.error_type, e.component, static_cast<unsigned>(e.severity), e.message_or_context, e.now_ns,
                       e.wall_ns, bot_name(static_cast<std::uint16_t>(e.bot_id))});
  json types = json::array();  // most recently recorded first, as the LRU list
  for (const ErrorTypeSummary& s : log.lru_)
    types.push_back({s.error_type, s.count, s.first_seen_ns, s.last_seen_ns, s.first_seen_wall_ns, s.last_seen_wall_ns,
                     static_cast<unsigned>(s.last_severity), s.last_component, s.last_message});
  json by_severity = json::array();
  for (const std::uint64_t n : log.by_severity_) by_severity.push_back(n);
  return json{{"start_ns", log.start_ns_}, {"history", std::move(history)}, {"types", std::move(types)},
              {"evicted_types", log.evicted_types_}, {"total", log.total_}, {"by_severity", std::move(by_severity)},
              {"rate", save(log.rate_)}};
}

void SnapshotAccess::load(ErrorLog& log, const json& j, const TimeShift& shift, const IdOf& bot_id) {
  ErrorLog fresh(shift(j.at("start_ns").get<std::uint64_t>()), log.config_);
  // History: the newest entries that fit this config's capacity, oldest first.
  const json& history = j.at("history");
  const std::size_t keep = std::min(history.size(), fresh.history_.size());
  for (std::size_t i = history.size() - keep; i < history.size(); ++i) {
    const json& h = history[i];
    ErrorEvent e;
    e.error_type = h.at(0).get<std::string>();
    e.component = h.at(1).get<std::string>();
    e.severity = severity_of(h.at(2));
    e.message_or_context = h.at(3).get<std::string>();
    e.now_ns = shift(h.at(4).get<std::uint64_t>());
    e.wall_ns = h.at(5).get<std::int64_t>();
    e.bot_id = bot_id(h.at(6).get<std::string>());
    fresh.history_[fresh.history_next_] = std::move(e);
    fresh.history_next_ = (fresh.history_next_ + 1) % fresh.history_.size();
    ++fresh.history_size_;
  }
  // The dedup log, oldest first onto the front so the LRU order comes back as saved.
  const json& types = j.at("types");
  std::size_t skip = types.size() > fresh.config_.max_types ? types.size() - fresh.config_.max_types : 0;
  fresh.evicted_types_ = j.at("evicted_types").get<std::uint64_t>() + skip;
  for (auto it = types.rbegin(); it != types.rend(); ++it) {
    if (skip > 0) {
      --skip;
      continue;
    }
    const json& t = *it;
    fresh.lru_.push_front(ErrorTypeSummary{
        .error_type = t.at(0).get<std::string>(),
        .count = t.at(1).get<std::uint64_t>(),
        .first_seen_ns = shift(t.at(2).get<std::uint64_t>()),
        .last_seen_ns = shift(t.at(3).get<std::uint64_t>()),
        .first_seen_wall_ns = t.at(4).get<std::int64_t>(),
        .last_seen_wall_ns = t.at(5).get<std::int64_t>(),
        .last_severity = severity_of(t.at(6)),
        .last_component = t.at(7).get<std::string>(),
        .last_message = t.at(8).get<std::string>(),
    });
    if (!fresh.types_.emplace(std::string_view(fresh.lru_.front().error_type), fresh.lru_.begin()).second)
      fresh.lru_.pop_front();  // a duplicate type (hand-edited file): keep the first
  }
  fresh.total_ = j.at("total").get<std::uint64_t>();
  const json& by_severity = j.at("by_severity");
  for (std::size_t i = 0; i <= kMaxSeverity && i < by_severity.size(); ++i) fresh.by_severity_[i] = by_severity[i].get<std::uint64_t>();
  load(fresh.rate_, j.at("rate"), shift);
  log = std::move(fresh);
}

json SnapshotAccess::save(const CircuitBreaker& b) {
  json buckets = json::array();
  for (const CircuitBreaker::Bucket& k : b.window_buckets()) buckets.push_back({k.second, k.calls, k.failures, k.slow});
  json j{{"state", static_cast<unsigned>(b.state_)},
         {"open_until_ns", b.open_until_ns_},
         {"half_open_since_ns", b.half_open_since_ns_},
         {"last_now_ns", b.last_now_ns_},
         {"window_type", b.config_.sliding_window_type == BreakerConfig::WindowType::CountBased ? "count" : "time"},
         {"calls", b.window_calls()},
         {"buckets", std::move(buckets)},
         {"newest_second", b.newest_second_},
         {"consecutive_failures", b.consecutive_failures_},
         {"probe", {b.probe_calls_, b.probe_failures_, b.probe_slow_}},
         {"trips", b.trips_},
         {"trips_since_closed", b.trips_since_closed_},
         {"not_permitted", b.not_permitted_},
         {"transitions", b.transitions_}};
  if (b.last_)
    j["last"] = {static_cast<unsigned>(b.last_->from), static_cast<unsigned>(b.last_->to), static_cast<unsigned>(b.last_->rule),
                 b.last_->now_ns, b.last_->failure_rate, b.last_->slow_rate};
  return j;
}

void SnapshotAccess::load(CircuitBreaker& b, const json& j, const TimeShift& shift) {
  const auto state = j.at("state").get<unsigned>();
  if (state > static_cast<unsigned>(BreakerState::Disabled)) throw SnapshotError("breaker state " + std::to_string(state) + " out of range");
  b.allocate_window();
  b.state_ = static_cast<BreakerState>(state);
  b.open_until_ns_ = shift(j.at("open_until_ns").get<std::uint64_t>());
  b.half_open_since_ns_ = shift(j.at("half_open_since_ns").get<std::uint64_t>());
  b.last_now_ns_ = shift(j.at("last_now_ns").get<std::uint64_t>());
  const bool count_based = j.at("window_type").get<std::string>() == "count";
  if (count_based == (b.config_.sliding_window_type == BreakerConfig::WindowType::CountBased)) {
    std::vector<CircuitBreaker::Bucket> buckets;
    for (const json& k : j.at("buckets"))
      buckets.push_back({shift.second(k.at(0).get<std::uint64_t>()), k.at(1).get<std::uint32_t>(), k.at(2).get<std::uint32_t>(),
                         k.at(3).get<std::uint32_t>()});
    b.load_window(j.at("calls").get<std::vector<std::uint8_t>>(), buckets, shift.second(j.at("newest_second").get<std::uint64_t>()));
  }
  b.consecutive_failures_ = j.at("consecutive_failures").get<std::uint32_t>();
  b.probe_calls_ = j.at("probe").at(0).get<std::uint32_t>();
  b.probe_failures_ = j.at("probe").at(1).get<std::uint32_t>();
  b.probe_slow_ = j.at("probe").at(2).get<std::uint32_t>();
  b.trips_ = j.at("trips").get<std::uint64_t>();
  b.trips_since_closed_ = j.at("trips_since_closed").get<std::uint64_t>();
  b.not_permitted_ = j.at("not_permitted").get<std::uint64_t>();
  b.transitions_ = j.at("transitions").get<std::uint64_t>();
  b.last_.reset();
  if (const auto last = j.find("last"); last != j.end()) {
    const json& t = *last;
    const auto from = t.at(0).get<unsigned>(), to = t.at(1).get<unsigned>(), rule = t.at(2).get<unsigned>();
    if (from <= static_cast<unsigned>(BreakerState::Disabled) && to <= static_cast<unsigned>(BreakerState::Disabled) &&
        rule <= static_cast<unsigned>(BreakerRule::Takeover))
      b.last_ = BreakerTransition{static_cast<BreakerState>(from), static_cast<BreakerState>(to), static_cast<BreakerRule>(rule),
                                  shift(t.at(3).get<std::uint64_t>()), t.at(4).get<double>(), t.at(5).get<double>()};
  }
}

json SnapshotAccess::save(const RecoveryStrategy& s) {
  return json{{"error_type", s.error_type},
              {"severity", static_cast<unsigned>(s.severity)},
              {"action", static_cast<unsigned>(s.action)},
              {"max_retries", s.max_retries},
              {"backoff_seconds", s.backoff_seconds},
              {"backoff",
               {{"base_seconds", s.backoff.base_seconds},
                {"multiplier", s.backoff.multiplier},
                {"cap_seconds", finite_or_null(s.backoff.cap_seconds)},
                {"jitter", static_cast<unsigned>(s.backoff.jitter)},
                {"max_attempts", s.backoff.max_attempts},
                {"max_total_seconds", s.backoff.max_total_seconds}}},
              {"params", s.params}};
}

RecoveryStrategy SnapshotAccess::load_strategy(const json& j) {
  RecoveryStrategy s;
  s.error_type = j.at("error_type").get<std::string>();
  s.severity = severity_of(j.at("severity"));
  const auto action = j.at("action").get<unsigned>();
  if (action > kMaxRecoveryAction) throw SnapshotError("strategy action " + std::to_string(action) + " out of range");
  s.action = static_cast<RecoveryAction>(action);
  s.max_retries = j.at("max_retries").get<std::uint32_t>();
  s.backoff_seconds = j.at("backoff_seconds").get<double>();
  const json& b = j.at("backoff");
  s.backoff.base_seconds = b.at("base_seconds").get<double>();
  s.backoff.multiplier = b.at("multiplier").get<double>();
  s.backoff.cap_seconds = null_is_inf(b.at("cap_seconds"));
  const auto jitter = b.at("jitter").get<unsigned>();
  s.backoff.jitter = jitter <= 2 ? static_cast<BackoffPolicy::Jitter>(jitter) : BackoffPolicy::Jitter::None;
  s.backoff.max_attempts = b.at("max_attempts").get<std::uint32_t>();
  s.backoff.max_total_seconds = b.at("max_total_seconds").get<double>();
  s.params = j.at("params").get<std::map<std::string, std::string>>();
  return s;
}

json SnapshotAccess::save(const RecoveryEngine& r) {
  json types = json::array();
  for (const auto& [type, e] : r.states_) {
    const RecoveryTypeState& s = e.s;
    types.push_back({type, s.incident, s.incident_started_ns, s.last_error_ns, s.errors_in_incident, s.attempts,
                     s.backoff_until_ns, s.reset_epoch, s.alerted});
  }
  return json{{"types", std::move(types)},
              {"global_reset_epoch", r.global_reset_epoch_},
              {"evicted", r.evicted_},
              {"shutdown", r.shutdown_}};
}

void SnapshotAccess::load(RecoveryEngine& r, const json& j, const TimeShift& shift) {
  r.states_.clear();
  for (const json& t : j.at("types")) {
    RecoveryTypeState s;
    const std::string type = t.at(0).get<std::string>();
    s.incident = t.at(1).get<std::uint64_t>();
    s.incident_started_ns = shift(t.at(2).get<std::uint64_t>());
    s.last_error_ns = shift(t.at(3).get<std::uint64_t>());
    s.errors_in_incident = t.at(4).get<std::uint64_t>();
    s.attempts = t.at(5).get<std::uint32_t>();
    s.backoff_until_ns = shift(t.at(6).get<std::uint64_t>());
    s.reset_epoch = t.at(7).get<std::uint64_t>();
    s.alerted = t.at(8).get<bool>();
    if (type.empty()) continue;
    auto& entry = r.states_.insert_or_assign(type, RecoveryEngine::TypeEntry{s, Backoff(BackoffPolicy{})}).first->second;
    r.rebuild_backoff(type, entry);
  }
  // Bounded like live state: the least recently erring types go first.
  while (r.states_.size() > r.config_.max_tracked_types) {
    r.states_.erase(std::min_element(r.states_.begin(), r.states_.end(), [](const auto& a, const auto& b) {
      return a.second.s.last_error_ns < b.second.s.last_error_ns;
    }));
    ++r.evicted_;
  }
  r.global_reset_epoch_ = std::max(r.global_reset_epoch_, j.at("global_reset_epoch").get<std::uint64_t>());
  r.evicted_ += j.at("evicted").get<std::uint64_t>();
  r.shutdown_ = j.at("shutdown").get<bool>();
}

}  // namespace detail

}  // namespace telering::reader
