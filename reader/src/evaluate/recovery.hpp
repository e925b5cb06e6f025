// evaluate/recovery.hpp — what to do about an error: the seed's ErrorRecoveryManager.
//
// RecoveryEngine maps an error type to a recovery strategy (RETRY, BACKOFF, RESET, ALERT,
// SHUTDOWN) and turns each error occurrence into a RecoveryDecision the reader publishes on
// the decision board. It is pure logic: no clock reads (every call takes `now_ns`, a
// monotonic nanosecond value), no I/O, no threads, jitter from a seeded generator — the same
// inputs replay to the same decisions.
//
// Incidents. Decisions are rationed per incident: an incident of type T starts with the first
// error of T and ends once no error of T has been seen for `incident_quiet_seconds`
// (default 300 s); the next error of T then starts a fresh incident (attempt counts and the
// alert dedup reset; an active backoff deadline is kept — only time ends a backoff).
//
// should_trigger_recovery(T, now) is true when a strategy exists for T (or T is unknown and
// the error is CRITICAL, which gets a built-in ALERT) and:
//   RETRY     retries in the current incident < max_retries
//   BACKOFF   no backoff for T is active (now >= backoff_until)
//   RESET     resets in the current incident < max_retries
//   ALERT     no alert for T was raised in the current incident (dedup)
//   SHUTDOWN  no shutdown is already requested
//   NONE      never
// attempt_recovery(T, severity, now) is the call the reader makes for every error record: it
// records the occurrence (extending or starting the incident) and returns the decision — the
// strategy's action when should_trigger_recovery would have been true just before, otherwise
// action None with the reason. (One exception: RETRY also stops when the strategy's
// backoff.max_total_seconds would be exceeded.)
//
// RESET bumps the global reset epoch and stamps the new value as the type's epoch, so a
// type's epoch only grows, even across eviction. SHUTDOWN sets a sticky flag (clear_shutdown).
// ALERT carries the dedup key "recovery/<error_type>".
//
// Memory is bounded: at most max_strategies strategies and max_tracked_types per-type states;
// when the state table is full the type whose last error is oldest is forgotten (counted).
//
// Thread safety: none; one reader thread owns the engine.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "telering/backoff.hpp"
#include "telering/layout.hpp"  // RecoveryAction
#include "telering/record.hpp"  // Severity

namespace telering::reader {

namespace detail {
struct SnapshotAccess;  // state/snapshot_codecs.hpp: saves and restores the private state
}  // namespace detail


// The seed's RecoveryAction lives in core (layout.hpp): the board publishes it.
using telering::RecoveryAction;
using telering::kMaxRecoveryAction;

[[nodiscard]] std::string_view to_string(RecoveryAction a) noexcept;  // "none", "retry", ... (the seed's values)

struct RecoveryStrategy {
  std::string error_type;
  Severity severity = Severity::Medium;
  RecoveryAction action = RecoveryAction::Alert;
  std::uint32_t max_retries = 3;  // RETRY: retries per incident; RESET: resets per incident
  double backoff_seconds = 0;     // BACKOFF: fixed wait; 0 = take successive delays from `backoff`
  // RETRY delays (its max_attempts is replaced by max_retries), and BACKOFF's when
  // backoff_seconds is 0. Default: the seed's backoff_base 2.0 -> 1, 2, 4 s, no jitter.
  BackoffPolicy backoff = BackoffPolicy::seed_compatible(3, 2.0);
  std::map<std::string, std::string> params;  // the seed's **params, passed through
};

struct RecoveryDecision {
  RecoveryAction action = RecoveryAction::None;
  std::string error_type;
  std::uint64_t backoff_until_ns = 0;  // RETRY/BACKOFF: do not call before this; else 0
  std::uint32_t attempt = 0;           // 1-based action count in the incident (0 when None)
  bool retry_allowed = false;          // true only when the decision grants a retry (RETRY, BACKOFF)
  std::uint64_t reset_epoch = 0;       // the type's reset epoch after this decision
  bool shutdown = false;               // a shutdown is requested (now or earlier)
  std::string reason;                  // one line for logs, alerts and the board
  // Added beyond the seed's fields:
  Severity severity = Severity::None;  // max(strategy severity, error severity)
  std::string alert_key;               // ALERT: dedup key, "recovery/<error_type>"; else empty
  std::uint32_t retries_left = 0;      // RETRY: retries still allowed in this incident
  std::uint64_t incident = 0;          // 1-based incident number of the type; 0 = not tracked
};

struct RecoveryConfig {
  double incident_quiet_seconds = 300.0;  // > 0
  std::size_t max_tracked_types = 4096;   // >= 1
  std::size_t max_strategies = 4096;      // >= number of built-ins
  bool alert_on_unknown_critical = true;  // unknown type + CRITICAL -> ALERT
  std::uint64_t seed = 0x5EEDC0DE7E1E0001ULL;  // jitter; per type and incident derived from it
};

// Per-type state, exposed for reports, the board and tests.
struct RecoveryTypeState {
  std::uint64_t incident = 0;             // 1-based
  std::uint64_t incident_started_ns = 0;
  std::uint64_t last_error_ns = 0;
  std::uint64_t errors_in_incident = 0;
  std::uint32_t attempts = 0;             // actions taken in the incident (retries, backoffs, resets)
  std::uint64_t backoff_until_ns = 0;
  std::uint64_t reset_epoch = 0;
  bool alerted = false;                   // an alert was raised in this incident
};

class RecoveryEngine {
 public:
  friend struct detail::SnapshotAccess;

  // Installs the built-ins. Throws std::invalid_argument for an invalid config.
  explicit RecoveryEngine(const RecoveryConfig& config = {});

  // The seed's built-ins: api_rate_limit BACKOFF 30 s, api_connection RETRY x5 (1, 2, 4, 8,
  // 16 s), insufficient_balance ALERT, position_not_found RESET, critical_system_error ALERT.
  [[nodiscard]] static std::vector<RecoveryStrategy> built_in_strategies();

  // Adds or replaces (built-ins included) the strategy for strategy.error_type; replacing
  // forgets the type's incident state so the new rules start fresh. Returns false, changing
  // nothing, for an empty error type, an action outside the enum, or a full table.
  bool register_recovery_strategy(RecoveryStrategy strategy);
  // The seed's signature: register_recovery_strategy(type, severity, action, max_retries, **params).
  bool register_recovery_strategy(std::string error_type, Severity severity, RecoveryAction action,
                                  std::uint32_t max_retries = 3, std::map<std::string, std::string> params = {});
  bool remove_recovery_strategy(std::string_view error_type);
  [[nodiscard]] const RecoveryStrategy* strategy(std::string_view error_type) const;
  [[nodiscard]] std::size_t strategy_count() const noexcept { return strategies_.size(); }

  // Rule in the header comment. `severity` only matters for types without a strategy.
  [[nodiscard]] bool should_trigger_recovery(std::string_view error_type, std::uint64_t now_ns,
                                             Severity severity = Severity::None) const;
  RecoveryDecision attempt_recovery(std::string_view error_type, Severity severity, std::uint64_t now_ns);

  [[nodiscard]] std::optional<RecoveryTypeState> state(std::string_view error_type) const;
  // Every tracked type's state, by type name (allocates; for restore and reports).
  [[nodiscard]] std::vector<std::pair<std::string, RecoveryTypeState>> states() const;
  // An operator lifted the type's backoff (the dashboard): the next error decides afresh.
  // False when no backoff was in force.
  bool clear_backoff(std::string_view error_type, std::uint64_t now_ns) noexcept;
  [[nodiscard]] std::uint64_t global_reset_epoch() const noexcept { return global_reset_epoch_; }
  [[nodiscard]] bool shutdown_requested() const noexcept { return shutdown_; }
  void clear_shutdown() noexcept { shutdown_ = false; }
  [[nodiscard]] std::size_t tracked_types() const noexcept { return states_.size(); }
  [[nodiscard]] std::uint64_t evicted_types() const noexcept { return evicted_; }
  [[nodiscard]] const RecoveryConfig& config() const noexcept { return config_; }

  // SIGHUP: takes over `previous`'s per-type state (incidents, attempts, backoff deadlines,
  // reset epochs, alert dedup), its global reset epoch, eviction count and shutdown flag.
  // Strategies stay this engine's; each type's delay sequence is rebuilt under its current
  // strategy (replaying the attempts already made), so new settings apply from the next
  // decision and an active backoff keeps its deadline. States beyond max_tracked_types are
  // dropped, oldest last error first.
  void adopt_state(RecoveryEngine&& previous);

 private:
  struct TypeEntry {
    RecoveryTypeState s;
    Backoff backoff;  // the incident's delay sequence (RETRY, and BACKOFF without a fixed wait)
  };

  // The strategy that applies: registered, or the implicit ALERT for an unknown CRITICAL.
  [[nodiscard]] std::optional<RecoveryStrategy> effective_strategy(std::string_view error_type,
                                                                   Severity severity) const;
  [[nodiscard]] bool incident_over(const RecoveryTypeState& s, std::uint64_t now_ns) const noexcept;
  [[nodiscard]] bool permits(const RecoveryStrategy& st, const RecoveryTypeState* s, std::uint64_t now_ns) const;
  [[nodiscard]] std::uint64_t backoff_seed(std::string_view error_type, std::uint64_t incident) const noexcept;
  TypeEntry& touch(std::string_view error_type, const RecoveryStrategy& st, std::uint64_t now_ns);
  // The delay sequence `touch` would have built for the entry's incident under the current
  // strategy, advanced by the attempts already made (the sequence is deterministic).
  void rebuild_backoff(std::string_view error_type, TypeEntry& e) const;

  RecoveryConfig config_;
  std::uint64_t quiet_ns_ = 0;
  // std::map: deterministic iteration (reports, eviction ties) and heterogeneous lookup.
  std::map<std::string, RecoveryStrategy, std::less<>> strategies_;
  std::map<std::string, TypeEntry, std::less<>> states_;
  std::uint64_t global_reset_epoch_ = 0;
  std::uint64_t evicted_ = 0;
  bool shutdown_ = false;
};

}  // namespace telering::reader
