// telering/core/probe_permits.hpp — exactly N half-open probes, host-wide.
//
// resilience4j lets N calls through a HALF_OPEN breaker — in one process. Across a fleet of
// bots each process would send its own N. Here the permits live in the segment
// (layout.hpp: ProbeSlot): when a breaker goes HALF_OPEN the reader issues exactly N slots and
// publishes their range on the breaker's board entry; a bot thread that wants to call takes
// one with a CAS (take_probe_permit) and is the only one to hold it. When it records its
// outcome it spends the permit and flags the record kFlagProbe; the reader counts only
// flagged outcomes from the holder of an unused permit, so exactly N outcomes decide. A
// permit whose holder died (pid gone or reused) or kept it past the lease is taken back and
// can be taken again; the late holder's outcome then no longer counts.
//
// Who writes what: see ProbeSlot. The reader never overwrites a slot a writer may be taking:
// it first moves owner to kProbeSlotBusy (writers CAS only from 0), rewrites the slot, and
// frees it with a release store of owner = 0, so a writer whose CAS reads that 0 also sees
// the slot's new breaker_id. A writer that took a slot just before the reader moved it to
// busy loses it without noticing: its call is made, but its outcome is not counted.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"

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
[[nodiscard]] constexpr bool valid_probe_range(ProbeRange r) noexcept {
  return r.count != 0 && r.count <= kMaxProbePermits && r.first + r.count <= kProbeSlots;
}

// A permit of `breaker` that `me` holds and has neither spent nor had counted by the reader.
[[nodiscard]] inline bool holds_unspent(const ProbeSlot& s, NameId breaker, std::uint64_t me) noexcept {
  return s.owner.load(std::memory_order_acquire) == me && s.breaker_id.load(std::memory_order_acquire) == breaker &&
         s.spent.load(std::memory_order_relaxed) == 0 && s.used.load(std::memory_order_relaxed) == 0;
}

// Writer side: true when the calling thread (`me` = make_owner(pid, tid)) holds an unspent
// permit of `breaker` in `packed`, or has just taken a free one. At most `count` CAS tries;
// never blocks. A corrupt range grants nothing.
[[nodiscard]] inline bool take_probe_permit(ProbeSlot* slots, std::uint32_t packed, NameId breaker, std::uint64_t me) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!valid_probe_range(r)) return false;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    if (holds_unspent(slots[i], breaker, me)) return true;
  }
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots[i];
    if (s.owner.load(std::memory_order_relaxed) != 0 || s.breaker_id.load(std::memory_order_acquire) != breaker) continue;
    std::uint64_t expected = 0;
    if (!s.owner.compare_exchange_strong(expected, me, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    // The CAS read the reader's last release of the slot: breaker_id is the current one. It
    // may have been withdrawn or issued to another breaker since our check: give it back.
    if (s.breaker_id.load(std::memory_order_acquire) != breaker) {
      expected = me;
      s.owner.compare_exchange_strong(expected, 0, std::memory_order_acq_rel, std::memory_order_relaxed);
      continue;
    }
    return true;
  }
  return false;
}

// Writer side, when the calling thread records an outcome for `breaker`: spends the unspent
// permit it holds there (its next call takes another one). True when it had one: the outcome
// is then the probe (kFlagProbe).
inline bool spend_probe_permit(ProbeSlot* slots, std::uint32_t packed, NameId breaker, std::uint64_t me) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!valid_probe_range(r)) return false;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    if (holds_unspent(slots[i], breaker, me)) {
      slots[i].spent.store(1, std::memory_order_relaxed);
      return true;
    }
  }
  return false;
}

// Reader side: hands out ranges of slots, matches probe outcomes to permits, takes permits
// back. One reader thread owns it; the allocation map and the leases are private to it.
class ProbePermitPool {
 public:
  ProbePermitPool() = default;
  explicit ProbePermitPool(ProbeSlot* slots) : slots_(slots), leases_(kProbeSlots) {}

  // Frees every slot (a reader starting on a segment another reader used).
  void reset_all() noexcept;
  // Issues `count` fresh permits for `breaker`, each leased for lease_ns from when the reader
  // first sees it taken (so for lease_ns to lease_ns + one take_back interval). Returns the
  // packed range to publish, or 0 when count is 0 or above kMaxProbePermits or no run of
  // free slots is left (the breaker then runs without permits).
  [[nodiscard]] std::uint32_t issue(NameId breaker, std::uint32_t count, std::uint64_t lease_ns) noexcept;
  // Frees a range issued before (its permits stop being valid at once).
  void withdraw(std::uint32_t packed) noexcept;
  // A probe outcome (kFlagProbe) from thread (pid, tid) arrived: true, and the permit marked
  // used, when that thread holds an unused permit of the range. pid 0 (shared lane) matches
  // on tid alone.
  [[nodiscard]] bool accept(std::uint32_t packed, std::uint32_t pid, std::uint32_t tid) noexcept;

  struct TakenBack {
    std::uint32_t slot = 0;
    std::uint64_t owner = 0;
    bool holder_dead = false;  // else: the lease ran out
  };
  // Starts the lease of newly taken permits, and takes back unused permits whose holder is
  // dead or whose lease ended before now_ns.
  std::vector<TakenBack> take_back(std::uint32_t packed, std::uint64_t now_ns);

  // Permits of the range not yet taken, taken but unused, and used.
  struct Counts {
    std::uint32_t free = 0;
    std::uint32_t held = 0;
    std::uint32_t used = 0;
  };
  [[nodiscard]] Counts counts(std::uint32_t packed) const noexcept;
  [[nodiscard]] std::uint32_t slots_in_use() const noexcept;

 private:
  struct Lease {
    std::uint64_t owner = 0;       // the holder this lease is for
    std::uint64_t start_time = 0;  // its thread's start time when first seen (0: could not be read)
    std::uint64_t until_ns = 0;
  };
  // Moves the slot to busy, rewrites it for `breaker` (0 = none), bumps its epoch and frees it.
  void reset(std::uint32_t i, NameId breaker, std::uint64_t lease_ns) noexcept;

  ProbeSlot* slots_ = nullptr;
  std::vector<Lease> leases_;          // by slot
  std::vector<std::uint64_t> lease_ns_ = std::vector<std::uint64_t>(kProbeSlots, 0);
  std::vector<bool> taken_ = std::vector<bool>(kProbeSlots, false);
};

}  // namespace telering
