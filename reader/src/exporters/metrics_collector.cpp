// exporters/metrics_collector.cpp — see metrics_collector.hpp.
#include "exporters/metrics_collector.hpp"

#include <spdlog/spdlog.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "engine/engine.hpp"
#include "evaluate/breaker.hpp"
#include "evaluate/health.hpp"
#include "exporters/alert_sender.hpp"
#include "exporters/series_cap.hpp"
#include "ingress/alertmanager_webhook.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/report_page.hpp"

namespace telering::reader {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Counter;
using prometheus::Family;
using prometheus::Gauge;
using prometheus::Histogram;

constexpr double kNsPerSecond = 1e9;

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string bot_label(const Engine& engine, NameId bot) {
  const std::string& name = engine.name_of(bot);
  return name.empty() ? "bot#" + std::to_string(bot) : name;
}

std::string name_label(const Engine& engine, NameId id, const char* none) {
  if (id == kNoName) return none;
  const std::string& name = engine.name_of(id);
  return name.empty() ? std::string("unknown") : name;
}

}  // namespace

// ---- collector (drain-loop thread) --------------------------------------------------------

struct MetricsCollector::Families {
  explicit Families(prometheus::Registry& r)
      : scan_time(BuildHistogram().Name("telering_scan_time_seconds").Help("Scan duration recorded by bots (Writer::scan_time)").Register(r)),
        api_latency(BuildHistogram().Name("telering_api_latency_seconds").Help("API call latency recorded by bots, by endpoint").Register(r)),
        errors(BuildCounter().Name("telering_errors_total").Help("Errors recorded by bots, by error type and severity").Register(r)),
        warnings(BuildCounter().Name("telering_warnings_total").Help("Warnings recorded by bots, by warning type and severity").Register(r)),
        scan_avg(BuildGauge().Name("telering_scan_time_avg_seconds").Help("Average scan time over the rolling window (what the health check grades; seed: 30 s warning, 90 s critical)").Register(r)),
        api_avg(BuildGauge().Name("telering_api_latency_avg_seconds").Help("Average API latency over the rolling window (what the health check grades)").Register(r)),
        memory(BuildGauge().Name("telering_memory_bytes").Help("Latest resident set size sample of the bot").Register(r)),
        errors_in_window(BuildGauge().Name("telering_errors_in_window").Help("Errors within the health check's error window (seed: 5 warning, 10 critical)").Register(r)),
        error_window(BuildGauge().Name("telering_error_window_seconds").Help("Length of the health check's error window").Register(r)),
        error_rate(BuildGauge().Name("telering_error_rate_per_minute").Help("Errors per minute over the last 60 s, all bots (get_error_statistics)").Register(r)),
        last_seen(BuildGauge().Name("telering_bot_last_record_age_seconds").Help("Seconds since the reader last saw a record of the bot").Register(r)),
        health(BuildGauge().Name("telering_health_status").Help("Host health per component: 0 unknown, 1 healthy, 2 warning, 3 critical").Register(r)),
        health_overall(BuildGauge().Name("telering_health_overall_status").Help("Overall health, worst of the host and every bot: 0 unknown, 1 healthy, 2 warning, 3 critical").Register(r)),
        bot_health(BuildGauge().Name("telering_bot_health_status").Help("Health per bot and component (component=\"overall\" is the worst): 0 unknown .. 3 critical").Register(r)),
        breaker_state(BuildGauge().Name("telering_breaker_state").Help("Circuit breaker state: 0 closed, 1 open, 2 half-open, 3 forced-open, 4 disabled").Register(r)),
        breaker_trips(BuildCounter().Name("telering_breaker_trips_total").Help("Breaker trips to OPEN by a rule (not manual opens)").Register(r)),
        breaker_transitions(BuildCounter().Name("telering_breaker_transitions_total").Help("Breaker state transitions").Register(r)),
        breaker_not_permitted(BuildCounter().Name("telering_breaker_not_permitted_calls_total").Help("Call outcomes reported while the breaker was open").Register(r)),
        probe_events(BuildCounter().Name("telering_breaker_probe_events_total").Help("Half-open probe permits: refused (an outcome without a permit), taken_back (holder died or lease ran out), unavailable (a HALF_OPEN breaker got no permits)").Register(r)),
        breaker_failure_ratio(BuildGauge().Name("telering_breaker_failure_ratio").Help("Failure ratio (0..1) of the breaker's closed-state window").Register(r)),
        backoff_active(BuildGauge().Name("telering_backoff_active").Help("1 while the reader's backoff for the error type is in force").Register(r)),
        backoff_remaining(BuildGauge().Name("telering_backoff_remaining_seconds").Help("Seconds left of the backoff for the error type").Register(r)),
        lane_dropped(BuildCounter().Name("telering_lane_dropped_records_total").Help("Records dropped because the lane was full (lane=\"shared\": the MPSC lane)").Register(r)),
        lane_fill(BuildGauge().Name("telering_lane_fill_ratio").Help("Fill of the lane (0..1) when the snapshot was taken").Register(r)),
        lanes_in_use(BuildGauge().Name("telering_lanes_in_use").Help("SPSC lanes currently owned by a writer thread").Register(r)),
        shared_lost(BuildCounter().Name("telering_shared_lane_lost_records_total").Help("Shared-lane claims never committed (claimant died), skipped").Register(r)),
        lost_to_reader_crash(BuildCounter().Name("telering_records_lost_to_reader_crash_total").Help("Records a killed reader drained after its last state snapshot (missing from the restored aggregates)").Register(r)),
        malformed(BuildCounter().Name("telering_malformed_records_total").Help("Records refused by validation, by fault").Register(r)),
        drained(BuildCounter().Name("telering_records_drained_total").Help("Valid records drained, by kind").Register(r)),
        unknown_names(BuildCounter().Name("telering_unknown_names_total").Help("Records naming no ready name-table entry of the right kind").Register(r)),
        decisions(BuildCounter().Name("telering_decisions_total").Help("Decisions published on the decision board").Register(r)),
        alerts_raised(BuildCounter().Name("telering_alerts_raised_total").Help("Alerts raised by the engine (ALERT strategy, CRITICAL health, shutdown)").Register(r)),
        commands(BuildCounter().Name("telering_commands_total").Help("Bot commands, by result").Register(r)),
        reports(BuildCounter().Name("telering_reports_published_total").Help("Reports published on the segment's report page").Register(r)),
        heartbeat(BuildGauge().Name("telering_reader_heartbeat_timestamp_seconds").Help("Unix time of the reader's latest metrics snapshot (time() minus this = staleness)").Register(r)),
        loop_lag(BuildGauge().Name("telering_reader_loop_lag_seconds").Help("Longest gap between two drain-loop turns since the previous snapshot").Register(r)),
        start_time(BuildGauge().Name("telering_reader_start_time_seconds").Help("Unix time the reader started").Register(r)),
        user_counters(BuildGauge().Name("telering_bot_metric_accumulated").Help("Bot-defined counters (Writer::counter): the sum of their increments, by metric name").Register(r)),
        user_gauges(BuildGauge().Name("telering_bot_metric_last").Help("Bot-defined gauges (Writer::gauge): the last value, by metric name").Register(r)),
        alert_notifications(BuildCounter().Name("telering_alert_notifications_total").Help("Alert notifications by outcome: sent, failed (gave up), dropped (queue full), suppressed (dedup/rate), coalesced, expired").Register(r)),
        alert_attempts(BuildCounter().Name("telering_alert_delivery_attempts_total").Help("Webhook POST attempts, including retries").Register(r)),
        alert_queue(BuildGauge().Name("telering_alert_queue_length").Help("Alerts waiting for delivery").Register(r)),
        am_requests(BuildCounter().Name("telering_alertmanager_requests_total").Help("POST /alertmanager requests by result: ok, unauthorized (401), malformed (400), too_large (413), disabled (404, no rules), queue_full (503, retried by Alertmanager)").Register(r)),
        am_alerts(BuildCounter().Name("telering_alertmanager_alerts_total").Help("Alerts received from Alertmanager, by status (firing, resolved)").Register(r)),
        am_unmatched(BuildCounter().Name("telering_alertmanager_unmatched_alerts_total").Help("Alerts received that no [[alertmanager.rules]] entry matched").Register(r)),
        am_actions(BuildCounter().Name("telering_alertmanager_actions_total").Help("Board actions from Alertmanager alerts, by result: applied, rejected (name not storable)").Register(r)),
        am_queue(BuildGauge().Name("telering_alertmanager_queue_length").Help("Actions received and not yet applied by the drain loop").Register(r)),
        dropped_series(BuildCounter().Name("telering_metrics_dropped_series_total").Help("Label sets refused a series of their own because the family had kMaxSeriesPerFamily (2000): folded under \"other\" (per-record families) or left out of the snapshot (once per snapshot)").Register(r)) {}

  SeriesCap<Histogram> scan_time;
  SeriesCap<Histogram> api_latency;
  SeriesCap<Counter> errors;
  SeriesCap<Counter> warnings;
  SeriesCap<Gauge> scan_avg;
  SeriesCap<Gauge> api_avg;
  SeriesCap<Gauge> memory;
  SeriesCap<Gauge> errors_in_window;
  SeriesCap<Gauge> error_window;
  SeriesCap<Gauge> error_rate;
  SeriesCap<Gauge> last_seen;
  SeriesCap<Gauge> health;
  SeriesCap<Gauge> health_overall;
  SeriesCap<Gauge> bot_health;
  SeriesCap<Gauge> breaker_state;
  SeriesCap<Counter> breaker_trips;
  SeriesCap<Counter> breaker_transitions;
  SeriesCap<Counter> breaker_not_permitted;
  SeriesCap<Counter> probe_events;
  SeriesCap<Gauge> breaker_failure_ratio;
  SeriesCap<Gauge> backoff_active;
  SeriesCap<Gauge> backoff_remaining;
  SeriesCap<Counter> lane_dropped;
  SeriesCap<Gauge> lane_fill;
  SeriesCap<Gauge> lanes_in_use;
  SeriesCap<Counter> shared_lost;
  SeriesCap<Counter> lost_to_reader_crash;
  SeriesCap<Counter> malformed;
  SeriesCap<Counter> drained;
  SeriesCap<Counter> unknown_names;
  SeriesCap<Counter> decisions;
  SeriesCap<Counter> alerts_raised;
  SeriesCap<Counter> commands;
  SeriesCap<Counter> reports;
  SeriesCap<Gauge> heartbeat;
  SeriesCap<Gauge> loop_lag;
  SeriesCap<Gauge> start_time;
  SeriesCap<Gauge> user_counters;
  SeriesCap<Gauge> user_gauges;
  SeriesCap<Counter> alert_notifications;
  SeriesCap<Counter> alert_attempts;
  SeriesCap<Gauge> alert_queue;
  SeriesCap<Counter> am_requests;
  SeriesCap<Counter> am_alerts;
  SeriesCap<Counter> am_unmatched;
  SeriesCap<Counter> am_actions;
  SeriesCap<Gauge> am_queue;
  Family<Counter>& dropped_series;  // per family name: bounded by the families above
};

MetricsCollector::MetricsCollector(const Segment& segment)
    : segment_(&segment),
      registry_(std::make_shared<prometheus::Registry>()),
      f_(std::make_unique<Families>(*registry_)),
      lane_drops_seen_(segment.geometry().lane_count + 1, 0),
      lane_drops_total_(segment.geometry().lane_count + 1, 0.0) {
  start_wall_s_ = static_cast<double>(wall_ns()) / kNsPerSecond;
}

MetricsCollector::~MetricsCollector() = default;

namespace {

// Engine and lane totals only grow; a counter follows them by the difference.
void follow(Counter& c, double total) {
  const double delta = total - c.Value();
  if (delta > 0) c.Increment(delta);
}

void set(SeriesCap<Gauge>& family, const prometheus::Labels& labels, double value) {
  if (Gauge* g = family.add(labels)) g->Set(value);
}

void set_total(SeriesCap<Counter>& family, const prometheus::Labels& labels, double total) {
  if (Counter* c = family.add(labels)) follow(*c, total);
}

}  // namespace

void MetricsCollector::observe(const Record& r, const Engine& engine) {
  switch (r.kind) {
    case RecordKind::ScanTime:
      f_->scan_time.keyed(r.bot_id, [&] { return prometheus::Labels{{"bot", bot_label(engine, r.bot_id)}}; }, kScanTimeBuckets)
          .Observe(r.value);
      break;
    case RecordKind::ApiCall: {
      const std::uint64_t key = (std::uint64_t{r.bot_id} << 32) | r.name_id;
      f_->api_latency
          .keyed(key,
                 [&] {
                   return prometheus::Labels{{"bot", bot_label(engine, r.bot_id)}, {"endpoint", name_label(engine, r.name_id, "none")}};
                 },
                 kApiLatencyBuckets)
          .Observe(r.value);
      break;
    }
    case RecordKind::Error:
    case RecordKind::Warning: {
      const bool error = r.kind == RecordKind::Error;
      const std::uint64_t key = (std::uint64_t{r.bot_id} << 40) | (std::uint64_t{r.name_id} << 8) | static_cast<std::uint8_t>(r.severity);
      (error ? f_->errors : f_->warnings)
          .keyed(key,
                 [&] {
                   return prometheus::Labels{{"bot", bot_label(engine, r.bot_id)},
                                             {"type", name_label(engine, r.name_id, "none")},
                                             {"severity", lower(to_string(r.severity))}};
                 })
          .Increment();
      break;
    }
    default:
      break;
  }
}

std::shared_ptr<const MetricsSnapshot> MetricsCollector::collect(const Engine& engine, const LoopFigures& loop,
                                                                 std::uint64_t now_ns, std::int64_t wall) {
  Families& f = *f_;
  const auto status = [](HealthStatus s) { return static_cast<double>(static_cast<std::uint8_t>(s)); };

  // Health: host components and overall.
  const HealthReport host = engine.health_report(now_ns);
  for (const ComponentHealth& c : host.components) set(f.health, {{"component", c.name}}, status(c.status));
  set(f.health_overall, {}, status(host.overall_status));
  set(f.error_window, {}, static_cast<double>(engine.config().windows.error_window_seconds));
  set(f.error_rate, {}, engine.error_log().error_rate_per_minute(now_ns));

  // Per bot.
  for (const BotView& b : engine.bots()) {
    const prometheus::Labels bot{{"bot", b.name}};
    const PerformanceMonitor& m = *b.monitor;
    set(f.scan_avg, bot, m.scan_times().average());
    set(f.api_avg, bot, m.api_latencies().average());
    set(f.memory, bot, m.memory_bytes().last());
    set(f.errors_in_window, bot, static_cast<double>(m.errors_in_window(now_ns)));
    set(f.last_seen, bot, b.last_seen_ns && now_ns > b.last_seen_ns ? static_cast<double>(now_ns - b.last_seen_ns) / kNsPerSecond : 0.0);
    if (const auto report = engine.bot_health_report(b.id, now_ns)) {
      for (const ComponentHealth& c : report->components)
        set(f.bot_health, {{"bot", b.name}, {"component", c.name}}, status(c.status));
      set(f.bot_health, {{"bot", b.name}, {"component", "overall"}}, status(report->overall_status));
    }
  }

  // Breakers.
  for (const BreakerView& b : engine.breakers()) {
    // A bot's own breaker (scope bot/host) also carries its bot; the component's has no bot label.
    prometheus::Labels c{{"component", b.component}};
    if (!b.bot.empty()) c.emplace("bot", b.bot);
    set(f.breaker_state, c, static_cast<double>(static_cast<std::uint8_t>(b.metrics.state)));
    set_total(f.breaker_trips, c, static_cast<double>(b.metrics.trips));
    set_total(f.breaker_transitions, c, static_cast<double>(b.metrics.transitions));
    set_total(f.breaker_not_permitted, c, static_cast<double>(b.metrics.not_permitted_calls));
    set(f.breaker_failure_ratio, c, b.metrics.failure_rate / 100.0);
  }

  // Backoff per error type (every type the error log tracks).
  for (const ErrorTypeSummary& t : engine.error_log().types()) {
    const auto state = engine.recovery().state(t.error_type);
    const std::uint64_t until = state ? state->backoff_until_ns : 0;
    const prometheus::Labels type{{"type", t.error_type}};
    set(f.backoff_active, type, until > now_ns ? 1.0 : 0.0);
    set(f.backoff_remaining, type, until > now_ns ? static_cast<double>(until - now_ns) / kNsPerSecond : 0.0);
  }

  // Lanes: drops and fill, straight from the segment (relaxed loads: figures, not sync).
  const SegmentGeometry& g = segment_->geometry();
  std::uint32_t in_use = 0;
  const auto lane_drops = [&](std::size_t index, std::uint64_t raw, const std::string& label) {
    // A counter that went down was reset (the segment was re-created): count from zero again.
    const std::uint64_t seen = lane_drops_seen_[index];
    lane_drops_total_[index] += static_cast<double>(raw >= seen ? raw - seen : raw);
    lane_drops_seen_[index] = raw;
    set_total(f.lane_dropped, {{"lane", label}}, lane_drops_total_[index]);
  };
  for (std::uint32_t i = 0; i < g.lane_count; ++i) {
    const LaneControl& lane = segment_->lane(i);
    const std::string label = std::to_string(i);
    if (lane.owner.load(std::memory_order_relaxed) != 0) ++in_use;
    lane_drops(i, lane.dropped.load(std::memory_order_relaxed), label);
    const std::uint64_t tail = lane.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = lane.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.lane_capacity : 0.0;
    set(f.lane_fill, {{"lane", label}}, std::min(fill, 1.0));
  }
  {
    const MpscControl& shared = segment_->mpsc();
    lane_drops(g.lane_count, shared.dropped.load(std::memory_order_relaxed), "shared");
    const std::uint64_t tail = shared.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = shared.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.mpsc_capacity : 0.0;
    set(f.lane_fill, {{"lane", "shared"}}, std::min(fill, 1.0));
  }
  set(f.lanes_in_use, {}, in_use);
  set_total(f.shared_lost, {}, static_cast<double>(loop.drained.shared_lost));
  set_total(f.lost_to_reader_crash, {}, static_cast<double>(loop.drained.lost_to_reader_crash));

  // Engine counters.
  const EngineStats& s = engine.stats();
  for (std::size_t i = 1; i < static_cast<std::size_t>(RecordFault::Count_); ++i)
    set_total(f.malformed, {{"fault", std::string(to_string(static_cast<RecordFault>(i)))}},
              static_cast<double>(s.malformed_by_fault[i]));
  for (std::uint8_t k = 1; k <= kMaxRecordKind; ++k)
    set_total(f.drained, {{"kind", std::string(to_string(static_cast<RecordKind>(k)))}}, static_cast<double>(s.records_by_kind[k]));
  set_total(f.unknown_names, {}, static_cast<double>(s.unknown_names));
  set_total(f.decisions, {}, static_cast<double>(s.decisions));
  set_total(f.probe_events, {{"event", "refused"}}, static_cast<double>(s.probe_outcomes_refused));
  set_total(f.probe_events, {{"event", "taken_back"}}, static_cast<double>(s.probe_permits_taken_back));
  set_total(f.probe_events, {{"event", "unavailable"}}, static_cast<double>(s.probe_permits_unavailable));
  set_total(f.alerts_raised, {}, static_cast<double>(s.alerts));
  set_total(f.commands, {{"result", "applied"}}, static_cast<double>(s.commands_applied));
  set_total(f.commands, {{"result", "rejected"}}, static_cast<double>(s.commands_rejected));
  set_total(f.reports, {}, static_cast<double>(s.reports_published));
  for (const auto& [name, value] : engine.counters()) set(f.user_counters, {{"metric", name}}, value);
  for (const auto& [name, value] : engine.gauges()) set(f.user_gauges, {{"metric", name}}, value);

  // The loop itself.
  set(f.heartbeat, {}, static_cast<double>(wall) / kNsPerSecond);
  set(f.start_time, {}, start_wall_s_);
  set(f.loop_lag, {}, static_cast<double>(loop.max_turn_gap_ns) / kNsPerSecond);

  if (const AlertSenderStats* a = loop.alerts) {
    const std::pair<const char*, std::uint64_t> outcomes[] = {{"sent", a->sent},         {"failed", a->failed},
                                                              {"dropped", a->dropped_queue_full},
                                                              {"suppressed", a->suppressed}, {"coalesced", a->coalesced},
                                                              {"expired", a->expired}};
    for (const auto& [name, value] : outcomes) set_total(f.alert_notifications, {{"result", name}}, static_cast<double>(value));
    set_total(f.alert_attempts, {}, static_cast<double>(a->attempts));
    set(f.alert_queue, {}, static_cast<double>(a->queue_length));
  }

  if (const AlertmanagerStats* a = loop.alertmanager) {
    const std::pair<const char*, std::uint64_t> requests[] = {
        {"ok", a->requests_ok},           {"unauthorized", a->requests_unauthorized}, {"malformed", a->requests_malformed},
        {"too_large", a->requests_too_large}, {"disabled", a->requests_disabled},     {"queue_full", a->requests_queue_full}};
    for (const auto& [name, value] : requests) set_total(f.am_requests, {{"result", name}}, static_cast<double>(value));
    set_total(f.am_alerts, {{"status", "firing"}}, static_cast<double>(a->alerts_firing));
    set_total(f.am_alerts, {{"status", "resolved"}}, static_cast<double>(a->alerts_resolved));
    set_total(f.am_unmatched, {}, static_cast<double>(a->alerts_unmatched));
    set_total(f.am_actions, {{"result", "applied"}}, static_cast<double>(a->actions_applied));
    set_total(f.am_actions, {{"result", "rejected"}}, static_cast<double>(a->actions_rejected));
    set(f.am_queue, {}, static_cast<double>(a->queue_length));
  }

  // Every family once more: stale collect-built series go, and what the caps refused is told.
  const auto sweep = [&](auto& family) {
    family.sweep();
    follow(f.dropped_series.Add({{"family", family.name()}}), static_cast<double>(family.dropped()));
  };
  sweep(f.scan_time), sweep(f.api_latency), sweep(f.errors), sweep(f.warnings), sweep(f.scan_avg), sweep(f.api_avg);
  sweep(f.memory), sweep(f.errors_in_window), sweep(f.error_window), sweep(f.error_rate), sweep(f.last_seen);
  sweep(f.health), sweep(f.health_overall), sweep(f.bot_health), sweep(f.breaker_state), sweep(f.breaker_trips);
  sweep(f.breaker_transitions), sweep(f.breaker_not_permitted), sweep(f.probe_events), sweep(f.breaker_failure_ratio);
  sweep(f.backoff_active), sweep(f.backoff_remaining), sweep(f.lane_dropped), sweep(f.lane_fill), sweep(f.lanes_in_use);
  sweep(f.shared_lost), sweep(f.lost_to_reader_crash), sweep(f.malformed), sweep(f.drained), sweep(f.unknown_names), sweep(f.decisions);
  sweep(f.alerts_raised), sweep(f.commands), sweep(f.reports), sweep(f.heartbeat), sweep(f.loop_lag), sweep(f.start_time);
  sweep(f.user_counters), sweep(f.user_gauges), sweep(f.alert_notifications), sweep(f.alert_attempts), sweep(f.alert_queue);
  sweep(f.am_requests), sweep(f.am_alerts), sweep(f.am_unmatched), sweep(f.am_actions), sweep(f.am_queue);

  auto snapshot = std::make_shared<MetricsSnapshot>();
  snapshot->families = registry_->Collect();
  snapshot->taken_mono_ns = now_ns;
  // The engine publishes its report every publish_interval: three missed ones is a stall.
  snapshot->report_max_age_ns = 3 * static_cast<std::uint64_t>(std::chrono::nanoseconds(engine.config().publish_interval).count()) +
                                kReaderStaleNs;
  return snapshot;
}

}  // namespace telering::reader
