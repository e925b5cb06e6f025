#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "support/test_writer.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/retry.hpp"

namespace telering {
namespace {

struct Fixture {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 256);
  std::vector<std::chrono::nanoseconds> sleeps;
  RetryOptions options() {
    RetryOptions o;
    o.sleep = [this](std::chrono::nanoseconds d) { sleeps.push_back(d); };
    return o;
  }
  std::vector<Record> drain() {
    Drainer d(w.segment());
    std::vector<Record> out;
    for_each_record(d, [&](const Record& r, const RecordSource&) { out.push_back(r); });
    return out;
  }
};

TEST(RetryWithBackoff, SeedDelaysAreBaseToTheAttemptAndFailuresAreRecorded) {
  Fixture f;
  int calls = 0;
  RetryOptions o = f.options();
  o.component = "exchange_api";
  const int result = retry_with_backoff(f.w, "api_connection", o, [&] {
    if (++calls < 4) throw std::runtime_error("connection reset");
    return 7;
  });
  EXPECT_EQ(result, 7);
  EXPECT_EQ(calls, 4);  // max_retries = 3: one call and three retries
  ASSERT_EQ(f.sleeps.size(), 3U);
  EXPECT_EQ(f.sleeps[0], std::chrono::seconds(1));
  EXPECT_EQ(f.sleeps[1], std::chrono::seconds(2));
  EXPECT_EQ(f.sleeps[2], std::chrono::seconds(4));
  int errors = 0, failures = 0, successes = 0;
  for (const Record& r : f.drain()) {
    if (r.kind == RecordKind::Error) {
      ++errors;
      EXPECT_EQ(r.name_id, f.w.names().find(NameKind::ErrorType, "api_connection"));
      EXPECT_EQ(r.aux_id, f.w.names().find(NameKind::Component, "exchange_api"));
      EXPECT_EQ(r.context_view(), "connection reset");
    }
    if (r.kind == RecordKind::CallOutcome) ((r.flags & kFlagFailure) ? failures : successes)++;
  }
  EXPECT_EQ(errors, 3);
  EXPECT_EQ(failures, 3);
  EXPECT_EQ(successes, 1);
}

TEST(RetryWithBackoff, RethrowsTheLastFailureAfterMaxRetries) {
  Fixture f;
  int calls = 0;
  RetryOptions o = f.options();
  o.max_retries = 2;
  EXPECT_THROW(retry_with_backoff(f.w, "api_connection", o, [&]() -> int { throw std::runtime_error("down #" + std::to_string(++calls)); }),
               std::runtime_error);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(f.sleeps.size(), 2U);
}

TEST(RetryWithBackoff, WaitsAtLeastTheReadersBackoffDeadline) {
  Fixture f;
  const NameId type = f.w.error_type("api_rate_limit");
  BoardWriter board(&f.w.segment().board(), f.w.segment().board_entries(), f.w.segment().geometry().name_capacity);
  const std::uint64_t until = monotonic_ns() + 30'000'000'000ULL;
  board.set_backoff(type, f.w.segment().calibration().to_ticks(until), until, 2, 0);
  int calls = 0;
  retry_with_backoff(f.w, "api_rate_limit", f.options(), [&] {
    if (++calls == 1) throw std::runtime_error("429");
  });
  ASSERT_EQ(f.sleeps.size(), 1U);
  EXPECT_GT(f.sleeps[0], std::chrono::seconds(29));  // not the seed's 1 s: the reader said 30 s
  EXPECT_LE(f.sleeps[0], std::chrono::seconds(30));
}

TEST(RetryWithBackoff, OpenBreakerMeansTheCallIsNotMade) {
  Fixture f;
  const NameId component = f.w.component("market_scanner");
  BoardWriter board(&f.w.segment().board(), f.w.segment().board_entries(), f.w.segment().geometry().name_capacity);
  board.set_breaker(component, BreakerState::Open, 0, 0);
  RetryOptions o = f.options();
  o.component = "market_scanner";
  bool called = false;
  EXPECT_THROW(retry_with_backoff(f.w, "scan_failed", o, [&] { called = true; }), BreakerOpenError);
  EXPECT_FALSE(called);
  o.honour_board = false;
  retry_with_backoff(f.w, "scan_failed", o, [&] { called = true; });
  EXPECT_TRUE(called);
}

TEST(RetryWithBackoff, JitteredPolicyStaysWithinItsCap) {
  Fixture f;
  RetryOptions o = f.options();
  o.policy = BackoffPolicy{0.1, 2.0, 0.3, BackoffPolicy::Jitter::Full, 5, 0};
  int calls = 0;
  EXPECT_THROW(retry_with_backoff(f.w, "x", o, [&]() -> int { ++calls; throw std::runtime_error("no"); }), std::runtime_error);
  EXPECT_EQ(calls, 6);
  ASSERT_EQ(f.sleeps.size(), 5U);
  for (auto d : f.sleeps) EXPECT_LE(d, std::chrono::milliseconds(300));
}

}  // namespace
}  // namespace telering
