// Half-open probe permits in the segment: issue, take (CAS), spend, accept, take back.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/probe_permits.hpp"
#include "telering/process_info.hpp"
#include "telering/segment.hpp"

namespace telering {
namespace {

constexpr NameId kBreaker = 7;
constexpr std::uint64_t kLease = 1'000'000;

struct Pool {
  test::UniqueSegment shm;
  Segment seg = Segment::open(shm.options(test::small_geometry()));
  ProbePermitPool pool{seg.probe_slots()};
  ProbeSlot* slots() { return seg.probe_slots(); }
};

std::uint64_t me() { return make_owner(current_pid(), current_tid()); }

TEST(ProbePermits, ExactlyNThreadsOfManyGetAPermit) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 3, kLease);
  ASSERT_NE(packed, 0U);
  std::atomic<int> granted{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t)
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      // Asking twice is free for a holder: it keeps its one permit.
      const bool first = take_probe_permit(p.slots(), packed, kBreaker, me(), 1, 100);
      const bool again = take_probe_permit(p.slots(), packed, kBreaker, me(), 1, 100);
      EXPECT_EQ(first, again);
      granted += first ? 1 : 0;
    });
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(granted.load(), 3);
  const ProbePermitPool::Counts c = p.pool.counts(packed);
  EXPECT_EQ(c.held, 3U);
  EXPECT_EQ(c.free, 0U);
}

TEST(ProbePermits, AHolderSpendsItsPermitAndTakesTheNextUntilNoneIsLeft) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 2, kLease);
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me(), 1, 100));
  spend_probe_permit(p.slots(), packed, kBreaker, me());
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me(), 1, 100));
  spend_probe_permit(p.slots(), packed, kBreaker, me());
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker, me(), 1, 100));
  // The reader counts one outcome per permit, from its holder only.
  EXPECT_TRUE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_TRUE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_EQ(p.pool.counts(packed).used, 2U);
}

TEST(ProbePermits, OnlyTheHolderOutcomeIsAccepted) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, kLease);
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, make_owner(4242, 4243), 1, 100));
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_FALSE(p.pool.accept(packed, 4242, 9999));
  EXPECT_TRUE(p.pool.accept(packed, 0, 4243));  // shared lane: no pid, the tid decides
}

TEST(ProbePermits, WrongBreakerOrCorruptRangeGrantsNothing) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 2, kLease);
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker + 1, me(), 1, 100));
  EXPECT_FALSE(take_probe_permit(p.slots(), pack_probe_slots(kProbeSlots - 1, 2), kBreaker, me(), 1, 100));
  EXPECT_FALSE(take_probe_permit(p.slots(), pack_probe_slots(0, kMaxProbePermits + 1), kBreaker, me(), 1, 100));
  EXPECT_FALSE(take_probe_permit(p.slots(), 0, kBreaker, me(), 1, 100));
}

TEST(ProbePermits, WithdrawnPermitsStopCountingAndTheirSlotsAreReissued) {
  Pool p;
  const std::uint32_t a = p.pool.issue(kBreaker, 4, kLease);
  const std::uint32_t b = p.pool.issue(kBreaker + 1, 4, kLease);
  ASSERT_NE(a, 0U);
  ASSERT_NE(b, 0U);
  EXPECT_NE(unpack_probe_slots(a).first, unpack_probe_slots(b).first);
  EXPECT_EQ(p.pool.slots_in_use(), 8U);
  ASSERT_TRUE(take_probe_permit(p.slots(), a, kBreaker, me(), 1, 100));
  p.pool.withdraw(a);
  EXPECT_FALSE(p.pool.accept(a, current_pid(), current_tid()));
  EXPECT_FALSE(take_probe_permit(p.slots(), a, kBreaker, me(), 1, 100));
  // The freed run is found again (first fit), for another breaker.
  const std::uint32_t c = p.pool.issue(kBreaker + 2, 4, kLease);
  EXPECT_EQ(unpack_probe_slots(c).first, unpack_probe_slots(a).first);
  EXPECT_EQ(p.pool.counts(c).free, 4U);
}

TEST(ProbePermits, PoolRefusesWhatItCannotHold) {
  Pool p;
  EXPECT_EQ(p.pool.issue(kBreaker, 0, kLease), 0U);
  EXPECT_EQ(p.pool.issue(kBreaker, kMaxProbePermits + 1, kLease), 0U);
  EXPECT_EQ(p.pool.issue(kNoName, 1, kLease), 0U);
  std::uint32_t issued = 0;
  while (p.pool.issue(kBreaker, kMaxProbePermits, kLease) != 0) ++issued;
  EXPECT_EQ(issued, kProbeSlots / kMaxProbePermits);
  EXPECT_EQ(p.pool.issue(kBreaker, 1, kLease), 0U);
}

TEST(ProbePermits, LeaseRunOutIsTakenBackAndTheLateOutcomeDoesNotCount) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, 50);
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me(), current_process_start_time(), 1000));
  EXPECT_TRUE(p.pool.take_back(packed, 1050).empty());  // lease ends after tick 1050
  const auto back = p.pool.take_back(packed, 1051);
  ASSERT_EQ(back.size(), 1U);
  EXPECT_FALSE(back[0].holder_dead);
  EXPECT_EQ(back[0].owner, me());
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_EQ(p.pool.counts(packed).free, 1U);
}

TEST(ProbePermits, PermitOfADeadProcessIsTakenBackAndAnotherProcessTakesIt) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, 1ULL << 60);
  const pid_t child = ::fork();
  if (child == 0) {
    const bool got = take_probe_permit(p.slots(), packed, kBreaker, make_owner(current_pid(), current_tid()),
                                       current_process_start_time(), read_ticks());
    ::_exit(got ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker, me(), 1, read_ticks()));  // held by the dead child
  const auto back = p.pool.take_back(packed, read_ticks());
  ASSERT_EQ(back.size(), 1U);
  EXPECT_TRUE(back[0].holder_dead);
  EXPECT_EQ(owner_pid(back[0].owner), static_cast<std::uint32_t>(child));
  EXPECT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me(), current_process_start_time(), read_ticks()));
}

}  // namespace
}  // namespace telering
