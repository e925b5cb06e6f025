// engine/engine.hpp — the reader's brain: validated records in, decisions out.
//
// The Engine turns drained records into the seed's aggregates (a PerformanceMonitor per bot
// and one for the whole host, the error log), evaluates health, runs the recovery engine and
// the circuit breakers (BreakerRegistry: scopes, quorum, probe permits), applies bot commands
// and external holds, and publishes every decision on the decision board and the latest
// report on the report page of the segment.
//
// Its sources, one per decision: engine.cpp (the record path, tick, reload),
// engine_commands.cpp (bot commands, external holds), engine_health.cpp (grading, stalls,
// pruning, the report), engine_state.cpp (the state file's part), engine_takeover.cpp
// (reconciling a previous reader's board).
//
// Determinism: every method takes the monotonic time `now_ns` from its caller and reads no
// clock, so tests drive time (breaker timeouts, windows) without sleeping, and a replay of
// recorded input makes the same decisions.
//
// Thread safety: one thread (the drain loop) calls everything, except the const snapshot
// accessors used by exporters, which the caller serialises with the loop.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "aggregate/error_log.hpp"
#include "aggregate/performance_monitor.hpp"
#include "common/log_limiter.hpp"
#include "config/config.hpp"
#include "engine/breaker_registry.hpp"
#include "evaluate/breaker.hpp"
#include "evaluate/fleet_limits_reader.hpp"
#include "evaluate/health.hpp"
#include "evaluate/recovery.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/report_page.hpp"
#include "telering/core/segment.hpp"

namespace telering::reader {

struct TimeShift;  // state/snapshot.hpp

// Board `rule` codes for recovery decisions (breaker transitions use BreakerRule values,
// which stay below kRuleRecoveryBase).
inline constexpr std::uint8_t kRuleRecoveryBase = 32;
[[nodiscard]] constexpr std::uint8_t recovery_rule(RecoveryAction a) noexcept {
  return static_cast<std::uint8_t>(kRuleRecoveryBase + static_cast<std::uint8_t>(a));
}
inline constexpr std::uint8_t kRuleCommand = 64;   // a bot's command
inline constexpr std::uint8_t kRuleExternal = 65;  // apply_external (the Alertmanager webhook)
inline constexpr std::uint8_t kRuleTakeover = 66;  // reconcile_board: a previous reader's decision ended

// An alert for people (ALERT strategy, CRITICAL health), delivered by the alert sender.
struct Alert {
  std::string key;   // dedup key: "recovery/<error_type>", "health/<bot>"
  std::string text;  // one line
  Severity severity = Severity::High;
  std::int64_t wall_ns = 0;
};

// A decision as logged and exposed (what changed, why, with the board sequence).
struct DecisionEvent {
  std::uint64_t board_seq = 0;
  std::uint64_t now_ns = 0;
  std::string subject;  // component or error type
  std::string what;     // "breaker CLOSED -> OPEN", "BACKOFF 30.0 s", ...
  std::string rule;     // "failure_rate", "recovery:backoff", "command:open_breaker", ...
};

// Breaker and probe counters come from BreakerCounters (breaker_registry.hpp).
struct EngineStats : BreakerCounters {
  std::uint64_t records = 0;
  std::uint64_t records_by_kind[kMaxRecordKind + 1] = {};
  std::uint64_t malformed = 0;
  std::uint64_t malformed_by_fault[static_cast<std::size_t>(RecordFault::Count_)] = {};
  std::uint64_t unknown_names = 0;      // ids that name no ready entry of the right kind
  std::uint64_t commands_applied = 0;
  std::uint64_t commands_rejected = 0;
  std::uint64_t decisions = 0;          // board updates
  std::uint64_t alerts = 0;
  std::uint64_t reports_published = 0;
  std::uint64_t reports_truncated = 0;  // published degraded: the whole report did not fit the page
  std::uint64_t bots_pruned = 0;        // forgotten after prune_bots_after without a record
};

// A board action from outside the segment (the Alertmanager webhook): open a component's
// breaker for every bot, or ask every bot to back off an error type. Several holders (alerts)
// may hold one target; it is released when the last holder undoes it or its deadline passes.
struct ExternalAction {
  enum class Kind : std::uint8_t { OpenBreaker, CloseBreaker, Backoff, ClearBackoff };
  Kind kind = Kind::OpenBreaker;
  std::string target;          // component (breaker kinds) or error type (backoff kinds)
  std::string holder;          // who holds it, e.g. the alert's fingerprint
  std::string source;          // decision log rule, e.g. "alertmanager:ExchangeApiDegraded"
  std::uint64_t until_ns = 0;  // OpenBreaker/Backoff: monotonic deadline; 0 = until undone
};

struct BreakerView {
  NameId id = kNoName;
  std::string component;
  std::string bot;                  // a bot's own breaker (scope bot/host): the bot; else ""
  BreakerConfig::Scope scope = BreakerConfig::Scope::Component;
  BreakerMetrics metrics;
  std::optional<BreakerTransition> last_transition;
};

struct BotView {
  NameId id = kNoName;
  std::string name;
  std::uint64_t last_seen_ns = 0;
  const PerformanceMonitor* monitor = nullptr;
};

class Engine {
 public:
  // wall_offset_ns: Unix epoch ns minus monotonic ns, for times shown to people.
  Engine(ReaderConfig config, const Segment& segment, std::uint64_t now_ns, std::int64_t wall_offset_ns);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void on_record(const Record& record, const RecordSource& source, std::uint64_t now_ns);
  void on_malformed(RecordFault fault, const Record& record, const RecordSource& source);

  // Time-driven work: breaker timeouts, health evaluation and the report page (every
  // publish_interval, and at once when a status changes or a bot asked for a report).
  void tick(std::uint64_t now_ns);

  // SIGHUP: new thresholds, windows, strategies and breaker settings. Breakers keep their
  // state and adopt their new config (CircuitBreaker::reconfigure); recovery keeps every
  // type's incident, attempts, backoff deadline, reset epoch and alert dedup, and the new
  // strategies apply from the next decision; strategies registered by bot commands are kept.
  void reload(ReaderConfig config);

  // The state a restarted reader needs (snapshot.hpp lists it), as JSON. Bounded: windows
  // and the error history are copied at most 1000 entries each. Built on the loop thread.
  [[nodiscard]] nlohmann::json save_state() const;
  // Restores save_state()'s output into this (freshly constructed) engine, mapping the
  // snapshot's monotonic times with `shift`, then republishes every restored decision on
  // the board (breaker states and open-until, active backoffs, reset epochs, shutdown) and
  // the report. Names are interned, so a fresh segment gets them before any writer does.
  // What is valid is restored section by section and entry by entry: a part that cannot be
  // read is logged and left fresh, the rest is restored. Throws SnapshotError only when the
  // state is not a JSON object at all (the engine is then untouched).
  void restore_state(const nlohmann::json& state, const TimeShift& shift, std::uint64_t now_ns);

  [[nodiscard]] HealthReport health_report(std::uint64_t now_ns) const;  // overall: worst of host and bots
  [[nodiscard]] std::optional<HealthReport> bot_health_report(NameId bot, std::uint64_t now_ns) const;
  [[nodiscard]] ErrorStatistics error_statistics(std::uint64_t now_ns) const;
  [[nodiscard]] std::string health_summary(std::uint64_t now_ns) const;  // the seed's text
  // What the report page holds. A report longer than max_bytes is degraded to fit: the
  // long lists (bots, breakers, errors by type, recent errors) keep their most telling
  // entries (worst bots, breakers not CLOSED, most frequent types, newest errors) and a
  // "truncated" object says how many of each were left out.
  [[nodiscard]] std::string report_json(std::uint64_t now_ns, std::size_t max_bytes = std::string::npos,
                                        bool* truncated = nullptr) const;

  // At most this many holders (Alertmanager fingerprints) hold one external target.
  static constexpr std::size_t kMaxExternalHolders = 1024;

  // Applies an external action now. False when the target cannot be named (empty, too long,
  // name table full) or already has kMaxExternalHolders other holders. Opening forces the breaker open (FORCED_OPEN: no timeout, no probes)
  // until released; releasing closes it only if it is still forced open.
  bool apply_external(const ExternalAction& action, std::uint64_t now_ns);

  // An operator's action from the dashboard (dashboard/dashboard_hub.hpp), logged and shown
  // as a decision with `rule` (e.g. "dashboard:operator"). ForceOpen: FORCED_OPEN until
  // closed by hand; Close: CLOSED whatever the state (it takes the breaker over from an
  // external hold, as a bot's command does); ClearBackoff: the error type's backoff lifted,
  // whoever set it. A breaker target is a component, or "<component>@<bot>" for that bot's
  // own breaker (scope bot/host). False when the target names no breaker or backoff.
  enum class OperatorAction : std::uint8_t { ForceOpen, Close, ClearBackoff };
  bool operator_action(OperatorAction action, std::string_view target, std::string_view rule, std::uint64_t now_ns);

  // A fresh (ticks, ns) sample: deadlines published to bots in ticks are converted around
  // it, not around the segment's creation (clock.hpp, TickClock). The reader loop passes
  // one about every second; without any the creation calibration is used.
  void anchor_clock(ClockSample now) noexcept { clock_.anchor(now); }
  [[nodiscard]] const TickCalibration& calibration() const noexcept { return clock_.calibration(); }

  // A reader taking over the segment: every breaker entry on the board that this engine
  // does not own (it was not restored from a state file) is adopted with its deadline when
  // it is OPEN or HALF_OPEN on a component, and closed otherwise, with a decision logged
  // for each; unowned backoffs longer than kMaxAdoptedBackoff are lifted. Entries a killed
  // reader left half-written (odd seqlock) are rewritten. Call once, after restore_state.
  void reconcile_board(std::uint64_t now_ns);

  // telering-replay: no bot holds this engine's probe permits, so an outcome that was
  // recorded with one (kFlagProbe) counts as the probe it was live.
  void set_replaying(bool replaying) noexcept { breakers_->set_replaying(replaying); }

  [[nodiscard]] std::vector<Alert> take_alerts();
  [[nodiscard]] std::vector<DecisionEvent> take_decisions();

  [[nodiscard]] const EngineStats& stats() const noexcept { return stats_; }
  [[nodiscard]] const FleetLimits& fleet_limits() const noexcept { return *fleet_; }
  [[nodiscard]] const ReaderConfig& config() const noexcept { return config_; }
  [[nodiscard]] std::vector<BreakerView> breakers() const;
  [[nodiscard]] std::vector<BotView> bots() const;
  [[nodiscard]] const PerformanceMonitor& host_monitor() const noexcept { return host_; }
  [[nodiscard]] const ErrorLog& error_log() const noexcept { return errors_; }
  [[nodiscard]] const RecoveryEngine& recovery() const noexcept { return *recovery_; }
  [[nodiscard]] const std::map<std::string, double, std::less<>>& counters() const noexcept { return counters_; }
  [[nodiscard]] const std::map<std::string, double, std::less<>>& gauges() const noexcept { return gauges_; }
  [[nodiscard]] const std::map<std::string, std::uint64_t, std::less<>>& warnings_by_type() const noexcept {
    return warnings_by_type_;
  }
  // The name of an id as the table has it ("" when it names nothing readable).
  [[nodiscard]] const std::string& name_of(NameId id) const;

 private:
  struct Bot {
    std::string name;
    PerformanceMonitor monitor;
    std::uint64_t last_seen_ns = 0;
    HealthStatus status = HealthStatus::Unknown;
    bool dirty = false;  // got records since it was last graded (see regrade_dirty)
    std::uint64_t last_scan_ns = 0;
    bool stalled = false;             // declared CRITICAL by stall detection until it records again
    std::string stall_reason{};
    std::vector<NameId> components{};  // breakers it feeds (bounded): "open its breakers"
  };
  struct CachedName {
    bool resolved = false;
    NameKind kind{};
    std::string text;
  };

  const CachedName* resolve(NameId id) const;
  const std::string* name_as(NameId id, NameKind kind);
  Bot& bot(NameId id);
  // The breaker a board entry is (a component's, or a bot's own one), or nullptr.
  BreakerRegistry::Breaker* breaker_for_entry(NameId id);
  // True when this engine's own state (a recovery decision or an external hold) put that
  // backoff deadline on the board.
  bool owns_backoff(NameId id, std::uint64_t until_ns) const;
  std::uint64_t event_time(const Record& r, std::uint64_t now_ns) const noexcept;

  void on_error(const Record& r, std::uint64_t now_ns);
  void on_call_outcome(const Record& r, const RecordSource& source, std::uint64_t now_ns);
  void on_command(const Record& r, std::uint64_t now_ns);
  bool apply_command(const Record& r, std::uint64_t now_ns);
  void publish_recovery(NameId type_id, NameId component_id, const RecoveryDecision& d, std::uint64_t now_ns);
  void publish_report(std::uint64_t now_ns);
  void regrade_dirty(std::uint64_t now_ns);
  void republish(std::uint64_t now_ns, const std::vector<std::pair<NameId, std::uint64_t>>& epochs, std::uint64_t global_epoch);
  void record_decision(std::uint64_t seq, std::uint64_t now_ns, std::string subject, std::string what, std::string rule);
  void raise_alert(std::string key, std::string text, Severity severity, std::uint64_t now_ns);
  HealthStatus grade(const Bot& b, std::uint64_t now_ns) const;
  void check_stalls(std::uint64_t now_ns);
  // Forgets bots silent for longer than config_.prune_bots_after.
  void prune_bots(std::uint64_t now_ns);
  struct ExternalHold {
    std::map<std::string, std::uint64_t, std::less<>> holders;  // holder -> deadline (0 = none)
    bool forced = false;  // the holds moved the breaker to FORCED_OPEN (theirs to close)
  };
  void publish_external_backoff(NameId id, const ExternalHold& hold, std::string_view why, std::uint64_t now_ns);
  void release_external(bool breaker_kind, NameId id, bool forced, std::string_view why, std::uint64_t now_ns);
  void expire_external(std::uint64_t now_ns);
  double* metric_slot(std::vector<double*>& index, std::map<std::string, double, std::less<>>& values, NameId id);

  ReaderConfig config_;
  const Segment* segment_;
  TickClock clock_;
  std::vector<NameId> torn_entries_;  // board entries left odd by a killed reader (reconcile_board)
  NameTable names_;
  BoardWriter board_;
  ReportPage report_page_;
  std::int64_t wall_offset_ns_;

  mutable std::vector<CachedName> name_cache_;
  PerformanceMonitor host_;
  // Maps keep a stable, ordered view for reports; the *_by_id_ vectors (one slot per name
  // id) point into them so the per-record path does one indexed load, not a tree search.
  std::map<NameId, Bot> bots_;
  std::vector<Bot*> bots_by_id_;
  ErrorLog errors_;
  std::unique_ptr<RecoveryEngine> recovery_;
  std::vector<RecoveryStrategy> command_strategies_;  // registered by bots; survive reload
  // Made in the constructor body, after the board's seqlocks are normalised (it clears a
  // previous reader's permit ranges on the board).
  std::unique_ptr<BreakerRegistry> breakers_;
  std::map<std::string, double, std::less<>> counters_;
  std::map<std::string, double, std::less<>> gauges_;
  std::vector<double*> counters_by_id_;
  std::vector<double*> gauges_by_id_;
  std::map<std::string, std::uint64_t, std::less<>> warnings_by_type_;

  // External holds (apply_external), by (breaker kind?, name id).
  std::map<std::pair<bool, NameId>, ExternalHold> external_;
  std::unique_ptr<FleetLimits> fleet_;   // shared rate buckets and the retry budget
  std::uint64_t next_stall_check_ns_ = 0;
  std::uint64_t next_prune_ns_ = 0;
  std::deque<Alert> alerts_;             // bounded (kMaxPendingAlerts): oldest dropped
  std::deque<DecisionEvent> decisions_;  // bounded (kMaxPendingDecisions): oldest dropped
  EngineStats stats_;
  LogLimiter log_limiter_;  // lines a writer can cause (rejected commands, ...), per kind
  HealthStatus published_status_ = HealthStatus::Unknown;
  std::uint64_t next_publish_ns_ = 0;
  bool report_requested_ = true;
  bool shutdown_published_ = false;
  // Bots that got records since the last grading: a status change is published within
  // kRegradeIntervalNs instead of waiting for the next publish_interval.
  std::vector<NameId> dirty_bots_;
  std::uint64_t next_regrade_ns_ = 0;
};

}  // namespace telering::reader
