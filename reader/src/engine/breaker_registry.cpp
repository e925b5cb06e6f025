// engine/breaker_registry.cpp — see breaker_registry.hpp.
#include "engine/breaker_registry.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace telering::reader {

namespace {

// How often HALF_OPEN breakers' permits are checked for dead holders and ended leases.
constexpr std::uint64_t kProbeCheckIntervalNs = 100'000'000;

[[nodiscard]] std::uint32_t bot_key(NameId component, NameId bot) noexcept { return std::uint32_t{component} << 16 | bot; }

}  // namespace

BreakerRegistry::BreakerRegistry(const Segment& segment, NameTable& names, BoardWriter& board, const TickClock& clock,
                                 BreakerCounters& counters, Hooks hooks)
    : names_(&names),
      board_(&board),
      clock_(&clock),
      counters_(&counters),
      hooks_(std::move(hooks)),
      by_id_(segment.geometry().name_capacity, nullptr),
      probes_(segment.probe_slots()) {
  probes_.reset_all();
  for (std::uint32_t id = 1; id < segment.geometry().name_capacity; ++id)
    if (board_->reader().probe_slots(static_cast<NameId>(id)) != 0)
      (void)board_->update(static_cast<NameId>(id), [](BoardEntry& e) { e.probe_slots.store(0, std::memory_order_release); });
}

BreakerRegistry::Breaker* BreakerRegistry::component(NameId component_id) {
  if (Breaker* b = by_id_[component_id]) return b;
  const std::string* name = hooks_.component_name(component_id);
  if (!name) return nullptr;
  const BreakerConfig& config = hooks_.config_for(*name);
  Breaker& b = breakers_.emplace(component_id, Breaker{*name, CircuitBreaker(config), component_id}).first->second;
  by_id_[component_id] = &b;
  // Tells writers whether to read their own breaker too (also clears a previous reader's flag).
  board_->set_flags(component_id, config.scope == BreakerConfig::Scope::Component ? 0 : kEntryPerBotBreakers);
  return &b;
}

BreakerRegistry::Breaker* BreakerRegistry::bot_breaker(Breaker& component, NameId bot_id) {
  const std::uint32_t key = bot_key(component.component_id, bot_id);
  if (const auto it = bot_breaker_ids_.find(key); it != bot_breaker_ids_.end()) return by_id_[it->second];
  const NameId id = names_->intern(NameKind::BotBreaker, bot_breaker_name(component.component_id, bot_id).view());
  if (id == kNoName || id >= by_id_.size()) return nullptr;  // table full: the caller pools
  bot_breaker_ids_.emplace(key, id);
  if (Breaker* b = by_id_[id]) return b;
  Breaker& b = breakers_.emplace(id, Breaker{component.component, CircuitBreaker(component.breaker.config()),
                                             component.component_id, bot_id}).first->second;
  by_id_[id] = &b;
  component.bot_breakers.push_back(id);
  return &b;
}

NameId BreakerRegistry::bot_breaker_id(NameId component_id, NameId bot_id) const {
  const auto it = bot_breaker_ids_.find(bot_key(component_id, bot_id));
  return it == bot_breaker_ids_.end() ? kNoName : it->second;
}

std::string BreakerRegistry::subject(const Breaker& b) const {
  return b.bot_id ? b.component + "@" + hooks_.name_of(b.bot_id) : b.component;
}

void BreakerRegistry::on_outcome(const Record& r, const RecordSource& source, std::uint64_t now_ns) {
  Breaker* c = component(r.name_id);
  if (!c) return;
  using Scope = BreakerConfig::Scope;
  const Scope scope = c->breaker.config().scope;
  // Once the component's breaker has left CLOSED (host scope: by quorum; any scope: by a
  // command, a stall or an alert) it alone decides, and its probes come from any bot; the
  // bots' own breakers wait for it to close (host scope resets them when it opens).
  if (scope == Scope::Component || c->breaker.state() != BreakerState::Closed) {
    feed(r.name_id, *c, r, source, now_ns);
    return;
  }
  Breaker* own = bot_breaker(*c, r.bot_id);
  if (!own) {
    feed(r.name_id, *c, r, source, now_ns);
    return;
  }
  feed(bot_breaker_ids_.at(bot_key(c->component_id, r.bot_id)), *own, r, source, now_ns);
}

void BreakerRegistry::feed(NameId id, Breaker& b, const Record& r, const RecordSource& source, std::uint64_t now_ns) {
  // An OPEN breaker past its wait goes HALF_OPEN first (issuing its permits), so that this
  // outcome is judged like any other at a HALF_OPEN breaker.
  if (b.breaker.state() == BreakerState::Open)
    if (auto t = b.breaker.tick(now_ns)) publish(id, b, *t, to_string(t->rule));
  // Exactly N probes: at a HALF_OPEN breaker with permits, only a probe outcome (recorded
  // with a permit) from the thread holding that unused permit counts, and uses it up.
  const bool probe = (r.flags & kFlagProbe) != 0;
  if (b.breaker.state() == BreakerState::HalfOpen && b.probe_slots != 0 &&
      !(probe && (replaying_ || probes_.accept(b.probe_slots, source.owner_pid, r.thread_id)))) {
    ++counters_->probe_outcomes_refused;
    return;
  }
  b.last_outcome_ns = now_ns;
  const bool success = (r.flags & kFlagFailure) == 0;
  if (auto t = b.breaker.on_outcome(success, r.value, now_ns)) publish(id, b, *t, to_string(t->rule));
}

std::uint32_t BreakerRegistry::issue_probes(NameId id, const Breaker& b) {
  const BreakerConfig& cfg = b.breaker.config();
  return probes_.issue(id, cfg.permitted_calls_in_half_open, static_cast<std::uint64_t>(cfg.probe_lease * 1e9));
}

// Host scope: the host-wide breaker trips when enough bots' own breakers are failing (OPEN
// or HALF_OPEN): at least `quorum` of them, and at least quorum_fraction of the bots active
// on the component (an outcome within quorum_window, or failing).
void BreakerRegistry::check_quorum(NameId id, Breaker& host, std::uint64_t now_ns) {
  if (host.breaker.state() != BreakerState::Closed) return;
  std::uint32_t failing = 0;
  std::uint32_t active = 0;
  const auto window_ns = static_cast<std::uint64_t>(host.breaker.config().quorum_window * 1e9);
  for (NameId own : host.bot_breakers) {
    const Breaker& o = *by_id_[own];
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
    publish(id, host, *t, "quorum: " + std::to_string(failing) + " of " + std::to_string(active) + " bots");
}

// Permits whose holder died, or kept them past the lease without an outcome, go back to the
// pool of their breaker so that another bot can probe.
void BreakerRegistry::check_probes(std::uint64_t now_ns) {
  if (now_ns < next_probe_check_ns_) return;
  next_probe_check_ns_ = now_ns + kProbeCheckIntervalNs;
  for (NameId id : timed_) {
    const Breaker& b = *by_id_[id];
    if (b.probe_slots == 0) continue;
    for (const ProbePermitPool::TakenBack& t : probes_.take_back(b.probe_slots, now_ns)) {
      ++counters_->probe_permits_taken_back;
      spdlog::info("breaker {}: probe permit {} taken back from pid {} tid {} ({})", subject(b), t.slot,
                   owner_pid(t.owner), owner_tid(t.owner), t.holder_dead ? "holder died" : "lease ran out");
    }
  }
}

bool BreakerRegistry::command(CommandCode code, NameId component_id, NameId sender_bot, std::uint64_t now_ns) {
  Breaker* b = component(component_id);
  if (!b) return false;
  std::optional<BreakerTransition> t;
  if (code == CommandCode::OpenBreaker) t = b->breaker.open(now_ns);
  else if (code == CommandCode::CloseBreaker) t = b->breaker.close(now_ns);
  else if (code == CommandCode::ForceOpenBreaker) t = b->breaker.force_open(now_ns);
  else if (code == CommandCode::DisableBreaker) t = b->breaker.disable(now_ns);
  else t = b->breaker.reset(now_ns);
  if (t) publish(component_id, *b, *t, "command:" + std::string(to_string(code)));
  // Closing or resetting also reaches the sender's own breaker (scope bot/host).
  if (code == CommandCode::CloseBreaker || code == CommandCode::ResetBreaker) {
    const auto own = bot_breaker_ids_.find(bot_key(component_id, sender_bot));
    if (own != bot_breaker_ids_.end()) {
      Breaker& o = *by_id_[own->second];
      std::optional<BreakerTransition> ot = code == CommandCode::CloseBreaker ? o.breaker.close(now_ns) : o.breaker.reset(now_ns);
      if (ot) publish(own->second, o, *ot, "command:" + std::string(to_string(code)));
    }
  }
  return true;
}

void BreakerRegistry::open_for_bot(NameId component_id, NameId bot_id, std::uint64_t now_ns, std::string_view why) {
  Breaker* br = component(component_id);
  if (!br) return;
  // With per-bot breakers (scope bot/host) only the bot's own opens.
  NameId target = component_id;
  if (br->breaker.config().scope != BreakerConfig::Scope::Component) {
    if (Breaker* own = bot_breaker(*br, bot_id)) {
      target = bot_breaker_ids_.at(bot_key(component_id, bot_id));
      br = own;
    }
  }
  if (auto t = br->breaker.open(now_ns)) publish(target, *br, *t, why);
}

void BreakerRegistry::publish(NameId id, Breaker& b, const BreakerTransition& t, std::string_view why) {
  // Permits exist only while HALF_OPEN: a fresh set on entering it, withdrawn on leaving.
  if (b.probe_slots != 0) {
    probes_.withdraw(b.probe_slots);
    b.probe_slots = 0;
  }
  if (t.to == BreakerState::HalfOpen) {
    b.probe_slots = issue_probes(id, b);
    if (b.probe_slots == 0) ++counters_->probe_permits_unavailable;
  }
  const std::uint64_t open_until_ns = b.breaker.open_until_ns();
  const std::uint64_t open_until_ticks = open_until_ns ? clock_->calibration().to_ticks(open_until_ns) : 0;
  const std::uint64_t seq = board_->set_breaker(id, t.to, open_until_ticks, static_cast<std::uint8_t>(t.rule), b.probe_slots);
  ++counters_->breaker_transitions;
  const bool timed = t.to == BreakerState::Open || t.to == BreakerState::HalfOpen;
  const auto it = std::find(timed_.begin(), timed_.end(), id);
  if (timed && it == timed_.end()) timed_.push_back(id);
  if (!timed && it != timed_.end()) timed_.erase(it);
  char what[160];
  std::snprintf(what, sizeof what, "breaker %s -> %s (failure rate %.1f%%, slow %.1f%%)", std::string(to_string(t.from)).c_str(),
                std::string(to_string(t.to)).c_str(), t.failure_rate, t.slow_rate);
  hooks_.decide(seq, t.now_ns, subject(b), what, std::string(why));

  if (b.bot_id != kNoName) {
    // A bot's own breaker opened: with host scope, maybe a quorum of bots now fails. Counted
    // at the next tick, once the whole batch is in (other bots' outcomes make them active).
    Breaker* host = by_id_[b.component_id];
    if (t.to == BreakerState::Open && host && host->breaker.config().scope == BreakerConfig::Scope::Host &&
        std::find(quorum_checks_.begin(), quorum_checks_.end(), b.component_id) == quorum_checks_.end())
      quorum_checks_.push_back(b.component_id);
  } else if (t.from == BreakerState::Closed && b.breaker.config().scope == BreakerConfig::Scope::Host) {
    // The host-wide breaker decides from now on: the bots' own breakers start over.
    for (NameId own : b.bot_breakers) {
      Breaker& o = *by_id_[own];
      if (o.breaker.state() != BreakerState::Closed) publish(own, o, o.breaker.reset(t.now_ns), "host_breaker_opened");
    }
  }
}

void BreakerRegistry::tick(std::uint64_t now_ns) {
  // Only OPEN and HALF_OPEN breakers have a deadline; CLOSED, FORCED_OPEN and DISABLED ones
  // change only on outcomes or commands. Iterate a copy: a transition edits the list.
  if (!timed_.empty()) {
    const std::vector<NameId> timed = timed_;
    for (NameId id : timed) {
      Breaker& b = *by_id_[id];
      if (auto t = b.breaker.tick(now_ns)) publish(id, b, *t, to_string(t->rule));
    }
  }
  for (NameId id : std::exchange(quorum_checks_, {})) check_quorum(id, *by_id_[id], now_ns);
}

void BreakerRegistry::validate(const std::function<const BreakerConfig&(std::string_view)>& next) const {
  for (const auto& [id, b] : breakers_) next(b.component).validate();
}

void BreakerRegistry::reconfigure() {
  for (auto& [id, b] : breakers_) {
    const BreakerConfig& cfg = hooks_.config_for(b.component);
    b.breaker.reconfigure(cfg);
    if (b.bot_id == kNoName)
      board_->set_flags(id, cfg.scope == BreakerConfig::Scope::Component ? 0 : kEntryPerBotBreakers);
  }
}

std::size_t BreakerRegistry::republish(std::uint64_t now_ns) {
  std::size_t open = 0;
  timed_.clear();
  for (auto& [id, b] : breakers_) {
    const BreakerState s = b.breaker.state();
    const std::uint64_t until = b.breaker.open_until_ns();
    const std::uint8_t rule = static_cast<std::uint8_t>(b.breaker.last_transition() ? b.breaker.last_transition()->rule : BreakerRule::Reset);
    if (b.probe_slots != 0) probes_.withdraw(b.probe_slots);
    b.probe_slots = 0;
    if (s == BreakerState::HalfOpen) b.probe_slots = issue_probes(id, b);
    const std::uint64_t seq = board_->set_breaker(id, s, until ? clock_->calibration().to_ticks(until) : 0, rule, b.probe_slots);
    if (s == BreakerState::Open || s == BreakerState::HalfOpen) timed_.push_back(id);
    if (s != BreakerState::Closed) {
      ++open;
      hooks_.decide(seq, now_ns, b.component, "breaker " + std::string(to_string(s)) + " restored", "restore");
    }
  }
  return open;
}

}  // namespace telering::reader
