// The reader's side of the host-wide limits: bucket configuration, stretching after an
// exchange's rate-limit error, and retry-budget refills from what the bots did.
#include <gtest/gtest.h>

#include "evaluate/fleet_limits_reader.hpp"
#include "support/test_writer.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

struct Host {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 1024);
  TickClock clock{w.segment().calibration()};
  void feed(FleetLimits& limits, std::uint64_t now) {
    Drainer d(w.segment());
    for_each_record(d, [&](const Record& r, const RecordSource&) { limits.on_record(r, now); });
  }
};

RateLimitConfig kucoin_public() {
  RateLimitConfig c;
  c.group = "kucoin_public";
  c.requests = 30;
  c.period = std::chrono::milliseconds(3000);
  c.burst = 3;
  c.shrink_factor = 4.0;
  c.shrink_window = std::chrono::milliseconds(10'000);
  return c;
}

TEST(FleetLimitsReader, ConfiguresBucketsBotsFindByName) {
  Host h;
  FleetLimits limits(h.w.segment(), h.clock, {kucoin_public()}, RetryBudgetConfig{});
  EXPECT_EQ(limits.stats().buckets_configured, 1U);
  RateLimiter l = h.w.rate_limiter("kucoin_public");
  ASSERT_TRUE(l.configured());
  const std::uint64_t t0 = 1'000'000'000'000ULL;
  int granted = 0;
  for (int i = 0; i < 10; ++i) granted += l.try_acquire_at(t0) == Acquire::Granted;
  EXPECT_EQ(granted, 3);  // the burst
  EXPECT_FALSE(h.w.rate_limiter("binance").configured());
}

TEST(FleetLimitsReader, RateLimitErrorStretchesTheBucketUntilTheWindowPasses) {
  Host h;
  FleetLimits limits(h.w.segment(), h.clock, {kucoin_public()}, RetryBudgetConfig{});
  RateBucket& b = *find_rate_bucket(h.w.segment().rate_buckets(), h.w.names().find(NameKind::RateGroup, "kucoin_public"));
  const std::uint64_t base = b.interval_ticks.load();
  ASSERT_GT(base, 0U);
  h.w.error("api_rate_limit", Severity::Medium, "429 from /api/v1/market/orderbook");
  const std::uint64_t now = 100 * kSecond;
  h.feed(limits, now);
  EXPECT_EQ(b.interval_ticks.load(), base * 4);
  EXPECT_EQ(b.shrunk.load(), 1U);
  EXPECT_EQ(limits.stats().stretches, 1U);
  limits.tick(now + 9 * kSecond);
  EXPECT_EQ(b.interval_ticks.load(), base * 4);
  limits.tick(now + 10 * kSecond);
  EXPECT_EQ(b.interval_ticks.load(), base);
  EXPECT_EQ(b.shrunk.load(), 0U);
}

TEST(FleetLimitsReader, RetryBudgetIsTenPercentOfRequestsWithAFloor) {
  Host h;
  FleetLimits limits(h.w.segment(), h.clock, {}, RetryBudgetConfig{});
  const NameId api = h.w.component("exchange_api");
  for (int i = 0; i < 300; ++i) h.w.call_outcome(api, true, 0.01, /*retry=*/i < 12);
  const std::uint64_t now = monotonic_ns();  // writers check the budget's validity against their own clock
  h.feed(limits, now);
  limits.tick(now);
  EXPECT_EQ(limits.stats().requests_in_window, 300U);
  EXPECT_EQ(limits.stats().retries_in_window, 12U);
  EXPECT_EQ(h.w.segment().fleet().retry_tokens.load(), 30 - 12);  // 10 % of 300, minus the 12 retries made
  EXPECT_EQ(h.w.retry_budget().try_take(), Acquire::Granted);

  // A quiet host still gets the floor once the window has moved on.
  limits.tick(now + 20 * kSecond);
  EXPECT_EQ(h.w.segment().fleet().retry_tokens.load(), 10);

  // Retries beyond the allowance leave no tokens (never negative).
  for (int i = 0; i < 50; ++i) h.w.call_outcome(api, false, 0.01, /*retry=*/true);
  h.feed(limits, now + 30 * kSecond);
  limits.tick(now + 30 * kSecond);
  EXPECT_EQ(h.w.segment().fleet().retry_tokens.load(), 0);
  EXPECT_EQ(h.w.retry_budget().try_take(), Acquire::Refused);
}

// A new reader (or a reload) frees the buckets of groups it does not configure: a previous
// reader's bucket must not limit (or, stretched, starve) bots for ever with nobody tending it.
TEST(FleetLimitsReader, BucketsOfGroupsNoLongerConfiguredAreFreed) {
  Host h;
  RateLimitConfig gone = kucoin_public();
  gone.group = "old_exchange";
  { FleetLimits previous(h.w.segment(), h.clock, {kucoin_public(), gone}, RetryBudgetConfig{}); }
  RateLimiter held = h.w.rate_limiter("old_exchange");  // a bot found it before the restart
  ASSERT_TRUE(held.configured());
  FleetLimits limits(h.w.segment(), h.clock, {kucoin_public()}, RetryBudgetConfig{});
  EXPECT_EQ(limits.stats().buckets_cleared, 1U);
  EXPECT_FALSE(h.w.rate_limiter("old_exchange").configured());
  EXPECT_TRUE(h.w.rate_limiter("kucoin_public").configured());
  const std::uint64_t t0 = 1'000'000'000'000ULL;
  for (int i = 0; i < 100; ++i) ASSERT_EQ(held.try_acquire_at(t0), Acquire::Granted);  // unlimited, not frozen
}

TEST(FleetLimitsReader, DisabledBudgetNeverLimits) {
  Host h;
  RetryBudgetConfig off;
  off.enabled = false;
  FleetLimits limits(h.w.segment(), h.clock, {}, off);
  limits.tick(kSecond);
  EXPECT_EQ(h.w.retry_budget().try_take(), Acquire::Unconfigured);
}

}  // namespace
}  // namespace telering::reader
