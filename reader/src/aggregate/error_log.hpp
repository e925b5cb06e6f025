// aggregate/error_log.hpp — the seed's error history, deduplicated log and statistics.
//
// ErrorLog keeps what the seed's ErrorRecoveryManager keeps about errors, for the reader:
//  - history: the last `history_capacity` (default 1000) errors with their context, a ring
//    buffer (the oldest falls out);
//  - a deduplicated log keyed by error type: first seen, last seen, count, latest severity /
//    component / message. At most `max_types` (default 4096) types are tracked; a new type
//    beyond that evicts the least recently recorded one (counted in evicted_types()), so a
//    bot inventing a new type per error cannot grow the reader;
//  - statistics(now_ns), the seed's get_error_statistics(): total_errors, errors_by_type,
//    errors_by_severity, error_rate_per_minute, recent_errors (last 10).
//
// Definitions (statistics):
//  - total_errors: every error recorded since construction (not capped by the history).
//  - errors_by_type: count per type still in the deduplicated log (evicted types drop out).
//  - errors_by_severity: every error since construction, keyed "LOW".."CRITICAL" (all four
//    always present); an event with no valid severity is stored as NONE and counted under a
//    "NONE" key that appears only when non-zero.
//  - error_rate_per_minute: errors in the last 60 s (one-second buckets) per minute. While
//    the log is younger than 60 s (now - start_ns), errors since start divided by the elapsed
//    time, scaled to a minute, with the elapsed time floored at 1 s so the first error does
//    not read as infinity. So 3 errors 30 s after start read 6/min; 3 errors in the last
//    60 s of a long run read 3/min.
//  - recent_errors: the newest `recent_count` (default 10) history entries, oldest first
//    (the seed's history[-10:]).
//
// Bounds: every string of an event is cut to kMaxFieldBytes when recorded; with the caps
// above, memory is bounded whatever the traffic. Time comes in as now_ns (monotonic) and
// wall_ns (Unix epoch, for people); nothing reads a clock. Thread safety: none.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "aggregate/rolling_window.hpp"
#include "telering/record.hpp"

namespace telering::reader {

namespace detail {
struct SnapshotAccess;  // state/snapshot_codecs.hpp: saves and restores the private state
}  // namespace detail


struct ErrorEvent {
  std::string error_type;
  std::string component;
  Severity severity = Severity::None;
  std::string message_or_context;
  std::uint64_t now_ns = 0;   // monotonic
  std::int64_t wall_ns = 0;   // Unix epoch ns
  std::uint32_t bot_id = 0;
};

// One entry of the deduplicated log.
struct ErrorTypeSummary {
  std::string error_type;
  std::uint64_t count = 0;
  std::uint64_t first_seen_ns = 0;  // monotonic; min over its events
  std::uint64_t last_seen_ns = 0;   // monotonic; max over its events
  std::int64_t first_seen_wall_ns = 0;
  std::int64_t last_seen_wall_ns = 0;
  Severity last_severity = Severity::None;  // of the most recently recorded event
  std::string last_component;
  std::string last_message;
};

struct ErrorStatistics {
  std::uint64_t total_errors = 0;
  std::map<std::string, std::uint64_t, std::less<>> errors_by_type;      // sorted: stable output
  std::map<std::string, std::uint64_t, std::less<>> errors_by_severity;  // "LOW".."CRITICAL", all present
  double error_rate_per_minute = 0.0;
  std::vector<ErrorEvent> recent_errors;  // oldest first
  std::uint64_t tracked_types = 0;        // types in the deduplicated log now
  std::uint64_t evicted_types = 0;        // types dropped from it since start
};

struct ErrorLogConfig {
  std::size_t history_capacity = 1000;  // the seed's error history length
  std::size_t max_types = 4096;
  std::size_t recent_count = 10;

  // Throws std::invalid_argument naming the field when a capacity is 0.
  void validate() const;
};

class ErrorLog {
 public:
  friend struct detail::SnapshotAccess;

  static constexpr std::size_t kMaxFieldBytes = 256;
  static constexpr std::uint32_t kRateWindowSeconds = 60;

  // start_ns: when the log (the reader) started, monotonic; the error rate's time base.
  // Throws std::invalid_argument if the config is invalid (set-up time only).
  explicit ErrorLog(std::uint64_t start_ns, const ErrorLogConfig& config = {});
  // Not copyable: the type index views strings owned by the list nodes. Moving keeps the
  // nodes (and so the views) where they are.
  ErrorLog(const ErrorLog&) = delete;
  ErrorLog& operator=(const ErrorLog&) = delete;
  ErrorLog(ErrorLog&&) noexcept = default;
  ErrorLog& operator=(ErrorLog&&) noexcept = default;
  ~ErrorLog() = default;

  void record(ErrorEvent event);

  [[nodiscard]] ErrorStatistics statistics(std::uint64_t now_ns) const;
  [[nodiscard]] double error_rate_per_minute(std::uint64_t now_ns) const noexcept;

  [[nodiscard]] std::uint64_t total_errors() const noexcept { return total_; }
  [[nodiscard]] std::size_t history_size() const noexcept { return history_size_; }
  // The history, oldest first (allocates; for reports and tests).
  [[nodiscard]] std::vector<ErrorEvent> history() const;
  // The newest n history entries, oldest first.
  [[nodiscard]] std::vector<ErrorEvent> recent(std::size_t n) const;

  // nullptr when the type is not in the deduplicated log.
  [[nodiscard]] const ErrorTypeSummary* find_type(std::string_view error_type) const noexcept;
  // The deduplicated log, most recently recorded first.
  [[nodiscard]] std::vector<ErrorTypeSummary> types() const;
  [[nodiscard]] std::size_t type_count() const noexcept { return types_.size(); }
  [[nodiscard]] std::uint64_t evicted_types() const noexcept { return evicted_types_; }
  [[nodiscard]] std::uint64_t count_by_severity(Severity s) const noexcept;

  [[nodiscard]] const ErrorLogConfig& config() const noexcept { return config_; }

 private:
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  using TypeList = std::list<ErrorTypeSummary>;  // front = most recently recorded

  void update_types(const ErrorEvent& event);

  ErrorLogConfig config_;
  std::uint64_t start_ns_;

  // Ring of the last history_capacity events: history_next_ is where the next one goes;
  // once full it is also the oldest.
  std::vector<ErrorEvent> history_;
  std::size_t history_next_ = 0;
  std::size_t history_size_ = 0;

  // Invariant: index_ maps exactly the types in lru_, and lru_.size() <= max_types. The map
  // keys view the list node's own string (list nodes never move), so a type is stored once.
  TypeList lru_;
  std::unordered_map<std::string_view, TypeList::iterator, StringHash, std::equal_to<>> types_;
  std::uint64_t evicted_types_ = 0;

  std::uint64_t total_ = 0;
  std::uint64_t by_severity_[kMaxSeverity + 1] = {};
  RateWindow rate_;
};

}  // namespace telering::reader
