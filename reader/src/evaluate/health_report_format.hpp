// evaluate/health_report_format.hpp — the health report and error statistics for
// people (the seed's summary text) and for programs (JSON).
//
// format_health_summary() reproduces the seed's "Monitoring Dashboard" block line for line:
// '=' rules of 60, "Timestamp: YYYY-MM-DD HH:MM:SS" in UTC, one "<icon> name: STATUS" line
// per component (✅ HEALTHY, ⚠️ WARNING, ❌ CRITICAL, ❔ UNKNOWN) followed by its message
// indented three spaces, then Key Metrics. Every line ends in '\n', the last one included.
// "Errors" / "Warnings" are the counts within the monitor's error window (what is graded).
//
// JSON schema (stable; keys are only ever added). health_report_to_json():
//   { "timestamp":      "2025-10-26T14:30:00.000Z",   // UTC, millisecond precision
//     "timestamp_ns":   1761489000000000000,          // Unix epoch ns (integer)
//     "overall_status": "HEALTHY",                    // UNKNOWN | HEALTHY | WARNING | CRITICAL
//     "components": { "scan_performance": {"status": "HEALTHY", "message": "...", "value": 24.5},
//                     "memory_usage": {...}, "error_rate": {...}, "api_performance": {...} },
//     "metrics": { "avg_scan_time_s": 24.5, "memory_mb": 256.3, "errors": 2, "warnings": 5,
//                  "errors_total": 2, "warnings_total": 5, "avg_api_latency_s": 1.2,
//                  "scan_samples": 1, "api_samples": 1, "error_window_s": 900 } }
// error_statistics_to_json():
//   { "total_errors": 3, "errors_by_type": {"api_rate_limit": 2, ...},
//     "errors_by_severity": {"LOW": 0, "MEDIUM": 2, "HIGH": 1, "CRITICAL": 0},
//     "error_rate_per_minute": 6.0, "tracked_types": 2, "evicted_types": 0,
//     "recent_errors": [ {"timestamp": "...Z", "timestamp_ns": 0, "error_type": "...",
//                         "component": "...", "severity": "MEDIUM", "message": "...",
//                         "bot_id": 1}, ... ] }               // oldest first
// Numbers are JSON numbers (counts are unsigned integers), never strings.
//
// Strings in an error event come from shared memory and may not be valid UTF-8 (a context
// cut mid-character). to_json_text() dumps with invalid bytes replaced by U+FFFD instead
// of throwing as nlohmann's default dump() would; use it to serialise these documents.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "aggregate/error_log.hpp"
#include "evaluate/health.hpp"

namespace telering::reader {

[[nodiscard]] std::string format_health_summary(const HealthReport& report);

[[nodiscard]] nlohmann::json health_report_to_json(const HealthReport& report);
[[nodiscard]] nlohmann::json error_statistics_to_json(const ErrorStatistics& stats);

// indent < 0: compact, one line.
[[nodiscard]] std::string to_json_text(const nlohmann::json& doc, int indent = -1);

// "2025-10-26 14:30:00" (UTC, seconds truncated toward the past).
[[nodiscard]] std::string format_utc_seconds(std::int64_t wall_ns);
// "2025-10-26T14:30:00.000Z" (UTC, milliseconds truncated toward the past).
[[nodiscard]] std::string format_utc_iso8601(std::int64_t wall_ns);

// "✅", "⚠️", "❌", "❔".
[[nodiscard]] std::string_view status_icon(HealthStatus s) noexcept;

}  // namespace telering::reader
