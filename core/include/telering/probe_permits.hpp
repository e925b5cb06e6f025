// telering/probe_permits.hpp — exactly N half-open probes, host-wide.
//
// resilience4j lets N calls through a HALF_OPEN breaker — in one process. Across a fleet of
// bots each process would send its own N. Here the permits live in the segment
// (layout.hpp: ProbeSlot): when a breaker goes HALF_OPEN the reader issues exactly N slots and
// publishes their range on the breaker's board entry; a bot thread that wants to call takes
// one with a CAS (take_probe_permit) and is the only one to hold it. The reader counts only
// outcomes from holders of unused permits, so exactly N outcomes decide. A permit whose holder
// died (pid gone or reused) or whose lease ran out is taken back and can be taken again.
//
// Who writes what (ProbeSlot): the reader writes breaker_id, lease_ticks, epoch and used,
// and resets owner to 0 (issue, withdraw, take back); a writer CASes owner from 0 to
// make_owner(pid, tid) and then stamps spent = 0, owner_start_time and lease_until_ticks;
// the holder sets spent when it records its outcome.
// Memory order: the reader publishes a slot with a release store of breaker_id after the
// other fields and the range with a release store on the board; a writer acquires both.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "telering/layout.hpp"
#include "telering/name_table.hpp"

namespace telering {

struct ProbeRange {
  std::uint32_t first = 0;
  std::uint32_t count = 0;
};
[[nodiscard]] constexpr ProbeRange unpack_probe_slots(std::uint32_t packed) noexcept {
  return ProbeRange{packed >> 16, packed & 0xFFFFu};
}
// Most permits one breaker gets; a breaker asking for more probes runs without permits.
inline constexpr std::uint32_t kMaxProbePermits = 64;

// Writer side: true when the calling thread (`me` = make_owner(pid, tid)) holds an unused
// permit of `breaker` in `packed`, or has just taken a free one. At most `count` CAS tries;
// never blocks. A corrupt range grants nothing.
[[nodiscard]] inline bool take_probe_permit(ProbeSlot* slots, std::uint32_t packed, NameId breaker, std::uint64_t me,
                                            std::uint64_t start_time, std::uint64_t now_ticks) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (r.count == 0 || r.count > kMaxProbePermits || r.first + r.count > kProbeSlots) return false;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    const ProbeSlot& s = slots[i];
    if (s.breaker_id.load(std::memory_order_acquire) == breaker && s.owner.load(std::memory_order_acquire) == me &&
        s.spent.load(std::memory_order_relaxed) == 0 && s.used.load(std::memory_order_acquire) == 0)
      return true;
  }
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots[i];
    if (s.breaker_id.load(std::memory_order_acquire) != breaker || s.owner.load(std::memory_order_relaxed) != 0) continue;
    std::uint64_t expected = 0;
    if (!s.owner.compare_exchange_strong(expected, me, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    // The slot may have been withdrawn and issued to another breaker between the check and
    // the CAS: then it is not ours to keep.
    if (s.breaker_id.load(std::memory_order_acquire) != breaker) {
      expected = me;
      s.owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel, std::memory_order_relaxed);
      continue;
    }
    s.spent.store(0, std::memory_order_relaxed);
    s.owner_start_time.store(start_time, std::memory_order_relaxed);
    s.lease_until_ticks.store(now_ticks + s.lease_ticks.load(std::memory_order_relaxed), std::memory_order_release);
    return true;
  }
  return false;
}

// Writer side, when the calling thread records an outcome for `breaker`: marks the permit it
// holds there spent (its next call takes another one). No-op without one.
inline void spend_probe_permit(ProbeSlot* slots, std::uint32_t packed, NameId breaker, std::uint64_t me) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (r.count == 0 || r.count > kMaxProbePermits || r.first + r.count > kProbeSlots) return;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots[i];
    if (s.breaker_id.load(std::memory_order_acquire) == breaker && s.owner.load(std::memory_order_acquire) == me &&
        s.spent.load(std::memory_order_relaxed) == 0) {
      s.spent.store(1, std::memory_order_relaxed);
      return;
    }
  }
}

// Reader side: hands out ranges of slots, matches outcomes to permits, takes permits back.
// One reader thread owns it; the allocation map is private to the reader.
class ProbePermitPool {
 public:
  ProbePermitPool() = default;
  explicit ProbePermitPool(ProbeSlot* slots) : slots_(slots), taken_(kProbeSlots, false) {}

  // Issues `count` fresh permits for `breaker`, each leased for lease_ticks once taken.
  // Returns the packed range to publish, or 0 when count is 0 or above kMaxProbePermits or
  // no run of free slots is left (the breaker then runs without permits).
  [[nodiscard]] std::uint32_t issue(NameId breaker, std::uint32_t count, std::uint64_t lease_ticks) noexcept;
  // Frees a range issued before (its permits stop being valid at once).
  void withdraw(std::uint32_t packed) noexcept;
  // An outcome from thread (pid, tid) arrived: true, and the permit marked used, when that
  // thread holds an unused permit of the range. pid 0 (shared lane) matches on tid alone.
  [[nodiscard]] bool accept(std::uint32_t packed, std::uint32_t pid, std::uint32_t tid) noexcept;

  struct TakenBack {
    std::uint32_t slot = 0;
    std::uint64_t owner = 0;
    bool holder_dead = false;  // else: the lease ran out
  };
  // Takes back unused permits whose holder is dead or whose lease ended before now_ticks.
  std::vector<TakenBack> take_back(std::uint32_t packed, std::uint64_t now_ticks);

  // Permits of the range not yet taken, taken but unused, and used.
  struct Counts {
    std::uint32_t free = 0;
    std::uint32_t held = 0;
    std::uint32_t used = 0;
  };
  [[nodiscard]] Counts counts(std::uint32_t packed) const noexcept;
  [[nodiscard]] std::uint32_t slots_in_use() const noexcept;

 private:
  void clear(ProbeSlot& s, NameId breaker, std::uint64_t lease_ticks) noexcept;
  ProbeSlot* slots_ = nullptr;
  std::vector<bool> taken_;
};

}  // namespace telering
