// evaluate/health.cpp — see health.hpp.
#include "evaluate/health.hpp"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace telering::reader {

std::string_view to_string(HealthStatus s) noexcept {
  switch (s) {
    case HealthStatus::Unknown: return "UNKNOWN";
    case HealthStatus::Healthy: return "HEALTHY";
    case HealthStatus::Warning: return "WARNING";
    case HealthStatus::Critical: return "CRITICAL";
  }
  return "INVALID";
}

namespace {

void validate_band(const ThresholdBand& b, const char* name) {
  const bool finite = std::isfinite(b.warning_at) && std::isfinite(b.critical_above);
  if (!finite || b.warning_at < 0.0 || b.critical_above < 0.0) {
    throw std::invalid_argument(std::string("HealthThresholds.") + name + ": bounds must be finite and >= 0");
  }
  if (b.warning_at > b.critical_above) {
    throw std::invalid_argument(std::string("HealthThresholds.") + name + ": warning_at must be <= critical_above");
  }
}

// The seed's messages print one decimal ("avg=24.5s", "256.3MB").
std::string one_decimal(const char* prefix, double value, const char* suffix) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  return std::string(prefix) + buf + suffix;
}

// One message per status; index by HealthStatus (Unknown never occurs for a graded value).
struct Messages {
  const char* healthy;
  const char* warning;
  const char* critical;
  [[nodiscard]] const char* for_status(HealthStatus s) const noexcept {
    switch (s) {
      case HealthStatus::Warning: return warning;
      case HealthStatus::Critical: return critical;
      default: return healthy;
    }
  }
};

constexpr Messages kScanMessages{"Scan performance good: avg=", "Scan performance degraded: avg=",
                                 "Scan performance critical: avg="};
constexpr Messages kMemoryMessages{"Memory usage normal: ", "Memory usage high: ", "Memory usage critical: "};
constexpr Messages kErrorMessages{"Error rate normal: ", "Error rate elevated: ", "Error rate critical: "};
constexpr Messages kApiMessages{"API performance good: avg=", "API performance degraded: avg=",
                                "API performance critical: avg="};

ComponentHealth no_data(std::string_view name, const char* message) {
  return {std::string(name), HealthStatus::Healthy, message, 0.0};
}

}  // namespace

void HealthThresholds::validate() const {
  validate_band(scan_time_s, "scan_time_s");
  validate_band(memory_mb, "memory_mb");
  validate_band(errors, "errors");
  validate_band(api_latency_s, "api_latency_s");
}

HealthStatus classify(double value, const ThresholdBand& band) noexcept {
  if (std::isnan(value)) return HealthStatus::Critical;
  if (value < band.warning_at) return HealthStatus::Healthy;
  if (value <= band.critical_above) return HealthStatus::Warning;
  return HealthStatus::Critical;
}

ComponentHealth check_scan_performance(const PerformanceMonitor& m, const HealthThresholds& t) {
  if (m.scan_times().empty()) return no_data(kScanPerformance, "No scan data yet");
  const double avg = m.scan_times().average();
  const HealthStatus s = classify(avg, t.scan_time_s);
  return {std::string(kScanPerformance), s, one_decimal(kScanMessages.for_status(s), avg, "s"), avg};
}

ComponentHealth check_memory_usage(const PerformanceMonitor& m, const HealthThresholds& t) {
  if (m.memory_bytes().empty()) return no_data(kMemoryUsage, "No memory data yet");
  const double mb = m.memory_mb();
  const HealthStatus s = classify(mb, t.memory_mb);
  return {std::string(kMemoryUsage), s, one_decimal(kMemoryMessages.for_status(s), mb, "MB"), mb};
}

ComponentHealth check_error_rate(const PerformanceMonitor& m, const HealthThresholds& t, std::uint64_t now_ns) {
  const std::uint64_t n = m.errors_in_window(now_ns);
  const auto value = static_cast<double>(n);
  const HealthStatus s = classify(value, t.errors);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64 " errors", n);  // the seed's f"{n} errors", even for 1
  return {std::string(kErrorRate), s, std::string(kErrorMessages.for_status(s)) + buf, value};
}

ComponentHealth check_api_performance(const PerformanceMonitor& m, const HealthThresholds& t) {
  if (m.api_latencies().empty()) return no_data(kApiPerformance, "No API data yet");
  const double avg = m.api_latencies().average();
  const HealthStatus s = classify(avg, t.api_latency_s);
  return {std::string(kApiPerformance), s, one_decimal(kApiMessages.for_status(s), avg, "s"), avg};
}

const ComponentHealth* HealthReport::component(std::string_view name) const noexcept {
  for (const ComponentHealth& c : components) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

HealthReport run_full_health_check(const PerformanceMonitor& monitor, const HealthThresholds& thresholds,
                                   std::uint64_t now_ns, std::int64_t wall_ns) {
  HealthReport r;
  r.timestamp_wall_ns = wall_ns;
  r.now_ns = now_ns;
  r.components.reserve(4);
  r.components.push_back(check_scan_performance(monitor, thresholds));
  r.components.push_back(check_memory_usage(monitor, thresholds));
  r.components.push_back(check_error_rate(monitor, thresholds, now_ns));
  r.components.push_back(check_api_performance(monitor, thresholds));
  for (const ComponentHealth& c : r.components) r.overall_status = worst(r.overall_status, c.status);

  HealthMetrics& k = r.metrics;
  k.avg_scan_time_s = monitor.scan_times().average();
  k.memory_mb = monitor.memory_mb();
  k.errors = monitor.errors_in_window(now_ns);
  k.warnings = monitor.warnings_in_window(now_ns);
  k.errors_total = monitor.error_count();
  k.warnings_total = monitor.warning_count();
  k.avg_api_latency_s = monitor.api_latencies().average();
  k.scan_samples = monitor.scan_times().size();
  k.api_samples = monitor.api_latencies().size();
  k.error_window_s = monitor.config().error_window_seconds;
  return r;
}

}  // namespace telering::reader
