// engine/breaker_registry.hpp — the reader's circuit breakers in their three scopes, with
// the host scope's quorum and the half-open probe permits.
//
// One CircuitBreaker per component (scope component: fed by every bot's outcomes), plus, for
// scope bot and host, one per (component, bot) named by a BotBreaker entry of the name table
// ("<component id>@<bot id>"), so a bot finds its own with one cached id. Scope host adds the
// quorum: the component's breaker trips for every bot when enough bots' own breakers are
// failing (check_quorum). Once a component's breaker has left CLOSED (by quorum, a command, a
// stall or an alert) it alone decides and its probes come from any bot.
//
// Exactly N probes: a breaker entering HALF_OPEN gets `permitted_calls_in_half_open` permits
// in the segment (ProbePermitPool) and publishes their range on its board entry; only an
// outcome flagged as a probe by the thread holding an unused permit counts there, every other
// one is refused (counted). Permits of dead holders or past their lease are taken back.
//
// Every transition is published on the board (state, open-until in ticks, rule, permits) and
// handed to the engine's decision log through Hooks::decide.
//
// Determinism and threads: as the Engine — every method takes the caller's monotonic time,
// and one thread (the drain loop) calls everything.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "evaluate/breaker.hpp"
#include "telering/clock.hpp"
#include "telering/command.hpp"
#include "telering/decision_board.hpp"
#include "telering/drain.hpp"
#include "telering/name_table.hpp"
#include "telering/probe_permits.hpp"
#include "telering/record.hpp"
#include "telering/segment.hpp"

namespace telering::reader {

// The registry's share of EngineStats (EngineStats derives from it).
struct BreakerCounters {
  std::uint64_t breaker_transitions = 0;
  std::uint64_t probe_outcomes_refused = 0;     // outcomes at a HALF_OPEN breaker from threads without a permit
  std::uint64_t probe_permits_taken_back = 0;   // from dead holders or after the lease
  std::uint64_t probe_permits_unavailable = 0;  // HALF_OPEN without permits (pool full, or too many probes)
};

class BreakerRegistry {
 public:
  // A component's breaker (scope component: fed by every bot; scope host: the host-wide
  // verdict), or one bot's own breaker on it (scope bot/host, keyed by its BotBreaker id).
  struct Breaker {
    std::string component;
    CircuitBreaker breaker;
    NameId component_id = kNoName;
    NameId bot_id = kNoName;             // a bot's own breaker: the bot
    std::uint32_t probe_slots = 0;       // packed permit range while HALF_OPEN (0 = none)
    std::uint64_t last_outcome_ns = 0;
    std::vector<NameId> bot_breakers{};  // a component's breaker: its bots' own breakers
  };

  // What the registry asks of its engine.
  struct Hooks {
    // A decision to log and expose: board sequence, time, subject, what changed, rule.
    std::function<void(std::uint64_t, std::uint64_t, std::string, std::string, std::string)> decide;
    // An id's name as shown to people ("" when it names nothing readable).
    std::function<const std::string&(NameId)> name_of;
    // The component an id names, or nullptr (the engine counts it as an unknown name).
    std::function<const std::string*(NameId)> component_name;
    // The breaker settings of a component under the current config.
    std::function<const BreakerConfig&(std::string_view)> config_for;
  };

  // Takes over the segment's probe permits: a previous reader's permits and the ranges it
  // published on the board mean nothing to this one.
  BreakerRegistry(const Segment& segment, NameTable& names, BoardWriter& board, const TickClock& clock,
                  BreakerCounters& counters, Hooks hooks);
  BreakerRegistry(const BreakerRegistry&) = delete;
  BreakerRegistry& operator=(const BreakerRegistry&) = delete;

  // The component's breaker, created on first use; nullptr when the id names no component.
  Breaker* component(NameId component_id);
  // A bot's own breaker on a component, created (and its BotBreaker name interned) on first
  // use; nullptr when the name table is full (the caller then uses the component's).
  Breaker* bot_breaker(Breaker& component, NameId bot_id);
  // The BotBreaker id of a bot's own breaker on a component, kNoName when it has none.
  [[nodiscard]] NameId bot_breaker_id(NameId component_id, NameId bot_id) const;
  // The breaker a board entry is, if one exists already.
  [[nodiscard]] Breaker* find(NameId id) const noexcept { return id < by_id_.size() ? by_id_[id] : nullptr; }
  [[nodiscard]] std::size_t id_capacity() const noexcept { return by_id_.size(); }
  [[nodiscard]] const std::map<NameId, Breaker>& all() const noexcept { return breakers_; }

  // A CallOutcome record: to the component's breaker or the bot's own, per scope.
  void on_outcome(const Record& r, const RecordSource& source, std::uint64_t now_ns);

  // Publishes a transition of breaker `id` on the board (with a fresh set of permits when it
  // entered HALF_OPEN), logs the decision, and follows the scope's consequences (a quorum
  // check queued; a host breaker that opened resets its bots' own breakers).
  void publish(NameId id, Breaker& b, const BreakerTransition& t, std::string_view why);

  // Time-driven transitions of OPEN and HALF_OPEN breakers, then the quorum checks queued
  // since the last call.
  void tick(std::uint64_t now_ns);
  // At most every 100 ms (earlier calls return at once): permits of dead holders or past their lease go
  // back to their breaker's pool.
  void check_probes(std::uint64_t now_ns);

  // A bot command on a breaker (open, close, force open, disable, reset). Closing or
  // resetting also reaches the sender's own breaker. False when `component_id` names no
  // component.
  bool command(CommandCode code, NameId component_id, NameId sender_bot, std::uint64_t now_ns);

  // Stall action: opens the stalled bot's own breaker on a component (scope bot/host), or
  // the component's (scope component, or no own breaker to be had).
  void open_for_bot(NameId component_id, NameId bot_id, std::uint64_t now_ns, std::string_view why);

  // SIGHUP. validate() throws (std::invalid_argument) for a config a known breaker cannot
  // take, before anything changes; reconfigure() then adopts config_for's settings.
  void validate(const std::function<const BreakerConfig&(std::string_view)>& next) const;
  void reconfigure();

  // After a restore: every breaker's state on the board again (fresh permits for a
  // HALF_OPEN one), a decision logged for each one not CLOSED. Returns how many.
  std::size_t republish(std::uint64_t now_ns);

  // telering-replay: no bot holds these probe permits, so an outcome that was recorded with
  // one (kFlagProbe) counts as the probe it was live.
  void set_replaying(bool replaying) noexcept { replaying_ = replaying; }

 private:
  void feed(NameId id, Breaker& b, const Record& r, const RecordSource& source, std::uint64_t now_ns);
  void check_quorum(NameId id, Breaker& host, std::uint64_t now_ns);
  std::uint32_t issue_probes(NameId id, const Breaker& b);
  [[nodiscard]] std::string subject(const Breaker& b) const;

  NameTable* names_;
  BoardWriter* board_;
  const TickClock* clock_;
  BreakerCounters* counters_;
  Hooks hooks_;
  std::map<NameId, Breaker> breakers_;  // ordered: reports and the state file list them by id
  std::vector<Breaker*> by_id_;         // one slot per name id: the per-record path's lookup
  std::vector<NameId> timed_;           // OPEN or HALF_OPEN: the only ones tick() must visit
  std::unordered_map<std::uint32_t, NameId> bot_breaker_ids_;  // component << 16 | bot -> BotBreaker id
  std::vector<NameId> quorum_checks_;   // host-scope components whose bots' breakers opened since the last tick
  ProbePermitPool probes_;              // half-open permits in the segment
  std::uint64_t next_probe_check_ns_ = 0;
  bool replaying_ = false;
};

}  // namespace telering::reader
