// Engine::reconcile_board — a reader taking over a segment owns every decision on its board.
//
// A previous reader may have died (SIGKILL, OOM) leaving breakers OPEN or FORCED_OPEN and
// backoffs in force, and a new reader may start without its state (no state file, a refused
// one, or a snapshot older than the decision). Nothing may stay in force without a reader to
// end it: that is a silent trading halt. So every entry the engine does not own after
// restore_state is adopted — an OPEN or HALF_OPEN breaker is OPEN until its deadline and then
// probes as usual — or, where nothing can end it (FORCED_OPEN with no holder, DISABLED, a
// corrupt state, an entry a killed reader left half-written), closed, with a decision logged.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

#include "engine/engine.hpp"

namespace telering::reader {
namespace {

// A backoff left by a previous reader runs to its deadline unless that is further than this.
constexpr std::uint64_t kMaxAdoptedBackoffNs = 3'600'000'000'000ULL;  // 1 h

// "<component id>@<bot id>" (bot_breaker_name) back to its ids; false if it is not one.
bool parse_bot_breaker(std::string_view text, NameId& component, NameId& bot) {
  const std::size_t at = text.find('@');
  if (at == std::string_view::npos) return false;
  const auto c = std::from_chars(text.data(), text.data() + at, component);
  const auto b = std::from_chars(text.data() + at + 1, text.data() + text.size(), bot);
  return c.ec == std::errc{} && c.ptr == text.data() + at && b.ec == std::errc{} && b.ptr == text.data() + text.size() &&
         component != kNoName && bot != kNoName;
}

}  // namespace

BreakerRegistry::Breaker* Engine::breaker_for_entry(NameId id) {
  const CachedName* n = resolve(id);
  if (!n) return nullptr;
  if (n->kind == NameKind::Component) return breakers_->component(id);
  NameId component = kNoName, bot_id = kNoName;
  if (n->kind != NameKind::BotBreaker || !parse_bot_breaker(n->text, component, bot_id)) return nullptr;
  if (component >= breakers_->id_capacity() || bot_id >= breakers_->id_capacity()) return nullptr;
  BreakerRegistry::Breaker* c = breakers_->component(component);
  if (!c || c->breaker.config().scope == BreakerConfig::Scope::Component) return nullptr;
  BreakerRegistry::Breaker* own = breakers_->bot_breaker(*c, bot_id);
  return own && breakers_->bot_breaker_id(component, bot_id) == id ? own : nullptr;
}

void Engine::reconcile_board(std::uint64_t now_ns) {
  const BoardReader board = board_.reader();
  const TickCalibration& cal = clock_.calibration();
  std::size_t adopted = 0, closed = 0, lifted = 0;
  for (std::uint32_t i = 1; i < breakers_->id_capacity(); ++i) {
    const auto id = static_cast<NameId>(i);
    const BoardSnapshot s = board.snapshot(id);  // consistent: normalised, and only we write it
    const bool torn = std::find(torn_entries_.begin(), torn_entries_.end(), id) != torn_entries_.end();
    const auto state = static_cast<std::uint8_t>(s.breaker_state);

    const BreakerRegistry::Breaker* owned = breakers_->find(id);
    if (state != static_cast<std::uint8_t>(BreakerState::Closed) &&
        (torn || !owned || static_cast<std::uint8_t>(owned->breaker.state()) != state)) {
      BreakerRegistry::Breaker* b = torn ? nullptr : breaker_for_entry(id);
      const std::string subject = b && b->bot_id ? b->component + "@" + name_of(b->bot_id) : name_of(id);
      if (b && (s.breaker_state == BreakerState::Open || s.breaker_state == BreakerState::HalfOpen)) {
        // OPEN until its deadline, never longer than this reader's own longest wait.
        std::uint64_t until = s.breaker_state == BreakerState::Open && s.open_until_ticks ? cal.to_ns(s.open_until_ticks) : now_ns;
        until = std::min(until, now_ns + b->breaker.next_wait_ns());
        breakers_->publish(id, *b, b->breaker.adopt_open(now_ns, until), "takeover: adopted from a previous reader");
        if (auto t = b->breaker.tick(now_ns)) breakers_->publish(id, *b, *t, to_string(t->rule));
        ++adopted;
      } else {
        const std::uint64_t seq =
            board_.set_breaker(id, BreakerState::Closed, 0, static_cast<std::uint8_t>(BreakerRule::Takeover));
        if (b && b->breaker.state() != BreakerState::Closed) (void)b->breaker.reset(now_ns);
        record_decision(seq, now_ns, subject.empty() ? "#" + std::to_string(id) : subject,
                        "breaker " + std::string(state <= kMaxBreakerState ? to_string(s.breaker_state) : "CORRUPT") +
                            " -> CLOSED (left by a previous reader; nothing here could end it)",
                        "takeover");
        ++closed;
      }
    }

    if (s.backoff_until_ns > now_ns && !owns_backoff(id, s.backoff_until_ns) &&
        (torn || s.backoff_until_ns - now_ns > kMaxAdoptedBackoffNs)) {
      const std::uint64_t seq = board_.set_backoff(id, 0, 0, static_cast<std::uint8_t>(RecoveryAction::None), kRuleTakeover);
      record_decision(seq, now_ns, name_of(id).empty() ? "#" + std::to_string(id) : name_of(id),
                      "backoff lifted (left by a previous reader, " +
                          std::to_string((s.backoff_until_ns - now_ns) / 1'000'000'000ULL) + " s to go)",
                      "takeover");
      ++lifted;
    } else if (torn) {
      // Half-written by a killed reader, with nothing above to rewrite: its fields are
      // re-stored as read, so no writer keeps mixing them with a retry loop.
      (void)board_.update(id, [](BoardEntry&) {});
    }
  }
  torn_entries_.clear();
  if (adopted + closed + lifted != 0)
    spdlog::warn("took over the board of a previous reader: {} breaker(s) adopted with their deadline, {} closed, "
                 "{} backoff(s) lifted",
                 adopted, closed, lifted);
}

bool Engine::owns_backoff(NameId id, std::uint64_t until_ns) const {
  if (external_.count(std::make_pair(false, id))) return true;
  const std::string& type = name_of(id);
  for (const auto& state : recovery_->states())
    if (state.first == type && state.second.backoff_until_ns == until_ns) return true;
  return false;
}

}  // namespace telering::reader
