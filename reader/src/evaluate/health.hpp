// evaluate/health.hpp — the seed's BotHealthCheck as a pure function of a monitor.
//
// run_full_health_check() reads one PerformanceMonitor (one bot, or the overall one) and
// grades four components as in the seed — scan_performance, memory_usage, error_rate,
// api_performance — each HEALTHY / WARNING / CRITICAL against HealthThresholds; the overall
// status is the worst component. The report carries the key metrics the seed's summary
// prints; health_report_format.hpp renders it as the seed's text and as JSON.
//
// Grading rule (every threshold): value < warning_at -> HEALTHY; warning_at <= value <=
// critical_above -> WARNING; value > critical_above -> CRITICAL. Both ends of the seed's
// "30-90s" band are WARNING: exactly 30 s and exactly 90 s are WARNING, 90.0001 s CRITICAL.
//
// Defaults (the seed's, plus API latency which the seed checks without stating numbers):
//   scan time, average of the window   30 s / 90 s
//   memory, latest sample, MiB         820 / 1024   (820 is 80 % of the 1024 MB limit)
//   errors within the monitor's error window (default 900 s)   5 / 10
//   API latency, average of the window 2 s / 5 s    (ours: a REST round trip well over 2 s
//                                                    already hurts a scan; over 5 s, most
//                                                    exchange clients time out)
//
// No data: a component with no samples yet (a bot that has not finished its first scan) is
// HEALTHY with the message "No scan data yet" / "No memory data yet" / "No API data yet"
// and value 0: a bot that has not produced a sample yet is not unhealthy, and an alert on
// every start would teach people to ignore alerts. The error component always has data
// (zero errors is a measurement). UNKNOWN is left to the layer that knows whether the
// reader itself is live (a stale report page reads UNKNOWN; see report_page.hpp).
//
// Pure and deterministic: time comes in as now_ns (monotonic, for the error window) and
// wall_ns (Unix epoch ns, the report's timestamp). No clock, no I/O, no shared memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/performance_monitor.hpp"
#include "telering/core/layout.hpp"  // HealthStatus: its values are the shared-memory contract

namespace telering::reader {

using telering::HealthStatus;
static_assert(static_cast<std::uint8_t>(HealthStatus::Unknown) == 0);
static_assert(static_cast<std::uint8_t>(HealthStatus::Healthy) == 1);
static_assert(static_cast<std::uint8_t>(HealthStatus::Warning) == 2);
static_assert(static_cast<std::uint8_t>(HealthStatus::Critical) == 3);

using telering::to_string;  // HealthStatus: "UNKNOWN", "HEALTHY", ... (telering/core/layout.hpp)

// The worse of two statuses: CRITICAL > WARNING > HEALTHY > UNKNOWN.
[[nodiscard]] constexpr HealthStatus worst(HealthStatus a, HealthStatus b) noexcept {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

struct ThresholdBand {
  double warning_at = 0.0;      // value >= this is at least WARNING
  double critical_above = 0.0;  // value > this is CRITICAL
};

struct HealthThresholds {
  ThresholdBand scan_time_s{30.0, 90.0};
  ThresholdBand memory_mb{820.0, 1024.0};
  ThresholdBand errors{5.0, 10.0};
  ThresholdBand api_latency_s{2.0, 5.0};

  // Throws std::invalid_argument naming the band when a bound is negative or not finite, or
  // warning_at > critical_above.
  void validate() const;
};

// The grading rule above. NaN grades CRITICAL (a broken measurement is not "fine").
[[nodiscard]] HealthStatus classify(double value, const ThresholdBand& band) noexcept;

inline constexpr std::string_view kScanPerformance = "scan_performance";
inline constexpr std::string_view kMemoryUsage = "memory_usage";
inline constexpr std::string_view kErrorRate = "error_rate";
inline constexpr std::string_view kApiPerformance = "api_performance";

struct ComponentHealth {
  std::string name;     // one of the k* names above
  HealthStatus status = HealthStatus::Unknown;
  std::string message;  // "Scan performance good: avg=24.5s", ...
  double value = 0.0;   // what was graded: seconds, MiB, or an error count
};

struct HealthMetrics {
  double avg_scan_time_s = 0.0;
  double memory_mb = 0.0;
  std::uint64_t errors = 0;    // within error_window_s (what the error component grades)
  std::uint64_t warnings = 0;  // within error_window_s
  std::uint64_t errors_total = 0;
  std::uint64_t warnings_total = 0;
  double avg_api_latency_s = 0.0;
  std::uint64_t scan_samples = 0;  // samples in the scan window
  std::uint64_t api_samples = 0;   // samples in the API window
  std::uint32_t error_window_s = 0;
};

struct HealthReport {
  std::int64_t timestamp_wall_ns = 0;  // Unix epoch ns, shown to people (UTC)
  std::uint64_t now_ns = 0;            // monotonic time of the check
  HealthStatus overall_status = HealthStatus::Unknown;  // worst of components
  std::vector<ComponentHealth> components;  // in the seed's order: scan, memory, errors, api
  HealthMetrics metrics;

  // nullptr when no component has that name.
  [[nodiscard]] const ComponentHealth* component(std::string_view name) const noexcept;
};

// The four checks, usable alone (run_full_health_check calls each once).
[[nodiscard]] ComponentHealth check_scan_performance(const PerformanceMonitor& m, const HealthThresholds& t);
[[nodiscard]] ComponentHealth check_memory_usage(const PerformanceMonitor& m, const HealthThresholds& t);
[[nodiscard]] ComponentHealth check_error_rate(const PerformanceMonitor& m, const HealthThresholds& t,
                                               std::uint64_t now_ns);
[[nodiscard]] ComponentHealth check_api_performance(const PerformanceMonitor& m, const HealthThresholds& t);

[[nodiscard]] HealthReport run_full_health_check(const PerformanceMonitor& monitor, const HealthThresholds& thresholds,
                                                 std::uint64_t now_ns, std::int64_t wall_ns);

}  // namespace telering::reader
