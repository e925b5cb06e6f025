// evaluate/health_summary_text.hpp — the seed's "BOT HEALTH CHECK SUMMARY" block, the one
// formatter of it: the reader's log line (format_health_summary in health_report_format.hpp)
// and the Python module's BotHealthCheck.get_health_summary (telering._native) both call it.
//
// '=' rules of 60, "Timestamp: <timestamp>" as the caller formats it (the reader: UTC; the
// Python module: local time, as the seed), "Overall Status: STATUS", one "<icon> name:
// STATUS" line per component (✅ HEALTHY, ⚠️ WARNING, ❌ CRITICAL, ❔ UNKNOWN) followed by its
// message indented three spaces, then Key Metrics. Every line ends in '\n', the last one
// included.
//
// Standard library and telering/core/layout.hpp only, so that the Python extension, built
// without the reader's dependencies (nlohmann_json, spdlog, ...), compiles this file as is.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "telering/core/layout.hpp"  // HealthStatus and its names

namespace telering::reader {

struct SummaryComponent {
  std::string_view name;
  HealthStatus status = HealthStatus::Unknown;
  std::string_view message;
};

struct SummaryText {
  std::string_view timestamp;  // "2025-10-26 14:30:00"
  HealthStatus overall = HealthStatus::Unknown;
  std::span<const SummaryComponent> components;
  double avg_scan_time_s = 0;
  double memory_mb = 0;
  std::uint64_t errors = 0;
  std::uint64_t warnings = 0;
};

[[nodiscard]] std::string format_summary_text(const SummaryText& summary);

// "✅", "⚠️", "❌", "❔".
[[nodiscard]] std::string_view status_icon(HealthStatus s) noexcept;

}  // namespace telering::reader
