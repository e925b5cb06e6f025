// telering/core/fleet_limits_writer.hpp — limits shared by every bot and thread on the host: a
// retry budget and rate limiters matched to an exchange's API quota. The writer's side: what a
// bot takes (one CAS); the reader's side, which configures and refills them, is
// reader/src/evaluate/fleet_limits_reader.hpp.
//
// Per-process resilience libraries cannot do this: their state lives in one process. Here it
// lives in the segment (layout.hpp: FleetHeader, RateBucket), the reader configures and
// refills it, and writers take from it with one CAS — no lock, no syscall.
//
// Rate limiter: GCRA (the generic cell rate algorithm). One word, `tat`, is the theoretical
// arrival time of the next request. A request at `now` is allowed when
// now >= tat - tolerance, and moves tat to max(tat, now) + interval. With interval = period /
// requests and tolerance = (burst - 1) * interval this admits `requests` per `period` with
// bursts of up to `burst`. The reader stretches the interval after the exchange answers with
// a rate-limit error, and restores it when the window has passed.
//
// Memory ordering: tat, the tokens and the counters carry no data for anyone else: relaxed
// CAS/RMW. A bucket's settings are published by the reader with a release store of name_id
// after the other fields; writers find the bucket with an acquire load of name_id.
#pragma once

#include <atomic>
#include <cstdint>

#include "telering/core/clock.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"

namespace telering {

enum class Acquire : std::uint8_t {
  Granted = 0,
  Refused = 1,       // over the rate (or no retry token left)
  Unconfigured = 2,  // no such bucket / no budget published: the caller decides (we do not block)
};

class RateLimiter {
 public:
  RateLimiter() = default;
  explicit RateLimiter(RateBucket* bucket) noexcept : bucket_(bucket) {}

  [[nodiscard]] bool configured() const noexcept { return bucket_ != nullptr; }

  // Takes `n` request slots (a request of weight n) at tick time `now`: granted only when all
  // n fit, i.e. the last of them, tat + (n - 1) * interval, is within the burst tolerance.
  // A weight above the burst can never fit and is refused at once. Never blocks; a refusal
  // is counted. n = 0 asks for nothing and is granted.
  [[nodiscard]] Acquire try_acquire_at(std::uint64_t now_ticks, std::uint32_t n = 1) noexcept {
    if (!bucket_) return Acquire::Unconfigured;
    const std::uint64_t interval = bucket_->interval_ticks.load(std::memory_order_relaxed);
    if (interval == 0 || n == 0) return Acquire::Granted;
    const std::uint64_t tolerance = bucket_->tolerance_ticks.load(std::memory_order_relaxed);
    if (n - 1 > tolerance / interval) {  // more than the burst (and (n - 1) * interval cannot overflow below)
      bucket_->refused.fetch_add(1, std::memory_order_relaxed);
      return Acquire::Refused;
    }
    const std::uint64_t rest = (n - 1) * interval;  // <= tolerance
    // No plain load of tat first: under contention a load then a CAS moves the line twice.
    // The first CAS guesses 0 (a fresh bucket, where it is right) and otherwise fetches tat
    // with the line held exclusively, so the second one usually succeeds at once.
    std::uint64_t tat = 0;
    for (;;) {
      const std::uint64_t start = tat > now_ticks ? tat : now_ticks;
      if (start + rest > now_ticks + tolerance) {
        bucket_->refused.fetch_add(1, std::memory_order_relaxed);
        return Acquire::Refused;
      }
      if (bucket_->tat.compare_exchange_weak(tat, start + rest + interval, std::memory_order_relaxed)) return Acquire::Granted;
    }
  }
  [[nodiscard]] Acquire try_acquire(std::uint32_t n = 1) noexcept { return try_acquire_at(read_ticks(), n); }

 private:
  RateBucket* bucket_ = nullptr;
};

// Finds the bucket the reader configured for a group name id (nullptr if none).
[[nodiscard]] inline RateBucket* find_rate_bucket(RateBucket* buckets, NameId group) noexcept {
  if (group == kNoName) return nullptr;
  for (std::uint32_t i = 0; i < kRateBuckets; ++i) {
    // Pairs with the reader's release store of name_id after the bucket's settings.
    if (buckets[i].name_id.load(std::memory_order_acquire) == group) return &buckets[i];
  }
  return nullptr;
}

class RetryBudget {
 public:
  RetryBudget() = default;
  explicit RetryBudget(FleetHeader* fleet) noexcept : fleet_(fleet) {}

  // Takes one retry token. Unconfigured while the reader publishes no budget.
  [[nodiscard]] Acquire try_take() noexcept {
    if (!fleet_ || fleet_->retry_budget_enabled.load(std::memory_order_relaxed) == 0) return Acquire::Unconfigured;
    // One RMW that cannot fail (a CAS loop retries while the other cores steal the line):
    // take a token, and give it back if there was none. A give-back that lands just after the
    // reader's refill store adds one token to the new period: the budget is exact to within
    // the takes refused at that instant.
    if (fleet_->retry_tokens.fetch_sub(1, std::memory_order_relaxed) > 0) return Acquire::Granted;
    fleet_->retry_tokens.fetch_add(1, std::memory_order_relaxed);
    // No token: unless nobody refills the budget any more (no reader), in which case it is
    // as if none were published and the caller decides (retries do not stay refused).
    if (monotonic_ns() > fleet_->retry_budget_valid_until_ns.load(std::memory_order_relaxed)) return Acquire::Unconfigured;
    fleet_->retries_refused.fetch_add(1, std::memory_order_relaxed);
    return Acquire::Refused;
  }

 private:
  FleetHeader* fleet_ = nullptr;
};

// Reader side: frees a bucket. Unlimited first (writers that hold it stop being limited),
// then unnamed (no writer finds it any more).
inline void release_rate_bucket(RateBucket& b) noexcept {
  b.interval_ticks.store(0, std::memory_order_relaxed);
  b.shrunk.store(0, std::memory_order_relaxed);
  // Pairs with the acquire load in find_rate_bucket.
  b.name_id.store(0, std::memory_order_release);
}

// Reader side: configure a bucket for `requests` per `period_ns` with bursts of `burst`.
// Returns false when every bucket is taken by another group.
inline bool configure_rate_bucket(RateBucket* buckets, NameId group, std::uint64_t requests, std::uint64_t period_ns,
                                  std::uint64_t burst, const TickCalibration& cal) noexcept {
  if (group == kNoName || requests == 0) return false;
  RateBucket* slot = find_rate_bucket(buckets, group);
  for (std::uint32_t i = 0; slot == nullptr && i < kRateBuckets; ++i)
    if (buckets[i].name_id.load(std::memory_order_relaxed) == 0) slot = &buckets[i];
  if (!slot) return false;
  const std::uint64_t interval = cal.duration_to_ticks(period_ns / requests);
  const std::uint64_t effective = interval == 0 ? 1 : interval;
  slot->base_interval_ticks.store(effective, std::memory_order_relaxed);
  slot->interval_ticks.store(effective, std::memory_order_relaxed);
  slot->tolerance_ticks.store((burst > 0 ? burst - 1 : 0) * effective, std::memory_order_relaxed);
  slot->shrunk.store(0, std::memory_order_relaxed);
  // Publishes the settings (pairs with the acquire load in find_rate_bucket).
  slot->name_id.store(group, std::memory_order_release);
  return true;
}

}  // namespace telering
