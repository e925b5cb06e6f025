// telering/core/clock.hpp — the timestamps records carry, and how the reader turns them into time.
//
// Writers stamp records with raw TSC ticks (one rdtsc, no syscall, no conversion). The
// segment creator measures ticks against CLOCK_MONOTONIC once and stores the calibration in
// the segment header; the reader converts ticks to monotonic nanoseconds with it. Both
// sides run on one host, so they share the TSC (constant_tsc / nonstop_tsc are required and
// checked at calibration). On CPUs without an invariant TSC, or outside x86-64, ticks are
// monotonic nanoseconds and the calibration is the identity.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TELERING_HAVE_RDTSC 1
#endif

namespace telering {

// Monotonic nanoseconds (CLOCK_MONOTONIC), comparable across processes on one host.
[[nodiscard]] inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Unix epoch nanoseconds, for what people read.
[[nodiscard]] inline std::int64_t wall_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

// The hot-path timestamp. Not serialising: ordering against surrounding loads and stores
// does not matter for telemetry, and rdtscp/lfence would double its cost.
[[nodiscard]] inline std::uint64_t read_ticks() noexcept {
#ifdef TELERING_HAVE_RDTSC
  return __rdtsc();
#else
  return monotonic_ns();
#endif
}

// Maps ticks to monotonic ns: ns = mono_base_ns + (ticks - tick_base) * ns_per_tick.
struct TickCalibration {
  std::uint64_t tick_base = 0;
  std::uint64_t mono_base_ns = 0;
  double ns_per_tick = 1.0;

  [[nodiscard]] std::uint64_t to_ns(std::uint64_t ticks) const noexcept {
    const double delta = static_cast<double>(static_cast<std::int64_t>(ticks - tick_base)) * ns_per_tick;
    const double ns = static_cast<double>(mono_base_ns) + delta;
    return ns <= 0.0 ? 0 : static_cast<std::uint64_t>(ns);
  }
  [[nodiscard]] std::uint64_t to_ticks(std::uint64_t mono_ns) const noexcept {
    const double delta = static_cast<double>(static_cast<std::int64_t>(mono_ns - mono_base_ns)) / ns_per_tick;
    const double t = static_cast<double>(tick_base) + delta;
    return t <= 0.0 ? 0 : static_cast<std::uint64_t>(t);
  }
  [[nodiscard]] std::uint64_t duration_to_ticks(std::uint64_t ns) const noexcept {
    return static_cast<std::uint64_t>(static_cast<double>(ns) / ns_per_tick);
  }
};

// One reading of both clocks at (nearly) the same instant: the tick read is bracketed by two
// clock reads and the tightest of a few brackets kept, so a preemption does not skew it.
struct ClockSample {
  std::uint64_t ticks = 0;
  std::uint64_t ns = 0;
};
[[nodiscard]] ClockSample sample_clocks() noexcept;

// A calibration its owner (the reader) keeps fresh. The one measured when the segment was
// created converts from a base that grows older by the hour, with a rate measured over 20 ms:
// between the TSC and an NTP-slewed CLOCK_MONOTONIC the error grows by seconds per day. A
// TickClock is re-anchored at a recent sample (about every second) and re-measures the rate
// over the last 30-60 s, so a deadline converted now is off by at most the rate error over
// the time since the last anchor, whatever the segment's age.
// Deterministic: the owner passes the samples in. Not thread-safe: one owner thread.
class TickClock {
 public:
  static constexpr std::uint64_t kRateSpanNs = 30'000'000'000;  // rate measured over 30-60 s

  explicit TickClock(TickCalibration initial) noexcept : cal_(initial) {}

  [[nodiscard]] const TickCalibration& calibration() const noexcept { return cal_; }

  void anchor(ClockSample now) noexcept {
    if (cal_.mono_base_ns != 0 && now.ns <= cal_.mono_base_ns) return;  // not after the anchor we have
    if (oldest_.ns == 0) oldest_ = newer_ = now;
    // Rate over at least a second, from the older of two bases that move every kRateSpanNs.
    if (now.ns > oldest_.ns + 1'000'000'000 && now.ticks > oldest_.ticks)
      cal_.ns_per_tick = static_cast<double>(now.ns - oldest_.ns) / static_cast<double>(now.ticks - oldest_.ticks);
    if (now.ns - newer_.ns >= kRateSpanNs) {
      oldest_ = newer_;
      newer_ = now;
    }
    cal_.tick_base = now.ticks;
    cal_.mono_base_ns = now.ns;
  }

 private:
  TickCalibration cal_;
  ClockSample oldest_{};
  ClockSample newer_{};
};

// Measures ticks against CLOCK_MONOTONIC over `window` (set-up only: it sleeps).
// Returns the identity calibration when the TSC is not invariant.
[[nodiscard]] TickCalibration calibrate_ticks(std::chrono::milliseconds window = std::chrono::milliseconds(20));

// True when ticks are TSC cycles (invariant TSC available), false when they are ns.
[[nodiscard]] bool ticks_are_tsc() noexcept;

}  // namespace telering
