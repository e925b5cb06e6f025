// telering-stat's library part: a read-only snapshot of a segment, rendered as a table and
// JSON. Values are asserted against what the test wrote; corrupt shared memory must render
// as "corrupt", and taking a snapshot must not change a byte of the segment.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <latch>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/process_info.hpp"
#include "telering/writer.hpp"
#include "tools/segment_stats.hpp"

namespace telering {
namespace {

using reader::SegmentStats;
using reader::StatClock;

constexpr std::uint32_t kLanes = 4;
constexpr std::uint32_t kCapacity = 16;
constexpr int kHolderRecords = 20;  // 16 fit, 4 are dropped (no reader drains)
constexpr int kExitedRecords = 3;

const reader::LaneStats* find_lane_by_tid(const SegmentStats& s, std::uint32_t tid) {
  for (const auto& l : s.lanes)
    if (l.owner_tid == tid) return &l;
  return nullptr;
}

const reader::BoardRow* find_row(const SegmentStats& s, std::string_view name) {
  for (const auto& r : s.board)
    if (r.name == name) return &r;
  return nullptr;
}

// A writer with two recording threads: `holder` keeps its lane until release(); the other
// thread has exited (its lane is free again). Board entries are set as a reader would.
struct Fixture {
  test::UniqueSegment name;
  Writer writer = Writer::attach(options());
  Segment& rw = writer.segment();
  BoardWriter board{&rw.board(), rw.board_entries(), rw.geometry().name_capacity};
  std::latch recorded{1};
  std::latch release_holder{1};
  std::atomic<std::uint32_t> holder_tid{0};
  int holder_recorded = 0;
  int holder_dropped = 0;
  std::thread holder;
  NameId scanner = 0, rate_limit = 0, quiet = 0;
  std::uint64_t now = 0;

  WriterOptions options() const {
    WriterOptions o;
    o.segment = name.name();
    o.bot = "stat-bot";
    o.geometry = test::small_geometry(kLanes, kCapacity);
    o.sample_memory = false;
    return o;
  }

  Fixture() {
    holder = std::thread([this] {
      holder_tid.store(current_tid());
      for (int i = 0; i < kHolderRecords; ++i) {
        const RecordResult r = writer.scan_time(1.0 + i);
        holder_recorded += r == RecordResult::Recorded;
        holder_dropped += r == RecordResult::Dropped;
      }
      recorded.count_down();
      release_holder.wait();
    });
    std::thread([this] {
      for (int i = 0; i < kExitedRecords; ++i) (void)writer.scan_time(2.0);
    }).join();
    recorded.wait();

    scanner = writer.component("market_scanner");
    rate_limit = writer.error_type("api_rate_limit");
    quiet = writer.component("quiet_component");
    now = monotonic_ns();
    const TickCalibration& cal = rw.calibration();
    board.set_breaker(scanner, BreakerState::Open, cal.to_ticks(now + 30'000'000'000ULL), 1);
    board.set_backoff(rate_limit, cal.to_ticks(now + 10'000'000'000ULL), now + 10'000'000'000ULL,
                      static_cast<std::uint8_t>(RecoveryAction::Backoff), 0);
  }
  ~Fixture() {
    release_holder.count_down();
    holder.join();
  }

  // The way telering-stat opens it: a read-only mapping.
  [[nodiscard]] Segment read_only() const {
    SegmentOptions o;
    o.name = name.name();
    o.read_only = true;
    return Segment::open(o);
  }
  [[nodiscard]] StatClock clock() const { return StatClock{now, 1'700'000'000'000'000'000LL}; }
};

TEST(SegmentStats, LaneRowsShowOwnerFillTailAndDrops) {
  Fixture f;
  ASSERT_EQ(f.holder_recorded, static_cast<int>(kCapacity));
  ASSERT_EQ(f.holder_dropped, kHolderRecords - static_cast<int>(kCapacity));
  const Segment ro = f.read_only();
  const SegmentStats s = reader::take_segment_stats(ro, f.clock());

  EXPECT_EQ(s.name, f.name.name());
  EXPECT_EQ(s.layout_version, kLayoutVersion);
  EXPECT_EQ(s.geometry.lane_count, kLanes);
  EXPECT_EQ(s.creator_pid, static_cast<std::uint32_t>(::getpid()));
  ASSERT_EQ(s.lanes.size(), 1U) << "only the holder still owns a lane";
  EXPECT_EQ(s.free_lanes, kLanes - 1);
  EXPECT_EQ(s.free_lanes_with_backlog, 1U) << "the exited thread's lane is free but not drained";
  EXPECT_EQ(s.free_lanes_backlog, static_cast<std::uint64_t>(kExitedRecords));
  const reader::LaneStats* l = find_lane_by_tid(s, f.holder_tid.load());
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->owner_pid, static_cast<std::uint32_t>(::getpid()));
  EXPECT_EQ(l->owner, reader::OwnerState::Alive);
  ASSERT_TRUE(l->fill.has_value());
  EXPECT_EQ(*l->fill, kCapacity);
  EXPECT_EQ(l->tail, kCapacity);
  EXPECT_EQ(l->head, 0U);
  EXPECT_EQ(l->dropped, static_cast<std::uint64_t>(kHolderRecords - kCapacity));
  EXPECT_FALSE(l->corrupt);
  EXPECT_FALSE(l->records_per_s.has_value()) << "one sample: no rate";
  EXPECT_EQ(s.lane_claims, 2U);
  EXPECT_EQ(s.lane_claim_failures, 0U);
  ASSERT_TRUE(s.shared.fill.has_value());
  EXPECT_EQ(*s.shared.fill, 0U);
  EXPECT_TRUE(s.problems.empty()) << s.problems.front();

  // The exited thread's records are still in its (now free) lane: its tail counts them.
  std::uint64_t total = 0;
  for (std::uint64_t t : s.lane_tails) total += t;
  EXPECT_EQ(total, kCapacity + kExitedRecords);
}

TEST(SegmentStats, BoardRowsShowOpenBreakerAndBackoff) {
  Fixture f;
  const Segment ro = f.read_only();
  const SegmentStats s = reader::take_segment_stats(ro, f.clock());
  ASSERT_EQ(s.board.size(), 2U) << "names without a decision are not listed";
  const reader::BoardRow* scanner = find_row(s, "market_scanner");
  ASSERT_NE(scanner, nullptr);
  EXPECT_EQ(scanner->id, f.scanner);
  EXPECT_EQ(scanner->kind, "component");
  EXPECT_EQ(scanner->breaker, "OPEN");
  ASSERT_TRUE(scanner->open_for_s.has_value());
  EXPECT_NEAR(*scanner->open_for_s, 30.0, 0.01);
  EXPECT_FALSE(scanner->backoff_remaining_s.has_value());
  EXPECT_EQ(scanner->decision_seq, 1U);

  const reader::BoardRow* backoff = find_row(s, "api_rate_limit");
  ASSERT_NE(backoff, nullptr);
  EXPECT_EQ(backoff->kind, "error_type");
  EXPECT_EQ(backoff->breaker, "CLOSED");
  EXPECT_EQ(backoff->last_action, "backoff");
  ASSERT_TRUE(backoff->backoff_remaining_s.has_value());
  EXPECT_NEAR(*backoff->backoff_remaining_s, 10.0, 1e-6);
  EXPECT_EQ(backoff->decision_seq, 2U);
  EXPECT_EQ(s.decision_seq, 2U);
  EXPECT_EQ(find_row(s, "quiet_component"), nullptr);

  // An expired backoff with nothing else set is no longer a decision worth a row.
  const SegmentStats later = reader::take_segment_stats(ro, StatClock{f.now + 11'000'000'000ULL, 0});
  const reader::BoardRow* expired = find_row(later, "api_rate_limit");
  ASSERT_NE(expired, nullptr) << "last action BACKOFF keeps the row";
  EXPECT_FALSE(expired->backoff_remaining_s.has_value());

  EXPECT_EQ(s.names.by_kind[static_cast<int>(NameKind::Bot)], 1U);
  EXPECT_EQ(s.names.by_kind[static_cast<int>(NameKind::Component)], 2U);
  EXPECT_EQ(s.names.by_kind[static_cast<int>(NameKind::ErrorType)], 1U);
  EXPECT_EQ(s.names.used(), 4U);
  EXPECT_EQ(s.names.corrupt, 0U);
}

TEST(SegmentStats, HealthIsUnknownWithoutAFreshHeartbeat) {
  Fixture f;
  const Segment ro = f.read_only();
  f.board.set_overall_health(HealthStatus::Warning);

  SegmentStats s = reader::take_segment_stats(ro, f.clock());
  EXPECT_EQ(s.reader, reader::ReaderState::NoReader);
  EXPECT_EQ(s.reader_text, "no reader");
  EXPECT_EQ(s.overall_health, "UNKNOWN") << "never the board's value without a live reader";
  EXPECT_EQ(s.health_reason, "no reader has attached to the segment");
  EXPECT_FALSE(s.heartbeat_age_s.has_value());

  SegmentHeader& h = f.rw.header();
  h.reader_heartbeat_ns.store(f.now - 50'000'000ULL);  // 50 ms ago, no pid published
  s = reader::take_segment_stats(ro, f.clock());
  EXPECT_EQ(s.reader, reader::ReaderState::Alive);
  EXPECT_EQ(s.overall_health, "WARNING");
  EXPECT_TRUE(s.health_reason.empty());
  ASSERT_TRUE(s.heartbeat_age_s.has_value());
  EXPECT_NEAR(*s.heartbeat_age_s, 0.05, 1e-9);

  h.reader_start_time.store(current_process_start_time());
  h.reader_pid.store(current_pid());
  f.board.set_overall_health(HealthStatus::Critical);
  s = reader::take_segment_stats(ro, f.clock());
  EXPECT_EQ(s.reader, reader::ReaderState::Alive);
  EXPECT_EQ(s.reader_pid, current_pid());
  EXPECT_NE(s.reader_text.find("pid " + std::to_string(current_pid()) + " alive"), std::string::npos) << s.reader_text;
  EXPECT_EQ(s.overall_health, "CRITICAL");

  // Same pid, heartbeat 12.3 s old: the reader is hung; health is UNKNOWN with the reason.
  s = reader::take_segment_stats(ro, StatClock{f.now - 50'000'000ULL + 12'300'000'000ULL, 0});
  EXPECT_EQ(s.reader, reader::ReaderState::Stalled);
  EXPECT_EQ(s.overall_health, "UNKNOWN");
  EXPECT_EQ(s.health_reason, "no live reader: heartbeat 12.3 s old");

  // Reader detached (pid 0), heartbeat stale.
  h.reader_pid.store(0);
  s = reader::take_segment_stats(ro, StatClock{f.now + 12'250'000'000ULL, 0});
  EXPECT_EQ(s.reader, reader::ReaderState::Stopped);
  EXPECT_EQ(s.reader_text, "reader stopped (heartbeat 12.3 s old)");

  // A reader pid whose start time does not match the running process: the reader died and
  // its pid was reused, so it is dead, not alive.
  h.reader_pid.store(current_pid());
  h.reader_start_time.store(current_process_start_time() + 12345);
  s = reader::take_segment_stats(ro, f.clock());
  EXPECT_EQ(s.reader, reader::ReaderState::Dead);
  EXPECT_EQ(s.overall_health, "UNKNOWN");
  EXPECT_NE(s.reader_text.find("reader dead"), std::string::npos) << s.reader_text;
}

TEST(SegmentStats, JsonCarriesTheSameValues) {
  Fixture f;
  const Segment ro = f.read_only();
  const SegmentStats s = reader::take_segment_stats(ro, f.clock());
  const nlohmann::json j = reader::to_json(s);
  // Round-trips through text: what telering-stat --json prints parses back.
  const nlohmann::json k = nlohmann::json::parse(j.dump());
  EXPECT_EQ(k["segment"], f.name.name());
  EXPECT_EQ(k["reader"]["state"], "no_reader");
  EXPECT_EQ(k["overall_health"], "UNKNOWN");
  EXPECT_EQ(k["health_reason"], s.health_reason);
  EXPECT_EQ(k["shutdown_requested"], false);
  EXPECT_EQ(k["free_lanes"], kLanes - 1);
  ASSERT_EQ(k["lanes"].size(), 1U);
  const auto& lane = k["lanes"][0];
  EXPECT_EQ(lane["owner_pid"], ::getpid());
  EXPECT_EQ(lane["owner_tid"], f.holder_tid.load());
  EXPECT_EQ(lane["owner"], "alive");
  EXPECT_EQ(lane["owner_alive"], true);
  EXPECT_EQ(lane["fill"], kCapacity);
  EXPECT_DOUBLE_EQ(lane["fill_pct"].get<double>(), 100.0);
  EXPECT_EQ(lane["tail"], kCapacity);
  EXPECT_EQ(lane["dropped"], kHolderRecords - kCapacity);
  EXPECT_TRUE(lane["records_per_s"].is_null());
  ASSERT_EQ(k["board"].size(), 2U);
  for (const auto& row : k["board"]) {
    if (row["name"] == "market_scanner") {
      EXPECT_EQ(row["breaker"], "OPEN");
      EXPECT_NEAR(row["open_for_s"].get<double>(), 30.0, 0.01);
      EXPECT_TRUE(row["backoff_remaining_s"].is_null());
    } else {
      EXPECT_EQ(row["name"], "api_rate_limit");
      EXPECT_EQ(row["last_action"], "backoff");
      EXPECT_NEAR(row["backoff_remaining_s"].get<double>(), 10.0, 1e-6);
    }
  }
  EXPECT_EQ(k["names"]["component"], 2);
  EXPECT_EQ(k["names"]["bot"], 1);
  EXPECT_EQ(k["counters"]["decision_seq"], 2);
  EXPECT_TRUE(k["problems"].empty());
}

TEST(SegmentStats, TableShowsLanesBoardAndReader) {
  Fixture f;
  const Segment ro = f.read_only();
  const std::string t = reader::format_table(reader::take_segment_stats(ro, f.clock()));
  EXPECT_NE(t.find("reader    no reader"), std::string::npos) << t;
  EXPECT_NE(t.find("health    UNKNOWN (no reader has attached to the segment)"), std::string::npos) << t;
  EXPECT_NE(t.find("LANES  1 claimed, 3 free (1 of them still holds 3 undrained records)"), std::string::npos) << t;
  EXPECT_NE(t.find("16/16"), std::string::npos) << t;
  EXPECT_NE(t.find("market_scanner"), std::string::npos) << t;
  EXPECT_NE(t.find("OPEN"), std::string::npos) << t;
  EXPECT_NE(t.find("backoff"), std::string::npos) << t;
  EXPECT_EQ(t.find("CORRUPT"), std::string::npos) << t;
  EXPECT_EQ(t.find('\x1b'), std::string::npos) << "the table itself carries no terminal codes";
}

TEST(SegmentStats, RatesComeFromTailGrowthBetweenSamples) {
  SegmentStats before;
  before.taken.mono_ns = 1'000'000'000;
  before.lane_tails = {10, 0, 7};
  before.shared.tail = 100;
  SegmentStats after;
  after.taken.mono_ns = 3'000'000'000;  // 2 s later
  const auto lane = [](std::uint32_t index, std::uint64_t tail) {
    reader::LaneStats l;
    l.index = index;
    l.tail = tail;
    return l;
  };
  after.lanes.push_back(lane(0, 30));
  after.lanes.push_back(lane(2, 7));
  after.lanes.push_back(lane(9, 5));  // not in the previous sample
  after.shared.tail = 140;
  reader::compute_rates(after, before);
  ASSERT_TRUE(after.lanes[0].records_per_s.has_value());
  EXPECT_DOUBLE_EQ(*after.lanes[0].records_per_s, 10.0);
  EXPECT_DOUBLE_EQ(*after.lanes[1].records_per_s, 0.0);
  EXPECT_FALSE(after.lanes[2].records_per_s.has_value());
  EXPECT_DOUBLE_EQ(*after.shared.records_per_s, 20.0);
}

TEST(SegmentStats, CorruptValuesRenderAsCorruptWithoutCrashing) {
  Fixture f;
  Segment& rw = f.rw;
  const std::uint32_t holder_lane = [&] {
    for (std::uint32_t i = 0; i < kLanes; ++i)
      if (owner_tid(rw.lane(i).owner.load()) == f.holder_tid.load()) return i;
    return kLanes;
  }();
  ASSERT_LT(holder_lane, kLanes);
  const std::uint32_t bad_lane = (holder_lane + 1) % kLanes;
  // A free lane claimed by an impossible owner, its tail far beyond its head.
  rw.lane(bad_lane).owner.store(make_owner(4'000'000'000U, 7));
  rw.lane(bad_lane).tail.store(5'000'000);
  rw.lane(bad_lane).head.store(3);
  // The shared lane's head ahead of its tail.
  rw.mpsc().head.store(99);
  // A name whose length is out of range, with a breaker state out of range on its entry.
  const NameId victim = f.writer.component("victim");
  rw.names()[victim].length = 200;
  rw.board_entries()[victim].breaker_state.store(99);
  rw.board_entries()[victim].last_action.store(42);
  // A name with an impossible kind; one with an impossible state; a terminal escape in a name.
  const NameId odd = f.writer.metric("odd_kind");
  rw.names()[odd].tag.store(name_tag(kNameReady, static_cast<NameKind>(77), name_hash(NameKind::Metric, "odd_kind")));
  const NameId limbo = f.writer.metric("limbo");
  rw.names()[limbo].tag.store(name_tag(7, NameKind::Metric, 0));
  const NameId escape = f.writer.component("evil\x1b[2Jname");
  f.board.set_breaker(escape, BreakerState::HalfOpen, 0, 0);
  // A breaker whose open-until is absurd, and board words out of range.
  f.board.set_breaker(f.scanner, BreakerState::Open, ~std::uint64_t{0} / 2, 1);
  f.board.set_overall_health(static_cast<HealthStatus>(9));
  rw.board().shutdown_requested.store(5);
  rw.header().reader_heartbeat_ns.store(f.now);

  const Segment ro = f.read_only();
  const SegmentStats s = reader::take_segment_stats(ro, f.clock());
  ASSERT_EQ(s.lanes.size(), 2U);
  const auto bad = std::find_if(s.lanes.begin(), s.lanes.end(), [&](const auto& l) { return l.index == bad_lane; });
  ASSERT_NE(bad, s.lanes.end());
  EXPECT_EQ(bad->owner, reader::OwnerState::Corrupt);
  EXPECT_TRUE(bad->corrupt);
  EXPECT_FALSE(bad->fill.has_value());
  EXPECT_TRUE(s.shared.corrupt);
  EXPECT_FALSE(s.shared.fill.has_value());

  const reader::BoardRow* v = find_row(s, "<corrupt name #" + std::to_string(victim) + ">");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->breaker, "corrupt");
  EXPECT_EQ(v->last_action, "corrupt");
  const reader::BoardRow* scanner = find_row(s, "market_scanner");
  ASSERT_NE(scanner, nullptr);
  EXPECT_TRUE(scanner->open_until_corrupt);
  EXPECT_FALSE(scanner->open_for_s.has_value());
  EXPECT_NE(find_row(s, "evil\xEF\xBF\xBD[2Jname"), nullptr) << "non-printable bytes are replaced (U+FFFD, safe_text.hpp)";
  EXPECT_EQ(s.names.corrupt, 3U);  // victim (length), odd_kind (kind), limbo (state)
  EXPECT_EQ(s.overall_health, "corrupt");
  EXPECT_FALSE(s.shutdown_requested.has_value());
  EXPECT_GE(s.problems.size(), 9U);

  const std::string t = reader::format_table(s);
  EXPECT_NE(t.find("CORRUPT"), std::string::npos);
  EXPECT_NE(t.find("length 200 out of range"), std::string::npos) << t;
  EXPECT_NE(t.find("breaker state 99 out of range"), std::string::npos) << t;
  EXPECT_NE(t.find("tail 5000000 is 4999997 records ahead of head 3 (capacity 16)"), std::string::npos) << t;
  EXPECT_EQ(t.find('\x1b'), std::string::npos) << "no escape from a name reaches the terminal";
  const nlohmann::json j = reader::to_json(s);
  EXPECT_NO_THROW((void)j.dump());
  EXPECT_EQ(j["shutdown_requested"], "corrupt");
  EXPECT_EQ(j["overall_health"], "corrupt");

  rw.lane(bad_lane).owner.store(0);  // let the Writer shut down normally
}

TEST(SegmentStats, SnapshotDoesNotModifyTheSegment) {
  Fixture f;
  f.rw.header().reader_heartbeat_ns.store(f.now);
  const std::vector<std::byte> before(f.rw.base(), f.rw.base() + f.rw.size());
  const Segment ro = f.read_only();
  const SegmentStats s = reader::take_segment_stats(ro);
  (void)reader::format_table(s);
  (void)reader::to_json(s).dump();
  ASSERT_EQ(ro.size(), before.size());
  EXPECT_EQ(std::memcmp(before.data(), ro.base(), before.size()), 0);
  EXPECT_EQ(std::memcmp(before.data(), f.rw.base(), before.size()), 0);
}

}  // namespace
}  // namespace telering
