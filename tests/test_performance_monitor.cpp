// Tests for PerformanceMonitor (reader/src/aggregate/performance_monitor.hpp).
#include "aggregate/performance_monitor.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <stdexcept>

namespace {

using telering::reader::PerformanceMonitor;
using telering::reader::PerformanceMonitorConfig;

constexpr std::uint64_t kSec = 1'000'000'000ULL;

TEST(PerformanceMonitor, StartsEmptyWithSeedDefaults) {
  PerformanceMonitor m;
  EXPECT_EQ(m.scan_times().capacity(), 100U);
  EXPECT_EQ(m.api_latencies().capacity(), 100U);
  EXPECT_EQ(m.memory_bytes().capacity(), 100U);
  EXPECT_EQ(m.config().error_window_seconds, 900U);
  EXPECT_EQ(m.error_count(), 0U);
  EXPECT_EQ(m.warning_count(), 0U);
  EXPECT_EQ(m.memory_mb(), 0.0);
  EXPECT_EQ(m.last_update_ns(), 0U);
}

TEST(PerformanceMonitor, RecordsScanTimesIntoWindow) {
  PerformanceMonitor m;
  m.record_scan_time(25.5, 1 * kSec);
  m.record_scan_time(23.5, 2 * kSec);
  EXPECT_EQ(m.scan_times().size(), 2U);
  EXPECT_DOUBLE_EQ(m.scan_times().average(), 24.5);
  EXPECT_EQ(m.last_scan_ns(), 2 * kSec);
  EXPECT_EQ(m.last_update_ns(), 2 * kSec);
}

TEST(PerformanceMonitor, ScanWindowRollsAt100) {
  PerformanceMonitor m;
  for (int i = 0; i < 100; ++i) m.record_scan_time(100.0, kSec);
  for (int i = 0; i < 100; ++i) m.record_scan_time(10.0, 2 * kSec);
  EXPECT_EQ(m.scan_times().size(), 100U);
  EXPECT_DOUBLE_EQ(m.scan_times().average(), 10.0);
}

TEST(PerformanceMonitor, RefusesNegativeAndNonFiniteSamples) {
  PerformanceMonitor m;
  EXPECT_FALSE(m.record_scan_time(-1.0, kSec));
  EXPECT_FALSE(m.record_api_call(std::numeric_limits<double>::quiet_NaN(), kSec));
  EXPECT_FALSE(m.record_memory(std::numeric_limits<double>::infinity(), kSec));
  EXPECT_TRUE(m.scan_times().empty());
  EXPECT_TRUE(m.api_latencies().empty());
  EXPECT_TRUE(m.memory_bytes().empty());
  EXPECT_EQ(m.rejected_samples(), 3U);
  EXPECT_EQ(m.last_update_ns(), 0U);
}

TEST(PerformanceMonitor, MemoryMbIsLatestSampleInMiB) {
  PerformanceMonitor m;
  m.record_memory(512.0 * 1024 * 1024, kSec);
  m.record_memory(256.0 * 1024 * 1024, 2 * kSec);
  EXPECT_DOUBLE_EQ(m.memory_mb(), 256.0);
  EXPECT_EQ(m.last_memory_ns(), 2 * kSec);
}

TEST(PerformanceMonitor, ApiCallsPerEndpointAreBounded) {
  PerformanceMonitorConfig cfg;
  cfg.max_endpoints = 2;
  PerformanceMonitor m(cfg);
  m.record_api_call(1.0, kSec, 7);
  m.record_api_call(3.0, kSec, 7);
  m.record_api_call(2.0, kSec, 3);
  m.record_api_call(9.0, kSec, 11);  // third endpoint: overall window only
  EXPECT_EQ(m.endpoint_count(), 2U);
  ASSERT_NE(m.endpoint_latencies(7), nullptr);
  EXPECT_DOUBLE_EQ(m.endpoint_latencies(7)->average(), 2.0);
  ASSERT_NE(m.endpoint_latencies(3), nullptr);
  EXPECT_DOUBLE_EQ(m.endpoint_latencies(3)->average(), 2.0);
  EXPECT_EQ(m.endpoint_latencies(11), nullptr);
  EXPECT_EQ(m.untracked_endpoint_calls(), 1U);
  EXPECT_EQ(m.api_latencies().size(), 4U);
  EXPECT_DOUBLE_EQ(m.api_latencies().average(), 15.0 / 4.0);
}

TEST(PerformanceMonitor, ErrorsCountedTotalAndInWindow) {
  PerformanceMonitor m;
  for (int i = 0; i < 3; ++i) m.record_error(10 * kSec);
  m.record_error(500 * kSec);
  m.record_warning(10 * kSec);
  EXPECT_EQ(m.error_count(), 4U);
  EXPECT_EQ(m.errors_in_window(500 * kSec), 4U);
  EXPECT_EQ(m.warnings_in_window(500 * kSec), 1U);
  // 900 s window ending with second 910 covers seconds 11..910: the three at 10 s are out.
  EXPECT_EQ(m.errors_in_window(910 * kSec), 1U);
  EXPECT_EQ(m.warnings_in_window(910 * kSec), 0U);
  EXPECT_EQ(m.error_count(), 4U);
  EXPECT_EQ(m.warning_count(), 1U);
  EXPECT_EQ(m.errors_in_last(500 * kSec, 60), 1U);
}

TEST(PerformanceMonitor, OldErrorsLeaveTheWindow) {
  PerformanceMonitor m;
  for (int i = 0; i < 50; ++i) m.record_error(kSec);
  EXPECT_EQ(m.errors_in_window(kSec), 50U);
  EXPECT_EQ(m.errors_in_window(2000 * kSec), 0U);
}

TEST(PerformanceMonitor, ConfigurableErrorWindow) {
  PerformanceMonitorConfig cfg;
  cfg.error_window_seconds = 60;
  PerformanceMonitor m(cfg);
  m.record_error(0);
  EXPECT_EQ(m.errors_in_window(59 * kSec), 1U);
  EXPECT_EQ(m.errors_in_window(60 * kSec), 0U);
}

TEST(PerformanceMonitor, InvalidConfigThrows) {
  PerformanceMonitorConfig cfg;
  cfg.window_size = 0;
  EXPECT_THROW(PerformanceMonitor{cfg}, std::invalid_argument);
  cfg = {};
  cfg.error_window_seconds = 0;
  EXPECT_THROW(PerformanceMonitor{cfg}, std::invalid_argument);
  cfg = {};
  cfg.endpoint_window_size = 0;
  EXPECT_THROW(PerformanceMonitor{cfg}, std::invalid_argument);
}

TEST(PerformanceMonitor, LastUpdateIsLatestNotLastArrived) {
  PerformanceMonitor m;
  m.record_scan_time(1.0, 50 * kSec);
  m.record_error(40 * kSec);
  EXPECT_EQ(m.last_update_ns(), 50 * kSec);
}

}  // namespace
