// Backoff: exponential delays, jitter bounds, stop rules, determinism. No sleeping: delays
// are values to assert on.
#include "telering/core/backoff.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

namespace {

using telering::Backoff;
using telering::BackoffPolicy;
using telering::SplitMix64;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

std::vector<std::uint64_t> drain(Backoff& b, std::size_t limit = 1000) {
  std::vector<std::uint64_t> out;
  while (out.size() < limit) {
    auto d = b.next_delay_ns();
    if (!d) break;
    out.push_back(*d);
  }
  return out;
}

BackoffPolicy policy(BackoffPolicy::Jitter j, std::uint32_t attempts, double base = 1.0, double mult = 2.0,
                     double cap = 60.0) {
  BackoffPolicy p;
  p.base_seconds = base;
  p.multiplier = mult;
  p.cap_seconds = cap;
  p.jitter = j;
  p.max_attempts = attempts;
  return p;
}

TEST(Backoff, DefaultPolicyMatchesContract) {
  const BackoffPolicy p;
  EXPECT_EQ(p.base_seconds, 1.0);
  EXPECT_EQ(p.multiplier, 2.0);
  EXPECT_EQ(p.cap_seconds, 60.0);
  EXPECT_EQ(p.jitter, BackoffPolicy::Jitter::Full);
  EXPECT_EQ(p.max_attempts, 3u);
  EXPECT_EQ(p.max_total_seconds, 0.0);
}

TEST(Backoff, SeedRetryDelaysAre1_2_4) {
  Backoff b(BackoffPolicy::seed_compatible(3, 2.0));
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{1 * kSecond, 2 * kSecond, 4 * kSecond}));
  EXPECT_TRUE(b.stopped());
  EXPECT_EQ(b.attempt(), 3u);
  EXPECT_EQ(b.total_ns(), 7 * kSecond);
}

TEST(Backoff, SeedCompatibleIsUncappedAndUnjittered) {
  const auto p = BackoffPolicy::seed_compatible(8, 3.0);
  EXPECT_EQ(p.jitter, BackoffPolicy::Jitter::None);
  EXPECT_EQ(p.max_attempts, 8u);
  Backoff b(p);
  // 3^0 .. 3^7 seconds; 3^7 = 2187 s is far past the default 60 s cap.
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{1 * kSecond, 3 * kSecond, 9 * kSecond, 27 * kSecond,
                                                  81 * kSecond, 243 * kSecond, 729 * kSecond, 2187 * kSecond}));
}

TEST(Backoff, StopsAfterMaxAttemptsAndStaysStopped) {
  Backoff b(policy(BackoffPolicy::Jitter::None, 2));
  EXPECT_EQ(b.next_delay_ns(), std::optional<std::uint64_t>(kSecond));
  EXPECT_EQ(b.next_delay_ns(), std::optional<std::uint64_t>(2 * kSecond));
  EXPECT_EQ(b.next_delay_ns(), std::nullopt);
  EXPECT_EQ(b.next_delay_ns(), std::nullopt);
  EXPECT_EQ(b.attempt(), 2u);
}

TEST(Backoff, ZeroMaxAttemptsNeverRetries) {
  Backoff b(policy(BackoffPolicy::Jitter::None, 0));
  EXPECT_EQ(b.next_delay_ns(), std::nullopt);
  EXPECT_TRUE(b.stopped());
}

TEST(Backoff, ExponentialDelayIsCapped) {
  Backoff b(policy(BackoffPolicy::Jitter::None, 8, 1.0, 2.0, 10.0));
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{1 * kSecond, 2 * kSecond, 4 * kSecond, 8 * kSecond, 10 * kSecond,
                                                  10 * kSecond, 10 * kSecond, 10 * kSecond}));
}

TEST(Backoff, CapBelowBaseCapsTheFirstDelay) {
  Backoff b(policy(BackoffPolicy::Jitter::None, 2, 5.0, 2.0, 3.0));
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{3 * kSecond, 3 * kSecond}));
}

TEST(Backoff, StopsWhenTotalWouldExceedMaxTotal) {
  auto p = policy(BackoffPolicy::Jitter::None, 10);
  p.max_total_seconds = 7.0;  // 1 + 2 + 4 = 7 fits exactly; + 8 would not
  Backoff b(p);
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{1 * kSecond, 2 * kSecond, 4 * kSecond}));
  EXPECT_EQ(b.total_ns(), 7 * kSecond);
  EXPECT_TRUE(b.stopped());
  EXPECT_EQ(b.attempt(), 3u);
}

TEST(Backoff, TotalJustBelowSumStopsOneEarlier) {
  auto p = policy(BackoffPolicy::Jitter::None, 10);
  p.max_total_seconds = 6.999;
  Backoff b(p);
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{1 * kSecond, 2 * kSecond}));
}

TEST(Backoff, FullJitterStaysWithinBounds) {
  auto p = policy(BackoffPolicy::Jitter::Full, 12, 0.5, 2.0, 20.0);
  Backoff b(p, 42);
  double exp = 0.5;
  for (int i = 0; i < 12; ++i) {
    auto d = b.next_delay_ns();
    ASSERT_TRUE(d.has_value());
    EXPECT_LE(*d, static_cast<std::uint64_t>(std::min(exp, 20.0) * 1e9)) << "attempt " << i;
    exp *= 2.0;
  }
  EXPECT_EQ(b.next_delay_ns(), std::nullopt);
}

TEST(Backoff, FullJitterSpreadsOverTheWholeRange) {
  // Many sequences with different seeds: the first delay (range [0, 1 s]) must reach both
  // the bottom and the top tenth, or the jitter is not "full".
  bool low = false;
  bool high = false;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Backoff b(policy(BackoffPolicy::Jitter::Full, 1), seed);
    const std::uint64_t d = *b.next_delay_ns();
    ASSERT_LE(d, kSecond);
    low = low || d < kSecond / 10;
    high = high || d > kSecond - kSecond / 10;
  }
  EXPECT_TRUE(low);
  EXPECT_TRUE(high);
}

TEST(Backoff, DecorrelatedJitterStaysBetweenBaseAndThreeTimesPreviousAndCap) {
  auto p = policy(BackoffPolicy::Jitter::Decorrelated, 50, 1.0, 2.0, 30.0);
  Backoff b(p, 7);
  double prev = 1.0;
  for (int i = 0; i < 50; ++i) {
    const auto d = b.next_delay_ns();
    ASSERT_TRUE(d.has_value());
    const double s = static_cast<double>(*d) / 1e9;
    EXPECT_GE(s, 1.0 - 1e-9) << "attempt " << i;
    EXPECT_LE(s, std::min(30.0, prev * 3.0) + 1e-9) << "attempt " << i;
    prev = s;
  }
}

TEST(Backoff, DecorrelatedJitterReachesTheCap) {
  Backoff b(policy(BackoffPolicy::Jitter::Decorrelated, 200, 1.0, 2.0, 5.0), 3);
  bool at_cap = false;
  for (auto d : drain(b)) at_cap = at_cap || d == 5 * kSecond;
  EXPECT_TRUE(at_cap);
}

TEST(Backoff, DeterministicForSameSeed) {
  for (auto j : {BackoffPolicy::Jitter::Full, BackoffPolicy::Jitter::Decorrelated}) {
    Backoff a(policy(j, 20), 1234);
    Backoff b(policy(j, 20), 1234);
    EXPECT_EQ(drain(a), drain(b)) << telering::to_string(j);
  }
}

TEST(Backoff, DifferentSeedsGiveDifferentJitter) {
  Backoff a(policy(BackoffPolicy::Jitter::Full, 20), 1);
  Backoff b(policy(BackoffPolicy::Jitter::Full, 20), 2);
  EXPECT_NE(drain(a), drain(b));
}

TEST(Backoff, SplitMix64MatchesReferenceSequence) {
  // Reference values of splitmix64 seeded with 0 (Vigna's splitmix64.c): the jitter stream
  // is pinned, so a replay on another platform or compiler gives the same delays.
  SplitMix64 r(0);
  EXPECT_EQ(r.next(), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(r.next(), 0x6E789E6AA1B965F4ULL);
  EXPECT_EQ(r.next(), 0x06C45D188009454FULL);
}

TEST(Backoff, UnitUniformIsInHalfOpenInterval) {
  SplitMix64 r(99);
  for (int i = 0; i < 10000; ++i) {
    const double u = r.next_unit();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
  }
}

TEST(Backoff, ResetWithSeedReplaysTheSequence) {
  Backoff b(policy(BackoffPolicy::Jitter::Full, 5), 77);
  const auto first = drain(b);
  EXPECT_TRUE(b.stopped());
  b.reset(77);
  EXPECT_FALSE(b.stopped());
  EXPECT_EQ(b.attempt(), 0u);
  EXPECT_EQ(drain(b), first);
}

TEST(Backoff, ResetWithoutSeedRestartsAttemptsWithFreshJitter) {
  Backoff b(policy(BackoffPolicy::Jitter::Full, 5), 77);
  const auto first = drain(b);
  b.reset();
  const auto second = drain(b);
  EXPECT_EQ(second.size(), 5u);
  EXPECT_NE(first, second);
}

TEST(Backoff, HugeDelaysSaturateInsteadOfOverflowing) {
  Backoff b(BackoffPolicy::seed_compatible(100, 10.0));
  std::uint64_t last = 0;
  for (auto d : drain(b)) {
    EXPECT_GE(d, last);
    last = d;
  }
  EXPECT_EQ(last, std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(b.total_ns(), std::numeric_limits<std::uint64_t>::max());
}

TEST(Backoff, InvalidPolicyFieldsAreClampedNotTrusted) {
  BackoffPolicy p = policy(BackoffPolicy::Jitter::None, 2, -5.0, std::numeric_limits<double>::quiet_NaN(), 10.0);
  Backoff b(p);
  EXPECT_EQ(drain(b), (std::vector<std::uint64_t>{0, 0}));
  EXPECT_EQ(b.policy().multiplier, 1.0);
}

TEST(Backoff, ConstexprUsable) {
  constexpr auto first = [] {
    Backoff b(BackoffPolicy::seed_compatible(3, 2.0));
    (void)b.next_delay_ns();
    return *b.next_delay_ns();
  }();
  static_assert(first == 2 * kSecond);
  EXPECT_EQ(first, 2 * kSecond);
}

TEST(Backoff, AllMembersAreNoexcept) {
  Backoff b(BackoffPolicy{});
  static_assert(noexcept(b.next_delay_ns()));
  static_assert(noexcept(b.reset()));
  static_assert(noexcept(Backoff(BackoffPolicy{}, 1)));
  static_assert(noexcept(BackoffPolicy::seed_compatible(3, 2.0)));
  SUCCEED();
}

}  // namespace
