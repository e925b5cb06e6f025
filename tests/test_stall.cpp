// Stall detection and the fleet settings, through the Engine: a bot that goes quiet, or
// whose scan loop stops completing, is declared CRITICAL from outside; [[rate_limits]] and
// [retry_budget] from the config reach the shared buckets bots use.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "support/unique_segment.hpp"
#include "telering/drain.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

struct Rig {
  test::UniqueSegment seg;
  Writer w;
  Drainer drainer;
  std::uint64_t t0;
  Engine engine;
  std::uint64_t last_now = 0;
  explicit Rig(const std::string& toml)
      : w(Writer::attach([&] {
          WriterOptions o;
          o.segment = seg.name();
          o.bot = "kucoin-futures-1";
          o.geometry = test::small_geometry(4, 256);
          o.geometry.report_bytes = 64 * 1024;
          o.sample_memory = false;
          return o;
        }())),
        drainer(w.segment()),
        t0(monotonic_ns()),
        engine(parse_config(toml, "stall.toml"), w.segment(), t0, 0) {}

  // Time is the test's: the engine runs at `now`, and the records drained here are taken as
  // written at `now` (restamped), so a bot's silence is exactly the time between the pumps
  // that bring its records. `now` never goes back.
  void pump(std::uint64_t now) {
    ASSERT_GE(now, last_now) << "the test's clock went back";
    last_now = now;
    struct H {
      Engine& e;
      std::uint64_t now;
      std::uint64_t ticks;
      void on_record(const Record& r, const RecordSource& s) {
        Record at_now = r;
        at_now.timestamp = ticks;
        e.on_record(at_now, s, now);
      }
      void on_malformed(RecordFault f, const Record& r, const RecordSource& s) { e.on_malformed(f, r, s); }
    } h{engine, now, engine.calibration().to_ticks(now)};
    while (drainer.poll(h, 1024, now).delivered != 0) {
    }
    engine.tick(now);
  }
  [[nodiscard]] std::uint64_t at(double seconds) const { return t0 + static_cast<std::uint64_t>(seconds * 1e9); }
  bool has_alert(const std::vector<Alert>& alerts, const std::string& key) {
    for (const Alert& a : alerts)
      if (a.key == key) return true;
    return false;
  }
};

TEST(StallDetection, SilentBotIsCriticalWithAnAlertAndRecoversWhenItRecordsAgain) {
  Rig rig("[stall]\nmax_silence = \"30s\"\n");
  const std::string key = "stall/kucoin-futures-1";
  rig.w.scan_time(20.0);
  rig.pump(rig.at(1));  // its last record
  const NameId bot = rig.w.bot_id();
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Healthy);
  rig.pump(rig.at(30.9));  // 29.9 s of silence: no stall
  EXPECT_FALSE(rig.has_alert(rig.engine.take_alerts(), key));
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Healthy);
  rig.pump(rig.at(31.2));  // 30.2 s (stalls are checked every 100 ms)
  EXPECT_TRUE(rig.has_alert(rig.engine.take_alerts(), key));
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Critical);
  EXPECT_EQ(rig.engine.health_report(rig.at(31.2)).overall_status, HealthStatus::Critical);
  rig.pump(rig.at(40));
  EXPECT_TRUE(rig.engine.take_alerts().empty());  // once per stall
  rig.w.heartbeat();
  rig.pump(rig.at(41));  // recording again ends the stall
  rig.pump(rig.at(43));
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Healthy);
  EXPECT_TRUE(rig.engine.take_alerts().empty());
  // Silence is counted from the last record (41 s), not the first: a new stall after 71 s.
  rig.pump(rig.at(70.9));
  EXPECT_FALSE(rig.has_alert(rig.engine.take_alerts(), key));
  rig.pump(rig.at(71.2));
  EXPECT_TRUE(rig.has_alert(rig.engine.take_alerts(), key));
}

TEST(StallDetection, ScanLoopOverItsMaximumCycleTimeIsAStallEvenWhileOtherRecordsFlow) {
  Rig rig("[stall]\nmax_silence = \"10s\"\nmax_scan_interval = \"60s\"\naction = \"shutdown\"\n");
  rig.w.scan_time(20.0);
  rig.pump(rig.at(1));  // its last completed scan
  for (int s = 2; s <= 60; ++s) {
    rig.w.heartbeat();  // the process lives (never 10 s silent), its scan loop does not complete
    rig.pump(rig.at(s));
  }
  rig.w.heartbeat();
  rig.pump(rig.at(60.9));
  EXPECT_FALSE(rig.has_alert(rig.engine.take_alerts(), "stall/kucoin-futures-1")) << "59.9 s since the last scan";
  EXPECT_FALSE(rig.w.shutdown_requested());
  rig.w.heartbeat();
  rig.pump(rig.at(61.2));
  const auto alerts = rig.engine.take_alerts();
  const auto stall = std::find_if(alerts.begin(), alerts.end(), [](const Alert& a) { return a.key == "stall/kucoin-futures-1"; });
  ASSERT_NE(stall, alerts.end());
  EXPECT_NE(stall->text.find("no completed scan for 60.2 s"), std::string::npos) << stall->text;
  EXPECT_TRUE(rig.w.shutdown_requested());
}

TEST(StallDetection, OpenBreakersActionOpensTheBreakersTheBotFeeds) {
  Rig rig("[stall]\nmax_silence = \"10s\"\naction = \"open_breakers\"\n");
  rig.w.call_outcome("market_scanner", true, 0.1);
  rig.w.call_outcome("order_api", true, 0.1);
  rig.pump(rig.at(1));
  rig.pump(rig.at(10.9));  // 9.9 s: not yet
  EXPECT_FALSE(rig.w.breaker_open("market_scanner"));
  EXPECT_FALSE(rig.w.breaker_open("order_api"));
  rig.pump(rig.at(11.2));
  EXPECT_TRUE(rig.w.breaker_open("market_scanner"));
  EXPECT_TRUE(rig.w.breaker_open("order_api"));
}

TEST(StallDetection, OffByDefault) {
  Rig rig("");
  rig.w.scan_time(20.0);
  rig.pump(rig.at(1));
  rig.pump(rig.at(3600));
  EXPECT_TRUE(rig.engine.take_alerts().empty());
}

TEST(FleetConfig, RateLimitsAndRetryBudgetReachTheBots) {
  Rig rig(
      "[[rate_limits]]\ngroup = \"kucoin_public\"\nrequests = 30\nperiod = \"3s\"\nburst = 5\n"
      "[retry_budget]\nratio = 0.2\nmin_retries = 4\n");
  EXPECT_EQ(rig.engine.fleet_limits().stats().buckets_configured, 1U);
  RateLimiter l = rig.w.rate_limiter("kucoin_public");
  ASSERT_TRUE(l.configured());
  int granted = 0;
  for (int i = 0; i < 20; ++i) granted += l.try_acquire_at(123'456'789'000ULL) == Acquire::Granted;
  EXPECT_EQ(granted, 5);
  rig.pump(rig.at(1));
  EXPECT_EQ(rig.w.segment().fleet().retry_tokens.load(), 4);  // no traffic: the floor
}

TEST(FleetConfig, BadRateLimitNamesTheKey) {
  try {
    (void)parse_config("[[rate_limits]]\ngroup = \"x\"\nrequests = 0\n", "fleet.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fleet.toml:3: rate_limits[0].requests"), std::string::npos) << e.what();
  }
  try {
    (void)parse_config("[stall]\naction = \"panic\"\n", "fleet.toml");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fleet.toml:2: stall.action"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace telering::reader
