// telering/core/ring_spsc.hpp — the single-producer single-consumer lane a bot thread owns.
//
// The producer (one writer thread at a time, the lane's owner) and the consumer (the
// reader) share only three words, each on its own cache line (layout.hpp, LaneControl):
// tail (producer), head (consumer) and head_cache (producer's private view of head).
//
// Memory ordering:
//  - A record is written in place into its slot, then published by one release store of
//    tail; the consumer's acquire load of tail makes the whole record visible. A producer
//    killed before that store never exposes a half-written record.
//  - The consumer publishes head with one release store per drained batch; the producer's
//    acquire load of head (only when head_cache says the lane is full) guarantees the
//    consumer finished reading those slots before they are overwritten.
//  - The producer touches the consumer's line only when its cached free space runs out,
//    and the consumer touches the producer's line once per batch: neither spins on the
//    other's line.
#pragma once

#include <atomic>
#include <cstdint>

#include "telering/core/layout.hpp"
#include "telering/core/record.hpp"

namespace telering {

class SpscProducer {
 public:
  SpscProducer() = default;
  SpscProducer(LaneControl* control, Record* records, std::uint32_t capacity) noexcept
      : control_(control), records_(records), mask_(capacity - 1) {}

  [[nodiscard]] bool valid() const noexcept { return control_ != nullptr; }

  // Fills the next free slot with `fill(Record&)` and publishes it. Returns false (and
  // counts a drop) when the lane is full. Never blocks.
  template <typename Fill>
  [[nodiscard]] bool try_push(Fill&& fill) noexcept {
    // tail and head_cache are written only by this thread: relaxed loads read our own stores.
    const std::uint64_t tail = control_->tail.load(std::memory_order_relaxed);
    if (tail - control_->head_cache.load(std::memory_order_relaxed) > mask_) [[unlikely]] {
      // Pairs with the consumer's release store of head after it read the slots.
      const std::uint64_t head = control_->head.load(std::memory_order_acquire);
      control_->head_cache.store(head, std::memory_order_relaxed);
      if (tail - head > mask_) {
        // Single writer of `dropped`: load + store, no locked RMW on the hot path.
        control_->dropped.store(control_->dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        return false;
      }
    }
    fill(records_[tail & mask_]);
    // Publishes the record (pairs with the consumer's acquire load of tail).
    control_->tail.store(tail + 1, std::memory_order_release);
    return true;
  }

 private:
  LaneControl* control_ = nullptr;
  Record* records_ = nullptr;
  std::uint64_t mask_ = 0;
};

// The reader's side of one lane. Not thread-safe: one consumer per lane (the reader).
// Its position lives in its own memory: read from the lane once, where the previous reader
// stopped, then only published (a writer may scribble the shared word; we never read it back).
class SpscConsumer {
 public:
  SpscConsumer(LaneControl* control, const Record* records, std::uint32_t capacity) noexcept
      : control_(control), records_(records), capacity_(capacity), head_(control->head.load(std::memory_order_relaxed)) {}

  // The next position this consumer reads.
  [[nodiscard]] std::uint64_t head() const noexcept { return head_; }

  struct PollResult {
    std::uint64_t delivered = 0;
    std::uint64_t overrun = 0;  // positions skipped because tail ran ahead of head by > capacity
  };

  // Copies out up to max_records committed records, calls on_record(const Record&) on each
  // copy, then publishes the new head once. A tail more than one lap ahead of head can only
  // come from a corrupt or hostile producer: the lost lap is counted and skipped.
  template <typename OnRecord>
  PollResult poll(OnRecord&& on_record, std::uint64_t max_records) noexcept {
    PollResult result;
    std::uint64_t head = head_;
    // Pairs with the producer's release store of tail.
    const std::uint64_t tail = control_->tail.load(std::memory_order_acquire);
    if (tail == head) return result;
    std::uint64_t available = tail - head;
    if (available > capacity_) {  // also catches tail < head (wrapped subtraction)
      result.overrun = available > (1ULL << 62) ? 0 : available - capacity_;
      head = available > (1ULL << 62) ? tail : tail - capacity_;
      available = tail - head;
    }
    const std::uint64_t n = available < max_records ? available : max_records;
    const std::uint64_t mask = capacity_ - 1;
    for (std::uint64_t i = 0; i < n; ++i) {
      const Record copy = records_[(head + i) & mask];  // copy first: validate what we hold
      on_record(copy);
    }
    head_ = head + n;
    // Releases the slots to the producer (pairs with its acquire refresh of head_cache).
    control_->head.store(head_, std::memory_order_release);
    result.delivered = n;
    return result;
  }

 private:
  LaneControl* control_;
  const Record* records_;
  std::uint64_t capacity_;
  std::uint64_t head_;
};

}  // namespace telering
