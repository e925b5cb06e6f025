// engine/engine.cpp — the Engine's record path: records routed to the aggregates, the
// recovery engine and the breaker registry; decisions and alerts queued; tick and reload.
// Commands and external holds: engine_commands.cpp; health, stalls and the report:
// engine_health.cpp; the state file's part: engine_state.cpp; a takeover: engine_takeover.cpp.
#include "engine/engine.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/safe_text.hpp"
#include "engine/engine_detail.hpp"

namespace telering::reader {

namespace {

constexpr std::size_t kMaxPendingDecisions = 4096;
constexpr std::size_t kMaxPendingAlerts = 1024;
// A record stamped further than this from the reader's clock has a bogus timestamp (or a
// clock from another boot): it is aggregated at the reader's time instead.
constexpr std::uint64_t kMaxRecordAgeNs = 600'000'000'000ULL;

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
  // After normalise_versions: the registry clears a previous reader's permit ranges on the board.
  BreakerRegistry::Hooks hooks;
  hooks.decide = [this](std::uint64_t seq, std::uint64_t now, std::string subject, std::string what, std::string rule) {
    record_decision(seq, now, std::move(subject), std::move(what), std::move(rule));
  };
  hooks.name_of = [this](NameId id) -> const std::string& { return name_of(id); };
  hooks.component_name = [this](NameId id) { return name_as(id, NameKind::Component); };
  hooks.config_for = [this](std::string_view component) -> const BreakerConfig& { return config_.breaker_for(component); };
  breakers_ = std::make_unique<BreakerRegistry>(segment, names_, board_, clock_, stats_, std::move(hooks));
  const std::uint32_t ids = segment.geometry().name_capacity;
  bots_by_id_.assign(ids, nullptr);
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
  breakers_->on_outcome(r, source, now_ns);
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
                                                                    : "BACKOFF ") + detail::format_seconds(wait_s),
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
  breakers_->tick(now_ns);
  fleet_->tick(now_ns);
  if (!external_.empty()) expire_external(now_ns);
  breakers_->check_probes(now_ns);
  if (now_ns >= next_stall_check_ns_) check_stalls(now_ns);
  if (now_ns >= next_prune_ns_) prune_bots(now_ns);
  if (!dirty_bots_.empty() && now_ns >= next_regrade_ns_) regrade_dirty(now_ns);
  if (now_ns >= next_publish_ns_ || report_requested_) publish_report(now_ns);
  log_limiter_.flush(now_ns);
}
void Engine::reload(ReaderConfig config) {
  // Everything that can throw runs before anything changes: a refused config keeps the
  // running one whole.
  auto recovery = std::make_unique<RecoveryEngine>(config.recovery);
  for (const RecoveryStrategy& s : config.strategies) recovery->register_recovery_strategy(s);
  for (const RecoveryStrategy& s : command_strategies_) recovery->register_recovery_strategy(s);
  breakers_->validate([&config](std::string_view component) -> const BreakerConfig& { return config.breaker_for(component); });
  auto fleet = std::make_unique<FleetLimits>(*segment_, clock_, config.rate_limits, config.retry_budget);
  config_ = std::move(config);
  fleet_ = std::move(fleet);
  recovery->adopt_state(std::move(*recovery_));
  recovery_ = std::move(recovery);
  breakers_->reconfigure();
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
  out.reserve(breakers_->all().size());
  for (const auto& [id, b] : breakers_->all()) out.push_back(BreakerView{id, b.component, b.bot_id ? name_of(b.bot_id) : std::string(), b.breaker.config().scope,
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
