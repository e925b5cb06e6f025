// writer/src/lane_claim.cpp — see lane_claim.hpp.
#include "lane_claim.hpp"

#include <pthread.h>

#include <string>

#include "telering/core/clock.hpp"
#include "telering/core/process_info.hpp"

namespace telering::detail {

namespace {

// Live writers of this process, by slot. Guarded by g_registry_mutex; read under it at
// thread exit so a thread never releases a lane of a Writer that is already gone.
std::mutex g_registry_mutex;
std::array<Writer::State*, kMaxWritersPerProcess> g_writers{};
std::uint64_t g_next_serial = 1;

// fork() copies a mutex in whatever state another thread left it: a lane claim or release
// in progress would leave the child's copy locked forever. Holding every lock across the
// fork (registry first, as ~Writer and thread exit take them) gives the child unlocked ones.
void lock_for_fork() noexcept {
  g_registry_mutex.lock();
  for (Writer::State* w : g_writers)
    if (w != nullptr) w->lanes_mutex.lock();
}
void unlock_after_fork() noexcept {
  for (Writer::State* w : g_writers)
    if (w != nullptr) w->lanes_mutex.unlock();
  g_registry_mutex.unlock();
}
[[maybe_unused]] const int g_fork_locks_registered = ::pthread_atfork(lock_for_fork, unlock_after_fork, unlock_after_fork);

void release_lane(Segment& segment, std::uint32_t lane, std::uint64_t owner) noexcept {
  LaneControl& control = segment.lane(lane);
  if (control.owner.load(std::memory_order_relaxed) != owner) return;  // not ours any more
  control.owner_start_time.store(0, std::memory_order_relaxed);
  control.owner_pid_ns.store(0, std::memory_order_relaxed);
  // Frees the lane (pairs with the next claimant's acquire CAS). Fails if the reader
  // already reclaimed it, which is fine.
  control.owner.compare_exchange_strong(owner, 0, std::memory_order_release, std::memory_order_relaxed);
}

// Thread exit: gives back the lanes this thread holds in writers that still exist. Touched
// only when a thread claims a lane, which registers its destructor for that thread.
struct ThreadLaneReleaser {
  LaneCaches* lanes = nullptr;  // this thread's (writer.cpp), set by its first claim
  ~ThreadLaneReleaser() {
    if (lanes == nullptr) return;
    std::lock_guard lock(g_registry_mutex);
    for (std::size_t slot = 0; slot < lanes->size(); ++slot) {
      LaneCache& c = (*lanes)[slot];
      Writer::State* w = g_writers[slot];
      if (c.serial == 0 || c.on_shared || w == nullptr || w->serial != c.serial || c.fork_generation != fork_generation())
        continue;
      release_lane(w->segment, c.lane, make_owner(current_pid(), c.tid));
      std::lock_guard lanes_lock(w->lanes_mutex);
      std::erase(w->claimed, c.lane);
      c.serial = 0;
    }
  }
};
thread_local ThreadLaneReleaser t_lane_releaser;

}  // namespace

void register_writer(Writer::State& w) {
  std::lock_guard lock(g_registry_mutex);
  std::size_t slot = 0;
  while (slot < g_writers.size() && g_writers[slot] != nullptr) ++slot;
  if (slot == g_writers.size())
    throw SegmentError("too many telering writers in this process (at most " + std::to_string(kMaxWritersPerProcess) + ")");
  w.slot = slot;
  w.serial = g_next_serial++;
  g_writers[slot] = &w;
}

void unregister_writer(Writer::State& w) noexcept {
  std::lock_guard lock(g_registry_mutex);
  g_writers[w.slot] = nullptr;
  std::lock_guard lanes_lock(w.lanes_mutex);
  const std::uint32_t pid = current_pid();
  for (std::uint32_t lane : w.claimed) {
    LaneControl& control = w.segment.lane(lane);
    const std::uint64_t owner = control.owner.load(std::memory_order_relaxed);
    if (owner_pid(owner) == pid) release_lane(w.segment, lane, owner);
  }
  w.claimed.clear();
}

// Claims a lane for the calling thread (or settles on the shared lane). Off the hot path:
// runs on a thread's first record, after fork, and every kReclaimInterval shared records.
void claim_lane(Writer::State& w, LaneCache& c, LaneCaches& lanes) noexcept {
  const std::uint32_t pid = current_pid();
  const std::uint32_t tid = current_tid();
  const std::uint32_t generation = fork_generation();
  if (c.serial == w.serial && c.fork_generation == generation && !c.on_shared) return;
  const std::uint64_t me = make_owner(pid, tid);
  const MpscClaimant identity{me, current_thread_start_time(), current_pid_namespace()};
  const std::uint32_t count = w.segment.geometry().lane_count;
  for (std::uint32_t k = 0; k < count; ++k) {
    const std::uint32_t i = (tid + k) % count;
    LaneControl& lane = w.segment.lane(i);
    std::uint64_t expected = 0;
    if (lane.owner.load(std::memory_order_relaxed) != 0) continue;
    // Acquire: pairs with the previous owner's (or the reader's) release of the lane, so
    // we see its final tail and head_cache.
    if (!lane.owner.compare_exchange_strong(expected, me, std::memory_order_acquire, std::memory_order_relaxed)) continue;
    t_lane_releaser.lanes = &lanes;  // constructs this thread's releaser, so thread exit frees the lane
    // Who we are, after the claim: a reader that reads 0 here cannot tell, and waits.
    lane.owner_start_time.store(identity.start_time, std::memory_order_release);
    lane.owner_pid_ns.store(identity.pid_ns, std::memory_order_release);
    lane.generation.fetch_add(1, std::memory_order_relaxed);
    w.segment.header().lane_claims.fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lock(w.lanes_mutex);
      w.claimed.push_back(i);  // capacity reserved at attach: no allocation
    }
    c = LaneCache{w.serial, generation, tid, i, false, 0, read_ticks() + kOwnerCheckTicks,
                  SpscProducer(&lane, w.segment.lane_records(i), w.segment.geometry().lane_capacity), identity};
    return;
  }
  w.segment.header().lane_claim_failures.fetch_add(1, std::memory_order_relaxed);
  c = LaneCache{w.serial, generation, tid, 0, true, kReclaimInterval, 0, SpscProducer{}, identity};
}

// Off the hot path, every kOwnerCheckTicks: a lane whose owner word is no longer ours was
// taken over (freed by a reader that wrongly judged us dead, or scribbled by another
// writer). Writing on would make two producers of one SPSC lane: move to another, say so.
void check_lane_owner(Writer::State& w, LaneCache& c, LaneCaches& lanes, std::uint64_t now_ticks) noexcept {
  c.next_owner_check = now_ticks + kOwnerCheckTicks;
  const std::uint64_t me = make_owner(current_pid(), c.tid);
  if (w.segment.lane(c.lane).owner.load(std::memory_order_relaxed) == me) return;
  w.segment.header().lanes_lost.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(w.lanes_mutex);
    std::erase(w.claimed, c.lane);
  }
  c.serial = 0;
  claim_lane(w, c, lanes);
}

}  // namespace telering::detail
