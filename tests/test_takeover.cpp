// A reader taking over a segment: exactly one reader at a time (the OFD lock), a board left
// by a previous reader reconciled (nothing stays OPEN with nobody to end it), seqlocks a
// killed reader left odd, a header rewritten after attach, a segment truncated or replaced
// under a running reader, and deadlines that do not drift with the segment's age.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/interprocess/shared_memory_object.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

#include "loop/reader_loop.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/reader_lock.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr const char* kComponent = "market_scanner";

ReaderConfig quick_breaker_config(double wait_seconds = 2.0) {
  ReaderConfig c;
  BreakerConfig b;
  b.minimum_number_of_calls = 4;
  b.sliding_window_size = 4;
  b.wait_duration_in_open = wait_seconds;
  c.breakers.emplace(kComponent, b);
  return c;
}

ReaderOptions quiet() {
  ReaderOptions o;
  o.print = [](const std::string&) {};
  return o;
}

// A bot on a fresh segment; readers come and go around it.
struct Host {
  test::UniqueSegment shm;
  Writer w = [this] {
    WriterOptions o;
    o.segment = shm.name();
    o.geometry = test::small_geometry(4, 256);
    o.sample_memory = false;
    return Writer::attach(o);
  }();
  Segment& segment() { return w.segment(); }
  NameId component() { return w.component(kComponent); }
  BoardSnapshot entry() { return w.board().snapshot(component()); }
  // A second mapping of the same segment: a second reader process would have its own.
  Segment attach() {
    SegmentOptions o;
    o.name = shm.name();
    o.create = false;
    return Segment::open(o);
  }
};

// Drives a loop until `done` or a bounded number of turns, with time moving by `step`.
template <typename Done>
bool turn_until(ReaderLoop& loop, std::uint64_t& now, std::uint64_t step, Done done) {
  for (int i = 0; i < 1000; ++i) {
    loop.turn(now);
    if (done()) return true;
    now += step;
  }
  return false;
}

// --- one reader per segment ------------------------------------------------------------

TEST(ReaderTakeover, SecondReaderOfASegmentIsRefusedEvenInTheSameProcess) {
  Host h;
  Segment first = h.attach();
  Segment second = h.attach();
  ReaderLoop one(first, ReaderConfig{}, quiet());
  try {
    ReaderLoop two(second, ReaderConfig{}, quiet());
    FAIL() << "two readers run on one segment";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("already has a live telering-reader"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(ReaderLock::held(h.segment()));
}

TEST(ReaderTakeover, LockOfAKilledReaderIsFreeAtOnce) {
  Host h;
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Segment s = h.attach();
    ReaderLock lock(s);
    ::pause();  // killed here, holding the lock
    ::_exit(0);
  }
  // Bounded wait for the child to take the lock, then kill it.
  bool taken = false;
  for (int i = 0; i < 2000 && !(taken = ReaderLock::held(h.segment())); ++i) ::usleep(1000);
  ASSERT_TRUE(taken);
  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  Segment mine = h.attach();
  EXPECT_NO_THROW(ReaderLock{mine});
}

// The reader's segment was removed and a new one made under its name (a reader stalled
// while an operator replaced it): at its next check it stops instead of serving a segment
// no new bot can find.
TEST(ReaderTakeover, ReaderWhoseSegmentWasReplacedStopsAtItsNextCheck) {
  Host h;
  Segment mine = h.attach();
  ReaderLoop loop(mine, ReaderConfig{}, quiet());
  std::uint64_t now = monotonic_ns();
  loop.turn(now);
  ASSERT_TRUE(Segment::remove(h.shm.name()));
  SegmentOptions o;
  o.name = h.shm.name();
  o.geometry = test::small_geometry(4, 256);
  Segment replacement = Segment::open(o);
  ASSERT_TRUE(replacement.created());
  try {
    turn_until(loop, now, 100'000'000, [] { return false; });
    FAIL() << "the reader kept serving a replaced segment";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("removed and created anew"), std::string::npos) << e.what();
  }
}

// --- a board left by a previous reader -----------------------------------------------------

// The previous reader tripped a breaker and was SIGKILLed; the new one has no state file.
// Today's bug: the entry stayed OPEN for ever and well-behaved bots never called again.
TEST(ReaderTakeover, OpenBreakerOfAKilledReaderIsAdoptedAndProbesAtItsDeadline) {
  Host h;
  {
    Segment s = h.attach();
    ReaderLoop previous(s, quick_breaker_config(), quiet());
    for (int i = 0; i < 4; ++i) h.w.call_outcome(kComponent, false, 0.1);
    std::uint64_t now = monotonic_ns();
    ASSERT_TRUE(turn_until(previous, now, 1'000'000, [&] { return h.entry().breaker_state == BreakerState::Open; }));
  }  // no state file: its decisions are only on the board
  ASSERT_EQ(h.entry().breaker_state, BreakerState::Open);
  const std::uint64_t deadline_ns = h.segment().calibration().to_ns(h.entry().open_until_ticks);

  Segment s = h.attach();
  ReaderLoop next(s, quick_breaker_config(), quiet());
  EXPECT_EQ(h.entry().breaker_state, BreakerState::Open);  // adopted, not silently closed
  EXPECT_EQ(h.entry().rule, static_cast<std::uint8_t>(BreakerRule::Takeover));
  const std::uint64_t adopted_until = h.segment().calibration().to_ns(h.entry().open_until_ticks);
  EXPECT_LT(adopted_until > deadline_ns ? adopted_until - deadline_ns : deadline_ns - adopted_until, 50'000'000U);
  std::uint64_t now = monotonic_ns();
  EXPECT_TRUE(turn_until(next, now, 100'000'000, [&] { return h.entry().breaker_state == BreakerState::HalfOpen; }))
      << "the adopted breaker never went HALF_OPEN";
  // and the new reader's probes close it
  h.segment().header().reader_heartbeat_ns.store(monotonic_ns());
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(h.w.breaker_open(h.component()));
    h.w.call_outcome(kComponent, true, 0.1);
  }
  EXPECT_TRUE(turn_until(next, now, 1'000'000, [&] { return h.entry().breaker_state == BreakerState::Closed; }));
}

TEST(ReaderTakeover, ForcedOpenWithNobodyToEndItIsClosedAndSaid) {
  Host h;
  BoardWriter board(&h.segment().board(), h.segment().board_entries(), h.segment().geometry().name_capacity);
  board.set_breaker(h.component(), BreakerState::ForcedOpen, 0, static_cast<std::uint8_t>(BreakerRule::Forced));
  Segment s = h.attach();
  ReaderLoop loop(s, quick_breaker_config(), quiet());
  EXPECT_EQ(h.entry().breaker_state, BreakerState::Closed);
  bool said = false;
  for (const DecisionEvent& d : loop.engine().take_decisions())
    said = said || (d.rule == "takeover" && d.what.find("FORCED_OPEN -> CLOSED") != std::string::npos);
  EXPECT_TRUE(said);
}

TEST(ReaderTakeover, BackoffsRunToTheirDeadlineUnlessItIsUnreasonablyFar) {
  Host h;
  BoardWriter board(&h.segment().board(), h.segment().board_entries(), h.segment().geometry().name_capacity);
  const TickCalibration& cal = h.segment().calibration();
  const std::uint64_t now = monotonic_ns();
  const NameId rate_limit = h.w.error_type("api_rate_limit");
  const NameId outage = h.w.error_type("exchange_outage");
  board.set_backoff(rate_limit, cal.to_ticks(now + 30 * kSecond), now + 30 * kSecond, 2, 34);
  board.set_backoff(outage, cal.to_ticks(now + 3650ULL * 24 * 3600 * kSecond), now + 3650ULL * 24 * 3600 * kSecond, 2, 65);
  Segment s = h.attach();
  ReaderLoop loop(s, ReaderConfig{}, quiet());
  EXPECT_TRUE(h.w.in_backoff("api_rate_limit"));   // 30 s: runs to its deadline
  EXPECT_FALSE(h.w.in_backoff("exchange_outage"));  // ten years with nobody to lift it: lifted
}

// A reader killed inside a board update left the entry odd and half-written.
TEST(ReaderTakeover, EntryLeftHalfWrittenIsRewrittenWhole) {
  Host h;
  BoardWriter board(&h.segment().board(), h.segment().board_entries(), h.segment().geometry().name_capacity);
  board.set_breaker(h.component(), BreakerState::Open, 0, 0);
  h.segment().board_entries()[h.component()].version.fetch_add(1);  // killed mid-update
  h.segment().board_entries()[h.component()].breaker_state.store(77);  // with a byte no reader writes
  ASSERT_FALSE(h.entry().consistent);
  Segment s = h.attach();
  ReaderLoop loop(s, quick_breaker_config(), quiet());
  const BoardSnapshot e = h.entry();
  EXPECT_TRUE(e.consistent);
  EXPECT_EQ(e.breaker_state, BreakerState::Closed);
}

TEST(ReaderTakeover, ReportPageLeftHalfCopiedIsNotReadAsAReport) {
  Host h;
  ReportPage page(&h.segment().report(), h.segment().report_payload(), h.segment().geometry().report_bytes);
  ASSERT_TRUE(page.publish(R"({"overall_status":"HEALTHY"})", HealthStatus::Healthy, monotonic_ns()));
  h.segment().report().seq.fetch_add(1);  // killed mid-copy
  {
    Segment s = h.attach();
    ReaderLoop loop(s, ReaderConfig{}, quiet());
    std::uint64_t now = monotonic_ns();
    loop.turn(now);
    h.segment().header().reader_heartbeat_ns.store(monotonic_ns());
    const std::string report = h.w.run_full_health_check();
    EXPECT_EQ(report.find("not published"), std::string::npos) << report;  // the new reader's report reads
    EXPECT_NE(report.find("\"components\""), std::string::npos) << report;
    EXPECT_EQ(h.segment().report().seq.load() % 2, 0U);
  }
}

// --- the header and the mapping -----------------------------------------------------------

// A writer rewrites lane_count (and the MPSC geometry) after the reader attached: the reader
// keeps the geometry it validated, restores the header, and a restarted reader attaches.
TEST(ReaderTakeover, HeaderRewrittenAfterAttachIsIgnoredAndRestored) {
  Host h;
  Segment s = h.attach();
  ReaderLoop loop(s, ReaderConfig{}, quiet());
  SegmentIdentity& live = h.segment().header().identity;
  live.geometry.lane_count = 4000;
  live.geometry.mpsc_capacity = 1U << 24;
  live.geometry.report_bytes = 64U << 20;
  EXPECT_EQ(s.geometry().lane_count, 4U);  // the copy validated at attach
  EXPECT_EQ(s.identity_changed().rfind("lane_count: segment=4000 attached=4", 0), 0U) << s.identity_changed();
  std::uint64_t now = monotonic_ns();
  h.w.scan_time(1.0);
  for (int i = 0; i < 5; ++i) loop.turn(now += 300'000'000);  // past a check interval
  EXPECT_EQ(loop.identity_repairs(), 1U);
  EXPECT_EQ(live.geometry.lane_count, 4U);
  EXPECT_EQ(s.identity_changed(), "");
  EXPECT_NO_THROW((void)h.attach());  // a restarted reader would attach
}

// A writer ftruncates the segment to a quarter: the reader stops with a message instead of
// dying of SIGBUS.
TEST(ReaderTakeover, TruncatedSegmentStopsTheReaderWithAMessageNotASignal) {
  Host h;
  Segment s = h.attach();
  ReaderLoop loop(s, ReaderConfig{}, quiet());
  {
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, h.shm.name().c_str(), bip::read_write);
    shm.truncate(static_cast<bip::offset_t>(s.size() / 4));
  }
  std::uint64_t now = monotonic_ns();
  try {
    turn_until(loop, now, 50'000'000, [] { return false; });
    FAIL() << "the reader kept using a truncated segment";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
}

TEST(TruncationGuard, FaultPastTheEndOfAGuardedMappingIsCaughtAndReadsZeros) {
  Host h;
  Segment s = h.attach();
  TruncationGuard guard(s.base(), s.size());
  {
    namespace bip = boost::interprocess;
    bip::shared_memory_object shm(bip::open_only, h.shm.name().c_str(), bip::read_write);
    shm.truncate(4096);
  }
  EXPECT_FALSE(guard.tripped());
  const auto* far = reinterpret_cast<const volatile std::uint64_t*>(s.base() + s.size() - 64);
  EXPECT_EQ(*far, 0U);  // SIGBUS without the guard
  EXPECT_TRUE(guard.tripped());
}

// --- deadlines do not drift with the segment's age ---------------------------------------

// The segment was created long ago and its 20 ms calibration was 0.1 % off (NTP slews
// CLOCK_MONOTONIC, the TSC runs on): converting "now + 30 s" from the creation base put the
// deadline early by age x 0.1 % (86 s after a day). The reader converts around a fresh anchor
// instead: 30 s x 0.1 % = 30 ms at worst before it has measured the rate itself.
TEST(ReaderTakeover, BackoffDeadlineInTicksDoesNotDriftWithTheSegmentsAge) {
  if (!ticks_are_tsc()) GTEST_SKIP() << "ticks are nanoseconds here: nothing to drift";
  const ClockSample now = sample_clocks();
  const std::uint64_t age = std::min<std::uint64_t>(86'400 * kSecond, now.ns / 10 * 9);  // as old as the machine allows
  if (age < 600 * kSecond) GTEST_SKIP() << "this machine booted too recently to age a segment";
  Host h;
  const TickCalibration truth = calibrate_ticks(std::chrono::milliseconds(50));
  TickCalibration aged;
  aged.ns_per_tick = truth.ns_per_tick * (1.0 + 1e-3);
  aged.mono_base_ns = now.ns - age;
  aged.tick_base = now.ticks - static_cast<std::uint64_t>(static_cast<double>(age) / truth.ns_per_tick);
  std::memcpy(&h.segment().header().identity.calibration, &aged, sizeof aged);  // as if created then
  Segment s = h.attach();
  ReaderLoop loop(s, ReaderConfig{}, quiet());
  h.w.error("api_rate_limit", Severity::Medium, "429");  // built-in: BACKOFF 30 s
  std::uint64_t t = monotonic_ns();
  const NameId type = h.w.error_type("api_rate_limit");
  ASSERT_TRUE(turn_until(loop, t, 1'000'000, [&] { return h.w.board().backoff_until_ticks(type) != 0; }));
  const ClockSample after = sample_clocks();
  const std::uint64_t ticks = h.w.board().backoff_until_ticks(type);
  const double seconds_left = static_cast<double>(static_cast<std::int64_t>(ticks - after.ticks)) * truth.ns_per_tick / 1e9;
  const double wanted = static_cast<double>(h.w.board().snapshot(type).backoff_until_ns - after.ns) / 1e9;
  EXPECT_NEAR(seconds_left, wanted, 0.25) << "deadline in ticks drifted from the one in ns";
}

// --- accounting across a reader crash ---------------------------------------------------

TEST(ReaderTakeover, RecordsAKilledReaderDrainedAfterItsLastSnapshotAreCounted) {
  Host h;
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("telering-lost-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ReaderConfig config;
  config.state_file = (dir / "reader.state").string();
  std::uint64_t now = monotonic_ns();
  {
    ReaderLoop killed(h.segment(), config, quiet());
    for (int i = 0; i < 10; ++i) ASSERT_EQ(h.w.scan_time(1.0), RecordResult::Recorded);
    killed.drain_all(now);
    killed.save_snapshot(now, true);
    for (int i = 0; i < 7; ++i) ASSERT_EQ(h.w.scan_time(1.0), RecordResult::Recorded);
    killed.drain_all(now);  // drained, then "killed": no snapshot holds these 7
  }
  {
    ReaderLoop next(h.segment(), config, quiet());
    ASSERT_TRUE(next.restored());
    EXPECT_EQ(next.drain_stats().lost_to_reader_crash, 7u);
    next.save_snapshot(now, true);  // a clean stop
  }
  ReaderLoop after_clean_stop(h.segment(), config, quiet());
  ASSERT_TRUE(after_clean_stop.restored());
  EXPECT_EQ(after_clean_stop.drain_stats().lost_to_reader_crash, 0u);
  std::filesystem::remove_all(dir);
}

TEST(TickClock, AnchorsAtTheLatestSampleAndMeasuresTheRateOverTheSpan) {
  TickCalibration start;
  start.ns_per_tick = 0.5;  // wrong by a factor of two
  TickClock clock(start);
  clock.anchor({1000, 5'000'000'000});
  EXPECT_EQ(clock.calibration().to_ns(1000), 5'000'000'000U);
  clock.anchor({1000 + 2'000'000'000, 7'000'000'000});  // 2e9 ticks in 2 s: 1 ns per tick
  EXPECT_DOUBLE_EQ(clock.calibration().ns_per_tick, 1.0);
  EXPECT_EQ(clock.calibration().to_ticks(8'000'000'000), 1000 + 3'000'000'000U);
  clock.anchor({1000, 6'000'000'000});  // older than the anchor: ignored
  EXPECT_EQ(clock.calibration().to_ns(1000 + 2'000'000'000), 7'000'000'000U);
}

}  // namespace
}  // namespace telering::reader
