// evaluate/breaker.hpp — a circuit breaker per component, decided by the reader.
//
// CircuitBreaker is resilience4j's breaker as pure logic: call outcomes (success/failure and
// duration, from CallOutcome records) go in, state transitions come out, and the reader
// publishes the state and open-until deadline on the decision board where bots read them
// with one load. The breaker itself never reads a clock, sleeps, allocates after
// construction, or does I/O: every time-dependent call takes `now_ns`, a monotonic
// nanosecond value supplied by the caller (live clock, a test, or a replayed recording).
//
// States and rules (thresholds from BreakerConfig):
//   CLOSED     records outcomes in a sliding window (last N calls, or last N seconds in
//              one-second buckets). Trips to OPEN when, with at least minimum_number_of_calls
//              in the window, failure rate >= failure_rate_threshold (FailureRate) or slow-call
//              rate >= slow_call_rate_threshold (SlowCallRate; a threshold >= 100 turns the
//              rule off); or, independent of the minimum, when consecutive_failures_threshold
//              (> 0) failures arrive in a row (ConsecutiveFailures).
//   OPEN       ignores outcomes (counted as not permitted) until now >= open_until_ns, then
//              goes HALF_OPEN (Timeout) — on tick(now) or when the next outcome arrives,
//              whichever comes first; that outcome is then the first probe.
//   HALF_OPEN  resilience4j's rule: the first permitted_calls_in_half_open outcomes are
//              probes; once all of them are in, failure rate among them >= threshold, or
//              slow rate >= threshold, re-opens (ProbeFailed), otherwise it closes with an
//              empty window (ProbeSucceeded). So with 3 probes at 50 %, 1 failure closes and
//              2 re-open. The last probe always decides, so no outcome is ever past the
//              probes: later outcomes land in the new state (counted as not permitted if OPEN).
//              Optionally (max_wait_in_half_open > 0) a half-open that does not collect its
//              probes in time re-opens (Timeout).
//   FORCED_OPEN / DISABLED  manual states; outcomes are ignored until close() or reset().
// Each trip (not manual open) grows the next open wait: wait * multiplier^(trips-1) capped
// at max_wait_duration_in_open, counting trips since the breaker last closed.
//
// Thread safety: none; one reader thread owns each breaker.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "telering/layout.hpp"  // BreakerState: its values are the shared-memory contract

namespace telering::reader {

namespace detail {
struct SnapshotAccess;  // state/snapshot_codecs.hpp: saves and restores the private state
}  // namespace detail

using telering::BreakerState;

// Why a transition happened. Published on the board's `rule` byte: append only.
enum class BreakerRule : std::uint8_t {
  FailureRate = 0,
  SlowCallRate = 1,
  ConsecutiveFailures = 2,
  Timeout = 3,         // OPEN wait elapsed -> HALF_OPEN, or half-open probe wait elapsed -> OPEN
  ProbeSucceeded = 4,  // HALF_OPEN -> CLOSED
  ProbeFailed = 5,     // HALF_OPEN -> OPEN
  Manual = 6,          // open(now) / close()
  Forced = 7,          // force_open()
  Disabled = 8,        // disable()
  Reset = 9,           // reset()
  Quorum = 10,         // trip(): a quorum of bots' own breakers opened (host scope)
  Takeover = 11,       // adopt_open(): a new reader took over a previous reader's OPEN
};

[[nodiscard]] std::string_view to_string(BreakerState s) noexcept;  // "CLOSED", "HALF_OPEN", ...
[[nodiscard]] std::string_view to_string(BreakerRule r) noexcept;   // "failure_rate", ...

struct BreakerConfig {
  enum class WindowType : std::uint8_t { CountBased, TimeBased };
  WindowType sliding_window_type = WindowType::CountBased;
  std::uint32_t sliding_window_size = 100;       // calls (CountBased) or seconds (TimeBased)
  std::uint32_t minimum_number_of_calls = 10;    // CountBased: effectively min(this, size)
  double failure_rate_threshold = 50.0;          // percent, (0, 100]
  double slow_call_duration_threshold = 5.0;     // seconds; a call is slow when duration > this
  double slow_call_rate_threshold = 100.0;       // percent; >= 100 = rule off
  std::uint32_t consecutive_failures_threshold = 0;  // 0 = rule off
  double wait_duration_in_open = 60.0;           // seconds; the seed's circuit_breaker_timeout
  double wait_duration_multiplier = 1.0;         // growth per repeated trip; 1 = fixed
  double max_wait_duration_in_open = 0.0;        // cap on the grown wait; 0 = no cap
  std::uint32_t permitted_calls_in_half_open = 3;
  double max_wait_in_half_open = 0.0;            // seconds; 0 = wait for the probes forever

  // Scope, used by the Engine (a CircuitBreaker ignores it):
  //   Component  one breaker per component, fed by every bot's outcomes (the default);
  //   Bot        one breaker per (bot, component): a bot's failures stop only that bot;
  //   Host       per-bot breakers as above, plus a host-wide one that opens for every bot
  //              when `quorum` bots (at least, and at least quorum_fraction of the bots that
  //              reported on the component within quorum_window) have their own breaker open.
  enum class Scope : std::uint8_t { Component, Bot, Host };
  Scope scope = Scope::Component;
  std::uint32_t quorum = 2;                      // Host: bots; >= 1
  double quorum_fraction = 0.0;                  // Host: [0, 1]; 0 = only `quorum` counts
  double quorum_window = 60.0;                   // Host: seconds; a bot is active this long after an outcome
  // Half-open probes are handed out as exactly permitted_calls_in_half_open permits in the
  // segment (CAS by a bot, leased for probe_lease, reclaimed from dead or late holders).
  double probe_lease = 10.0;                     // seconds; > 0

  // Throws std::invalid_argument naming the field and the accepted range.
  void validate() const;
};

struct BreakerTransition {
  BreakerState from = BreakerState::Closed;
  BreakerState to = BreakerState::Closed;
  BreakerRule rule = BreakerRule::Reset;
  std::uint64_t now_ns = 0;
  double failure_rate = 0.0;  // percent, of the window (or of the probes) that decided
  double slow_rate = 0.0;     // percent
};

struct BreakerMetrics {
  BreakerState state = BreakerState::Closed;
  std::uint32_t calls_in_window = 0;   // CLOSED window, as of the last on_outcome/tick
  std::uint32_t failed_calls_in_window = 0;
  std::uint32_t slow_calls_in_window = 0;
  double failure_rate = 0.0;           // percent of calls_in_window; 0 when empty
  double slow_call_rate = 0.0;         // percent of calls_in_window; 0 when empty
  std::uint32_t consecutive_failures = 0;
  std::uint32_t probe_calls = 0;       // HALF_OPEN probes received so far
  std::uint32_t probe_failures = 0;
  std::uint64_t trips = 0;             // CLOSED/HALF_OPEN -> OPEN by a rule (not manual)
  std::uint64_t not_permitted_calls = 0;
  std::uint64_t transitions = 0;
  std::uint64_t open_until_ns = 0;
  std::uint64_t outcomes = 0;          // outcomes received since construction (calls per second)
};

class CircuitBreaker {
 public:
  // Throws std::invalid_argument if the config is invalid (set-up time only).
  explicit CircuitBreaker(const BreakerConfig& config = {});

  // Records one call outcome. Returns the transition it caused; when it caused two (OPEN ->
  // HALF_OPEN on arrival, then HALF_OPEN -> CLOSED/OPEN with a single probe), the last one —
  // transition_count() counts both. Negative or NaN durations count as 0 (not slow).
  std::optional<BreakerTransition> on_outcome(bool success, double duration_seconds, std::uint64_t now_ns) noexcept;

  // Time-driven transitions (OPEN -> HALF_OPEN, half-open probe timeout) and, for a
  // TimeBased window, forgetting calls older than the window. Call once per reader loop turn.
  std::optional<BreakerTransition> tick(std::uint64_t now_ns) noexcept;

  // Manual control. open() is the seed's open_circuit_breaker: OPEN for the base wait
  // duration, not counted as a trip. Calls that would not change the state return nullopt
  // (except reset(), which always records). Overloads without now_ns stamp the transition
  // with the latest time the breaker has seen.
  std::optional<BreakerTransition> open(std::uint64_t now_ns) noexcept;
  std::optional<BreakerTransition> close(std::uint64_t now_ns) noexcept;
  std::optional<BreakerTransition> close() noexcept { return close(last_now_ns_); }
  std::optional<BreakerTransition> force_open(std::uint64_t now_ns) noexcept;
  // CLOSED or HALF_OPEN -> OPEN by an outside rule (host scope: a quorum of bots), counted as a
  // trip (the wait grows like any trip). Otherwise nullopt.
  std::optional<BreakerTransition> trip(std::uint64_t now_ns, BreakerRule rule) noexcept;
  std::optional<BreakerTransition> force_open() noexcept { return force_open(last_now_ns_); }
  // A reader taking over a segment adopts a breaker its predecessor left OPEN: OPEN until
  // that deadline (HALF_OPEN at the next tick if it has passed), counted as a trip.
  BreakerTransition adopt_open(std::uint64_t now_ns, std::uint64_t open_until_ns) noexcept;
  std::optional<BreakerTransition> disable(std::uint64_t now_ns) noexcept;
  std::optional<BreakerTransition> disable() noexcept { return disable(last_now_ns_); }
  // Back to CLOSED with every metric, trip count and wait growth cleared (transition_count
  // and last_transition survive: they are the audit trail).
  BreakerTransition reset(std::uint64_t now_ns) noexcept;
  BreakerTransition reset() noexcept { return reset(last_now_ns_); }

  [[nodiscard]] BreakerState state() const noexcept { return state_; }
  // OPEN: when it may go HALF_OPEN. Otherwise 0.
  [[nodiscard]] std::uint64_t open_until_ns() const noexcept { return open_until_ns_; }
  // True when a call must not go through now: OPEN (before open_until) or FORCED_OPEN.
  [[nodiscard]] bool is_open(std::uint64_t now_ns) const noexcept;
  [[nodiscard]] const std::optional<BreakerTransition>& last_transition() const noexcept { return last_; }
  [[nodiscard]] std::uint64_t transition_count() const noexcept { return transitions_; }
  [[nodiscard]] std::uint64_t outcome_count() const noexcept { return outcomes_; }
  [[nodiscard]] BreakerMetrics metrics() const noexcept;
  [[nodiscard]] const BreakerConfig& config() const noexcept { return config_; }
  // The wait the next trip would use (after growth), in ns.
  [[nodiscard]] std::uint64_t next_wait_ns() const noexcept;

  // SIGHUP: adopts a new config and keeps the state (CLOSED/OPEN/..., open_until, probes,
  // trip counts and wait growth, consecutive failures). The window's calls are kept when the
  // window type is unchanged — the newest ones that fit a count window of the new size, or
  // the seconds still inside a time window of the new length — and dropped otherwise (a
  // count cannot be turned into seconds). The new thresholds apply from the next outcome;
  // a wait already running keeps its deadline. Throws std::invalid_argument (and changes
  // nothing) for an invalid config.
  void reconfigure(const BreakerConfig& config);

 private:
  friend struct detail::SnapshotAccess;

  // Per-call flags in the count-based ring.
  static constexpr std::uint8_t kCallFailed = 0x1;
  static constexpr std::uint8_t kCallSlow = 0x2;

  struct Bucket {  // one second of a TimeBased window
    std::uint64_t second = 0;
    std::uint32_t calls = 0;
    std::uint32_t failures = 0;
    std::uint32_t slow = 0;
  };

  void record(bool failed, bool slow, std::uint64_t now_ns) noexcept;
  void advance_time_window(std::uint64_t now_ns) noexcept;
  void clear_window() noexcept;
  void allocate_window();
  // The window's calls oldest first (count based) or its live buckets (time based).
  [[nodiscard]] std::vector<std::uint8_t> window_calls() const;
  [[nodiscard]] std::vector<Bucket> window_buckets() const;
  // Refills a freshly allocated, empty window; keeps what fits the current geometry.
  void load_window(const std::vector<std::uint8_t>& calls, const std::vector<Bucket>& buckets,
                   std::uint64_t newest_second) noexcept;
  [[nodiscard]] double window_failure_rate() const noexcept;
  [[nodiscard]] double window_slow_rate() const noexcept;
  [[nodiscard]] bool slow_rule_on() const noexcept { return config_.slow_call_rate_threshold < 100.0; }
  [[nodiscard]] std::uint64_t wait_ns_for_trip(std::uint64_t trip_number) const noexcept;
  BreakerTransition transition(BreakerState to, BreakerRule rule, std::uint64_t now_ns, double failure_rate,
                               double slow_rate) noexcept;
  void enter_open(std::uint64_t now_ns, std::uint64_t wait_ns) noexcept;
  void enter_closed() noexcept;
  void enter_half_open(std::uint64_t now_ns) noexcept;
  std::optional<BreakerTransition> maybe_half_open(std::uint64_t now_ns) noexcept;

  BreakerConfig config_;
  std::uint32_t minimum_calls_ = 1;  // effective minimum (see BreakerConfig)

  BreakerState state_ = BreakerState::Closed;
  std::uint64_t open_until_ns_ = 0;
  std::uint64_t half_open_since_ns_ = 0;
  std::uint64_t last_now_ns_ = 0;

  // CLOSED window. Invariant: calls_/failures_/slow_ equal the sums over ring_ (count
  // based) or buckets_ (time based), so a rate is O(1) per outcome.
  std::vector<std::uint8_t> ring_;  // CountBased: flags of the last calls_ calls
  std::size_t ring_next_ = 0;
  std::vector<Bucket> buckets_;     // TimeBased: index = second % size
  std::uint64_t newest_second_ = 0;
  std::uint32_t calls_ = 0;
  std::uint32_t failures_ = 0;
  std::uint32_t slow_ = 0;
  std::uint32_t consecutive_failures_ = 0;

  std::uint32_t probe_calls_ = 0;
  std::uint32_t probe_failures_ = 0;
  std::uint32_t probe_slow_ = 0;

  std::uint64_t trips_ = 0;
  std::uint64_t trips_since_closed_ = 0;  // drives wait growth
  std::uint64_t not_permitted_ = 0;
  std::uint64_t transitions_ = 0;
  std::uint64_t outcomes_ = 0;
  std::optional<BreakerTransition> last_;
};

}  // namespace telering::reader
