// dashboard/dashboard_frame.hpp — what the dashboard shows, as plain values.
//
// A DashboardFrame is built on the drain-loop thread (DashboardCollector) once per dashboard
// interval from the Engine and the segment, then handed to the HTTP thread as an immutable
// shared_ptr (DashboardHub::publish). It holds no pointer into the Engine or the segment, so
// the HTTP thread serialises it while the loop goes on. SeriesPoints are the time series,
// one per second, downsampled in the reader: the page never receives raw records.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace telering::reader::dashboard {

struct ComponentFrame {
  std::string name;     // scan_performance, memory_usage, error_rate, api_performance
  std::string status;   // HEALTHY, WARNING, CRITICAL, UNKNOWN
  std::string message;
  double value = 0.0;
  double warning_at = 0.0;  // the thresholds it is graded against
  double critical_above = 0.0;
};

struct BotFrame {
  std::string name;
  std::string status;
  double last_record_age_s = 0.0;
  std::vector<ComponentFrame> components;
};

struct BreakerFrame {
  std::string name;       // component, or "component@bot" for a bot's own breaker
  std::string component;
  std::string bot;        // "" for the component's (or host-wide) breaker
  std::string scope;      // component, bot, host
  std::string state;      // CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED
  double failure_rate = 0.0;  // percent of the window
  double slow_call_rate = 0.0;
  std::uint32_t calls_in_window = 0;
  double calls_per_second = 0.0;
  double time_in_state_s = -1.0;      // -1: never left its first state
  double next_transition_s = -1.0;    // OPEN: seconds to HALF_OPEN; -1: none scheduled
  std::uint32_t probes_in_flight = 0; // HALF_OPEN: permits not yet answered
  std::uint64_t trips = 0;
  std::string last_rule;
};

struct ErrorFrame {
  std::string type;
  std::string severity;
  std::uint64_t count = 0;
  std::int64_t first_seen_ms = 0;  // Unix epoch ms
  std::int64_t last_seen_ms = 0;
  std::string component;
  std::string message;
};

struct DecisionFrame {
  std::uint64_t seq = 0;
  std::int64_t at_ms = 0;
  std::string subject;
  std::string what;
  std::string rule;
};

struct BackoffFrame {
  std::string type;
  double remaining_s = 0.0;
  std::uint64_t incident = 0;
  std::uint32_t attempts = 0;
};

struct RateLimitFrame {
  std::string group;
  std::uint64_t requests = 0;
  double period_s = 0.0;
  std::uint64_t burst = 0;
  bool shrunk = false;        // stretched after a rate-limit error
  std::uint64_t refused = 0;  // requests refused by the bucket since it was configured
};

struct LaneFrame {
  std::string lane;  // "0".."N-1", "shared"
  double fill = 0.0;  // 0..1
  std::uint64_t dropped = 0;
  bool in_use = false;
};

struct ReaderFrame {
  std::uint32_t pid = 0;
  double uptime_s = 0.0;
  std::uint64_t records = 0;
  std::uint64_t malformed = 0;
  double records_per_second = 0.0;
  double drops_per_second = 0.0;
  std::uint64_t decisions = 0;
  std::uint32_t lanes_in_use = 0;
};

struct RetryBudgetFrame {
  bool enabled = false;
  std::int64_t tokens = 0;
  std::uint64_t requests_in_window = 0;
  std::uint64_t retries_in_window = 0;
  double ratio = 0.0;
  std::uint32_t min_retries = 0;
  std::uint32_t window_seconds = 0;
};

// One second of the time series: name -> value (NaN-free; a series without a value that
// second is absent).
struct SeriesPoint {
  std::int64_t at_ms = 0;  // Unix epoch ms, whole seconds
  std::vector<std::pair<std::string, double>> values;
};

struct DashboardFrame {
  std::uint64_t seq = 0;          // 1, 2, ... per publish
  std::int64_t at_ms = 0;         // Unix epoch ms of the build
  std::uint64_t taken_mono_ns = 0;
  std::string overall;            // worst of host and bots
  std::vector<ComponentFrame> host;  // the seed's four checks, host-wide
  std::vector<BotFrame> bots;
  std::vector<BreakerFrame> breakers;  // sorted: failure rate, then volume (descending)
  std::vector<ErrorFrame> errors;      // the deduplicated log, most recent first (bounded)
  std::vector<DecisionFrame> decisions;  // the newest kMaxDecisions, newest first
  std::vector<BackoffFrame> backoffs;    // in force
  std::vector<RateLimitFrame> rate_limits;
  RetryBudgetFrame retry_budget;
  std::vector<LaneFrame> lanes;          // in use, or with drops
  ReaderFrame reader;
  std::vector<SeriesPoint> points;       // seconds completed since the previous frame
};

}  // namespace telering::reader::dashboard
