// aggregate/performance_monitor.hpp — the seed's PerformanceMonitor, fed by the reader.
//
// One PerformanceMonitor keeps what the seed's keeps for one bot: rolling windows (last 100
// samples) of scan time, API latency and memory, plus error and warning counts. The reader
// owns one per bot and one overall, and feeds every validated record to both. The health
// check (health.hpp) reads it; nothing here decides anything.
//
// Error window: the seed applies its error thresholds (5 / 10) to a count that only grows,
// so a bot that has ever had 11 errors would be CRITICAL until restarted. Here the health
// check uses errors (and warnings) within the last `error_window_seconds` (default 900 s,
// the seed's 15-minute report interval); totals since start are kept beside them.
//
// Memory: `record_memory` takes bytes (resident set size, as psutil's rss); memory_mb() is
// the latest sample in MiB (bytes / 1048576), the unit of the seed's 820 / 1024 MB limits.
//
// Per endpoint: API calls may carry an endpoint id (a name-table id). The first
// `max_endpoints` distinct endpoints get their own latency window; calls to later ones still
// count in the overall API window and in untracked_endpoint_calls(). Memory is bounded by
// the config, never by the number of records.
//
// Time: every call takes `now_ns` (monotonic ns) from the caller; nothing reads a clock.
// Thread safety: none; one reader thread owns each monitor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "aggregate/rolling_window.hpp"

namespace telering::reader {

namespace detail {
struct SnapshotAccess;  // state/snapshot_codecs.hpp: saves and restores the private state
}  // namespace detail


struct PerformanceMonitorConfig {
  std::size_t window_size = RollingWindow::kDefaultCapacity;  // samples per rolling window
  std::uint32_t error_window_seconds = 900;  // window the error/warning thresholds apply to
  std::size_t max_endpoints = 64;            // endpoints with their own latency window
  std::size_t endpoint_window_size = RollingWindow::kDefaultCapacity;

  // Throws std::invalid_argument naming the field when a size or window is 0.
  void validate() const;
};

class PerformanceMonitor {
 public:
  friend struct detail::SnapshotAccess;

  static constexpr double kBytesPerMb = 1024.0 * 1024.0;

  // Throws std::invalid_argument if the config is invalid (set-up time only).
  explicit PerformanceMonitor(const PerformanceMonitorConfig& config = {});

  // Each returns false when the sample was refused (negative or non-finite value); a refused
  // sample changes nothing but the rejected count. The reader validates records before this,
  // so a refusal here means a caller bug, not bad shared memory.
  bool record_scan_time(double seconds, std::uint64_t now_ns) noexcept;
  bool record_api_call(double seconds, std::uint64_t now_ns) noexcept;
  // Also records into the endpoint's own window when it has (or can get) one. Allocates the
  // first time an endpoint is seen, at most max_endpoints times per monitor.
  bool record_api_call(double seconds, std::uint64_t now_ns, std::uint16_t endpoint_id);
  bool record_memory(double bytes, std::uint64_t now_ns) noexcept;
  void record_error(std::uint64_t now_ns) noexcept;
  void record_warning(std::uint64_t now_ns) noexcept;

  [[nodiscard]] const RollingWindow& scan_times() const noexcept { return scan_times_; }
  [[nodiscard]] const RollingWindow& api_latencies() const noexcept { return api_latencies_; }
  [[nodiscard]] const RollingWindow& memory_bytes() const noexcept { return memory_bytes_; }
  // nullptr when the endpoint has no window of its own (never seen, or seen past the cap).
  [[nodiscard]] const RollingWindow* endpoint_latencies(std::uint16_t endpoint_id) const noexcept;
  [[nodiscard]] std::size_t endpoint_count() const noexcept { return endpoints_.size(); }
  // Every tracked endpoint's window, by endpoint name id (ascending).
  [[nodiscard]] const std::vector<std::pair<std::uint16_t, RollingWindow>>& endpoints() const noexcept { return endpoints_; }
  [[nodiscard]] std::uint64_t untracked_endpoint_calls() const noexcept { return untracked_endpoint_calls_; }

  // Latest memory sample in MiB; 0 before the first sample.
  [[nodiscard]] double memory_mb() const noexcept { return memory_bytes_.last() / kBytesPerMb; }

  // Totals since construction (the seed's error_count / warning_count).
  [[nodiscard]] std::uint64_t error_count() const noexcept { return errors_.total(); }
  [[nodiscard]] std::uint64_t warning_count() const noexcept { return warnings_.total(); }
  // Within the last error_window_seconds (one-second buckets, see RateWindow::count).
  [[nodiscard]] std::uint64_t errors_in_window(std::uint64_t now_ns) const noexcept { return errors_.count(now_ns); }
  [[nodiscard]] std::uint64_t warnings_in_window(std::uint64_t now_ns) const noexcept {
    return warnings_.count(now_ns);
  }
  // Within the last `seconds` (clamped to error_window_seconds).
  [[nodiscard]] std::uint64_t errors_in_last(std::uint64_t now_ns, std::uint32_t seconds) const noexcept {
    return errors_.count(now_ns, seconds);
  }

  // now_ns of the latest accepted record of each kind; 0 before the first.
  [[nodiscard]] std::uint64_t last_scan_ns() const noexcept { return last_scan_ns_; }
  [[nodiscard]] std::uint64_t last_api_call_ns() const noexcept { return last_api_ns_; }
  [[nodiscard]] std::uint64_t last_memory_ns() const noexcept { return last_memory_ns_; }
  [[nodiscard]] std::uint64_t last_update_ns() const noexcept { return last_update_ns_; }
  [[nodiscard]] std::uint64_t rejected_samples() const noexcept { return rejected_; }

  [[nodiscard]] const PerformanceMonitorConfig& config() const noexcept { return config_; }

 private:
  bool accept(double value) noexcept;
  void touch(std::uint64_t now_ns) noexcept;

  PerformanceMonitorConfig config_;
  RollingWindow scan_times_;
  RollingWindow api_latencies_;
  RollingWindow memory_bytes_;
  RateWindow errors_;
  RateWindow warnings_;
  // Sorted by endpoint id (binary search); at most config_.max_endpoints entries.
  std::vector<std::pair<std::uint16_t, RollingWindow>> endpoints_;
  std::uint64_t untracked_endpoint_calls_ = 0;
  std::uint64_t last_scan_ns_ = 0;
  std::uint64_t last_api_ns_ = 0;
  std::uint64_t last_memory_ns_ = 0;
  std::uint64_t last_update_ns_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace telering::reader
