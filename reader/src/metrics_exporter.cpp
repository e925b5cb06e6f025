#include "telering/reader/metrics_exporter.hpp"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/text_serializer.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "telering/clock.hpp"
#include "telering/report_page.hpp"
#include "telering/reader/alert_sender.hpp"
#include "telering/reader/alertmanager_webhook.hpp"
#include "telering/reader/breaker.hpp"
#include "telering/reader/engine.hpp"
#include "telering/reader/health.hpp"

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
constexpr const char* kOther = "other";

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

// ---- address -----------------------------------------------------------------------------

HttpAddress parse_http_address(std::string_view text) {
  const auto bad = [&](const char* why) {
    return ExporterError("--http '" + std::string(text) + "': " + why +
                         " (expected ADDR:PORT such as 127.0.0.1:9464 or [::1]:9464, or a bare PORT for loopback)");
  };
  HttpAddress a;
  std::string_view port_text;
  if (text.empty()) throw bad("empty");
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') throw bad("bad IPv6 form");
    a.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) throw bad("an IPv6 address needs brackets");
    a.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  } else {
    port_text = text;
  }
  if (a.host.empty()) a.host = "127.0.0.1";
  int port = -1;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw bad("the port must be a number in 0..65535");
  a.port = port;
  return a;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

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
        user_counters(BuildGauge().Name("telering_bot_counter").Help("Bot-defined counters (Writer::counter), by metric name").Register(r)),
        user_gauges(BuildGauge().Name("telering_bot_gauge").Help("Bot-defined gauges (Writer::gauge), by metric name").Register(r)),
        alert_notifications(BuildCounter().Name("telering_alert_notifications_total").Help("Alert notifications by outcome: sent, failed (gave up), dropped (queue full), suppressed (dedup/rate), coalesced, expired").Register(r)),
        alert_attempts(BuildCounter().Name("telering_alert_delivery_attempts_total").Help("Webhook POST attempts, including retries").Register(r)),
        alert_queue(BuildGauge().Name("telering_alert_queue_length").Help("Alerts waiting for delivery").Register(r)),
        am_requests(BuildCounter().Name("telering_alertmanager_requests_total").Help("POST /alertmanager requests by result: ok, unauthorized (401), malformed (400), too_large (413), disabled (404, no rules), queue_full (503, retried by Alertmanager)").Register(r)),
        am_alerts(BuildCounter().Name("telering_alertmanager_alerts_total").Help("Alerts received from Alertmanager, by status (firing, resolved)").Register(r)),
        am_unmatched(BuildCounter().Name("telering_alertmanager_unmatched_alerts_total").Help("Alerts received that no [[alertmanager.rules]] entry matched").Register(r)),
        am_actions(BuildCounter().Name("telering_alertmanager_actions_total").Help("Board actions from Alertmanager alerts, by result: applied, rejected (name not storable)").Register(r)),
        am_queue(BuildGauge().Name("telering_alertmanager_queue_length").Help("Actions received and not yet applied by the drain loop").Register(r)) {}

  Family<Histogram>& scan_time;
  Family<Histogram>& api_latency;
  Family<Counter>& errors;
  Family<Counter>& warnings;
  Family<Gauge>& scan_avg;
  Family<Gauge>& api_avg;
  Family<Gauge>& memory;
  Family<Gauge>& errors_in_window;
  Family<Gauge>& error_window;
  Family<Gauge>& error_rate;
  Family<Gauge>& last_seen;
  Family<Gauge>& health;
  Family<Gauge>& health_overall;
  Family<Gauge>& bot_health;
  Family<Gauge>& breaker_state;
  Family<Counter>& breaker_trips;
  Family<Counter>& breaker_transitions;
  Family<Counter>& breaker_not_permitted;
  Family<Counter>& probe_events;
  Family<Gauge>& breaker_failure_ratio;
  Family<Gauge>& backoff_active;
  Family<Gauge>& backoff_remaining;
  Family<Counter>& lane_dropped;
  Family<Gauge>& lane_fill;
  Family<Gauge>& lanes_in_use;
  Family<Counter>& shared_lost;
  Family<Counter>& lost_to_reader_crash;
  Family<Counter>& malformed;
  Family<Counter>& drained;
  Family<Counter>& unknown_names;
  Family<Counter>& decisions;
  Family<Counter>& alerts_raised;
  Family<Counter>& commands;
  Family<Counter>& reports;
  Family<Gauge>& heartbeat;
  Family<Gauge>& loop_lag;
  Family<Gauge>& start_time;
  Family<Gauge>& user_counters;
  Family<Gauge>& user_gauges;
  Family<Counter>& alert_notifications;
  Family<Counter>& alert_attempts;
  Family<Gauge>& alert_queue;
  Family<Counter>& am_requests;
  Family<Counter>& am_alerts;
  Family<Counter>& am_unmatched;
  Family<Counter>& am_actions;
  Family<Gauge>& am_queue;
};

MetricsCollector::MetricsCollector(const Segment& segment)
    : segment_(&segment),
      registry_(std::make_shared<prometheus::Registry>()),
      f_(std::make_unique<Families>(*registry_)),
      lane_drops_seen_(segment.geometry().lane_count + 1, 0),
      lane_drops_total_(segment.geometry().lane_count + 1, 0.0) {
  f_->start_time.Add({}).Set(static_cast<double>(wall_ns()) / kNsPerSecond);
}

MetricsCollector::~MetricsCollector() = default;

Counter& MetricsCollector::series_counter(Family<Counter>& family, std::uint64_t key,
                                          std::unordered_map<std::uint64_t, Counter*>& cache,
                                          const prometheus::Labels& labels) {
  Counter*& slot = cache[key];
  if (!slot) {
    if (cache.size() > kMaxSeriesPerFamily) {
      prometheus::Labels other = labels;
      for (auto& [k, v] : other) v = kOther;
      slot = &family.Add(other);
    } else {
      slot = &family.Add(labels);
    }
  }
  return *slot;
}

Histogram& MetricsCollector::series_histogram(Family<Histogram>& family, std::uint64_t key,
                                              std::unordered_map<std::uint64_t, Histogram*>& cache,
                                              const prometheus::Labels& labels, const std::vector<double>& buckets) {
  Histogram*& slot = cache[key];
  if (!slot) {
    if (cache.size() > kMaxSeriesPerFamily) {
      prometheus::Labels other = labels;
      for (auto& [k, v] : other) v = kOther;
      slot = &family.Add(other, buckets);
    } else {
      slot = &family.Add(labels, buckets);
    }
  }
  return *slot;
}

void MetricsCollector::set_total(Counter& c, double total) {
  // Engine and lane totals only grow; the counter follows them by the difference.
  const double delta = total - c.Value();
  if (delta > 0) c.Increment(delta);
}

void MetricsCollector::observe(const Record& r, const Engine& engine) {
  switch (r.kind) {
    case RecordKind::ScanTime:
      series_histogram(f_->scan_time, r.bot_id, scan_by_bot_, {{"bot", bot_label(engine, r.bot_id)}}, kScanTimeBuckets)
          .Observe(r.value);
      break;
    case RecordKind::ApiCall: {
      const std::uint64_t key = (std::uint64_t{r.bot_id} << 32) | r.name_id;
      series_histogram(f_->api_latency, key, api_by_bot_endpoint_,
                       {{"bot", bot_label(engine, r.bot_id)}, {"endpoint", name_label(engine, r.name_id, "none")}}, kApiLatencyBuckets)
          .Observe(r.value);
      break;
    }
    case RecordKind::Error:
    case RecordKind::Warning: {
      const bool error = r.kind == RecordKind::Error;
      const std::uint64_t key = (std::uint64_t{r.bot_id} << 40) | (std::uint64_t{r.name_id} << 8) | static_cast<std::uint8_t>(r.severity);
      series_counter(error ? f_->errors : f_->warnings, key, error ? errors_by_key_ : warnings_by_key_,
                     {{"bot", bot_label(engine, r.bot_id)},
                      {"type", name_label(engine, r.name_id, "none")},
                      {"severity", lower(to_string(r.severity))}})
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
  for (const ComponentHealth& c : host.components) f.health.Add({{"component", c.name}}).Set(status(c.status));
  f.health_overall.Add({}).Set(status(host.overall_status));
  f.error_window.Add({}).Set(static_cast<double>(engine.config().windows.error_window_seconds));
  f.error_rate.Add({}).Set(engine.error_log().error_rate_per_minute(now_ns));

  // Per bot.
  for (const BotView& b : engine.bots()) {
    const prometheus::Labels bot{{"bot", b.name}};
    const PerformanceMonitor& m = *b.monitor;
    f.scan_avg.Add(bot).Set(m.scan_times().average());
    f.api_avg.Add(bot).Set(m.api_latencies().average());
    f.memory.Add(bot).Set(m.memory_bytes().last());
    f.errors_in_window.Add(bot).Set(static_cast<double>(m.errors_in_window(now_ns)));
    f.last_seen.Add(bot).Set(b.last_seen_ns && now_ns > b.last_seen_ns ? static_cast<double>(now_ns - b.last_seen_ns) / kNsPerSecond : 0.0);
    if (const auto report = engine.bot_health_report(b.id, now_ns)) {
      for (const ComponentHealth& c : report->components)
        f.bot_health.Add({{"bot", b.name}, {"component", c.name}}).Set(status(c.status));
      f.bot_health.Add({{"bot", b.name}, {"component", "overall"}}).Set(status(report->overall_status));
    }
  }

  // Breakers.
  for (const BreakerView& b : engine.breakers()) {
    // A bot's own breaker (scope bot/host) also carries its bot; the component's has no bot label.
    prometheus::Labels c{{"component", b.component}};
    if (!b.bot.empty()) c.emplace("bot", b.bot);
    f.breaker_state.Add(c).Set(static_cast<double>(static_cast<std::uint8_t>(b.metrics.state)));
    set_total(f.breaker_trips.Add(c), static_cast<double>(b.metrics.trips));
    set_total(f.breaker_transitions.Add(c), static_cast<double>(b.metrics.transitions));
    set_total(f.breaker_not_permitted.Add(c), static_cast<double>(b.metrics.not_permitted_calls));
    f.breaker_failure_ratio.Add(c).Set(b.metrics.failure_rate / 100.0);
  }

  // Backoff per error type (every type the error log tracks).
  for (const ErrorTypeSummary& t : engine.error_log().types()) {
    const auto state = engine.recovery().state(t.error_type);
    const std::uint64_t until = state ? state->backoff_until_ns : 0;
    const prometheus::Labels type{{"type", t.error_type}};
    f.backoff_active.Add(type).Set(until > now_ns ? 1.0 : 0.0);
    f.backoff_remaining.Add(type).Set(until > now_ns ? static_cast<double>(until - now_ns) / kNsPerSecond : 0.0);
  }

  // Lanes: drops and fill, straight from the segment (relaxed loads: figures, not sync).
  const SegmentGeometry& g = segment_->geometry();
  std::uint32_t in_use = 0;
  const auto lane_drops = [&](std::size_t index, std::uint64_t raw, const std::string& label) {
    // A counter that went down was reset (the segment was re-created): count from zero again.
    const std::uint64_t seen = lane_drops_seen_[index];
    lane_drops_total_[index] += static_cast<double>(raw >= seen ? raw - seen : raw);
    lane_drops_seen_[index] = raw;
    set_total(f.lane_dropped.Add({{"lane", label}}), lane_drops_total_[index]);
  };
  for (std::uint32_t i = 0; i < g.lane_count; ++i) {
    const LaneControl& lane = segment_->lane(i);
    const std::string label = std::to_string(i);
    if (lane.owner.load(std::memory_order_relaxed) != 0) ++in_use;
    lane_drops(i, lane.dropped.load(std::memory_order_relaxed), label);
    const std::uint64_t tail = lane.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = lane.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.lane_capacity : 0.0;
    f.lane_fill.Add({{"lane", label}}).Set(std::min(fill, 1.0));
  }
  {
    const MpscControl& shared = segment_->mpsc();
    lane_drops(g.lane_count, shared.dropped.load(std::memory_order_relaxed), "shared");
    const std::uint64_t tail = shared.tail.load(std::memory_order_relaxed);
    const std::uint64_t head = shared.head.load(std::memory_order_relaxed);
    const double fill = tail >= head ? static_cast<double>(tail - head) / g.mpsc_capacity : 0.0;
    f.lane_fill.Add({{"lane", "shared"}}).Set(std::min(fill, 1.0));
  }
  f.lanes_in_use.Add({}).Set(in_use);
  set_total(f.shared_lost.Add({}), static_cast<double>(loop.drained.shared_lost));
  set_total(f.lost_to_reader_crash.Add({}), static_cast<double>(loop.drained.lost_to_reader_crash));

  // Engine counters.
  const EngineStats& s = engine.stats();
  for (std::size_t i = 1; i < static_cast<std::size_t>(RecordFault::Count_); ++i)
    set_total(f.malformed.Add({{"fault", std::string(to_string(static_cast<RecordFault>(i)))}}),
              static_cast<double>(s.malformed_by_fault[i]));
  for (std::uint8_t k = 1; k <= kMaxRecordKind; ++k)
    set_total(f.drained.Add({{"kind", std::string(to_string(static_cast<RecordKind>(k)))}}), static_cast<double>(s.records_by_kind[k]));
  set_total(f.unknown_names.Add({}), static_cast<double>(s.unknown_names));
  set_total(f.decisions.Add({}), static_cast<double>(s.decisions));
  set_total(f.probe_events.Add({{"event", "refused"}}), static_cast<double>(s.probe_outcomes_refused));
  set_total(f.probe_events.Add({{"event", "taken_back"}}), static_cast<double>(s.probe_permits_taken_back));
  set_total(f.probe_events.Add({{"event", "unavailable"}}), static_cast<double>(s.probe_permits_unavailable));
  set_total(f.alerts_raised.Add({}), static_cast<double>(s.alerts));
  set_total(f.commands.Add({{"result", "applied"}}), static_cast<double>(s.commands_applied));
  set_total(f.commands.Add({{"result", "rejected"}}), static_cast<double>(s.commands_rejected));
  set_total(f.reports.Add({}), static_cast<double>(s.reports_published));
  for (const auto& [name, value] : engine.counters()) f.user_counters.Add({{"metric", name}}).Set(value);
  for (const auto& [name, value] : engine.gauges()) f.user_gauges.Add({{"metric", name}}).Set(value);

  // The loop itself.
  f.heartbeat.Add({}).Set(static_cast<double>(wall) / kNsPerSecond);
  f.loop_lag.Add({}).Set(static_cast<double>(loop.max_turn_gap_ns) / kNsPerSecond);

  if (const AlertSenderStats* a = loop.alerts) {
    const std::pair<const char*, std::uint64_t> outcomes[] = {{"sent", a->sent},         {"failed", a->failed},
                                                              {"dropped", a->dropped_queue_full},
                                                              {"suppressed", a->suppressed}, {"coalesced", a->coalesced},
                                                              {"expired", a->expired}};
    for (const auto& [name, value] : outcomes) set_total(f.alert_notifications.Add({{"result", name}}), static_cast<double>(value));
    set_total(f.alert_attempts.Add({}), static_cast<double>(a->attempts));
    f.alert_queue.Add({}).Set(static_cast<double>(a->queue_length));
  }

  if (const AlertmanagerStats* a = loop.alertmanager) {
    const std::pair<const char*, std::uint64_t> requests[] = {
        {"ok", a->requests_ok},           {"unauthorized", a->requests_unauthorized}, {"malformed", a->requests_malformed},
        {"too_large", a->requests_too_large}, {"disabled", a->requests_disabled},     {"queue_full", a->requests_queue_full}};
    for (const auto& [name, value] : requests) set_total(f.am_requests.Add({{"result", name}}), static_cast<double>(value));
    set_total(f.am_alerts.Add({{"status", "firing"}}), static_cast<double>(a->alerts_firing));
    set_total(f.am_alerts.Add({{"status", "resolved"}}), static_cast<double>(a->alerts_resolved));
    set_total(f.am_unmatched.Add({}), static_cast<double>(a->alerts_unmatched));
    set_total(f.am_actions.Add({{"result", "applied"}}), static_cast<double>(a->actions_applied));
    set_total(f.am_actions.Add({{"result", "rejected"}}), static_cast<double>(a->actions_rejected));
    f.am_queue.Add({}).Set(static_cast<double>(a->queue_length));
  }

  auto snapshot = std::make_shared<MetricsSnapshot>();
  snapshot->families = registry_->Collect();
  snapshot->taken_mono_ns = now_ns;
  return snapshot;
}

// ---- exporter (HTTP threads) --------------------------------------------------------------

namespace {

prometheus::MetricFamily live_gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.gauge.value = value;
  family.metric.push_back(std::move(m));
  return family;
}

}  // namespace

MetricsExporter::MetricsExporter(const std::string& address, AlertmanagerWebhook* alertmanager)
    : server_(std::make_unique<httplib::Server>()), alertmanager_(alertmanager) {
  const HttpAddress a = parse_http_address(address);
  host_ = a.host;
  // Two request threads: a scrape is cheap, and a flood of requests must not multiply
  // threads in a process that sits beside latency-sensitive bots.
  server_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  server_->set_read_timeout(std::chrono::seconds(5));
  server_->set_write_timeout(std::chrono::seconds(5));
  server_->set_keep_alive_max_count(100);
  // Only POST /alertmanager takes a body; httplib answers 413 past this without reading it.
  server_->set_payload_max_length(kMaxWebhookBodyBytes);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which would let a second
  // reader bind the same port and silently take half of the scrapes.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });

  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    scrapes_.fetch_add(1, std::memory_order_relaxed);
    res.set_content(render_metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  server_->Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(segment_mutex_);
    if (!segment_) {
      res.status = 503;
      res.set_content(R"({"status":"UNKNOWN","reason":"segment not attached yet"})", "application/json");
      return;
    }
    const Segment& seg = *segment_;
    ReportPage page(&seg.report(), seg.report_payload(), seg.geometry().report_bytes);
    ReportPage::Snapshot snap;
    if (!page.read(snap)) {
      res.status = 503;
      res.set_content(R"({"status":"UNKNOWN","reason":"no health report published yet"})", "application/json");
      return;
    }
    res.set_content(snap.text, "application/json");
  });
  server_->Get("/-/ready", [this](const httplib::Request&, httplib::Response& res) {
    std::lock_guard lock(segment_mutex_);
    if (segment_) {
      res.set_content("ready\n", "text/plain");
    } else {
      res.status = 503;
      res.set_content("not ready: segment not attached\n", "text/plain");
    }
  });
  // Parsing and mapping run here, on an HTTP thread; the loop only applies queued actions.
  server_->Post("/alertmanager", [this](const httplib::Request& req, httplib::Response& res) {
    if (!alertmanager_) {
      res.status = 404;
      res.set_content(R"({"status":"error","error":"the Alertmanager webhook is not enabled"})", "application/json");
      return;
    }
    AlertmanagerWebhook::Reply reply = alertmanager_->handle(req.get_header_value("Authorization"), req.body, monotonic_ns());
    res.status = reply.status;
    if (reply.status == 401) res.set_header("WWW-Authenticate", R"(Bearer realm="telering-reader")");
    res.set_content(reply.body, "application/json");
  });

  if (a.port == 0) {
    port_ = server_->bind_to_any_port(a.host);
    if (port_ <= 0) throw ExporterError("--http '" + address + "': cannot bind any port on " + a.host);
  } else {
    if (!server_->bind_to_port(a.host, a.port))
      throw ExporterError("--http '" + address + "': cannot bind " + a.host + ":" + std::to_string(a.port) +
                          " (in use, or not an address of this host?)");
    port_ = a.port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib's stop() is a no-op until the listen loop runs, so a destructor right after
  // construction would wait forever on the join: wait (bounded) for the loop to start.
  for (int i = 0; i < 5000 && !server_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

MetricsExporter::~MetricsExporter() {
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

void MetricsExporter::set_segment(const Segment& segment) {
  std::lock_guard lock(segment_mutex_);
  segment_ = &segment;
}

void MetricsExporter::clear_segment() {
  std::lock_guard lock(segment_mutex_);
  segment_ = nullptr;
}

void MetricsExporter::publish(std::shared_ptr<const MetricsSnapshot> snapshot) {
  // The old snapshot is released after the lock, so its destruction (the only non-trivial
  // work here) never happens while a scrape waits for the pointer.
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_.swap(snapshot);
  }
}

std::shared_ptr<const MetricsSnapshot> MetricsExporter::current() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

std::string MetricsExporter::render_metrics() const {
  const std::shared_ptr<const MetricsSnapshot> snap = current();
  std::vector<prometheus::MetricFamily> live;
  const std::uint64_t now = monotonic_ns();
  {
    std::lock_guard lock(segment_mutex_);
    if (segment_) {
      // Read live, not from the snapshot: a stalled loop stops refreshing both the heartbeat
      // and the snapshot, and this is how a scrape still tells.
      const std::uint64_t beat = segment_->header().reader_heartbeat_ns.load(std::memory_order_relaxed);
      live.push_back(live_gauge("telering_reader_heartbeat_age_seconds", "Seconds since the drain loop last beat (read at scrape time)",
                                beat && now > beat ? static_cast<double>(now - beat) / kNsPerSecond : 0.0));
    }
  }
  if (snap)
    live.push_back(live_gauge("telering_metrics_snapshot_age_seconds", "Seconds since the drain loop published the metrics served here",
                              now > snap->taken_mono_ns ? static_cast<double>(now - snap->taken_mono_ns) / kNsPerSecond : 0.0));
  std::ostringstream out;
  const prometheus::TextSerializer serializer;
  if (snap) serializer.Serialize(out, snap->families);
  serializer.Serialize(out, live);
  return out.str();
}

}  // namespace telering::reader
