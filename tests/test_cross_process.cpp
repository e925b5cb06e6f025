// Cross-process behaviour of a telering segment: writer processes (fork + exec of
// telering_test_writer) and a consumer (this test process) in different processes, start
// order, a writer killed mid-loop, segment identity checks, and lane ownership.
//
// Every record carries its thread's sequence number in value and in its context
// (helpers/seq_payload.hpp), so the consumer checks, per producing thread: no torn record,
// order preserved, and exact accounting — delivered + dropped == produced.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <future>
#include <iostream>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "helpers/seq_consumer.hpp"
#include "helpers/seq_payload.hpp"
#include "support/shm_test_util.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

#ifndef TELERING_TEST_WRITER
#error "TELERING_TEST_WRITER must name the telering_test_writer executable"
#endif

namespace telering::test {
namespace {

using namespace std::chrono_literals;

constexpr auto kProcessDeadline = 120s;  // bounds a hang only; runs take seconds

// A thread line of the helper: "thread <i> <tid> <produced> <recorded> <shared> <dropped> <other>".
struct WriterThreadReport {
  std::uint32_t thread = 0;
  std::uint32_t tid = 0;
  std::uint64_t produced = 0, recorded = 0, shared = 0, dropped = 0, other = 0;
};

std::vector<WriterThreadReport> thread_reports(ChildProcess& child) {
  std::vector<WriterThreadReport> out;
  for (const std::string& line : child.lines_with("thread ")) {
    std::istringstream in(line.substr(7));
    WriterThreadReport r;
    in >> r.thread >> r.tid >> r.produced >> r.recorded >> r.shared >> r.dropped >> r.other;
    EXPECT_FALSE(in.fail()) << "bad report line: " << line;
    out.push_back(r);
  }
  return out;
}

std::unique_ptr<ChildProcess> spawn_writer(const std::string& segment, std::uint32_t writer, std::uint32_t threads,
                                           std::uint64_t records, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--segment", segment, "--writer", std::to_string(writer), "--threads",
                                   std::to_string(threads), "--records", std::to_string(records)};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<ChildProcess>(TELERING_TEST_WRITER, args);
}

// Drains while waiting for a line from the child; fails if the child exits first.
std::string wait_line_draining(ChildProcess& child, std::string_view prefix, Consumer* consumer) {
  std::optional<std::string> line;
  const bool ok = poll_until(
      kProcessDeadline, [&] { return (line = child.take_line(prefix)).has_value() || !child.running(); },
      [&] {
        if (consumer) consumer->drain();
        std::this_thread::yield();
      });
  if (!line) line = child.take_line(prefix);
  EXPECT_TRUE(ok && line.has_value()) << "child " << child.pid() << " did not say '" << prefix << "' (status "
                                      << child.raw_status() << ")";
  return line.value_or("");
}

// Checks one writer process's report against what the consumer received from it.
void expect_exact_accounting(Consumer& c, ChildProcess& child, std::uint32_t writer, std::uint32_t threads,
                             std::uint64_t records) {
  const auto reports = thread_reports(child);
  ASSERT_EQ(reports.size(), threads) << "writer " << writer;
  for (const auto& r : reports) {
    SCOPED_TRACE("writer " + std::to_string(writer) + " thread " + std::to_string(r.thread));
    const Stream& s = c.streams[{writer, r.thread}];
    EXPECT_EQ(r.produced, records);
    EXPECT_EQ(r.other, 0u);
    EXPECT_EQ(r.recorded + r.shared + r.dropped, r.produced);
    // Exact: every attempt is either delivered or counted as dropped, nothing else.
    EXPECT_EQ(s.delivered, r.recorded + r.shared);
    EXPECT_EQ(s.delivered + r.dropped, r.produced);
    if (s.delivered > 0) {
      EXPECT_LT(s.last_seq, r.produced);
      EXPECT_EQ(s.tid, r.tid) << "records carry the recording thread's kernel tid";
    }
  }
}

std::uint64_t total_lane_drops(const Segment& seg) {
  std::uint64_t dropped = 0;
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) dropped += seg.lane(i).dropped.load(std::memory_order_relaxed);
  return dropped + seg.mpsc().dropped.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------
// Writer processes -> consumer process.

TEST(CrossProcess, ReaderFirstWriterProcessesDeliverWithExactAccountingAndPerThreadOrder) {
  constexpr std::uint32_t kWriters = 2;
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint64_t kRecords = 100'000;
  UniqueSegment shm;
  // Reader first: the consumer creates the segment; small lanes so that drops happen.
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(8, 1024)));
  ASSERT_TRUE(seg.created());
  Consumer consumer(seg);

  std::vector<std::unique_ptr<ChildProcess>> children;
  for (std::uint32_t w = 0; w < kWriters; ++w) {
    children.push_back(spawn_writer(shm.name(), w, kThreads, kRecords));
    consumer.expect_writer_pid(w, children.back()->pid());
  }
  const bool all_exited = poll_until(
      kProcessDeadline,
      [&] {
        for (auto& c : children)
          if (c->running()) return false;
        return true;
      },
      [&] {
        consumer.drain();
        std::this_thread::yield();
      });
  ASSERT_TRUE(all_exited) << "writer processes did not finish";
  consumer.drain();

  std::uint64_t produced = 0, dropped = 0;
  for (std::uint32_t w = 0; w < kWriters; ++w) {
    ChildProcess& child = *children[w];
    ASSERT_TRUE(child.exited_ok()) << "writer " << w << " status " << child.raw_status();
    const auto ready = child.take_line("ready ");
    ASSERT_TRUE(ready.has_value());
    EXPECT_NE(ready->find("created=0"), std::string::npos) << "the writer must attach to the reader's segment: " << *ready;
    expect_exact_accounting(consumer, child, w, kThreads, kRecords);
    for (const auto& r : thread_reports(child)) {
      produced += r.produced;
      dropped += r.dropped;
    }
  }
  std::cout << "produced=" << produced << " delivered=" << consumer.stats.delivered << " dropped=" << dropped << "\n";
  consumer.expect_clean();
  EXPECT_EQ(consumer.streams.size(), kWriters * kThreads);
  EXPECT_EQ(consumer.stats.delivered + dropped, produced);
  EXPECT_EQ(consumer.stats.shared_lost, 0u);
  // The segment's own counters agree with what the writers were told.
  EXPECT_EQ(total_lane_drops(seg), dropped);
  // Every lane was drained completely: its tail is exactly what the consumer got from it.
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) {
    const LaneControl& lane = seg.lane(i);
    EXPECT_EQ(lane.tail.load(std::memory_order_acquire), lane.head.load(std::memory_order_relaxed)) << "lane " << i;
    EXPECT_EQ(lane.tail.load(std::memory_order_relaxed), consumer.delivered_per_lane[i]) << "lane " << i;
  }
  // Writers that exited released their lanes.
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i)
    EXPECT_EQ(seg.lane(i).owner.load(std::memory_order_acquire), 0u) << "lane " << i;
}

TEST(CrossProcess, WriterFirstThenConsumerAttachesAndGetsEverythingStillInTheRings) {
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint32_t kCapacity = 256;
  constexpr std::uint64_t kPhase1 = 1000;  // > capacity: with no consumer, the excess is dropped
  constexpr std::uint64_t kRecords = 1500;
  UniqueSegment shm;
  // Writer first: the helper creates the segment and records before any consumer exists.
  auto child = spawn_writer(shm.name(), 0, kThreads, kRecords,
                            {"--lanes", "4", "--capacity", std::to_string(kCapacity), "--mpsc", "1024",
                             "--pause-after", std::to_string(kPhase1)});
  const std::string ready = wait_line_draining(*child, "ready ", nullptr);
  EXPECT_NE(ready.find("created=1"), std::string::npos) << ready;
  wait_line_draining(*child, "paused", nullptr);
  ASSERT_TRUE(child->running());

  // A writer-created segment is private to its user too.
  struct stat st{};
  ASSERT_EQ(::stat(shm.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  const Segment seg = Segment::open(attach_options(shm.name()));
  EXPECT_FALSE(seg.created());
  ASSERT_EQ(seg.geometry().lane_capacity, kCapacity);
  Consumer consumer(seg);
  consumer.expect_writer_pid(0, child->pid());
  consumer.drain();

  // Everything still in the rings, in order: exactly the first `capacity` records of each
  // thread; the rest of phase 1 found the lane full and was counted as dropped.
  ASSERT_EQ(consumer.streams.size(), kThreads);
  for (const auto& [key, s] : consumer.streams) {
    SCOPED_TRACE("thread " + std::to_string(key.second));
    EXPECT_EQ(s.delivered, kCapacity);
    EXPECT_EQ(s.last_seq, kCapacity - 1);
    EXPECT_EQ(s.seq_sum, std::uint64_t{kCapacity} * (kCapacity - 1) / 2);
    ASSERT_EQ(s.lanes.size(), 1u);
    const std::uint32_t lane = *s.lanes.begin();
    ASSERT_NE(lane, kSharedLane);
    EXPECT_EQ(seg.lane(lane).dropped.load(std::memory_order_relaxed), kPhase1 - kCapacity);
    EXPECT_EQ(owner_pid(seg.lane(lane).owner.load(std::memory_order_acquire)), static_cast<std::uint32_t>(child->pid()));
  }

  // Phase 2 with the consumer draining concurrently; then the totals are exact.
  child->send_line("go");
  ASSERT_TRUE(poll_until(kProcessDeadline, [&] { return !child->running(); },
                         [&] {
                           consumer.drain();
                           std::this_thread::yield();
                         }));
  consumer.drain();
  ASSERT_TRUE(child->exited_ok()) << "status " << child->raw_status();
  consumer.expect_clean();
  expect_exact_accounting(consumer, *child, 0, kThreads, kRecords);
  std::uint64_t dropped = 0;
  for (const auto& r : thread_reports(*child)) dropped += r.dropped;
  EXPECT_EQ(consumer.stats.delivered + dropped, kThreads * kRecords);
  EXPECT_EQ(total_lane_drops(seg), dropped);
}

TEST(CrossProcess, SigkilledWriterLeavesNoTornRecordAndItsLanesAreReclaimedAndReusable) {
  constexpr std::uint32_t kThreads = 2;
  constexpr std::uint64_t kSeenBeforeKill = 20'000;  // per thread: proves it is in its loop
  UniqueSegment shm;
  // As many lanes as the writer has threads: reuse after reclaim is then observable.
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(kThreads, 1024)));
  Consumer consumer(seg);
  auto child = spawn_writer(shm.name(), 0, kThreads, 0);  // records until killed
  consumer.expect_writer_pid(0, child->pid());
  wait_line_draining(*child, "running", &consumer);

  const bool busy = poll_until(
      kProcessDeadline,
      [&] {
        if (consumer.streams.size() < kThreads) return false;
        for (const auto& [key, s] : consumer.streams)
          if (s.delivered < kSeenBeforeKill) return false;
        return true;
      },
      [&] { consumer.drain(); });
  ASSERT_TRUE(busy) << "the writer's threads did not record";
  // Both lanes belong to the child while it records.
  for (std::uint32_t i = 0; i < kThreads; ++i)
    EXPECT_EQ(owner_pid(seg.lane(i).owner.load(std::memory_order_acquire)), static_cast<std::uint32_t>(child->pid()));

  std::cout << "killing the writer after " << consumer.stats.delivered << " delivered records\n";
  child->kill(SIGKILL);  // mid-loop: one of its records is very likely half-written
  child->reap_blocking();
  ASSERT_TRUE(child->killed_by(SIGKILL));
  consumer.drain();

  // No torn record: every delivered record validated (no malformed) and its payload is
  // self-consistent; per-thread order held.
  consumer.expect_clean();
  ASSERT_EQ(consumer.streams.size(), kThreads);
  for (const auto& [key, s] : consumer.streams) {
    SCOPED_TRACE("thread " + std::to_string(key.second));
    EXPECT_EQ(s.on_shared_lane, 0u);
    ASSERT_EQ(s.lanes.size(), 1u);
    const LaneControl& lane = seg.lane(*s.lanes.begin());
    // Everything the writer published was delivered; what it attempted beyond that was
    // dropped (counted in the lane), so sequence gaps are covered by the drop counter.
    // Drops after its last published record (lane full when it died) cannot show as gaps.
    EXPECT_EQ(lane.tail.load(std::memory_order_acquire), s.delivered);
    const std::uint64_t gaps = s.last_seq + 1 - s.delivered;
    EXPECT_LE(gaps, lane.dropped.load(std::memory_order_relaxed));
  }
  // The dead writer still owns its lanes until the consumer reclaims them.
  for (std::uint32_t i = 0; i < kThreads; ++i)
    EXPECT_EQ(owner_pid(seg.lane(i).owner.load(std::memory_order_acquire)), static_cast<std::uint32_t>(child->pid()));
  EXPECT_EQ(consumer.drainer().reclaim_dead_lanes(), kThreads);
  for (std::uint32_t i = 0; i < kThreads; ++i) {
    EXPECT_EQ(seg.lane(i).owner.load(std::memory_order_acquire), 0u) << "lane " << i;
    EXPECT_EQ(seg.lane(i).owner_start_time.load(std::memory_order_relaxed), 0u) << "lane " << i;
  }
  EXPECT_EQ(consumer.drainer().reclaim_dead_lanes(), 0u) << "a free lane is not reclaimed twice";

  // A new writer (this process) claims the freed lanes: both threads get a lane of their
  // own (Recorded, not RecordedShared).
  WriterOptions wo;
  wo.segment = shm.name();
  wo.bot = "w9";
  wo.sample_memory = false;
  Writer writer = Writer::attach(wo);
  const NameId metric = writer.metric("xproc.seq");
  std::latch recorded(kThreads);
  std::latch done(1);
  std::vector<RecordResult> results(kThreads, RecordResult::NoName);
  std::vector<std::uint32_t> tids(kThreads, 0);
  std::vector<std::thread> threads;
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      char ctx[kSeqContextBuffer];
      const std::size_t len = format_seq_context(ctx, {9, t, 0});
      tids[t] = current_tid();
      results[t] = writer.record(RecordKind::Counter, metric, 0.0, Severity::None, kNoName, 0, {ctx, len});
      recorded.count_down();
      done.wait();
    });
  }
  recorded.wait();
  std::set<std::uint64_t> owners;
  for (std::uint32_t i = 0; i < kThreads; ++i) owners.insert(seg.lane(i).owner.load(std::memory_order_acquire));
  for (std::uint32_t t = 0; t < kThreads; ++t) {
    EXPECT_EQ(results[t], RecordResult::Recorded) << "thread " << t;
    EXPECT_EQ(owners.count(make_owner(current_pid(), tids[t])), 1u) << "thread " << t << " owns a reclaimed lane";
  }
  done.count_down();
  for (auto& th : threads) th.join();
  consumer.drain();
  consumer.expect_clean();
  EXPECT_EQ((consumer.streams[{9, 0}].delivered), 1u);
  EXPECT_EQ((consumer.streams[{9, 1}].delivered), 1u);
}

// ---------------------------------------------------------------------------------------
// Segment identity, permissions, half-initialised segments.

// Maps the header of an existing segment raw, to patch it as another build would have.
class RawHeader {
 public:
  explicit RawHeader(const std::string& path) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("open " + path);
    base_ = ::mmap(nullptr, kHeaderBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (base_ == MAP_FAILED) throw std::runtime_error("mmap " + path);
  }
  ~RawHeader() {
    if (base_ != MAP_FAILED) ::munmap(base_, kHeaderBytes);
    if (fd_ >= 0) ::close(fd_);
  }
  RawHeader(const RawHeader&) = delete;
  RawHeader& operator=(const RawHeader&) = delete;

  template <typename T>
  void write(std::size_t offset, T value) {
    std::memcpy(static_cast<std::byte*>(base_) + offset, &value, sizeof value);
  }
  template <typename T>
  T read(std::size_t offset) const {
    T value;
    std::memcpy(&value, static_cast<const std::byte*>(base_) + offset, sizeof value);
    return value;
  }

 private:
  int fd_ = -1;
  void* base_ = MAP_FAILED;
};

std::string attach_error(const SegmentOptions& options) {
  try {
    const Segment seg = Segment::open(options);
  } catch (const SegmentError& e) {
    return e.what();
  }
  return "(attached without error)";
}

void expect_refused_naming_both(const std::string& name, std::size_t offset, std::uint32_t patched,
                                std::uint32_t build, const std::string& what) {
  {
    const Segment seg = Segment::open(create_options(name, small_test_geometry(2, 64)));
    ASSERT_TRUE(seg.created());
  }
  {
    RawHeader raw("/dev/shm/" + name);
    ASSERT_EQ(raw.read<std::uint32_t>(offset), build);
    raw.write<std::uint32_t>(offset, patched);
  }
  const std::string segment_says = "segment=" + std::to_string(patched);
  const std::string build_says = "this build=" + std::to_string(build);
  // Attach only, and open-or-create (what writers and the reader call): both refuse.
  for (const SegmentOptions& o : {attach_options(name), create_options(name, small_test_geometry(2, 64))}) {
    const std::string msg = attach_error(o);
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
    EXPECT_NE(msg.find(segment_says), std::string::npos) << msg;
    EXPECT_NE(msg.find(build_says), std::string::npos) << msg;
    EXPECT_NE(msg.find(name), std::string::npos) << "the message names the segment: " << msg;
  }
  WriterOptions wo;
  wo.segment = name;
  wo.sample_memory = false;
  EXPECT_THROW((void)Writer::attach(wo), SegmentError);
  // Refused, never re-initialised: the other build's value is still there.
  RawHeader raw("/dev/shm/" + name);
  EXPECT_EQ(raw.read<std::uint32_t>(offset), patched);
}

TEST(CrossProcessSegment, OtherLayoutVersionIsRefusedNamingBothValues) {
  UniqueSegment shm;
  expect_refused_naming_both(shm.name(), offsetof(SegmentHeader, identity.layout_version), kLayoutVersion + 1, kLayoutVersion,
                             "layout version");
}

TEST(CrossProcessSegment, OtherRecordSizeIsRefusedNamingBothValues) {
  UniqueSegment shm;
  expect_refused_naming_both(shm.name(), offsetof(SegmentHeader, identity.record_size), 128, static_cast<std::uint32_t>(kRecordSize),
                             "record size");
}

TEST(CrossProcessSegment, CreatedSegmentHasMode0600WhateverTheUmask) {
  UniqueSegment shm;
  const mode_t old_mask = ::umask(0);  // a permissive umask must not widen the mode
  std::optional<Segment> seg;
  try {
    seg.emplace(Segment::open(create_options(shm.name(), small_test_geometry(2, 64))));
  } catch (...) {
    ::umask(old_mask);
    throw;
  }
  ::umask(old_mask);
  ASSERT_TRUE(seg->created());
  struct stat st{};
  ASSERT_EQ(::stat(shm.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
}

// Runs Segment::open on another thread; if it has not returned long after its own
// ready_timeout, it hangs: the test fails and the process exits (a hung thread cannot be
// cancelled), removing the segment first.
std::string attach_error_or_die_on_hang(const std::string& name, const SegmentOptions& options) {
  std::promise<std::string> result;
  auto future = result.get_future();
  std::thread attacher([&] { result.set_value(attach_error(options)); });
  if (future.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "Segment::open hung on a half-initialised segment";
    Segment::remove(name);
    std::fflush(nullptr);
    std::_Exit(1);
  }
  attacher.join();
  return future.get();
}

TEST(CrossProcessSegment, HalfInitialisedSegmentFailsAttachWithinTheTimeoutSayingSo) {
  UniqueSegment shm;
  // A creator that died after creating the object, before sizing it...
  const int fd = ::shm_open(shm.name().c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  SegmentOptions o = create_options(shm.name(), small_test_geometry(2, 64));
  o.ready_timeout = 200ms;
  std::string msg = attach_error_or_die_on_hang(shm.name(), o);
  EXPECT_NE(msg.find("not initialised within 200 ms"), std::string::npos) << msg;
  EXPECT_NE(msg.find(shm.name()), std::string::npos) << msg;

  // ...and one that died after sizing it and writing part of the header, before `ready`.
  const SectionOffsets layout = compute_layout(small_test_geometry(2, 64));
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(layout.total)), 0);
  ::close(fd);
  {
    RawHeader raw(shm.path());
    raw.write<std::uint64_t>(offsetof(SegmentHeader, identity.magic), kSegmentMagic);
    raw.write<std::uint32_t>(offsetof(SegmentHeader, identity.layout_version), kLayoutVersion);
    raw.write<std::uint32_t>(offsetof(SegmentHeader, identity.record_size), static_cast<std::uint32_t>(kRecordSize));
  }
  for (const SegmentOptions& opt : {o, [&] {
         SegmentOptions a = attach_options(shm.name());
         a.ready_timeout = 200ms;
         return a;
       }()}) {
    msg = attach_error_or_die_on_hang(shm.name(), opt);
    EXPECT_NE(msg.find("not initialised within 200 ms"), std::string::npos) << msg;
  }
  // The attacher left it alone: still not ready, not re-initialised under its creator.
  RawHeader raw(shm.path());
  EXPECT_EQ(raw.read<std::uint64_t>(offsetof(SegmentHeader, ready)), 0u);
}

// ---------------------------------------------------------------------------------------
// Lanes: claim, release at thread exit, reuse; the shared lane when all are taken.

WriterOptions in_process_writer(const std::string& segment, const SegmentGeometry& g) {
  WriterOptions wo;
  wo.segment = segment;
  wo.bot = "w0";
  wo.geometry = g;
  wo.sample_memory = false;
  return wo;
}

RecordResult record_seq(Writer& w, NameId metric, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq) {
  char ctx[kSeqContextBuffer];
  const std::size_t len = format_seq_context(ctx, {writer, thread, seq});
  return w.record(RecordKind::Counter, metric, static_cast<double>(seq), Severity::None, kNoName, 0, {ctx, len});
}

TEST(CrossProcessLanes, ThreadExitReleasesItsLaneAndTheNextThreadReusesIt) {
  constexpr std::uint64_t kRecords = 10;
  UniqueSegment shm;
  Writer writer = Writer::attach(in_process_writer(shm.name(), small_test_geometry(1, 64)));  // one lane
  const Segment& seg = writer.segment();
  const NameId metric = writer.metric("xproc.seq");
  LaneControl& lane = seg.lane(0);

  for (std::uint32_t t = 0; t < 2; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    std::latch recorded(1);
    std::latch may_exit(1);
    std::uint32_t tid = 0;
    std::uint64_t not_recorded = 0;
    std::thread th([&] {
      tid = current_tid();
      for (std::uint64_t s = 0; s < kRecords; ++s)
        if (record_seq(writer, metric, 0, t, s) != RecordResult::Recorded) ++not_recorded;
      recorded.count_down();
      may_exit.wait();
    });
    recorded.wait();
    EXPECT_EQ(not_recorded, 0u);
    EXPECT_EQ(lane.owner.load(std::memory_order_acquire), make_owner(current_pid(), tid)) << "claimed while alive";
    EXPECT_EQ(lane.generation.load(std::memory_order_relaxed), t + 1u) << "one claim per thread";
    EXPECT_EQ(writer.stats().lanes_claimed, 1u);
    may_exit.count_down();
    th.join();
    EXPECT_EQ(lane.owner.load(std::memory_order_acquire), 0u) << "released at thread exit";
    EXPECT_EQ(writer.stats().lanes_claimed, 0u);
  }
  EXPECT_EQ(seg.header().lane_claim_failures.load(std::memory_order_relaxed), 0u);

  Consumer consumer(seg);
  consumer.drain();
  consumer.expect_clean();
  ASSERT_EQ(consumer.streams.size(), 2u);
  for (std::uint32_t t = 0; t < 2; ++t) {
    const Stream& s = consumer.streams[{0, t}];
    EXPECT_EQ(s.delivered, kRecords);
    EXPECT_EQ(s.last_seq, kRecords - 1);
    EXPECT_EQ(s.lanes, std::set<std::uint32_t>{0});
  }
  EXPECT_EQ(lane.dropped.load(std::memory_order_relaxed), 0u);
  EXPECT_EQ(consumer.stats.delivered, 2 * kRecords);  // delivered + dropped (0) == produced
}

TEST(CrossProcessLanes, SixtyFifthThreadRecordsIntoTheSharedLaneAndNothingIsLost) {
  constexpr std::uint32_t kLanes = 64;
  constexpr std::uint64_t kSharedRecords = 500;  // fits the shared lane: nothing may drop
  UniqueSegment shm;
  Writer writer = Writer::attach(in_process_writer(shm.name(), small_test_geometry(kLanes, 16, 1024)));
  const Segment& seg = writer.segment();
  const NameId metric = writer.metric("xproc.seq");

  std::latch claimed(kLanes);
  std::latch may_exit(1);
  std::vector<RecordResult> first(kLanes, RecordResult::NoName);
  std::vector<std::thread> holders;
  for (std::uint32_t t = 0; t < kLanes; ++t) {
    holders.emplace_back([&, t] {
      first[t] = record_seq(writer, metric, 0, t, 0);
      claimed.count_down();
      may_exit.wait();
    });
  }
  claimed.wait();
  std::set<std::uint64_t> owners;
  for (std::uint32_t i = 0; i < kLanes; ++i) {
    const std::uint64_t owner = seg.lane(i).owner.load(std::memory_order_acquire);
    EXPECT_EQ(owner_pid(owner), current_pid()) << "lane " << i;
    owners.insert(owner);
  }
  EXPECT_EQ(owners.size(), kLanes) << "each thread holds a lane of its own";
  for (std::uint32_t t = 0; t < kLanes; ++t) EXPECT_EQ(first[t], RecordResult::Recorded) << "thread " << t;

  std::vector<RecordResult> shared(kSharedRecords, RecordResult::NoName);
  std::thread sixty_fifth([&] {
    for (std::uint64_t s = 0; s < kSharedRecords; ++s) shared[s] = record_seq(writer, metric, 1, 0, s);
  });
  sixty_fifth.join();
  std::uint64_t on_shared = 0;
  for (const RecordResult r : shared) on_shared += r == RecordResult::RecordedShared ? 1 : 0;
  EXPECT_EQ(on_shared, kSharedRecords);
  EXPECT_GE(seg.header().lane_claim_failures.load(std::memory_order_relaxed), 1u);
  may_exit.count_down();
  for (auto& th : holders) th.join();

  Consumer consumer(seg);
  consumer.drain();
  consumer.expect_clean();
  const Stream& s = consumer.streams[{1, 0}];
  EXPECT_EQ(s.delivered, kSharedRecords);
  EXPECT_EQ(s.on_shared_lane, kSharedRecords);
  EXPECT_EQ(s.last_seq, kSharedRecords - 1);
  EXPECT_EQ(consumer.delivered_per_lane[kSharedLane], kSharedRecords);
  // Exact: 64 + 500 produced, all delivered, nothing dropped or lost.
  EXPECT_EQ(consumer.stats.delivered, kLanes + kSharedRecords);
  EXPECT_EQ(total_lane_drops(seg), 0u);
  EXPECT_EQ(consumer.stats.shared_lost, 0u);
  for (std::uint32_t i = 0; i < kLanes; ++i) EXPECT_EQ(seg.lane(i).owner.load(std::memory_order_acquire), 0u);
}

}  // namespace
}  // namespace telering::test
