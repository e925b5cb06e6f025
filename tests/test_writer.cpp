#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/writer.hpp"

namespace telering {
namespace {

WriterOptions options_for(const test::UniqueSegment& seg, SegmentGeometry g = test::small_geometry()) {
  WriterOptions o;
  o.segment = seg.name();
  o.bot = "kucoin-futures-1";
  o.geometry = g;
  o.sample_memory = false;
  return o;
}

std::vector<Record> drain_all(const Segment& segment) {
  Drainer drainer(segment);
  std::vector<Record> out;
  for_each_record(drainer, [&](const Record& r, const RecordSource&) { out.push_back(r); });
  return out;
}

TEST(Writer, RecordsEverySeedCallWithIdsNotStrings) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  EXPECT_EQ(w.scan_time(25.5), RecordResult::Recorded);
  EXPECT_EQ(w.api_call(1.2, "orderbook"), RecordResult::Recorded);
  EXPECT_EQ(w.memory_bytes(256.3 * 1024 * 1024), RecordResult::Recorded);
  EXPECT_EQ(w.error("api_rate_limit", Severity::Medium, "endpoint=/api/v1/market/orderbook", "market_scanner"),
            RecordResult::Recorded);
  EXPECT_EQ(w.warning("slow_fill", "fill took 3s"), RecordResult::Recorded);
  EXPECT_EQ(w.call_outcome("market_scanner", false, 0.25), RecordResult::Recorded);
  EXPECT_EQ(w.counter("orders_sent", 2), RecordResult::Recorded);
  EXPECT_EQ(w.gauge("open_positions", 3), RecordResult::Recorded);
  EXPECT_EQ(w.heartbeat(), RecordResult::Recorded);

  const auto records = drain_all(w.segment());
  ASSERT_EQ(records.size(), 9U);
  const NameId bot = w.bot_id();
  for (const Record& r : records) {
    EXPECT_EQ(r.bot_id, bot);
    EXPECT_EQ(validate_record(r, w.segment().geometry().name_capacity), RecordFault::None);
  }
  EXPECT_EQ(records[0].kind, RecordKind::ScanTime);
  EXPECT_EQ(records[0].value, 25.5);
  EXPECT_EQ(records[1].kind, RecordKind::ApiCall);
  EXPECT_EQ(records[1].name_id, w.names().find(NameKind::Endpoint, "orderbook"));
  EXPECT_EQ(records[3].kind, RecordKind::Error);
  EXPECT_EQ(records[3].severity, Severity::Medium);
  EXPECT_EQ(records[3].name_id, w.names().find(NameKind::ErrorType, "api_rate_limit"));
  EXPECT_EQ(records[3].aux_id, w.names().find(NameKind::Component, "market_scanner"));
  EXPECT_EQ(records[3].context_view(), "endpoint=/api/v1/market/orderbook");
  EXPECT_EQ(records[5].kind, RecordKind::CallOutcome);
  EXPECT_TRUE(records[5].flags & kFlagFailure);
  EXPECT_EQ(records[6].value, 2.0);
  EXPECT_LE(records[0].timestamp, records[8].timestamp);
}

TEST(Writer, FullLaneDropsAndCountsWithoutBlocking) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg, test::small_geometry(2, 16)));
  int recorded = 0, dropped = 0;
  for (int i = 0; i < 100; ++i) {
    const RecordResult r = w.scan_time(1.0);
    recorded += r == RecordResult::Recorded;
    dropped += r == RecordResult::Dropped;
  }
  EXPECT_EQ(recorded, 16);
  EXPECT_EQ(dropped, 84);
  EXPECT_EQ(w.stats().dropped, 84U);
  EXPECT_EQ(drain_all(w.segment()).size(), 16U);
}

TEST(Writer, ThreadExitReleasesItsLane) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  std::uint64_t owner_while_running = 0;
  std::thread t([&] {
    w.heartbeat();
    for (std::uint32_t i = 0; i < w.segment().geometry().lane_count; ++i)
      if (owner_tid(w.segment().lane(i).owner.load()) == current_tid()) owner_while_running = w.segment().lane(i).owner.load();
  });
  t.join();
  EXPECT_NE(owner_while_running, 0U);
  for (std::uint32_t i = 0; i < w.segment().geometry().lane_count; ++i) EXPECT_NE(w.segment().lane(i).owner.load(), owner_while_running);
  EXPECT_EQ(drain_all(w.segment()).size(), 1U);  // its record is still delivered
}

TEST(Writer, ThreadsBeyondLaneCountUseTheSharedLane) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg, test::small_geometry(2, 16)));
  constexpr int kThreads = 4;
  std::vector<RecordResult> results(kThreads);
  std::atomic<int> arrived{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      results[i] = w.scan_time(i);
      arrived.fetch_add(1);
      while (arrived.load() < kThreads) std::this_thread::yield();  // hold the lane until all recorded
    });
  for (auto& t : threads) t.join();
  int own = 0, shared = 0;
  for (RecordResult r : results) {
    own += r == RecordResult::Recorded;
    shared += r == RecordResult::RecordedShared;
  }
  EXPECT_EQ(own, 2);
  EXPECT_EQ(shared, 2);
  EXPECT_EQ(w.segment().header().lane_claim_failures.load(), 2U);
  EXPECT_EQ(drain_all(w.segment()).size(), static_cast<std::size_t>(kThreads));
}

TEST(Writer, ReadsDecisionsFromTheBoard) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  const NameId scanner = w.component("market_scanner");
  const NameId rate_limit = w.error_type("api_rate_limit");
  BoardWriter board(&w.segment().board(), w.segment().board_entries(), w.segment().geometry().name_capacity);
  EXPECT_FALSE(w.breaker_open("market_scanner"));
  board.set_breaker(scanner, BreakerState::Open, 0, 0);
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  EXPECT_TRUE(w.breaker_open(scanner));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Open);
  EXPECT_FALSE(w.breaker_open("unknown_component"));

  EXPECT_FALSE(w.in_backoff("api_rate_limit"));
  const std::uint64_t until_ns = monotonic_ns() + 30'000'000'000ULL;
  board.set_backoff(rate_limit, w.segment().calibration().to_ticks(until_ns), until_ns, 2, 0);
  EXPECT_TRUE(w.in_backoff("api_rate_limit"));
  EXPECT_EQ(w.backoff_until("api_rate_limit"), until_ns);

  board.bump_reset_epoch(scanner, 3, 0);
  EXPECT_EQ(w.reset_epoch("market_scanner"), 1U);
  EXPECT_EQ(w.global_reset_epoch(), 1U);
  board.request_shutdown(true);
  EXPECT_TRUE(w.shutdown_requested());
}

TEST(Writer, ReaderAliveFollowsHeartbeat) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  EXPECT_FALSE(w.reader_alive());
  w.segment().header().reader_heartbeat_ns.store(monotonic_ns());
  EXPECT_TRUE(w.reader_alive());
  w.segment().header().reader_heartbeat_ns.store(monotonic_ns() - 5'000'000'000ULL);
  EXPECT_FALSE(w.reader_alive());
}

// With no live reader nobody moves a decision on, so a bot follows the documented local
// policy: OPEN ends at its deadline, HALF_OPEN lets calls through, FORCED_OPEN holds.
// Today's bug: an OPEN breaker of a dead reader stopped every call for ever.
TEST(Writer, WithoutAReaderAnOpenBreakerEndsAtItsDeadline) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  BoardWriter board(&w.segment().board(), w.segment().board_entries(), w.segment().geometry().name_capacity);
  const NameId c = w.component("market_scanner");
  const auto stale = [&] { w.segment().header().reader_heartbeat_ns.store(monotonic_ns() - 10'000'000'000ULL); };
  const auto live = [&] { w.segment().header().reader_heartbeat_ns.store(monotonic_ns()); };

  board.set_breaker(c, BreakerState::Open, read_ticks() + w.segment().calibration().duration_to_ticks(3'600'000'000'000ULL), 0);
  stale();
  EXPECT_TRUE(w.breaker_open(c));  // before its deadline: open, reader or not
  board.set_breaker(c, BreakerState::Open, read_ticks() - 1, 0);
  live();
  EXPECT_TRUE(w.breaker_open(c));  // past it, a live reader moves it on: still open until then
  stale();
  EXPECT_FALSE(w.breaker_open(c));  // past it with nobody to move it on: callable

  board.set_breaker(c, BreakerState::HalfOpen, 0, 0, pack_probe_slots(0, 1));
  w.segment().probe_slots()[0].breaker_id.store(c);
  w.segment().probe_slots()[0].owner.store(make_owner(1, 1));  // the only permit, held by another
  live();
  EXPECT_TRUE(w.breaker_open(c));  // no permit left for us
  stale();
  EXPECT_FALSE(w.breaker_open(c));  // nobody counts probes without a reader

  board.set_breaker(c, BreakerState::ForcedOpen, 0, 0);
  EXPECT_TRUE(w.breaker_open(c));  // forced open is forced, reader or not
}

TEST(Writer, MemorySamplerReportsResidentSetSize) {
  test::UniqueSegment seg;
  WriterOptions o = options_for(seg);
  o.sample_memory = true;
  Writer w = Writer::attach(o);
  EXPECT_EQ(w.memory(), RecordResult::Recorded);
  const auto records = drain_all(w.segment());
  ASSERT_EQ(records.size(), 1U);
  EXPECT_EQ(records[0].kind, RecordKind::MemorySample);
  EXPECT_GT(records[0].value, 1024.0 * 1024.0);  // a running test process has > 1 MiB resident
}

TEST(Writer, FullNameTableRefusesRecordsAndCountsThem) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(options_for(seg));
  const std::uint32_t capacity = w.segment().geometry().name_capacity;
  for (std::uint32_t i = 0; i < capacity; ++i) (void)w.metric("m" + std::to_string(i));
  EXPECT_EQ(w.counter("does-not-fit"), RecordResult::NoName);
  EXPECT_GE(w.segment().header().name_table_full.load(), 1U);
}

TEST(Writer, DestroyingTheWriterReleasesItsLanes) {
  test::UniqueSegment seg;
  SegmentOptions so = seg.options(test::small_geometry());
  Segment observer = Segment::open(so);
  {
    Writer w = Writer::attach(options_for(seg));
    w.heartbeat();
    std::uint32_t owned = 0;
    for (std::uint32_t i = 0; i < observer.geometry().lane_count; ++i) owned += observer.lane(i).owner.load() != 0;
    EXPECT_EQ(owned, 1U);
  }
  for (std::uint32_t i = 0; i < observer.geometry().lane_count; ++i) EXPECT_EQ(observer.lane(i).owner.load(), 0U);
}

}  // namespace
}  // namespace telering
