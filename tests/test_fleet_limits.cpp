// Host-wide limits shared through the segment: GCRA rate buckets and the retry budget.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/test_writer.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/fleet_limits_writer.hpp"
#include "telering/retry.hpp"
#include "telering/writer.hpp"

namespace telering {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

struct Host {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 256);
  Segment& segment() { return w.segment(); }
  std::uint64_t ticks(std::uint64_t ns) { return segment().calibration().duration_to_ticks(ns); }
  // What the reader does at a refill: `tokens` for a budget valid until `valid_until_ns`.
  void publish_budget(std::int64_t tokens, std::uint64_t valid_until_ns = ~0ULL) {
    FleetHeader& f = segment().fleet();
    f.retry_tokens.store(tokens);
    f.retry_budget_valid_until_ns.store(valid_until_ns);
    f.retry_budget_enabled.store(1);
  }
  bool configure(std::string_view group, std::uint64_t requests, std::uint64_t period_ns, std::uint64_t burst) {
    return configure_rate_bucket(segment().rate_buckets(), w.name(NameKind::RateGroup, group), requests, period_ns, burst,
                                 segment().calibration());
  }
};

TEST(RateLimiter, UnconfiguredGroupNeverBlocks) {
  Host h;
  RateLimiter l = h.w.rate_limiter("kucoin_private");
  EXPECT_FALSE(l.configured());
  EXPECT_EQ(l.try_acquire(), Acquire::Unconfigured);
}

TEST(RateLimiter, AdmitsTheBurstThenTheRate) {
  Host h;
  ASSERT_TRUE(h.configure("kucoin_public", 10, kSecond, 5));  // 10 per second, bursts of 5
  RateLimiter l = h.w.rate_limiter("kucoin_public");
  ASSERT_TRUE(l.configured());
  const std::uint64_t t0 = 1'000'000'000'000ULL;
  int granted = 0;
  for (int i = 0; i < 20; ++i) granted += l.try_acquire_at(t0) == Acquire::Granted;
  EXPECT_EQ(granted, 5);
  // One interval (100 ms) later exactly one more.
  const std::uint64_t t1 = t0 + h.ticks(kSecond / 10);
  granted = 0;
  for (int i = 0; i < 20; ++i) granted += l.try_acquire_at(t1) == Acquire::Granted;
  EXPECT_EQ(granted, 1);
  // After a quiet second the full burst again, never more.
  const std::uint64_t t2 = t1 + h.ticks(kSecond);
  granted = 0;
  for (int i = 0; i < 20; ++i) granted += l.try_acquire_at(t2) == Acquire::Granted;
  EXPECT_EQ(granted, 5);
  EXPECT_EQ(h.segment().rate_buckets()[0].refused.load() + 0, 15U + 19U + 15U);
}

TEST(RateLimiter, WeightedRequestsTakeSeveralSlots) {
  Host h;
  ASSERT_TRUE(h.configure("weights", 100, kSecond, 10));
  RateLimiter l = h.w.rate_limiter("weights");
  const std::uint64_t t0 = 5'000'000'000'000ULL;
  EXPECT_EQ(l.try_acquire_at(t0, 6), Acquire::Granted);
  EXPECT_EQ(l.try_acquire_at(t0, 4), Acquire::Granted);
  EXPECT_EQ(l.try_acquire_at(t0, 1), Acquire::Refused);
}

// A weight is checked whole: the n-th slot must fit the burst too, not just the first.
TEST(RateLimiter, WeightThatOverrunsTheBurstIsRefusedWhole) {
  Host h;
  ASSERT_TRUE(h.configure("weights", 100, kSecond, 10));
  RateLimiter l = h.w.rate_limiter("weights");
  const std::uint64_t t0 = 5'000'000'000'000ULL;
  EXPECT_EQ(l.try_acquire_at(t0, 6), Acquire::Granted);
  EXPECT_EQ(l.try_acquire_at(t0, 5), Acquire::Refused);  // 11 > burst 10
  EXPECT_EQ(l.try_acquire_at(t0, 4), Acquire::Granted);  // exactly the burst
  EXPECT_EQ(l.try_acquire_at(t0 + h.ticks(kSecond / 100), 1), Acquire::Granted);  // one interval later: one
}

TEST(RateLimiter, WeightAboveTheBurstIsNeverGranted) {
  Host h;
  ASSERT_TRUE(h.configure("strict", 10, kSecond, 1));
  RateLimiter l = h.w.rate_limiter("strict");
  const std::uint64_t t0 = 5'000'000'000'000ULL;
  EXPECT_EQ(l.try_acquire_at(t0, 100), Acquire::Refused);
  EXPECT_EQ(l.try_acquire_at(t0 + h.ticks(100 * kSecond), 2), Acquire::Refused);  // not even after a quiet spell
  EXPECT_EQ(l.try_acquire_at(t0, 1), Acquire::Granted);  // the refusals took nothing
  EXPECT_EQ(l.try_acquire_at(t0, 0), Acquire::Granted);  // weight 0 asks for nothing
}

TEST(RateLimiter, ContendingThreadsNeverExceedTheBurstAtOneInstant) {
  Host h;
  ASSERT_TRUE(h.configure("shared", 1000, kSecond, 64));
  const std::uint64_t t0 = 9'000'000'000'000ULL;
  std::atomic<int> granted{0};
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      RateLimiter l = h.w.rate_limiter("shared");
      ready.fetch_add(1);
      while (ready.load() < 4) std::this_thread::yield();
      for (int i = 0; i < 1000; ++i) granted.fetch_add(l.try_acquire_at(t0) == Acquire::Granted);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 64);
}

TEST(RateLimiter, TwoProcessesShareOneBucket) {
  Host h;
  ASSERT_TRUE(h.configure("account", 10, kSecond, 8));
  const std::uint64_t t0 = 7'000'000'000'000ULL;
  const pid_t child = ::fork();
  if (child == 0) {
    RateLimiter l(find_rate_bucket(h.segment().rate_buckets(), h.w.names().find(NameKind::RateGroup, "account")));
    int mine = 0;
    for (int i = 0; i < 100; ++i) mine += l.try_acquire_at(t0) == Acquire::Granted;
    ::_exit(mine);
  }
  RateLimiter l = h.w.rate_limiter("account");
  int mine = 0;
  for (int i = 0; i < 100; ++i) mine += l.try_acquire_at(t0) == Acquire::Granted;
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(mine + WEXITSTATUS(status), 8);  // one bucket for both processes
}

TEST(RetryBudget, UnpublishedBudgetDoesNotLimit) {
  Host h;
  EXPECT_EQ(h.w.retry_budget().try_take(), Acquire::Unconfigured);
}

TEST(RetryBudget, TokensRunOutAndRefusalsAreCounted) {
  Host h;
  FleetHeader& f = h.segment().fleet();
  h.publish_budget(3);
  RetryBudget b = h.w.retry_budget();
  EXPECT_EQ(b.try_take(), Acquire::Granted);
  EXPECT_EQ(b.try_take(), Acquire::Granted);
  EXPECT_EQ(b.try_take(), Acquire::Granted);
  EXPECT_EQ(b.try_take(), Acquire::Refused);
  EXPECT_EQ(f.retry_tokens.load(), 0);
  EXPECT_EQ(f.retries_refused.load(), 1U);
}

// A budget nobody refills any more (its reader is gone) stops refusing: retries are up to
// the caller again instead of refused for ever.
TEST(RetryBudget, BudgetPastItsValidityDoesNotRefuse) {
  Host h;
  h.publish_budget(1, monotonic_ns() + 3600 * kSecond);
  RetryBudget b = h.w.retry_budget();
  EXPECT_EQ(b.try_take(), Acquire::Granted);
  EXPECT_EQ(b.try_take(), Acquire::Refused);  // valid: refused
  h.publish_budget(0, monotonic_ns() - 1);
  EXPECT_EQ(b.try_take(), Acquire::Unconfigured);  // stale: the caller decides
  EXPECT_EQ(h.segment().fleet().retry_tokens.load(), 0);
}

TEST(RetryBudget, ContendingThreadsTakeExactlyTheTokensThereAre) {
  Host h;
  FleetHeader& f = h.segment().fleet();
  h.publish_budget(5000);
  std::atomic<int> granted{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      RetryBudget b = h.w.retry_budget();
      for (int i = 0; i < 5000; ++i) (b.try_take() == Acquire::Granted ? granted : refused).fetch_add(1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 5000);
  EXPECT_EQ(refused.load(), 15000);
  EXPECT_EQ(f.retry_tokens.load(), 0);  // every refusal gave back what it took
  EXPECT_EQ(f.retries_refused.load(), 15000U);
}

TEST(RetryBudget, RetryWithBackoffStopsWhenTheBudgetIsSpentAndSaysSo) {
  Host h;
  h.publish_budget(1);
  RetryOptions o;
  o.max_retries = 5;
  o.component = "exchange_api";
  o.sleep = [](std::chrono::nanoseconds) {};
  int calls = 0;
  EXPECT_THROW(retry_with_backoff(h.w, "api_connection", o, [&]() -> int { ++calls; throw std::runtime_error("down"); }),
               std::runtime_error);
  EXPECT_EQ(calls, 2);  // the first call and the one retry the budget allowed
  int exhausted = 0, retries_flagged = 0;
  Drainer d(h.segment());
  for_each_record(d, [&](const Record& r, const RecordSource&) {
    if (r.kind == RecordKind::Counter && r.name_id == h.w.names().find(NameKind::Metric, "retry_budget_exhausted")) ++exhausted;
    if (r.kind == RecordKind::CallOutcome && (r.flags & kFlagRetry)) ++retries_flagged;
  });
  EXPECT_EQ(exhausted, 1);
  EXPECT_EQ(retries_flagged, 1);
}

}  // namespace
}  // namespace telering
