// evaluate/health_summary_text.cpp — see health_summary_text.hpp.
#include "evaluate/health_summary_text.hpp"

#include <cinttypes>
#include <cstdio>

namespace telering::reader {

namespace {

constexpr std::string_view kRuleEquals = "============================================================\n";
constexpr std::string_view kRuleDashes = "------------------------------------------------------------\n";
static_assert(kRuleEquals.size() == 61 && kRuleDashes.size() == 61, "the seed's rules are 60 wide");

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

std::string_view status_icon(HealthStatus s) noexcept {
  switch (s) {
    case HealthStatus::Healthy: return "\u2705";               // ✅
    case HealthStatus::Warning: return "\u26A0\uFE0F";         // ⚠️ (with emoji presentation selector)
    case HealthStatus::Critical: return "\u274C";              // ❌
    case HealthStatus::Unknown: break;
  }
  return "\u2754";  // ❔
}

std::string format_summary_text(const SummaryText& s) {
  std::string out;
  out.reserve(1024);
  out += kRuleEquals;
  out += "BOT HEALTH CHECK SUMMARY\n";
  out += kRuleEquals;
  out += "Timestamp: ";
  out += s.timestamp;
  out += "\nOverall Status: ";
  out += to_string(s.overall);
  out += "\n\nComponent Health:\n";
  out += kRuleDashes;
  for (const SummaryComponent& c : s.components) {
    out += status_icon(c.status);
    out += ' ';
    out += c.name;
    out += ": ";
    out += to_string(c.status);
    out += "\n   ";
    out += c.message;
    out += '\n';
  }
  out += "\nKey Metrics:\n";
  out += kRuleDashes;
  append_fixed(out, "  Avg Scan Time: %.2fs\n", s.avg_scan_time_s);
  append_fixed(out, "  Memory Usage: %.1fMB\n", s.memory_mb);
  out += "  Errors: ";
  append_count(out, s.errors);
  out += "\n  Warnings: ";
  append_count(out, s.warnings);
  out += '\n';
  out += kRuleEquals;
  return out;
}

}  // namespace telering::reader
