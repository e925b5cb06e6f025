#include "telering/reader/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "telering/reader/health_report_format.hpp"
#include "telering/reader/safe_text.hpp"

namespace telering::reader {

namespace {

constexpr std::size_t kMaxPendingDecisions = 4096;
constexpr std::size_t kMaxPendingAlerts = 1024;
// A record stamped further than this from the reader's clock has a bogus timestamp (or a
// clock from another boot): it is aggregated at the reader's time instead.
constexpr std::uint64_t kMaxRecordAgeNs = 600'000'000'000ULL;
// How often the bots that got records are re-graded between reports: a health change goes
// out within this, at the cost of one health check per active bot (~1 µs each) per period.
constexpr std::uint64_t kRegradeIntervalNs = 10'000'000;
// How often HALF_OPEN breakers' permits are checked for dead holders and ended leases.
constexpr std::uint64_t kProbeCheckIntervalNs = 100'000'000;

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", s);
  return buf;
}

// Parses a RegisterStrategy command's arguments: "<ACTION> [max_retries] [backoff_seconds]".
std::optional<RecoveryStrategy> parse_strategy_args(std::string_view args, std::string error_type, Severity severity) {
  std::istringstream in{std::string(args)};
  std::string action;
  std::uint32_t max_retries = 3;
  double backoff_seconds = 0;
  if (!(in >> action)) return std::nullopt;
  if (!(in >> max_retries)) max_retries = 3;
  if (!(in >> backoff_seconds)) backoff_seconds = 0;
  if (!std::isfinite(backoff_seconds) || backoff_seconds < 0 || max_retries > 1000) return std::nullopt;
  RecoveryStrategy s;
  static const std::pair<std::string_view, RecoveryAction> kActions[] = {
      {"NONE", RecoveryAction::None},   {"RETRY", RecoveryAction::Retry}, {"BACKOFF", RecoveryAction::Backoff},
      {"RESET", RecoveryAction::Reset}, {"ALERT", RecoveryAction::Alert}, {"SHUTDOWN", RecoveryAction::Shutdown}};
  const auto it = std::find_if(std::begin(kActions), std::end(kActions), [&](const auto& p) { return p.first == action; });
  if (it == std::end(kActions)) return std::nullopt;
  s.error_type = std::move(error_type);
  s.severity = severity;
  s.action = it->second;
  s.max_retries = max_retries;
  s.backoff_seconds = backoff_seconds;
  s.backoff = BackoffPolicy::seed_compatible(max_retries, 2.0);
  return s;
}

}  // namespace

Engine::Engine(ReaderConfig config, const Segment& segment, std::uint64_t now_ns, std::int64_t wall_offset_ns)
    : config_(std::move(config)),
      segment_(&segment),
      clock_(segment.calibration()),
      names_(segment.names(), segment.geometry().name_capacity),
      board_(&segment.board(), segment.board_entries(), segment.geometry().name_capacity),
      report_page_(&segment.report(), segment.report_payload(), segment.geometry().report_bytes),
      wall_offset_ns_(wall_offset_ns),
      name_cache_(segment.geometry().name_capacity),

      host_(config_.windows),
      errors_(now_ns, config_.error_log),
      recovery_(std::make_unique<RecoveryEngine>(config_.recovery)) {
  // A reader killed mid-publish left seqlocks odd: make them even before anything reads or
  // writes them (torn entries are rewritten by reconcile_board, a torn report is emptied).
  torn_entries_ = board_.normalise_versions();
  report_page_.normalise();
  fleet_ = std::make_unique<FleetLimits>(segment, clock_, config_.rate_limits, config_.retry_budget);
  // A previous reader's permits and the ranges it published mean nothing to this one.
  probes_ = ProbePermitPool(segment.probe_slots());
  probes_.reset_all();
  for (std::uint32_t id = 1; id < segment.geometry().name_capacity; ++id)
    if (board_.reader().probe_slots(static_cast<NameId>(id)) != 0)
      (void)board_.update(static_cast<NameId>(id), [](BoardEntry& e) { e.probe_slots.store(0, std::memory_order_release); });
  const std::uint32_t ids = segment.geometry().name_capacity;
  bots_by_id_.assign(ids, nullptr);
  breakers_by_id_.assign(ids, nullptr);
  counters_by_id_.assign(ids, nullptr);
  gauges_by_id_.assign(ids, nullptr);
  for (const RecoveryStrategy& s : config_.strategies) recovery_->register_recovery_strategy(s);
  // A restarted reader starts from a clean board: no decision of a previous reader stays
  // in force without a reader to end it.
  board_.request_shutdown(false);
  board_.set_overall_health(HealthStatus::Unknown);
}

Engine::~Engine() = default;

const Engine::CachedName* Engine::resolve(NameId id) const {
  if (id == kNoName || id >= name_cache_.size()) return nullptr;
  CachedName& c = name_cache_[id];
  if (!c.resolved) {
    NameTable::Name n;
    if (!names_.read(id, n)) return nullptr;  // not ready (yet) or corrupt: try again next time
    c.kind = n.kind;
    // Shared-memory bytes: made safe once here for every report, label, alert and log line.
    c.text = safe_text(n.text);
    c.resolved = true;  // entries never change once ready
  }
  return &c;
}

const std::string& Engine::name_of(NameId id) const {
  static const std::string kEmpty;
  const CachedName* c = resolve(id);
  return c ? c->text : kEmpty;
}

const std::string* Engine::name_as(NameId id, NameKind kind) {
  const CachedName* c = resolve(id);
  if (!c || c->kind != kind) {
    ++stats_.unknown_names;
    return nullptr;
  }
  return &c->text;
}

Engine::Bot& Engine::bot(NameId id) {
  // Ids are below name_capacity: validate_record checked them before on_record.
  if (Bot* b = bots_by_id_[id]) return *b;
  const CachedName* c = resolve(id);
  std::string name = c && c->kind == NameKind::Bot ? c->text : "bot#" + std::to_string(id);
  Bot fresh{std::move(name), PerformanceMonitor(config_.windows)};
  Bot& b = bots_.emplace(id, std::move(fresh)).first->second;
  bots_by_id_[id] = &b;
  return b;
}

Engine::Breaker* Engine::breaker(NameId component, std::uint64_t now_ns) {
  (void)now_ns;
  if (Breaker* b = breakers_by_id_[component]) return b;
  const std::string* name = name_as(component, NameKind::Component);
  if (!name) return nullptr;
  const BreakerConfig& config = config_.breaker_for(*name);
  Breaker& b = breakers_.emplace(component, Breaker{*name, CircuitBreaker(config), component}).first->second;
  breakers_by_id_[component] = &b;
  // Tells writers whether to read their own breaker too (also clears a previous reader's flag).
  board_.set_flags(component, config.scope == BreakerConfig::Scope::Component ? 0 : kEntryPerBotBreakers);
  return &b;
}

Engine::Breaker* Engine::bot_breaker(Breaker& component, NameId bot_id) {
  const std::uint32_t key = std::uint32_t{component.component_id} << 16 | bot_id;
  if (const auto it = bot_breaker_ids_.find(key); it != bot_breaker_ids_.end()) return breakers_by_id_[it->second];
  const NameId id = names_.intern(NameKind::BotBreaker, bot_breaker_name(component.component_id, bot_id).view());
  if (id == kNoName || id >= breakers_by_id_.size()) return nullptr;  // table full: the caller pools
  bot_breaker_ids_.emplace(key, id);
  if (Breaker* b = breakers_by_id_[id]) return b;
  Breaker& b = breakers_.emplace(id, Breaker{component.component, CircuitBreaker(component.breaker.config()),
                                             component.component_id, bot_id}).first->second;
  breakers_by_id_[id] = &b;
  component.bot_breakers.push_back(id);
  return &b;
}

double* Engine::metric_slot(std::vector<double*>& index, std::map<std::string, double, std::less<>>& values, NameId id) {
  if (double* v = index[id]) return v;
  const std::string* m = name_as(id, NameKind::Metric);
  if (!m) return nullptr;
  double* v = &values.try_emplace(*m, 0.0).first->second;  // map nodes never move
  index[id] = v;
  return v;
}

std::uint64_t Engine::event_time(const Record& r, std::uint64_t now_ns) const noexcept {
  const std::uint64_t t = clock_.calibration().to_ns(r.timestamp);
  if (t > now_ns || now_ns - t > kMaxRecordAgeNs) return now_ns;
  return t;
}

void Engine::on_record(const Record& r, const RecordSource& source, std::uint64_t now_ns) {
  ++stats_.records;
  ++stats_.records_by_kind[static_cast<std::uint8_t>(r.kind)];
  const std::uint64_t at = event_time(r, now_ns);
  Bot& b = bot(r.bot_id);
  b.last_seen_ns = std::max(b.last_seen_ns, at);
  if (!b.dirty) {
    b.dirty = true;
    dirty_bots_.push_back(r.bot_id);
  }
  fleet_->on_record(r, now_ns);
  if (b.stalled && (r.kind == RecordKind::ScanTime || config_.stall.max_scan_interval.count() == 0)) {
    spdlog::info("bot {} is recording again after a stall ({})", b.name, b.stall_reason);
    b.stalled = false;
    b.stall_reason.clear();
  }
  switch (r.kind) {
    case RecordKind::ScanTime:
      b.last_scan_ns = std::max(b.last_scan_ns, at);
      host_.record_scan_time(r.value, at);
      b.monitor.record_scan_time(r.value, at);
      break;
    case RecordKind::ApiCall:
      host_.record_api_call(r.value, at, r.name_id);
      b.monitor.record_api_call(r.value, at, r.name_id);
      break;
    case RecordKind::MemorySample:
      host_.record_memory(r.value, at);
      b.monitor.record_memory(r.value, at);
      break;
    case RecordKind::Error:
      on_error(r, now_ns);
      break;
    case RecordKind::Warning:
      host_.record_warning(at);
      b.monitor.record_warning(at);
      if (const std::string* type = name_as(r.name_id, NameKind::WarningType)) {
        auto it = warnings_by_type_.find(*type);
        if (it != warnings_by_type_.end()) ++it->second;
        else if (warnings_by_type_.size() < config_.error_log.max_types) warnings_by_type_.emplace(*type, 1);
      }
      break;
    case RecordKind::CallOutcome:
      if (b.components.size() < 64 && std::find(b.components.begin(), b.components.end(), r.name_id) == b.components.end())
        b.components.push_back(r.name_id);
      on_call_outcome(r, source, now_ns);
      break;
    case RecordKind::Counter:
      if (double* v = metric_slot(counters_by_id_, counters_, r.name_id)) *v += r.value;
      break;
    case RecordKind::Gauge:
      if (double* v = metric_slot(gauges_by_id_, gauges_, r.name_id)) *v = r.value;
      break;
    case RecordKind::Heartbeat:
      break;
    case RecordKind::Command:
      on_command(r, now_ns);
      break;
  }
}

void Engine::on_malformed(RecordFault fault, const Record& r, const RecordSource& source) {
  ++stats_.malformed;
  std::uint64_t& count = stats_.malformed_by_fault[static_cast<std::size_t>(fault)];
  if (count++ == 0) {
    // Logged once per kind of fault: a hostile or broken writer must not flood the log.
    spdlog::warn("malformed record ({}) in lane {} (owner pid {}): kind={} severity={} name={} bot={}; further ones are counted, not logged",
                 to_string(fault), source.lane == kSharedLane ? std::string("shared") : std::to_string(source.lane),
                 source.owner_pid, static_cast<unsigned>(r.kind), static_cast<unsigned>(r.severity), r.name_id, r.bot_id);
  }
}

void Engine::on_error(const Record& r, std::uint64_t now_ns) {
  const std::uint64_t at = event_time(r, now_ns);
  host_.record_error(at);
  bot(r.bot_id).monitor.record_error(at);
  const std::string* type = name_as(r.name_id, NameKind::ErrorType);
  if (!type) return;
  ErrorEvent e;
  e.error_type = *type;
  // Only an id that names a component may have its board entry touched by a RESET: any
  // other aux id (a stray or hostile value) is ignored.
  NameId component_id = kNoName;
  if (r.aux_id != kNoName) {
    if (const std::string* c = name_as(r.aux_id, NameKind::Component)) {
      e.component = *c;
      component_id = r.aux_id;
    }
  }
  e.severity = r.severity;
  e.message_or_context = safe_text(r.context_view());
  if (r.flags & kFlagContextTruncated) e.message_or_context += "…";
  e.now_ns = at;
  e.wall_ns = static_cast<std::int64_t>(at) + wall_offset_ns_;
  e.bot_id = r.bot_id;
  errors_.record(std::move(e));
  const RecoveryDecision d = recovery_->attempt_recovery(*type, r.severity, now_ns);
  if (d.action != RecoveryAction::None) publish_recovery(r.name_id, component_id, d, now_ns);
}

void Engine::on_call_outcome(const Record& r, const RecordSource& source, std::uint64_t now_ns) {
  Breaker* c = breaker(r.name_id, now_ns);
  if (!c) return;
  using Scope = BreakerConfig::Scope;
  const Scope scope = c->breaker.config().scope;
  // Once the component's breaker has left CLOSED (host scope: by quorum; any scope: by a
  // command, a stall or an alert) it alone decides, and its probes come from any bot; the
  // bots' own breakers wait for it to close (host scope resets them when it opens).
  if (scope == Scope::Component || c->breaker.state() != BreakerState::Closed) {
    feed_outcome(r.name_id, *c, r, source, now_ns);
    return;
  }
  Breaker* own = bot_breaker(*c, r.bot_id);
  if (!own) {
    feed_outcome(r.name_id, *c, r, source, now_ns);
    return;
  }
  feed_outcome(bot_breaker_ids_.at(std::uint32_t{c->component_id} << 16 | r.bot_id), *own, r, source, now_ns);
}

void Engine::feed_outcome(NameId id, Breaker& b, const Record& r, const RecordSource& source, std::uint64_t now_ns) {
  // An OPEN breaker past its wait goes HALF_OPEN first (issuing its permits), so that this
  // outcome is judged like any other at a HALF_OPEN breaker.
  if (b.breaker.state() == BreakerState::Open)
    if (auto t = b.breaker.tick(now_ns)) publish_transition(id, b, *t, to_string(t->rule));
  // Exactly N probes: at a HALF_OPEN breaker with permits, only a probe outcome (recorded
  // with a permit) from the thread holding that unused permit counts, and uses it up.
  const bool probe = (r.flags & kFlagProbe) != 0;
  if (b.breaker.state() == BreakerState::HalfOpen && b.probe_slots != 0 &&
      !(probe && (replaying_ || probes_.accept(b.probe_slots, source.owner_pid, r.thread_id)))) {
    ++stats_.probe_outcomes_refused;
    return;
  }
  b.last_outcome_ns = now_ns;
  const bool success = (r.flags & kFlagFailure) == 0;
  if (auto t = b.breaker.on_outcome(success, r.value, now_ns)) publish_transition(id, b, *t, to_string(t->rule));
}

std::uint32_t Engine::issue_probes(NameId id, const Breaker& b) {
  const BreakerConfig& cfg = b.breaker.config();
  return probes_.issue(id, cfg.permitted_calls_in_half_open, static_cast<std::uint64_t>(cfg.probe_lease * 1e9));
}

// Host scope: the host-wide breaker trips when enough bots' own breakers are failing (OPEN
// or HALF_OPEN): at least `quorum` of them, and at least quorum_fraction of the bots active
// on the component (an outcome within quorum_window, or failing).
void Engine::check_quorum(NameId id, Breaker& host, std::uint64_t now_ns) {
  if (host.breaker.state() != BreakerState::Closed) return;
  std::uint32_t failing = 0;
  std::uint32_t active = 0;
  const auto window_ns = static_cast<std::uint64_t>(host.breaker.config().quorum_window * 1e9);
  for (NameId own : host.bot_breakers) {
    const Breaker& o = *breakers_by_id_[own];
    const BreakerState st = o.breaker.state();
    const bool is_failing = st == BreakerState::Open || st == BreakerState::HalfOpen;
    const bool recent = o.last_outcome_ns != 0 && now_ns >= o.last_outcome_ns && now_ns - o.last_outcome_ns <= window_ns;
    active += (is_failing || recent) ? 1 : 0;
    failing += is_failing ? 1 : 0;
  }
  const BreakerConfig& cfg = host.breaker.config();
  const auto by_fraction = static_cast<std::uint32_t>(std::ceil(cfg.quorum_fraction * active - 1e-9));
  if (failing < std::max(cfg.quorum, by_fraction)) return;
  if (auto t = host.breaker.trip(now_ns, BreakerRule::Quorum))
    publish_transition(id, host, *t, "quorum: " + std::to_string(failing) + " of " + std::to_string(active) + " bots");
}

// Permits whose holder died, or kept them past the lease without an outcome, go back to the
// pool of their breaker so that another bot can probe.
void Engine::take_back_probes(std::uint64_t now_ns) {
  next_probe_check_ns_ = now_ns + kProbeCheckIntervalNs;
  for (NameId id : timed_breakers_) {
    const Breaker& b = *breakers_by_id_[id];
    if (b.probe_slots == 0) continue;
    for (const ProbePermitPool::TakenBack& t : probes_.take_back(b.probe_slots, now_ns)) {
      ++stats_.probe_permits_taken_back;
      spdlog::info("breaker {}{}: probe permit {} taken back from pid {} tid {} ({})", b.component,
                   b.bot_id ? "@" + name_of(b.bot_id) : std::string(), t.slot, owner_pid(t.owner), owner_tid(t.owner),
                   t.holder_dead ? "holder died" : "lease ran out");
    }
  }
}

void Engine::on_command(const Record& r, std::uint64_t now_ns) {
  const auto id = static_cast<std::uint64_t>(r.value);
  const bool applied = apply_command(r, now_ns);
  board_.acknowledge_command(id, applied ? CommandStatus::Applied : CommandStatus::Rejected);
  ++(applied ? stats_.commands_applied : stats_.commands_rejected);
  if (!applied && log_limiter_.allow("rejected command", now_ns))
    spdlog::warn("rejected command {} ({}) for id {} from bot {}", id, to_string(static_cast<CommandCode>(r.aux_id)),
                 r.name_id, name_of(r.bot_id));
}

bool Engine::apply_command(const Record& r, std::uint64_t now_ns) {
  const auto code = static_cast<CommandCode>(r.aux_id);
  switch (code) {
    case CommandCode::OpenBreaker:
    case CommandCode::CloseBreaker:
    case CommandCode::ForceOpenBreaker:
    case CommandCode::DisableBreaker:
    case CommandCode::ResetBreaker: {
      Breaker* b = breaker(r.name_id, now_ns);
      if (!b) return false;
      std::optional<BreakerTransition> t;
      if (code == CommandCode::OpenBreaker) t = b->breaker.open(now_ns);
      else if (code == CommandCode::CloseBreaker) t = b->breaker.close(now_ns);
      else if (code == CommandCode::ForceOpenBreaker) t = b->breaker.force_open(now_ns);
      else if (code == CommandCode::DisableBreaker) t = b->breaker.disable(now_ns);
      else t = b->breaker.reset(now_ns);
      if (t) publish_transition(r.name_id, *b, *t, "command:" + std::string(to_string(code)));
      // A bot's command takes the breaker over from an external hold: a later resolution
      // must not undo what the bot asked for.
      if (const auto held = external_.find(std::make_pair(true, r.name_id)); held != external_.end()) held->second.forced = false;
      // Closing or resetting also reaches the sender's own breaker (scope bot/host).
      if (code == CommandCode::CloseBreaker || code == CommandCode::ResetBreaker) {
        const auto own = bot_breaker_ids_.find(std::uint32_t{r.name_id} << 16 | r.bot_id);
        if (own != bot_breaker_ids_.end()) {
          Breaker& o = *breakers_by_id_[own->second];
          std::optional<BreakerTransition> ot = code == CommandCode::CloseBreaker ? o.breaker.close(now_ns) : o.breaker.reset(now_ns);
          if (ot) publish_transition(own->second, o, *ot, "command:" + std::string(to_string(code)));
        }
      }
      return true;
    }
    case CommandCode::RegisterStrategy: {
      const std::string* type = name_as(r.name_id, NameKind::ErrorType);
      if (!type) return false;
      auto strategy = parse_strategy_args(r.context_view(), *type, r.severity == Severity::None ? Severity::Medium : r.severity);
      if (!strategy || !recovery_->register_recovery_strategy(*strategy)) return false;
      std::erase_if(command_strategies_, [&](const RecoveryStrategy& s) { return s.error_type == *type; });
      command_strategies_.push_back(*strategy);
      if (log_limiter_.allow("strategy registered by a bot", now_ns))
        spdlog::info("bot {} registered recovery strategy for {}: {} (max_retries {}, backoff {})", name_of(r.bot_id), *type,
                     to_string(strategy->action), strategy->max_retries, format_seconds(strategy->backoff_seconds));
      return true;
    }
    case CommandCode::RequestReport:
      report_requested_ = true;
      return true;
    case CommandCode::ClearShutdown:
      recovery_->clear_shutdown();
      board_.request_shutdown(false);
      shutdown_published_ = false;
      return true;
  }
  return false;
}

void Engine::publish_transition(NameId id, Breaker& b, const BreakerTransition& t, std::string_view why) {
  // Permits exist only while HALF_OPEN: a fresh set on entering it, withdrawn on leaving.
  if (b.probe_slots != 0) {
    probes_.withdraw(b.probe_slots);
    b.probe_slots = 0;
  }
  if (t.to == BreakerState::HalfOpen) {
    b.probe_slots = issue_probes(id, b);
    if (b.probe_slots == 0) ++stats_.probe_permits_unavailable;
  }
  const std::uint64_t open_until_ns = b.breaker.open_until_ns();
  const std::uint64_t open_until_ticks = open_until_ns ? clock_.calibration().to_ticks(open_until_ns) : 0;
  const std::uint64_t seq = board_.set_breaker(id, t.to, open_until_ticks, static_cast<std::uint8_t>(t.rule), b.probe_slots);
  ++stats_.breaker_transitions;
  const bool timed = t.to == BreakerState::Open || t.to == BreakerState::HalfOpen;
  const auto it = std::find(timed_breakers_.begin(), timed_breakers_.end(), id);
  if (timed && it == timed_breakers_.end()) timed_breakers_.push_back(id);
  if (!timed && it != timed_breakers_.end()) timed_breakers_.erase(it);
  char what[160];
  std::snprintf(what, sizeof what, "breaker %s -> %s (failure rate %.1f%%, slow %.1f%%)", std::string(to_string(t.from)).c_str(),
                std::string(to_string(t.to)).c_str(), t.failure_rate, t.slow_rate);
  record_decision(seq, t.now_ns, b.bot_id ? b.component + "@" + name_of(b.bot_id) : b.component, what, std::string(why));

  if (b.bot_id != kNoName) {
    // A bot's own breaker opened: with host scope, maybe a quorum of bots now fails. Counted
    // at the next tick, once the whole batch is in (other bots' outcomes make them active).
    Breaker* host = breakers_by_id_[b.component_id];
    if (t.to == BreakerState::Open && host && host->breaker.config().scope == BreakerConfig::Scope::Host &&
        std::find(quorum_checks_.begin(), quorum_checks_.end(), b.component_id) == quorum_checks_.end())
      quorum_checks_.push_back(b.component_id);
  } else if (t.from == BreakerState::Closed && b.breaker.config().scope == BreakerConfig::Scope::Host) {
    // The host-wide breaker decides from now on: the bots' own breakers start over.
    for (NameId own : b.bot_breakers) {
      Breaker& o = *breakers_by_id_[own];
      if (o.breaker.state() != BreakerState::Closed) publish_transition(own, o, o.breaker.reset(t.now_ns), "host_breaker_opened");
    }
  }
}

void Engine::publish_recovery(NameId type_id, NameId component_id, const RecoveryDecision& d, std::uint64_t now_ns) {
  const std::uint8_t action = static_cast<std::uint8_t>(d.action);
  const std::uint8_t rule = recovery_rule(d.action);
  const std::string rule_name = "recovery:" + std::string(to_string(d.action));
  std::uint64_t seq = 0;
  switch (d.action) {
    case RecoveryAction::Retry:
    case RecoveryAction::Backoff: {
      const std::uint64_t ticks = d.backoff_until_ns ? clock_.calibration().to_ticks(d.backoff_until_ns) : 0;
      seq = board_.update(type_id, [&](BoardEntry& e) {
        e.backoff_until_ns.store(d.backoff_until_ns, std::memory_order_release);
        e.retry_permits.store(d.action == RecoveryAction::Retry ? d.retries_left : 0, std::memory_order_release);
        e.last_action.store(action, std::memory_order_release);
        e.rule.store(rule, std::memory_order_release);
        // Pairs with BoardReader::backoff_until_ticks.
        e.backoff_until_ticks.store(ticks, std::memory_order_release);
      });
      const double wait_s = d.backoff_until_ns > now_ns ? static_cast<double>(d.backoff_until_ns - now_ns) / 1e9 : 0.0;
      record_decision(seq, now_ns, d.error_type,
                      std::string(d.action == RecoveryAction::Retry ? "RETRY #" + std::to_string(d.attempt) + " after "
                                                                    : "BACKOFF ") + format_seconds(wait_s),
                      rule_name);
      break;
    }
    case RecoveryAction::Reset:
      // One RESET decision moves the global epoch by exactly one (layout.hpp: "bumped by every
      // RESET decision"): bump_reset_epoch does that for the error type; the component's entry
      // gets only its own epoch bumped.
      seq = board_.bump_reset_epoch(type_id, action, rule);
      if (component_id != kNoName && component_id != type_id) {
        seq = board_.update(component_id, [&](BoardEntry& e) {
          e.last_action.store(action, std::memory_order_release);
          e.rule.store(rule, std::memory_order_release);
          // Pairs with BoardReader::reset_epoch.
          e.reset_epoch.store(e.reset_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        });
      }
      record_decision(seq, now_ns, d.error_type, "RESET (epoch " + std::to_string(d.reset_epoch) + ")", rule_name);
      break;
    case RecoveryAction::Alert:
      seq = board_.set_retry_permits(type_id, 0, action, rule);
      record_decision(seq, now_ns, d.error_type, "ALERT", rule_name);
      raise_alert(d.alert_key.empty() ? "recovery/" + d.error_type : d.alert_key,
                  "ALERT " + d.error_type + " (" + std::string(to_string(d.severity)) + "): " + d.reason, d.severity, now_ns);
      break;
    case RecoveryAction::Shutdown:
      seq = board_.set_retry_permits(type_id, 0, action, rule);
      board_.request_shutdown(true);
      shutdown_published_ = true;
      record_decision(seq, now_ns, d.error_type, "SHUTDOWN requested", rule_name);
      raise_alert("shutdown/" + d.error_type, "SHUTDOWN requested after " + d.error_type + ": " + d.reason, Severity::Critical, now_ns);
      break;
    case RecoveryAction::None:
      break;
  }
}

void Engine::record_decision(std::uint64_t seq, std::uint64_t now_ns, std::string subject, std::string what, std::string rule) {
  ++stats_.decisions;
  // A bot can command decisions at record rate: those lines are limited (the board and
  // decisions_ still get every one).
  if (!rule.starts_with("command:") || log_limiter_.allow("decision commanded by a bot", now_ns))
    spdlog::info("decision #{}: {}: {} [{}]", seq, subject, what, rule);
  if (decisions_.size() == kMaxPendingDecisions) decisions_.pop_front();
  decisions_.push_back(DecisionEvent{seq, now_ns, std::move(subject), std::move(what), std::move(rule)});
}

void Engine::raise_alert(std::string key, std::string text, Severity severity, std::uint64_t now_ns) {
  ++stats_.alerts;
  spdlog::warn("alert {}: {}", key, text);
  if (alerts_.size() == kMaxPendingAlerts) alerts_.pop_front();
  alerts_.push_back(Alert{std::move(key), std::move(text), severity, static_cast<std::int64_t>(now_ns) + wall_offset_ns_});
}

void Engine::tick(std::uint64_t now_ns) {
  // Only OPEN and HALF_OPEN breakers have a deadline; CLOSED, FORCED_OPEN and DISABLED ones
  // change only on outcomes or commands. Iterate a copy: a transition edits the list.
  if (!timed_breakers_.empty()) {
    const std::vector<NameId> timed = timed_breakers_;
    for (NameId id : timed) {
      Breaker& b = *breakers_by_id_[id];
      if (auto t = b.breaker.tick(now_ns)) publish_transition(id, b, *t, to_string(t->rule));
    }
  }
  for (NameId id : std::exchange(quorum_checks_, {})) check_quorum(id, *breakers_by_id_[id], now_ns);
  fleet_->tick(now_ns);
  if (!external_.empty()) expire_external(now_ns);
  if (now_ns >= next_probe_check_ns_) take_back_probes(now_ns);
  if (now_ns >= next_stall_check_ns_) check_stalls(now_ns);
  if (now_ns >= next_prune_ns_) prune_bots(now_ns);
  if (!dirty_bots_.empty() && now_ns >= next_regrade_ns_) regrade_dirty(now_ns);
  if (now_ns >= next_publish_ns_ || report_requested_) publish_report(now_ns);
  log_limiter_.flush(now_ns);
}

bool Engine::apply_external(const ExternalAction& a, std::uint64_t now_ns) {
  using Kind = ExternalAction::Kind;
  const bool breaker_kind = a.kind == Kind::OpenBreaker || a.kind == Kind::CloseBreaker;
  const NameId id = names_.intern(breaker_kind ? NameKind::Component : NameKind::ErrorType, a.target);
  if (id == kNoName) return false;
  const auto key = std::make_pair(breaker_kind, id);
  if (a.kind == Kind::CloseBreaker || a.kind == Kind::ClearBackoff) {
    const auto it = external_.find(key);
    if (it == external_.end() || it->second.holders.erase(a.holder) == 0) return true;  // not held by it: nothing to undo
    if (it->second.holders.empty()) {
      const bool forced = it->second.forced;
      external_.erase(it);
      release_external(breaker_kind, id, forced, a.source, now_ns);
    } else if (!breaker_kind) {
      publish_external_backoff(id, it->second, a.source, now_ns);  // the latest deadline may be earlier now
    }
    return true;
  }
  Breaker* b = breaker_kind ? breaker(id, now_ns) : nullptr;
  if (breaker_kind && !b) return false;
  ExternalHold& hold = external_[key];
  // Holders are alerts (fingerprints): bounded, so a flood of distinct alerts cannot grow
  // the map, the state file or the time to expire them. The target stays held either way.
  if (hold.holders.size() >= kMaxExternalHolders && !hold.holders.contains(a.holder)) return false;
  hold.holders[a.holder] = a.until_ns;
  if (!breaker_kind) {
    publish_external_backoff(id, hold, a.source, now_ns);
  } else if (auto t = b->breaker.force_open(now_ns)) {
    hold.forced = true;  // ours to close on release
    publish_transition(id, *b, *t, a.source);
  }
  return true;
}

bool Engine::operator_action(OperatorAction action, std::string_view target, std::string_view rule, std::uint64_t now_ns) {
  if (action == OperatorAction::ClearBackoff) {
    const NameId id = names_.find(NameKind::ErrorType, target);
    if (id == kNoName) return false;
    external_.erase(std::make_pair(false, id));  // holds of alerts go too: the operator decided
    recovery_->clear_backoff(target, now_ns);
    const std::uint64_t seq = board_.set_backoff(id, 0, 0, static_cast<std::uint8_t>(RecoveryAction::None), kRuleExternal);
    record_decision(seq, now_ns, name_of(id), "backoff lifted", std::string(rule));
    return true;
  }
  NameId id = names_.find(NameKind::Component, target);
  Breaker* b = id == kNoName ? nullptr : breaker(id, now_ns);
  if (const std::size_t at = target.rfind('@'); !b && at != std::string_view::npos) {
    // "<component>@<bot>": that bot's own breaker (scope bot/host), as the dashboard names it.
    const NameId component = names_.find(NameKind::Component, target.substr(0, at));
    const NameId bot_id = names_.find(NameKind::Bot, target.substr(at + 1));
    const auto own = component == kNoName || bot_id == kNoName ? bot_breaker_ids_.end()
                                                                : bot_breaker_ids_.find(std::uint32_t{component} << 16 | bot_id);
    if (own != bot_breaker_ids_.end()) {
      id = own->second;
      b = breakers_by_id_[id];
    }
  }
  if (!b) return false;
  const std::optional<BreakerTransition> t =
      action == OperatorAction::ForceOpen ? b->breaker.force_open(now_ns) : b->breaker.close(now_ns);
  if (t) publish_transition(id, *b, *t, rule);
  if (const auto held = external_.find(std::make_pair(true, id)); held != external_.end()) held->second.forced = false;
  return true;
}

void Engine::publish_external_backoff(NameId id, const ExternalHold& hold, std::string_view why, std::uint64_t now_ns) {
  // Until the latest deadline any holder asked for; a holder without one holds it until
  // released (published as ten years, so a writer's deadline arithmetic stays finite).
  constexpr std::uint64_t kUntilReleasedNs = 10ULL * 365 * 24 * 3600 * 1'000'000'000ULL;
  std::uint64_t until_ns = now_ns;
  for (const auto& [holder, deadline] : hold.holders) until_ns = std::max(until_ns, deadline ? deadline : now_ns + kUntilReleasedNs);
  const std::uint64_t seq = board_.set_backoff(id, clock_.calibration().to_ticks(until_ns), until_ns,
                                               static_cast<std::uint8_t>(RecoveryAction::Backoff), kRuleExternal);
  board_.set_retry_permits(id, 0, static_cast<std::uint8_t>(RecoveryAction::Backoff), kRuleExternal);
  record_decision(seq, now_ns, name_of(id), "BACKOFF " + format_seconds(static_cast<double>(until_ns - now_ns) / 1e9),
                  std::string(why));
}

void Engine::release_external(bool breaker_kind, NameId id, bool forced, std::string_view why, std::uint64_t now_ns) {
  if (breaker_kind) {
    // Only a breaker the holds themselves forced open, and nobody has taken over since.
    Breaker* b = forced ? breaker(id, now_ns) : nullptr;
    if (b && b->breaker.state() == BreakerState::ForcedOpen)
      if (auto t = b->breaker.close(now_ns)) publish_transition(id, *b, *t, std::string(why));
    return;
  }
  const std::uint64_t seq = board_.set_backoff(id, 0, 0, static_cast<std::uint8_t>(RecoveryAction::None), kRuleExternal);
  record_decision(seq, now_ns, name_of(id), "backoff lifted", std::string(why));
}

void Engine::expire_external(std::uint64_t now_ns) {
  for (auto it = external_.begin(); it != external_.end();) {
    const std::size_t erased =
        std::erase_if(it->second.holders, [&](const auto& h) { return h.second != 0 && h.second <= now_ns; });
    const auto [breaker_kind, id] = it->first;
    if (it->second.holders.empty()) {
      const bool forced = it->second.forced;
      it = external_.erase(it);
      release_external(breaker_kind, id, forced, "external:expired", now_ns);
    } else {
      if (erased != 0 && !breaker_kind) publish_external_backoff(id, it->second, "external:expired", now_ns);
      ++it;
    }
  }
}

HealthStatus Engine::grade(const Bot& b, std::uint64_t now_ns) const {
  if (b.stalled) return HealthStatus::Critical;
  return run_full_health_check(b.monitor, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_)
      .overall_status;
}

// A bot whose records stop (or whose scan loop stops completing) cannot say so itself: the
// reader notices the silence, declares the bot CRITICAL, raises an alert and takes the
// configured action once per stall. Recording again ends the stall.
void Engine::check_stalls(std::uint64_t now_ns) {
  next_stall_check_ns_ = now_ns + 100'000'000;  // 100 ms: stalls are seconds long
  const auto silence = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.stall.max_silence).count());
  const auto scan_gap = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.stall.max_scan_interval).count());
  if (silence == 0 && scan_gap == 0) return;
  for (auto& [id, b] : bots_) {
    if (b.stalled || b.last_seen_ns == 0) continue;
    char reason[96] = {};
    if (silence && now_ns > b.last_seen_ns && now_ns - b.last_seen_ns > silence)
      std::snprintf(reason, sizeof reason, "no record for %.1f s", static_cast<double>(now_ns - b.last_seen_ns) / 1e9);
    else if (scan_gap && b.last_scan_ns && now_ns > b.last_scan_ns && now_ns - b.last_scan_ns > scan_gap)
      std::snprintf(reason, sizeof reason, "no completed scan for %.1f s (max cycle %.1f s)",
                    static_cast<double>(now_ns - b.last_scan_ns) / 1e9, static_cast<double>(scan_gap) / 1e9);
    if (reason[0] == '\0') continue;
    b.stalled = true;
    b.stall_reason = reason;
    report_requested_ = true;
    raise_alert("stall/" + b.name, "bot " + b.name + " stalled: " + reason, Severity::Critical, now_ns);
    switch (config_.stall.action) {
      case StallConfig::Action::Alert:
        break;
      case StallConfig::Action::OpenBreakers:
        for (NameId component : b.components) {
          Breaker* br = breaker(component, now_ns);
          if (!br) continue;
          // With per-bot breakers (scope bot/host) only the stalled bot's own opens.
          NameId target = component;
          if (br->breaker.config().scope != BreakerConfig::Scope::Component) {
            if (Breaker* own = bot_breaker(*br, id)) {
              target = bot_breaker_ids_.at(std::uint32_t{component} << 16 | id);
              br = own;
            }
          }
          if (auto t = br->breaker.open(now_ns)) publish_transition(target, *br, *t, "stall:" + b.name);
        }
        break;
      case StallConfig::Action::Shutdown:
        board_.request_shutdown(true);
        shutdown_published_ = true;
        record_decision(0, now_ns, b.name, "SHUTDOWN requested (stalled)", "stall");
        break;
    }
  }
}

// Bots come and go (restarts under new names, a writer inventing names): each one kept costs
// windows, a report entry and metric series, so a bot silent for prune_bots_after is
// forgotten. Its board health goes back to UNKNOWN; its breakers and error history stay.
void Engine::prune_bots(std::uint64_t now_ns) {
  next_prune_ns_ = now_ns + 1'000'000'000;  // 1 s: pruning is about hours
  const auto after = static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.prune_bots_after).count());
  if (after == 0) return;
  std::size_t pruned = 0;
  for (auto it = bots_.begin(); it != bots_.end();) {
    const Bot& b = it->second;
    if (now_ns <= b.last_seen_ns || now_ns - b.last_seen_ns <= after) {
      ++it;
      continue;
    }
    const NameId id = it->first;
    bots_by_id_[id] = nullptr;
    std::erase(dirty_bots_, id);
    board_.set_health(id, HealthStatus::Unknown);
    it = bots_.erase(it);
    ++pruned;
  }
  if (pruned == 0) return;
  stats_.bots_pruned += pruned;
  report_requested_ = true;
  spdlog::info("forgot {} bot(s) without a record for more than {:.0f} s ([reader] prune_bots_after)", pruned,
               static_cast<double>(after) / 1e9);
}

// Cheap early publication of a status change: grades only the bots that got records (and
// the host, which got them too) and asks for a report when a grade differs from the
// published one. Time-driven changes (errors leaving the window) wait for publish_interval.
void Engine::regrade_dirty(std::uint64_t now_ns) {
  next_regrade_ns_ = now_ns + kRegradeIntervalNs;
  const std::int64_t wall = static_cast<std::int64_t>(now_ns) + wall_offset_ns_;
  HealthStatus overall = run_full_health_check(host_, config_.thresholds, now_ns, wall).overall_status;
  bool changed = false;
  for (NameId id : dirty_bots_) {
    Bot& b = *bots_by_id_[id];
    b.dirty = false;
    changed = changed || grade(b, now_ns) != b.status;
  }
  dirty_bots_.clear();
  for (const auto& [id, b] : bots_) overall = worst(overall, b.status);
  if (changed || overall != published_status_) report_requested_ = true;
}

HealthReport Engine::health_report(std::uint64_t now_ns) const {
  HealthReport report = run_full_health_check(host_, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_);
  for (const auto& [id, b] : bots_) report.overall_status = worst(report.overall_status, b.status);
  return report;
}

std::optional<HealthReport> Engine::bot_health_report(NameId id, std::uint64_t now_ns) const {
  const auto it = bots_.find(id);
  if (it == bots_.end()) return std::nullopt;
  return run_full_health_check(it->second.monitor, config_.thresholds, now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_);
}

ErrorStatistics Engine::error_statistics(std::uint64_t now_ns) const { return errors_.statistics(now_ns); }

std::string Engine::health_summary(std::uint64_t now_ns) const { return format_health_summary(health_report(now_ns)); }

namespace {

// How many entries of each long list a report keeps (npos: all).
struct ReportLimits {
  std::size_t bots = std::string::npos;
  std::size_t breakers = std::string::npos;
  std::size_t error_types = std::string::npos;
  std::size_t recent_errors = std::string::npos;
};

// Severity rank for ordering what a truncated report keeps: worst first.
int status_rank(const std::string& s) {
  if (s == "CRITICAL") return 0;
  if (s == "WARNING") return 1;
  if (s == "UNKNOWN") return 2;
  return 3;
}

}  // namespace

std::string Engine::report_json(std::uint64_t now_ns, std::size_t max_bytes, bool* truncated_out) const {
  if (truncated_out) *truncated_out = false;
  nlohmann::json doc = health_report_to_json(health_report(now_ns));
  nlohmann::json stats = error_statistics_to_json(error_statistics(now_ns));
  // Entries of the long lists, most telling first.
  std::vector<std::pair<std::string, nlohmann::json>> bots;
  bots.reserve(bots_.size());
  for (const auto& [id, b] : bots_) {
    nlohmann::json j = health_report_to_json(run_full_health_check(b.monitor, config_.thresholds, now_ns,
                                                                    static_cast<std::int64_t>(now_ns) + wall_offset_ns_));
    j["last_seen_s_ago"] = b.last_seen_ns && now_ns >= b.last_seen_ns ? static_cast<double>(now_ns - b.last_seen_ns) / 1e9 : 0.0;
    if (b.stalled) {
      j["overall_status"] = "CRITICAL";
      j["stalled"] = b.stall_reason;
    }
    bots.emplace_back(b.name, std::move(j));
  }
  std::vector<std::pair<std::string, nlohmann::json>> breakers;
  breakers.reserve(breakers_.size());
  for (const auto& [id, b] : breakers_) {
    const BreakerMetrics m = b.breaker.metrics();
    nlohmann::json j{{"state", to_string(m.state)},
                     {"failure_rate", m.failure_rate},
                     {"slow_call_rate", m.slow_call_rate},
                     {"calls_in_window", m.calls_in_window},
                     {"consecutive_failures", m.consecutive_failures},
                     {"trips", m.trips}};
    if (m.open_until_ns > now_ns) j["open_for_s"] = static_cast<double>(m.open_until_ns - now_ns) / 1e9;
    if (const auto& t = b.breaker.last_transition()) j["last_rule"] = to_string(t->rule);
    if (b.bot_id != kNoName) {
      j["component"] = b.component;
      j["bot"] = name_of(b.bot_id);
    }
    breakers.emplace_back(b.bot_id != kNoName ? b.component + "@" + name_of(b.bot_id) : b.component, std::move(j));
  }
  // What the board says: a published request stays in force until ClearShutdown.
  doc["shutdown_requested"] = shutdown_published_;

  const auto build = [&](const ReportLimits& limits) {
    nlohmann::json out = doc;
    nlohmann::json st = stats;
    nlohmann::json truncated = nlohmann::json::object();
    const auto keep = [&](auto& list, std::size_t limit, const char* what) {
      if (limit >= list.size()) return list.size();
      truncated[what] = list.size() - limit;
      return limit;
    };
    nlohmann::json kept_bots = nlohmann::json::object();
    for (std::size_t i = 0, n = keep(bots, limits.bots, "bots"); i < n; ++i) kept_bots[bots[i].first] = bots[i].second;
    out["bots"] = std::move(kept_bots);
    nlohmann::json k = nlohmann::json::object();
    for (std::size_t i = 0, n = keep(breakers, limits.breakers, "breakers"); i < n; ++i) k[breakers[i].first] = breakers[i].second;
    out["breakers"] = std::move(k);
    if (nlohmann::json& types = st["errors_by_type"]; types.size() > limits.error_types) {
      std::vector<std::pair<std::string, nlohmann::json>> by_count;
      for (const auto& t : types.items()) by_count.emplace_back(t.key(), t.value());
      std::stable_sort(by_count.begin(), by_count.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
      truncated["errors_by_type"] = by_count.size() - limits.error_types;
      types = nlohmann::json::object();
      for (std::size_t i = 0; i < limits.error_types; ++i) types[by_count[i].first] = by_count[i].second;
    }
    if (nlohmann::json& recent = st["recent_errors"]; recent.size() > limits.recent_errors) {
      truncated["recent_errors"] = recent.size() - limits.recent_errors;
      recent.erase(recent.begin(), recent.end() - static_cast<std::ptrdiff_t>(limits.recent_errors));  // newest kept
    }
    out["error_statistics"] = std::move(st);
    if (!truncated.empty()) {
      truncated["reason"] = "the whole report did not fit the " + std::to_string(max_bytes) +
                            "-byte report page; the worst bots, breakers not CLOSED, the most frequent error types and "
                            "the newest errors are kept; /metrics has every bot";
      out["truncated"] = std::move(truncated);
    }
    return to_json_text(out);
  };

  std::string text = build(ReportLimits{});
  if (text.size() <= max_bytes) return text;
  if (truncated_out) *truncated_out = true;
  // Degrade: order each list by what matters most, then halve what is kept until it fits.
  std::stable_sort(bots.begin(), bots.end(), [](const auto& x, const auto& y) {
    return status_rank(x.second.at("overall_status").template get<std::string>()) <
           status_rank(y.second.at("overall_status").template get<std::string>());
  });
  std::stable_sort(breakers.begin(), breakers.end(), [](const auto& x, const auto& y) {
    return (x.second.at("state") != "CLOSED") > (y.second.at("state") != "CLOSED");
  });
  ReportLimits limits{bots.size(), breakers.size(), stats.at("errors_by_type").size(), stats.at("recent_errors").size()};
  for (;;) {
    limits.bots /= 2, limits.breakers /= 2, limits.error_types /= 2, limits.recent_errors /= 2;
    text = build(limits);
    if (text.size() <= max_bytes) return text;
    if (limits.bots + limits.breakers + limits.error_types + limits.recent_errors == 0) break;
  }
  // Even the lists' skeleton does not fit (a tiny page): the verdict alone.
  return to_json_text(nlohmann::json{{"overall_status", doc.at("overall_status")},
                                     {"truncated", {{"reason", "page too small"}}}});
}

void Engine::publish_report(std::uint64_t now_ns) {
  for (auto& [id, b] : bots_) {
    const HealthStatus s = grade(b, now_ns);
    if (s != b.status) {
      board_.set_health(id, s);
      if (s == HealthStatus::Critical && config_.alerts.on_critical_health)
        raise_alert("health/" + b.name, "bot " + b.name + " health CRITICAL", Severity::Critical, now_ns);
      b.status = s;
    }
  }
  const HealthReport report = health_report(now_ns);
  if (report.overall_status != published_status_) {
    spdlog::info("overall health {} -> {}", to_string(published_status_), to_string(report.overall_status));
    published_status_ = report.overall_status;
  }
  board_.set_overall_health(report.overall_status);
  // Always publishes: a report that does not fit is degraded (report_json), never left stale.
  bool truncated = false;
  const std::string json = report_json(now_ns, report_page_.capacity(), &truncated);
  if (truncated) ++stats_.reports_truncated;
  if (!report_page_.publish(json, report.overall_status, now_ns))
    spdlog::error("report of {} bytes does not fit the report page ({} bytes): not published", json.size(), report_page_.capacity());
  segment_->board().report_seq.fetch_add(1, std::memory_order_release);
  ++stats_.reports_published;
  report_requested_ = false;
  next_publish_ns_ = now_ns + static_cast<std::uint64_t>(std::chrono::nanoseconds(config_.publish_interval).count());
}

void Engine::reload(ReaderConfig config) {
  // Everything that can throw runs before anything changes: a refused config keeps the
  // running one whole.
  auto recovery = std::make_unique<RecoveryEngine>(config.recovery);
  for (const RecoveryStrategy& s : config.strategies) recovery->register_recovery_strategy(s);
  for (const RecoveryStrategy& s : command_strategies_) recovery->register_recovery_strategy(s);
  for (const auto& [id, b] : breakers_) config.breaker_for(b.component).validate();
  auto fleet = std::make_unique<FleetLimits>(*segment_, clock_, config.rate_limits, config.retry_budget);
  config_ = std::move(config);
  fleet_ = std::move(fleet);
  recovery->adopt_state(std::move(*recovery_));
  recovery_ = std::move(recovery);
  for (auto& [id, b] : breakers_) {
    const BreakerConfig& cfg = config_.breaker_for(b.component);
    b.breaker.reconfigure(cfg);
    if (b.bot_id == kNoName)
      board_.set_flags(id, cfg.scope == BreakerConfig::Scope::Component ? 0 : kEntryPerBotBreakers);
  }
  report_requested_ = true;
}

std::vector<Alert> Engine::take_alerts() {
  std::vector<Alert> out(std::make_move_iterator(alerts_.begin()), std::make_move_iterator(alerts_.end()));
  alerts_.clear();
  return out;
}

std::vector<DecisionEvent> Engine::take_decisions() {
  std::vector<DecisionEvent> out(std::make_move_iterator(decisions_.begin()), std::make_move_iterator(decisions_.end()));
  decisions_.clear();
  return out;
}

std::vector<BreakerView> Engine::breakers() const {
  std::vector<BreakerView> out;
  out.reserve(breakers_.size());
  for (const auto& [id, b] : breakers_) out.push_back(BreakerView{id, b.component, b.bot_id ? name_of(b.bot_id) : std::string(), b.breaker.config().scope,
                              b.breaker.metrics(), b.breaker.last_transition()});
  return out;
}

std::vector<BotView> Engine::bots() const {
  std::vector<BotView> out;
  out.reserve(bots_.size());
  for (const auto& [id, b] : bots_) out.push_back(BotView{id, b.name, b.last_seen_ns, &b.monitor});
  return out;
}

}  // namespace telering::reader
