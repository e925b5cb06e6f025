// CircuitBreaker: every transition and threshold boundary, driven by explicit now_ns values
// (no clock, no sleeping).
#include "evaluate/breaker.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using telering::reader::BreakerConfig;
using telering::reader::BreakerRule;
using telering::reader::BreakerState;
using telering::reader::BreakerTransition;
using telering::reader::CircuitBreaker;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint64_t sec(double s) { return static_cast<std::uint64_t>(s * 1e9); }

constexpr bool kOk = true;
constexpr bool kFail = false;

// Trips a default-config breaker with 10 failures at `now`; returns the transition.
BreakerTransition trip(CircuitBreaker& b, std::uint64_t now) {
  std::optional<BreakerTransition> t;
  for (int i = 0; i < 100 && b.state() == BreakerState::Closed; ++i) t = b.on_outcome(kFail, 0.1, now);
  EXPECT_TRUE(t.has_value());
  return t.value_or(BreakerTransition{});
}

TEST(Breaker, StateValuesAreTheSharedMemoryContract) {
  EXPECT_EQ(static_cast<int>(BreakerState::Closed), 0);
  EXPECT_EQ(static_cast<int>(BreakerState::Open), 1);
  EXPECT_EQ(static_cast<int>(BreakerState::HalfOpen), 2);
  EXPECT_EQ(static_cast<int>(BreakerState::ForcedOpen), 3);
  EXPECT_EQ(static_cast<int>(BreakerState::Disabled), 4);
}

TEST(Breaker, ToStringNamesEveryStateAndRule) {
  using telering::reader::to_string;
  EXPECT_EQ(to_string(BreakerState::Closed), "CLOSED");
  EXPECT_EQ(to_string(BreakerState::Open), "OPEN");
  EXPECT_EQ(to_string(BreakerState::HalfOpen), "HALF_OPEN");
  EXPECT_EQ(to_string(BreakerState::ForcedOpen), "FORCED_OPEN");
  EXPECT_EQ(to_string(BreakerState::Disabled), "DISABLED");
  EXPECT_EQ(to_string(static_cast<BreakerState>(9)), "INVALID");
  EXPECT_EQ(to_string(BreakerRule::FailureRate), "failure_rate");
  EXPECT_EQ(to_string(BreakerRule::SlowCallRate), "slow_call_rate");
  EXPECT_EQ(to_string(BreakerRule::ConsecutiveFailures), "consecutive_failures");
  EXPECT_EQ(to_string(BreakerRule::Timeout), "timeout");
  EXPECT_EQ(to_string(BreakerRule::ProbeSucceeded), "probe_succeeded");
  EXPECT_EQ(to_string(BreakerRule::ProbeFailed), "probe_failed");
  EXPECT_EQ(to_string(BreakerRule::Manual), "manual");
  EXPECT_EQ(to_string(BreakerRule::Forced), "forced");
  EXPECT_EQ(to_string(BreakerRule::Disabled), "disabled");
  EXPECT_EQ(to_string(BreakerRule::Reset), "reset");
}

TEST(Breaker, DefaultConfigMatchesSeedAndResilience4j) {
  const BreakerConfig c;
  EXPECT_EQ(c.sliding_window_type, BreakerConfig::WindowType::CountBased);
  EXPECT_EQ(c.sliding_window_size, 100u);
  EXPECT_EQ(c.minimum_number_of_calls, 10u);
  EXPECT_EQ(c.failure_rate_threshold, 50.0);
  EXPECT_EQ(c.slow_call_duration_threshold, 5.0);
  EXPECT_EQ(c.slow_call_rate_threshold, 100.0);
  EXPECT_EQ(c.consecutive_failures_threshold, 0u);
  EXPECT_EQ(c.wait_duration_in_open, 60.0);  // the seed's circuit_breaker_timeout
  EXPECT_EQ(c.wait_duration_multiplier, 1.0);
  EXPECT_EQ(c.permitted_calls_in_half_open, 3u);
}

TEST(Breaker, StaysClosedBelowMinimumCalls) {
  CircuitBreaker b;
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(i)).has_value());
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.metrics().calls_in_window, 9u);
  EXPECT_EQ(b.metrics().failure_rate, 100.0);
}

TEST(Breaker, OpensWhenFailureRateReachesThresholdAfterMinimumCalls) {
  CircuitBreaker b;
  for (int i = 0; i < 9; ++i) ASSERT_FALSE(b.on_outcome(kFail, 0.1, sec(1)).has_value());
  const auto t = b.on_outcome(kFail, 0.1, sec(1));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::Closed);
  EXPECT_EQ(t->to, BreakerState::Open);
  EXPECT_EQ(t->rule, BreakerRule::FailureRate);
  EXPECT_EQ(t->now_ns, sec(1));
  EXPECT_EQ(t->failure_rate, 100.0);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(b.open_until_ns(), sec(61));
  EXPECT_EQ(b.metrics().trips, 1u);
  EXPECT_TRUE(b.is_open(sec(60.9)));
  EXPECT_FALSE(b.is_open(sec(61)));
}

TEST(Breaker, ExactlyThresholdFailureRateOpens) {
  CircuitBreaker b;
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(b.on_outcome(kOk, 0.1, 0).has_value());
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  const auto t = b.on_outcome(kFail, 0.1, 0);  // 5 of 10 = 50 % exactly
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::FailureRate);
  EXPECT_DOUBLE_EQ(t->failure_rate, 50.0);
}

TEST(Breaker, JustBelowThresholdFailureRateStaysClosed) {
  CircuitBreaker b;
  for (int i = 0; i < 6; ++i) ASSERT_FALSE(b.on_outcome(kOk, 0.1, 0).has_value());
  for (int i = 0; i < 5; ++i) ASSERT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());  // 5 of 11 = 45 %
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_NEAR(b.metrics().failure_rate, 100.0 * 5 / 11, 1e-9);
}

TEST(Breaker, CountBasedWindowEvictsOldestCall) {
  BreakerConfig c;
  c.sliding_window_size = 4;
  c.minimum_number_of_calls = 4;
  CircuitBreaker b(c);
  b.on_outcome(kFail, 0.1, 0);
  b.on_outcome(kOk, 0.1, 0);
  b.on_outcome(kOk, 0.1, 0);
  b.on_outcome(kOk, 0.1, 0);  // F S S S: 25 %
  EXPECT_EQ(b.metrics().failed_calls_in_window, 1u);
  b.on_outcome(kOk, 0.1, 0);  // the F leaves: S S S S
  EXPECT_EQ(b.metrics().calls_in_window, 4u);
  EXPECT_EQ(b.metrics().failed_calls_in_window, 0u);
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());  // S S S F: 25 %
  const auto t = b.on_outcome(kFail, 0.1, 0);            // S S F F: 50 %
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::FailureRate);
}

TEST(Breaker, MinimumCallsIsClampedToCountWindowSize) {
  BreakerConfig c;
  c.sliding_window_size = 5;
  c.minimum_number_of_calls = 10;  // could never be reached in a 5-call window
  CircuitBreaker b(c);
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  EXPECT_TRUE(b.on_outcome(kFail, 0.1, 0).has_value());
}

BreakerConfig time_window(std::uint32_t seconds, std::uint32_t min_calls) {
  BreakerConfig c;
  c.sliding_window_type = BreakerConfig::WindowType::TimeBased;
  c.sliding_window_size = seconds;
  c.minimum_number_of_calls = min_calls;
  return c;
}

TEST(Breaker, TimeBasedWindowForgetsOldCalls) {
  CircuitBreaker b(time_window(10, 3));
  b.on_outcome(kFail, 0.1, sec(100.2));
  b.on_outcome(kFail, 0.1, sec(100.9));
  // Second 110 starts a window [101, 110]: both failures of second 100 are gone.
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(110.5)).has_value());
  EXPECT_EQ(b.metrics().calls_in_window, 1u);
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(111)).has_value());
  const auto t = b.on_outcome(kFail, 0.1, sec(111.5));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::FailureRate);
}

TEST(Breaker, TimeBasedWindowKeepsCallsInsideTheWindow) {
  CircuitBreaker b(time_window(10, 3));
  b.on_outcome(kFail, 0.1, sec(100));
  b.on_outcome(kFail, 0.1, sec(105));
  const auto t = b.on_outcome(kFail, 0.1, sec(109.999));  // second 109: window [100, 109]
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST(Breaker, TimeBasedWindowTickForgetsWithoutNewOutcomes) {
  CircuitBreaker b(time_window(5, 100));
  for (int i = 0; i < 5; ++i) b.on_outcome(i % 2 == 0, 0.1, sec(i));
  EXPECT_EQ(b.metrics().calls_in_window, 5u);
  b.tick(sec(6));  // window [2, 6]: seconds 0 and 1 gone
  EXPECT_EQ(b.metrics().calls_in_window, 3u);
  b.tick(sec(1000));
  EXPECT_EQ(b.metrics().calls_in_window, 0u);
  EXPECT_EQ(b.metrics().failure_rate, 0.0);
}

TEST(Breaker, TimeBasedWindowCountsManyCallsPerSecondWithoutGrowing) {
  CircuitBreaker b(time_window(3, 1'000'000));
  for (std::uint64_t s = 0; s < 1000; ++s)
    for (int i = 0; i < 100; ++i) b.on_outcome(true, 0.1, s * kSecond + static_cast<std::uint64_t>(i));
  // Only the last 3 seconds' 300 calls remain, however long it ran.
  EXPECT_EQ(b.metrics().calls_in_window, 300u);
}

TEST(Breaker, TimeGoingBackwardsCountsInTheNewestSecond) {
  CircuitBreaker b(time_window(10, 100));
  b.on_outcome(kFail, 0.1, sec(50));
  b.on_outcome(kFail, 0.1, sec(10));  // replay glitch: earlier than the newest second
  EXPECT_EQ(b.metrics().calls_in_window, 2u);
  b.tick(sec(59));
  EXPECT_EQ(b.metrics().calls_in_window, 2u);
  b.tick(sec(60));
  EXPECT_EQ(b.metrics().calls_in_window, 0u);
}

TEST(Breaker, SlowCallRateOpensWhenEnabled) {
  BreakerConfig c;
  c.slow_call_rate_threshold = 50.0;
  CircuitBreaker b(c);
  for (int i = 0; i < 5; ++i) b.on_outcome(kOk, 0.1, 0);
  for (int i = 0; i < 4; ++i) ASSERT_FALSE(b.on_outcome(kOk, 6.0, 0).has_value());
  const auto t = b.on_outcome(kOk, 6.0, 0);  // 5 of 10 slow
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::SlowCallRate);
  EXPECT_DOUBLE_EQ(t->slow_rate, 50.0);
  EXPECT_DOUBLE_EQ(t->failure_rate, 0.0);
}

TEST(Breaker, SlowCallRuleIsOffAtDefaultHundredPercent) {
  CircuitBreaker b;
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(b.on_outcome(kOk, 30.0, 0).has_value());
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.metrics().slow_call_rate, 100.0);
}

TEST(Breaker, CallExactlyAtSlowDurationThresholdIsNotSlow) {
  CircuitBreaker b;
  b.on_outcome(kOk, 5.0, 0);
  EXPECT_EQ(b.metrics().slow_calls_in_window, 0u);
  b.on_outcome(kOk, 5.001, 0);
  EXPECT_EQ(b.metrics().slow_calls_in_window, 1u);
  b.on_outcome(kOk, std::numeric_limits<double>::quiet_NaN(), 0);
  b.on_outcome(kOk, -1.0, 0);
  EXPECT_EQ(b.metrics().slow_calls_in_window, 1u);
}

TEST(Breaker, FailureRateRuleWinsWhenBothRatesTrip) {
  BreakerConfig c;
  c.slow_call_rate_threshold = 50.0;
  CircuitBreaker b(c);
  std::optional<BreakerTransition> t;
  for (int i = 0; i < 10; ++i) t = b.on_outcome(kFail, 10.0, 0);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::FailureRate);
  EXPECT_EQ(t->slow_rate, 100.0);
}

TEST(Breaker, ConsecutiveFailuresOpenBeforeMinimumCalls) {
  BreakerConfig c;
  c.consecutive_failures_threshold = 3;
  CircuitBreaker b(c);
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  EXPECT_EQ(b.metrics().consecutive_failures, 2u);
  const auto t = b.on_outcome(kFail, 0.1, 0);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::ConsecutiveFailures);
}

TEST(Breaker, SuccessResetsConsecutiveFailures) {
  BreakerConfig c;
  c.consecutive_failures_threshold = 3;
  CircuitBreaker b(c);
  b.on_outcome(kFail, 0.1, 0);
  b.on_outcome(kFail, 0.1, 0);
  b.on_outcome(kOk, 0.1, 0);
  b.on_outcome(kFail, 0.1, 0);
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  EXPECT_EQ(b.metrics().consecutive_failures, 2u);
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST(Breaker, HalfOpenAfterWaitDurationWithoutSleeping) {
  CircuitBreaker b;
  trip(b, sec(1000));
  EXPECT_FALSE(b.tick(sec(1059.999999)).has_value());
  EXPECT_EQ(b.state(), BreakerState::Open);
  const auto t = b.tick(sec(1060));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::Open);
  EXPECT_EQ(t->to, BreakerState::HalfOpen);
  EXPECT_EQ(t->rule, BreakerRule::Timeout);
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
  EXPECT_EQ(b.open_until_ns(), 0u);
  EXPECT_FALSE(b.is_open(sec(1060)));
  EXPECT_FALSE(b.tick(sec(5000)).has_value());  // half-open waits for probes by default
}

TEST(Breaker, OutcomeWhileOpenIsNotPermittedAndIgnored) {
  CircuitBreaker b;
  trip(b, 0);
  const auto calls = b.metrics().calls_in_window;
  EXPECT_FALSE(b.on_outcome(kOk, 0.1, sec(30)).has_value());
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(30)).has_value());
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(b.metrics().not_permitted_calls, 2u);
  EXPECT_EQ(b.metrics().calls_in_window, calls);
}

TEST(Breaker, OutcomeAfterWaitGoesHalfOpenAndCountsAsFirstProbe) {
  CircuitBreaker b;
  trip(b, 0);
  const auto before = b.transition_count();
  const auto t = b.on_outcome(kOk, 0.1, sec(60));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::HalfOpen);
  EXPECT_EQ(t->rule, BreakerRule::Timeout);
  EXPECT_EQ(b.transition_count(), before + 1);
  EXPECT_EQ(b.metrics().probe_calls, 1u);
}

TEST(Breaker, AllPermittedProbesSucceededClosesWithEmptyWindow) {
  CircuitBreaker b;
  trip(b, 0);
  b.tick(sec(60));
  EXPECT_FALSE(b.on_outcome(kOk, 0.1, sec(61)).has_value());
  EXPECT_FALSE(b.on_outcome(kOk, 0.1, sec(61)).has_value());
  const auto t = b.on_outcome(kOk, 0.1, sec(62));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::HalfOpen);
  EXPECT_EQ(t->to, BreakerState::Closed);
  EXPECT_EQ(t->rule, BreakerRule::ProbeSucceeded);
  EXPECT_EQ(t->failure_rate, 0.0);
  EXPECT_EQ(b.metrics().calls_in_window, 0u);
  EXPECT_EQ(b.metrics().probe_calls, 0u);
  // The failures that tripped it are gone: 9 more failures do not re-open.
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(63)).has_value());
}

TEST(Breaker, OneFailedProbeOfThreeClosesUnderResilience4jRule) {
  CircuitBreaker b;
  trip(b, 0);
  b.tick(sec(60));
  b.on_outcome(kOk, 0.1, sec(61));
  b.on_outcome(kFail, 0.1, sec(61));
  const auto t = b.on_outcome(kOk, 0.1, sec(61));  // 33 % < 50 %
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::Closed);
  EXPECT_NEAR(t->failure_rate, 100.0 / 3, 1e-9);
}

TEST(Breaker, ProbeFailureRateAtThresholdReopens) {
  BreakerConfig c;
  c.permitted_calls_in_half_open = 4;
  CircuitBreaker b(c);
  trip(b, 0);
  b.tick(sec(60));
  b.on_outcome(kFail, 0.1, sec(61));
  b.on_outcome(kOk, 0.1, sec(61));
  EXPECT_FALSE(b.on_outcome(kFail, 0.1, sec(61)).has_value());  // decision waits for all probes
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
  const auto t = b.on_outcome(kOk, 0.1, sec(62));  // 2 of 4 = 50 %
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::Open);
  EXPECT_EQ(t->rule, BreakerRule::ProbeFailed);
  EXPECT_DOUBLE_EQ(t->failure_rate, 50.0);
  EXPECT_EQ(b.open_until_ns(), sec(122));
  EXPECT_EQ(b.metrics().trips, 2u);
}

TEST(Breaker, SlowProbesReopenWhenSlowRuleEnabled) {
  BreakerConfig c;
  c.slow_call_rate_threshold = 60.0;
  CircuitBreaker b(c);
  trip(b, 0);
  b.tick(sec(60));
  b.on_outcome(kOk, 9.0, sec(61));
  b.on_outcome(kOk, 9.0, sec(61));
  const auto t = b.on_outcome(kOk, 0.1, sec(61));  // 67 % slow
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->rule, BreakerRule::ProbeFailed);
  EXPECT_EQ(b.state(), BreakerState::Open);
}

TEST(Breaker, SingleProbeOutcomeMakesTwoTransitionsAndReturnsTheLast) {
  BreakerConfig c;
  c.permitted_calls_in_half_open = 1;
  CircuitBreaker b(c);
  trip(b, 0);
  const auto before = b.transition_count();
  const auto t = b.on_outcome(kOk, 0.1, sec(60));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::HalfOpen);
  EXPECT_EQ(t->to, BreakerState::Closed);
  EXPECT_EQ(b.transition_count(), before + 2);
}

TEST(Breaker, WaitDurationGrowsOnRepeatedTripsUpToMax) {
  BreakerConfig c;
  c.permitted_calls_in_half_open = 1;
  c.wait_duration_multiplier = 3.0;
  c.max_wait_duration_in_open = 300.0;
  CircuitBreaker b(c);
  trip(b, 0);
  EXPECT_EQ(b.open_until_ns(), sec(60));
  b.on_outcome(kFail, 0.1, sec(60));  // probe fails: second trip, 180 s
  EXPECT_EQ(b.open_until_ns(), sec(240));
  b.on_outcome(kFail, 0.1, sec(240));  // third: 540 s capped at 300
  EXPECT_EQ(b.open_until_ns(), sec(540));
  b.on_outcome(kFail, 0.1, sec(540));
  EXPECT_EQ(b.open_until_ns(), sec(840));
  EXPECT_EQ(b.metrics().trips, 4u);
}

TEST(Breaker, WaitGrowthRestartsAfterClosing) {
  BreakerConfig c;
  c.permitted_calls_in_half_open = 1;
  c.wait_duration_multiplier = 2.0;
  CircuitBreaker b(c);
  trip(b, 0);
  b.on_outcome(kFail, 0.1, sec(60));  // 120 s
  EXPECT_EQ(b.open_until_ns(), sec(180));
  EXPECT_EQ(b.next_wait_ns(), 240 * kSecond);
  b.on_outcome(kOk, 0.1, sec(180));  // closes
  EXPECT_EQ(b.state(), BreakerState::Closed);
  EXPECT_EQ(b.next_wait_ns(), 60 * kSecond);
  trip(b, sec(200));
  EXPECT_EQ(b.open_until_ns(), sec(260));
}

TEST(Breaker, HalfOpenWithoutProbesReopensAfterMaxWait) {
  BreakerConfig c;
  c.max_wait_in_half_open = 10.0;
  CircuitBreaker b(c);
  trip(b, 0);
  b.tick(sec(60));
  b.on_outcome(kOk, 0.1, sec(61));
  EXPECT_FALSE(b.tick(sec(69.9)).has_value());
  const auto t = b.tick(sec(70));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::HalfOpen);
  EXPECT_EQ(t->to, BreakerState::Open);
  EXPECT_EQ(t->rule, BreakerRule::Timeout);
  EXPECT_EQ(b.open_until_ns(), sec(130));
}

TEST(Breaker, ManualOpenUsesBaseWaitAndIsNotATrip) {
  CircuitBreaker b;
  const auto t = b.open(sec(5));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::Closed);
  EXPECT_EQ(t->to, BreakerState::Open);
  EXPECT_EQ(t->rule, BreakerRule::Manual);
  EXPECT_EQ(b.open_until_ns(), sec(65));
  EXPECT_EQ(b.metrics().trips, 0u);
  EXPECT_TRUE(b.is_open(sec(64)));
  ASSERT_TRUE(b.tick(sec(65)).has_value());
  EXPECT_EQ(b.state(), BreakerState::HalfOpen);
}

TEST(Breaker, ManualOpenWhileOpenRestartsTheWait) {
  CircuitBreaker b;
  b.open(0);
  const auto t = b.open(sec(50));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::Open);
  EXPECT_EQ(b.open_until_ns(), sec(110));
}

TEST(Breaker, ManualCloseClosesFromOpenAndClearsWindow) {
  CircuitBreaker b;
  trip(b, 0);
  const auto t = b.close(sec(1));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->from, BreakerState::Open);
  EXPECT_EQ(t->to, BreakerState::Closed);
  EXPECT_EQ(t->rule, BreakerRule::Manual);
  EXPECT_EQ(b.metrics().calls_in_window, 0u);
  EXPECT_EQ(b.open_until_ns(), 0u);
  EXPECT_FALSE(b.close().has_value());  // already closed: nothing to record
}

TEST(Breaker, ForcedOpenIgnoresOutcomesAndTime) {
  CircuitBreaker b;
  const auto t = b.force_open(sec(1));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::ForcedOpen);
  EXPECT_EQ(t->rule, BreakerRule::Forced);
  EXPECT_FALSE(b.force_open().has_value());
  EXPECT_FALSE(b.tick(sec(1'000'000)).has_value());
  EXPECT_FALSE(b.on_outcome(kOk, 0.1, sec(1'000'000)).has_value());
  EXPECT_EQ(b.state(), BreakerState::ForcedOpen);
  EXPECT_TRUE(b.is_open(sec(1'000'000)));
  EXPECT_EQ(b.metrics().not_permitted_calls, 1u);
  ASSERT_TRUE(b.close().has_value());
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST(Breaker, DisabledNeverOpens) {
  CircuitBreaker b;
  const auto t = b.disable(0);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::Disabled);
  EXPECT_EQ(t->rule, BreakerRule::Disabled);
  EXPECT_FALSE(b.disable().has_value());
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(b.on_outcome(kFail, 0.1, 0).has_value());
  EXPECT_EQ(b.state(), BreakerState::Disabled);
  EXPECT_FALSE(b.is_open(0));
  ASSERT_TRUE(b.close(sec(1)).has_value());
  EXPECT_EQ(b.state(), BreakerState::Closed);
}

TEST(Breaker, ResetClearsMetricsAndGrowthButKeepsTheAuditTrail) {
  BreakerConfig c;
  c.wait_duration_multiplier = 2.0;
  c.permitted_calls_in_half_open = 1;
  CircuitBreaker b(c);
  trip(b, 0);
  b.on_outcome(kFail, 0.1, sec(60));
  b.on_outcome(kFail, 0.1, sec(61));  // not permitted
  const auto count = b.transition_count();
  const auto t = b.reset(sec(70));
  EXPECT_EQ(t.from, BreakerState::Open);
  EXPECT_EQ(t.to, BreakerState::Closed);
  EXPECT_EQ(t.rule, BreakerRule::Reset);
  const auto m = b.metrics();
  EXPECT_EQ(m.trips, 0u);
  EXPECT_EQ(m.not_permitted_calls, 0u);
  EXPECT_EQ(m.calls_in_window, 0u);
  EXPECT_EQ(b.next_wait_ns(), 60 * kSecond);
  EXPECT_EQ(b.transition_count(), count + 1);
  EXPECT_EQ(b.reset().from, BreakerState::Closed);  // reset always records
  EXPECT_EQ(b.transition_count(), count + 2);
}

TEST(Breaker, LastTransitionAndCounterTrackEveryChange) {
  CircuitBreaker b;
  EXPECT_FALSE(b.last_transition().has_value());
  EXPECT_EQ(b.transition_count(), 0u);
  trip(b, 0);           // 1: CLOSED -> OPEN
  b.tick(sec(60));      // 2: OPEN -> HALF_OPEN
  b.force_open(sec(61));  // 3
  b.disable(sec(62));   // 4
  b.close(sec(63));     // 5
  EXPECT_EQ(b.transition_count(), 5u);
  ASSERT_TRUE(b.last_transition().has_value());
  EXPECT_EQ(b.last_transition()->from, BreakerState::Disabled);
  EXPECT_EQ(b.last_transition()->to, BreakerState::Closed);
  EXPECT_EQ(b.last_transition()->now_ns, sec(63));
  EXPECT_EQ(b.metrics().transitions, 5u);
}

TEST(Breaker, ManualCallsWithoutTimeUseLatestSeenTime) {
  CircuitBreaker b;
  b.on_outcome(kOk, 0.1, sec(42));
  const auto t = b.force_open();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->now_ns, sec(42));
}

TEST(Breaker, InvalidConfigThrowsNamingTheField) {
  auto message_for = [](BreakerConfig c) -> std::string {
    try {
      CircuitBreaker b(c);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "";
  };
  BreakerConfig c;
  c.failure_rate_threshold = 0;
  EXPECT_NE(message_for(c).find("failure_rate_threshold"), std::string::npos);
  c = {};
  c.failure_rate_threshold = 100.5;
  EXPECT_NE(message_for(c).find("failure_rate_threshold"), std::string::npos);
  c = {};
  c.sliding_window_size = 0;
  EXPECT_NE(message_for(c).find("sliding_window_size"), std::string::npos);
  c = {};
  c.permitted_calls_in_half_open = 0;
  EXPECT_NE(message_for(c).find("permitted_calls_in_half_open"), std::string::npos);
  c = {};
  c.wait_duration_in_open = std::nan("");
  EXPECT_NE(message_for(c).find("wait_duration_in_open"), std::string::npos);
  c = {};
  c.wait_duration_multiplier = 0.5;
  EXPECT_NE(message_for(c).find("wait_duration_multiplier"), std::string::npos);
  c = {};
  c.failure_rate_threshold = 100.0;  // boundary: accepted
  EXPECT_EQ(message_for(c), "");
}

TEST(Breaker, HundredPercentThresholdOpensOnlyWhenEveryCallFails) {
  BreakerConfig c;
  c.failure_rate_threshold = 100.0;
  CircuitBreaker b(c);
  b.on_outcome(kOk, 0.1, 0);
  for (int i = 0; i < 20; ++i) b.on_outcome(kFail, 0.1, 0);
  EXPECT_EQ(b.state(), BreakerState::Closed);
  CircuitBreaker all_fail(c);
  for (int i = 0; i < 10; ++i) all_fail.on_outcome(kFail, 0.1, 0);
  EXPECT_EQ(all_fail.state(), BreakerState::Open);
}

// ---------------------------------------------------------------------------------------
// reconfigure (SIGHUP)

TEST(Breaker, ReconfigureKeepsStateAndTheNewestCallsThatFitANewCountWindow) {
  CircuitBreaker b;  // count window of 100, minimum 10, 50 %
  for (int i = 0; i < 6; ++i) b.on_outcome(kOk, 0.1, kSecond);
  for (int i = 0; i < 4; ++i) b.on_outcome(kFail, 0.1, kSecond);  // 40 %: stays CLOSED
  ASSERT_EQ(b.state(), BreakerState::Closed);
  BreakerConfig c;
  c.sliding_window_size = 5;
  c.minimum_number_of_calls = 5;
  b.reconfigure(c);
  // The newest 5 calls: 1 success, 4 failures.
  EXPECT_EQ(b.metrics().calls_in_window, 5U);
  EXPECT_EQ(b.metrics().failed_calls_in_window, 4U);
  EXPECT_EQ(b.metrics().consecutive_failures, 4U);
  EXPECT_EQ(b.config().sliding_window_size, 5U);
  // The next outcome is judged by the new window: the oldest success leaves, 4 of 5 failed.
  const auto t = b.on_outcome(kOk, 0.1, 2 * kSecond);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->to, BreakerState::Open);
  EXPECT_DOUBLE_EQ(t->failure_rate, 80.0);  // [F, F, F, F, ok]
}

TEST(Breaker, ReconfigureKeepsAnOpenDeadlineAndUsesTheNewWaitForTheNextTrip) {
  CircuitBreaker b;
  trip(b, 10 * kSecond);
  ASSERT_EQ(b.open_until_ns(), 70 * kSecond);
  BreakerConfig c;
  c.wait_duration_in_open = 5.0;
  b.reconfigure(c);
  EXPECT_EQ(b.state(), BreakerState::Open);
  EXPECT_EQ(b.open_until_ns(), 70 * kSecond);
  EXPECT_EQ(b.metrics().trips, 1U);
  EXPECT_EQ(b.next_wait_ns(), 5 * kSecond);
}

TEST(Breaker, ReconfigureToAnotherWindowTypeRestartsTheWindow) {
  CircuitBreaker b;
  for (int i = 0; i < 5; ++i) b.on_outcome(kFail, 0.1, kSecond);
  BreakerConfig c;
  c.sliding_window_type = BreakerConfig::WindowType::TimeBased;
  c.sliding_window_size = 10;
  b.reconfigure(c);
  EXPECT_EQ(b.metrics().calls_in_window, 0U);
  EXPECT_EQ(b.metrics().consecutive_failures, 5U);  // a count of outcomes, not of the window
  // And a time window keeps the seconds still inside a shorter one.
  b.on_outcome(kOk, 0.1, 20 * kSecond);
  b.on_outcome(kFail, 0.1, 25 * kSecond);
  b.on_outcome(kFail, 0.1, 29 * kSecond);
  c.sliding_window_size = 5;  // seconds 25..29
  b.reconfigure(c);
  EXPECT_EQ(b.metrics().calls_in_window, 2U);
  EXPECT_EQ(b.metrics().failed_calls_in_window, 2U);
}

TEST(Breaker, ReconfigureWithAnInvalidConfigThrowsAndChangesNothing) {
  CircuitBreaker b;
  for (int i = 0; i < 3; ++i) b.on_outcome(kFail, 0.1, kSecond);
  BreakerConfig bad;
  bad.failure_rate_threshold = 150.0;
  EXPECT_THROW(b.reconfigure(bad), std::invalid_argument);
  EXPECT_EQ(b.config().failure_rate_threshold, 50.0);
  EXPECT_EQ(b.metrics().calls_in_window, 3U);
}

}  // namespace
