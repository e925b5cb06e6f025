// telering/core/ring_mpsc.hpp — the shared lane for threads that find no free SPSC lane.
//
// A bounded multi-producer queue with one control line per slot (Vyukov's sequence word,
// plus who claimed the slot and a check word over its record). For position pos in slot
// i = pos & mask, seq[i] is:
//   pos                      free: a producer may claim pos by CAS on tail
//   pos + 1                  committed: the consumer may read it
//   pos + capacity           consumed: free for the next lap
//   kTombstone | pos         abandoned: the claimant of pos did not commit within the stuck
//                            timeout; the consumer went past it (counted lost). Producers of
//                            later laps treat the slot as full until it is released.
//
// Abandoned claims (Aeron's `unblock`, made safe for a claimant that was only descheduled):
// the consumer never frees a slot a claimant may still write. It turns the claim into a
// tombstone and moves on; the tombstone is released
//   - by the late claimant itself: its commit CAS fails on the tombstone, and that failure
//     frees the slot for the next lap (its record is lost, and was counted so);
//   - by the consumer, once the claimant is proven dead (the claimant's thread identity is in
//     the slot, see process_info.hpp), or after a much longer second timeout (a claimant
//     frozen for longer than that; its record is then the only one that can be torn, and the
//     check word below makes the consumer refuse it).
// Every committed record carries a check word over its bytes and its position: a record that
// a late writer overwrote in part, or that belongs to another lap, is refused, not delivered.
//
// A sequence word no honest party writes (a hostile or broken writer) cannot wedge the lane:
// producers give up after kMaxReloads reloads of tail (counted in gave_up, the record is
// dropped); the consumer repairs such a word only at a position nobody has claimed (head ==
// tail) and never moves its head at or past tail.
//
// Memory ordering:
//  - A producer claims pos with a relaxed CAS on tail (the claim orders nothing), writes its
//    identity, the record and its check word, and commits with a release CAS seq pos ->
//    pos + 1; the consumer's acquire load of seq makes all of it visible.
//  - The consumer frees a slot (claimant cleared first) with a release store of
//    pos + capacity; a producer's acquire load of seq sees the consumer is done with it.
//  - Tombstone and release are CASes on seq: whoever changes it first decides, the other
//    sees the changed value.
//
// The consumer's head and counters live in its own memory; it publishes them to the control
// block for telering-stat and never reads them back (a writer could have changed them).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <vector>

#include "telering/core/layout.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/record.hpp"

namespace telering {

enum class MpscPush : std::uint8_t {
  Committed,
  Full,     // no free slot (or a tombstone in the way): counted in dropped
  GaveUp,   // tail kept moving or a sequence word was garbage: counted in gave_up
  Skipped,  // the consumer abandoned our claim before we committed: the record is lost
};

inline constexpr std::uint64_t kTombstone = 1ULL << 63;  // positions never reach 2^63
inline constexpr std::uint32_t kMaxReloads = 256;

// Who claimed a slot: make_owner(pid, tid), that thread's start time, its PID namespace.
// All 0 = unknown (the consumer can then only wait for the long timeout).
struct MpscClaimant {
  std::uint64_t owner = 0;
  std::uint64_t start_time = 0;
  std::uint64_t pid_ns = 0;
};

// The check word of the record at `pos`: every byte of it, and the position.
[[nodiscard]] inline std::uint64_t mpsc_check(const Record& r, std::uint64_t pos) noexcept {
  std::uint64_t w[kRecordSize / 8];
  std::memcpy(w, &r, sizeof w);
  std::uint64_t h = pos * 0x9E3779B97F4A7C15ULL;
  for (std::uint64_t v : w) {
    h = (h ^ v) * 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 31;
  }
  return h | 1;  // never 0: a zeroed check word is never a valid one
}

class MpscProducer {
 public:
  MpscProducer() = default;
  MpscProducer(MpscControl* control, MpscSlot* slots, Record* records, std::uint32_t capacity) noexcept
      : control_(control), slots_(slots), records_(records), capacity_(capacity) {}

  [[nodiscard]] bool valid() const noexcept { return control_ != nullptr; }

  template <typename Fill>
  [[nodiscard]] MpscPush try_push(Fill&& fill, const MpscClaimant& me = {}) noexcept {
    const std::uint64_t mask = capacity_ - 1;
    std::uint64_t pos = control_->tail.load(std::memory_order_relaxed);
    for (std::uint32_t tries = 0;; ++tries) {
      if (tries == kMaxReloads) {
        control_->gave_up.fetch_add(1, std::memory_order_relaxed);
        return MpscPush::GaveUp;
      }
      // Pairs with the consumer's release store freeing the slot.
      const std::uint64_t s = slots_[pos & mask].seq.load(std::memory_order_acquire);
      if (s == pos) {
        if (control_->tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
        continue;  // another producer took pos: pos now holds the current tail
      }
      if ((s & kTombstone) != 0 || static_cast<std::int64_t>(s - pos) < 0) {
        control_->dropped.fetch_add(1, std::memory_order_relaxed);
        return MpscPush::Full;
      }
      pos = control_->tail.load(std::memory_order_relaxed);  // our view of tail was old
    }
    MpscSlot& slot = slots_[pos & mask];
    slot.claimant.store(me.owner, std::memory_order_relaxed);
    slot.claimant_start_time.store(me.start_time, std::memory_order_relaxed);
    slot.claimant_pid_ns.store(me.pid_ns, std::memory_order_relaxed);
    Record& r = records_[pos & mask];
    fill(r);
    slot.check.store(mpsc_check(r, pos), std::memory_order_relaxed);
    std::uint64_t expected = pos;
    // Publishes the record (pairs with the consumer's acquire load of seq).
    if (slot.seq.compare_exchange_strong(expected, pos + 1, std::memory_order_release, std::memory_order_relaxed))
      return MpscPush::Committed;
    // Abandoned while we were away: our failed commit is what frees the slot for its next lap.
    if (expected == (kTombstone | pos)) {
      slot.claimant.store(0, std::memory_order_relaxed);
      slot.seq.compare_exchange_strong(expected, pos + capacity_, std::memory_order_release, std::memory_order_relaxed);
    }
    return MpscPush::Skipped;
  }

 private:
  MpscControl* control_ = nullptr;
  MpscSlot* slots_ = nullptr;
  Record* records_ = nullptr;
  std::uint64_t capacity_ = 0;
};

// The reader's side. Not thread-safe: one consumer.
class MpscConsumer {
 public:
  // Second timeout: a tombstone whose claimant is not proven dead is freed after this.
  static constexpr std::uint64_t kDefaultAbandonTimeoutNs = 60'000'000'000ULL;

  MpscConsumer(MpscControl* control, MpscSlot* slots, const Record* records, std::uint32_t capacity,
               std::uint64_t stuck_timeout_ns, std::uint64_t abandon_timeout_ns = kDefaultAbandonTimeoutNs) noexcept
      : control_(control),
        slots_(slots),
        records_(records),
        capacity_(capacity),
        stuck_timeout_ns_(stuck_timeout_ns),
        abandon_timeout_ns_(abandon_timeout_ns),
        head_(control->head.load(std::memory_order_relaxed)),  // where the previous reader stopped
        lost_(control->lost.load(std::memory_order_relaxed)),
        pid_ns_(current_pid_namespace()) {}

  struct PollResult {
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;      // claims abandoned after the stuck timeout (tombstoned)
    std::uint64_t corrupt = 0;   // sequence words no honest party writes, and records failing their check
    std::uint64_t tombstones_freed = 0;          // released by a late claimant or freed for a dead one
    std::uint64_t tombstones_expired = 0;        // freed after the abandon timeout
  };

  // The next position this consumer reads (its own copy; published, never read back).
  [[nodiscard]] std::uint64_t head() const noexcept { return head_; }
  // Tombstones not yet released.
  [[nodiscard]] std::size_t tombstones() const noexcept { return tombstones_.size(); }

  template <typename OnRecord>
  PollResult poll(OnRecord&& on_record, std::uint64_t max_records, std::uint64_t now_ns) noexcept {
    PollResult result;
    if (!tombstones_.empty()) check_tombstones(now_ns, result);
    const std::uint64_t mask = capacity_ - 1;
    while (result.delivered + result.corrupt + result.lost < max_records) {
      MpscSlot& slot = slots_[head_ & mask];
      // Pairs with the producer's release CAS that commits the record.
      const std::uint64_t s = slot.seq.load(std::memory_order_acquire);
      if (s == head_ + 1) {
        const Record copy = records_[head_ & mask];  // copy first: check and deliver what we hold
        const bool intact = slot.check.load(std::memory_order_relaxed) == mpsc_check(copy, head_);
        if (intact) on_record(copy);  // before the slot is freed: a reader killed here re-reads it on restart
        slot.claimant.store(0, std::memory_order_relaxed);
        // Frees the slot for the next lap (pairs with the producers' acquire load).
        slot.seq.store(head_ + capacity_, std::memory_order_release);
        ++head_;
        stuck_since_ns_ = 0;
        ++(intact ? result.delivered : result.corrupt);
        continue;
      }
      // Consumed (or consumed and refilled for the next lap) by a reader that died before it
      // published head: already delivered; or abandoned by one: already counted lost.
      if (s - head_ == capacity_ || s - head_ == capacity_ + 1 || s == (kTombstone | head_)) {
        if (s == (kTombstone | head_)) remember_tombstone(head_, now_ns);
        ++head_;
        continue;
      }
      // Pairs with producers' CAS on tail (relaxed: the claim orders nothing; we only need
      // to know whether head was claimed).
      const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
      if (head_ >= tail) {
        // Nothing claimed at head. The last lap's tombstone still standing is legitimate
        // (a predecessor's is adopted, to be freed like ours); any other word but "free for
        // head" would stop every producer here: repair it (nobody can hold a slot nobody
        // could claim).
        if (s == (kTombstone | (head_ - capacity_))) {
          if (!tracked(head_ - capacity_)) remember_tombstone(head_ - capacity_, now_ns);
        } else if (s != head_) {
          std::uint64_t expected = s;
          if (slot.seq.compare_exchange_strong(expected, head_, std::memory_order_release, std::memory_order_relaxed))
            ++result.corrupt;
        }
        break;
      }
      // head < tail: claimed. Free-for-head (s == head) is a claim not yet committed; any other
      // value was scribbled over a claim. Either way wait for the stuck timeout, then abandon.
      if (stuck_head_ != head_ || stuck_since_ns_ == 0) {
        stuck_head_ = head_;
        stuck_since_ns_ = now_ns == 0 ? 1 : now_ns;
        break;
      }
      if (now_ns - stuck_since_ns_ < stuck_timeout_ns_) break;
      std::uint64_t expected = s;
      if (!slot.seq.compare_exchange_strong(expected, kTombstone | head_, std::memory_order_acq_rel, std::memory_order_relaxed))
        continue;  // a late commit won: read it on the next turn of the loop
      ++(s == head_ ? result.lost : result.corrupt);
      if (s == head_) ++lost_;
      remember_tombstone(head_, now_ns);
      ++head_;
      stuck_since_ns_ = 0;
    }
    // Published for telering-stat only; never read back.
    control_->head.store(head_, std::memory_order_relaxed);
    control_->lost.store(lost_, std::memory_order_relaxed);
    return result;
  }

 private:
  struct Tombstone {
    std::uint64_t pos;
    std::uint64_t since_ns;
  };

  void remember_tombstone(std::uint64_t pos, std::uint64_t now_ns) {
    if (tombstones_.size() < capacity_) tombstones_.push_back(Tombstone{pos, now_ns});
  }
  [[nodiscard]] bool tracked(std::uint64_t pos) const noexcept {
    for (const Tombstone& t : tombstones_)
      if (t.pos == pos) return true;
    return false;
  }

  // Frees tombstones whose claimant released them, is proven dead, or outlived the abandon
  // timeout. Only a tombstone's own word is touched, and only by CAS from that tombstone.
  void check_tombstones(std::uint64_t now_ns, PollResult& result) noexcept {
    for (std::size_t i = 0; i < tombstones_.size();) {
      const Tombstone t = tombstones_[i];
      MpscSlot& slot = slots_[t.pos & (capacity_ - 1)];
      std::uint64_t expected = kTombstone | t.pos;
      bool gone = slot.seq.load(std::memory_order_acquire) != expected;  // released by its claimant
      if (gone) {
        ++result.tombstones_freed;
      } else {
        const bool expired = now_ns >= t.since_ns && now_ns - t.since_ns >= abandon_timeout_ns_;
        if (expired || claimant_dead(slot)) {
          slot.claimant.store(0, std::memory_order_relaxed);
          if (slot.seq.compare_exchange_strong(expected, t.pos + capacity_, std::memory_order_release,
                                               std::memory_order_relaxed))
            ++(expired ? result.tombstones_expired : result.tombstones_freed);
          gone = true;
        }
      }
      if (gone) {
        tombstones_[i] = tombstones_.back();
        tombstones_.pop_back();
      } else {
        ++i;
      }
    }
  }

  [[nodiscard]] bool claimant_dead(const MpscSlot& slot) const noexcept {
    const std::uint64_t owner = slot.claimant.load(std::memory_order_relaxed);
    const std::uint64_t start = slot.claimant_start_time.load(std::memory_order_relaxed);
    const std::uint64_t ns = slot.claimant_pid_ns.load(std::memory_order_relaxed);
    if (owner == 0 || start == 0 || ns == 0 || ns != pid_ns_) return false;  // cannot tell
    return thread_liveness(owner_pid(owner), owner_tid(owner), start) == Liveness::Dead;
  }

  MpscControl* control_;
  MpscSlot* slots_;
  const Record* records_;
  std::uint64_t capacity_;
  std::uint64_t stuck_timeout_ns_;
  std::uint64_t abandon_timeout_ns_;
  std::uint64_t head_;
  std::uint64_t lost_;
  std::uint64_t pid_ns_;
  std::uint64_t stuck_head_ = 0;
  std::uint64_t stuck_since_ns_ = 0;
  std::vector<Tombstone> tombstones_;
};

}  // namespace telering
