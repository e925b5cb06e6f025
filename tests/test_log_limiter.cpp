// Log lines a writer can cause are bounded per kind (issue 12 item 7): a writer sending
// thousands of rejected commands a second gets a few lines and a periodic "N more".
#include <gtest/gtest.h>

#include "common/log_limiter.hpp"
#include "support/engine_rig.hpp"
#include "support/log_capture.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

TEST(LogLimiter, LetsABurstThroughPerKindAndCountsTheRest) {
  test::LogCapture log;
  LogLimiter limiter(3, 10 * kSecond);
  int allowed = 0;
  for (int i = 0; i < 1000; ++i) allowed += limiter.allow("rejected command", kSecond + i) ? 1 : 0;
  EXPECT_EQ(allowed, 3);
  EXPECT_TRUE(limiter.allow("another kind", kSecond)) << "kinds are limited separately";
  limiter.flush(5 * kSecond);
  EXPECT_EQ(log.count("more"), 0U) << "the period is not over yet";
  limiter.flush(11 * kSecond);
  EXPECT_EQ(log.count("997 more 'rejected command' log lines held back"), 1U) << log.text();
  limiter.flush(12 * kSecond);
  EXPECT_EQ(log.count("more"), 1U) << "said once";
  EXPECT_TRUE(limiter.allow("rejected command", 12 * kSecond)) << "a new period lets lines through again";
  EXPECT_EQ(limiter.held_back_total(), 997U);
}

TEST(LogLimiter, RejectedCommandsFromAWriterDoNotFloodTheLog) {
  EngineRig rig;
  test::LogCapture log;
  const NameId not_a_component = rig.w().error_type("api_rate_limit");
  constexpr int kCommands = 2000;
  std::uint64_t now = rig.at(kSecond);
  for (int i = 0; i < kCommands; ++i) {
    ASSERT_NE(rig.w().send_command(CommandCode::OpenBreaker, not_a_component, Severity::None, {}, std::chrono::milliseconds(0)), 0U);
    if (i % 100 == 99) rig.pump(now += 1'000'000);
  }
  rig.pump(now += 1'000'000);
  EXPECT_EQ(rig.engine().stats().commands_rejected, static_cast<std::uint64_t>(kCommands));
  EXPECT_LE(log.count("rejected command "), LogLimiter::kDefaultBurst) << log.text();
  EXPECT_GE(log.count("rejected command "), 1U) << "the first ones are logged";
  rig.pump(now + LogLimiter::kDefaultPeriodNs);
  EXPECT_EQ(log.count(std::to_string(kCommands - LogLimiter::kDefaultBurst) + " more 'rejected command'"), 1U) << log.text();
}

TEST(LogLimiter, DecisionsCommandedByAWriterAreLimitedButAllApplied) {
  EngineRig rig;
  test::LogCapture log;
  const NameId scanner = rig.w().component("market_scanner");
  std::uint64_t now = rig.at(kSecond);
  for (int i = 0; i < 400; ++i) {
    const CommandCode code = i % 2 == 0 ? CommandCode::ForceOpenBreaker : CommandCode::CloseBreaker;
    ASSERT_NE(rig.w().send_command(code, scanner, Severity::None, {}, std::chrono::milliseconds(0)), 0U);
    if (i % 50 == 49) rig.pump(now += 1'000'000);
  }
  rig.pump(now += 1'000'000);
  EXPECT_EQ(rig.engine().stats().commands_applied, 400U);
  EXPECT_EQ(rig.engine().take_decisions().size(), 400U) << "every decision is kept";
  EXPECT_LE(log.count("decision #"), LogLimiter::kDefaultBurst) << log.text();
}

}  // namespace
}  // namespace telering::reader
