// telering/ring_mpsc.hpp — the shared lane for threads that find no free SPSC lane.
//
// A bounded multi-producer queue with one sequence word per slot (Vyukov). For position
// pos in slot i = pos & mask:
//   seq[i] == pos             free: a producer may claim pos by CAS on tail
//   seq[i] == pos + 1         committed: the consumer may read it
//   seq[i] == pos + capacity  consumed: free for the next lap
//
// Memory ordering:
//  - A producer claims pos with a relaxed CAS on tail (the claim orders nothing), writes
//    the record, and commits with a release CAS seq pos -> pos + 1; the consumer's acquire
//    load of seq makes the record visible.
//  - The consumer frees a slot with a release store of pos + capacity; a producer's acquire
//    load of seq sees that the consumer is done with the old record.
//  - A producer that dies between claim and commit leaves seq == pos while tail > pos. The
//    consumer waits `stuck_timeout`, then skips the slot with a CAS pos -> pos + capacity and
//    counts it lost. Commit is a CAS (not a store) so a producer that was merely descheduled
//    for longer than the timeout finds its slot taken and reports the record lost instead
//    of corrupting the sequence.
#pragma once

#include <atomic>
#include <cstdint>

#include "telering/layout.hpp"
#include "telering/record.hpp"

namespace telering {

enum class MpscPush : std::uint8_t { Committed, Full, Skipped };

class MpscProducer {
 public:
  MpscProducer() = default;
  MpscProducer(MpscControl* control, std::atomic<std::uint64_t>* seq, Record* records, std::uint32_t capacity) noexcept
      : control_(control), seq_(seq), records_(records), mask_(capacity - 1) {}

  [[nodiscard]] bool valid() const noexcept { return control_ != nullptr; }

  template <typename Fill>
  [[nodiscard]] MpscPush try_push(Fill&& fill) noexcept {
    std::uint64_t pos = control_->tail.load(std::memory_order_relaxed);
    for (;;) {
      // Pairs with the consumer's release store freeing the slot.
      const std::uint64_t s = seq_[pos & mask_].load(std::memory_order_acquire);
      const auto diff = static_cast<std::int64_t>(s - pos);
      if (diff == 0) {
        if (control_->tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) break;
      } else if (diff < 0) {
        control_->dropped.fetch_add(1, std::memory_order_relaxed);
        return MpscPush::Full;
      } else {
        pos = control_->tail.load(std::memory_order_relaxed);
      }
    }
    fill(records_[pos & mask_]);
    std::uint64_t expected = pos;
    // Publishes the record (pairs with the consumer's acquire load of seq).
    if (!seq_[pos & mask_].compare_exchange_strong(expected, pos + 1, std::memory_order_release,
                                                   std::memory_order_relaxed))
      return MpscPush::Skipped;
    return MpscPush::Committed;
  }

 private:
  MpscControl* control_ = nullptr;
  std::atomic<std::uint64_t>* seq_ = nullptr;
  Record* records_ = nullptr;
  std::uint64_t mask_ = 0;
};

// The reader's side. Not thread-safe: one consumer. Keeps in its own memory how long the
// slot at head has been claimed-but-uncommitted.
class MpscConsumer {
 public:
  MpscConsumer(MpscControl* control, std::atomic<std::uint64_t>* seq, const Record* records, std::uint32_t capacity,
               std::uint64_t stuck_timeout_ns) noexcept
      : control_(control), seq_(seq), records_(records), capacity_(capacity), stuck_timeout_ns_(stuck_timeout_ns) {}

  struct PollResult {
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;      // uncommitted claims skipped after the timeout
    std::uint64_t corrupt = 0;   // sequence words no honest producer writes: resynchronised
  };

  template <typename OnRecord>
  PollResult poll(OnRecord&& on_record, std::uint64_t max_records, std::uint64_t now_ns) noexcept {
    PollResult result;
    std::uint64_t head = control_->head.load(std::memory_order_relaxed);  // our own word
    const std::uint64_t mask = capacity_ - 1;
    while (result.delivered + result.corrupt + result.lost < max_records) {
      auto& slot_seq = seq_[head & mask];
      // Pairs with the producer's release CAS that commits the record.
      const std::uint64_t s = slot_seq.load(std::memory_order_acquire);
      if (s == head + 1) {
        const Record copy = records_[head & mask];
        on_record(copy);  // before the slot is freed: a reader killed here re-reads it on restart
        // Frees the slot for the next lap (pairs with the producers' acquire load).
        slot_seq.store(head + capacity_, std::memory_order_release);
        ++head;
        stuck_since_ns_ = 0;
        ++result.delivered;
        continue;
      }
      // Consumed, or consumed and refilled for the next lap, by a reader that died before it
      // published head (once per poll): already delivered, not corruption; leave the slot alone.
      if (s - head == capacity_ || s - head == capacity_ + 1) {
        ++head;
        continue;
      }
      if (s == head) {
        // Free or claimed-but-uncommitted: tail tells which.
        if (control_->tail.load(std::memory_order_relaxed) <= head) break;  // empty
        if (stuck_head_ != head || stuck_since_ns_ == 0) {
          stuck_head_ = head;
          stuck_since_ns_ = now_ns == 0 ? 1 : now_ns;
          break;
        }
        if (now_ns - stuck_since_ns_ < stuck_timeout_ns_) break;
        std::uint64_t expected = head;
        if (slot_seq.compare_exchange_strong(expected, head + capacity_, std::memory_order_release,
                                             std::memory_order_relaxed)) {
          control_->lost.store(control_->lost.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          ++result.lost;
          ++head;
          stuck_since_ns_ = 0;
        }
        continue;  // the CAS lost to a late commit: read it on the next turn of the loop
      }
      // Any other value was not written by an honest producer: count it, reclaim the slot
      // for this lap and move on, so a scribbled sequence word cannot wedge the lane.
      slot_seq.store(head + capacity_, std::memory_order_release);
      ++head;
      ++result.corrupt;
    }
    control_->head.store(head, std::memory_order_relaxed);  // read only by telering-stat
    return result;
  }

 private:
  MpscControl* control_;
  std::atomic<std::uint64_t>* seq_;
  const Record* records_;
  std::uint64_t capacity_;
  std::uint64_t stuck_timeout_ns_;
  std::uint64_t stuck_head_ = 0;
  std::uint64_t stuck_since_ns_ = 0;
};

}  // namespace telering
