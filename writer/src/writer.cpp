// writer/src/writer.cpp — Writer: attach, the recording path, names, the board and fleet
// limits as a bot reads them. Which thread writes into which lane: lane_claim.cpp.
#include "telering/writer.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "lane_claim.hpp"
#include "memory_sampler.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/probe_permits.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/report_page.hpp"
#include "telering/core/ring_mpsc.hpp"
#include "telering/core/ring_spsc.hpp"

namespace telering {

namespace {

using detail::LaneCache;

// A thread's lanes, one cache per writer slot. Trivially destructible and constant-
// initialised, so the recording path reads it without a TLS init guard or wrapper call; it
// lives in this file, beside Writer::record, for the same reason (lane_claim.cpp only gets
// a reference, off the hot path).
thread_local detail::LaneCaches t_lanes{};

void fill_record(Record& r, std::uint64_t ticks, RecordKind kind, NameId name, double value, Severity severity, NameId aux,
                 NameId bot, std::uint32_t tid, std::uint8_t flags, std::string_view context) noexcept {
  r.timestamp = ticks;
  r.value = value;
  r.thread_id = tid;
  r.name_id = name;
  r.aux_id = aux;
  r.bot_id = bot;
  r.kind = kind;
  r.severity = severity;
  r.flags = flags;
  r.set_context(context);
}

// A live reader in another PID namespace numbers our threads differently: it could never
// prove one of them dead, so it could never free a lane of a bot that crashed. Refused
// clearly rather than left to leak lanes.
void refuse_foreign_reader(const Segment& segment) {
  const SegmentHeader& h = segment.header();
  // Pairs with the reader's release store in ReaderLoop's constructor.
  const std::uint64_t reader_ns = h.reader_pid_ns.load(std::memory_order_acquire);
  const std::uint64_t mine = current_pid_namespace();
  const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
  const std::uint64_t now = monotonic_ns();
  const bool reader_live = h.reader_pid.load(std::memory_order_acquire) != 0 && beat != 0 && now - beat < 2'000'000'000ULL;
  if (reader_ns == 0 || mine == 0 || reader_ns == mine || !reader_live) return;
  throw SegmentError("segment '" + segment.name() + "' is served by a telering-reader in another PID namespace (pid:[" +
                     std::to_string(reader_ns) + "], this bot's is pid:[" + std::to_string(mine) +
                     "]): it cannot tell whether this bot's threads are alive, so it could never free their lanes; run "
                     "the bot in the reader's PID namespace (same container or pod, or docker run --pid=host)");
}

// Everything record() does off its fast path: claim a lane (first record, after fork),
// re-check the lane's owner when due, or use the shared lane and retry a claim now and then.
[[gnu::noinline]] RecordResult record_slow(Writer::State& w, LaneCache& c, std::uint64_t now, RecordKind kind, NameId name,
                                           double value, Severity severity, NameId aux, std::uint8_t flags,
                                           std::string_view context) noexcept {
  if (c.serial != w.serial || c.fork_generation != fork_generation())
    claim_lane(w, c, t_lanes);
  else if (!c.on_shared)
    check_lane_owner(w, c, t_lanes, now);
  auto fill = [&](Record& r) noexcept { fill_record(r, now, kind, name, value, severity, aux, w.bot, c.tid, flags, context); };
  if (!c.on_shared) return c.producer.try_push(fill) ? RecordResult::Recorded : RecordResult::Dropped;
  if (--c.shared_countdown == 0) {
    c.on_shared = false;
    c.serial = 0;
    claim_lane(w, c, t_lanes);
    if (!c.on_shared) return c.producer.try_push(fill) ? RecordResult::Recorded : RecordResult::Dropped;
  }
  return w.shared.try_push(fill, c.me) == MpscPush::Committed ? RecordResult::RecordedShared : RecordResult::Dropped;
}

}  // namespace

Writer Writer::attach(const WriterOptions& options) {
  SegmentOptions so;
  so.name = options.segment;
  so.geometry = options.geometry;
  so.mode = options.mode;
  so.group = options.group;
  so.trust_other_owner = options.trust_other_owner;
  auto state = std::make_unique<State>(Segment::open(so));
  refuse_foreign_reader(state->segment);
  state->claimed.reserve(state->segment.geometry().lane_count);
  state->bot = state->names.intern(NameKind::Bot, options.bot);
  if (state->bot == kNoName) throw SegmentError("segment '" + options.segment + "': cannot intern bot name '" + options.bot + "' (empty name or name table full)");
  detail::register_writer(*state);
  if (options.sample_memory) state->sampler = std::make_unique<MemorySampler>(options.memory_interval);
  return Writer(std::move(state));
}

Writer::Writer(std::unique_ptr<State> state) noexcept
    : state_(std::move(state)),
      board_(&state_->board),
      own_breakers_(state_->own_breakers.get()),
      name_mask_(state_->segment.geometry().name_capacity - 1) {}
Writer::Writer(Writer&&) noexcept = default;
Writer& Writer::operator=(Writer&& other) noexcept {
  if (this != &other) {
    Writer gone(std::move(*this));
    state_ = std::move(other.state_);
    board_ = other.board_;
    own_breakers_ = other.own_breakers_;
    name_mask_ = other.name_mask_;
  }
  return *this;
}

Writer::~Writer() {
  if (!state_) return;
  state_->sampler.reset();
  detail::unregister_writer(*state_);
}

RecordResult Writer::record(RecordKind kind, NameId name, double value, Severity severity, NameId aux, std::uint8_t flags,
                            std::string_view context) noexcept {
  State& w = *state_;
  LaneCache& c = t_lanes[w.slot];
  const std::uint64_t now = read_ticks();
  // One test for every reason to leave the fast path: no lane of ours in this process yet,
  // the shared lane (next_owner_check is 0 there), or the lane's owner re-check is due.
  if (c.serial != w.serial || c.fork_generation != fork_generation() || now >= c.next_owner_check) [[unlikely]]
    return record_slow(w, c, now, kind, name, value, severity, aux, flags, context);
  const NameId bot = w.bot;
  const std::uint32_t tid = c.tid;
  auto fill = [&](Record& r) noexcept { fill_record(r, now, kind, name, value, severity, aux, bot, tid, flags, context); };
  return c.producer.try_push(fill) ? RecordResult::Recorded : RecordResult::Dropped;
}

NameId Writer::name(NameKind kind, std::string_view text) noexcept {
  const NameId found = state_->names.find(kind, text);
  if (found != kNoName) return found;
  const NameId id = state_->names.intern(kind, text);
  if (id == kNoName && !text.empty()) state_->segment.header().name_table_full.fetch_add(1, std::memory_order_relaxed);
  return id;
}

NameId Writer::bot_id() const noexcept { return state_->bot; }

namespace {
// Records that name nothing (table full, empty name) are refused, not sent with id 0.
inline RecordResult no_name() noexcept { return RecordResult::NoName; }
}  // namespace

RecordResult Writer::scan_time(double seconds) noexcept {
  return record(RecordKind::ScanTime, kNoName, seconds);
}

RecordResult Writer::api_call(double seconds, std::string_view endpoint_name) noexcept {
  return api_call(seconds, endpoint_name.empty() ? kNoName : name(NameKind::Endpoint, endpoint_name));
}

RecordResult Writer::api_call(double seconds, NameId endpoint_id) noexcept {
  return record(RecordKind::ApiCall, endpoint_id, seconds);
}

RecordResult Writer::memory() noexcept { return memory_bytes(static_cast<double>(rss_bytes())); }

std::uint64_t Writer::rss_bytes() const noexcept {
  const MemorySampler* s = state_->sampler.get();
  if (s == nullptr || !s->runs_in_this_process()) return MemorySampler::sample_rss_bytes();
  return s->rss_bytes();
}

RecordResult Writer::memory_bytes(double bytes) noexcept { return record(RecordKind::MemorySample, kNoName, bytes); }

RecordResult Writer::error(std::string_view type, Severity severity, std::string_view context,
                           std::string_view component_name) noexcept {
  const NameId type_id = name(NameKind::ErrorType, type);
  if (type_id == kNoName) return no_name();
  const NameId component_id = component_name.empty() ? kNoName : name(NameKind::Component, component_name);
  return error(type_id, severity, context, component_id);
}

RecordResult Writer::error(NameId type, Severity severity, std::string_view context, NameId component_id) noexcept {
  if (severity == Severity::None) severity = Severity::Medium;
  return record(RecordKind::Error, type, 0.0, severity, component_id, 0, context);
}

RecordResult Writer::warning(std::string_view type, std::string_view context) noexcept {
  const NameId id = name(NameKind::WarningType, type);
  if (id == kNoName) return no_name();
  return record(RecordKind::Warning, id, 0.0, Severity::None, kNoName, 0, context);
}

RecordResult Writer::call_outcome(std::string_view component_name, bool success, double seconds) noexcept {
  const NameId id = name(NameKind::Component, component_name);
  if (id == kNoName) return no_name();
  return call_outcome(id, success, seconds);
}

RecordResult Writer::call_outcome(NameId component_id, bool success, double seconds, bool retry) noexcept {
  std::uint8_t flags = static_cast<std::uint8_t>((success ? 0 : kFlagFailure) | (retry ? kFlagRetry : 0));
  if (board().breaker_state(component_id) == BreakerState::HalfOpen ||
      (board().flags(component_id) & kEntryPerBotBreakers) != 0) [[unlikely]]
    if (spend_probe_permits(component_id)) flags |= kFlagProbe;
  return record(RecordKind::CallOutcome, component_id, seconds, Severity::None, kNoName, flags);
}

RateLimiter Writer::rate_limiter(std::string_view group) noexcept {
  return RateLimiter(find_rate_bucket(state_->segment.rate_buckets(), name(NameKind::RateGroup, group)));
}

RetryBudget Writer::retry_budget() const noexcept { return RetryBudget(&state_->segment.fleet()); }

RecordResult Writer::counter(std::string_view metric_name, double increment) noexcept {
  const NameId id = name(NameKind::Metric, metric_name);
  if (id == kNoName) return no_name();
  return record(RecordKind::Counter, id, increment);
}

RecordResult Writer::gauge(std::string_view metric_name, double value) noexcept {
  const NameId id = name(NameKind::Metric, metric_name);
  if (id == kNoName) return no_name();
  return record(RecordKind::Gauge, id, value);
}

RecordResult Writer::heartbeat() noexcept { return record(RecordKind::Heartbeat, kNoName, 0.0); }


NameId Writer::own_breaker(NameId component) const noexcept {
  if (component == kNoName || component >= state_->segment.geometry().name_capacity) return kNoName;
  std::atomic<std::uint32_t>& slot = state_->own_breakers[component];
  std::uint32_t id = slot.load(std::memory_order_relaxed);
  if (id == kNoName) [[unlikely]] {
    // Once per component: a full table is remembered, not retried on every check.
    const NameId interned = state_->names.intern(NameKind::BotBreaker, bot_breaker_name(component, state_->bot).view());
    id = interned == kNoName ? kOwnBreakerUnavailable : interned;
    slot.store(id, std::memory_order_relaxed);
  }
  return id == kOwnBreakerUnavailable ? kNoName : static_cast<NameId>(id);
}

bool Writer::probe_permitted(NameId id) const noexcept {
  const std::uint32_t packed = board().probe_slots(id);
  // BoardWriter::set_breaker stores the range before the state when entering HALF_OPEN and
  // after it when leaving: if the state is still HALF_OPEN now, the range is this period's.
  const BreakerState now = board().breaker_state(id);
  if (now != BreakerState::HalfOpen) return now != BreakerState::Open && now != BreakerState::ForcedOpen;
  if (packed == 0) return true;  // no permits published (pool full): every call may probe
  return take_probe_permit(state_->probe_slots, packed, id, make_owner(current_pid(), current_tid()));
}

bool Writer::spend_probe_permits(NameId component) noexcept {
  const std::uint64_t me = make_owner(current_pid(), current_tid());
  bool spent = spend_probe_permit(state_->probe_slots, board().probe_slots(component), component, me);
  if (board().flags(component) & kEntryPerBotBreakers)
    if (const NameId own = own_breaker(component); own != kNoName)
      spent = spend_probe_permit(state_->probe_slots, board().probe_slots(own), own, me) || spent;
  return spent;
}

bool Writer::blocks(NameId id, BreakerState s) const noexcept {
  switch (s) {
    case BreakerState::Closed:
    case BreakerState::Disabled:
      return false;
    case BreakerState::ForcedOpen:
      return true;
    case BreakerState::Open: {
      // Before the deadline: open whoever is (not) there. After it: a live reader moves it on
      // within a millisecond; without one, nobody will, so the deadline is the end.
      const std::uint64_t until = board().open_until_ticks(id);
      return until == 0 || read_ticks() < until || reader_alive();
    }
    case BreakerState::HalfOpen:
      // Nobody counts probes without a reader: every call may go through.
      return reader_alive() && !probe_permitted(id);
  }
  return true;  // a state no reader writes: stay safe
}

bool Writer::breaker_open_slow(NameId component, BreakerState s) const noexcept {
  if ((s == BreakerState::Open || s == BreakerState::ForcedOpen) && blocks(component, s)) return true;
  if (board().flags(component) & kEntryPerBotBreakers) {
    if (const NameId own = own_breaker(component); own != kNoName) {
      const BreakerState o = board().breaker_state(own);
      const bool own_decides = o == BreakerState::Open || o == BreakerState::ForcedOpen ||
                               (o == BreakerState::HalfOpen && s != BreakerState::HalfOpen);
      if (own_decides && blocks(own, o)) return true;
    }
  }
  return s == BreakerState::HalfOpen && blocks(component, s);
}

bool Writer::breaker_open(std::string_view component_name) const noexcept {
  const NameId id = state_->names.find(NameKind::Component, component_name);
  return id != kNoName && breaker_open(id);
}

BreakerState Writer::breaker_state(std::string_view component_name) const noexcept {
  const NameId id = state_->names.find(NameKind::Component, component_name);
  return id == kNoName ? BreakerState::Closed : board().breaker_state(id);
}

bool Writer::in_backoff(NameId error_type_id) const noexcept { return board().in_backoff(error_type_id, read_ticks()); }

bool Writer::in_backoff(std::string_view error_type_name) const noexcept {
  const NameId id = state_->names.find(NameKind::ErrorType, error_type_name);
  return id != kNoName && in_backoff(id);
}

std::uint64_t Writer::backoff_until(std::string_view error_type_name) const noexcept {
  const NameId id = state_->names.find(NameKind::ErrorType, error_type_name);
  return id == kNoName ? 0 : board().snapshot(id).backoff_until_ns;
}

std::uint64_t Writer::reset_epoch(std::string_view name_text) const noexcept {
  NameId id = state_->names.find(NameKind::Component, name_text);
  if (id == kNoName) id = state_->names.find(NameKind::ErrorType, name_text);
  return id == kNoName ? 0 : board().reset_epoch(id);
}

bool Writer::reader_alive(std::chrono::milliseconds max_age) const noexcept {
  const SegmentHeader& h = state_->segment.header();
  // Pairs with the reader's release store of its heartbeat.
  const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
  if (beat == 0) return false;
  const std::uint64_t now = monotonic_ns();
  return now < beat || now - beat <= static_cast<std::uint64_t>(std::chrono::nanoseconds(max_age).count());
}

WriterStats Writer::stats() const noexcept {
  WriterStats s;
  std::lock_guard lock(state_->lanes_mutex);
  for (std::uint32_t lane : state_->claimed) {
    ++s.lanes_claimed;
    s.dropped += state_->segment.lane(lane).dropped.load(std::memory_order_relaxed);
  }
  return s;
}

std::uint64_t Writer::send_command(CommandCode code, NameId target, Severity severity, std::string_view args,
                                   std::chrono::milliseconds timeout) noexcept {
  const std::uint64_t id = state_->segment.header().next_command_id.fetch_add(1, std::memory_order_relaxed) + 1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const RecordResult r = record(RecordKind::Command, target, static_cast<double>(id), severity,
                                  static_cast<NameId>(code), 0, args);
    if (r == RecordResult::Recorded || r == RecordResult::RecordedShared) return id;
    if (std::chrono::steady_clock::now() >= deadline) return 0;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

CommandStatus Writer::wait_for_command(std::uint64_t id, std::chrono::milliseconds timeout) const noexcept {
  if (id == 0) return CommandStatus::Rejected;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const CommandStatus s = board().command_status(id);
    if (s != CommandStatus::Pending || std::chrono::steady_clock::now() >= deadline) return s;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

namespace {
CommandStatus send_and_wait(Writer& w, CommandCode code, NameId target, Severity severity, std::string_view args,
                            std::chrono::milliseconds wait) noexcept {
  if (target == kNoName) return CommandStatus::Rejected;
  const std::uint64_t id = w.send_command(code, target, severity, args, wait);
  if (id == 0) return CommandStatus::Rejected;
  return w.wait_for_command(id, wait);
}
}  // namespace

CommandStatus Writer::open_circuit_breaker(std::string_view component_name, std::chrono::milliseconds wait) noexcept {
  return send_and_wait(*this, CommandCode::OpenBreaker, component(component_name), Severity::None, {}, wait);
}

CommandStatus Writer::close_circuit_breaker(std::string_view component_name, std::chrono::milliseconds wait) noexcept {
  return send_and_wait(*this, CommandCode::CloseBreaker, component(component_name), Severity::None, {}, wait);
}

CommandStatus Writer::register_recovery_strategy(std::string_view type, Severity severity, RecoveryAction action,
                                                 std::uint32_t max_retries, double backoff_seconds,
                                                 std::chrono::milliseconds wait) noexcept {
  static constexpr std::string_view kNames[] = {"NONE", "RETRY", "BACKOFF", "RESET", "ALERT", "SHUTDOWN"};
  const auto a = static_cast<std::uint8_t>(action);
  if (a > kMaxRecoveryAction || !(backoff_seconds >= 0.0) || backoff_seconds > 1e9) return CommandStatus::Rejected;
  char args[kContextCapacity + 1];
  const int n = std::snprintf(args, sizeof args, "%.*s %u %.3f", static_cast<int>(kNames[a].size()), kNames[a].data(),
                              max_retries, backoff_seconds);
  if (n <= 0 || static_cast<std::size_t>(n) > kContextCapacity) return CommandStatus::Rejected;
  return send_and_wait(*this, CommandCode::RegisterStrategy, error_type(type), severity == Severity::None ? Severity::Medium : severity,
                       std::string_view(args, static_cast<std::size_t>(n)), wait);
}

bool Writer::should_trigger_recovery(std::string_view error_type_name) const noexcept {
  const NameId id = state_->names.find(NameKind::ErrorType, error_type_name);
  if (id == kNoName) return false;
  const BoardSnapshot s = board().snapshot(id);
  switch (static_cast<RecoveryAction>(s.last_action)) {
    case RecoveryAction::Retry: return s.retry_permits > 0 || read_ticks() < s.backoff_until_ticks;
    case RecoveryAction::Backoff: return read_ticks() < s.backoff_until_ticks;
    case RecoveryAction::Reset:
    case RecoveryAction::Alert:
    case RecoveryAction::Shutdown: return true;
    case RecoveryAction::None: break;
  }
  return false;
}

HealthStatus Writer::overall_health() const noexcept {
  return reader_alive() ? board().overall_health() : HealthStatus::Unknown;
}

std::string Writer::run_full_health_check() const {
  const SegmentHeader& h = state_->segment.header();
  if (!reader_alive()) {
    const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
    char reason[128];
    if (beat == 0) std::snprintf(reason, sizeof reason, "no reader has attached to segment");
    else std::snprintf(reason, sizeof reason, "no live reader: heartbeat %.1f s old",
                       static_cast<double>(monotonic_ns() - beat) / 1e9);
    return std::string(R"({"overall_status":"UNKNOWN","reason":")") + reason + "\"}";
  }
  ReportPage page(&state_->segment.report(), state_->segment.report_payload(), state_->segment.geometry().report_bytes);
  ReportPage::Snapshot snap;
  if (!page.read(snap)) return R"({"overall_status":"UNKNOWN","reason":"the reader has not published a report yet"})";
  return snap.text;
}

Segment& Writer::segment() const noexcept { return state_->segment; }
NameTable& Writer::names() const noexcept { return state_->names; }

}  // namespace telering
