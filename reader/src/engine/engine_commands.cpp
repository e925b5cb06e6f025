// engine/engine_commands.cpp — decisions asked for from outside the engine's own rules:
// bots' commands (breaker control, recovery strategies, report and shutdown requests) and
// external holds (the Alertmanager webhook's open-breaker and backoff actions, each held by
// its alerts until the last one resolves or its deadline passes).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/engine.hpp"
#include "engine/engine_detail.hpp"

namespace telering::reader {

namespace {

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
      if (!breakers_->command(code, r.name_id, r.bot_id, now_ns)) return false;
      // A bot's command takes the breaker over from an external hold: a later resolution
      // must not undo what the bot asked for.
      if (const auto held = external_.find(std::make_pair(true, r.name_id)); held != external_.end()) held->second.forced = false;
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
                     to_string(strategy->action), strategy->max_retries, detail::format_seconds(strategy->backoff_seconds));
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
  BreakerRegistry::Breaker* b = breaker_kind ? breakers_->component(id) : nullptr;
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
    breakers_->publish(id, *b, *t, a.source);
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
  BreakerRegistry::Breaker* b = id == kNoName ? nullptr : breakers_->component(id);
  if (const std::size_t at = target.rfind('@'); !b && at != std::string_view::npos) {
    // "<component>@<bot>": that bot's own breaker (scope bot/host), as the dashboard names it.
    const NameId component = names_.find(NameKind::Component, target.substr(0, at));
    const NameId bot_id = names_.find(NameKind::Bot, target.substr(at + 1));
    const NameId own = component == kNoName || bot_id == kNoName ? kNoName : breakers_->bot_breaker_id(component, bot_id);
    if (own != kNoName) {
      id = own;
      b = breakers_->find(own);
    }
  }
  if (!b) return false;
  const std::optional<BreakerTransition> t =
      action == OperatorAction::ForceOpen ? b->breaker.force_open(now_ns) : b->breaker.close(now_ns);
  if (t) breakers_->publish(id, *b, *t, rule);
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
  record_decision(seq, now_ns, name_of(id), "BACKOFF " + detail::format_seconds(static_cast<double>(until_ns - now_ns) / 1e9),
                  std::string(why));
}

void Engine::release_external(bool breaker_kind, NameId id, bool forced, std::string_view why, std::uint64_t now_ns) {
  if (breaker_kind) {
    // Only a breaker the holds themselves forced open, and nobody has taken over since.
    BreakerRegistry::Breaker* b = forced ? breakers_->component(id) : nullptr;
    if (b && b->breaker.state() == BreakerState::ForcedOpen)
      if (auto t = b->breaker.close(now_ns)) breakers_->publish(id, *b, *t, why);
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

}  // namespace telering::reader
