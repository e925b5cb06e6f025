// recovery.cpp — RecoveryEngine decisions; the rules are stated in recovery.hpp.
#include "evaluate/recovery.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

#include "common/fnv1a.hpp"

namespace telering::reader {
namespace {

[[nodiscard]] Severity max_severity(Severity a, Severity b) noexcept {
  return static_cast<std::uint8_t>(a) >= static_cast<std::uint8_t>(b) ? a : b;
}

[[nodiscard]] std::string describe_ns(std::uint64_t ns) {
  return std::to_string(ns / 1'000'000) + " ms";
}

}  // namespace

std::string_view to_string(RecoveryAction a) noexcept {
  switch (a) {
    case RecoveryAction::None: return "none";
    case RecoveryAction::Retry: return "retry";
    case RecoveryAction::Backoff: return "backoff";
    case RecoveryAction::Reset: return "reset";
    case RecoveryAction::Alert: return "alert";
    case RecoveryAction::Shutdown: return "shutdown";
  }
  return "invalid";
}

std::vector<RecoveryStrategy> RecoveryEngine::built_in_strategies() {
  std::vector<RecoveryStrategy> v;
  RecoveryStrategy rate_limit;
  rate_limit.error_type = "api_rate_limit";
  rate_limit.severity = Severity::Medium;
  rate_limit.action = RecoveryAction::Backoff;
  rate_limit.backoff_seconds = 30.0;
  v.push_back(std::move(rate_limit));

  RecoveryStrategy connection;
  connection.error_type = "api_connection";
  connection.severity = Severity::High;
  connection.action = RecoveryAction::Retry;
  connection.max_retries = 5;
  connection.backoff = BackoffPolicy::seed_compatible(5, 2.0);
  v.push_back(std::move(connection));

  RecoveryStrategy balance;
  balance.error_type = "insufficient_balance";
  balance.severity = Severity::High;
  balance.action = RecoveryAction::Alert;
  v.push_back(std::move(balance));

  RecoveryStrategy position;
  position.error_type = "position_not_found";
  position.severity = Severity::Medium;
  position.action = RecoveryAction::Reset;
  v.push_back(std::move(position));

  RecoveryStrategy critical;
  critical.error_type = "critical_system_error";
  critical.severity = Severity::Critical;
  critical.action = RecoveryAction::Alert;
  v.push_back(std::move(critical));
  return v;
}

RecoveryEngine::RecoveryEngine(const RecoveryConfig& config) : config_(config) {
  if (!(config_.incident_quiet_seconds > 0.0 && std::isfinite(config_.incident_quiet_seconds)))
    throw std::invalid_argument("recovery config: incident_quiet_seconds = " +
                                std::to_string(config_.incident_quiet_seconds) + " must be > 0 and finite");
  if (config_.max_tracked_types == 0)
    throw std::invalid_argument("recovery config: max_tracked_types must be >= 1");
  auto built_ins = built_in_strategies();
  if (config_.max_strategies < built_ins.size())
    throw std::invalid_argument("recovery config: max_strategies = " + std::to_string(config_.max_strategies) +
                                " must be >= " + std::to_string(built_ins.size()) + " (the built-ins)");
  quiet_ns_ = telering::detail::backoff_seconds_to_ns(config_.incident_quiet_seconds);
  for (auto& s : built_ins) register_recovery_strategy(std::move(s));
}

bool RecoveryEngine::register_recovery_strategy(RecoveryStrategy strategy) {
  if (strategy.error_type.empty()) return false;
  if (static_cast<std::uint8_t>(strategy.action) > kMaxRecoveryAction) return false;
  auto it = strategies_.find(strategy.error_type);
  if (it == strategies_.end() && strategies_.size() >= config_.max_strategies) return false;
  // The new rules start from a fresh incident. Dropping the state cannot move the type's
  // reset epoch backwards: epochs are stamped from the global one (see attempt_recovery).
  if (auto st = states_.find(strategy.error_type); st != states_.end()) states_.erase(st);
  std::string key = strategy.error_type;
  strategies_.insert_or_assign(std::move(key), std::move(strategy));
  return true;
}

bool RecoveryEngine::register_recovery_strategy(std::string error_type, Severity severity, RecoveryAction action,
                                                std::uint32_t max_retries, std::map<std::string, std::string> params) {
  RecoveryStrategy s;
  s.error_type = std::move(error_type);
  s.severity = severity;
  s.action = action;
  s.max_retries = max_retries;
  s.backoff = BackoffPolicy::seed_compatible(max_retries, 2.0);
  s.params = std::move(params);
  return register_recovery_strategy(std::move(s));
}

bool RecoveryEngine::remove_recovery_strategy(std::string_view error_type) {
  auto it = strategies_.find(error_type);
  if (it == strategies_.end()) return false;
  strategies_.erase(it);
  if (auto st = states_.find(error_type); st != states_.end()) states_.erase(st);
  return true;
}

const RecoveryStrategy* RecoveryEngine::strategy(std::string_view error_type) const {
  auto it = strategies_.find(error_type);
  return it == strategies_.end() ? nullptr : &it->second;
}

std::optional<RecoveryTypeState> RecoveryEngine::state(std::string_view error_type) const {
  auto it = states_.find(error_type);
  if (it == states_.end()) return std::nullopt;
  return it->second.s;
}

bool RecoveryEngine::clear_backoff(std::string_view error_type, std::uint64_t now_ns) noexcept {
  const auto it = states_.find(error_type);
  if (it == states_.end() || it->second.s.backoff_until_ns <= now_ns) return false;
  it->second.s.backoff_until_ns = 0;
  return true;
}

std::vector<std::pair<std::string, RecoveryTypeState>> RecoveryEngine::states() const {
  std::vector<std::pair<std::string, RecoveryTypeState>> out;
  out.reserve(states_.size());
  for (const auto& [type, e] : states_) out.emplace_back(type, e.s);
  return out;
}

std::optional<RecoveryStrategy> RecoveryEngine::effective_strategy(std::string_view error_type,
                                                                   Severity severity) const {
  if (const RecoveryStrategy* s = strategy(error_type)) return *s;
  if (severity == Severity::Critical && config_.alert_on_unknown_critical) {
    RecoveryStrategy implicit;
    implicit.error_type = std::string(error_type);
    implicit.severity = Severity::Critical;
    implicit.action = RecoveryAction::Alert;
    return implicit;
  }
  return std::nullopt;
}

// Guarded against time going backwards (a replay): an earlier `now` never ends an incident.
bool RecoveryEngine::incident_over(const RecoveryTypeState& s, std::uint64_t now_ns) const noexcept {
  return s.incident == 0 || (now_ns >= s.last_error_ns && now_ns - s.last_error_ns >= quiet_ns_);
}

// The should_trigger rule, for the state as it would be at now_ns before recording the error.
bool RecoveryEngine::permits(const RecoveryStrategy& st, const RecoveryTypeState* s, std::uint64_t now_ns) const {
  const bool fresh = s == nullptr || incident_over(*s, now_ns);
  const std::uint32_t attempts = fresh ? 0 : s->attempts;
  switch (st.action) {
    case RecoveryAction::Retry:
    case RecoveryAction::Reset:
      return attempts < st.max_retries;
    case RecoveryAction::Backoff:
      return s == nullptr || now_ns >= s->backoff_until_ns;
    case RecoveryAction::Alert:
      return fresh || !s->alerted;
    case RecoveryAction::Shutdown:
      return !shutdown_;
    case RecoveryAction::None:
      return false;
  }
  return false;
}

bool RecoveryEngine::should_trigger_recovery(std::string_view error_type, std::uint64_t now_ns,
                                             Severity severity) const {
  const auto st = effective_strategy(error_type, severity);
  if (!st) return false;
  auto it = states_.find(error_type);
  return permits(*st, it == states_.end() ? nullptr : &it->second.s, now_ns);
}

std::uint64_t RecoveryEngine::backoff_seed(std::string_view error_type, std::uint64_t incident) const noexcept {
  return config_.seed ^ fnv1a64(error_type) ^ (incident * 0x9E3779B97F4A7C15ULL);
}

// Finds or creates the type's state and rolls it into a new incident when the previous one
// is over. Creating past max_tracked_types first forgets the least recently erring type.
RecoveryEngine::TypeEntry& RecoveryEngine::touch(std::string_view error_type, const RecoveryStrategy& st,
                                                 std::uint64_t now_ns) {
  auto it = states_.find(error_type);
  if (it == states_.end()) {
    if (states_.size() >= config_.max_tracked_types) {
      auto victim = std::min_element(states_.begin(), states_.end(), [](const auto& a, const auto& b) {
        return a.second.s.last_error_ns < b.second.s.last_error_ns;
      });
      states_.erase(victim);
      ++evicted_;
    }
    it = states_.emplace(std::string(error_type), TypeEntry{RecoveryTypeState{}, Backoff(st.backoff)}).first;
  }
  TypeEntry& e = it->second;
  if (incident_over(e.s, now_ns)) {
    e.s.incident += 1;
    e.s.incident_started_ns = now_ns;
    e.s.errors_in_incident = 0;
    e.s.attempts = 0;
    e.s.alerted = false;
    BackoffPolicy policy = st.backoff;
    if (st.action == RecoveryAction::Retry) policy.max_attempts = st.max_retries;
    if (st.action == RecoveryAction::Backoff) policy.max_attempts = UINT32_MAX;  // a rate limit never gives up
    e.backoff = Backoff(policy, backoff_seed(error_type, e.s.incident));
  }
  e.s.last_error_ns = std::max(e.s.last_error_ns, now_ns);
  e.s.errors_in_incident += 1;
  return e;
}

void RecoveryEngine::rebuild_backoff(std::string_view error_type, TypeEntry& e) const {
  const RecoveryStrategy* st = strategy(error_type);
  if (st == nullptr || e.s.incident == 0) {
    e.backoff = Backoff(st ? st->backoff : BackoffPolicy{});
    return;
  }
  // Same policy and seed as touch() picks for a new incident.
  BackoffPolicy policy = st->backoff;
  if (st->action == RecoveryAction::Retry) policy.max_attempts = st->max_retries;
  if (st->action == RecoveryAction::Backoff) policy.max_attempts = UINT32_MAX;
  e.backoff = Backoff(policy, backoff_seed(error_type, e.s.incident));
  // Only RETRY and a BACKOFF without a fixed wait draw one delay per attempt.
  const bool draws = st->action == RecoveryAction::Retry ||
                     (st->action == RecoveryAction::Backoff && !(st->backoff_seconds > 0.0));
  if (draws)
    for (std::uint32_t i = 0; i < e.s.attempts; ++i) (void)e.backoff.next_delay_ns();
}

void RecoveryEngine::adopt_state(RecoveryEngine&& previous) {
  states_ = std::move(previous.states_);
  previous.states_.clear();
  while (states_.size() > config_.max_tracked_types) {
    auto victim = std::min_element(states_.begin(), states_.end(), [](const auto& a, const auto& b) {
      return a.second.s.last_error_ns < b.second.s.last_error_ns;
    });
    states_.erase(victim);
    ++previous.evicted_;
  }
  for (auto& [type, entry] : states_) rebuild_backoff(type, entry);
  global_reset_epoch_ = std::max(global_reset_epoch_, previous.global_reset_epoch_);
  evicted_ += previous.evicted_;
  shutdown_ = shutdown_ || previous.shutdown_;
}

RecoveryDecision RecoveryEngine::attempt_recovery(std::string_view error_type, Severity severity,
                                                  std::uint64_t now_ns) {
  RecoveryDecision d;
  d.error_type = std::string(error_type);
  d.severity = severity;
  const auto st = effective_strategy(error_type, severity);
  if (!st) {
    d.shutdown = shutdown_;
    d.reason = "no recovery strategy for '" + d.error_type + "' and severity " +
               std::string(telering::to_string(severity)) + " is below CRITICAL";
    return d;
  }
  const RecoveryStrategy& strat = *st;
  d.severity = max_severity(strat.severity, severity);

  auto existing = states_.find(error_type);
  const bool permitted = permits(strat, existing == states_.end() ? nullptr : &existing->second.s, now_ns);
  TypeEntry& e = touch(error_type, strat, now_ns);
  RecoveryTypeState& s = e.s;
  d.incident = s.incident;
  d.reset_epoch = s.reset_epoch;

  if (!permitted) {
    switch (strat.action) {
      case RecoveryAction::Retry:
        d.reason = "retries exhausted: " + std::to_string(s.attempts) + " of " + std::to_string(strat.max_retries) +
                   " in this incident";
        break;
      case RecoveryAction::Reset:
        d.reason = "reset limit reached: " + std::to_string(s.attempts) + " of " + std::to_string(strat.max_retries) +
                   " in this incident";
        break;
      case RecoveryAction::Backoff:
        d.backoff_until_ns = s.backoff_until_ns;
        d.reason = "backoff already active for another " + describe_ns(s.backoff_until_ns - now_ns);
        break;
      case RecoveryAction::Alert:
        d.alert_key = "recovery/" + d.error_type;
        d.reason = "alert already raised in this incident (key " + d.alert_key + ")";
        break;
      case RecoveryAction::Shutdown:
        d.reason = "shutdown already requested";
        break;
      case RecoveryAction::None:
        d.reason = "strategy action is none";
        break;
    }
    d.shutdown = shutdown_;
    return d;
  }

  switch (strat.action) {
    case RecoveryAction::Retry: {
      const auto delay = e.backoff.next_delay_ns();
      if (!delay) {
        d.reason = "retry backoff budget exhausted after " + std::to_string(s.attempts) + " retries";
        break;
      }
      s.attempts += 1;
      s.backoff_until_ns = telering::detail::backoff_add_saturating(now_ns, *delay);
      d.action = RecoveryAction::Retry;
      d.attempt = s.attempts;
      d.retry_allowed = true;
      d.backoff_until_ns = s.backoff_until_ns;
      d.retries_left = strat.max_retries - s.attempts;
      d.reason = "retry " + std::to_string(s.attempts) + " of " + std::to_string(strat.max_retries) + " after " +
                 describe_ns(*delay);
      break;
    }
    case RecoveryAction::Backoff: {
      std::uint64_t delay = 0;
      if (strat.backoff_seconds > 0.0) {
        delay = telering::detail::backoff_seconds_to_ns(strat.backoff_seconds);
      } else {
        // max_attempts is lifted for BACKOFF (touch); only max_total_seconds can stop the
        // sequence, and then the cap keeps applying: a rate limit is never "given up on".
        delay = e.backoff.next_delay_ns().value_or(telering::detail::backoff_seconds_to_ns(strat.backoff.cap_seconds));
      }
      s.attempts += 1;
      s.backoff_until_ns = telering::detail::backoff_add_saturating(now_ns, delay);
      d.action = RecoveryAction::Backoff;
      d.attempt = s.attempts;
      d.retry_allowed = true;
      d.backoff_until_ns = s.backoff_until_ns;
      d.reason = "back off for " + describe_ns(delay);
      break;
    }
    case RecoveryAction::Reset:
      s.attempts += 1;
      // The type's epoch is stamped from the global one so it only grows, even if the type
      // is evicted and tracked again later (a bot compares epochs to notice a reset).
      global_reset_epoch_ += 1;
      s.reset_epoch = global_reset_epoch_;
      d.action = RecoveryAction::Reset;
      d.attempt = s.attempts;
      d.reset_epoch = s.reset_epoch;
      d.reason = "reset " + std::to_string(s.attempts) + " of " + std::to_string(strat.max_retries) +
                 " in this incident, epoch " + std::to_string(s.reset_epoch);
      break;
    case RecoveryAction::Alert:
      s.alerted = true;
      d.action = RecoveryAction::Alert;
      d.attempt = 1;
      d.alert_key = "recovery/" + d.error_type;
      d.reason = std::string(telering::to_string(d.severity)) + " " + d.error_type + ": alert raised";
      break;
    case RecoveryAction::Shutdown:
      shutdown_ = true;
      d.action = RecoveryAction::Shutdown;
      d.attempt = 1;
      d.reason = "shutdown requested by " + d.error_type;
      break;
    case RecoveryAction::None:
      break;
  }
  d.shutdown = shutdown_;
  return d;
}

}  // namespace telering::reader
