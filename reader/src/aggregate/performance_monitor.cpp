// aggregate/performance_monitor.cpp — see performance_monitor.hpp.
#include "aggregate/performance_monitor.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace telering::reader {

void PerformanceMonitorConfig::validate() const {
  if (window_size == 0) throw std::invalid_argument("PerformanceMonitorConfig.window_size must be at least 1");
  if (error_window_seconds == 0) {
    throw std::invalid_argument("PerformanceMonitorConfig.error_window_seconds must be at least 1");
  }
  if (endpoint_window_size == 0) {
    throw std::invalid_argument("PerformanceMonitorConfig.endpoint_window_size must be at least 1");
  }
}

namespace {
const PerformanceMonitorConfig& validated(const PerformanceMonitorConfig& config) {
  config.validate();
  return config;
}
}  // namespace

PerformanceMonitor::PerformanceMonitor(const PerformanceMonitorConfig& config)
    : config_(validated(config)),
      scan_times_(config.window_size),
      api_latencies_(config.window_size),
      memory_bytes_(config.window_size),
      errors_(config.error_window_seconds),
      warnings_(config.error_window_seconds) {}

bool PerformanceMonitor::accept(double value) noexcept {
  // Durations and sizes are never negative; NaN fails the comparison too.
  if (std::isfinite(value) && value >= 0.0) return true;
  ++rejected_;
  return false;
}

void PerformanceMonitor::touch(std::uint64_t now_ns) noexcept { last_update_ns_ = std::max(last_update_ns_, now_ns); }

bool PerformanceMonitor::record_scan_time(double seconds, std::uint64_t now_ns) noexcept {
  if (!accept(seconds)) return false;
  scan_times_.push(seconds);
  last_scan_ns_ = std::max(last_scan_ns_, now_ns);
  touch(now_ns);
  return true;
}

bool PerformanceMonitor::record_api_call(double seconds, std::uint64_t now_ns) noexcept {
  if (!accept(seconds)) return false;
  api_latencies_.push(seconds);
  last_api_ns_ = std::max(last_api_ns_, now_ns);
  touch(now_ns);
  return true;
}

bool PerformanceMonitor::record_api_call(double seconds, std::uint64_t now_ns, std::uint16_t endpoint_id) {
  if (!record_api_call(seconds, now_ns)) return false;
  const auto it = std::lower_bound(endpoints_.begin(), endpoints_.end(), endpoint_id,
                                   [](const auto& entry, std::uint16_t id) { return entry.first < id; });
  if (it != endpoints_.end() && it->first == endpoint_id) {
    it->second.push(seconds);
  } else if (endpoints_.size() < config_.max_endpoints) {
    // Bounded by max_endpoints: the only allocation after construction, once per endpoint.
    endpoints_.emplace(it, endpoint_id, RollingWindow(config_.endpoint_window_size))->second.push(seconds);
  } else {
    ++untracked_endpoint_calls_;
  }
  return true;
}

bool PerformanceMonitor::record_memory(double bytes, std::uint64_t now_ns) noexcept {
  if (!accept(bytes)) return false;
  memory_bytes_.push(bytes);
  last_memory_ns_ = std::max(last_memory_ns_, now_ns);
  touch(now_ns);
  return true;
}

void PerformanceMonitor::record_error(std::uint64_t now_ns) noexcept {
  errors_.add(now_ns);
  touch(now_ns);
}

void PerformanceMonitor::record_warning(std::uint64_t now_ns) noexcept {
  warnings_.add(now_ns);
  touch(now_ns);
}

const RollingWindow* PerformanceMonitor::endpoint_latencies(std::uint16_t endpoint_id) const noexcept {
  const auto it = std::lower_bound(endpoints_.begin(), endpoints_.end(), endpoint_id,
                                   [](const auto& entry, std::uint16_t id) { return entry.first < id; });
  return it != endpoints_.end() && it->first == endpoint_id ? &it->second : nullptr;
}

}  // namespace telering::reader
