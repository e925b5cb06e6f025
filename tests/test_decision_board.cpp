#include <gtest/gtest.h>

#include <thread>

#include "support/unique_segment.hpp"
#include "telering/decision_board.hpp"
#include "telering/report_page.hpp"

namespace telering {
namespace {

struct Board {
  test::UniqueSegment name;
  Segment segment = Segment::open(name.options(test::small_geometry()));
  BoardWriter writer{&segment.board(), segment.board_entries(), segment.geometry().name_capacity};
  BoardReader reader = writer.reader();
};

TEST(DecisionBoard, BreakerStateReachesReaders) {
  Board b;
  EXPECT_FALSE(b.reader.breaker_open(5));
  EXPECT_EQ(b.reader.breaker_state(5), BreakerState::Closed);
  const std::uint64_t seq = b.writer.set_breaker(5, BreakerState::Open, 1234, 2);
  EXPECT_TRUE(b.reader.breaker_open(5));
  const BoardSnapshot s = b.reader.snapshot(5);
  EXPECT_EQ(s.breaker_state, BreakerState::Open);
  EXPECT_EQ(s.open_until_ticks, 1234U);
  EXPECT_EQ(s.rule, 2);
  EXPECT_EQ(s.decision_seq, seq);
  EXPECT_EQ(b.reader.decision_seq(), seq);
  b.writer.set_breaker(5, BreakerState::ForcedOpen, 0, 3);
  EXPECT_TRUE(b.reader.breaker_open(5));
  b.writer.set_breaker(5, BreakerState::HalfOpen, 0, 4);
  EXPECT_FALSE(b.reader.breaker_open(5));
  EXPECT_FALSE(b.reader.breaker_open(6));  // other entries untouched
}

TEST(DecisionBoard, BackoffEpochsHealthAndShutdown) {
  Board b;
  b.writer.set_backoff(9, 1000, 5000, 2, 1);
  EXPECT_TRUE(b.reader.in_backoff(9, 999));
  EXPECT_FALSE(b.reader.in_backoff(9, 1000));
  EXPECT_EQ(b.reader.snapshot(9).backoff_until_ns, 5000U);
  EXPECT_EQ(b.reader.reset_epoch(9), 0U);
  b.writer.bump_reset_epoch(9, 3, 0);
  b.writer.bump_reset_epoch(10, 3, 0);
  EXPECT_EQ(b.reader.reset_epoch(9), 1U);
  EXPECT_EQ(b.reader.global_reset_epoch(), 2U);
  EXPECT_FALSE(b.reader.shutdown_requested());
  b.writer.request_shutdown(true);
  EXPECT_TRUE(b.reader.shutdown_requested());
  b.writer.set_overall_health(HealthStatus::Critical);
  EXPECT_EQ(b.reader.overall_health(), HealthStatus::Critical);
}

TEST(DecisionBoard, SnapshotIsConsistentUnderConcurrentUpdates) {
  Board b;
  std::atomic<bool> stop{false};
  std::thread updater([&] {
    for (std::uint64_t i = 1; !stop.load(std::memory_order_relaxed); ++i)
      b.writer.update(3, [&](BoardEntry& e) {
        e.open_until_ticks.store(i, std::memory_order_release);
        e.backoff_until_ticks.store(i, std::memory_order_release);
        e.backoff_until_ns.store(i, std::memory_order_release);
      });
  });
  for (int i = 0; i < 100000; ++i) {
    const BoardSnapshot s = b.reader.snapshot(3);
    if (!s.consistent) continue;  // said so: never a silent mix
    ASSERT_EQ(s.open_until_ticks, s.backoff_until_ticks);
    ASSERT_EQ(s.open_until_ticks, s.backoff_until_ns);
  }
  stop = true;
  updater.join();
  const BoardSnapshot quiet = b.reader.snapshot(3);
  EXPECT_TRUE(quiet.consistent);
  EXPECT_EQ(quiet.open_until_ticks, quiet.backoff_until_ns);
}

TEST(ReportPage, PublishesAndReadsBack) {
  Board b;
  ReportPage page(&b.segment.report(), b.segment.report_payload(), b.segment.geometry().report_bytes);
  ReportPage::Snapshot snap;
  EXPECT_FALSE(page.read(snap));  // nothing published yet
  ASSERT_TRUE(page.publish(R"({"overall_status":"WARNING"})", HealthStatus::Warning, 77));
  ASSERT_TRUE(page.read(snap));
  EXPECT_EQ(snap.text, R"({"overall_status":"WARNING"})");
  EXPECT_EQ(snap.overall, HealthStatus::Warning);
  EXPECT_EQ(snap.published_mono_ns, 77U);
  EXPECT_FALSE(page.publish(std::string(page.capacity() + 1, 'x'), HealthStatus::Healthy, 1));
  ASSERT_TRUE(page.read(snap));
  EXPECT_EQ(snap.text, R"({"overall_status":"WARNING"})");  // a refused publish changes nothing
}

TEST(ReportPage, ReadersNeverSeeAMixOfTwoReports) {
  Board b;
  ReportPage page(&b.segment.report(), b.segment.report_payload(), b.segment.geometry().report_bytes);
  const std::string a(3000, 'a'), z(5000, 'z');
  page.publish(a, HealthStatus::Healthy, 1);
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < 3001; ++i) page.publish(i % 2 ? a : z, HealthStatus::Healthy, 1);
    done = true;
  });
  while (!done.load()) {
    ReportPage::Snapshot snap;
    if (!page.read(snap)) continue;  // said so: no copy rather than a torn one
    ASSERT_TRUE(snap.text == a || snap.text == z);
  }
  publisher.join();
  ReportPage::Snapshot last;
  ASSERT_TRUE(page.read(last));
  EXPECT_EQ(last.text, z);  // the 3001st publish (i = 3000) is z
}

}  // namespace
}  // namespace telering
