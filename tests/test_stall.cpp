// Stall detection and the fleet settings, through the Engine: a bot that goes quiet, or
// whose scan loop stops completing, is declared CRITICAL from outside; [[rate_limits]] and
// [retry_budget] from the config reach the shared buckets bots use.
#include <gtest/gtest.h>

#include "support/unique_segment.hpp"
#include "telering/drain.hpp"
#include "telering/reader/config.hpp"
#include "telering/reader/engine.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

struct Rig {
  test::UniqueSegment seg;
  Writer w;
  Drainer drainer;
  std::uint64_t t0;
  Engine engine;
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

  void pump(std::uint64_t now) {
    struct H {
      Engine& e;
      std::uint64_t now;
      void on_record(const Record& r, const RecordSource& s) { e.on_record(r, s, now); }
      void on_malformed(RecordFault f, const Record& r, const RecordSource& s) { e.on_malformed(f, r, s); }
    } h{engine, now};
    while (drainer.poll(h, 1024, now).delivered != 0) {
    }
    engine.tick(now);
  }
  bool has_alert(const std::vector<Alert>& alerts, const std::string& key) {
    for (const Alert& a : alerts)
      if (a.key == key) return true;
    return false;
  }
};

TEST(StallDetection, SilentBotIsCriticalWithAnAlertAndRecoversWhenItRecordsAgain) {
  Rig rig("[stall]\nmax_silence = \"30s\"\n");
  rig.w.scan_time(20.0);
  rig.pump(rig.t0 + kSecond);
  const NameId bot = rig.w.bot_id();
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Healthy);
  rig.pump(rig.t0 + 30 * kSecond);  // exactly 29 s of silence: not yet
  EXPECT_FALSE(rig.has_alert(rig.engine.take_alerts(), "stall/kucoin-futures-1"));
  rig.pump(rig.t0 + 32 * kSecond);
  EXPECT_TRUE(rig.has_alert(rig.engine.take_alerts(), "stall/kucoin-futures-1"));
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Critical);
  EXPECT_EQ(rig.engine.health_report(rig.t0 + 32 * kSecond).overall_status, HealthStatus::Critical);
  rig.pump(rig.t0 + 40 * kSecond);
  EXPECT_TRUE(rig.engine.take_alerts().empty());  // once per stall
  // The same clock the engine uses: a fresh record at "now".
  rig.w.heartbeat();
  rig.pump(monotonic_ns() + 41 * kSecond > rig.t0 + 41 * kSecond ? monotonic_ns() : rig.t0 + 41 * kSecond);
  rig.pump(monotonic_ns() + 2 * kSecond);
  EXPECT_EQ(rig.w.board().snapshot(bot).health, HealthStatus::Healthy);
}

TEST(StallDetection, ScanLoopOverItsMaximumCycleTimeIsAStallEvenWhileOtherRecordsFlow) {
  Rig rig("[stall]\nmax_scan_interval = \"60s\"\naction = \"shutdown\"\n");
  rig.w.scan_time(20.0);
  rig.pump(rig.t0 + kSecond);
  for (int s = 2; s <= 70; s += 4) {
    rig.w.heartbeat();  // the process lives, its scan loop does not complete
    rig.pump(rig.t0 + static_cast<std::uint64_t>(s) * kSecond);
  }
  const auto alerts = rig.engine.take_alerts();
  ASSERT_TRUE(rig.has_alert(alerts, "stall/kucoin-futures-1"));
  EXPECT_TRUE(rig.w.shutdown_requested());
}

TEST(StallDetection, OpenBreakersActionOpensTheBreakersTheBotFeeds) {
  Rig rig("[stall]\nmax_silence = \"10s\"\naction = \"open_breakers\"\n");
  rig.w.call_outcome("market_scanner", true, 0.1);
  rig.w.call_outcome("order_api", true, 0.1);
  rig.pump(rig.t0 + kSecond);
  EXPECT_FALSE(rig.w.breaker_open("market_scanner"));
  rig.pump(rig.t0 + 20 * kSecond);
  EXPECT_TRUE(rig.w.breaker_open("market_scanner"));
  EXPECT_TRUE(rig.w.breaker_open("order_api"));
}

TEST(StallDetection, OffByDefault) {
  Rig rig("");
  rig.w.scan_time(20.0);
  rig.pump(rig.t0 + kSecond);
  rig.pump(rig.t0 + 3600 * kSecond);
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
  rig.pump(rig.t0 + kSecond);
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
