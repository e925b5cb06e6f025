// The report page never freezes (issue 12 item 5): bots that stopped recording are forgotten
// after [reader] prune_bots_after, and a report that does not fit the page is published
// degraded, saying what it left out, instead of not at all (which left the previous report
// on the page, served as fresh by /health and run_full_health_check).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>

#include <unistd.h>

#include "support/engine_rig.hpp"
#include "telering/core/name_table.hpp"

namespace telering::reader {
namespace {

using namespace std::chrono_literals;
constexpr std::uint64_t kSecond = 1'000'000'000ULL;

// A record of bot `bot` as a writer of that name would send it at `now_ns`, fed to the engine.
void scan(EngineRig& rig, NameId bot, double seconds, std::uint64_t now_ns) {
  Record r{};
  r.kind = RecordKind::ScanTime;
  r.value = seconds;
  r.timestamp = rig.engine().calibration().to_ticks(now_ns);
  r.bot_id = bot;
  rig.engine().on_record(r, RecordSource{}, now_ns);
}

SegmentGeometry many_names() {
  SegmentGeometry g = engine_geometry();
  g.name_capacity = 2048;
  return g;
}

TEST(BotPruning, ForgetsBotsSilentForPruneBotsAfter) {
  ReaderConfig config;
  config.prune_bots_after = 60s;
  EngineRig rig(config, many_names());
  NameTable names(rig.segment().names(), rig.segment().geometry().name_capacity);
  const NameId gone = names.intern(NameKind::Bot, "gone-bot");
  const NameId alive = names.intern(NameKind::Bot, "alive-bot");
  scan(rig, gone, 95.0, rig.at(kSecond));  // CRITICAL
  scan(rig, alive, 1.0, rig.at(kSecond));
  rig.engine().tick(rig.at(2 * kSecond));
  EXPECT_EQ(rig.board().snapshot(gone).health, HealthStatus::Critical);
  scan(rig, alive, 1.0, rig.at(50 * kSecond));
  rig.engine().tick(rig.at(60 * kSecond));
  EXPECT_EQ(rig.engine().bots().size(), 2U) << "not silent for 60 s yet";
  rig.engine().tick(rig.at(62 * kSecond));
  ASSERT_EQ(rig.engine().bots().size(), 1U);
  EXPECT_EQ(rig.engine().bots()[0].name, "alive-bot");
  EXPECT_EQ(rig.engine().stats().bots_pruned, 1U);
  EXPECT_EQ(rig.board().snapshot(gone).health, HealthStatus::Unknown) << "a forgotten bot's health is not left on the board";
  const nlohmann::json report = rig.report();
  EXPECT_FALSE(report.at("bots").contains("gone-bot"));
  EXPECT_NE(report.at("overall_status"), "CRITICAL") << "a forgotten bot no longer counts";
  // A record brings it back.
  scan(rig, gone, 1.0, rig.at(63 * kSecond));
  EXPECT_EQ(rig.engine().bots().size(), 2U);
}

TEST(BotPruning, ZeroKeepsBotsForever) {
  ReaderConfig config;
  config.prune_bots_after = 0ms;
  EngineRig rig(config, many_names());
  NameTable names(rig.segment().names(), rig.segment().geometry().name_capacity);
  scan(rig, names.intern(NameKind::Bot, "b"), 1.0, rig.at(kSecond));
  rig.engine().tick(rig.at(100'000 * kSecond));
  EXPECT_EQ(rig.engine().bots().size(), 1U);
}

TEST(ReportPage, AReportPastThePageIsPublishedTruncatedNotFrozen) {
  EngineRig rig({}, many_names());  // a 64 KiB report page: ~60 bots fit
  NameTable names(rig.segment().names(), rig.segment().geometry().name_capacity);
  constexpr int kBots = 400;
  for (int i = 0; i < kBots; ++i) {
    const NameId bot = names.intern(NameKind::Bot, "bot-" + std::to_string(i));
    ASSERT_NE(bot, kNoName);
    scan(rig, bot, i == kBots - 1 ? 95.0 : 1.0, rig.at(kSecond));
  }
  const std::uint64_t now = rig.at(5 * kSecond);
  rig.engine().tick(now);
  ASSERT_GT(rig.engine().report_json(now).size(), rig.segment().geometry().report_bytes) << "the test must overflow the page";
  const ReportPage::Snapshot snap = rig.report_snapshot();
  EXPECT_EQ(snap.published_mono_ns, now) << "published now, not an older report left in place";
  EXPECT_LE(snap.text.size(), rig.segment().geometry().report_bytes);
  const nlohmann::json report = nlohmann::json::parse(snap.text);
  EXPECT_EQ(report.at("overall_status"), "CRITICAL");
  const std::size_t kept = report.at("bots").size();
  EXPECT_GT(kept, 10U);
  EXPECT_EQ(report.at("truncated").at("bots").get<std::size_t>(), kBots + 0U - kept);
  EXPECT_TRUE(report.at("bots").contains("bot-" + std::to_string(kBots - 1))) << "the worst bot is kept";
  EXPECT_TRUE(report.at("truncated").contains("reason"));
  EXPECT_EQ(rig.engine().stats().reports_truncated, 1U);
  // The writer's run_full_health_check serves that same fresh report (with a live reader).
  rig.segment().header().reader_pid.store(static_cast<std::uint32_t>(::getpid()));
  rig.segment().header().reader_heartbeat_ns.store(monotonic_ns());
  EXPECT_EQ(rig.w().run_full_health_check(), snap.text);
}

TEST(ReportPage, EvenATinyPageGetsTheVerdict) {
  EngineRig rig({}, many_names());
  const std::string text = rig.engine().report_json(rig.at(kSecond), 100);
  EXPECT_LE(text.size(), 100U);
  EXPECT_EQ(nlohmann::json::parse(text).at("overall_status"), "HEALTHY");
}

}  // namespace
}  // namespace telering::reader
