// Tests for the health checks (reader/src/evaluate/health.hpp).
#include "evaluate/health.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

namespace {

using telering::HealthStatus;
using telering::reader::check_api_performance;
using telering::reader::check_error_rate;
using telering::reader::check_memory_usage;
using telering::reader::check_scan_performance;
using telering::reader::classify;
using telering::reader::HealthThresholds;
using telering::reader::PerformanceMonitor;
using telering::reader::run_full_health_check;
using telering::reader::ThresholdBand;
using telering::reader::worst;

constexpr std::uint64_t kSec = 1'000'000'000ULL;
constexpr double kMiB = 1024.0 * 1024.0;
const HealthThresholds kDefaults{};

HealthStatus scan_status(double avg) {
  PerformanceMonitor m;
  m.record_scan_time(avg, kSec);
  return check_scan_performance(m, kDefaults).status;
}

HealthStatus memory_status(double mb) {
  PerformanceMonitor m;
  m.record_memory(mb * kMiB, kSec);
  return check_memory_usage(m, kDefaults).status;
}

HealthStatus error_status(int errors) {
  PerformanceMonitor m;
  for (int i = 0; i < errors; ++i) m.record_error(kSec);
  return check_error_rate(m, kDefaults, kSec).status;
}

HealthStatus api_status(double avg) {
  PerformanceMonitor m;
  m.record_api_call(avg, kSec);
  return check_api_performance(m, kDefaults).status;
}

TEST(HealthThresholds, DefaultsAreTheSeeds) {
  EXPECT_EQ(kDefaults.scan_time_s.warning_at, 30.0);
  EXPECT_EQ(kDefaults.scan_time_s.critical_above, 90.0);
  EXPECT_EQ(kDefaults.memory_mb.warning_at, 820.0);
  EXPECT_EQ(kDefaults.memory_mb.critical_above, 1024.0);
  EXPECT_EQ(kDefaults.errors.warning_at, 5.0);
  EXPECT_EQ(kDefaults.errors.critical_above, 10.0);
  EXPECT_EQ(kDefaults.api_latency_s.warning_at, 2.0);
  EXPECT_EQ(kDefaults.api_latency_s.critical_above, 5.0);
  EXPECT_NO_THROW(kDefaults.validate());
}

TEST(HealthThresholds, ValidateRejectsInvertedOrNonFiniteBands) {
  HealthThresholds t;
  t.scan_time_s = {100.0, 90.0};
  EXPECT_THROW(t.validate(), std::invalid_argument);
  t = {};
  t.memory_mb = {std::numeric_limits<double>::quiet_NaN(), 1024.0};
  EXPECT_THROW(t.validate(), std::invalid_argument);
  t = {};
  t.errors = {-1.0, 10.0};
  EXPECT_THROW(t.validate(), std::invalid_argument);
}

TEST(HealthStatusValues, MatchTheSharedMemoryContract) {
  EXPECT_EQ(static_cast<int>(HealthStatus::Unknown), 0);
  EXPECT_EQ(static_cast<int>(HealthStatus::Healthy), 1);
  EXPECT_EQ(static_cast<int>(HealthStatus::Warning), 2);
  EXPECT_EQ(static_cast<int>(HealthStatus::Critical), 3);
  EXPECT_EQ(telering::reader::to_string(HealthStatus::Unknown), "UNKNOWN");
  EXPECT_EQ(telering::reader::to_string(HealthStatus::Healthy), "HEALTHY");
  EXPECT_EQ(telering::reader::to_string(HealthStatus::Warning), "WARNING");
  EXPECT_EQ(telering::reader::to_string(HealthStatus::Critical), "CRITICAL");
}

TEST(Classify, BandEndsAreWarningAndNanIsCritical) {
  const ThresholdBand b{1.0, 2.0};
  EXPECT_EQ(classify(0.999, b), HealthStatus::Healthy);
  EXPECT_EQ(classify(1.0, b), HealthStatus::Warning);
  EXPECT_EQ(classify(2.0, b), HealthStatus::Warning);
  EXPECT_EQ(classify(2.0001, b), HealthStatus::Critical);
  EXPECT_EQ(classify(std::numeric_limits<double>::quiet_NaN(), b), HealthStatus::Critical);
  EXPECT_EQ(classify(std::numeric_limits<double>::infinity(), b), HealthStatus::Critical);
}

TEST(Worst, CriticalBeatsWarningBeatsHealthyBeatsUnknown) {
  EXPECT_EQ(worst(HealthStatus::Healthy, HealthStatus::Warning), HealthStatus::Warning);
  EXPECT_EQ(worst(HealthStatus::Critical, HealthStatus::Warning), HealthStatus::Critical);
  EXPECT_EQ(worst(HealthStatus::Unknown, HealthStatus::Healthy), HealthStatus::Healthy);
}

// Scan time: HEALTHY < 30, WARNING 30..90, CRITICAL > 90.
TEST(ScanPerformance, JustBelowThirtySecondsIsHealthy) { EXPECT_EQ(scan_status(29.999), HealthStatus::Healthy); }
TEST(ScanPerformance, ExactlyThirtySecondsIsWarning) { EXPECT_EQ(scan_status(30.0), HealthStatus::Warning); }
TEST(ScanPerformance, ExactlyNinetySecondsIsWarning) { EXPECT_EQ(scan_status(90.0), HealthStatus::Warning); }
TEST(ScanPerformance, JustAboveNinetySecondsIsCritical) { EXPECT_EQ(scan_status(90.0001), HealthStatus::Critical); }

TEST(ScanPerformance, GradesTheWindowAverage) {
  PerformanceMonitor m;
  m.record_scan_time(20.0, kSec);
  m.record_scan_time(40.0, kSec);  // avg 30 -> WARNING though the last scan alone is 40
  const auto c = check_scan_performance(m, kDefaults);
  EXPECT_EQ(c.status, HealthStatus::Warning);
  EXPECT_EQ(c.value, 30.0);
}

TEST(ScanPerformance, MessagesPerStatus) {
  PerformanceMonitor m;
  m.record_scan_time(24.5, kSec);
  EXPECT_EQ(check_scan_performance(m, kDefaults).message, "Scan performance good: avg=24.5s");
  PerformanceMonitor w;
  w.record_scan_time(45.0, kSec);
  EXPECT_EQ(check_scan_performance(w, kDefaults).message, "Scan performance degraded: avg=45.0s");
  PerformanceMonitor c;
  c.record_scan_time(95.0, kSec);
  EXPECT_EQ(check_scan_performance(c, kDefaults).message, "Scan performance critical: avg=95.0s");
}

TEST(ScanPerformance, NoDataIsHealthyWithMessage) {
  PerformanceMonitor m;
  const auto c = check_scan_performance(m, kDefaults);
  EXPECT_EQ(c.name, "scan_performance");
  EXPECT_EQ(c.status, HealthStatus::Healthy);
  EXPECT_EQ(c.message, "No scan data yet");
  EXPECT_EQ(c.value, 0.0);
}

// Memory: HEALTHY < 820 MB, WARNING 820..1024, CRITICAL > 1024.
TEST(MemoryUsage, JustBelow820MbIsHealthy) { EXPECT_EQ(memory_status(819.99), HealthStatus::Healthy); }
TEST(MemoryUsage, Exactly820MbIsWarning) { EXPECT_EQ(memory_status(820.0), HealthStatus::Warning); }
TEST(MemoryUsage, Exactly1024MbIsWarning) { EXPECT_EQ(memory_status(1024.0), HealthStatus::Warning); }
TEST(MemoryUsage, JustAbove1024MbIsCritical) { EXPECT_EQ(memory_status(1024.01), HealthStatus::Critical); }

TEST(MemoryUsage, GradesTheLatestSampleAndMessages) {
  PerformanceMonitor m;
  m.record_memory(2000.0 * kMiB, kSec);
  m.record_memory(256.3 * kMiB, 2 * kSec);
  auto c = check_memory_usage(m, kDefaults);
  EXPECT_EQ(c.status, HealthStatus::Healthy);
  EXPECT_EQ(c.message, "Memory usage normal: 256.3MB");
  EXPECT_NEAR(c.value, 256.3, 1e-9);
  m.record_memory(900.0 * kMiB, 3 * kSec);
  EXPECT_EQ(check_memory_usage(m, kDefaults).message, "Memory usage high: 900.0MB");
  m.record_memory(1100.0 * kMiB, 4 * kSec);
  EXPECT_EQ(check_memory_usage(m, kDefaults).message, "Memory usage critical: 1100.0MB");
}

TEST(MemoryUsage, NoDataIsHealthyWithMessage) {
  PerformanceMonitor m;
  const auto c = check_memory_usage(m, kDefaults);
  EXPECT_EQ(c.status, HealthStatus::Healthy);
  EXPECT_EQ(c.message, "No memory data yet");
}

// Errors in the window: HEALTHY < 5, WARNING 5..10, CRITICAL > 10.
TEST(ErrorRate, FourErrorsIsHealthy) { EXPECT_EQ(error_status(4), HealthStatus::Healthy); }
TEST(ErrorRate, ExactlyFiveErrorsIsWarning) { EXPECT_EQ(error_status(5), HealthStatus::Warning); }
TEST(ErrorRate, ExactlyTenErrorsIsWarning) { EXPECT_EQ(error_status(10), HealthStatus::Warning); }
TEST(ErrorRate, ElevenErrorsIsCritical) { EXPECT_EQ(error_status(11), HealthStatus::Critical); }

TEST(ErrorRate, ZeroErrorsIsHealthyNotNoData) {
  PerformanceMonitor m;
  const auto c = check_error_rate(m, kDefaults, kSec);
  EXPECT_EQ(c.status, HealthStatus::Healthy);
  EXPECT_EQ(c.message, "Error rate normal: 0 errors");
}

TEST(ErrorRate, MessagesPerStatus) {
  PerformanceMonitor m;
  for (int i = 0; i < 2; ++i) m.record_error(kSec);
  EXPECT_EQ(check_error_rate(m, kDefaults, kSec).message, "Error rate normal: 2 errors");
  for (int i = 0; i < 5; ++i) m.record_error(kSec);
  EXPECT_EQ(check_error_rate(m, kDefaults, kSec).message, "Error rate elevated: 7 errors");
  for (int i = 0; i < 5; ++i) m.record_error(kSec);
  EXPECT_EQ(check_error_rate(m, kDefaults, kSec).message, "Error rate critical: 12 errors");
}

TEST(ErrorRate, OldErrorsStopCountingAfterTheWindow) {
  PerformanceMonitor m;
  for (int i = 0; i < 20; ++i) m.record_error(10 * kSec);
  EXPECT_EQ(check_error_rate(m, kDefaults, 10 * kSec).status, HealthStatus::Critical);
  // 900 s later the burst has left the window: the bot is not CRITICAL forever.
  const auto later = check_error_rate(m, kDefaults, 910 * kSec);
  EXPECT_EQ(later.status, HealthStatus::Healthy);
  EXPECT_EQ(later.value, 0.0);
}

// API latency: HEALTHY < 2 s, WARNING 2..5, CRITICAL > 5.
TEST(ApiPerformance, JustBelowTwoSecondsIsHealthy) { EXPECT_EQ(api_status(1.999), HealthStatus::Healthy); }
TEST(ApiPerformance, ExactlyTwoSecondsIsWarning) { EXPECT_EQ(api_status(2.0), HealthStatus::Warning); }
TEST(ApiPerformance, ExactlyFiveSecondsIsWarning) { EXPECT_EQ(api_status(5.0), HealthStatus::Warning); }
TEST(ApiPerformance, JustAboveFiveSecondsIsCritical) { EXPECT_EQ(api_status(5.0001), HealthStatus::Critical); }

TEST(ApiPerformance, MessagesPerStatusAndNoData) {
  PerformanceMonitor m;
  EXPECT_EQ(check_api_performance(m, kDefaults).message, "No API data yet");
  EXPECT_EQ(check_api_performance(m, kDefaults).status, HealthStatus::Healthy);
  m.record_api_call(1.2, kSec);
  EXPECT_EQ(check_api_performance(m, kDefaults).message, "API performance good: avg=1.2s");
  PerformanceMonitor w;
  w.record_api_call(3.0, kSec);
  EXPECT_EQ(check_api_performance(w, kDefaults).message, "API performance degraded: avg=3.0s");
  PerformanceMonitor c;
  c.record_api_call(6.0, kSec);
  EXPECT_EQ(check_api_performance(c, kDefaults).message, "API performance critical: avg=6.0s");
}

TEST(CustomThresholds, AreApplied) {
  HealthThresholds t;
  t.scan_time_s = {10.0, 20.0};
  PerformanceMonitor m;
  m.record_scan_time(15.0, kSec);
  EXPECT_EQ(check_scan_performance(m, t).status, HealthStatus::Warning);
}

TEST(FullHealthCheck, ComponentsInSeedOrderAndKeyMetrics) {
  PerformanceMonitor m;
  m.record_scan_time(24.5, kSec);
  m.record_memory(256.3 * kMiB, kSec);
  m.record_api_call(1.2, kSec);
  for (int i = 0; i < 2; ++i) m.record_error(kSec);
  for (int i = 0; i < 5; ++i) m.record_warning(kSec);
  const auto r = run_full_health_check(m, kDefaults, 2 * kSec, 1'761'489'000'000'000'000LL);
  EXPECT_EQ(r.timestamp_wall_ns, 1'761'489'000'000'000'000LL);
  EXPECT_EQ(r.now_ns, 2 * kSec);
  EXPECT_EQ(r.overall_status, HealthStatus::Healthy);
  ASSERT_EQ(r.components.size(), 4U);
  EXPECT_EQ(r.components[0].name, "scan_performance");
  EXPECT_EQ(r.components[1].name, "memory_usage");
  EXPECT_EQ(r.components[2].name, "error_rate");
  EXPECT_EQ(r.components[3].name, "api_performance");
  EXPECT_EQ(r.metrics.avg_scan_time_s, 24.5);
  EXPECT_NEAR(r.metrics.memory_mb, 256.3, 1e-9);
  EXPECT_EQ(r.metrics.errors, 2U);
  EXPECT_EQ(r.metrics.warnings, 5U);
  EXPECT_EQ(r.metrics.errors_total, 2U);
  EXPECT_EQ(r.metrics.warnings_total, 5U);
  EXPECT_DOUBLE_EQ(r.metrics.avg_api_latency_s, 1.2);
  EXPECT_EQ(r.metrics.scan_samples, 1U);
  EXPECT_EQ(r.metrics.api_samples, 1U);
  EXPECT_EQ(r.metrics.error_window_s, 900U);
  ASSERT_NE(r.component("error_rate"), nullptr);
  EXPECT_EQ(r.component("error_rate")->value, 2.0);
  EXPECT_EQ(r.component("nope"), nullptr);
}

TEST(FullHealthCheck, OverallIsWorstComponent) {
  PerformanceMonitor m;
  m.record_scan_time(45.0, kSec);          // WARNING
  m.record_memory(100.0 * kMiB, kSec);     // HEALTHY
  EXPECT_EQ(run_full_health_check(m, kDefaults, kSec, 0).overall_status, HealthStatus::Warning);
  m.record_api_call(9.0, kSec);            // CRITICAL
  EXPECT_EQ(run_full_health_check(m, kDefaults, kSec, 0).overall_status, HealthStatus::Critical);
}

TEST(FullHealthCheck, FreshMonitorIsHealthy) {
  PerformanceMonitor m;
  const auto r = run_full_health_check(m, kDefaults, 0, 0);
  EXPECT_EQ(r.overall_status, HealthStatus::Healthy);
  for (const auto& c : r.components) EXPECT_EQ(c.status, HealthStatus::Healthy) << c.name;
}

TEST(FullHealthCheck, IsDeterministic) {
  PerformanceMonitor m;
  m.record_scan_time(31.0, kSec);
  m.record_error(kSec);
  const auto a = run_full_health_check(m, kDefaults, 5 * kSec, 42);
  const auto b = run_full_health_check(m, kDefaults, 5 * kSec, 42);
  ASSERT_EQ(a.components.size(), b.components.size());
  for (std::size_t i = 0; i < a.components.size(); ++i) {
    EXPECT_EQ(a.components[i].message, b.components[i].message);
    EXPECT_EQ(a.components[i].status, b.components[i].status);
  }
}

}  // namespace
