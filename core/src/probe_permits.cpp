#include "telering/core/probe_permits.hpp"

#include "telering/core/process_info.hpp"

namespace telering {
namespace {

// Taken by a writer (not free, not being reset by us) and not yet counted.
bool held_unused(const ProbeSlot& s, std::uint64_t owner) noexcept {
  return owner != 0 && owner != kProbeSlotBusy && s.used.load(std::memory_order_relaxed) == 0;
}

}  // namespace

void ProbePermitPool::reset(std::uint32_t i, NameId breaker, std::uint64_t lease_ns) noexcept {
  ProbeSlot& s = slots_[i];
  // Busy first: from here no writer can take the slot (they CAS only from 0).
  s.owner.exchange(kProbeSlotBusy, std::memory_order_acq_rel);
  s.used.store(0, std::memory_order_relaxed);
  s.spent.store(0, std::memory_order_relaxed);
  s.epoch.store(s.epoch.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  s.breaker_id.store(breaker, std::memory_order_release);
  leases_[i] = Lease{};
  lease_ns_[i] = lease_ns;
  // Last, with release: a writer whose CAS reads this 0 sees everything above.
  s.owner.store(0, std::memory_order_release);
}

void ProbePermitPool::reset_all() noexcept {
  if (!slots_) return;
  for (std::uint32_t i = 0; i < kProbeSlots; ++i) {
    reset(i, kNoName, 0);
    taken_[i] = false;
  }
}

std::uint32_t ProbePermitPool::issue(NameId breaker, std::uint32_t count, std::uint64_t lease_ns) noexcept {
  if (!slots_ || count == 0 || count > kMaxProbePermits || breaker == kNoName) return 0;
  for (std::uint32_t first = 0; first + count <= kProbeSlots; ++first) {
    std::uint32_t n = 0;
    while (n < count && !taken_[first + n]) ++n;
    if (n < count) {
      first += n;  // skip past the taken slot
      continue;
    }
    for (std::uint32_t i = first; i < first + count; ++i) {
      taken_[i] = true;
      reset(i, breaker, lease_ns);
    }
    return pack_probe_slots(first, count);
  }
  return 0;
}

void ProbePermitPool::withdraw(std::uint32_t packed) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || !valid_probe_range(r)) return;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    reset(i, kNoName, 0);
    taken_[i] = false;
  }
}

bool ProbePermitPool::accept(std::uint32_t packed, std::uint32_t pid, std::uint32_t tid) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || !valid_probe_range(r)) return false;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots_[i];
    const std::uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (!held_unused(s, owner)) continue;
    if (owner_tid(owner) != tid || (pid != 0 && owner_pid(owner) != pid)) continue;
    s.used.store(1, std::memory_order_release);
    return true;
  }
  return false;
}

std::vector<ProbePermitPool::TakenBack> ProbePermitPool::take_back(std::uint32_t packed, std::uint64_t now_ns) {
  std::vector<TakenBack> out;
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || !valid_probe_range(r)) return out;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots_[i];
    const std::uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (!held_unused(s, owner)) continue;
    Lease& lease = leases_[i];
    if (lease.owner != owner) {  // taken since the last look: its lease starts now
      lease = Lease{owner, thread_start_time(owner_pid(owner), owner_tid(owner)), now_ns + lease_ns_[i]};
    }
    // Dead only on proof (a holder we cannot look up keeps its permit until the lease ends).
    const bool dead = thread_liveness(owner_pid(owner), owner_tid(owner), lease.start_time) == Liveness::Dead;
    if (!dead && now_ns <= lease.until_ns) continue;
    // Only if the holder is still the one we judged (it may have given the slot back).
    std::uint64_t expected = owner;
    if (!s.owner.compare_exchange_strong(expected, kProbeSlotBusy, std::memory_order_acq_rel, std::memory_order_relaxed))
      continue;
    reset(i, static_cast<NameId>(s.breaker_id.load(std::memory_order_relaxed)), lease_ns_[i]);
    out.push_back(TakenBack{i, owner, dead});
  }
  return out;
}

ProbePermitPool::Counts ProbePermitPool::counts(std::uint32_t packed) const noexcept {
  Counts c;
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || !valid_probe_range(r)) return c;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    const ProbeSlot& s = slots_[i];
    const std::uint64_t owner = s.owner.load(std::memory_order_relaxed);
    if (s.used.load(std::memory_order_relaxed) != 0) ++c.used;
    else if (owner != 0 && owner != kProbeSlotBusy) ++c.held;
    else ++c.free;
  }
  return c;
}

std::uint32_t ProbePermitPool::slots_in_use() const noexcept {
  std::uint32_t n = 0;
  for (bool t : taken_) n += t ? 1 : 0;
  return n;
}

}  // namespace telering
