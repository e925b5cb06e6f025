// Tests for the summary text and JSON (reader/src/evaluate/health_report_format.hpp).
#include "evaluate/health_report_format.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace {

using telering::HealthStatus;
using telering::Severity;
using telering::reader::ErrorEvent;
using telering::reader::ErrorLog;
using telering::reader::format_health_summary;
using telering::reader::format_utc_iso8601;
using telering::reader::format_utc_seconds;
using telering::reader::health_report_to_json;
using telering::reader::HealthThresholds;
using telering::reader::PerformanceMonitor;
using telering::reader::run_full_health_check;

constexpr std::uint64_t kSec = 1'000'000'000ULL;
constexpr double kMiB = 1024.0 * 1024.0;
constexpr std::int64_t kSeedTimestamp = 1'761'489'000'000'000'000LL;  // 2025-10-26 14:30:00 UTC

// The seed's "Monitoring Dashboard" block, byte for byte (plus the final newline).
constexpr const char* kSeedSummary =
    "============================================================\n"
    "BOT HEALTH CHECK SUMMARY\n"
    "============================================================\n"
    "Timestamp: 2025-10-26 14:30:00\n"
    "Overall Status: HEALTHY\n"
    "\n"
    "Component Health:\n"
    "------------------------------------------------------------\n"
    "\u2705 scan_performance: HEALTHY\n"
    "   Scan performance good: avg=24.5s\n"
    "\u2705 memory_usage: HEALTHY\n"
    "   Memory usage normal: 256.3MB\n"
    "\u2705 error_rate: HEALTHY\n"
    "   Error rate normal: 2 errors\n"
    "\u2705 api_performance: HEALTHY\n"
    "   API performance good: avg=1.2s\n"
    "\n"
    "Key Metrics:\n"
    "------------------------------------------------------------\n"
    "  Avg Scan Time: 24.50s\n"
    "  Memory Usage: 256.3MB\n"
    "  Errors: 2\n"
    "  Warnings: 5\n"
    "============================================================\n";

PerformanceMonitor seed_monitor() {
  PerformanceMonitor m;
  m.record_scan_time(24.5, kSec);
  m.record_memory(256.3 * kMiB, kSec);
  m.record_api_call(1.2, kSec);
  for (int i = 0; i < 2; ++i) m.record_error(kSec);
  for (int i = 0; i < 5; ++i) m.record_warning(kSec);
  return m;
}

TEST(HealthSummary, GoldenSeedExampleByteForByte) {
  const auto report = run_full_health_check(seed_monitor(), HealthThresholds{}, 2 * kSec, kSeedTimestamp);
  EXPECT_EQ(format_health_summary(report), kSeedSummary);
}

TEST(HealthSummary, WarningCriticalAndUnknownIcons) {
  PerformanceMonitor m;
  m.record_scan_time(45.0, kSec);
  m.record_memory(1100.0 * kMiB, kSec);
  auto report = run_full_health_check(m, HealthThresholds{}, kSec, kSeedTimestamp);
  report.components.push_back({"custom", HealthStatus::Unknown, "not checked", 0.0});
  const std::string text = format_health_summary(report);
  EXPECT_NE(text.find("Overall Status: CRITICAL\n"), std::string::npos);
  EXPECT_NE(text.find("\u26A0\uFE0F scan_performance: WARNING\n   Scan performance degraded: avg=45.0s\n"),
            std::string::npos);
  EXPECT_NE(text.find("\u274C memory_usage: CRITICAL\n   Memory usage critical: 1100.0MB\n"), std::string::npos);
  EXPECT_NE(text.find("\u2705 api_performance: HEALTHY\n   No API data yet\n"), std::string::npos);
  EXPECT_NE(text.find("\u2754 custom: UNKNOWN\n   not checked\n"), std::string::npos);
}

TEST(UtcFormat, SecondsAndIso8601) {
  EXPECT_EQ(format_utc_seconds(kSeedTimestamp), "2025-10-26 14:30:00");
  EXPECT_EQ(format_utc_iso8601(kSeedTimestamp + 123'456'789), "2025-10-26T14:30:00.123Z");
  EXPECT_EQ(format_utc_seconds(0), "1970-01-01 00:00:00");
  EXPECT_EQ(format_utc_seconds(-1), "1969-12-31 23:59:59");  // floors toward the past
  EXPECT_EQ(format_utc_iso8601(951'782'400'000'000'000LL), "2000-02-29T00:00:00.000Z");  // leap day
}

TEST(HealthReportJson, SchemaKeysAndTypes) {
  const auto report = run_full_health_check(seed_monitor(), HealthThresholds{}, 2 * kSec, kSeedTimestamp);
  const nlohmann::json j = health_report_to_json(report);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.at("timestamp"), "2025-10-26T14:30:00.000Z");
  EXPECT_TRUE(j.at("timestamp_ns").is_number_integer());
  EXPECT_EQ(j.at("timestamp_ns").get<std::int64_t>(), kSeedTimestamp);
  EXPECT_EQ(j.at("overall_status"), "HEALTHY");
  const auto& comps = j.at("components");
  ASSERT_TRUE(comps.is_object());
  EXPECT_EQ(comps.size(), 4U);
  for (const char* name : {"scan_performance", "memory_usage", "error_rate", "api_performance"}) {
    ASSERT_TRUE(comps.contains(name)) << name;
    const auto& c = comps.at(name);
    EXPECT_TRUE(c.at("status").is_string()) << name;
    EXPECT_TRUE(c.at("message").is_string()) << name;
    EXPECT_TRUE(c.at("value").is_number()) << name;
  }
  EXPECT_EQ(comps.at("scan_performance").at("message"), "Scan performance good: avg=24.5s");
  EXPECT_EQ(comps.at("error_rate").at("value").get<double>(), 2.0);
  const auto& k = j.at("metrics");
  for (const char* name : {"avg_scan_time_s", "memory_mb", "avg_api_latency_s"}) {
    EXPECT_TRUE(k.at(name).is_number_float()) << name;
  }
  for (const char* name :
       {"errors", "warnings", "errors_total", "warnings_total", "scan_samples", "api_samples", "error_window_s"}) {
    EXPECT_TRUE(k.at(name).is_number_unsigned()) << name;
  }
  EXPECT_EQ(k.at("avg_scan_time_s").get<double>(), 24.5);
  EXPECT_EQ(k.at("errors").get<std::uint64_t>(), 2U);
  EXPECT_EQ(k.at("warnings").get<std::uint64_t>(), 5U);
  EXPECT_EQ(k.at("error_window_s").get<std::uint32_t>(), 900U);
}

TEST(ErrorStatisticsJson, SchemaKeysAndTypes) {
  ErrorLog log(0);
  log.record(ErrorEvent{.error_type = "api_rate_limit",
                        .component = "market_scanner",
                        .severity = Severity::Medium,
                        .message_or_context = "endpoint=/api/v1/market/orderbook",
                        .now_ns = 5 * kSec,
                        .wall_ns = kSeedTimestamp,
                        .bot_id = 3});
  log.record(ErrorEvent{.error_type = "api_connection",
                        .component = "client",
                        .severity = Severity::High,
                        .message_or_context = "",
                        .now_ns = 6 * kSec,
                        .wall_ns = kSeedTimestamp + 1'000'000'000,
                        .bot_id = 3});
  const nlohmann::json j = telering::reader::error_statistics_to_json(log.statistics(30 * kSec));
  EXPECT_EQ(j.at("total_errors").get<std::uint64_t>(), 2U);
  EXPECT_TRUE(j.at("total_errors").is_number_unsigned());
  EXPECT_TRUE(j.at("errors_by_type").is_object());
  EXPECT_EQ(j.at("errors_by_type").at("api_rate_limit").get<std::uint64_t>(), 1U);
  const auto& sev = j.at("errors_by_severity");
  ASSERT_TRUE(sev.is_object());
  for (const char* s : {"LOW", "MEDIUM", "HIGH", "CRITICAL"}) EXPECT_TRUE(sev.at(s).is_number_unsigned()) << s;
  EXPECT_EQ(sev.at("HIGH").get<std::uint64_t>(), 1U);
  EXPECT_TRUE(j.at("error_rate_per_minute").is_number_float());
  EXPECT_DOUBLE_EQ(j.at("error_rate_per_minute").get<double>(), 4.0);  // 2 errors in 30 s
  EXPECT_EQ(j.at("tracked_types").get<std::uint64_t>(), 2U);
  EXPECT_EQ(j.at("evicted_types").get<std::uint64_t>(), 0U);
  const auto& recent = j.at("recent_errors");
  ASSERT_TRUE(recent.is_array());
  ASSERT_EQ(recent.size(), 2U);
  const auto& e = recent.at(0);
  EXPECT_EQ(e.at("timestamp"), "2025-10-26T14:30:00.000Z");
  EXPECT_EQ(e.at("timestamp_ns").get<std::int64_t>(), kSeedTimestamp);
  EXPECT_EQ(e.at("error_type"), "api_rate_limit");
  EXPECT_EQ(e.at("component"), "market_scanner");
  EXPECT_EQ(e.at("severity"), "MEDIUM");
  EXPECT_EQ(e.at("message"), "endpoint=/api/v1/market/orderbook");
  EXPECT_EQ(e.at("bot_id").get<std::uint32_t>(), 3U);
  EXPECT_EQ(recent.at(1).at("error_type"), "api_connection");
}

TEST(JsonText, InvalidUtf8FromSharedMemoryDoesNotThrow) {
  ErrorLog log(0);
  log.record(ErrorEvent{.error_type = "x", .component = "", .severity = Severity::Low,
                        .message_or_context = std::string("cut \xE2\x82", 6), .now_ns = 0, .wall_ns = 0,
                        .bot_id = 0});
  const nlohmann::json j = telering::reader::error_statistics_to_json(log.statistics(0));
  std::string text;
  ASSERT_NO_THROW(text = telering::reader::to_json_text(j));
  EXPECT_NE(text.find("\"total_errors\":1"), std::string::npos);
  EXPECT_NE(text.find("\xEF\xBF\xBD"), std::string::npos);  // U+FFFD replacement
  const auto back = nlohmann::json::parse(telering::reader::to_json_text(
      telering::reader::health_report_to_json(
          run_full_health_check(seed_monitor(), HealthThresholds{}, 2 * kSec, kSeedTimestamp)),
      2));
  EXPECT_EQ(back.at("overall_status"), "HEALTHY");
}

}  // namespace
