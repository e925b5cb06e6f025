// Lane ownership: a lane is freed only when its owning thread is proven dead, and a writer
// that lost its lane anyway moves off it. Two producers on one SPSC lane corrupt records that
// still validate, so every "cannot tell" case must keep the lane.
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/process_info.hpp"
#include "telering/writer.hpp"

namespace telering {
namespace {

struct Identity {
  std::uint32_t pid = 0;
  std::uint32_t tid = 0;
  std::uint64_t start_time = 0;
};

// A thread of this process that has exited: the kernel has no such tid any more.
Identity exited_thread() {
  Identity id;
  std::thread([&] { id = {current_pid(), current_tid(), current_thread_start_time()}; }).join();
  return id;
}

Identity this_thread() { return {current_pid(), current_tid(), current_thread_start_time()}; }

void set_owner(LaneControl& lane, const Identity& id, std::uint64_t pid_ns = current_pid_namespace()) {
  lane.owner_start_time.store(id.start_time);
  lane.owner_pid_ns.store(pid_ns);
  lane.owner.store(make_owner(id.pid, id.tid));
}

std::uint64_t reclaim(const Segment& segment) {
  Drainer drainer(segment);
  return drainer.reclaim_dead_lanes();
}

std::optional<std::uint32_t> lane_of(const Segment& segment, std::uint32_t pid, std::uint32_t tid) {
  for (std::uint32_t i = 0; i < segment.geometry().lane_count; ++i)
    if (segment.lane(i).owner.load() == make_owner(pid, tid)) return i;
  return std::nullopt;
}

template <typename Pred>
bool poll_for(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

WriterOptions writer_options(const test::UniqueSegment& seg, SegmentGeometry g = test::small_geometry()) {
  WriterOptions o;
  o.segment = seg.name();
  o.bot = "ownership-bot";
  o.geometry = g;
  o.sample_memory = false;
  return o;
}

TEST(LaneOwnership, ALaneOfAThreadThatExitedIsReclaimed) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  set_owner(segment.lane(1), exited_thread());
  EXPECT_EQ(reclaim(segment), 1u);
  EXPECT_EQ(segment.lane(1).owner.load(), 0u);
}

TEST(LaneOwnership, ALiveThreadKeepsItsLaneWhenProcIsUnreadable) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  set_owner(segment.lane(1), this_thread());
  Drainer drainer(segment);
  // Out of file descriptors, as a reader with ~1000 idle HTTP connections is: /proc cannot
  // be opened, which says nothing about the owner.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit low = saved;
  low.rlim_cur = 64;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<int> held;
  for (int fd; (fd = ::dup(0)) >= 0;) held.push_back(fd);
  const int open_errno = errno;
  const std::uint64_t reclaimed = drainer.reclaim_dead_lanes();
  for (int fd : held) ::close(fd);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &saved), 0);
  ASSERT_EQ(open_errno, EMFILE);
  EXPECT_EQ(reclaimed, 0u);
  EXPECT_EQ(segment.lane(1).owner.load(), make_owner(current_pid(), current_tid()));
}

TEST(LaneOwnership, AnOwnerWhoseStartTimeIsNotYetPublishedKeepsItsLane) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  Identity me = this_thread();
  me.start_time = 0;  // claimed the owner word, not yet stored its start time
  set_owner(segment.lane(2), me);
  EXPECT_EQ(reclaim(segment), 0u);
  EXPECT_EQ(segment.lane(2).owner.load(), make_owner(me.pid, me.tid));
}

TEST(LaneOwnership, AnOwnerInAnotherPidNamespaceIsNeverJudged) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  // Its numbers mean another thread here (this tid does not even exist here).
  set_owner(segment.lane(3), exited_thread(), current_pid_namespace() + 1);
  Drainer drainer(segment);
  EXPECT_EQ(drainer.reclaim_dead_lanes(), 0u);
  EXPECT_EQ(drainer.foreign_lanes(), 1u);
  EXPECT_NE(segment.lane(3).owner.load(), 0u);
}

// The reader reads the owner word, then its identity, then the word again: a lane freed and
// claimed by a live thread in between must not be judged by the old owner's identity (nor
// have the new owner's identity wiped).
TEST(LaneOwnership, AnOwnerChangeDuringTheCheckIsNotJudgedWithTheOldIdentity) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  static Segment* s_segment = nullptr;
  static Identity s_next;
  s_segment = &segment;
  s_next = this_thread();
  set_owner(segment.lane(1), exited_thread());
  detail::g_reclaim_pause = [](std::uint32_t lane) {
    if (lane != 1) return;
    LaneControl& l = s_segment->lane(1);
    l.owner.store(0);  // the dead owner's lane freed...
    set_owner(l, s_next);  // ...and claimed by a live thread
  };
  const std::uint64_t reclaimed = reclaim(segment);
  detail::g_reclaim_pause = nullptr;
  EXPECT_EQ(reclaimed, 0u);
  EXPECT_EQ(segment.lane(1).owner.load(), make_owner(s_next.pid, s_next.tid));
  EXPECT_EQ(segment.lane(1).owner_start_time.load(), s_next.start_time);
}

// A main thread that exits while other threads record leaves a zombie process leader: the
// process is "Z" in /proc, yet its threads are alive and own lanes.
TEST(LaneOwnership, AZombieLeaderDoesNotCostItsLiveThreadsTheirLanes) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(ready[0]);
    static int s_ready_fd = ready[1];
    static std::string s_name = seg.name();
    pthread_t t;
    ::pthread_create(
        &t, nullptr,
        [](void*) -> void* {
          WriterOptions o;
          o.segment = s_name;
          o.bot = "zombie-leader-bot";
          o.sample_memory = false;
          Writer w = Writer::attach(o);
          (void)w.scan_time(1.0);
          (void)!::write(s_ready_fd, "r", 1);
          for (;;) ::pause();  // alive, owning its lane, until killed
        },
        nullptr);
    // The leader exits alone (the raw syscall: pthread_exit would unwind through gtest's
    // catch-all); the process lives on as a zombie leader.
    ::syscall(SYS_exit, 0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the child's thread did not record";
  ::close(ready[0]);
  const auto leader_state = [&] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string line;
    std::getline(stat, line);
    const auto paren = line.rfind(')');
    return paren == std::string::npos || paren + 2 >= line.size() ? '?' : line[paren + 2];
  };
  ASSERT_TRUE(poll_for([&] { return leader_state() == 'Z'; })) << "the leader did not become a zombie";

  Drainer drainer(segment);
  for_each_record(drainer, [](const Record&, const RecordSource&) {});
  std::optional<std::uint32_t> lane;
  for (std::uint32_t i = 0; i < segment.geometry().lane_count; ++i)
    if (owner_pid(segment.lane(i).owner.load()) == static_cast<std::uint32_t>(child)) lane = i;
  ASSERT_TRUE(lane.has_value()) << "the child's thread owns no lane";
  EXPECT_EQ(drainer.reclaim_dead_lanes(), 0u) << "a live thread of a zombie leader lost its lane";
  EXPECT_EQ(owner_pid(segment.lane(*lane).owner.load()), static_cast<std::uint32_t>(child));

  ::kill(child, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_EQ(drainer.reclaim_dead_lanes(), 1u) << "the lane of the killed thread is freed";
}

TEST(LaneOwnership, AWriterWhoseLaneWasTakenMovesToAnotherAndCountsIt) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, test::small_geometry(4, 1024)));
  const Segment& segment = w.segment();
  ASSERT_EQ(w.scan_time(1.0), RecordResult::Recorded);
  const auto first = lane_of(segment, current_pid(), current_tid());
  ASSERT_TRUE(first.has_value());
  // Another thread now holds the lane (freed by a reader that judged us dead, or scribbled).
  const std::uint64_t thief = make_owner(current_pid(), exited_thread().tid);
  segment.lane(*first).owner.store(thief);
  Drainer drainer(segment);
  const bool moved = poll_for([&] {
    (void)w.scan_time(1.0);
    for_each_record(drainer, [](const Record&, const RecordSource&) {});
    return segment.header().lanes_lost.load() == 1;
  });
  ASSERT_TRUE(moved) << "the writer kept writing into a lane it no longer owns";
  const auto second = lane_of(segment, current_pid(), current_tid());
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*second, *first);
  const std::uint64_t stolen_tail = segment.lane(*first).tail.load();
  const std::uint64_t own_tail = segment.lane(*second).tail.load();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(w.scan_time(2.0), RecordResult::Recorded);
  EXPECT_EQ(segment.lane(*first).tail.load(), stolen_tail);
  EXPECT_EQ(segment.lane(*second).tail.load(), own_tail + 10);
  EXPECT_EQ(segment.lane(*first).owner.load(), thief) << "the writer must not free a lane it lost";
}

TEST(LaneOwnership, AWriterRefusesALiveReaderInAnotherPidNamespace) {
  test::UniqueSegment seg;
  Segment segment = Segment::open(seg.options(test::small_geometry()));
  SegmentHeader& h = segment.header();
  h.reader_pid_ns.store(current_pid_namespace() + 1);
  h.reader_pid.store(1);
  h.reader_heartbeat_ns.store(monotonic_ns());
  try {
    Writer w = Writer::attach(writer_options(seg));
    FAIL() << "attached to a segment whose reader cannot judge this process's threads";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("another PID namespace"), std::string::npos) << e.what();
  }
  // A reader that stopped beating is no reason to refuse.
  h.reader_heartbeat_ns.store(monotonic_ns() - 10'000'000'000ULL);
  EXPECT_NO_THROW(Writer::attach(writer_options(seg)));
}

}  // namespace
}  // namespace telering
