// telering/core/backoff.hpp — exponential backoff with jitter: the delays between retries.
//
// A Backoff hands out successive delays for one retry sequence: `base * multiplier^attempt`
// seconds capped at `cap`, optionally jittered (AWS Architecture Blog, "Exponential Backoff
// And Jitter": Full = uniform[0, d]; Decorrelated = min(cap, uniform(base, prev * 3))), and
// says "stop" once `max_attempts` delays were handed out or the next delay would take the
// total past `max_total_seconds`. The reader's recovery engine and the bot's
// retry_with_backoff both use it, so it is header-only and every member is noexcept and
// allocation-free.
//
// Determinism: time is never read here (the caller sleeps, or replays) and jitter comes
// from SplitMix64 seeded by the caller, whose integer sequence and the double built from its
// top 53 bits are the same on every platform — unlike std::uniform_real_distribution, whose
// output is implementation-defined. Same policy + same seed = same delays, bit for bit.
//
// Thread safety: none; a Backoff belongs to the one thread running the retry sequence.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace telering {

// SplitMix64 (Steele, Lea & Flood 2014; constants from Vigna's reference code). Small, fast,
// passes BigCrush, and any seed (including 0) gives a full-period stream.
struct SplitMix64 {
  std::uint64_t state = 0;

  constexpr SplitMix64() noexcept = default;
  constexpr explicit SplitMix64(std::uint64_t seed) noexcept : state(seed) {}

  [[nodiscard]] constexpr std::uint64_t next() noexcept {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1): the top 53 bits scaled by 2^-53 are exact in a double.
  [[nodiscard]] constexpr double next_unit() noexcept {
    return static_cast<double>(next() >> 11) * 0x1.0p-53;
  }

  // Uniform between lo and hi (either order); never outside [min(lo,hi), max(lo,hi)].
  [[nodiscard]] constexpr double uniform(double lo, double hi) noexcept {
    const double v = lo + (hi - lo) * next_unit();
    return std::clamp(v, std::min(lo, hi), std::max(lo, hi));
  }
};

namespace detail {

// Seconds to nanoseconds, rounded to nearest; NaN and negatives give 0, values at or past
// 2^64 ns (about 584 years, or an uncapped +inf) saturate instead of overflowing (UB).
[[nodiscard]] constexpr std::uint64_t backoff_seconds_to_ns(double seconds) noexcept {
  if (!(seconds > 0.0)) return 0;
  const double ns = seconds * 1e9;
  if (ns >= 0x1.0p64) return std::numeric_limits<std::uint64_t>::max();
  if (ns < 0x1.0p53) return static_cast<std::uint64_t>(ns + 0.5);
  return static_cast<std::uint64_t>(ns);  // already an integer at this magnitude
}

[[nodiscard]] constexpr std::uint64_t backoff_add_saturating(std::uint64_t a, std::uint64_t b) noexcept {
  const std::uint64_t s = a + b;
  return s < a ? std::numeric_limits<std::uint64_t>::max() : s;
}

}  // namespace detail

// How a retry sequence waits. Plain data so config files and commands can fill it.
struct BackoffPolicy {
  double base_seconds = 1.0;   // first un-jittered delay
  double multiplier = 2.0;     // growth per attempt
  double cap_seconds = 60.0;   // no delay exceeds this; +inf = no cap
  enum class Jitter : std::uint8_t { None, Full, Decorrelated } jitter = Jitter::Full;
  std::uint32_t max_attempts = 3;  // delays handed out before "stop"; 0 = never retry
  double max_total_seconds = 0;    // stop before the sum of delays exceeds this; 0 = no limit

  // The seed's RetryWithBackoff(max_retries, backoff_base): delays of backoff_base**attempt
  // seconds for attempt = 0, 1, ... max_retries-1 (1, 2, 4 for base 2), no jitter, no cap.
  [[nodiscard]] static constexpr BackoffPolicy seed_compatible(std::uint32_t max_retries,
                                                               double backoff_base) noexcept {
    BackoffPolicy p;
    p.base_seconds = 1.0;
    p.multiplier = backoff_base;
    p.cap_seconds = std::numeric_limits<double>::infinity();
    p.jitter = Jitter::None;
    p.max_attempts = max_retries;
    p.max_total_seconds = 0;
    return p;
  }
};

[[nodiscard]] constexpr const char* to_string(BackoffPolicy::Jitter j) noexcept {
  switch (j) {
    case BackoffPolicy::Jitter::None: return "none";
    case BackoffPolicy::Jitter::Full: return "full";
    case BackoffPolicy::Jitter::Decorrelated: return "decorrelated";
  }
  return "invalid";
}

// One retry sequence. Invariants: attempt() <= max_attempts; with a total limit,
// total_ns() <= max_total_seconds (in ns); once next_delay_ns() said stop it keeps saying
// stop until reset() (a later, smaller jittered delay would fit, but a caller that was told
// "give up" must not be told "retry" again by the same sequence).
class Backoff {
 public:
  static constexpr std::uint64_t kDefaultSeed = 0x7E1E51A6B0FF5EEDULL;

  // Fields the arithmetic cannot use are clamped rather than trusted: NaN or negative
  // base/cap/total become 0, a NaN or negative multiplier becomes 1 (fixed delay).
  constexpr explicit Backoff(const BackoffPolicy& policy, std::uint64_t seed = kDefaultSeed) noexcept
      : policy_(sanitize(policy)), rng_(seed) {
    restart();
  }

  // The next delay in nanoseconds, or nullopt = stop retrying.
  [[nodiscard]] constexpr std::optional<std::uint64_t> next_delay_ns() noexcept {
    if (stopped_) return std::nullopt;
    if (attempt_ >= policy_.max_attempts) {
      stopped_ = true;
      return std::nullopt;
    }
    double delay = exponential_seconds_;
    switch (policy_.jitter) {
      case BackoffPolicy::Jitter::None:
        break;
      case BackoffPolicy::Jitter::Full:
        delay = rng_.next_unit() * exponential_seconds_;
        break;
      case BackoffPolicy::Jitter::Decorrelated:
        delay = std::min(policy_.cap_seconds, rng_.uniform(policy_.base_seconds, previous_seconds_ * 3.0));
        previous_seconds_ = delay;
        break;
    }
    const std::uint64_t ns = detail::backoff_seconds_to_ns(delay);
    if (policy_.max_total_seconds > 0.0 && ns > max_total_ns_ - total_ns_) {  // total_ns_ <= max_total_ns_
      stopped_ = true;
      return std::nullopt;
    }
    total_ns_ = detail::backoff_add_saturating(total_ns_, ns);
    ++attempt_;
    // Grown by repeated multiplication, not std::pow: IEEE multiplication is exact-rounded
    // everywhere, so the sequence is reproducible; min() keeps it at cap once it gets there.
    exponential_seconds_ = std::min(policy_.cap_seconds, exponential_seconds_ * policy_.multiplier);
    return ns;
  }

  // Starts a new sequence with the same policy; the generator continues (new jitter).
  constexpr void reset() noexcept { restart(); }
  // Starts a new sequence whose jitter replays from `seed`.
  constexpr void reset(std::uint64_t seed) noexcept {
    rng_ = SplitMix64(seed);
    restart();
  }

  [[nodiscard]] constexpr std::uint32_t attempt() const noexcept { return attempt_; }  // delays handed out
  [[nodiscard]] constexpr std::uint64_t total_ns() const noexcept { return total_ns_; }
  [[nodiscard]] constexpr bool stopped() const noexcept { return stopped_; }
  [[nodiscard]] constexpr const BackoffPolicy& policy() const noexcept { return policy_; }

 private:
  [[nodiscard]] static constexpr BackoffPolicy sanitize(BackoffPolicy p) noexcept {
    if (!(p.base_seconds >= 0.0)) p.base_seconds = 0.0;
    if (!(p.cap_seconds >= 0.0)) p.cap_seconds = 0.0;
    if (!(p.multiplier >= 0.0)) p.multiplier = 1.0;
    if (!(p.max_total_seconds >= 0.0)) p.max_total_seconds = 0.0;
    return p;
  }

  constexpr void restart() noexcept {
    attempt_ = 0;
    total_ns_ = 0;
    stopped_ = false;
    exponential_seconds_ = std::min(policy_.cap_seconds, policy_.base_seconds);
    previous_seconds_ = policy_.base_seconds;
    max_total_ns_ = detail::backoff_seconds_to_ns(policy_.max_total_seconds);
  }

  BackoffPolicy policy_;
  SplitMix64 rng_;
  double exponential_seconds_ = 0;  // base * multiplier^attempt_, capped
  double previous_seconds_ = 0;     // decorrelated jitter's "sleep" (starts at base)
  std::uint64_t total_ns_ = 0;
  std::uint64_t max_total_ns_ = 0;
  std::uint32_t attempt_ = 0;
  bool stopped_ = false;
};

}  // namespace telering
