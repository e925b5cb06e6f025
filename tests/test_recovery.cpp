// RecoveryEngine: the seed's strategies and the incident rules, driven by explicit now_ns.
#include "evaluate/recovery.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace {

using telering::BackoffPolicy;
using telering::Severity;
using telering::reader::RecoveryAction;
using telering::reader::RecoveryConfig;
using telering::reader::RecoveryDecision;
using telering::reader::RecoveryEngine;
using telering::reader::RecoveryStrategy;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint64_t sec(double s) { return static_cast<std::uint64_t>(s * 1e9); }

TEST(Recovery, ActionValuesAreTheSharedMemoryContract) {
  EXPECT_EQ(static_cast<int>(RecoveryAction::None), 0);
  EXPECT_EQ(static_cast<int>(RecoveryAction::Retry), 1);
  EXPECT_EQ(static_cast<int>(RecoveryAction::Backoff), 2);
  EXPECT_EQ(static_cast<int>(RecoveryAction::Reset), 3);
  EXPECT_EQ(static_cast<int>(RecoveryAction::Alert), 4);
  EXPECT_EQ(static_cast<int>(RecoveryAction::Shutdown), 5);
  using telering::reader::to_string;
  EXPECT_EQ(to_string(RecoveryAction::None), "none");
  EXPECT_EQ(to_string(RecoveryAction::Retry), "retry");
  EXPECT_EQ(to_string(RecoveryAction::Backoff), "backoff");
  EXPECT_EQ(to_string(RecoveryAction::Reset), "reset");
  EXPECT_EQ(to_string(RecoveryAction::Alert), "alert");
  EXPECT_EQ(to_string(RecoveryAction::Shutdown), "shutdown");
}

TEST(Recovery, BuiltInStrategiesMatchSeed) {
  const RecoveryEngine e;
  EXPECT_EQ(e.strategy_count(), 5u);
  const auto* rate = e.strategy("api_rate_limit");
  ASSERT_NE(rate, nullptr);
  EXPECT_EQ(rate->action, RecoveryAction::Backoff);
  EXPECT_EQ(rate->backoff_seconds, 30.0);
  const auto* conn = e.strategy("api_connection");
  ASSERT_NE(conn, nullptr);
  EXPECT_EQ(conn->action, RecoveryAction::Retry);
  EXPECT_EQ(conn->max_retries, 5u);
  const auto* balance = e.strategy("insufficient_balance");
  ASSERT_NE(balance, nullptr);
  EXPECT_EQ(balance->action, RecoveryAction::Alert);
  const auto* position = e.strategy("position_not_found");
  ASSERT_NE(position, nullptr);
  EXPECT_EQ(position->action, RecoveryAction::Reset);
  const auto* critical = e.strategy("critical_system_error");
  ASSERT_NE(critical, nullptr);
  EXPECT_EQ(critical->action, RecoveryAction::Alert);
  EXPECT_EQ(critical->severity, Severity::Critical);
  EXPECT_EQ(e.strategy("nope"), nullptr);
}

TEST(Recovery, RateLimitBacksOffThirtySecondsAndIsNotRetriggeredWhileActive) {
  RecoveryEngine e;
  EXPECT_TRUE(e.should_trigger_recovery("api_rate_limit", sec(100)));
  const auto d = e.attempt_recovery("api_rate_limit", Severity::Medium, sec(100));
  EXPECT_EQ(d.action, RecoveryAction::Backoff);
  EXPECT_EQ(d.backoff_until_ns, sec(130));
  EXPECT_EQ(d.attempt, 1u);
  EXPECT_TRUE(d.retry_allowed);
  EXPECT_EQ(d.error_type, "api_rate_limit");
  EXPECT_FALSE(e.should_trigger_recovery("api_rate_limit", sec(129.999)));
  const auto during = e.attempt_recovery("api_rate_limit", Severity::Medium, sec(110));
  EXPECT_EQ(during.action, RecoveryAction::None);
  EXPECT_EQ(during.backoff_until_ns, sec(130));  // still tells the caller how long
  EXPECT_NE(during.reason.find("backoff already active"), std::string::npos);
  EXPECT_TRUE(e.should_trigger_recovery("api_rate_limit", sec(130)));
  const auto again = e.attempt_recovery("api_rate_limit", Severity::Medium, sec(130));
  EXPECT_EQ(again.action, RecoveryAction::Backoff);
  EXPECT_EQ(again.backoff_until_ns, sec(160));
  EXPECT_EQ(again.attempt, 2u);
}

TEST(Recovery, ConnectionRetriesFiveTimesWithSeedDelaysThenStops) {
  RecoveryEngine e;
  const std::uint64_t expected_delays[] = {1, 2, 4, 8, 16};
  for (std::uint32_t i = 0; i < 5; ++i) {
    const std::uint64_t now = sec(1000 + i);
    ASSERT_TRUE(e.should_trigger_recovery("api_connection", now));
    const auto d = e.attempt_recovery("api_connection", Severity::High, now);
    EXPECT_EQ(d.action, RecoveryAction::Retry);
    EXPECT_EQ(d.attempt, i + 1);
    EXPECT_TRUE(d.retry_allowed);
    EXPECT_EQ(d.retries_left, 4 - i);
    EXPECT_EQ(d.backoff_until_ns, now + expected_delays[i] * kSecond);
  }
  EXPECT_FALSE(e.should_trigger_recovery("api_connection", sec(1005)));
  const auto d = e.attempt_recovery("api_connection", Severity::High, sec(1005));
  EXPECT_EQ(d.action, RecoveryAction::None);
  EXPECT_FALSE(d.retry_allowed);
  EXPECT_NE(d.reason.find("retries exhausted: 5 of 5"), std::string::npos);
}

TEST(Recovery, IncidentEndsAfterQuietPeriodAndRetriesStartOver) {
  RecoveryEngine e;  // quiet period 300 s
  for (int i = 0; i < 5; ++i) e.attempt_recovery("api_connection", Severity::High, sec(i));
  e.attempt_recovery("api_connection", Severity::High, sec(10));  // exhausted, but extends the incident
  EXPECT_FALSE(e.should_trigger_recovery("api_connection", sec(309.999)));
  EXPECT_TRUE(e.should_trigger_recovery("api_connection", sec(310)));
  const auto d = e.attempt_recovery("api_connection", Severity::High, sec(310));
  EXPECT_EQ(d.action, RecoveryAction::Retry);
  EXPECT_EQ(d.attempt, 1u);
  EXPECT_EQ(d.incident, 2u);
  EXPECT_EQ(d.backoff_until_ns, sec(311));
}

TEST(Recovery, QuietPeriodIsConfigurable) {
  RecoveryConfig c;
  c.incident_quiet_seconds = 10;
  RecoveryEngine e(c);
  for (int i = 0; i < 5; ++i) e.attempt_recovery("api_connection", Severity::High, sec(i));
  EXPECT_FALSE(e.should_trigger_recovery("api_connection", sec(13.9)));
  EXPECT_TRUE(e.should_trigger_recovery("api_connection", sec(14)));
}

TEST(Recovery, AlertIsRaisedOncePerIncidentWithDedupKey) {
  RecoveryEngine e;
  const auto d = e.attempt_recovery("insufficient_balance", Severity::High, sec(1));
  EXPECT_EQ(d.action, RecoveryAction::Alert);
  EXPECT_EQ(d.alert_key, "recovery/insufficient_balance");
  EXPECT_EQ(d.severity, Severity::High);
  EXPECT_FALSE(d.retry_allowed);
  EXPECT_FALSE(e.should_trigger_recovery("insufficient_balance", sec(2)));
  const auto dup = e.attempt_recovery("insufficient_balance", Severity::High, sec(2));
  EXPECT_EQ(dup.action, RecoveryAction::None);
  EXPECT_EQ(dup.alert_key, "recovery/insufficient_balance");
  // Errors every 200 s keep the incident alive: still deduplicated.
  EXPECT_EQ(e.attempt_recovery("insufficient_balance", Severity::High, sec(202)).action, RecoveryAction::None);
  EXPECT_EQ(e.attempt_recovery("insufficient_balance", Severity::High, sec(402)).action, RecoveryAction::None);
  // 300 s of quiet: a new incident alerts again.
  EXPECT_EQ(e.attempt_recovery("insufficient_balance", Severity::High, sec(702)).action, RecoveryAction::Alert);
}

TEST(Recovery, AlertSeverityIsTheWorseOfStrategyAndError) {
  RecoveryEngine e;
  EXPECT_EQ(e.attempt_recovery("insufficient_balance", Severity::Critical, 0).severity, Severity::Critical);
  EXPECT_EQ(e.attempt_recovery("critical_system_error", Severity::Low, 0).severity, Severity::Critical);
}

TEST(Recovery, ResetBumpsTypeAndGlobalEpochsUpToMaxPerIncident) {
  RecoveryEngine e;
  EXPECT_EQ(e.global_reset_epoch(), 0u);
  const auto d1 = e.attempt_recovery("position_not_found", Severity::Medium, sec(1));
  EXPECT_EQ(d1.action, RecoveryAction::Reset);
  EXPECT_EQ(d1.reset_epoch, 1u);
  EXPECT_EQ(e.global_reset_epoch(), 1u);
  const auto d2 = e.attempt_recovery("position_not_found", Severity::Medium, sec(2));
  EXPECT_EQ(d2.reset_epoch, 2u);
  const auto d3 = e.attempt_recovery("position_not_found", Severity::Medium, sec(3));
  EXPECT_EQ(d3.reset_epoch, 3u);
  EXPECT_EQ(d3.attempt, 3u);
  const auto d4 = e.attempt_recovery("position_not_found", Severity::Medium, sec(4));  // max_retries 3
  EXPECT_EQ(d4.action, RecoveryAction::None);
  EXPECT_EQ(d4.reset_epoch, 3u);
  EXPECT_EQ(e.global_reset_epoch(), 3u);
  ASSERT_TRUE(e.state("position_not_found").has_value());
  EXPECT_EQ(e.state("position_not_found")->reset_epoch, 3u);
}

TEST(Recovery, TypeResetEpochOnlyGrowsAcrossTypes) {
  RecoveryEngine e;
  ASSERT_TRUE(e.register_recovery_strategy("cache_stale", Severity::Low, RecoveryAction::Reset));
  e.attempt_recovery("position_not_found", Severity::Medium, 0);  // global 1
  const auto d = e.attempt_recovery("cache_stale", Severity::Low, 0);
  EXPECT_EQ(d.reset_epoch, 2u);  // stamped from the global epoch
  EXPECT_EQ(e.global_reset_epoch(), 2u);
  const auto again = e.attempt_recovery("position_not_found", Severity::Medium, 0);
  EXPECT_EQ(again.reset_epoch, 3u);
}

TEST(Recovery, ShutdownSetsStickyFlag) {
  RecoveryEngine e;
  ASSERT_TRUE(e.register_recovery_strategy("exchange_banned", Severity::Critical, RecoveryAction::Shutdown));
  EXPECT_FALSE(e.shutdown_requested());
  EXPECT_TRUE(e.should_trigger_recovery("exchange_banned", 0));
  const auto d = e.attempt_recovery("exchange_banned", Severity::Critical, 0);
  EXPECT_EQ(d.action, RecoveryAction::Shutdown);
  EXPECT_TRUE(d.shutdown);
  EXPECT_TRUE(e.shutdown_requested());
  EXPECT_FALSE(e.should_trigger_recovery("exchange_banned", sec(1000)));
  const auto again = e.attempt_recovery("exchange_banned", Severity::Critical, sec(1000));
  EXPECT_EQ(again.action, RecoveryAction::None);
  EXPECT_TRUE(again.shutdown);
  // Every later decision carries the flag.
  EXPECT_TRUE(e.attempt_recovery("api_rate_limit", Severity::Medium, sec(1000)).shutdown);
  e.clear_shutdown();
  EXPECT_FALSE(e.shutdown_requested());
  EXPECT_TRUE(e.should_trigger_recovery("exchange_banned", sec(1000)));
}

TEST(Recovery, UnknownCriticalErrorAlertsByDefault) {
  RecoveryEngine e;
  EXPECT_FALSE(e.should_trigger_recovery("disk_on_fire", 0));
  EXPECT_TRUE(e.should_trigger_recovery("disk_on_fire", 0, Severity::Critical));
  const auto d = e.attempt_recovery("disk_on_fire", Severity::Critical, 0);
  EXPECT_EQ(d.action, RecoveryAction::Alert);
  EXPECT_EQ(d.alert_key, "recovery/disk_on_fire");
  EXPECT_EQ(e.attempt_recovery("disk_on_fire", Severity::Critical, sec(1)).action, RecoveryAction::None);
}

TEST(Recovery, UnknownNonCriticalErrorDoesNothingAndIsNotTracked) {
  RecoveryEngine e;
  for (auto sev : {Severity::None, Severity::Low, Severity::Medium, Severity::High}) {
    const auto d = e.attempt_recovery("mystery", sev, 0);
    EXPECT_EQ(d.action, RecoveryAction::None);
    EXPECT_FALSE(d.retry_allowed);
    EXPECT_NE(d.reason.find("no recovery strategy"), std::string::npos);
  }
  EXPECT_EQ(e.tracked_types(), 0u);
}

TEST(Recovery, UnknownCriticalAlertCanBeTurnedOff) {
  RecoveryConfig c;
  c.alert_on_unknown_critical = false;
  RecoveryEngine e(c);
  EXPECT_EQ(e.attempt_recovery("disk_on_fire", Severity::Critical, 0).action, RecoveryAction::None);
}

TEST(Recovery, RegisterReplacesBuiltInOfSameType) {
  RecoveryEngine e;
  e.attempt_recovery("api_rate_limit", Severity::Medium, 0);  // backoff active until 30 s
  ASSERT_TRUE(e.register_recovery_strategy("api_rate_limit", Severity::High, RecoveryAction::Alert, 1,
                                           {{"channel", "#trading"}}));
  EXPECT_EQ(e.strategy_count(), 5u);
  const auto* s = e.strategy("api_rate_limit");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->action, RecoveryAction::Alert);
  EXPECT_EQ(s->params.at("channel"), "#trading");
  EXPECT_FALSE(e.state("api_rate_limit").has_value());  // fresh incident under new rules
  EXPECT_EQ(e.attempt_recovery("api_rate_limit", Severity::High, sec(1)).action, RecoveryAction::Alert);
}

TEST(Recovery, SeedStyleRegisterUsesMaxRetriesAndSeedDelays) {
  RecoveryEngine e;
  ASSERT_TRUE(e.register_recovery_strategy("custom_error_type", Severity::Medium, RecoveryAction::Retry, 2));
  EXPECT_EQ(e.attempt_recovery("custom_error_type", Severity::Medium, 0).backoff_until_ns, 1 * kSecond);
  EXPECT_EQ(e.attempt_recovery("custom_error_type", Severity::Medium, 0).backoff_until_ns, 2 * kSecond);
  EXPECT_EQ(e.attempt_recovery("custom_error_type", Severity::Medium, 0).action, RecoveryAction::None);
}

TEST(Recovery, RegisterRejectsInvalidStrategies) {
  RecoveryEngine e;
  EXPECT_FALSE(e.register_recovery_strategy("", Severity::Low, RecoveryAction::Retry));
  EXPECT_FALSE(e.register_recovery_strategy("x", Severity::Low, static_cast<RecoveryAction>(9)));
  EXPECT_EQ(e.strategy_count(), 5u);
}

TEST(Recovery, StrategyTableIsBounded) {
  RecoveryConfig c;
  c.max_strategies = 6;
  RecoveryEngine e(c);
  EXPECT_TRUE(e.register_recovery_strategy("one", Severity::Low, RecoveryAction::Alert));
  EXPECT_FALSE(e.register_recovery_strategy("two", Severity::Low, RecoveryAction::Alert));
  EXPECT_TRUE(e.register_recovery_strategy("one", Severity::High, RecoveryAction::Alert));  // replace fits
  EXPECT_TRUE(e.remove_recovery_strategy("one"));
  EXPECT_TRUE(e.register_recovery_strategy("two", Severity::Low, RecoveryAction::Alert));
}

TEST(Recovery, TrackedTypesAreBoundedByEvictingTheLeastRecentlyErring) {
  RecoveryConfig c;
  c.max_tracked_types = 3;
  RecoveryEngine e(c);
  e.attempt_recovery("a", Severity::Critical, sec(1));
  e.attempt_recovery("b", Severity::Critical, sec(2));
  e.attempt_recovery("c", Severity::Critical, sec(3));
  e.attempt_recovery("a", Severity::Critical, sec(4));  // a is now the most recent
  e.attempt_recovery("d", Severity::Critical, sec(5));  // evicts b
  EXPECT_EQ(e.tracked_types(), 3u);
  EXPECT_EQ(e.evicted_types(), 1u);
  EXPECT_TRUE(e.state("a").has_value());
  EXPECT_FALSE(e.state("b").has_value());
  EXPECT_TRUE(e.state("c").has_value());
  EXPECT_TRUE(e.state("d").has_value());
}

TEST(Recovery, DefaultTrackedTypeCapIs4096) {
  RecoveryEngine e;
  EXPECT_EQ(e.config().max_tracked_types, 4096u);
  for (int i = 0; i < 5000; ++i) e.attempt_recovery("t" + std::to_string(i), Severity::Critical, sec(i));
  EXPECT_EQ(e.tracked_types(), 4096u);
  EXPECT_EQ(e.evicted_types(), 5000u - 4096u);
}

TEST(Recovery, StateReportsIncidentProgress) {
  RecoveryEngine e;
  e.attempt_recovery("api_connection", Severity::High, sec(10));
  e.attempt_recovery("api_connection", Severity::High, sec(12));
  const auto s = e.state("api_connection");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->incident, 1u);
  EXPECT_EQ(s->incident_started_ns, sec(10));
  EXPECT_EQ(s->last_error_ns, sec(12));
  EXPECT_EQ(s->errors_in_incident, 2u);
  EXPECT_EQ(s->attempts, 2u);
  EXPECT_EQ(s->backoff_until_ns, sec(14));
}

TEST(Recovery, TimeGoingBackwardsNeverEndsAnIncident) {
  RecoveryEngine e;
  e.attempt_recovery("insufficient_balance", Severity::High, sec(1000));
  EXPECT_FALSE(e.should_trigger_recovery("insufficient_balance", sec(1)));
  EXPECT_EQ(e.attempt_recovery("insufficient_balance", Severity::High, sec(1)).action, RecoveryAction::None);
  EXPECT_EQ(e.state("insufficient_balance")->last_error_ns, sec(1000));
}

RecoveryStrategy jittered_retry(std::uint32_t retries) {
  RecoveryStrategy s;
  s.error_type = "flaky";
  s.severity = Severity::Medium;
  s.action = RecoveryAction::Retry;
  s.max_retries = retries;
  s.backoff.jitter = BackoffPolicy::Jitter::Full;
  s.backoff.cap_seconds = 10;
  return s;
}

TEST(Recovery, JitteredRetriesAreDeterministicForSameSeed) {
  RecoveryEngine a;
  RecoveryEngine b;
  ASSERT_TRUE(a.register_recovery_strategy(jittered_retry(6)));
  ASSERT_TRUE(b.register_recovery_strategy(jittered_retry(6)));
  for (int i = 0; i < 6; ++i) {
    const auto da = a.attempt_recovery("flaky", Severity::Medium, sec(i));
    const auto db = b.attempt_recovery("flaky", Severity::Medium, sec(i));
    EXPECT_EQ(da.backoff_until_ns, db.backoff_until_ns);
    EXPECT_LE(da.backoff_until_ns, sec(i) + 10 * kSecond);
  }
  RecoveryConfig other;
  other.seed = 99;
  RecoveryEngine c(other);
  ASSERT_TRUE(c.register_recovery_strategy(jittered_retry(6)));
  RecoveryEngine d;
  ASSERT_TRUE(d.register_recovery_strategy(jittered_retry(6)));
  bool differs = false;
  for (int i = 0; i < 6; ++i)
    differs = differs || c.attempt_recovery("flaky", Severity::Medium, 0).backoff_until_ns !=
                             d.attempt_recovery("flaky", Severity::Medium, 0).backoff_until_ns;
  EXPECT_TRUE(differs);
}

TEST(Recovery, RetryStopsWhenBackoffTotalBudgetIsSpent) {
  RecoveryEngine e;
  RecoveryStrategy s;
  s.error_type = "budgeted";
  s.action = RecoveryAction::Retry;
  s.max_retries = 10;
  s.backoff = BackoffPolicy::seed_compatible(10, 2.0);
  s.backoff.max_total_seconds = 3.0;  // 1 + 2 fit, + 4 does not
  ASSERT_TRUE(e.register_recovery_strategy(s));
  EXPECT_EQ(e.attempt_recovery("budgeted", Severity::Low, 0).action, RecoveryAction::Retry);
  EXPECT_EQ(e.attempt_recovery("budgeted", Severity::Low, 0).action, RecoveryAction::Retry);
  const auto d = e.attempt_recovery("budgeted", Severity::Low, 0);
  EXPECT_EQ(d.action, RecoveryAction::None);
  EXPECT_FALSE(d.retry_allowed);
}

TEST(Recovery, BackoffWithoutFixedWaitGrowsWithThePolicy) {
  RecoveryEngine e;
  RecoveryStrategy s;
  s.error_type = "throttled";
  s.action = RecoveryAction::Backoff;
  s.backoff = BackoffPolicy::seed_compatible(1, 2.0);  // max_attempts lifted for BACKOFF
  s.backoff.cap_seconds = 4;
  ASSERT_TRUE(e.register_recovery_strategy(s));
  std::uint64_t now = 0;
  const std::uint64_t expected[] = {1, 2, 4, 4, 4};
  for (auto want : expected) {
    const auto d = e.attempt_recovery("throttled", Severity::Low, now);
    ASSERT_EQ(d.action, RecoveryAction::Backoff);
    EXPECT_EQ(d.backoff_until_ns - now, want * kSecond);
    now = d.backoff_until_ns;
  }
}

TEST(Recovery, NoneStrategyNeverTriggers) {
  RecoveryEngine e;
  ASSERT_TRUE(e.register_recovery_strategy("ignored", Severity::Low, RecoveryAction::None));
  EXPECT_FALSE(e.should_trigger_recovery("ignored", 0));
  EXPECT_EQ(e.attempt_recovery("ignored", Severity::Critical, 0).action, RecoveryAction::None);
}

TEST(Recovery, ShouldTriggerAgreesWithAttempt) {
  // For a mixed stream, attempt_recovery acts exactly when should_trigger_recovery said so.
  RecoveryEngine e;
  const char* types[] = {"api_rate_limit", "api_connection", "insufficient_balance", "position_not_found",
                         "critical_system_error", "unknown"};
  std::uint64_t seed = 12345;
  for (int i = 0; i < 2000; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    const char* type = types[(seed >> 33) % 6];
    const std::uint64_t now = static_cast<std::uint64_t>(i) * 7 * kSecond;
    const bool predicted = e.should_trigger_recovery(type, now, Severity::High);
    const auto d = e.attempt_recovery(type, Severity::High, now);
    EXPECT_EQ(predicted, d.action != RecoveryAction::None) << "step " << i << " type " << type;
  }
}

TEST(Recovery, InvalidConfigThrows) {
  RecoveryConfig c;
  c.incident_quiet_seconds = 0;
  EXPECT_THROW(RecoveryEngine{c}, std::invalid_argument);
  c = {};
  c.max_tracked_types = 0;
  EXPECT_THROW(RecoveryEngine{c}, std::invalid_argument);
  c = {};
  c.max_strategies = 4;
  EXPECT_THROW(RecoveryEngine{c}, std::invalid_argument);
}

TEST(Recovery, AdoptStateKeepsBackoffsAttemptsAlertDedupEpochsAndShutdownAcrossAReload) {
  RecoveryEngine old;
  old.attempt_recovery("api_rate_limit", Severity::Medium, sec(100));      // backoff until 130
  old.attempt_recovery("api_connection", Severity::High, sec(100));        // retry 1 (1 s)
  old.attempt_recovery("api_connection", Severity::High, sec(101));        // retry 2 (2 s)
  old.attempt_recovery("insufficient_balance", Severity::High, sec(100));  // alerted
  old.attempt_recovery("position_not_found", Severity::Medium, sec(100));  // epoch 1
  ASSERT_TRUE(old.register_recovery_strategy("fatal", Severity::Critical, RecoveryAction::Shutdown));
  old.attempt_recovery("fatal", Severity::Critical, sec(100));

  RecoveryEngine fresh;  // the reloaded config's engine
  ASSERT_TRUE(fresh.register_recovery_strategy("fatal", Severity::Critical, RecoveryAction::Shutdown));
  fresh.adopt_state(std::move(old));
  EXPECT_EQ(fresh.state("api_rate_limit")->backoff_until_ns, sec(130));
  EXPECT_FALSE(fresh.should_trigger_recovery("api_rate_limit", sec(120)));
  EXPECT_FALSE(fresh.should_trigger_recovery("insufficient_balance", sec(120)));  // dedup kept
  EXPECT_EQ(fresh.global_reset_epoch(), 1U);
  EXPECT_TRUE(fresh.shutdown_requested());
  // The delay sequence goes on where it was: the 3rd retry waits 4 s, not 1 s.
  const auto d = fresh.attempt_recovery("api_connection", Severity::High, sec(110));
  EXPECT_EQ(d.action, RecoveryAction::Retry);
  EXPECT_EQ(d.attempt, 3U);
  EXPECT_EQ(d.backoff_until_ns, sec(114));
  // A RESET after the reload continues the epochs.
  EXPECT_EQ(fresh.attempt_recovery("position_not_found", Severity::Medium, sec(110)).reset_epoch, 2U);
}

}  // namespace
