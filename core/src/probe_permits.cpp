#include "telering/probe_permits.hpp"

#include "telering/process_info.hpp"

namespace telering {

void ProbePermitPool::clear(ProbeSlot& s, NameId breaker, std::uint64_t lease_ticks) noexcept {
  s.breaker_id.store(0, std::memory_order_release);  // first: no writer starts a new take on it
  s.owner.store(0, std::memory_order_relaxed);
  s.owner_start_time.store(0, std::memory_order_relaxed);
  s.lease_until_ticks.store(0, std::memory_order_relaxed);
  s.lease_ticks.store(lease_ticks, std::memory_order_relaxed);
  s.used.store(0, std::memory_order_relaxed);
  s.spent.store(0, std::memory_order_relaxed);
  s.epoch.store(s.epoch.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // Publishes the fields above to writers that acquire breaker_id.
  s.breaker_id.store(breaker, std::memory_order_release);
}

std::uint32_t ProbePermitPool::issue(NameId breaker, std::uint32_t count, std::uint64_t lease_ticks) noexcept {
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
      clear(slots_[i], breaker, lease_ticks);
    }
    return pack_probe_slots(first, count);
  }
  return 0;
}

void ProbePermitPool::withdraw(std::uint32_t packed) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || r.count == 0 || r.first + r.count > kProbeSlots) return;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    clear(slots_[i], kNoName, 0);
    taken_[i] = false;
  }
}

bool ProbePermitPool::accept(std::uint32_t packed, std::uint32_t pid, std::uint32_t tid) noexcept {
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || r.first + r.count > kProbeSlots) return false;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots_[i];
    const std::uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0 || s.used.load(std::memory_order_relaxed) != 0) continue;
    if (owner_tid(owner) != tid || (pid != 0 && owner_pid(owner) != pid)) continue;
    s.used.store(1, std::memory_order_release);
    return true;
  }
  return false;
}

std::vector<ProbePermitPool::TakenBack> ProbePermitPool::take_back(std::uint32_t packed, std::uint64_t now_ticks) {
  std::vector<TakenBack> out;
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || r.first + r.count > kProbeSlots) return out;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    ProbeSlot& s = slots_[i];
    std::uint64_t owner = s.owner.load(std::memory_order_acquire);
    if (owner == 0 || s.used.load(std::memory_order_relaxed) != 0) continue;
    const std::uint64_t lease_until = s.lease_until_ticks.load(std::memory_order_acquire);
    const bool dead = !process_alive(owner_pid(owner), s.owner_start_time.load(std::memory_order_relaxed));
    // lease_until 0: the holder has not stamped its lease yet (it is between its CAS and
    // the store) — only its death takes the permit back then.
    const bool expired = lease_until != 0 && now_ticks > lease_until;
    if (!dead && !expired) continue;
    if (!s.owner.compare_exchange_strong(owner, 0, std::memory_order_acq_rel, std::memory_order_relaxed)) continue;
    s.owner_start_time.store(0, std::memory_order_relaxed);
    s.lease_until_ticks.store(0, std::memory_order_relaxed);
    s.epoch.store(s.epoch.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    out.push_back(TakenBack{i, owner, dead});
  }
  return out;
}

ProbePermitPool::Counts ProbePermitPool::counts(std::uint32_t packed) const noexcept {
  Counts c;
  const ProbeRange r = unpack_probe_slots(packed);
  if (!slots_ || r.first + r.count > kProbeSlots) return c;
  for (std::uint32_t i = r.first; i < r.first + r.count; ++i) {
    const ProbeSlot& s = slots_[i];
    if (s.used.load(std::memory_order_relaxed) != 0) ++c.used;
    else if (s.owner.load(std::memory_order_relaxed) != 0) ++c.held;
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
