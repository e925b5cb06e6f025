// The reader's Engine driven through shared memory: a Writer records into its lane, a
// Drainer hands the records to the Engine, the Engine publishes decisions on the board and
// the report page, and the Writer reads them back. Time is the test's: every pump and tick
// takes a now_ns the test chooses (no sleeping), starting from the real monotonic clock so
// the records' TSC timestamps fall inside Engine::event_time's accepted range.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "state/snapshot.hpp"
#include "support/engine_rig.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/report_page.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

using namespace std::chrono_literals;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr double kMiB = 1024.0 * 1024.0;

const DecisionEvent* find_decision(const std::vector<DecisionEvent>& events, std::string_view rule) {
  for (const DecisionEvent& e : events)
    if (e.rule == rule) return &e;
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// Aggregation

TEST(Engine, WriterRecordsReachHostAndBotMonitors) {
  EngineRig rig;
  Writer& w = rig.w();
  ASSERT_EQ(w.scan_time(25.5), RecordResult::Recorded);
  ASSERT_EQ(w.scan_time(34.5), RecordResult::Recorded);
  ASSERT_EQ(w.api_call(1.2, "orderbook"), RecordResult::Recorded);
  ASSERT_EQ(w.api_call(0.8, "orderbook"), RecordResult::Recorded);
  ASSERT_EQ(w.api_call(2.5, "positions"), RecordResult::Recorded);
  ASSERT_EQ(w.memory_bytes(256.0 * kMiB), RecordResult::Recorded);
  ASSERT_EQ(w.memory_bytes(300.0 * kMiB), RecordResult::Recorded);
  ASSERT_EQ(w.error("api_rate_limit", Severity::Medium, "endpoint=/api/v1/market/orderbook"), RecordResult::Recorded);
  ASSERT_EQ(w.error("api_connection", Severity::High, "timeout", "market_scanner"), RecordResult::Recorded);
  ASSERT_EQ(w.warning("slow_fill", "fill took 3s"), RecordResult::Recorded);
  ASSERT_EQ(w.warning("slow_fill"), RecordResult::Recorded);
  ASSERT_EQ(w.warning("stale_book"), RecordResult::Recorded);
  ASSERT_EQ(w.counter("orders_sent", 2), RecordResult::Recorded);
  ASSERT_EQ(w.counter("orders_sent", 3), RecordResult::Recorded);
  ASSERT_EQ(w.gauge("open_positions", 7), RecordResult::Recorded);
  ASSERT_EQ(w.gauge("open_positions", 4), RecordResult::Recorded);
  ASSERT_EQ(w.heartbeat(), RecordResult::Recorded);
  EXPECT_EQ(rig.pump(rig.at(kSecond)), 17U);

  const Engine& e = rig.engine();
  EXPECT_EQ(e.stats().records, 17U);
  EXPECT_EQ(e.stats().malformed, 0U);
  EXPECT_EQ(e.stats().unknown_names, 0U);
  EXPECT_EQ(e.stats().records_by_kind[static_cast<int>(RecordKind::ScanTime)], 2U);
  EXPECT_EQ(e.stats().records_by_kind[static_cast<int>(RecordKind::ApiCall)], 3U);
  EXPECT_EQ(e.stats().records_by_kind[static_cast<int>(RecordKind::Warning)], 3U);
  EXPECT_EQ(e.stats().records_by_kind[static_cast<int>(RecordKind::Heartbeat)], 1U);

  const PerformanceMonitor& host = e.host_monitor();
  EXPECT_EQ(host.scan_times().size(), 2U);
  EXPECT_DOUBLE_EQ(host.scan_times().average(), 30.0);
  EXPECT_EQ(host.api_latencies().size(), 3U);
  EXPECT_DOUBLE_EQ(host.api_latencies().average(), 1.5);
  const RollingWindow* orderbook = host.endpoint_latencies(w.endpoint("orderbook"));
  ASSERT_NE(orderbook, nullptr);
  EXPECT_EQ(orderbook->size(), 2U);
  EXPECT_DOUBLE_EQ(orderbook->average(), 1.0);
  EXPECT_DOUBLE_EQ(host.memory_mb(), 300.0);
  EXPECT_EQ(host.error_count(), 2U);
  EXPECT_EQ(host.warning_count(), 3U);

  const std::vector<BotView> bots = e.bots();
  ASSERT_EQ(bots.size(), 1U);
  EXPECT_EQ(bots[0].name, kBot);
  EXPECT_EQ(bots[0].id, w.bot_id());
  EXPECT_GT(bots[0].last_seen_ns, 0U);
  EXPECT_LE(bots[0].last_seen_ns, rig.at(kSecond));
  ASSERT_NE(bots[0].monitor, nullptr);
  EXPECT_EQ(bots[0].monitor->scan_times().size(), 2U);
  EXPECT_DOUBLE_EQ(bots[0].monitor->scan_times().average(), 30.0);
  EXPECT_DOUBLE_EQ(bots[0].monitor->memory_mb(), 300.0);
  EXPECT_EQ(bots[0].monitor->error_count(), 2U);
  EXPECT_EQ(bots[0].monitor->warning_count(), 3U);

  EXPECT_EQ(e.warnings_by_type().at("slow_fill"), 2U);
  EXPECT_EQ(e.warnings_by_type().at("stale_book"), 1U);
  EXPECT_DOUBLE_EQ(e.counters().at("orders_sent"), 5.0);
  EXPECT_DOUBLE_EQ(e.gauges().at("open_positions"), 4.0);

  // The error log has the type, severity, component and context of each error.
  EXPECT_EQ(e.error_log().total_errors(), 2U);
  const std::vector<ErrorEvent> history = e.error_log().history();
  ASSERT_EQ(history.size(), 2U);
  EXPECT_EQ(history[0].error_type, "api_rate_limit");
  EXPECT_EQ(history[0].severity, Severity::Medium);
  EXPECT_EQ(history[0].message_or_context, "endpoint=/api/v1/market/orderbook");
  EXPECT_EQ(history[1].error_type, "api_connection");
  EXPECT_EQ(history[1].component, "market_scanner");
  EXPECT_EQ(history[1].bot_id, w.bot_id());
  const ErrorStatistics stats = e.error_statistics(rig.at(kSecond));
  EXPECT_EQ(stats.total_errors, 2U);
  EXPECT_EQ(stats.errors_by_type.at("api_rate_limit"), 1U);
  EXPECT_EQ(stats.errors_by_severity.at("HIGH"), 1U);
}

TEST(Engine, ScanAverageOfExactly30SecondsIsWarningOnBoardAndReportPage) {
  EngineRig rig;
  rig.w().scan_time(20.0);
  rig.w().scan_time(40.0);
  rig.pump(rig.at(kSecond));
  const HealthReport report = rig.engine().health_report(rig.at(kSecond));
  ASSERT_NE(report.component(kScanPerformance), nullptr);
  EXPECT_EQ(report.component(kScanPerformance)->status, HealthStatus::Warning);
  EXPECT_DOUBLE_EQ(report.component(kScanPerformance)->value, 30.0);
  EXPECT_EQ(report.component(kMemoryUsage)->status, HealthStatus::Healthy);  // no data yet
  EXPECT_EQ(report.overall_status, HealthStatus::Warning);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Warning);
  EXPECT_EQ(rig.board().snapshot(rig.w().bot_id()).health, HealthStatus::Warning);

  const nlohmann::json doc = rig.report();
  EXPECT_EQ(doc["overall_status"], "WARNING");
  EXPECT_EQ(doc["bots"][kBot]["overall_status"], "WARNING");
  EXPECT_EQ(doc["error_statistics"]["total_errors"], 0);
  EXPECT_EQ(rig.report_snapshot().overall, HealthStatus::Warning);
}

TEST(Engine, ScanAverageJustUnder30IsHealthyAndOver90IsCritical) {
  EngineRig rig;
  rig.w().scan_time(29.9);
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(kSecond)).overall_status, HealthStatus::Healthy);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Healthy);
  EXPECT_EQ(rig.report()["overall_status"], "HEALTHY");

  // 29.9 and 150.1: average exactly 90 -> still WARNING (both ends of the band are WARNING).
  rig.w().scan_time(150.1);
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(3 * kSecond)).component(kScanPerformance)->status, HealthStatus::Warning);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Warning);

  rig.w().scan_time(90.0);  // 29.9, 150.1, 90: average still exactly 90
  rig.pump(rig.at(5 * kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(5 * kSecond)).component(kScanPerformance)->status, HealthStatus::Warning);
  rig.w().scan_time(300.0);
  rig.pump(rig.at(7 * kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(7 * kSecond)).component(kScanPerformance)->status, HealthStatus::Critical);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Critical);
  EXPECT_EQ(rig.report()["overall_status"], "CRITICAL");
}

TEST(Engine, MemoryBoundariesAt820And1024MiB) {
  EngineRig rig;
  const auto memory_status = [&](double bytes, std::uint64_t at) {
    rig.w().memory_bytes(bytes);
    rig.pump(rig.at(at));
    return rig.engine().health_report(rig.at(at)).component(kMemoryUsage)->status;
  };
  EXPECT_EQ(memory_status(819.9 * kMiB, kSecond), HealthStatus::Healthy);
  EXPECT_EQ(memory_status(820.0 * kMiB, 3 * kSecond), HealthStatus::Warning);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Warning);
  EXPECT_EQ(memory_status(1024.0 * kMiB, 5 * kSecond), HealthStatus::Warning);
  EXPECT_EQ(memory_status(1024.0 * kMiB + 1024.0, 7 * kSecond), HealthStatus::Critical);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Critical);
}

TEST(Engine, ErrorCountBoundariesFiveIsWarningElevenIsCritical) {
  EngineRig rig;
  for (int i = 0; i < 4; ++i) rig.w().error("order_rejected", Severity::Low);
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(kSecond)).component(kErrorRate)->status, HealthStatus::Healthy);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Healthy);

  rig.w().error("order_rejected", Severity::Low);  // 5
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(3 * kSecond)).component(kErrorRate)->status, HealthStatus::Warning);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Warning);

  for (int i = 0; i < 5; ++i) rig.w().error("order_rejected", Severity::Low);  // 10: still WARNING
  rig.pump(rig.at(5 * kSecond));
  EXPECT_EQ(rig.engine().health_report(rig.at(5 * kSecond)).component(kErrorRate)->status, HealthStatus::Warning);

  rig.w().error("order_rejected", Severity::Low);  // 11
  rig.pump(rig.at(7 * kSecond));
  const HealthReport report = rig.engine().health_report(rig.at(7 * kSecond));
  EXPECT_EQ(report.component(kErrorRate)->status, HealthStatus::Critical);
  EXPECT_EQ(report.component(kErrorRate)->value, 11.0);
  EXPECT_EQ(report.overall_status, HealthStatus::Critical);
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Critical);
  EXPECT_EQ(rig.board().snapshot(rig.w().bot_id()).health, HealthStatus::Critical);

  const nlohmann::json doc = rig.report();
  EXPECT_EQ(doc["overall_status"], "CRITICAL");
  EXPECT_EQ(doc["error_statistics"]["total_errors"], 11);
  EXPECT_EQ(doc["error_statistics"]["errors_by_type"]["order_rejected"], 11);
  EXPECT_EQ(doc["bots"][kBot]["overall_status"], "CRITICAL");
  EXPECT_EQ(doc["bots"][kBot]["metrics"]["errors"], 11);

  // The bot going CRITICAL raises one health alert for it.
  int health_alerts = 0;
  for (const Alert& a : rig.engine().take_alerts()) health_alerts += a.key == std::string("health/") + kBot;
  EXPECT_EQ(health_alerts, 1);
}

TEST(Engine, ReportPageIsRepublishedEveryPublishIntervalNotEveryTick) {
  EngineRig rig;
  rig.pump(rig.at(0));
  const std::uint64_t first = rig.engine().stats().reports_published;
  EXPECT_EQ(first, 1U);  // the first tick publishes at once
  rig.pump(rig.at(500'000'000));
  EXPECT_EQ(rig.engine().stats().reports_published, first);
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.engine().stats().reports_published, first + 1);
  EXPECT_EQ(rig.report_snapshot().published_mono_ns, rig.at(kSecond));
}

TEST(Engine, HealthSummaryHasTheSeedsSectionsAndComponents) {
  EngineRig rig;
  rig.w().scan_time(24.5);
  rig.w().memory_bytes(256.3 * kMiB);
  rig.w().api_call(0.5, "orderbook");
  rig.pump(rig.at(kSecond));
  const std::string summary = rig.engine().health_summary(rig.at(kSecond));
  for (const char* expected : {"BOT HEALTH CHECK SUMMARY", "Overall Status: HEALTHY", "Component Health:", "scan_performance: HEALTHY",
                               "memory_usage: HEALTHY", "error_rate: HEALTHY", "api_performance: HEALTHY", "Key Metrics:",
                               "Avg Scan Time: 24.50s", "Memory Usage: 256.3MB", "Errors: 0", "Warnings: 0"}) {
    EXPECT_NE(summary.find(expected), std::string::npos) << "missing \"" << expected << "\" in\n" << summary;
  }
}

// ---------------------------------------------------------------------------------------
// Circuit breakers

// The rig's clock runs a minute ahead of the real one the writer stamps permit leases with:
// a lease longer than that keeps the reader from taking permits back mid-test.
ReaderConfig long_probe_leases() {
  ReaderConfig c;
  c.default_breaker.probe_lease = 3600;
  return c;
}

TEST(Engine, BreakerOpensOnFailureRateThenHalfOpensAfter60sAndClosesOnProbes) {
  EngineRig rig(long_probe_leases());
  Writer& w = rig.w();
  const std::uint64_t seq_before = rig.board().decision_seq();
  // 5 successes and 4 failures: 9 calls, below the minimum of 10.
  for (int i = 0; i < 5; ++i) w.call_outcome("market_scanner", true, 0.1);
  for (int i = 0; i < 4; ++i) w.call_outcome("market_scanner", false, 0.1);
  rig.pump(rig.at(kSecond));
  EXPECT_FALSE(w.breaker_open("market_scanner"));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Closed);

  // The 10th call is the 5th failure: 50 % of 10 >= 50 % trips it.
  const std::uint64_t trip_at = rig.at(2 * kSecond);
  w.call_outcome("market_scanner", false, 0.1);
  rig.pump(trip_at);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  EXPECT_TRUE(w.is_circuit_breaker_open("market_scanner"));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Open);
  const std::uint64_t seq_open = rig.board().decision_seq();
  EXPECT_GT(seq_open, seq_before);
  const BoardSnapshot open = rig.board().snapshot(w.component("market_scanner"));
  EXPECT_EQ(open.breaker_state, BreakerState::Open);
  EXPECT_EQ(open.rule, static_cast<std::uint8_t>(BreakerRule::FailureRate));
  EXPECT_EQ(open.decision_seq, seq_open);
  EXPECT_EQ(open.open_until_ticks, rig.segment().calibration().to_ticks(trip_at + 60 * kSecond));

  std::vector<DecisionEvent> decisions = rig.engine().take_decisions();
  const DecisionEvent* d = find_decision(decisions, "failure_rate");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->subject, "market_scanner");
  EXPECT_EQ(d->board_seq, seq_open);
  EXPECT_NE(d->what.find("CLOSED -> OPEN"), std::string::npos) << d->what;
  EXPECT_EQ(rig.report()["breakers"]["market_scanner"]["state"], "OPEN");

  // Outcomes while OPEN change nothing; the wait is 60 s from the trip.
  w.call_outcome("market_scanner", true, 0.1);
  rig.pump(trip_at + 59 * kSecond);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  rig.engine().tick(trip_at + 60 * kSecond);
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::HalfOpen);
  EXPECT_FALSE(w.breaker_open("market_scanner"));  // probes may go through
  EXPECT_GT(rig.board().decision_seq(), seq_open);
  decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "timeout"), nullptr);

  // Three successful probes close it. Each is a call made after breaker_open() said this
  // thread may (it took one of the 3 host-wide permits); an outcome without a permit is not
  // a probe.
  w.call_outcome("market_scanner", true, 0.1);  // the permit taken above
  EXPECT_FALSE(w.breaker_open("market_scanner"));
  w.call_outcome("market_scanner", true, 0.1);
  EXPECT_FALSE(w.breaker_open("market_scanner"));  // the third and last permit
  EXPECT_FALSE(w.breaker_open("market_scanner"));  // still held (not spent): asking again is free
  rig.pump(trip_at + 61 * kSecond);
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::HalfOpen);
  w.call_outcome("market_scanner", true, 0.1);
  EXPECT_TRUE(w.breaker_open("market_scanner"));  // all 3 permits spent: no fourth probe
  rig.pump(trip_at + 62 * kSecond);
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Closed);
  EXPECT_EQ(rig.board().snapshot(w.component("market_scanner")).rule, static_cast<std::uint8_t>(BreakerRule::ProbeSucceeded));
  decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "probe_succeeded"), nullptr);
  EXPECT_EQ(rig.engine().stats().breaker_transitions, 3U);
  rig.pump(trip_at + 64 * kSecond);
  EXPECT_EQ(rig.report()["breakers"]["market_scanner"]["state"], "CLOSED");
}

TEST(Engine, BreakerOpensOnConsecutiveFailuresFromConfig) {
  ReaderConfig config = parse_config(
      "[breakers.order_router]\nconsecutive_failures_threshold = 3\nwait_duration_in_open = \"10s\"\n", "reader.toml");
  EngineRig rig(std::move(config));
  Writer& w = rig.w();
  w.call_outcome("order_router", false, 0.1);
  w.call_outcome("order_router", false, 0.1);
  rig.pump(rig.at(kSecond));
  EXPECT_FALSE(w.breaker_open("order_router"));
  w.call_outcome("order_router", false, 0.1);
  rig.pump(rig.at(2 * kSecond));
  EXPECT_TRUE(w.breaker_open("order_router"));
  const auto decisions = rig.engine().take_decisions();
  const DecisionEvent* d = find_decision(decisions, "consecutive_failures");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->subject, "order_router");
  EXPECT_EQ(rig.board().snapshot(w.component("order_router")).rule,
            static_cast<std::uint8_t>(BreakerRule::ConsecutiveFailures));
  // The component's own wait (10 s), not the default 60 s.
  rig.engine().tick(rig.at(12 * kSecond) - 1);
  EXPECT_TRUE(w.breaker_open("order_router"));
  rig.engine().tick(rig.at(12 * kSecond));
  EXPECT_EQ(w.breaker_state("order_router"), BreakerState::HalfOpen);

  // A component without a section keeps the default rule set: 3 failures do not trip it.
  for (int i = 0; i < 3; ++i) w.call_outcome("market_scanner", false, 0.1);
  rig.pump(rig.at(13 * kSecond));
  EXPECT_FALSE(w.breaker_open("market_scanner"));
}

// ---------------------------------------------------------------------------------------
// Recovery

TEST(Engine, RateLimitErrorPublishesA30SecondBackoffTheWriterHonours) {
  EngineRig rig;
  Writer& w = rig.w();
  EXPECT_FALSE(w.in_backoff("api_rate_limit"));
  w.error("api_rate_limit", Severity::Medium, "endpoint=/api/v1/market/orderbook");
  const std::uint64_t now = rig.at(kSecond / 10);
  rig.pump(now);
  EXPECT_TRUE(w.in_backoff("api_rate_limit"));
  EXPECT_EQ(w.backoff_until("api_rate_limit"), now + 30 * kSecond);
  EXPECT_TRUE(w.should_trigger_recovery("api_rate_limit"));
  const BoardSnapshot s = rig.board().snapshot(w.error_type("api_rate_limit"));
  EXPECT_EQ(s.last_action, static_cast<std::uint8_t>(RecoveryAction::Backoff));
  EXPECT_EQ(s.rule, recovery_rule(RecoveryAction::Backoff));
  EXPECT_EQ(s.backoff_until_ticks, rig.segment().calibration().to_ticks(now + 30 * kSecond));
  const auto decisions = rig.engine().take_decisions();
  const DecisionEvent* d = find_decision(decisions, "recovery:backoff");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->subject, "api_rate_limit");
  EXPECT_NE(d->what.find("BACKOFF 30.0 s"), std::string::npos) << d->what;

  // A second rate-limit error inside the backoff makes no new decision.
  const std::uint64_t seq = rig.board().decision_seq();
  w.error("api_rate_limit", Severity::Medium);
  rig.pump(rig.at(2 * kSecond));
  EXPECT_EQ(w.backoff_until("api_rate_limit"), now + 30 * kSecond);
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_rate_limit")).decision_seq, s.decision_seq);
  EXPECT_GE(rig.board().decision_seq(), seq);
}

TEST(Engine, ConnectionErrorGrantsRetriesOnTheBoard) {
  EngineRig rig;
  Writer& w = rig.w();
  w.error("api_connection", Severity::High, "connect timeout");
  const std::uint64_t now = rig.at(kSecond);
  rig.pump(now);
  const BoardSnapshot s = rig.board().snapshot(w.error_type("api_connection"));
  EXPECT_EQ(s.last_action, static_cast<std::uint8_t>(RecoveryAction::Retry));
  EXPECT_EQ(s.retry_permits, 4U);                // 5 retries, the first one granted now
  EXPECT_EQ(s.backoff_until_ns, now + kSecond);  // the seed's 1, 2, 4 ... s
  EXPECT_TRUE(w.should_trigger_recovery("api_connection"));
  w.error("api_connection", Severity::High);
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_connection")).retry_permits, 3U);
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_connection")).backoff_until_ns, rig.at(3 * kSecond) + 2 * kSecond);
  const auto decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "recovery:retry"), nullptr);
}

TEST(Engine, PositionNotFoundBumpsResetEpochsOfTypeComponentAndGlobalOnce) {
  EngineRig rig;
  Writer& w = rig.w();
  EXPECT_EQ(w.global_reset_epoch(), 0U);
  w.error("position_not_found", Severity::Medium, "BTCUSDTM", "position_manager");
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(w.reset_epoch("position_not_found"), 1U);
  EXPECT_EQ(w.reset_epoch("position_manager"), 1U);
  EXPECT_EQ(w.global_reset_epoch(), 1U);  // one RESET decision, one global step
  EXPECT_TRUE(w.should_trigger_recovery("position_not_found"));
  const auto decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "recovery:reset"), nullptr);

  // Without a component only the type and the global epoch move.
  w.error("position_not_found", Severity::Medium, "ETHUSDTM");
  rig.pump(rig.at(2 * kSecond));
  EXPECT_EQ(w.reset_epoch("position_not_found"), 2U);
  EXPECT_EQ(w.reset_epoch("position_manager"), 1U);
  EXPECT_EQ(w.global_reset_epoch(), 2U);
}

TEST(Engine, ResetIgnoresAnAuxIdThatIsNotAComponent) {
  EngineRig rig;
  Writer& w = rig.w();
  const NameId other_type = w.error_type("api_rate_limit");
  // aux_id names an error type, not a component: its board entry must not move.
  ASSERT_EQ(w.record(RecordKind::Error, w.error_type("position_not_found"), 0.0, Severity::Medium, other_type),
            RecordResult::Recorded);
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(w.reset_epoch("position_not_found"), 1U);
  EXPECT_EQ(rig.board().reset_epoch(other_type), 0U);
  EXPECT_EQ(w.global_reset_epoch(), 1U);
  EXPECT_EQ(rig.engine().error_log().history().at(0).component, "");
}

TEST(Engine, InsufficientBalanceRaisesOneAlertPerIncident) {
  EngineRig rig;
  Writer& w = rig.w();
  w.error("insufficient_balance", Severity::High, "need 120 USDT");
  rig.pump(rig.at(kSecond));
  std::vector<Alert> alerts = rig.engine().take_alerts();
  ASSERT_EQ(alerts.size(), 1U);
  EXPECT_EQ(alerts[0].key, "recovery/insufficient_balance");
  EXPECT_NE(alerts[0].text.find("insufficient_balance"), std::string::npos);
  EXPECT_TRUE(w.should_trigger_recovery("insufficient_balance"));
  EXPECT_EQ(rig.board().snapshot(w.error_type("insufficient_balance")).last_action,
            static_cast<std::uint8_t>(RecoveryAction::Alert));

  w.error("insufficient_balance", Severity::High, "need 130 USDT");
  rig.pump(rig.at(2 * kSecond));
  EXPECT_TRUE(rig.engine().take_alerts().empty());
  EXPECT_EQ(rig.engine().stats().alerts, 1U);
  EXPECT_EQ(rig.engine().error_log().total_errors(), 2U);
}

TEST(Engine, CustomShutdownStrategyFromConfigRequestsShutdown) {
  ReaderConfig config =
      parse_config("[[strategies]]\nerror_type = \"exchange_banned\"\naction = \"SHUTDOWN\"\nseverity = \"CRITICAL\"\n", "reader.toml");
  EngineRig rig(std::move(config));
  Writer& w = rig.w();
  EXPECT_FALSE(w.shutdown_requested());
  w.error("exchange_banned", Severity::High, "account suspended");
  rig.pump(rig.at(kSecond));
  EXPECT_TRUE(w.shutdown_requested());
  EXPECT_TRUE(w.should_trigger_recovery("exchange_banned"));
  EXPECT_TRUE(rig.engine().recovery().shutdown_requested());
  const auto decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "recovery:shutdown"), nullptr);
  const auto alerts = rig.engine().take_alerts();
  ASSERT_EQ(alerts.size(), 1U);
  EXPECT_EQ(alerts[0].key, "shutdown/exchange_banned");
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(rig.report()["shutdown_requested"], true);

  // ClearShutdown withdraws it.
  const std::uint64_t id = w.send_command(CommandCode::ClearShutdown, kNoName);
  rig.pump(rig.at(4 * kSecond));
  EXPECT_EQ(w.wait_for_command(id, 0ms), CommandStatus::Applied);
  EXPECT_FALSE(w.shutdown_requested());
}

// ---------------------------------------------------------------------------------------
// Commands

TEST(Engine, OpenAndCloseBreakerCommandsAreAppliedAndAcknowledged) {
  EngineRig rig;
  Writer& w = rig.w();
  // No reader pumps yet: the command waits in the lane.
  EXPECT_EQ(w.open_circuit_breaker("market_scanner", 0ms), CommandStatus::Pending);
  const std::uint64_t open_id = rig.last_command_id();
  ASSERT_NE(open_id, 0U);
  EXPECT_EQ(rig.board().command_status(open_id), CommandStatus::Pending);
  EXPECT_FALSE(w.breaker_open("market_scanner"));

  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.board().command_status(open_id), CommandStatus::Applied);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  EXPECT_EQ(rig.engine().stats().commands_applied, 1U);
  auto decisions = rig.engine().take_decisions();
  const DecisionEvent* d = find_decision(decisions, "command:open_breaker");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->subject, "market_scanner");
  EXPECT_EQ(rig.board().snapshot(w.component("market_scanner")).rule, static_cast<std::uint8_t>(BreakerRule::Manual));

  const std::uint64_t close_id = w.send_command(CommandCode::CloseBreaker, w.component("market_scanner"));
  ASSERT_NE(close_id, 0U);
  rig.pump(rig.at(2 * kSecond));
  EXPECT_EQ(w.wait_for_command(close_id, 0ms), CommandStatus::Applied);
  EXPECT_FALSE(w.breaker_open("market_scanner"));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Closed);
  decisions = rig.engine().take_decisions();
  ASSERT_NE(find_decision(decisions, "command:close_breaker"), nullptr);

  // FORCED_OPEN stays open past the wait; DISABLED is never open.
  const std::uint64_t force_id = w.send_command(CommandCode::ForceOpenBreaker, w.component("market_scanner"));
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(w.wait_for_command(force_id, 0ms), CommandStatus::Applied);
  rig.pump(rig.at(200 * kSecond));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::ForcedOpen);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  const std::uint64_t disable_id = w.send_command(CommandCode::DisableBreaker, w.component("market_scanner"));
  rig.pump(rig.at(201 * kSecond));
  EXPECT_EQ(w.wait_for_command(disable_id, 0ms), CommandStatus::Applied);
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Disabled);
  EXPECT_FALSE(w.breaker_open("market_scanner"));
}

TEST(Engine, ManualOpenLastsTheWaitDurationThenHalfOpens) {
  EngineRig rig;
  Writer& w = rig.w();
  (void)w.open_circuit_breaker("market_scanner", 0ms);
  rig.pump(rig.at(kSecond));
  ASSERT_TRUE(w.breaker_open("market_scanner"));
  rig.engine().tick(rig.at(61 * kSecond) - 1);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  rig.engine().tick(rig.at(61 * kSecond));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::HalfOpen);
}

TEST(Engine, RegisterRecoveryStrategyCommandInstallsIt) {
  EngineRig rig;
  Writer& w = rig.w();
  EXPECT_EQ(rig.engine().recovery().strategy("custom_error"), nullptr);
  EXPECT_EQ(w.register_recovery_strategy("custom_error", Severity::Medium, RecoveryAction::Retry, 5, 0.0, 0ms),
            CommandStatus::Pending);
  const std::uint64_t id = rig.last_command_id();
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(w.wait_for_command(id, 0ms), CommandStatus::Applied);
  const RecoveryStrategy* s = rig.engine().recovery().strategy("custom_error");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->action, RecoveryAction::Retry);
  EXPECT_EQ(s->max_retries, 5U);
  EXPECT_EQ(s->severity, Severity::Medium);

  // It is used for the next error of that type.
  w.error("custom_error", Severity::Medium);
  rig.pump(rig.at(2 * kSecond));
  EXPECT_EQ(rig.board().snapshot(w.error_type("custom_error")).retry_permits, 4U);

  // A BACKOFF with a fixed wait.
  const std::uint64_t id2 = w.send_command(CommandCode::RegisterStrategy, w.error_type("exchange_busy"), Severity::High,
                                           "BACKOFF 0 12.5");
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(w.wait_for_command(id2, 0ms), CommandStatus::Applied);
  ASSERT_NE(rig.engine().recovery().strategy("exchange_busy"), nullptr);
  EXPECT_EQ(rig.engine().recovery().strategy("exchange_busy")->action, RecoveryAction::Backoff);
  EXPECT_EQ(rig.engine().recovery().strategy("exchange_busy")->backoff_seconds, 12.5);
}

TEST(Engine, CommandsForANameOfTheWrongKindOrWithBadArgumentsAreRejected) {
  EngineRig rig;
  Writer& w = rig.w();
  // A breaker command naming an error type, a strategy naming a component, bad arguments.
  const std::uint64_t a = w.send_command(CommandCode::OpenBreaker, w.error_type("api_rate_limit"));
  const std::uint64_t b = w.send_command(CommandCode::RegisterStrategy, w.component("market_scanner"), Severity::Medium, "RETRY 3");
  const std::uint64_t c = w.send_command(CommandCode::RegisterStrategy, w.error_type("custom"), Severity::Medium, "REBOOT 3");
  const std::uint64_t d = w.send_command(CommandCode::RegisterStrategy, w.error_type("custom"), Severity::Medium, "");
  const std::uint64_t e = w.send_command(CommandCode::CloseBreaker, kNoName);
  rig.pump(rig.at(kSecond));
  for (std::uint64_t id : {a, b, c, d, e}) {
    SCOPED_TRACE(id);
    EXPECT_EQ(w.wait_for_command(id, 0ms), CommandStatus::Rejected);
  }
  EXPECT_EQ(rig.engine().stats().commands_rejected, 5U);
  EXPECT_EQ(rig.engine().stats().commands_applied, 0U);
  EXPECT_FALSE(w.breaker_open("api_rate_limit"));
  EXPECT_EQ(rig.engine().recovery().strategy("custom"), nullptr);
  EXPECT_TRUE(rig.engine().breakers().empty());
}

TEST(Engine, RequestReportRepublishesAtOnce) {
  EngineRig rig;
  rig.pump(rig.at(0));
  const std::uint64_t before = rig.engine().stats().reports_published;
  const std::uint64_t id = rig.w().send_command(CommandCode::RequestReport, kNoName);
  rig.pump(rig.at(kSecond / 10));  // well inside the publish interval
  EXPECT_EQ(rig.w().wait_for_command(id, 0ms), CommandStatus::Applied);
  EXPECT_EQ(rig.engine().stats().reports_published, before + 1);
}

// ---------------------------------------------------------------------------------------
// Malformed records

Record valid_scan(const Writer& w, double seconds) {
  Record r{};
  r.timestamp = read_ticks();
  r.value = seconds;
  r.kind = RecordKind::ScanTime;
  r.bot_id = w.bot_id();
  return r;
}

TEST(Engine, MalformedRecordsAreCountedByFaultAndValidOnesAroundThemProcessed) {
  EngineRig rig;
  Writer& w = rig.w();
  w.scan_time(10.0);  // claims this thread's lane first
  const std::uint32_t lanes = rig.segment().geometry().lane_count;
  const std::uint32_t name_capacity = rig.segment().geometry().name_capacity;
  // A lane no thread owns, written by hand as a broken or hostile writer would.
  std::uint32_t lane = lanes;
  for (std::uint32_t i = 0; i < lanes; ++i)
    if (rig.segment().lane(i).owner.load() == 0) lane = i;
  ASSERT_LT(lane, lanes);
  SpscProducer raw(&rig.segment().lane(lane), rig.segment().lane_records(lane), rig.segment().geometry().lane_capacity);
  const auto push = [&](Record r) { ASSERT_TRUE(raw.try_push([&](Record& slot) { slot = r; })); };

  push(valid_scan(w, 20.0));
  Record bad = valid_scan(w, 1.0);
  bad.kind = static_cast<RecordKind>(0);
  push(bad);  // BadKind
  bad = valid_scan(w, std::numeric_limits<double>::quiet_NaN());
  push(bad);  // NotFinite
  bad = valid_scan(w, 1.0);
  bad.name_id = static_cast<NameId>(name_capacity);
  push(bad);  // NameOutOfRange
  bad = valid_scan(w, 1.0);
  bad.kind = static_cast<RecordKind>(kMaxRecordKind + 1);
  push(bad);  // BadKind
  bad = valid_scan(w, 1.0);
  bad.kind = RecordKind::Error;
  bad.severity = Severity::None;
  push(bad);  // BadSeverity: an error needs a severity
  bad = valid_scan(w, 1.0);
  bad.bot_id = static_cast<NameId>(name_capacity + 5);
  push(bad);  // BotOutOfRange
  bad = valid_scan(w, -3.0);
  push(bad);  // BadValue
  bad = valid_scan(w, 1.0);
  bad.context_len = 200;
  push(bad);  // BadContextLength
  bad = valid_scan(w, 1.0);
  bad.kind = RecordKind::Command;
  bad.aux_id = 99;
  push(bad);  // BadCommand
  bad = valid_scan(w, 1.0);
  bad.flags = 0x80;
  push(bad);  // BadFlags
  bad = valid_scan(w, std::numeric_limits<double>::infinity());
  bad.kind = RecordKind::Gauge;
  push(bad);  // NotFinite
  push(valid_scan(w, 30.0));
  w.scan_time(40.0);

  EXPECT_EQ(rig.pump(rig.at(kSecond)), 15U);
  const EngineStats& s = rig.engine().stats();
  EXPECT_EQ(s.malformed, 11U);
  const auto by = [&](RecordFault f) { return s.malformed_by_fault[static_cast<std::size_t>(f)]; };
  EXPECT_EQ(by(RecordFault::BadKind), 2U);
  EXPECT_EQ(by(RecordFault::NotFinite), 2U);
  EXPECT_EQ(by(RecordFault::NameOutOfRange), 1U);
  EXPECT_EQ(by(RecordFault::BadSeverity), 1U);
  EXPECT_EQ(by(RecordFault::BotOutOfRange), 1U);
  EXPECT_EQ(by(RecordFault::BadValue), 1U);
  EXPECT_EQ(by(RecordFault::BadContextLength), 1U);
  EXPECT_EQ(by(RecordFault::BadCommand), 1U);
  EXPECT_EQ(by(RecordFault::BadFlags), 1U);
  EXPECT_EQ(by(RecordFault::None), 0U);
  EXPECT_EQ(s.records, 4U);
  const PerformanceMonitor& host = rig.engine().host_monitor();
  EXPECT_EQ(host.scan_times().size(), 4U);
  EXPECT_DOUBLE_EQ(host.scan_times().average(), 25.0);  // 10, 20, 30, 40
  EXPECT_EQ(host.error_count(), 0U);
  EXPECT_TRUE(rig.engine().gauges().empty());
}

TEST(Engine, RecordNamingAnIdOfTheWrongKindIsCountedNotApplied) {
  EngineRig rig;
  Writer& w = rig.w();
  // Valid fields, but the ids name the wrong kind of thing (or nothing yet).
  (void)w.record(RecordKind::CallOutcome, w.error_type("api_rate_limit"), 0.1, Severity::None, kNoName, kFlagFailure);
  (void)w.record(RecordKind::Error, w.component("market_scanner"), 0.0, Severity::High);
  (void)w.record(RecordKind::Counter, 200, 1.0);  // an id nothing was interned at
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.engine().stats().malformed, 0U);
  EXPECT_EQ(rig.engine().stats().unknown_names, 3U);
  EXPECT_TRUE(rig.engine().breakers().empty());
  EXPECT_TRUE(rig.engine().counters().empty());
  EXPECT_EQ(rig.engine().error_log().total_errors(), 0U);
  EXPECT_EQ(rig.engine().host_monitor().error_count(), 1U);  // the bot did report an error
}

// ---------------------------------------------------------------------------------------
// Reload, windows, history

TEST(Engine, ReloadKeepsBreakerStateAndCommandRegisteredStrategies) {
  EngineRig rig;
  Writer& w = rig.w();
  for (int i = 0; i < 10; ++i) w.call_outcome("market_scanner", false, 0.1);
  (void)w.register_recovery_strategy("custom_error", Severity::High, RecoveryAction::Retry, 5, 0.0, 0ms);
  rig.pump(rig.at(kSecond));
  ASSERT_TRUE(w.breaker_open("market_scanner"));
  ASSERT_NE(rig.engine().recovery().strategy("custom_error"), nullptr);

  rig.engine().reload(parse_config(
      "[thresholds]\nscan_time_warning = 10\nscan_time_critical = 20\n\n"
      "[[strategies]]\nerror_type = \"exchange_maintenance\"\naction = \"BACKOFF\"\nbackoff_seconds = 120\n",
      "reloaded.toml"));
  EXPECT_EQ(rig.engine().config().source, "reloaded.toml");
  EXPECT_EQ(rig.engine().config().thresholds.scan_time_s.warning_at, 10.0);
  // Breaker state survives.
  const std::vector<BreakerView> breakers = rig.engine().breakers();
  ASSERT_EQ(breakers.size(), 1U);
  EXPECT_EQ(breakers[0].component, "market_scanner");
  EXPECT_EQ(breakers[0].metrics.state, BreakerState::Open);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  // Strategies: the command-registered one survives, the new file's one is added, the
  // built-ins are still there.
  const RecoveryStrategy* custom = rig.engine().recovery().strategy("custom_error");
  ASSERT_NE(custom, nullptr);
  EXPECT_EQ(custom->max_retries, 5U);
  EXPECT_EQ(custom->severity, Severity::High);
  ASSERT_NE(rig.engine().recovery().strategy("exchange_maintenance"), nullptr);
  EXPECT_EQ(rig.engine().recovery().strategy("exchange_maintenance")->backoff_seconds, 120.0);
  ASSERT_NE(rig.engine().recovery().strategy("api_rate_limit"), nullptr);

  // The new thresholds apply to the next report; reload asks for one at once.
  w.scan_time(15.0);
  rig.pump(rig.at(kSecond + 1));
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Warning);
  // And the breaker still half-opens after its 60 s.
  rig.engine().tick(rig.at(61 * kSecond));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::HalfOpen);
}

TEST(Engine, ReloadKeepsActiveBackoffsAndAlertDedup) {
  EngineRig rig;
  Writer& w = rig.w();
  w.error("api_rate_limit", Severity::Medium);
  w.error("insufficient_balance", Severity::High);
  w.error("api_connection", Severity::High);
  const std::uint64_t now = rig.at(kSecond);
  rig.pump(now);
  ASSERT_TRUE(w.in_backoff("api_rate_limit"));
  ASSERT_EQ(rig.engine().take_alerts().size(), 1U);

  rig.engine().reload(parse_config(
      "[[strategies]]\nerror_type = \"api_connection\"\naction = \"RETRY\"\nmax_retries = 2\n", "reloaded.toml"));
  const auto rate = rig.engine().recovery().state("api_rate_limit");
  ASSERT_TRUE(rate.has_value());
  EXPECT_EQ(rate->backoff_until_ns, now + 30 * kSecond);
  // A rate limit inside the backoff still makes no new decision, and the writer still waits.
  const std::uint64_t seq = rig.board().snapshot(w.error_type("api_rate_limit")).decision_seq;
  w.error("api_rate_limit", Severity::Medium);
  w.error("insufficient_balance", Severity::High);  // same incident: no second alert
  rig.pump(rig.at(2 * kSecond));
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_rate_limit")).decision_seq, seq);
  EXPECT_EQ(w.backoff_until("api_rate_limit"), now + 30 * kSecond);
  EXPECT_TRUE(rig.engine().take_alerts().empty());
  // The new strategy applies from the next decision, counting the retry already granted:
  // 1 of 2 used, one more, then exhausted.
  w.error("api_connection", Severity::High);
  rig.pump(rig.at(3 * kSecond));
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_connection")).retry_permits, 0U);
  EXPECT_EQ(rig.engine().recovery().state("api_connection")->attempts, 2U);
  EXPECT_EQ(rig.board().snapshot(w.error_type("api_connection")).backoff_until_ns, rig.at(3 * kSecond) + 2 * kSecond);
}

TEST(Engine, ReloadAppliesNewBreakerThresholdsToExistingBreakersKeepingTheirState) {
  EngineRig rig;
  Writer& w = rig.w();
  for (int i = 0; i < 10; ++i) w.call_outcome("market_scanner", false, 0.1);  // trips (default 50 %)
  w.call_outcome("order_router", true, 0.1);
  w.call_outcome("order_router", false, 0.1);
  rig.pump(rig.at(kSecond));
  ASSERT_TRUE(w.breaker_open("market_scanner"));
  ASSERT_EQ(w.breaker_state("order_router"), BreakerState::Closed);

  rig.engine().reload(parse_config(
      "[breakers.default]\nconsecutive_failures_threshold = 2\nwait_duration_in_open = \"5s\"\n", "reloaded.toml"));
  std::vector<BreakerView> breakers = rig.engine().breakers();
  ASSERT_EQ(breakers.size(), 2U);
  // market_scanner stays OPEN with its deadline (60 s from the trip), order_router keeps its
  // window (2 calls, 1 failure in a row) and now has the new rule.
  EXPECT_EQ(breakers[0].metrics.state, BreakerState::Open);
  EXPECT_EQ(breakers[0].metrics.open_until_ns, rig.at(kSecond) + 60 * kSecond);
  EXPECT_EQ(breakers[1].metrics.calls_in_window, 2U);
  EXPECT_EQ(breakers[1].metrics.consecutive_failures, 1U);
  w.call_outcome("order_router", false, 0.1);  // the 2nd failure in a row
  rig.pump(rig.at(2 * kSecond));
  EXPECT_TRUE(w.breaker_open("order_router"));
  EXPECT_EQ(rig.board().snapshot(w.component("order_router")).rule, static_cast<std::uint8_t>(BreakerRule::ConsecutiveFailures));
  EXPECT_EQ(rig.engine().breakers()[1].metrics.open_until_ns, rig.at(2 * kSecond) + 5 * kSecond);  // the new wait
}

TEST(Engine, HealthStatusChangeIsPublishedAtOnceNotAtTheNextInterval) {
  EngineRig rig;
  Writer& w = rig.w();
  w.scan_time(10.0);
  rig.pump(rig.at(0));
  ASSERT_EQ(rig.board().overall_health(), HealthStatus::Healthy);
  const std::uint64_t reports = rig.engine().stats().reports_published;
  // A healthy record changes nothing: no extra report.
  w.scan_time(11.0);
  rig.pump(rig.at(100'000'000));
  EXPECT_EQ(rig.engine().stats().reports_published, reports);
  // A critical scan average (> 90 s) 200 ms into the 1 s interval goes out on that tick.
  for (int i = 0; i < 10; ++i) w.scan_time(500.0);
  rig.pump(rig.at(200'000'000));
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Critical);
  EXPECT_EQ(rig.board().snapshot(w.bot_id()).health, HealthStatus::Critical);
  EXPECT_EQ(rig.engine().stats().reports_published, reports + 1);
  EXPECT_EQ(rig.report_snapshot().published_mono_ns, rig.at(200'000'000));
  // Re-grading is rate limited: records 5 ms later are graded on a tick >= 10 ms later.
  for (int i = 0; i < 300; ++i) w.scan_time(1.0);
  rig.pump(rig.at(205'000'000));
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Critical);
  rig.pump(rig.at(210'000'000));
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Healthy);
}

TEST(Engine, ReloadKeepsAPublishedShutdownRequestInTheReport) {
  EngineRig rig(parse_config("[[strategies]]\nerror_type = \"fatal\"\naction = \"SHUTDOWN\"\n", "reader.toml"));
  rig.w().error("fatal", Severity::Critical);
  rig.pump(rig.at(kSecond));
  ASSERT_TRUE(rig.w().shutdown_requested());
  rig.engine().reload(parse_config("[[strategies]]\nerror_type = \"fatal\"\naction = \"SHUTDOWN\"\n", "reader.toml"));
  rig.pump(rig.at(2 * kSecond));
  EXPECT_TRUE(rig.w().shutdown_requested());
  EXPECT_EQ(rig.report()["shutdown_requested"], true);  // the report agrees with the board
}

TEST(Engine, ScanWindowRollsAt100) {
  EngineRig rig;
  Writer& w = rig.w();
  for (int i = 1; i <= 101; ++i) ASSERT_EQ(w.scan_time(static_cast<double>(i)), RecordResult::Recorded);
  rig.pump(rig.at(kSecond));
  const RollingWindow& host = rig.engine().host_monitor().scan_times();
  EXPECT_EQ(host.size(), 100U);
  EXPECT_EQ(host.total_pushed(), 101U);
  EXPECT_DOUBLE_EQ(host.average(), 51.5);  // 2..101: the first sample fell out
  EXPECT_DOUBLE_EQ(host.min(), 2.0);
  const std::vector<BotView> bots = rig.engine().bots();
  ASSERT_EQ(bots.size(), 1U);
  EXPECT_EQ(bots[0].monitor->scan_times().size(), 100U);
  EXPECT_DOUBLE_EQ(bots[0].monitor->scan_times().average(), 51.5);
  EXPECT_EQ(rig.report()["bots"][kBot]["metrics"]["scan_samples"], 100);
}

TEST(Engine, WindowSizeFromConfigAppliesToEveryMonitor) {
  EngineRig rig(parse_config("[windows]\nsize = 5\n", "reader.toml"));
  for (int i = 1; i <= 8; ++i) rig.w().api_call(static_cast<double>(i), "orderbook");
  rig.pump(rig.at(kSecond));
  EXPECT_EQ(rig.engine().host_monitor().api_latencies().size(), 5U);
  EXPECT_DOUBLE_EQ(rig.engine().host_monitor().api_latencies().average(), 6.0);  // 4..8
  EXPECT_EQ(rig.engine().bots().at(0).monitor->api_latencies().size(), 5U);
}

TEST(Engine, ErrorHistoryIsCappedByConfig) {
  EngineRig rig(parse_config("[windows]\nerror_history = 5\n", "reader.toml"));
  Writer& w = rig.w();
  for (int i = 0; i < 8; ++i) w.error("order_rejected", Severity::Low, "e" + std::to_string(i));
  rig.pump(rig.at(kSecond));
  const ErrorLog& log = rig.engine().error_log();
  EXPECT_EQ(log.total_errors(), 8U);
  EXPECT_EQ(log.history_size(), 5U);
  const std::vector<ErrorEvent> history = log.history();
  ASSERT_EQ(history.size(), 5U);
  EXPECT_EQ(history.front().message_or_context, "e3");
  EXPECT_EQ(history.back().message_or_context, "e7");
  const ErrorStatistics stats = rig.engine().error_statistics(rig.at(kSecond));
  EXPECT_EQ(stats.total_errors, 8U);
  EXPECT_EQ(stats.errors_by_type.at("order_rejected"), 8U);
  EXPECT_EQ(stats.recent_errors.size(), 5U);
  EXPECT_EQ(rig.report()["error_statistics"]["total_errors"], 8);
}

TEST(Engine, RestartedReaderClearsAStaleShutdownRequest) {
  EngineRig rig(parse_config("[[strategies]]\nerror_type = \"fatal\"\naction = \"SHUTDOWN\"\n", "reader.toml"));
  rig.w().error("fatal", Severity::Critical);
  rig.pump(rig.at(kSecond));
  ASSERT_TRUE(rig.w().shutdown_requested());
  // A new engine on the same segment (a restarted reader) starts from a clean board.
  Engine second(ReaderConfig{}, rig.segment(), rig.at(2 * kSecond), 0);
  EXPECT_FALSE(rig.w().shutdown_requested());
  EXPECT_EQ(rig.board().overall_health(), HealthStatus::Unknown);
}

// --- board actions from outside (the Alertmanager webhook) -------------------------------

ExternalAction external(ExternalAction::Kind kind, std::string target, std::string holder, std::uint64_t until_ns = 0) {
  ExternalAction a;
  a.kind = kind;
  a.target = std::move(target);
  a.holder = std::move(holder);
  a.source = "alertmanager:ExchangeApiDegraded";
  a.until_ns = until_ns;
  return a;
}

TEST(EngineExternal, OpenHoldsTheBreakerForcedOpenUntilTheLastHolderReleasesIt) {
  EngineRig rig;
  Writer& w = rig.w();
  using K = ExternalAction::Kind;
  ASSERT_TRUE(rig.engine().apply_external(external(K::OpenBreaker, "orders", "fp-1"), rig.at(kSecond)));
  ASSERT_TRUE(rig.engine().apply_external(external(K::OpenBreaker, "orders", "fp-2"), rig.at(kSecond)));
  EXPECT_TRUE(w.breaker_open("orders"));
  EXPECT_EQ(w.breaker_state("orders"), BreakerState::ForcedOpen);
  const auto decisions = rig.engine().take_decisions();
  ASSERT_FALSE(decisions.empty());
  EXPECT_EQ(decisions.back().rule, "alertmanager:ExchangeApiDegraded");
  // Outcomes and time do not close a forced-open breaker.
  for (int i = 0; i < 20; ++i) w.call_outcome("orders", true, 0.01);
  rig.pump(rig.at(600 * kSecond));
  EXPECT_TRUE(w.breaker_open("orders"));
  // A release by someone who does not hold it changes nothing; the last holder's does.
  EXPECT_TRUE(rig.engine().apply_external(external(K::CloseBreaker, "orders", "fp-9"), rig.at(601 * kSecond)));
  EXPECT_TRUE(rig.engine().apply_external(external(K::CloseBreaker, "orders", "fp-1"), rig.at(601 * kSecond)));
  EXPECT_TRUE(w.breaker_open("orders"));
  EXPECT_TRUE(rig.engine().apply_external(external(K::CloseBreaker, "orders", "fp-2"), rig.at(602 * kSecond)));
  EXPECT_FALSE(w.breaker_open("orders"));
  EXPECT_EQ(w.breaker_state("orders"), BreakerState::Closed);
}

// Issue 12 item 8: the fingerprints holding one target are bounded; one more is refused (the
// loop counts it as a rejected action) and the ones held still release it.
TEST(EngineExternal, HoldersOfOneTargetAreBounded) {
  EngineRig rig;
  using K = ExternalAction::Kind;
  for (std::size_t i = 0; i < Engine::kMaxExternalHolders; ++i)
    ASSERT_TRUE(rig.engine().apply_external(external(K::Backoff, "api_rate_limit", "fp-" + std::to_string(i)), rig.at(kSecond)));
  EXPECT_FALSE(rig.engine().apply_external(external(K::Backoff, "api_rate_limit", "one-too-many"), rig.at(kSecond)));
  EXPECT_TRUE(rig.engine().apply_external(external(K::Backoff, "api_rate_limit", "fp-0"), rig.at(kSecond))) << "a renewal";
  EXPECT_EQ(rig.engine().save_state().at("external").at(0).at("holders").size(), Engine::kMaxExternalHolders);
  for (std::size_t i = 0; i < Engine::kMaxExternalHolders; ++i)
    ASSERT_TRUE(rig.engine().apply_external(external(K::ClearBackoff, "api_rate_limit", "fp-" + std::to_string(i)), rig.at(2 * kSecond)));
  EXPECT_FALSE(rig.w().in_backoff("api_rate_limit"));
}

TEST(EngineExternal, HoldsEndAtTheirDeadlineWhenNoResolutionArrives) {
  EngineRig rig;
  Writer& w = rig.w();
  using K = ExternalAction::Kind;
  rig.engine().apply_external(external(K::OpenBreaker, "orders", "fp-1", rig.at(10 * kSecond)), rig.at(kSecond));
  rig.engine().apply_external(external(K::Backoff, "api_connection", "fp-1", rig.at(10 * kSecond)), rig.at(kSecond));
  rig.pump(rig.at(9 * kSecond));
  EXPECT_TRUE(w.breaker_open("orders"));
  EXPECT_EQ(w.backoff_until("api_connection"), rig.at(10 * kSecond));
  rig.pump(rig.at(10 * kSecond));
  EXPECT_FALSE(w.breaker_open("orders"));
  EXPECT_EQ(w.backoff_until("api_connection"), 0U);
}

TEST(EngineExternal, BackoffLastsUntilClearedAndFollowsTheLatestRemainingDeadline) {
  EngineRig rig;
  Writer& w = rig.w();
  using K = ExternalAction::Kind;
  rig.engine().apply_external(external(K::Backoff, "api_connection", "fp-1"), rig.at(kSecond));
  EXPECT_TRUE(w.in_backoff("api_connection"));
  EXPECT_GT(w.backoff_until("api_connection"), rig.at(365ULL * 24 * 3600 * kSecond));  // until cleared
  rig.engine().apply_external(external(K::Backoff, "api_connection", "fp-2", rig.at(50 * kSecond)), rig.at(kSecond));
  rig.engine().apply_external(external(K::ClearBackoff, "api_connection", "fp-1"), rig.at(2 * kSecond));
  EXPECT_EQ(w.backoff_until("api_connection"), rig.at(50 * kSecond));  // fp-2's deadline remains
  rig.engine().apply_external(external(K::ClearBackoff, "api_connection", "fp-2"), rig.at(3 * kSecond));
  EXPECT_FALSE(w.in_backoff("api_connection"));
  EXPECT_EQ(w.backoff_until("api_connection"), 0U);
}

TEST(EngineExternal, AResolutionLeavesABreakerThatABotForcedOpenItself) {
  EngineRig rig;
  Writer& w = rig.w();
  using K = ExternalAction::Kind;
  // The bot forced it open first: the alert's hold finds it FORCED_OPEN already.
  ASSERT_NE(w.send_command(CommandCode::ForceOpenBreaker, w.component("orders")), 0U);
  rig.pump(rig.at(kSecond));
  ASSERT_EQ(w.breaker_state("orders"), BreakerState::ForcedOpen);
  rig.engine().apply_external(external(K::OpenBreaker, "orders", "fp-1"), rig.at(2 * kSecond));
  rig.engine().apply_external(external(K::CloseBreaker, "orders", "fp-1"), rig.at(3 * kSecond));
  EXPECT_EQ(w.breaker_state("orders"), BreakerState::ForcedOpen);
  // The other way round: the alert forced it, then the bot forced it too (taking it over).
  rig.engine().apply_external(external(K::OpenBreaker, "payments", "fp-2"), rig.at(4 * kSecond));
  ASSERT_EQ(w.breaker_state("payments"), BreakerState::ForcedOpen);
  ASSERT_NE(w.send_command(CommandCode::ForceOpenBreaker, w.component("payments")), 0U);
  rig.pump(rig.at(5 * kSecond));
  rig.engine().apply_external(external(K::CloseBreaker, "payments", "fp-2"), rig.at(6 * kSecond));
  EXPECT_EQ(w.breaker_state("payments"), BreakerState::ForcedOpen);
}

TEST(EngineExternal, HoldsSurviveARestartOntoAFreshSegment) {
  using K = ExternalAction::Kind;
  nlohmann::json state;
  std::uint64_t deadline = 0;
  {
    EngineRig rig;
    (void)rig.w().component("unrelated");  // ids differ between the two segments
    rig.engine().apply_external(external(K::OpenBreaker, "orders", "fp-1"), rig.at(kSecond));
    deadline = rig.at(100 * kSecond);
    rig.engine().apply_external(external(K::Backoff, "api_connection", "fp-1", deadline), rig.at(kSecond));
    state = rig.engine().save_state();
  }
  EngineRig fresh;
  ASSERT_FALSE(fresh.w().breaker_open("orders"));
  fresh.engine().restore_state(state, TimeShift{}, fresh.at(2 * kSecond));
  EXPECT_TRUE(fresh.w().breaker_open("orders"));
  EXPECT_EQ(fresh.w().backoff_until("api_connection"), deadline);
  fresh.engine().apply_external(external(K::CloseBreaker, "orders", "fp-1"), fresh.at(3 * kSecond));
  EXPECT_FALSE(fresh.w().breaker_open("orders"));  // the restored hold still owned it
}

}  // namespace
}  // namespace telering::reader
