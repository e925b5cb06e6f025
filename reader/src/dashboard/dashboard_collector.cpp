// dashboard/dashboard_collector.cpp — see dashboard_collector.hpp.
#include "dashboard/dashboard_collector.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "telering/core/clock.hpp"
#include "telering/core/process_info.hpp"
#include "engine/engine.hpp"

namespace telering::reader::dashboard {

namespace {

constexpr double kNsPerSecond = 1e9;

std::string_view scope_name(BreakerConfig::Scope s) noexcept {
  switch (s) {
    case BreakerConfig::Scope::Component: return "component";
    case BreakerConfig::Scope::Bot: return "bot";
    case BreakerConfig::Scope::Host: return "host";
  }
  return "component";
}

std::vector<ComponentFrame> components_of(const HealthReport& report, const HealthThresholds& t) {
  std::vector<ComponentFrame> out;
  out.reserve(report.components.size());
  for (const ComponentHealth& c : report.components) {
    ComponentFrame f{c.name, std::string(to_string(c.status)), c.message, c.value, 0.0, 0.0};
    const ThresholdBand* band = c.name == kScanPerformance ? &t.scan_time_s
                                : c.name == kMemoryUsage   ? &t.memory_mb
                                : c.name == kErrorRate     ? &t.errors
                                : c.name == kApiPerformance ? &t.api_latency_s
                                                            : nullptr;
    if (band) {
      f.warning_at = band->warning_at;
      f.critical_above = band->critical_above;
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::int64_t to_ms(std::int64_t wall_ns) noexcept { return wall_ns / 1'000'000; }

}  // namespace

DashboardCollector::DashboardCollector(DashboardHub& hub)
    : hub_(&hub), interval_ns_(static_cast<std::uint64_t>(std::chrono::nanoseconds(hub.options().interval).count())) {}

std::uint64_t DashboardCollector::on_loop(Engine& engine, const Segment& segment, const DrainStats& totals, std::uint64_t now_ns) {
  if (start_ns_ == 0) start_ns_ = now_ns;
  apply_actions(engine, now_ns);
  const std::int64_t second_ms = to_ms(wall_ns()) / 1000 * 1000;
  if (second_ms != last_second_ms_) {
    sample_second(engine, segment, totals, now_ns, second_ms);
    last_second_ms_ = second_ms;
  }
  if (now_ns >= next_frame_ns_) {
    std::shared_ptr<DashboardFrame> frame = build(engine, segment, totals, now_ns);
    frame->points = std::move(pending_points_);
    pending_points_.clear();
    hub_->publish(std::move(frame));
    next_frame_ns_ = now_ns + interval_ns_;
  }
  return std::min(now_ns + kPeriodNs, next_frame_ns_);
}

void DashboardCollector::apply_actions(Engine& engine, std::uint64_t now_ns) {
  for (const OperatorRequest& r : hub_->take_actions()) {
    using Kind = OperatorRequest::Kind;
    const Engine::OperatorAction action = r.kind == Kind::ForceOpen ? Engine::OperatorAction::ForceOpen
                                          : r.kind == Kind::Close   ? Engine::OperatorAction::Close
                                                                    : Engine::OperatorAction::ClearBackoff;
    const char* rule = r.kind == Kind::ForceOpen ? "dashboard:force_open" : r.kind == Kind::Close ? "dashboard:close" : "dashboard:clear_backoff";
    if (!engine.operator_action(action, r.target, rule, now_ns))
      spdlog::warn("{}: '{}' names no breaker or error type this reader knows; nothing done", rule, r.target);
  }
}

std::uint64_t DashboardCollector::total_drops(const Segment& segment) const {
  std::uint64_t drops = segment.mpsc().dropped.load(std::memory_order_relaxed);  // figures, not sync
  for (std::uint32_t i = 0; i < segment.geometry().lane_count; ++i) drops += segment.lane(i).dropped.load(std::memory_order_relaxed);
  return drops;
}

void DashboardCollector::sample_second(const Engine& engine, const Segment& segment, const DrainStats& totals, std::uint64_t now_ns,
                                       std::int64_t second_ms) {
  SeriesPoint p;
  p.at_ms = second_ms;
  const auto add = [&](std::string name, double value) {
    if (p.values.size() < kMaxSeries && std::isfinite(value)) p.values.emplace_back(std::move(name), value);
  };
  const double dt = prev_second_ns_ != 0 && now_ns > prev_second_ns_ ? static_cast<double>(now_ns - prev_second_ns_) / kNsPerSecond : 0.0;
  const std::uint64_t drops = total_drops(segment);
  if (dt > 0) {
    add("records_per_s", static_cast<double>(totals.delivered - prev_records_) / dt);
    add("drops_per_s", static_cast<double>(drops >= prev_drops_ ? drops - prev_drops_ : 0) / dt);
  }
  // Drops per lane: only lanes that dropped this second (a full lane is the news).
  const SegmentGeometry& g = segment.geometry();
  prev_lane_drops_.resize(g.lane_count + 1, 0);
  for (std::uint32_t i = 0; i <= g.lane_count; ++i) {
    const std::uint64_t d = i < g.lane_count ? segment.lane(i).dropped.load(std::memory_order_relaxed)
                                             : segment.mpsc().dropped.load(std::memory_order_relaxed);
    if (dt > 0 && d > prev_lane_drops_[i]) add("drops:" + (i < g.lane_count ? "lane " + std::to_string(i) : std::string("shared")),
                                               static_cast<double>(d - prev_lane_drops_[i]) / dt);
    prev_lane_drops_[i] = d;
  }
  prev_records_ = totals.delivered;
  prev_drops_ = drops;
  prev_second_ns_ = now_ns;

  // Errors and warnings per minute: totals now minus a minute ago (or since start).
  const EngineStats& s = engine.stats();
  const std::uint64_t errors = s.records_by_kind[static_cast<std::size_t>(RecordKind::Error)];
  const std::uint64_t warnings = s.records_by_kind[static_cast<std::size_t>(RecordKind::Warning)];
  error_totals_.emplace_back(errors, warnings);
  if (error_totals_.size() > 61) error_totals_.pop_front();
  add("errors_per_min", static_cast<double>(errors - error_totals_.front().first));
  add("warnings_per_min", static_cast<double>(warnings - error_totals_.front().second));

  // Per bot: the latest scan time and memory; per endpoint (host-wide): p50 and p99 of the
  // rolling window.
  for (const BotView& b : engine.bots()) {
    if (!b.monitor) continue;
    if (!b.monitor->scan_times().empty()) add("scan:" + b.name, b.monitor->scan_times().last());
    if (!b.monitor->memory_bytes().empty()) add("memory:" + b.name, b.monitor->memory_mb());
  }
  for (const auto& [endpoint, window] : engine.host_monitor().endpoints()) {
    if (window.empty()) continue;
    std::string name = engine.name_of(endpoint);
    if (name.empty()) name = "endpoint#" + std::to_string(endpoint);
    add("p50:" + name, window.percentile(50));
    add("p99:" + name, window.percentile(99));
  }
  if (!engine.host_monitor().api_latencies().empty()) {
    add("p50:all", engine.host_monitor().api_latencies().percentile(50));
    add("p99:all", engine.host_monitor().api_latencies().percentile(99));
  }
  pending_points_.push_back(std::move(p));
  if (pending_points_.size() > DashboardHub::kHistorySeconds) pending_points_.erase(pending_points_.begin());
}

std::shared_ptr<DashboardFrame> DashboardCollector::build(Engine& engine, const Segment& segment, const DrainStats& totals,
                                                          std::uint64_t now_ns) {
  auto f = std::make_shared<DashboardFrame>();
  const std::int64_t wall = wall_ns();
  const auto wall_ms_of = [&](std::uint64_t mono_ns) { return to_ms(wall - static_cast<std::int64_t>(now_ns) + static_cast<std::int64_t>(mono_ns)); };
  f->seq = ++seq_;
  f->at_ms = to_ms(wall);
  f->taken_mono_ns = now_ns;
  const ReaderConfig& config = engine.config();

  const HealthReport host = engine.health_report(now_ns);
  f->overall = std::string(to_string(host.overall_status));
  f->host = components_of(host, config.thresholds);
  for (const BotView& b : engine.bots()) {
    BotFrame bf;
    bf.name = b.name;
    bf.last_record_age_s = now_ns > b.last_seen_ns ? static_cast<double>(now_ns - b.last_seen_ns) / kNsPerSecond : 0.0;
    if (const auto r = engine.bot_health_report(b.id, now_ns)) {
      bf.status = std::string(to_string(r->overall_status));
      bf.components = components_of(*r, config.thresholds);
    }
    f->bots.push_back(std::move(bf));
  }

  for (const BreakerView& b : engine.breakers()) {
    BreakerFrame t;
    t.component = b.component;
    t.bot = b.bot;
    t.name = b.bot.empty() ? b.component : b.component + "@" + b.bot;
    t.scope = std::string(scope_name(b.scope));
    t.state = std::string(to_string(b.metrics.state));
    t.failure_rate = b.metrics.failure_rate;
    t.slow_call_rate = b.metrics.slow_call_rate;
    t.calls_in_window = b.metrics.calls_in_window;
    t.trips = b.metrics.trips;
    if (b.last_transition) {
      t.time_in_state_s = now_ns > b.last_transition->now_ns ? static_cast<double>(now_ns - b.last_transition->now_ns) / kNsPerSecond : 0.0;
      t.last_rule = std::string(to_string(b.last_transition->rule));
    }
    if (b.metrics.state == BreakerState::Open && b.metrics.open_until_ns > now_ns)
      t.next_transition_s = static_cast<double>(b.metrics.open_until_ns - now_ns) / kNsPerSecond;
    if (b.metrics.state == BreakerState::HalfOpen) {
      const std::uint32_t permitted = config.breaker_for(b.component).permitted_calls_in_half_open;
      t.probes_in_flight = permitted > b.metrics.probe_calls ? permitted - b.metrics.probe_calls : 0;
    }
    auto& [prev_outcomes, prev_ns] = prev_outcomes_[t.name];
    if (prev_ns != 0 && now_ns > prev_ns && b.metrics.outcomes >= prev_outcomes)
      t.calls_per_second = static_cast<double>(b.metrics.outcomes - prev_outcomes) / (static_cast<double>(now_ns - prev_ns) / kNsPerSecond);
    prev_outcomes = b.metrics.outcomes;
    prev_ns = now_ns;
    f->breakers.push_back(std::move(t));
  }
  // The tiles an operator must see first: failing most, then busiest.
  std::stable_sort(f->breakers.begin(), f->breakers.end(), [](const BreakerFrame& a, const BreakerFrame& b) {
    if (a.failure_rate != b.failure_rate) return a.failure_rate > b.failure_rate;
    return a.calls_per_second + a.calls_in_window > b.calls_per_second + b.calls_in_window;
  });
  if (prev_outcomes_.size() > 4 * f->breakers.size() + 64) prev_outcomes_.clear();  // forgotten breakers

  for (const ErrorTypeSummary& e : engine.error_log().types()) {
    if (f->errors.size() == kMaxErrors) break;
    f->errors.push_back(ErrorFrame{e.error_type, std::string(to_string(e.last_severity)), e.count, to_ms(e.first_seen_wall_ns),
                                   to_ms(e.last_seen_wall_ns), e.last_component, e.last_message});
  }

  for (DecisionEvent& d : engine.take_decisions()) {
    decisions_.push_back(DecisionFrame{d.board_seq, wall_ms_of(d.now_ns), std::move(d.subject), std::move(d.what), std::move(d.rule)});
    if (decisions_.size() > kMaxDecisions) decisions_.pop_front();
  }
  f->decisions.assign(decisions_.rbegin(), decisions_.rend());

  for (const auto& [type, st] : engine.recovery().states())
    if (st.backoff_until_ns > now_ns)
      f->backoffs.push_back(BackoffFrame{type, static_cast<double>(st.backoff_until_ns - now_ns) / kNsPerSecond, st.incident, st.attempts});

  const RateBucket* buckets = segment.rate_buckets();
  for (std::uint32_t i = 0; i < kRateBuckets; ++i) {
    const RateBucket& b = buckets[i];
    const std::uint32_t name = b.name_id.load(std::memory_order_acquire);  // pairs with the reader's release of name_id
    if (name == 0 || b.base_interval_ticks.load(std::memory_order_relaxed) == 0) continue;
    RateLimitFrame r;
    r.group = engine.name_of(name);
    r.shrunk = b.shrunk.load(std::memory_order_relaxed) != 0;
    r.refused = b.refused.load(std::memory_order_relaxed);
    for (const RateLimitConfig& c : config.rate_limits)
      if (c.group == r.group) {
        r.requests = c.requests;
        r.period_s = static_cast<double>(c.period.count()) / 1000.0;
        r.burst = c.burst;
      }
    f->rate_limits.push_back(std::move(r));
  }
  const FleetLimitsStats& fl = engine.fleet_limits().stats();
  f->retry_budget = RetryBudgetFrame{config.retry_budget.enabled, fl.tokens_published,        fl.requests_in_window,
                                     fl.retries_in_window,        config.retry_budget.ratio, config.retry_budget.min_retries,
                                     config.retry_budget.window_seconds};

  const SegmentGeometry& g = segment.geometry();
  std::uint32_t in_use = 0;
  for (std::uint32_t i = 0; i < g.lane_count; ++i) {
    const LaneControl& lane = segment.lane(i);
    const bool used = lane.owner.load(std::memory_order_relaxed) != 0;  // figures, not sync
    const std::uint64_t dropped = lane.dropped.load(std::memory_order_relaxed);
    in_use += used ? 1U : 0U;
    if (!used && dropped == 0) continue;
    const std::uint64_t tail = lane.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = lane.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.lane_capacity : 0.0;
    f->lanes.push_back(LaneFrame{std::to_string(i), std::min(fill, 1.0), dropped, used});
  }
  {
    const MpscControl& shared = segment.mpsc();
    const std::uint64_t tail = shared.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = shared.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.mpsc_capacity : 0.0;
    f->lanes.push_back(LaneFrame{"shared", std::min(fill, 1.0), shared.dropped.load(std::memory_order_relaxed), true});
  }

  ReaderFrame& r = f->reader;
  r.pid = current_pid();
  r.uptime_s = static_cast<double>(now_ns - start_ns_) / kNsPerSecond;
  r.records = totals.delivered;
  r.malformed = totals.malformed;
  r.decisions = engine.stats().decisions;
  r.lanes_in_use = in_use;
  const std::uint64_t drops = total_drops(segment);
  if (prev_frame_ns_ != 0 && now_ns > prev_frame_ns_) {
    const double dt = static_cast<double>(now_ns - prev_frame_ns_) / kNsPerSecond;
    r.records_per_second = static_cast<double>(totals.delivered - prev_frame_records_) / dt;
    r.drops_per_second = static_cast<double>(drops >= prev_frame_drops_ ? drops - prev_frame_drops_ : 0) / dt;
  }
  prev_frame_records_ = totals.delivered;
  prev_frame_drops_ = drops;
  prev_frame_ns_ = now_ns;
  return f;
}

}  // namespace telering::reader::dashboard
