#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/report_page.hpp"

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

// A reader SIGKILLed inside BoardWriter::update leaves the entry's version odd. The next
// reader's updates must still end even (parity from the value, not from counting), or every
// bot snapshot of that entry burns its retries and is flagged inconsistent forever.
TEST(DecisionBoard, UpdateAfterAReaderKilledMidUpdateKeepsParity) {
  Board b;
  b.writer.set_breaker(5, BreakerState::Open, 100, 2);
  b.segment.board_entries()[5].version.fetch_add(1);  // killed between its odd and even store
  ASSERT_FALSE(b.reader.snapshot(5).consistent);
  b.writer.set_breaker(5, BreakerState::Closed, 0, 3);
  EXPECT_EQ(b.segment.board_entries()[5].version.load() % 2, 0U);
  const BoardSnapshot s = b.reader.snapshot(5);
  EXPECT_TRUE(s.consistent);
  EXPECT_EQ(s.breaker_state, BreakerState::Closed);
  b.writer.set_breaker(5, BreakerState::Open, 7, 2);  // and stays right afterwards
  EXPECT_TRUE(b.reader.snapshot(5).consistent);
}

TEST(DecisionBoard, NormaliseMakesEveryOddEntryEvenAndNamesIt) {
  Board b;
  b.segment.board_entries()[9].version.store(41);
  b.segment.board_entries()[12].version.store(3);
  const std::vector<NameId> odd = b.writer.normalise_versions();
  EXPECT_EQ(odd, (std::vector<NameId>{9, 12}));
  EXPECT_TRUE(b.reader.snapshot(9).consistent);
  EXPECT_TRUE(b.reader.snapshot(12).consistent);
  EXPECT_TRUE(b.writer.normalise_versions().empty());
}

// Same for the report page: after a publisher died mid-copy, the next publish must be
// readable (today it never read again: health stayed "not published").
TEST(ReportPage, PublishAfterAPublisherKilledMidCopyIsReadable) {
  Board b;
  ReportPage page(&b.segment.report(), b.segment.report_payload(), b.segment.geometry().report_bytes);
  ASSERT_TRUE(page.publish("first", HealthStatus::Healthy, 1));
  b.segment.report().seq.fetch_add(1);  // killed after making seq odd
  ASSERT_TRUE(page.publish("second", HealthStatus::Warning, 2));
  EXPECT_EQ(b.segment.report().seq.load() % 2, 0U);
  ReportPage::Snapshot snap;
  ASSERT_TRUE(page.read(snap));
  EXPECT_EQ(snap.text, "second");
}

// A reader taking over empties a page its predecessor left half-copied: no torn text is
// ever read as a report, and the next publish reads normally.
TEST(ReportPage, NormaliseEmptiesAHalfCopiedPage) {
  Board b;
  ReportPage page(&b.segment.report(), b.segment.report_payload(), b.segment.geometry().report_bytes);
  ASSERT_TRUE(page.publish(std::string(64, 'a'), HealthStatus::Healthy, 1));
  b.segment.report().seq.fetch_add(1);  // killed mid-copy...
  std::memset(b.segment.report_payload(), 'z', 16);  // ...after overwriting part of the text
  page.normalise();
  ReportPage::Snapshot snap;
  EXPECT_FALSE(page.read(snap));
  EXPECT_EQ(b.segment.report().seq.load() % 2, 0U);
  ASSERT_TRUE(page.publish("fresh", HealthStatus::Healthy, 2));
  ASSERT_TRUE(page.read(snap));
  EXPECT_EQ(snap.text, "fresh");
}

}  // namespace
}  // namespace telering
