// Tests for BreakerRegistry (reader/src/engine/breaker_registry.hpp): the three scopes, the
// host scope's quorum and exactly-N half-open probe permits, on a segment's board and name
// table with no Engine, writer or drain loop around it. Time is the caller's: nothing sleeps.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "engine/breaker_registry.hpp"
#include "support/unique_segment.hpp"
#include "telering/clock.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint32_t kPid = 4242;

struct Decision {
  std::uint64_t seq;
  std::string subject;
  std::string what;
  std::string rule;
};

// A registry on a fresh segment, with the settings every component gets.
class RegistryRig {
 public:
  explicit RegistryRig(BreakerConfig config)
      : config_(config),
        segment_(Segment::open(unique_.options(test::small_geometry()))),
        names_(segment_.names(), segment_.geometry().name_capacity),
        board_(&segment_.board(), segment_.board_entries(), segment_.geometry().name_capacity),
        clock_(segment_.calibration()) {
    BreakerRegistry::Hooks hooks;
    hooks.decide = [this](std::uint64_t seq, std::uint64_t, std::string subject, std::string what, std::string rule) {
      decisions.push_back(Decision{seq, std::move(subject), std::move(what), std::move(rule)});
    };
    hooks.name_of = [this](NameId id) -> const std::string& { return text_[id] = read(id); };
    hooks.component_name = [this](NameId id) -> const std::string* {
      NameTable::Name n;
      if (!names_.read(id, n) || n.kind != NameKind::Component) return nullptr;
      return &(text_[id] = std::string(n.text));
    };
    hooks.config_for = [this](std::string_view) -> const BreakerConfig& { return config_; };
    registry_ = std::make_unique<BreakerRegistry>(segment_, names_, board_, clock_, counters, std::move(hooks));
  }

  BreakerRegistry& registry() { return *registry_; }
  BoardReader board() { return board_.reader(); }
  NameId component(std::string_view name) { return names_.intern(NameKind::Component, name); }
  NameId bot(std::string_view name) { return names_.intern(NameKind::Bot, name); }
  ProbeSlot* probe_slots() { return segment_.probe_slots(); }

  // One CallOutcome of `bot` on `component` from thread `tid` of process kPid.
  void outcome(NameId component, NameId bot, bool success, std::uint64_t now_ns, std::uint32_t tid = 1, bool probe = false) {
    Record r{};
    r.kind = RecordKind::CallOutcome;
    r.name_id = component;
    r.bot_id = bot;
    r.thread_id = tid;
    r.value = 0.01;
    r.flags = static_cast<std::uint8_t>((success ? 0 : kFlagFailure) | (probe ? kFlagProbe : 0));
    RecordSource source{};
    source.owner_pid = kPid;
    registry_->on_outcome(r, source, now_ns);
  }

  BreakerCounters counters;
  std::vector<Decision> decisions;

 private:
  std::string read(NameId id) {
    NameTable::Name n;
    return names_.read(id, n) ? std::string(n.text) : std::string();
  }

  BreakerConfig config_;
  test::UniqueSegment unique_;
  Segment segment_;
  NameTable names_;
  BoardWriter board_;
  TickClock clock_;
  std::map<NameId, std::string> text_;
  std::unique_ptr<BreakerRegistry> registry_;
};

// Opens after two failures of two calls; one second OPEN; two probes.
BreakerConfig two_call_config(BreakerConfig::Scope scope) {
  BreakerConfig c;
  c.sliding_window_size = 2;
  c.minimum_number_of_calls = 2;
  c.failure_rate_threshold = 50.0;
  c.wait_duration_in_open = 1.0;
  c.permitted_calls_in_half_open = 2;
  c.probe_lease = 3600;
  c.scope = scope;
  c.quorum = 2;
  return c;
}

TEST(BreakerRegistry, ComponentScopeIsOneBreakerFedByEveryBot) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Component));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a"), b = rig.bot("b");
  rig.outcome(api, a, false, kSecond);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed);
  rig.outcome(api, b, false, kSecond);  // the second bot's failure completes the window
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Open);
  EXPECT_EQ(rig.registry().bot_breaker_id(api, a), kNoName);
  EXPECT_EQ(rig.board().flags(api) & kEntryPerBotBreakers, 0U);
  ASSERT_EQ(rig.decisions.size(), 1U);
  EXPECT_EQ(rig.decisions[0].subject, "exchange_api");
  EXPECT_EQ(rig.counters.breaker_transitions, 1U);
}

TEST(BreakerRegistry, BotScopeOpensOnlyTheFailingBotsOwnBreaker) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Bot));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a"), b = rig.bot("b");
  rig.outcome(api, a, false, kSecond);
  rig.outcome(api, a, false, kSecond);
  rig.outcome(api, b, true, kSecond);
  const NameId own_a = rig.registry().bot_breaker_id(api, a);
  const NameId own_b = rig.registry().bot_breaker_id(api, b);
  ASSERT_NE(own_a, kNoName);
  ASSERT_NE(own_b, kNoName);
  EXPECT_NE(rig.board().flags(api) & kEntryPerBotBreakers, 0U) << "writers are told to read their own entry";
  EXPECT_EQ(rig.board().breaker_state(own_a), BreakerState::Open);
  EXPECT_EQ(rig.board().breaker_state(own_b), BreakerState::Closed);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed);
  ASSERT_EQ(rig.decisions.size(), 1U);
  EXPECT_EQ(rig.decisions[0].subject, "exchange_api@a");
}

TEST(BreakerRegistry, HostScopeQuorumOpensTheComponentForAllAndResetsTheBotsOwn) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Host));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a"), b = rig.bot("b");
  rig.outcome(api, a, false, kSecond);
  rig.outcome(api, a, false, kSecond);
  rig.registry().tick(kSecond);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed) << "one failing bot is not a quorum of 2";
  rig.outcome(api, b, false, kSecond);
  rig.outcome(api, b, false, kSecond);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed) << "the quorum is counted at the next tick";
  rig.registry().tick(kSecond);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Open);
  EXPECT_EQ(rig.board().breaker_state(rig.registry().bot_breaker_id(api, a)), BreakerState::Closed);
  EXPECT_EQ(rig.board().breaker_state(rig.registry().bot_breaker_id(api, b)), BreakerState::Closed);
  bool quorum = false;
  for (const Decision& d : rig.decisions) quorum = quorum || d.rule == "quorum: 2 of 2 bots";
  EXPECT_TRUE(quorum);
}

TEST(BreakerRegistry, HalfOpenIssuesExactlyNPermitsAndCountsOnlyTheirHoldersOutcomes) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Component));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a");
  rig.outcome(api, a, false, kSecond);
  rig.outcome(api, a, false, kSecond);
  rig.registry().tick(3 * kSecond);  // past the one-second wait
  ASSERT_EQ(rig.board().breaker_state(api), BreakerState::HalfOpen);
  const std::uint32_t packed = rig.board().probe_slots(api);
  ASSERT_NE(packed, 0U);
  EXPECT_EQ(unpack_probe_slots(packed).count, 2U);

  rig.outcome(api, a, true, 3 * kSecond, /*tid=*/7);  // no permit: refused
  EXPECT_EQ(rig.counters.probe_outcomes_refused, 1U);
  // Three threads ask; exactly two get a permit.
  int granted = 0;
  for (std::uint32_t tid = 10; tid < 13; ++tid)
    granted += take_probe_permit(rig.probe_slots(), packed, api, make_owner(kPid, tid)) ? 1 : 0;
  EXPECT_EQ(granted, 2);
  rig.outcome(api, a, true, 3 * kSecond, 10, /*probe=*/true);
  rig.outcome(api, a, true, 3 * kSecond, 12, /*probe=*/true);  // asked too late: refused
  EXPECT_EQ(rig.counters.probe_outcomes_refused, 2U);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::HalfOpen);
  rig.outcome(api, a, true, 3 * kSecond, 11, /*probe=*/true);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed) << "two successful probes close it";
  EXPECT_EQ(rig.board().probe_slots(api), 0U) << "permits exist only while HALF_OPEN";
}

TEST(BreakerRegistry, ACloseCommandAlsoClosesTheSendersOwnBreaker) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Bot));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a");
  rig.outcome(api, a, false, kSecond);
  rig.outcome(api, a, false, kSecond);
  const NameId own = rig.registry().bot_breaker_id(api, a);
  ASSERT_EQ(rig.board().breaker_state(own), BreakerState::Open);
  EXPECT_TRUE(rig.registry().command(CommandCode::CloseBreaker, api, a, 2 * kSecond));
  EXPECT_EQ(rig.board().breaker_state(own), BreakerState::Closed);
  EXPECT_FALSE(rig.registry().command(CommandCode::CloseBreaker, rig.bot("not-a-component"), a, 2 * kSecond));
}

TEST(BreakerRegistry, AStalledBotOpensOnlyItsOwnBreakerWithPerBotScopes) {
  RegistryRig rig(two_call_config(BreakerConfig::Scope::Bot));
  const NameId api = rig.component("exchange_api");
  const NameId a = rig.bot("a");
  rig.registry().open_for_bot(api, a, kSecond, "stall:a");
  EXPECT_EQ(rig.board().breaker_state(rig.registry().bot_breaker_id(api, a)), BreakerState::Open);
  EXPECT_EQ(rig.board().breaker_state(api), BreakerState::Closed);
  ASSERT_EQ(rig.decisions.size(), 1U);
  EXPECT_EQ(rig.decisions[0].rule, "stall:a");
}

}  // namespace
}  // namespace telering::reader
