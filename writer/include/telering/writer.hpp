// telering/writer.hpp — what a bot links: record telemetry, read the reader's decisions.
//
// A Writer is attached once per process (per segment) and shared by all of the bot's
// threads. The first record a thread makes claims it an SPSC lane (CAS on the lane's owner
// word); the lane is released when the thread exits. A thread that finds no free lane
// records into the shared MPSC lane and retries a claim now and then.
//
// Contract:
//  - Every recording call (scan_time, api_call, memory, error, warning, call_outcome,
//    counter, gauge, heartbeat) may be called from any thread, never blocks, locks, throws,
//    allocates or makes a syscall once the thread has its lane and the names it uses are
//    interned; when the lane is full the record is dropped and counted in the lane.
//    The first use of a new name interns it (bounded wait, off the steady state); pass ids
//    from name()/component()/error_type() on the hottest paths to skip even the lookup.
//  - Board reads (in_backoff, reset_epoch, shutdown_requested) are one acquire load each;
//    breaker_open(id) is two loads from one cache line for a CLOSED component-scope breaker,
//    two more for a scoped one (its first call per component interns this bot's own breaker
//    name), and a few CAS tries on the probe permits while a breaker is HALF_OPEN.
//  - The Writer must outlive the threads' use of it. Destroying it releases the lanes its
//    threads claimed.
//  - After fork(), the child's threads claim lanes of their own on their next record.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "telering/core/command.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/fleet_limits_writer.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/record.hpp"
#include "telering/core/segment.hpp"

namespace telering {

struct WriterOptions {
  std::string segment = "telering";
  std::string bot = "bot";                // this bot instance's name (interned)
  SegmentGeometry geometry{};             // used only if this writer creates the segment
  unsigned mode = 0600;                   // permissions if this writer creates the segment
  std::string group;                      // group if this writer creates the segment ("" = own)
  bool trust_other_owner = false;         // attach to a segment another user created
  bool sample_memory = true;              // start the RSS sampler thread used by memory()
  std::chrono::milliseconds memory_interval{1000};
};

enum class RecordResult : std::uint8_t {
  Recorded = 0,        // in this thread's own lane
  RecordedShared = 1,  // in the shared lane (no free lane for this thread)
  Dropped = 2,         // lane full: counted in the lane's drop counter
  NoName = 3,          // the name table is full or the name is empty: counted in the header
};

struct WriterStats {
  std::uint64_t lanes_claimed = 0;  // lanes this Writer's threads hold now
  std::uint64_t dropped = 0;        // drops in those lanes (since each was created)
};

// own_breakers value for "the name table had no room for this bot's own breaker".
inline constexpr std::uint32_t kOwnBreakerUnavailable = 0x10000;

class Writer {
 public:
  // Opens or creates the segment and interns the bot name. Throws SegmentError.
  static Writer attach(const WriterOptions& options);

  Writer(Writer&&) noexcept;
  Writer& operator=(Writer&&) noexcept;
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();

  // Names -> ids (interning on first use). kNoName when the table is full.
  [[nodiscard]] NameId name(NameKind kind, std::string_view text) noexcept;
  [[nodiscard]] NameId component(std::string_view text) noexcept { return name(NameKind::Component, text); }
  [[nodiscard]] NameId error_type(std::string_view text) noexcept { return name(NameKind::ErrorType, text); }
  [[nodiscard]] NameId endpoint(std::string_view text) noexcept { return name(NameKind::Endpoint, text); }
  [[nodiscard]] NameId metric(std::string_view text) noexcept { return name(NameKind::Metric, text); }
  [[nodiscard]] NameId bot_id() const noexcept;

  // The seed's PerformanceMonitor.record_scan_time: a scan took `seconds`.
  RecordResult scan_time(double seconds) noexcept;
  // The seed's record_api_call: latency in seconds, optionally per endpoint.
  RecordResult api_call(double seconds, std::string_view endpoint = {}) noexcept;
  RecordResult api_call(double seconds, NameId endpoint) noexcept;
  // The seed's update_memory_usage: records the sampler's latest RSS (no syscall here).
  RecordResult memory() noexcept;
  RecordResult memory_bytes(double bytes) noexcept;
  // This process's resident set size: the sampler's latest, or read now (a syscall) when
  // there is no sampler running in this process (sample_memory off, or after fork()).
  [[nodiscard]] std::uint64_t rss_bytes() const noexcept;
  // The seed's record_error: error type, severity, short context (truncated with a flag),
  // and optionally the component it concerns.
  RecordResult error(std::string_view type, Severity severity, std::string_view context = {},
                     std::string_view component = {}) noexcept;
  RecordResult error(NameId type, Severity severity, std::string_view context = {}, NameId component = kNoName) noexcept;
  RecordResult warning(std::string_view type, std::string_view context = {}) noexcept;
  // Success or failure of a call guarded by a circuit breaker, with its duration.
  RecordResult call_outcome(std::string_view component, bool success, double seconds = 0.0) noexcept;
  // retry: the call was a retry (the reader's retry budget counts retries against requests).
  RecordResult call_outcome(NameId component, bool success, double seconds = 0.0, bool retry = false) noexcept;
  RecordResult counter(std::string_view metric, double increment = 1.0) noexcept;
  RecordResult gauge(std::string_view metric, double value) noexcept;
  RecordResult heartbeat() noexcept;

  // Low-level: records any kind (used by the C ABI and commands). context may be empty.
  RecordResult record(RecordKind kind, NameId name, double value, Severity severity = Severity::None,
                      NameId aux = kNoName, std::uint8_t flags = 0, std::string_view context = {}) noexcept;

  // Decisions (read from the board; see the contract above for their cost).
  [[nodiscard]] const BoardReader& board() const noexcept { return *board_; }
  // True when a call to the component must not be made now. The common case (a CLOSED
  // breaker of component scope) is two loads from one cache line. Otherwise: OPEN or
  // FORCED_OPEN host/component breaker, or this bot's own breaker (scope bot/host) open; and
  // when a breaker is HALF_OPEN, false only for a thread that holds (or just took, with one
  // CAS) one of its exactly-N host-wide probe permits (probe_permits.hpp) — the outcome this
  // thread records next for the component is then the probe. With no live reader, the
  // local policy of blocks() below: decisions end at their deadlines, never later.
  [[nodiscard]] bool breaker_open(NameId component) const noexcept {
    const BoardReader& b = *board_;
    const BreakerState s = b.breaker_state(component);
    if (s == BreakerState::Closed) [[likely]] {
      if ((b.flags(component) & kEntryPerBotBreakers) == 0) return false;
      const std::uint32_t own = own_breakers_[component & name_mask_].load(std::memory_order_relaxed);
      if (own != kNoName && own != kOwnBreakerUnavailable && b.breaker_state(static_cast<NameId>(own)) == BreakerState::Closed)
        return false;
    }
    return breaker_open_slow(component, s);
  }
  [[nodiscard]] bool breaker_open(std::string_view component) const noexcept;
  // This bot's own breaker on a component with scope bot/host (kNoName when the name table
  // is full). Interned on first use, then cached.
  [[nodiscard]] NameId own_breaker(NameId component) const noexcept;
  [[nodiscard]] BreakerState breaker_state(std::string_view component) const noexcept;
  [[nodiscard]] bool in_backoff(NameId error_type) const noexcept;
  [[nodiscard]] bool in_backoff(std::string_view error_type) const noexcept;
  // Monotonic ns until which the reader asks bots to back off this error type (0 = none).
  [[nodiscard]] std::uint64_t backoff_until(std::string_view error_type) const noexcept;
  [[nodiscard]] std::uint64_t reset_epoch(std::string_view name_of_component_or_error) const noexcept;
  [[nodiscard]] std::uint64_t global_reset_epoch() const noexcept { return board().global_reset_epoch(); }
  [[nodiscard]] bool shutdown_requested() const noexcept { return board().shutdown_requested(); }
  // True when the reader's heartbeat is fresher than `max_age`.
  [[nodiscard]] bool reader_alive(std::chrono::milliseconds max_age = std::chrono::milliseconds(2000)) const noexcept;

  // Commands to the reader (off the hot path; see command.hpp). send_command retries for up
  // to `timeout` while this thread's lane is full and returns the command id, or 0 if the
  // lane stayed full (nothing was sent).
  [[nodiscard]] std::uint64_t send_command(CommandCode code, NameId target, Severity severity = Severity::None,
                                           std::string_view args = {},
                                           std::chrono::milliseconds timeout = std::chrono::milliseconds(100)) noexcept;
  // Waits (polling, bounded) until the reader acknowledges command `id`.
  [[nodiscard]] CommandStatus wait_for_command(std::uint64_t id, std::chrono::milliseconds timeout) const noexcept;

  // The seed's ErrorRecoveryManager API, carried out by the reader. Each returns the
  // command's status once acknowledged, or Pending when no reader answered within `wait`
  // (the command stays queued in the lane and is applied when a reader drains it).
  CommandStatus open_circuit_breaker(std::string_view component, std::chrono::milliseconds wait = std::chrono::seconds(2)) noexcept;
  CommandStatus close_circuit_breaker(std::string_view component, std::chrono::milliseconds wait = std::chrono::seconds(2)) noexcept;
  [[nodiscard]] bool is_circuit_breaker_open(std::string_view component) const noexcept { return breaker_open(component); }
  // register_recovery_strategy('custom_error_type', MEDIUM, RETRY, max_retries=5); backoff_seconds
  // is BACKOFF's wait. Custom params are set in the reader's config file.
  CommandStatus register_recovery_strategy(std::string_view error_type, Severity severity, RecoveryAction action,
                                           std::uint32_t max_retries = 3, double backoff_seconds = 0.0,
                                           std::chrono::milliseconds wait = std::chrono::seconds(2)) noexcept;
  // True while the reader's latest decision for this error type is in force: a backoff not
  // yet over, retries granted, or a RESET/ALERT/SHUTDOWN decision (the seed's
  // should_trigger_recovery, answered by the reader that saw every bot's errors).
  [[nodiscard]] bool should_trigger_recovery(std::string_view error_type) const noexcept;
  // The reader's latest report as JSON (the seed's run_full_health_check() and
  // get_error_statistics() results together). With no live reader: {"overall_status":
  // "UNKNOWN", "reason": ...} — never a stale HEALTHY.
  [[nodiscard]] std::string run_full_health_check() const;
  [[nodiscard]] std::string get_error_statistics() const { return run_full_health_check(); }
  // HEALTHY/WARNING/CRITICAL from the reader, or UNKNOWN when its heartbeat is stale.
  [[nodiscard]] HealthStatus overall_health() const noexcept;

  // Host-wide limits (core/fleet_limits_writer.hpp): a rate limiter the reader configured for `group`
  // (Unconfigured when it has none), and the retry budget. One CAS per acquire.
  [[nodiscard]] RateLimiter rate_limiter(std::string_view group) noexcept;
  [[nodiscard]] RetryBudget retry_budget() const noexcept;

  [[nodiscard]] WriterStats stats() const noexcept;
  [[nodiscard]] Segment& segment() const noexcept;
  [[nodiscard]] NameTable& names() const noexcept;

  struct State;  // defined in writer/src/lane_claim.hpp; public only so the lane protocol can name it

 private:
  explicit Writer(std::unique_ptr<State> state) noexcept;
  [[nodiscard]] bool breaker_open_slow(NameId component, BreakerState state) const noexcept;
  // Whether board entry `id` in state `s` stops a call now. With no live reader (heartbeat
  // older than 2 s) the local policy applies: OPEN stops calls until its open-until deadline
  // only, HALF_OPEN stops none (nobody counts probes), FORCED_OPEN stops them all.
  [[nodiscard]] bool blocks(NameId id, BreakerState s) const noexcept;
  // HALF_OPEN breaker `id`: may this thread call (it holds or takes a permit, or none are published)?
  [[nodiscard]] bool probe_permitted(NameId id) const noexcept;
  // Recording an outcome for the component spends the probe permit this thread holds there;
  // true when it had one (the outcome is the probe).
  bool spend_probe_permits(NameId component) noexcept;
  std::unique_ptr<State> state_;
  // Copies of what the inline board reads need, owned by *state_ (stable across moves).
  const BoardReader* board_ = nullptr;
  std::atomic<std::uint32_t>* own_breakers_ = nullptr;  // state_->own_breakers: component -> this bot's BotBreaker id
  std::uint32_t name_mask_ = 0;
};

}  // namespace telering
