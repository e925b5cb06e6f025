// The C ABI (telering_writer.h) over telering::Writer.
//
// Invariants enforced here:
//  - No C++ exception crosses the boundary: every function that can throw (attach, the
//    report copy) runs inside guarded(), which maps exceptions to a telering_status and a
//    message for telering_last_error(). The recording and board functions call only
//    noexcept members, so they need no handler and stay as cheap as the C++ calls.
//  - The C enums are the C++ enums by value: static_asserts below pin every one, so the two
//    definitions cannot drift apart silently.
//  - telering_last_error() uses a fixed thread-local buffer: setting it never allocates and
//    never throws.
#include "telering/telering_writer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <string_view>
#include <thread>

#include "telering/core/clock.hpp"
#include "telering/writer.hpp"

struct telering_writer {
  telering::Writer writer;
};

namespace {

using telering::BreakerState;
using telering::HealthStatus;
using telering::NameKind;
using telering::RecordResult;
using telering::RecoveryAction;
using telering::Severity;

static_assert(TELERING_SEVERITY_LOW == static_cast<int>(Severity::Low));
static_assert(TELERING_SEVERITY_MEDIUM == static_cast<int>(Severity::Medium));
static_assert(TELERING_SEVERITY_HIGH == static_cast<int>(Severity::High));
static_assert(TELERING_SEVERITY_CRITICAL == static_cast<int>(Severity::Critical));
static_assert(TELERING_SEVERITY_CRITICAL == telering::kMaxSeverity);
static_assert(TELERING_ACTION_NONE == static_cast<int>(RecoveryAction::None));
static_assert(TELERING_ACTION_RETRY == static_cast<int>(RecoveryAction::Retry));
static_assert(TELERING_ACTION_BACKOFF == static_cast<int>(RecoveryAction::Backoff));
static_assert(TELERING_ACTION_RESET == static_cast<int>(RecoveryAction::Reset));
static_assert(TELERING_ACTION_ALERT == static_cast<int>(RecoveryAction::Alert));
static_assert(TELERING_ACTION_SHUTDOWN == static_cast<int>(RecoveryAction::Shutdown));
static_assert(TELERING_ACTION_SHUTDOWN == telering::kMaxRecoveryAction);
static_assert(TELERING_BREAKER_CLOSED == static_cast<int>(BreakerState::Closed));
static_assert(TELERING_BREAKER_OPEN == static_cast<int>(BreakerState::Open));
static_assert(TELERING_BREAKER_HALF_OPEN == static_cast<int>(BreakerState::HalfOpen));
static_assert(TELERING_BREAKER_FORCED_OPEN == static_cast<int>(BreakerState::ForcedOpen));
static_assert(TELERING_BREAKER_DISABLED == static_cast<int>(BreakerState::Disabled));
static_assert(TELERING_BREAKER_DISABLED == telering::kMaxBreakerState);
static_assert(TELERING_HEALTH_UNKNOWN == static_cast<int>(HealthStatus::Unknown));
static_assert(TELERING_HEALTH_HEALTHY == static_cast<int>(HealthStatus::Healthy));
static_assert(TELERING_HEALTH_WARNING == static_cast<int>(HealthStatus::Warning));
static_assert(TELERING_HEALTH_CRITICAL == static_cast<int>(HealthStatus::Critical));
static_assert(TELERING_NAME_BOT == static_cast<int>(NameKind::Bot));
static_assert(TELERING_NAME_COMPONENT == static_cast<int>(NameKind::Component));
static_assert(TELERING_NAME_ERROR_TYPE == static_cast<int>(NameKind::ErrorType));
static_assert(TELERING_NAME_WARNING_TYPE == static_cast<int>(NameKind::WarningType));
static_assert(TELERING_NAME_ENDPOINT == static_cast<int>(NameKind::Endpoint));
static_assert(TELERING_NAME_METRIC == static_cast<int>(NameKind::Metric));
static_assert(TELERING_NAME_RATE_GROUP == static_cast<int>(NameKind::RateGroup));
// BotBreaker names are the writer's own business (breaker_open), not interned through the C ABI.
static_assert(TELERING_NAME_RATE_GROUP + 1 == telering::kMaxNameKind);
static_assert(TELERING_OK == static_cast<int>(RecordResult::Recorded));
static_assert(TELERING_RECORDED_SHARED == static_cast<int>(RecordResult::RecordedShared));
static_assert(TELERING_DROPPED == static_cast<int>(RecordResult::Dropped));
static_assert(TELERING_NO_NAME == static_cast<int>(RecordResult::NoName));
static_assert(sizeof(telering_name_id) == sizeof(telering::NameId));

thread_local char t_last_error[512] = "";

void set_error(std::string_view message) noexcept {
  const std::size_t n = std::min(message.size(), sizeof t_last_error - 1);
  std::memcpy(t_last_error, message.data(), n);
  t_last_error[n] = '\0';
}

telering_status fail(telering_status code, std::string_view message) noexcept {
  set_error(message);
  return code;
}

// Runs fn (which may throw) and maps every exception to a status; nothing escapes.
template <typename Fn>
telering_status guarded(Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const telering::SegmentError& e) {
    return fail(TELERING_E_ATTACH, e.what());
  } catch (const std::bad_alloc&) {
    return fail(TELERING_E_NO_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(TELERING_E_INTERNAL, e.what());
  } catch (...) {
    return fail(TELERING_E_INTERNAL, "non-standard C++ exception");
  }
}

inline std::string_view view(const char* s) noexcept { return s ? std::string_view(s) : std::string_view(); }
inline telering_status status(RecordResult r) noexcept { return static_cast<telering_status>(r); }
inline bool valid_severity(int s) noexcept { return s >= TELERING_SEVERITY_LOW && s <= TELERING_SEVERITY_CRITICAL; }
inline bool valid_kind(int k) noexcept { return k >= TELERING_NAME_BOT && k <= TELERING_NAME_RATE_GROUP; }
// Durations and sizes: finite and >= 0 (the reader would count anything else as malformed).
inline bool valid_amount(double v) noexcept { return v >= 0.0 && std::isfinite(v); }

telering_status command_status(telering::CommandStatus s, std::string_view what) noexcept {
  switch (s) {
    case telering::CommandStatus::Applied: return TELERING_OK;
    case telering::CommandStatus::Pending: return TELERING_PENDING;
    case telering::CommandStatus::Rejected: break;
  }
  set_error(what);
  return TELERING_E_REJECTED;
}

std::chrono::milliseconds ms(std::uint32_t v) noexcept { return std::chrono::milliseconds(v); }

}  // namespace

extern "C" {

const char* telering_last_error(void) { return t_last_error; }

const char* telering_strerror(int code) {
  switch (code) {
    case TELERING_OK: return "ok";
    case TELERING_RECORDED_SHARED: return "recorded in the shared lane";
    case TELERING_DROPPED: return "dropped: lane full (counted)";
    case TELERING_NO_NAME: return "no name: empty name or name table full";
    case TELERING_PENDING: return "pending: no reader acknowledged the command yet";
    case TELERING_E_INVALID_ARGUMENT: return "invalid argument";
    case TELERING_E_ATTACH: return "cannot attach to the segment";
    case TELERING_E_REJECTED: return "command rejected";
    case TELERING_E_NO_MEMORY: return "out of memory";
    case TELERING_E_INTERNAL: return "internal error";
    default: return "unknown telering status";
  }
}

void telering_writer_options_init(telering_writer_options* options) {
  if (!options) return;
  *options = telering_writer_options{};
  options->struct_size = sizeof(telering_writer_options);
  options->sample_memory = 1;
}

telering_status telering_attach(const telering_writer_options* options, telering_writer** out) {
  if (!out) return fail(TELERING_E_INVALID_ARGUMENT, "telering_attach: out is NULL");
  *out = nullptr;
  telering_writer_options o;
  telering_writer_options_init(&o);
  if (options) {
    if (options->struct_size < offsetof(telering_writer_options, segment) + sizeof(const char*) ||
        options->struct_size > sizeof(telering_writer_options))
      return fail(TELERING_E_INVALID_ARGUMENT, "telering_attach: options.struct_size is not set; call telering_writer_options_init() first");
    std::memcpy(&o, options, options->struct_size);
  }
  return guarded([&] {
    telering::WriterOptions wo;
    if (o.segment) wo.segment = o.segment;
    if (o.bot) wo.bot = o.bot;
    if (wo.segment.empty()) return fail(TELERING_E_INVALID_ARGUMENT, "telering_attach: empty segment name");
    if (wo.bot.empty()) return fail(TELERING_E_INVALID_ARGUMENT, "telering_attach: empty bot name");
    if (o.mode != 0) wo.mode = o.mode;
    wo.sample_memory = o.sample_memory != 0;
    if (o.memory_interval_ms != 0) wo.memory_interval = ms(o.memory_interval_ms);
    if (o.lane_count != 0) wo.geometry.lane_count = o.lane_count;
    if (o.lane_capacity != 0) wo.geometry.lane_capacity = o.lane_capacity;
    if (o.mpsc_capacity != 0) wo.geometry.mpsc_capacity = o.mpsc_capacity;
    if (o.name_capacity != 0) wo.geometry.name_capacity = o.name_capacity;
    // Fields past an older caller's struct_size keep their defaults (o was initialised first).
    if (o.group) wo.group = o.group;
    wo.trust_other_owner = o.trust_other_owner != 0;
    *out = new telering_writer{telering::Writer::attach(wo)};
    return TELERING_OK;
  });
}

void telering_detach(telering_writer* writer) {
  // ~Writer only releases lanes and joins the sampler; it does not throw.
  delete writer;
}

telering_name_id telering_intern(telering_writer* writer, telering_name_kind kind, const char* name) {
  if (!writer || !name || !valid_kind(kind)) return TELERING_NO_NAME_ID;
  return writer->writer.name(static_cast<NameKind>(kind), name);
}

telering_name_id telering_bot_id(const telering_writer* writer) { return writer ? writer->writer.bot_id() : TELERING_NO_NAME_ID; }

// ---- Recording ----------------------------------------------------------------------------

telering_status telering_scan_time(telering_writer* writer, double seconds) {
  if (!writer || !valid_amount(seconds)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.scan_time(seconds));
}

telering_status telering_api_call(telering_writer* writer, double seconds, const char* endpoint) {
  if (!writer || !valid_amount(seconds)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.api_call(seconds, view(endpoint)));
}

telering_status telering_api_call_id(telering_writer* writer, double seconds, telering_name_id endpoint) {
  if (!writer || !valid_amount(seconds)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.api_call(seconds, endpoint));
}

telering_status telering_memory(telering_writer* writer) {
  if (!writer) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.memory());
}

telering_status telering_memory_bytes(telering_writer* writer, double bytes) {
  if (!writer || !valid_amount(bytes)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.memory_bytes(bytes));
}

telering_status telering_error(telering_writer* writer, const char* error_type, telering_severity severity,
                               const char* context, const char* component) {
  if (!writer || !error_type || !valid_severity(severity)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.error(error_type, static_cast<Severity>(severity), view(context), view(component)));
}

telering_status telering_error_id(telering_writer* writer, telering_name_id error_type, telering_severity severity,
                                  const char* context, telering_name_id component) {
  if (!writer || !valid_severity(severity)) return TELERING_E_INVALID_ARGUMENT;
  if (error_type == TELERING_NO_NAME_ID) return TELERING_NO_NAME;
  return status(writer->writer.error(error_type, static_cast<Severity>(severity), view(context), component));
}

telering_status telering_warning(telering_writer* writer, const char* warning_type, const char* context) {
  if (!writer || !warning_type) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.warning(warning_type, view(context)));
}

telering_status telering_warning_id(telering_writer* writer, telering_name_id warning_type, const char* context) {
  if (!writer) return TELERING_E_INVALID_ARGUMENT;
  if (warning_type == TELERING_NO_NAME_ID) return TELERING_NO_NAME;
  return status(writer->writer.record(telering::RecordKind::Warning, warning_type, 0.0, Severity::None, telering::kNoName,
                                      0, view(context)));
}

telering_status telering_call_outcome(telering_writer* writer, const char* component, int success, double seconds) {
  if (!writer || !component || !valid_amount(seconds)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.call_outcome(component, success != 0, seconds));
}

telering_status telering_call_outcome_id(telering_writer* writer, telering_name_id component, int success, double seconds) {
  if (!writer || !valid_amount(seconds)) return TELERING_E_INVALID_ARGUMENT;
  if (component == TELERING_NO_NAME_ID) return TELERING_NO_NAME;
  return status(writer->writer.call_outcome(component, success != 0, seconds));
}

telering_status telering_counter(telering_writer* writer, const char* metric, double increment) {
  if (!writer || !metric || !std::isfinite(increment)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.counter(metric, increment));
}

telering_status telering_counter_id(telering_writer* writer, telering_name_id metric, double increment) {
  if (!writer || !std::isfinite(increment)) return TELERING_E_INVALID_ARGUMENT;
  if (metric == TELERING_NO_NAME_ID) return TELERING_NO_NAME;
  return status(writer->writer.record(telering::RecordKind::Counter, metric, increment));
}

telering_status telering_gauge(telering_writer* writer, const char* metric, double value) {
  if (!writer || !metric || !std::isfinite(value)) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.gauge(metric, value));
}

telering_status telering_gauge_id(telering_writer* writer, telering_name_id metric, double value) {
  if (!writer || !std::isfinite(value)) return TELERING_E_INVALID_ARGUMENT;
  if (metric == TELERING_NO_NAME_ID) return TELERING_NO_NAME;
  return status(writer->writer.record(telering::RecordKind::Gauge, metric, value));
}

telering_status telering_heartbeat(telering_writer* writer) {
  if (!writer) return TELERING_E_INVALID_ARGUMENT;
  return status(writer->writer.heartbeat());
}

// ---- Decisions ----------------------------------------------------------------------------

int telering_breaker_open(const telering_writer* writer, const char* component) {
  return writer && component && writer->writer.breaker_open(std::string_view(component)) ? 1 : 0;
}

int telering_breaker_open_id(const telering_writer* writer, telering_name_id component) {
  return writer && component != TELERING_NO_NAME_ID && writer->writer.breaker_open(component) ? 1 : 0;
}

telering_breaker_state telering_breaker_state_of(const telering_writer* writer, const char* component) {
  if (!writer || !component) return TELERING_BREAKER_CLOSED;
  return static_cast<telering_breaker_state>(writer->writer.breaker_state(std::string_view(component)));
}

telering_breaker_state telering_breaker_state_id(const telering_writer* writer, telering_name_id component) {
  if (!writer || component == TELERING_NO_NAME_ID) return TELERING_BREAKER_CLOSED;
  return static_cast<telering_breaker_state>(writer->writer.board().breaker_state(component));
}

int telering_in_backoff(const telering_writer* writer, const char* error_type) {
  return writer && error_type && writer->writer.in_backoff(std::string_view(error_type)) ? 1 : 0;
}

int telering_in_backoff_id(const telering_writer* writer, telering_name_id error_type) {
  return writer && error_type != TELERING_NO_NAME_ID && writer->writer.in_backoff(error_type) ? 1 : 0;
}

uint64_t telering_backoff_until_ns(const telering_writer* writer, const char* error_type) {
  return writer && error_type ? writer->writer.backoff_until(error_type) : 0;
}

uint64_t telering_reset_epoch(const telering_writer* writer, const char* name) {
  return writer && name ? writer->writer.reset_epoch(name) : 0;
}

uint64_t telering_global_reset_epoch(const telering_writer* writer) { return writer ? writer->writer.global_reset_epoch() : 0; }

int telering_shutdown_requested(const telering_writer* writer) { return writer && writer->writer.shutdown_requested() ? 1 : 0; }

int telering_reader_alive(const telering_writer* writer, uint32_t max_age_ms) {
  if (!writer) return 0;
  return writer->writer.reader_alive(max_age_ms == 0 ? std::chrono::milliseconds(2000) : ms(max_age_ms)) ? 1 : 0;
}

telering_health telering_overall_health(const telering_writer* writer) {
  return writer ? static_cast<telering_health>(writer->writer.overall_health()) : TELERING_HEALTH_UNKNOWN;
}

telering_status telering_decision_of(const telering_writer* writer, telering_name_kind kind, const char* name,
                                     telering_decision* out) {
  if (!writer || !name || !out || !valid_kind(kind)) return fail(TELERING_E_INVALID_ARGUMENT, "telering_decision_of: NULL argument or bad kind");
  *out = telering_decision{};
  const telering::NameId id = writer->writer.names().find(static_cast<NameKind>(kind), name);
  if (id == telering::kNoName) return TELERING_NO_NAME;
  const telering::BoardSnapshot s = writer->writer.board().snapshot(id);
  out->breaker_state = static_cast<telering_breaker_state>(s.breaker_state);
  out->health = static_cast<telering_health>(s.health);
  out->last_action = static_cast<telering_recovery_action>(s.last_action);
  out->retry_permits = s.retry_permits;
  out->backoff_until_ns = s.backoff_until_ns;
  out->reset_epoch = s.reset_epoch;
  out->decision_seq = s.decision_seq;
  out->consistent = s.consistent ? 1 : 0;
  return TELERING_OK;
}

uint64_t telering_monotonic_ns(void) { return telering::monotonic_ns(); }

// ---- Commands and the report page -----------------------------------------------------------

telering_status telering_open_circuit_breaker(telering_writer* writer, const char* component, uint32_t wait_ms) {
  if (!writer || !component || !*component) return fail(TELERING_E_INVALID_ARGUMENT, "open_circuit_breaker: NULL writer or empty component");
  return command_status(writer->writer.open_circuit_breaker(component, ms(wait_ms)),
                        "open_circuit_breaker: the reader rejected the command or this thread's lane stayed full");
}

telering_status telering_close_circuit_breaker(telering_writer* writer, const char* component, uint32_t wait_ms) {
  if (!writer || !component || !*component) return fail(TELERING_E_INVALID_ARGUMENT, "close_circuit_breaker: NULL writer or empty component");
  return command_status(writer->writer.close_circuit_breaker(component, ms(wait_ms)),
                        "close_circuit_breaker: the reader rejected the command or this thread's lane stayed full");
}

telering_status telering_register_recovery_strategy(telering_writer* writer, const char* error_type, telering_severity severity,
                                                    telering_recovery_action action, uint32_t max_retries,
                                                    double backoff_seconds, uint32_t wait_ms) {
  if (!writer || !error_type || !*error_type) return fail(TELERING_E_INVALID_ARGUMENT, "register_recovery_strategy: NULL writer or empty error type");
  if (!valid_severity(severity)) return fail(TELERING_E_INVALID_ARGUMENT, "register_recovery_strategy: severity must be LOW..CRITICAL (1..4)");
  if (action < TELERING_ACTION_RETRY || action > TELERING_ACTION_SHUTDOWN)
    return fail(TELERING_E_INVALID_ARGUMENT, "register_recovery_strategy: action must be RETRY..SHUTDOWN (1..5)");
  if (!valid_amount(backoff_seconds) || backoff_seconds > 1e9)
    return fail(TELERING_E_INVALID_ARGUMENT, "register_recovery_strategy: backoff_seconds must be finite, >= 0 and <= 1e9");
  return command_status(writer->writer.register_recovery_strategy(error_type, static_cast<Severity>(severity),
                                                                  static_cast<RecoveryAction>(action), max_retries,
                                                                  backoff_seconds, ms(wait_ms)),
                        "register_recovery_strategy: the reader rejected the strategy or this thread's lane stayed full");
}

int telering_should_trigger_recovery(const telering_writer* writer, const char* error_type) {
  return writer && error_type && writer->writer.should_trigger_recovery(error_type) ? 1 : 0;
}

telering_status telering_request_report(telering_writer* writer, uint32_t wait_ms) {
  if (!writer) return fail(TELERING_E_INVALID_ARGUMENT, "request_report: NULL writer");
  telering::Writer& w = writer->writer;
  const auto deadline = std::chrono::steady_clock::now() + ms(wait_ms);
  // Pairs with the reader's release increment after it publishes a report.
  const std::atomic<std::uint64_t>& report_seq = w.segment().board().report_seq;
  const std::uint64_t before = report_seq.load(std::memory_order_acquire);
  // The command follows this thread's earlier records in its lane, so the reader has
  // applied them when it acknowledges; the report published after that includes them.
  const std::uint64_t id = w.send_command(telering::CommandCode::RequestReport, telering::kNoName, Severity::None, {}, ms(wait_ms));
  if (id == 0) return fail(TELERING_E_REJECTED, "request_report: this thread's lane stayed full");
  const telering::CommandStatus s = w.wait_for_command(id, ms(wait_ms));
  if (s != telering::CommandStatus::Applied) return command_status(s, "request_report: the reader rejected the command");
  while (report_seq.load(std::memory_order_acquire) == before) {
    if (std::chrono::steady_clock::now() >= deadline) return TELERING_PENDING;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return TELERING_OK;
}

int64_t telering_run_full_health_check(const telering_writer* writer, char* buffer, size_t capacity) {
  if (!writer || (!buffer && capacity != 0)) {
    set_error("run_full_health_check: NULL writer, or NULL buffer with a non-zero capacity");
    return TELERING_E_INVALID_ARGUMENT;
  }
  int64_t length = 0;
  const telering_status s = guarded([&] {
    const std::string json = writer->writer.run_full_health_check();
    length = static_cast<int64_t>(json.size());
    if (capacity != 0) {
      const std::size_t n = std::min(json.size(), capacity - 1);
      std::memcpy(buffer, json.data(), n);
      buffer[n] = '\0';
    }
    return TELERING_OK;
  });
  return s == TELERING_OK ? length : static_cast<int64_t>(s);
}

telering_status telering_writer_stats_of(const telering_writer* writer, telering_writer_stats* out) {
  if (!writer || !out) return fail(TELERING_E_INVALID_ARGUMENT, "telering_writer_stats_of: NULL argument");
  const telering::WriterStats s = writer->writer.stats();
  out->lanes_claimed = s.lanes_claimed;
  out->dropped = s.dropped;
  return TELERING_OK;
}

const char* telering_version(void) { return TELERING_VERSION_STRING; }

}  // extern "C"
