// Half-open probe permits in the segment: issue, take (CAS), spend, accept, take back.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/probe_permits.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/segment.hpp"

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
      const bool first = take_probe_permit(p.slots(), packed, kBreaker, me());
      const bool again = take_probe_permit(p.slots(), packed, kBreaker, me());
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
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  spend_probe_permit(p.slots(), packed, kBreaker, me());
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  spend_probe_permit(p.slots(), packed, kBreaker, me());
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  // The reader counts one outcome per permit, from its holder only.
  EXPECT_TRUE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_TRUE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_EQ(p.pool.counts(packed).used, 2U);
}

TEST(ProbePermits, OnlyTheHolderOutcomeIsAccepted) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, kLease);
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, make_owner(4242, 4243)));
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_FALSE(p.pool.accept(packed, 4242, 9999));
  EXPECT_TRUE(p.pool.accept(packed, 0, 4243));  // shared lane: no pid, the tid decides
}

TEST(ProbePermits, WrongBreakerOrCorruptRangeGrantsNothing) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 2, kLease);
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker + 1, me()));
  EXPECT_FALSE(take_probe_permit(p.slots(), pack_probe_slots(kProbeSlots - 1, 2), kBreaker, me()));
  EXPECT_FALSE(take_probe_permit(p.slots(), pack_probe_slots(0, kMaxProbePermits + 1), kBreaker, me()));
  EXPECT_FALSE(take_probe_permit(p.slots(), 0, kBreaker, me()));
}

TEST(ProbePermits, WithdrawnPermitsStopCountingAndTheirSlotsAreReissued) {
  Pool p;
  const std::uint32_t a = p.pool.issue(kBreaker, 4, kLease);
  const std::uint32_t b = p.pool.issue(kBreaker + 1, 4, kLease);
  ASSERT_NE(a, 0U);
  ASSERT_NE(b, 0U);
  EXPECT_NE(unpack_probe_slots(a).first, unpack_probe_slots(b).first);
  EXPECT_EQ(p.pool.slots_in_use(), 8U);
  ASSERT_TRUE(take_probe_permit(p.slots(), a, kBreaker, me()));
  p.pool.withdraw(a);
  EXPECT_FALSE(p.pool.accept(a, current_pid(), current_tid()));
  EXPECT_FALSE(take_probe_permit(p.slots(), a, kBreaker, me()));
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

TEST(ProbePermits, LeaseStartsWhenTheReaderFirstSeesItTakenAndALateOutcomeDoesNotCount) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, 50);
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  EXPECT_TRUE(p.pool.take_back(packed, 1000).empty());  // first seen at 1000: leased until 1050
  EXPECT_TRUE(p.pool.take_back(packed, 1050).empty());
  const auto back = p.pool.take_back(packed, 1051);
  ASSERT_EQ(back.size(), 1U);
  EXPECT_FALSE(back[0].holder_dead);
  EXPECT_EQ(back[0].owner, me());
  EXPECT_FALSE(spend_probe_permit(p.slots(), packed, kBreaker, me()));  // no longer ours: not a probe
  EXPECT_FALSE(p.pool.accept(packed, current_pid(), current_tid()));
  EXPECT_EQ(p.pool.counts(packed).free, 1U);
  EXPECT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));  // and it can be taken again
}

TEST(ProbePermits, PermitOfADeadProcessIsTakenBackAndAnotherProcessTakesIt) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, 1ULL << 60);
  int ready[2];
  int done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    const bool got = take_probe_permit(p.slots(), packed, kBreaker, make_owner(current_pid(), current_tid()));
    char c = got ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    (void)!::read(done[0], &c, 1);  // alive until the reader has seen it
    ::_exit(got ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  EXPECT_TRUE(p.pool.take_back(packed, 1).empty());  // alive, lease running
  EXPECT_FALSE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  (void)!::write(done[1], &c, 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  const auto back = p.pool.take_back(packed, 2);
  ASSERT_EQ(back.size(), 1U);
  EXPECT_TRUE(back[0].holder_dead);
  EXPECT_EQ(owner_pid(back[0].owner), static_cast<std::uint32_t>(child));
  EXPECT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
}

TEST(ProbePermits, SpendingMarksTheOutcomeAsTheProbeOnlyForAHolder) {
  Pool p;
  const std::uint32_t packed = p.pool.issue(kBreaker, 1, kLease);
  EXPECT_FALSE(spend_probe_permit(p.slots(), packed, kBreaker, me()));  // no permit: an ordinary outcome
  ASSERT_TRUE(take_probe_permit(p.slots(), packed, kBreaker, me()));
  EXPECT_TRUE(spend_probe_permit(p.slots(), packed, kBreaker, me()));
  EXPECT_FALSE(spend_probe_permit(p.slots(), packed, kBreaker, me()));  // one outcome per permit
}

// Writers take and give back while the reader withdraws and reissues the same range over and
// over (under TSan this also checks the protocol's ordering): no slot is left busy or held.
TEST(ProbePermits, TakesRacingReissuesLeaveNoSlotStuck) {
  Pool p;
  std::atomic<std::uint32_t> packed{p.pool.issue(kBreaker, 2, kLease)};
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> taken{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t)
    writers.emplace_back([&] {
      const std::uint64_t self = me();
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint32_t r = packed.load(std::memory_order_acquire);
        if (!take_probe_permit(p.slots(), r, kBreaker, self)) continue;
        taken.fetch_add(1, std::memory_order_relaxed);
        const ProbeRange range = unpack_probe_slots(r);
        for (std::uint32_t i = range.first; i < range.first + range.count; ++i) {
          std::uint64_t expected = self;  // give it back, as a take that lost a race does
          p.slots()[i].owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel, std::memory_order_relaxed);
        }
      }
    });
  // At least 20 000 reissues, and on until the writers have taken permits in between (they
  // may start late on a loaded machine); bounded by 10 s.
  const std::uint64_t deadline = monotonic_ns() + 10'000'000'000ULL;
  for (int round = 0; round < 20'000 || (taken.load() < 1000 && monotonic_ns() < deadline); ++round) {
    p.pool.withdraw(packed.load());
    packed.store(p.pool.issue(kBreaker, 2, kLease), std::memory_order_release);
  }
  stop = true;
  for (auto& t : writers) t.join();
  EXPECT_GT(taken.load(), 0U);
  p.pool.withdraw(packed.load());
  EXPECT_EQ(p.pool.slots_in_use(), 0U);
  for (std::uint32_t i = 0; i < kProbeSlots; ++i) EXPECT_EQ(p.slots()[i].owner.load(), 0U) << "slot " << i;
}

}  // namespace
}  // namespace telering
