// Fault tests (issue 5, items 2 and 3): what happens to a segment when the processes around
// it die or scribble on it, with a real telering-reader process doing the draining.
//
//  - A writer SIGKILLed mid-loop: the reader drains its lanes, reclaims them (at its next
//    lane check, lane_reclaim_interval), and every record it committed (its lanes' tails) was
//    delivered (the reader's own count).
//  - A shared-lane claim left uncommitted by a dead writer: skipped after the stuck timeout,
//    counted lost in the segment, and the records behind it are delivered.
//  - A reader SIGKILLed: writers keep recording, Recorded until the lane is full, then
//    Dropped and counted, every call returning; a restarted reader gets what is in the rings.
//  - Random bytes written into a live segment: the reader stays alive, keeps its heartbeat,
//    counts malformed records and exits 0 on SIGTERM (seeded: TELERING_TEST_SEED; a fixed
//    number of writes, so a seed replays the same bytes at the same places).
//
// No test here times the machine: each waits for the event it expects by polling with a
// deadline (poll_until), and the deadline only stops a hung test.
//
// The reader's counts come from its shutdown log line ("stopped: N records drained, M
// malformed"), so its stderr is captured: it is started as `sh -c 'exec reader "$@" 2>&1'`,
// which keeps the pid (exec) and puts its logs on the pipe we read.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "helpers/seq_consumer.hpp"
#include "helpers/seq_payload.hpp"
#include "support/shm_test_util.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/ring_mpsc.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

#ifndef TELERING_READER_EXE
#error "TELERING_READER_EXE must name the telering-reader executable"
#endif
#ifndef TELERING_TEST_WRITER
#error "TELERING_TEST_WRITER must name the telering_test_writer executable"
#endif

namespace telering::test {
namespace {

using namespace std::chrono_literals;

// Starts telering-reader on an existing segment, its stderr (logs) merged into the pipe.
std::unique_ptr<ChildProcess> start_reader(const std::string& segment, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"-c", "exec \"$0\" \"$@\" 2>&1", TELERING_READER_EXE, "--segment", segment,
                                   "--log-level", "info"};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ChildProcess>("/bin/sh", args);
}

// The reader is live once it holds the segment's reader slot and its heartbeat is fresh.
bool reader_live(const Segment& seg, ChildProcess& reader) {
  const SegmentHeader& h = seg.header();
  if (h.reader_pid.load(std::memory_order_acquire) != static_cast<std::uint32_t>(reader.pid())) return false;
  const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
  const std::uint64_t now = monotonic_ns();
  return beat != 0 && (beat > now || now - beat < 500'000'000ULL);
}

::testing::AssertionResult wait_reader_live(const Segment& seg, ChildProcess& reader) {
  const bool ok = poll_until(8s, [&] { return reader_live(seg, reader) || !reader.running(); },
                             [&] {
                               reader.pump();
                               std::this_thread::sleep_for(1ms);
                             });
  if (ok && reader.running()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "telering-reader (pid " << reader.pid() << ") did not become live, status "
                                       << reader.raw_status();
}

struct ReaderTotals {
  std::uint64_t drained = 0;
  std::uint64_t malformed = 0;
  std::vector<std::string> log;
};

// SIGTERM, wait for a clean exit, and read its "stopped: N records drained, M malformed".
std::optional<ReaderTotals> stop_reader(ChildProcess& reader) {
  reader.kill(SIGTERM);
  const bool exited = poll_until(10s, [&] { return !reader.running(); }, [&] {
    reader.pump();
    std::this_thread::sleep_for(1ms);
  });
  if (!exited) {
    // What it printed last says where it was (a hang under a sanitizer has been seen once).
    const std::vector<std::string> log = reader.lines_with("");
    std::string tail;
    for (std::size_t i = log.size() > 20 ? log.size() - 20 : 0; i < log.size(); ++i) tail += "\n  " + log[i];
    ADD_FAILURE() << "telering-reader did not exit within 10 s of SIGTERM; its last lines:" << tail;
    return std::nullopt;
  }
  EXPECT_TRUE(reader.exited_ok()) << "telering-reader exit status " << reader.raw_status();
  ReaderTotals t;
  t.log = reader.lines_with("");
  bool found = false;
  for (const std::string& line : t.log) {
    const auto at = line.find("stopped: ");
    if (at == std::string::npos) continue;
    found = std::sscanf(line.c_str() + at, "stopped: %" SCNu64 " records drained, %" SCNu64 " malformed", &t.drained,
                        &t.malformed) == 2;
  }
  EXPECT_TRUE(found) << "no 'stopped: N records drained, M malformed' line in the reader's log";
  if (!found) {
    for (const auto& l : t.log) std::cout << "  reader: " << l << "\n";
    return std::nullopt;
  }
  return t;
}

bool lanes_drained(const Segment& seg) {
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) {
    const LaneControl& lane = seg.lane(i);
    if (lane.tail.load(std::memory_order_acquire) != lane.head.load(std::memory_order_acquire)) return false;
  }
  return true;
}

void fill_seq_record(Record& r, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq) {
  std::memset(&r, 0, sizeof r);
  char ctx[kSeqContextBuffer];
  const std::size_t len = format_seq_context(ctx, {writer, thread, seq});
  r.timestamp = read_ticks();
  r.value = static_cast<double>(seq);
  r.kind = RecordKind::Counter;
  r.set_context({ctx, len});
}

// ---------------------------------------------------------------------------------------

TEST(Faults, SigkilledWriterLanesAreDrainedAndReclaimedAndEveryCommittedRecordDelivered) {
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint64_t kTailBeforeKill = 20'000;  // per lane: the writer is in its loop
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(4, 1024)));
  auto reader = start_reader(shm.name());
  ASSERT_TRUE(wait_reader_live(seg, *reader));

  auto writer = std::make_unique<ChildProcess>(
      TELERING_TEST_WRITER, std::vector<std::string>{"--segment", shm.name(), "--writer", "0", "--threads",
                                                     std::to_string(kThreads), "--records", "0"});
  const auto wpid = static_cast<std::uint32_t>(writer->pid());
  std::vector<std::uint32_t> lanes;
  const bool busy = poll_until(
      10s,
      [&] {
        lanes.clear();
        for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i)
          if (owner_pid(seg.lane(i).owner.load(std::memory_order_acquire)) == wpid &&
              seg.lane(i).tail.load(std::memory_order_acquire) >= kTailBeforeKill)
            lanes.push_back(i);
        return lanes.size() == kThreads || !writer->running();
      },
      [] { std::this_thread::sleep_for(1ms); });
  ASSERT_TRUE(busy && writer->running()) << "the writer's threads did not record into lanes of their own";

  writer->kill(SIGKILL);
  writer->reap_blocking();
  ASSERT_TRUE(writer->killed_by(SIGKILL));

  const bool reclaimed = poll_until(
      5s,
      [&] {
        for (std::uint32_t i : lanes)
          if (seg.lane(i).owner.load(std::memory_order_acquire) != 0) return false;
        return true;
      },
      [] { std::this_thread::sleep_for(1ms); });
  ASSERT_TRUE(reclaimed) << "the reader did not reclaim the dead writer's lanes (waited 5 s)";

  // A lane is reclaimed only once drained: everything the writer committed (its tails; the
  // lanes were fresh) was consumed, and the reader counted exactly that many records.
  std::uint64_t committed = 0, dropped = 0;
  for (std::uint32_t i : lanes) {
    const LaneControl& lane = seg.lane(i);
    EXPECT_EQ(lane.head.load(std::memory_order_acquire), lane.tail.load(std::memory_order_acquire)) << "lane " << i;
    EXPECT_EQ(lane.owner_start_time.load(std::memory_order_relaxed), 0u) << "lane " << i;
    committed += lane.tail.load(std::memory_order_acquire);
    dropped += lane.dropped.load(std::memory_order_relaxed);
  }
  const auto totals = stop_reader(*reader);
  ASSERT_TRUE(totals.has_value());
  std::cout << "committed=" << committed << " delivered=" << totals->drained << " dropped=" << dropped << "\n";
  EXPECT_EQ(totals->drained, committed);
  EXPECT_EQ(totals->malformed, 0u) << "a killed writer never exposes a torn record";
}

TEST(Faults, SharedLaneClaimOfADeadWriterIsSkippedAfterTheTimeoutCountedLostAndTheLaneGoesOn) {
  constexpr std::uint64_t kBefore = 10;
  constexpr std::uint64_t kAfter = 20;
  constexpr std::uint32_t kMpsc = 64;
  UniqueSegment shm;
  const std::string config = "/tmp/" + shm.name() + ".toml";
  {
    std::ofstream out(config);
    out << "[reader]\nshared_lane_stuck_timeout = \"300ms\"\n";
  }
  struct RemoveFile {
    std::string path;
    ~RemoveFile() { std::remove(path.c_str()); }
  } remove_config{config};

  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(2, 64, kMpsc)));
  MpscControl& control = seg.mpsc();
  MpscProducer producer(&control, seg.mpsc_slots(), seg.mpsc_records(), kMpsc);
  auto reader = start_reader(shm.name(), {"--config", config});
  ASSERT_TRUE(wait_reader_live(seg, *reader));

  for (std::uint64_t s = 0; s < kBefore; ++s)
    ASSERT_EQ(producer.try_push([&](Record& r) { fill_seq_record(r, 0, 0, s); }), MpscPush::Committed);
  ASSERT_TRUE(poll_until(5s, [&] { return control.head.load(std::memory_order_relaxed) == kBefore; },
                         [] { std::this_thread::sleep_for(1ms); }));

  // A writer that claims position kBefore by CAS on tail, writes half a record and dies.
  // The child only touches the mapping it inherited, then kills itself.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::uint64_t pos = control.tail.load(std::memory_order_relaxed);
    while (!control.tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
    }
    MpscSlot& slot = seg.mpsc_slots()[pos & (kMpsc - 1)];  // who claimed it, as MpscProducer writes it
    slot.claimant.store(make_owner(current_pid(), current_tid()));
    slot.claimant_start_time.store(current_thread_start_time());
    slot.claimant_pid_ns.store(current_pid_namespace());
    std::memset(&seg.mpsc_records()[pos & (kMpsc - 1)], 0x5A, kRecordSize / 2);
    ::raise(SIGKILL);
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_EQ(control.tail.load(std::memory_order_relaxed), kBefore + 1);
  ASSERT_EQ(seg.mpsc_slots()[kBefore].seq.load(std::memory_order_acquire), kBefore) << "claimed, never committed";

  // The lane goes on: writers behind the dead claim commit, and the reader delivers them
  // once it has skipped the claim.
  for (std::uint64_t s = 0; s < kAfter; ++s)
    ASSERT_EQ(producer.try_push([&](Record& r) { fill_seq_record(r, 1, 0, s); }), MpscPush::Committed);
  const std::uint64_t end = kBefore + 1 + kAfter;
  const bool moved_on = poll_until(
      8s,
      [&] {
        return control.head.load(std::memory_order_relaxed) == end && control.lost.load(std::memory_order_relaxed) == 1;
      },
      [&] {
        reader->pump();
        std::this_thread::sleep_for(1ms);
      });
  ASSERT_TRUE(moved_on) << "head=" << control.head.load(std::memory_order_relaxed)
                        << " lost=" << control.lost.load(std::memory_order_relaxed);
  // The abandoned claim's claimant is proven dead: its tombstone is freed for the next lap.
  EXPECT_TRUE(poll_until(5s, [&] { return seg.mpsc_slots()[kBefore].seq.load(std::memory_order_acquire) == kBefore + kMpsc; },
                         [&] {
                           reader->pump();
                           std::this_thread::sleep_for(1ms);
                         }))
      << std::hex << seg.mpsc_slots()[kBefore].seq.load(std::memory_order_acquire);
  EXPECT_EQ(control.lost.load(std::memory_order_relaxed), 1u);

  const auto totals = stop_reader(*reader);
  ASSERT_TRUE(totals.has_value());
  EXPECT_EQ(totals->drained, kBefore + kAfter) << "every committed record, before and after the dead claim";
  EXPECT_EQ(totals->malformed, 0u) << "the half-written record is never read";
}

// A reader killed in the middle of draining the shared lane has freed slots whose head it
// never published (head is stored once per poll). The next reader starts from the stale
// head: it must skip what was consumed without calling it corrupt, must not overwrite a
// record a writer has meanwhile committed into a freed slot (next lap), and must deliver
// the record the dead reader was handling (at least once, as the SPSC lanes do).
TEST(Faults, ReaderKilledMidPollOfTheSharedLaneLosesNothingAndCorruptsNothing) {
  constexpr std::uint32_t kMpsc = 64;
  constexpr std::uint64_t kFirst = 40;
  constexpr std::uint64_t kDiesOn = 10;  // the dead reader handled records 0..8, dies in record 9
  constexpr std::uint64_t kSecond = kMpsc + kDiesOn - 1 - kFirst;  // refills up to every freed slot
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(2, 64, kMpsc)));
  MpscProducer producer(&seg.mpsc(), seg.mpsc_slots(), seg.mpsc_records(), kMpsc);
  std::uint64_t seq = 0;
  for (; seq < kFirst; ++seq)
    ASSERT_EQ(producer.try_push([&](Record& r) { fill_seq_record(r, 0, 0, seq); }), MpscPush::Committed);

  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    struct DieOnTenth {
      std::uint64_t seen = 0;
      void on_record(const Record&, const RecordSource&) {
        if (++seen == kDiesOn) ::raise(SIGKILL);
      }
      void on_malformed(RecordFault, const Record&, const RecordSource&) {}
    } handler;
    Drainer drainer(seg);
    (void)drainer.poll(handler, 1000, monotonic_ns());
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_EQ(seg.mpsc().head.load(std::memory_order_relaxed), 0u) << "the dead reader never published its head";

  // Writers go on into the slots the dead reader freed: their records are the next lap.
  for (; seq < kFirst + kSecond; ++seq)
    ASSERT_EQ(producer.try_push([&](Record& r) { fill_seq_record(r, 0, 0, seq); }), MpscPush::Committed) << seq;

  Consumer restarted(seg);
  for (int i = 0; i < 4; ++i) restarted.poll_at(monotonic_ns());  // no stuck claim: no timeout needed
  EXPECT_EQ(restarted.stats.shared_corrupt, 0u) << "consumed slots are not corruption";
  EXPECT_EQ(restarted.stats.shared_lost, 0u);
  restarted.expect_clean();
  const Stream& s = restarted.streams[{0, 0}];
  EXPECT_EQ(s.delivered, kFirst + kSecond - (kDiesOn - 1)) << "everything from the record the reader died in";
  EXPECT_EQ(s.last_seq, kFirst + kSecond - 1);
  EXPECT_EQ(seg.mpsc().head.load(std::memory_order_relaxed), kFirst + kSecond);
}

TEST(Faults, SigkilledReaderWritersRecordUntilTheLaneIsFullThenDropCountedAndARestartedReaderGetsTheRest) {
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint32_t kCapacity = 1024;
  constexpr std::uint64_t kPhase1 = 500;            // drained by the first reader
  constexpr std::uint64_t kPhase2 = 4 * kCapacity;  // with no reader: fills, then drops
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(4, kCapacity)));
  auto reader = start_reader(shm.name());
  ASSERT_TRUE(wait_reader_live(seg, *reader));

  WriterOptions wo;
  wo.segment = shm.name();
  wo.bot = "faults";
  wo.sample_memory = false;
  Writer writer = Writer::attach(wo);
  const NameId metric = writer.metric("faults.seq");
  ASSERT_NE(metric, kNoName);

  struct Calls {
    std::uint64_t calls = 0, recorded = 0, dropped = 0, other = 0;
    std::uint64_t first_drop = ~0ULL;  // index of the first Dropped call in phase 2
    bool dropped_then_recorded = false;
    std::uint32_t lane = ~0u;
  };
  std::vector<Calls> phase1(kThreads), phase2(kThreads);
  std::latch phase1_done(kThreads);
  std::latch go(1);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      char ctx[kSeqContextBuffer];
      std::uint64_t seq = 0;
      auto call = [&](Calls& c) {
        const std::size_t len = format_seq_context(ctx, {0, t, seq});
        const RecordResult r = writer.record(RecordKind::Counter, metric, static_cast<double>(seq++), Severity::None,
                                             kNoName, 0, {ctx, len});
        if (r == RecordResult::Recorded) {
          if (c.dropped != 0) c.dropped_then_recorded = true;
          ++c.recorded;
        } else if (r == RecordResult::Dropped) {
          if (c.dropped++ == 0) c.first_drop = c.calls;
        } else {
          ++c.other;
        }
        ++c.calls;
      };
      for (std::uint64_t i = 0; i < kPhase1; ++i) call(phase1[t]);
      phase1_done.count_down();
      go.wait();
      for (std::uint64_t i = 0; i < kPhase2; ++i) call(phase2[t]);
    });
  }
  phase1_done.wait();
  ASSERT_TRUE(poll_until(5s, [&] { return lanes_drained(seg); }, [] { std::this_thread::sleep_for(1ms); }))
      << "the first reader did not drain phase 1";
  reader->kill(SIGKILL);
  reader->reap_blocking();
  ASSERT_TRUE(reader->killed_by(SIGKILL));
  go.count_down();
  for (auto& th : threads) th.join();

  std::uint64_t still_in_rings = 0;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    EXPECT_EQ(phase1[t].recorded, kPhase1) << "each thread has a lane of its own";
    const Calls& c = phase2[t];
    // Structure, not timing: every call returned, Recorded exactly until the lane was full,
    // then Dropped every time, and the two add up to the calls made.
    EXPECT_EQ(c.calls, kPhase2);
    EXPECT_EQ(c.other, 0u);
    EXPECT_EQ(c.recorded, kCapacity);
    EXPECT_EQ(c.first_drop, kCapacity);
    EXPECT_FALSE(c.dropped_then_recorded) << "nothing frees a slot while no reader runs";
    EXPECT_EQ(c.recorded + c.dropped, c.calls);
    still_in_rings += c.recorded;
  }
  // The drops are counted in the lanes, exactly.
  std::uint64_t lane_drops = 0;
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) lane_drops += seg.lane(i).dropped.load(std::memory_order_relaxed);
  EXPECT_EQ(lane_drops, kThreads * (kPhase2 - kCapacity));

  // A new reader takes over the dead one's slot and gets everything still in the rings.
  auto restarted = start_reader(shm.name());
  ASSERT_TRUE(wait_reader_live(seg, *restarted));
  ASSERT_TRUE(poll_until(5s, [&] { return lanes_drained(seg); }, [] { std::this_thread::sleep_for(1ms); }));
  const auto totals = stop_reader(*restarted);
  ASSERT_TRUE(totals.has_value());
  EXPECT_EQ(totals->drained, still_in_rings);
  EXPECT_EQ(totals->malformed, 0u);
}

TEST(Faults, RandomBytesInALiveSegmentNeverCrashTheReaderWhichCountsMalformedRecords) {
  constexpr std::uint64_t kInjected = 16;  // records that fail validation, put into a free lane
  constexpr int kScribbleRounds = 5000;    // of 64 writes each (about a second on a quiet machine)
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  UniqueSegment shm;
  const SegmentGeometry g = small_test_geometry(8, 256, 256);
  const Segment seg = Segment::open(create_options(shm.name(), g));
  auto reader = start_reader(shm.name());
  ASSERT_TRUE(wait_reader_live(seg, *reader));
  auto writer = std::make_unique<ChildProcess>(
      TELERING_TEST_WRITER,
      std::vector<std::string>{"--segment", shm.name(), "--writer", "0", "--threads", "2", "--records", "0"});
  ASSERT_TRUE(poll_until(10s, [&] { return writer->take_line("running").has_value() || !writer->running(); },
                         [] { std::this_thread::sleep_for(1ms); }));

  // Deterministic part: a hostile producer publishes records that fail validation in a
  // lane nobody owns; the reader must read and count each of them.
  std::uint32_t lane_index = 0;
  while (lane_index < g.lane_count && seg.lane(lane_index).owner.load(std::memory_order_acquire) != 0) ++lane_index;
  ASSERT_LT(lane_index, g.lane_count) << "the writer's two threads hold two of the lanes, not all";
  LaneControl& lane = seg.lane(lane_index);
  for (std::uint64_t k = 0; k < kInjected; ++k) {
    const std::uint64_t tail = lane.tail.load(std::memory_order_relaxed);
    Record& slot = seg.lane_records(lane_index)[tail & (g.lane_capacity - 1)];
    for (std::size_t b = 0; b < kRecordSize; ++b) reinterpret_cast<unsigned char*>(&slot)[b] = static_cast<unsigned char>(rng());
    slot.kind = static_cast<RecordKind>(kMaxRecordKind + 1 + rng() % 100);  // BadKind whatever the rest says
    lane.tail.store(tail + 1, std::memory_order_release);
  }
  ASSERT_TRUE(poll_until(5s, [&] { return lane.head.load(std::memory_order_acquire) == kInjected; },
                         [] { std::this_thread::sleep_for(1ms); }));

  // Random part: random bytes at random places of every section a writer can write (lane
  // records and control words, the shared lane, names, board, report page) while the
  // writer records and the reader drains. The identity part of the header is left alone:
  // the reader checked it once at attach.
  const SectionOffsets o = compute_layout(g);
  struct Region {
    const char* what;
    std::uint64_t begin, end;
  };
  const std::vector<Region> regions = {
      {"header writer counters", offsetof(SegmentHeader, lane_claims), offsetof(SegmentHeader, lane_claims) + 32},
      {"lanes", o.lanes, o.mpsc},
      {"lane control words", o.lanes, o.lanes + sizeof(LaneControl)},  // lane 0's, weighted up
      {"shared lane", o.mpsc, o.names},
      {"names", o.names, o.board},
      {"board", o.board, o.report},
      {"report page", o.report, o.report + sizeof(ReportPageHeader) + g.report_bytes},
  };
  std::vector<std::uint64_t> hits(regions.size(), 0);
  auto* base = reinterpret_cast<unsigned char*>(seg.base());
  auto stat = std::make_unique<ChildProcess>(
      "/bin/sh", std::vector<std::string>{"-c", "exec \"$0\" \"$@\" 2>&1", TELERING_STAT_EXE, "--segment", shm.name(),
                                          "--once", "--json"});
  std::uint64_t writes = 0;
  for (int round = 0; round < kScribbleRounds && reader->running(); ++round) {
    for (int i = 0; i < 64; ++i) {
      const std::size_t r = rng() % regions.size();
      const Region& region = regions[r];
      const std::uint64_t len = 1 + rng() % 16;
      const std::uint64_t span = region.end - region.begin;
      const std::uint64_t at = region.begin + rng() % (span > len ? span - len : 1);
      for (std::uint64_t b = 0; b < len; ++b) base[at + b] = static_cast<unsigned char>(rng());
      ++hits[r];
      ++writes;
    }
    reader->pump();
    stat->pump();
    std::this_thread::sleep_for(100us);  // lets the reader and the writer run between rounds
  }
  std::cout << "scribbled " << writes << " times:";
  for (std::size_t r = 0; r < regions.size(); ++r) std::cout << " " << regions[r].what << "=" << hits[r];
  std::cout << "\n";

  ASSERT_TRUE(reader->running()) << "telering-reader died on a scribbled segment, status " << reader->raw_status();
  // Still working: the heartbeat keeps moving (it is refreshed every 10 ms).
  const std::uint64_t beat = seg.header().reader_heartbeat_ns.load(std::memory_order_acquire);
  EXPECT_TRUE(poll_until(2s, [&] { return seg.header().reader_heartbeat_ns.load(std::memory_order_acquire) != beat; },
                         [&] {
                           reader->pump();
                           std::this_thread::sleep_for(1ms);
                         }))
      << "the reader's heartbeat stopped";
  EXPECT_TRUE(reader_live(seg, *reader));
  EXPECT_TRUE(poll_until(10s, [&] { return !stat->running(); }, [&] {
    stat->pump();
    std::this_thread::sleep_for(1ms);
  }));
  EXPECT_FALSE(WIFSIGNALED(stat->raw_status())) << "telering-stat died on a scribbled segment, status "
                                                << stat->raw_status();

  // Stop the writer first: the reader's final drain must not chase a writer at full speed.
  writer->kill(SIGKILL);
  writer->reap_blocking();
  const auto totals = stop_reader(*reader);
  ASSERT_TRUE(totals.has_value());
  std::cout << "reader: " << totals->drained << " records drained, " << totals->malformed << " malformed\n";
  EXPECT_GE(totals->malformed, kInjected);
  std::uint64_t logged = 0;
  for (const auto& line : totals->log) logged += line.find("malformed record (") != std::string::npos ? 1 : 0;
  EXPECT_GE(logged, 1u) << "the reader logs the first malformed record of each fault";
  EXPECT_LE(logged, static_cast<std::uint64_t>(RecordFault::Count_)) << "and only the first: the log is not flooded";
}

}  // namespace
}  // namespace telering::test
