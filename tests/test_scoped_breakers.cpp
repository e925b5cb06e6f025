// Breaker scopes (component / bot / host with a quorum) and exactly-N host-wide half-open
// probes, through the segment: bots are Writers (in this process, or forked processes), the
// reader is an Engine fed by a Drainer.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.hpp"
#include "state/snapshot.hpp"
#include "support/engine_rig.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/drain.hpp"
#include "telering/writer.hpp"
#include "tools/segment_stats.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr std::uint64_t kMillisecond = 1'000'000ULL;
constexpr const char* kApi = "exchange_api";

BreakerConfig small_breaker(BreakerConfig::Scope scope) {
  BreakerConfig b;
  b.scope = scope;
  b.sliding_window_size = 10;
  b.minimum_number_of_calls = 4;
  b.failure_rate_threshold = 50;
  b.wait_duration_in_open = 5;
  b.permitted_calls_in_half_open = 3;
  b.probe_lease = 3600;  // fake-time tests run ahead of the clock writers stamp leases with
  return b;
}

ReaderConfig config_for(const BreakerConfig& b) {
  ReaderConfig c;
  c.breakers.emplace(kApi, b);
  return c;
}

WriterOptions bot_options(const test::UniqueSegment& shm, const std::string& bot) {
  WriterOptions o;
  o.segment = shm.name();
  o.bot = bot;
  o.geometry = test::small_geometry(16, 256);
  o.sample_memory = false;
  return o;
}

// One host: EngineRig (support/engine_rig.hpp) with room for many bots, its first writer
// named "host", and the test's own clock (pump restamps: waits and leases are exactly the
// offsets between pumps).
class Host : public EngineRig {
 public:
  explicit Host(const ReaderConfig& config, std::uint64_t t0 = monotonic_ns())
      : EngineRig(config, test::small_geometry(16, 256), t0, "host") {}

  void fail(const std::string& name, int n) {
    for (int i = 0; i < n; ++i) bot(name).call_outcome(kApi, false, 0.1);
  }
  void succeed(const std::string& name, int n) {
    for (int i = 0; i < n; ++i) bot(name).call_outcome(kApi, true, 0.1);
  }
  void pump(std::uint64_t now_ns) { pump_restamped(now_ns); }
  BreakerState host_state() { return w().breaker_state(kApi); }
  Writer& first() { return w(); }
};

const DecisionEvent* find_rule(const std::vector<DecisionEvent>& d, std::string_view prefix) {
  for (const auto& e : d)
    if (e.rule.rfind(prefix, 0) == 0) return &e;
  return nullptr;
}

TEST(ScopedBreakers, ComponentScopeIsOneBreakerOneBadBotTripsForAll) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Component)));
  h.succeed("b", 1);
  h.fail("a", 4);
  h.pump(h.at(kSecond));
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_TRUE(h.bot("b").breaker_open(kApi));
}

TEST(ScopedBreakers, BotScopeStopsOnlyTheFailingBot) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Bot)));
  h.succeed("b", 4);
  h.fail("a", 4);
  h.pump(h.at(kSecond));
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));
  EXPECT_EQ(h.host_state(), BreakerState::Closed);  // the component's entry stays closed
  const auto views = h.engine().breakers();
  const auto a = std::find_if(views.begin(), views.end(), [](const BreakerView& v) { return v.bot == "a"; });
  ASSERT_NE(a, views.end());
  EXPECT_EQ(a->component, kApi);
  EXPECT_EQ(a->metrics.state, BreakerState::Open);
  const auto decisions = h.engine().take_decisions();
  const DecisionEvent* d = find_rule(decisions, "failure_rate");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->subject, std::string(kApi) + "@a");
  // telering-stat names the bot's own breaker by its component and bot.
  const SegmentStats stats = take_segment_stats(h.segment(), StatClock::now());
  const auto row = std::find_if(stats.board.begin(), stats.board.end(), [](const BoardRow& r) { return r.kind == "bot_breaker"; });
  ASSERT_NE(row, stats.board.end());
  EXPECT_EQ(row->name, std::string(kApi) + "@a");
  EXPECT_EQ(row->breaker, "OPEN");
}

TEST(ScopedBreakers, HostScopeOpensForEveryBotOnlyWhenAQuorumOfBotsFails) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Host)));  // quorum 2
  h.succeed("c", 4);
  h.fail("a", 4);
  h.pump(h.at(kSecond));
  // One bad bot: only its own breaker opens.
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));
  EXPECT_FALSE(h.bot("c").breaker_open(kApi));
  EXPECT_EQ(h.host_state(), BreakerState::Closed);

  h.fail("b", 4);
  h.pump(h.at(2 * kSecond));
  EXPECT_EQ(h.host_state(), BreakerState::Open);
  for (const char* bot : {"a", "b", "c", "d"}) EXPECT_TRUE(h.bot(bot).breaker_open(kApi)) << bot;
  EXPECT_EQ(h.segment().board_entries()[h.first().component(kApi)].rule.load(), static_cast<std::uint8_t>(BreakerRule::Quorum));
  const auto decisions = h.engine().take_decisions();
  const DecisionEvent* d = find_rule(decisions, "quorum");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->rule, "quorum: 2 of 3 bots");
  EXPECT_EQ(d->subject, kApi);
}

TEST(ScopedBreakers, QuorumFractionCountsTheBotsActiveOnTheComponent) {
  BreakerConfig b = small_breaker(BreakerConfig::Scope::Host);
  b.quorum = 1;
  b.quorum_fraction = 0.5;
  Host h(config_for(b));
  h.succeed("c", 4);
  h.succeed("d", 4);
  h.fail("a", 4);
  h.pump(h.at(kSecond));
  EXPECT_EQ(h.host_state(), BreakerState::Closed);  // 1 of 3 active < 50 %
  h.fail("b", 4);
  h.pump(h.at(2 * kSecond));
  EXPECT_EQ(h.host_state(), BreakerState::Open);  // 2 of 4 active >= 50 %
}

TEST(ScopedBreakers, BotsSilentLongerThanTheQuorumWindowDoNotCount) {
  for (const double window : {60.0, 10.0}) {
    SCOPED_TRACE("quorum_window " + std::to_string(window));
    BreakerConfig b = small_breaker(BreakerConfig::Scope::Host);
    b.quorum = 1;
    b.quorum_fraction = 0.5;
    b.quorum_window = window;
    Host h(config_for(b));
    h.succeed("c", 1);
    h.succeed("d", 1);
    h.pump(h.at(kSecond));
    h.fail("a", 4);
    h.pump(h.at(30 * kSecond));
    // 60 s: c and d are active, 1 failing of 3 < 50 %; 10 s: only a is, 1 of 1.
    EXPECT_EQ(h.host_state(), window == 60.0 ? BreakerState::Closed : BreakerState::Open);
  }
}

TEST(ScopedBreakers, HostHalfOpenTakesExactlyNProbesFromAnyBotsThenClosesForAll) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Host)));
  h.fail("a", 4);
  h.fail("b", 4);
  h.pump(h.at(kSecond));
  ASSERT_EQ(h.host_state(), BreakerState::Open);
  h.pump(h.at(7 * kSecond));  // the 5 s wait is over
  ASSERT_EQ(h.host_state(), BreakerState::HalfOpen);
  // The bots' own breakers were reset when the host-wide one opened: no bot is held back by
  // its own, and the host-wide permits decide who probes. (The bots here share one thread,
  // so one owner token: outcomes without a permit are checked across processes below.)
  EXPECT_FALSE(h.bot("c").breaker_open(kApi));  // permit 1
  h.succeed("c", 1);
  EXPECT_FALSE(h.bot("a").breaker_open(kApi));  // permit 2
  h.succeed("a", 1);
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));  // permit 3
  h.succeed("b", 1);
  EXPECT_TRUE(h.bot("c").breaker_open(kApi));  // no fourth probe
  h.pump(h.at(8 * kSecond));
  EXPECT_EQ(h.host_state(), BreakerState::Closed);
  for (const char* bot : {"a", "b", "c"}) EXPECT_FALSE(h.bot(bot).breaker_open(kApi)) << bot;
}

TEST(ScopedBreakers, BotScopeHalfOpenProbesAreThatBotsOwn) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Bot)));
  h.fail("a", 4);
  h.pump(h.at(kSecond));
  h.pump(h.at(7 * kSecond));
  EXPECT_FALSE(h.bot("a").breaker_open(kApi));  // a probe permit of a's own breaker
  h.succeed("a", 1);
  EXPECT_FALSE(h.bot("a").breaker_open(kApi));
  h.fail("a", 1);
  EXPECT_FALSE(h.bot("a").breaker_open(kApi));
  h.fail("a", 1);
  h.pump(h.at(8 * kSecond));
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));  // 2 of 3 probes failed: open again
  const auto decisions = h.engine().take_decisions();
  EXPECT_NE(find_rule(decisions, "probe_failed"), nullptr);
}

TEST(ScopedBreakers, AStalledBotHasOnlyItsOwnBreakerOpened) {
  ReaderConfig c = config_for(small_breaker(BreakerConfig::Scope::Bot));
  c.stall.max_silence = std::chrono::milliseconds(300);
  c.stall.action = StallConfig::Action::OpenBreakers;
  Host h(c);
  h.succeed("a", 1);
  h.succeed("b", 1);
  h.pump(h.at(0));
  for (std::uint64_t ms = 100; ms <= 500; ms += 100) {  // b keeps recording, a falls silent
    h.succeed("b", 1);
    h.pump(h.at(ms * kMillisecond));
    if (ms == 200) {
      EXPECT_FALSE(h.bot("a").breaker_open(kApi)) << "200 ms of silence is not a stall";
    }
  }
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));
  EXPECT_EQ(h.host_state(), BreakerState::Closed);
}

TEST(ScopedBreakers, ScopeChangesOnReload) {
  Host h(config_for(small_breaker(BreakerConfig::Scope::Component)));
  h.succeed("b", 4);
  h.pump(h.at(kSecond));
  h.engine().reload(config_for(small_breaker(BreakerConfig::Scope::Bot)));
  h.fail("a", 4);
  h.pump(h.at(2 * kSecond));
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));
}

TEST(ScopedBreakers, BotBreakersSurviveARestartOntoAFreshSegment) {
  const ReaderConfig config = config_for(small_breaker(BreakerConfig::Scope::Bot));
  nlohmann::json state;
  {
    Host h(config);
    h.bot("z").heartbeat();  // bot ids differ between the two segments
    h.fail("a", 4);
    h.pump(h.at(kSecond));
    ASSERT_TRUE(h.bot("a").breaker_open(kApi));
    state = h.engine().save_state();
  }
  Host h(config);
  h.engine().restore_state(state, TimeShift{}, h.at(2 * kSecond));
  EXPECT_TRUE(h.bot("a").breaker_open(kApi));
  EXPECT_FALSE(h.bot("b").breaker_open(kApi));
}

// --- across processes ------------------------------------------------------------------

// A bot process: attaches as `bot`, runs `body`, exits with its result. The parent talks to
// it through one pipe each way (one byte = "go on").
class BotProcess {
 public:
  BotProcess(const test::UniqueSegment& shm, std::string bot, std::function<int(Writer&, BotProcess&)> body) {
    int down[2];
    int up[2];
    if (::pipe(down) != 0 || ::pipe(up) != 0) throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(down[1]);
      ::close(up[0]);
      in_ = down[0];
      out_ = up[1];
      int rc = 100;
      try {
        Writer w = Writer::attach(bot_options(shm, bot));
        rc = body(w, *this);
      } catch (...) {
        rc = 101;
      }
      ::_exit(rc);
    }
    ::close(down[0]);
    ::close(up[1]);
    out_ = down[1];
    in_ = up[0];
  }
  ~BotProcess() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(in_);
    ::close(out_);
  }
  // Either side: wait for / send one byte.
  bool wait() {
    char c;
    return ::read(in_, &c, 1) == 1;
  }
  void signal() {
    const char c = 'x';
    if (::write(out_, &c, 1) != 1) ADD_FAILURE() << "pipe write";
  }
  int join() {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  [[nodiscard]] pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int in_ = -1;
  int out_ = -1;
  bool reaped_ = false;
};

// Waits and leases of milliseconds, for the tests whose bot processes run while the test's
// clock stands still.
BreakerConfig short_wait_breaker(BreakerConfig::Scope scope) {
  BreakerConfig b = small_breaker(scope);
  b.wait_duration_in_open = 0.05;
  b.probe_lease = 30;
  return b;
}

void open_then_half_open(Host& h, const std::string& bot_a, const std::string& bot_b) {
  h.fail(bot_a, 4);
  h.fail(bot_b, 4);
  h.pump(h.at(0));
  ASSERT_TRUE(h.bot(bot_a).breaker_open(kApi));
  h.pump(h.at(40 * kMillisecond));
  ASSERT_EQ(h.first().breaker_state(kApi), BreakerState::Open) << "the 50 ms wait is not over";
  h.pump(h.at(60 * kMillisecond));
  ASSERT_EQ(h.first().breaker_state(kApi), BreakerState::HalfOpen);
}

TEST(ScopedBreakersCrossProcess, ExactlyNOfManyBotProcessesGetAProbeAndDeadHoldersGiveTheirsBack) {
  Host h(config_for(short_wait_breaker(BreakerConfig::Scope::Host)));
  open_then_half_open(h, "a", "b");
  // Eight bot processes ask at once; each holds what it got until told to exit.
  std::vector<std::unique_ptr<BotProcess>> bots;
  for (int i = 0; i < 8; ++i)
    bots.push_back(std::make_unique<BotProcess>(h.shm(), "p" + std::to_string(i), [](Writer& w, BotProcess& self) {
      const bool may_call = !w.breaker_open(kApi);
      self.signal();
      self.wait();
      return may_call ? 1 : 0;
    }));
  for (auto& b : bots) ASSERT_TRUE(b->wait());
  for (auto& b : bots) b->signal();
  int probing = 0;
  for (auto& b : bots) probing += b->join();
  EXPECT_EQ(probing, 3);
  // Their holders died without an outcome: the reader takes the permits back (it looks
  // every 100 ms)...
  h.pump(h.at(260 * kMillisecond));
  EXPECT_EQ(h.engine().stats().probe_permits_taken_back, 3U);
  EXPECT_EQ(h.first().breaker_state(kApi), BreakerState::HalfOpen);
  // ...and three new bot processes probe successfully: the breaker closes for everyone.
  std::vector<std::unique_ptr<BotProcess>> probes;
  for (int i = 0; i < 3; ++i)
    probes.push_back(std::make_unique<BotProcess>(h.shm(), "q" + std::to_string(i), [](Writer& w, BotProcess&) {
      if (w.breaker_open(kApi)) return 1;
      w.call_outcome(kApi, true, 0.05);
      return 0;
    }));
  for (auto& p : probes) EXPECT_EQ(p->join(), 0);
  h.pump(h.at(270 * kMillisecond));
  EXPECT_EQ(h.first().breaker_state(kApi), BreakerState::Closed);
  EXPECT_FALSE(h.bot("a").breaker_open(kApi));
}

TEST(ScopedBreakersCrossProcess, ALateProbeAfterItsLeaseDoesNotCount) {
  BreakerConfig b = short_wait_breaker(BreakerConfig::Scope::Component);
  b.probe_lease = 0.05;
  b.permitted_calls_in_half_open = 1;
  Host h(config_for(b));
  open_then_half_open(h, "a", "b");
  BotProcess slow(h.shm(), "slow", [](Writer& w, BotProcess& self) {
    if (w.breaker_open(kApi)) return 1;
    self.signal();
    self.wait();  // holds the permit past its lease
    w.call_outcome(kApi, false, 9.0);
    return 0;
  });
  ASSERT_TRUE(slow.wait());
  // The reader looks at permits every 100 ms; the 50 ms lease starts when it first sees this
  // one taken (at 170 ms), and ends before its next look (280 ms).
  h.pump(h.at(170 * kMillisecond));
  EXPECT_EQ(h.engine().stats().probe_permits_taken_back, 0U) << "the lease has only started";
  h.pump(h.at(280 * kMillisecond));
  EXPECT_EQ(h.engine().stats().probe_permits_taken_back, 1U);
  slow.signal();
  EXPECT_EQ(slow.join(), 0);
  h.pump(h.at(290 * kMillisecond));
  EXPECT_EQ(h.engine().stats().probe_outcomes_refused, 1U);
  EXPECT_EQ(h.first().breaker_state(kApi), BreakerState::HalfOpen);  // the late failure decided nothing
  BotProcess prompt(h.shm(), "prompt", [](Writer& w, BotProcess&) {
    if (w.breaker_open(kApi)) return 1;
    w.call_outcome(kApi, true, 0.05);
    return 0;
  });
  EXPECT_EQ(prompt.join(), 0);
  h.pump(h.at(300 * kMillisecond));
  EXPECT_EQ(h.first().breaker_state(kApi), BreakerState::Closed);
}

TEST(ScopedBreakersCrossProcess, HostQuorumOfBotProcessesOpensTheBreakerForEveryProcess) {
  Host h(config_for(short_wait_breaker(BreakerConfig::Scope::Host)));
  std::uint64_t now = 0;
  auto run_bot = [&](const std::string& name, bool fail) {
    BotProcess p(h.shm(), name, [fail](Writer& w, BotProcess&) {
      for (int i = 0; i < 4; ++i) w.call_outcome(kApi, !fail, 0.1);
      return 0;
    });
    EXPECT_EQ(p.join(), 0);
    h.pump(h.at(now += kMillisecond));
  };
  auto sees_open = [&](const std::string& name) {
    BotProcess p(h.shm(), name, [](Writer& w, BotProcess&) { return w.breaker_open(kApi) ? 1 : 0; });
    return p.join() == 1;
  };
  run_bot("healthy", false);
  run_bot("bad-1", true);
  EXPECT_TRUE(sees_open("bad-1"));
  EXPECT_FALSE(sees_open("healthy"));
  run_bot("bad-2", true);
  EXPECT_TRUE(sees_open("healthy"));
  EXPECT_TRUE(sees_open("newcomer"));
}

}  // namespace
}  // namespace telering::reader
