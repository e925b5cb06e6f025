// evaluate/health_report_format.cpp — see health_report_format.hpp.
#include "evaluate/health_report_format.hpp"

#include <chrono>
#include <cinttypes>
#include <cstdio>

namespace telering::reader {

namespace {

constexpr std::string_view kRuleEquals = "============================================================\n";
constexpr std::string_view kRuleDashes = "------------------------------------------------------------\n";
static_assert(kRuleEquals.size() == 61 && kRuleDashes.size() == 61, "the seed's rules are 60 wide");

struct UtcParts {
  int year;
  unsigned month, day, hour, minute, second, millisecond;
};

// Pure calendar arithmetic (no gmtime, no time zone database): floor toward the past so a
// pre-1970 instant still lands in the right second.
UtcParts utc_parts(std::int64_t wall_ns) {
  using namespace std::chrono;
  const sys_time<nanoseconds> t{nanoseconds{wall_ns}};
  const sys_days day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss<milliseconds> tod{floor<milliseconds>(t - day)};
  return {static_cast<int>(ymd.year()),
          static_cast<unsigned>(ymd.month()),
          static_cast<unsigned>(ymd.day()),
          static_cast<unsigned>(tod.hours().count()),
          static_cast<unsigned>(tod.minutes().count()),
          static_cast<unsigned>(tod.seconds().count()),
          static_cast<unsigned>(tod.subseconds().count())};
}

void append_fixed(std::string& out, const char* format, double value) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, value);
  out += buf;
}

void append_count(std::string& out, std::uint64_t value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%" PRIu64, value);
  out += buf;
}

}  // namespace

std::string format_utc_seconds(std::int64_t wall_ns) {
  const UtcParts p = utc_parts(wall_ns);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02u:%02u:%02u", p.year, p.month, p.day, p.hour, p.minute,
                p.second);
  return buf;
}

std::string format_utc_iso8601(std::int64_t wall_ns) {
  const UtcParts p = utc_parts(wall_ns);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", p.year, p.month, p.day, p.hour, p.minute,
                p.second, p.millisecond);
  return buf;
}

std::string_view status_icon(HealthStatus s) noexcept {
  switch (s) {
    case HealthStatus::Healthy: return "\u2705";               // ✅
    case HealthStatus::Warning: return "\u26A0\uFE0F";         // ⚠️ (with emoji presentation selector)
    case HealthStatus::Critical: return "\u274C";              // ❌
    case HealthStatus::Unknown: break;
  }
  return "\u2754";  // ❔
}

std::string format_health_summary(const HealthReport& report) {
  std::string out;
  out.reserve(1024);
  out += kRuleEquals;
  out += "BOT HEALTH CHECK SUMMARY\n";
  out += kRuleEquals;
  out += "Timestamp: ";
  out += format_utc_seconds(report.timestamp_wall_ns);
  out += "\nOverall Status: ";
  out += to_string(report.overall_status);
  out += "\n\nComponent Health:\n";
  out += kRuleDashes;
  for (const ComponentHealth& c : report.components) {
    out += status_icon(c.status);
    out += ' ';
    out += c.name;
    out += ": ";
    out += to_string(c.status);
    out += "\n   ";
    out += c.message;
    out += '\n';
  }
  const HealthMetrics& k = report.metrics;
  out += "\nKey Metrics:\n";
  out += kRuleDashes;
  append_fixed(out, "  Avg Scan Time: %.2fs\n", k.avg_scan_time_s);
  append_fixed(out, "  Memory Usage: %.1fMB\n", k.memory_mb);
  out += "  Errors: ";
  append_count(out, k.errors);
  out += "\n  Warnings: ";
  append_count(out, k.warnings);
  out += '\n';
  out += kRuleEquals;
  return out;
}

nlohmann::json health_report_to_json(const HealthReport& report) {
  nlohmann::json components = nlohmann::json::object();
  for (const ComponentHealth& c : report.components) {
    components[c.name] = {
        {"status", to_string(c.status)},
        {"message", c.message},
        {"value", c.value},
    };
  }
  const HealthMetrics& k = report.metrics;
  return {
      {"timestamp", format_utc_iso8601(report.timestamp_wall_ns)},
      {"timestamp_ns", report.timestamp_wall_ns},
      {"overall_status", to_string(report.overall_status)},
      {"components", std::move(components)},
      {"metrics",
       {
           {"avg_scan_time_s", k.avg_scan_time_s},
           {"memory_mb", k.memory_mb},
           {"errors", k.errors},
           {"warnings", k.warnings},
           {"errors_total", k.errors_total},
           {"warnings_total", k.warnings_total},
           {"avg_api_latency_s", k.avg_api_latency_s},
           {"scan_samples", k.scan_samples},
           {"api_samples", k.api_samples},
           {"error_window_s", k.error_window_s},
       }},
  };
}

nlohmann::json error_statistics_to_json(const ErrorStatistics& stats) {
  nlohmann::json by_type = nlohmann::json::object();
  for (const auto& [type, count] : stats.errors_by_type) by_type[type] = count;
  nlohmann::json by_severity = nlohmann::json::object();
  for (const auto& [severity, count] : stats.errors_by_severity) by_severity[severity] = count;
  nlohmann::json recent = nlohmann::json::array();
  for (const ErrorEvent& e : stats.recent_errors) {
    recent.push_back({
        {"timestamp", format_utc_iso8601(e.wall_ns)},
        {"timestamp_ns", e.wall_ns},
        {"error_type", e.error_type},
        {"component", e.component},
        {"severity", to_string(e.severity)},
        {"message", e.message_or_context},
        {"bot_id", e.bot_id},
    });
  }
  return {
      {"total_errors", stats.total_errors},
      {"errors_by_type", std::move(by_type)},
      {"errors_by_severity", std::move(by_severity)},
      {"error_rate_per_minute", stats.error_rate_per_minute},
      {"recent_errors", std::move(recent)},
      {"tracked_types", stats.tracked_types},
      {"evicted_types", stats.evicted_types},
  };
}

std::string to_json_text(const nlohmann::json& doc, int indent) {
  return doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace telering::reader
