// aggregate/rolling_window.hpp — the reader's bounded windows over a metric stream.
//
// RollingWindow is the seed's `deque(maxlen=100)` of samples (scan durations, API latencies,
// memory samples): a fixed-capacity ring of doubles whose oldest sample falls out when a new
// one arrives, with the running sum kept so the average is O(1). RateWindow counts events
// (errors, warnings) in one-second buckets over the last N seconds, so "errors in the last
// 15 minutes" and "errors per minute" cost O(1) per event and never grow with traffic.
//
// Both allocate once, at construction, and never again: memory is bounded by the capacity,
// not by the number of samples processed. Neither reads a clock: time comes in as `now_ns`
// (monotonic nanoseconds) from the caller. Thread safety: none; one reader thread owns each.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace telering::reader {

namespace detail {
struct SnapshotAccess;  // state/snapshot_codecs.hpp: saves and restores the private state
}  // namespace detail


class RollingWindow {
 public:
  friend struct detail::SnapshotAccess;

  static constexpr std::size_t kDefaultCapacity = 100;  // the seed's rolling window length

  // Throws std::invalid_argument when capacity is 0 (set-up time only).
  explicit RollingWindow(std::size_t capacity = kDefaultCapacity) : samples_(check_capacity(capacity), 0.0) {}

  // Appends a sample, evicting the oldest once the window is full. O(1) amortised: the sum is
  // re-added from scratch each time the ring wraps (one pass per `capacity` pushes), which
  // bounds the rounding error that add-then-subtract accumulates over millions of samples.
  // Non-finite samples are refused (returns false, counted in rejected()) so one NaN cannot
  // poison the average for the next `capacity` samples.
  bool push(double value) noexcept {
    if (!std::isfinite(value)) {
      ++rejected_;
      return false;
    }
    if (size_ == samples_.size()) {
      sum_ -= samples_[next_];
    } else {
      ++size_;
    }
    samples_[next_] = value;
    sum_ += value;
    last_ = value;
    ++pushed_;
    if (++next_ == samples_.size()) {
      next_ = 0;
      resum();
    }
    return true;
  }

  void clear() noexcept {
    size_ = 0;
    next_ = 0;
    sum_ = 0.0;
    last_ = 0.0;
  }

  [[nodiscard]] std::size_t capacity() const noexcept { return samples_.size(); }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
  [[nodiscard]] bool full() const noexcept { return size_ == samples_.size(); }
  // Samples accepted since construction (not reset by clear()); rejected: non-finite refused.
  [[nodiscard]] std::uint64_t total_pushed() const noexcept { return pushed_; }
  [[nodiscard]] std::uint64_t rejected() const noexcept { return rejected_; }

  // Empty-window convention for every statistic below: 0.0 (the seed reports 0 when it has
  // no samples); callers that must tell "no data" from "zero" check empty() first.
  [[nodiscard]] double sum() const noexcept { return sum_; }
  [[nodiscard]] double average() const noexcept { return size_ == 0 ? 0.0 : sum_ / static_cast<double>(size_); }
  [[nodiscard]] double last() const noexcept { return size_ == 0 ? 0.0 : last_; }
  // O(size): min and max are read off the hot path (health checks), so they are not kept.
  [[nodiscard]] double min() const noexcept {
    if (size_ == 0) return 0.0;
    return *std::min_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(size_));
  }
  [[nodiscard]] double max() const noexcept {
    if (size_ == 0) return 0.0;
    return *std::max_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(size_));
  }

  // p in [0, 100] (clamped), linear interpolation between closest ranks (numpy's default):
  // percentile(50) of {1,2,3,4} is 2.5, percentile(0) is the min, percentile(100) the max.
  // Copies the window (allocates): for reports, not for the per-record path.
  [[nodiscard]] double percentile(double p) const {
    if (size_ == 0) return 0.0;
    if (!(p >= 0.0)) p = 0.0;  // also maps NaN to 0
    if (p > 100.0) p = 100.0;
    std::vector<double> copy(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(size_));
    const double rank = p / 100.0 * static_cast<double>(size_ - 1);
    const auto lo = static_cast<std::size_t>(std::floor(rank));
    const double frac = rank - static_cast<double>(lo);
    const auto lo_it = copy.begin() + static_cast<std::ptrdiff_t>(lo);
    std::nth_element(copy.begin(), lo_it, copy.end());
    const double lo_value = *lo_it;
    if (frac == 0.0 || lo + 1 >= size_) return lo_value;
    // After nth_element every element past lo_it is >= it, so the next rank is their minimum.
    const double hi_value = *std::min_element(lo_it + 1, copy.end());
    return lo_value + frac * (hi_value - lo_value);
  }

  // The samples, oldest first (allocates; for reports and tests).
  [[nodiscard]] std::vector<double> values() const {
    std::vector<double> out;
    out.reserve(size_);
    const std::size_t start = size_ == samples_.size() ? next_ : 0;
    for (std::size_t i = 0; i < size_; ++i) out.push_back(samples_[(start + i) % samples_.size()]);
    return out;
  }

 private:
  static std::size_t check_capacity(std::size_t capacity) {
    if (capacity == 0) throw std::invalid_argument("RollingWindow: capacity must be at least 1");
    return capacity;
  }

  void resum() noexcept {
    double s = 0.0;
    for (std::size_t i = 0; i < size_; ++i) s += samples_[i];
    sum_ = s;
  }

  // Invariant: samples_[0, size_) hold the window (ring order: next_ is the oldest once full),
  // and sum_ equals their sum up to rounding since the last wrap.
  std::vector<double> samples_;
  std::size_t size_ = 0;
  std::size_t next_ = 0;  // slot the next push writes
  double sum_ = 0.0;
  double last_ = 0.0;
  std::uint64_t pushed_ = 0;
  std::uint64_t rejected_ = 0;
};

// Counts of events per one-second bucket over the last `seconds` seconds.
//
// Bucket i holds the count for absolute second `second_[i]` (now_ns / 1e9), i = second % N.
// A bucket is reused only for a newer second, so no sweep is needed when time jumps ahead,
// and events that arrive out of order (lanes are drained one after another) still land in
// their own second as long as it is inside the window; older ones count in total() only.
class RateWindow {
 public:
  friend struct detail::SnapshotAccess;

  static constexpr std::uint64_t kNsPerSecond = 1'000'000'000ULL;

  // Throws std::invalid_argument when seconds is 0 (set-up time only).
  explicit RateWindow(std::uint32_t seconds = 60)
      : counts_(check_seconds(seconds), 0), second_(seconds, kNoSecond) {}

  void add(std::uint64_t now_ns, std::uint64_t n = 1) noexcept {
    total_ += n;
    const std::uint64_t s = now_ns / kNsPerSecond;
    const std::size_t i = static_cast<std::size_t>(s % counts_.size());
    if (second_[i] == kNoSecond || second_[i] < s) {
      second_[i] = s;
      counts_[i] = 0;
    } else if (second_[i] > s) {
      return;  // older than the window already holds: too late to count per second
    }
    counts_[i] += n;
  }

  // Events in the last `seconds` one-second buckets ending with now's (clamped to the
  // window length): count(now, 60) at t = 125.3 s counts seconds 66..125. Events stamped
  // after now (skew between lanes) count as current.
  [[nodiscard]] std::uint64_t count(std::uint64_t now_ns, std::uint32_t seconds) const noexcept {
    if (seconds == 0) return 0;
    if (seconds > counts_.size()) seconds = static_cast<std::uint32_t>(counts_.size());
    const std::uint64_t now_s = now_ns / kNsPerSecond;
    const std::uint64_t oldest = now_s + 1 >= seconds ? now_s + 1 - seconds : 0;
    std::uint64_t n = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (second_[i] != kNoSecond && second_[i] >= oldest) n += counts_[i];
    }
    return n;
  }
  [[nodiscard]] std::uint64_t count(std::uint64_t now_ns) const noexcept {
    return count(now_ns, static_cast<std::uint32_t>(counts_.size()));
  }

  [[nodiscard]] std::uint32_t seconds() const noexcept { return static_cast<std::uint32_t>(counts_.size()); }
  // Every event ever added, in or out of the window.
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }

  void clear() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    std::fill(second_.begin(), second_.end(), kNoSecond);
    total_ = 0;
  }

 private:
  static constexpr std::uint64_t kNoSecond = std::numeric_limits<std::uint64_t>::max();

  static std::size_t check_seconds(std::uint32_t seconds) {
    if (seconds == 0) throw std::invalid_argument("RateWindow: seconds must be at least 1");
    return seconds;
  }

  std::vector<std::uint64_t> counts_;
  std::vector<std::uint64_t> second_;  // absolute second held by each bucket, or kNoSecond
  std::uint64_t total_ = 0;
};

}  // namespace telering::reader
