// Tests for ErrorLog (reader/src/aggregate/error_log.hpp).
#include "aggregate/error_log.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

namespace {

using telering::Severity;
using telering::reader::ErrorEvent;
using telering::reader::ErrorLog;
using telering::reader::ErrorLogConfig;

constexpr std::uint64_t kSec = 1'000'000'000ULL;
constexpr std::int64_t kWall0 = 1'761'489'000'000'000'000LL;  // 2025-10-26 14:30:00 UTC

ErrorEvent make(std::string type, std::uint64_t now_ns, Severity sev = Severity::Medium, std::string msg = "") {
  return ErrorEvent{
      .error_type = std::move(type),
      .component = "market_scanner",
      .severity = sev,
      .message_or_context = std::move(msg),
      .now_ns = now_ns,
      .wall_ns = kWall0 + static_cast<std::int64_t>(now_ns),
      .bot_id = 1,
  };
}

TEST(ErrorLog, StartsEmpty) {
  ErrorLog log(0);
  const auto st = log.statistics(0);
  EXPECT_EQ(st.total_errors, 0U);
  EXPECT_TRUE(st.errors_by_type.empty());
  EXPECT_EQ(st.errors_by_severity.size(), 4U);
  EXPECT_EQ(st.errors_by_severity.at("LOW"), 0U);
  EXPECT_EQ(st.error_rate_per_minute, 0.0);
  EXPECT_TRUE(st.recent_errors.empty());
}

TEST(ErrorLog, HistoryCappedAt1000) {
  ErrorLog log(0);
  for (int i = 0; i < 1500; ++i) log.record(make("t", static_cast<std::uint64_t>(i), Severity::Low, std::to_string(i)));
  EXPECT_EQ(log.history_size(), 1000U);
  EXPECT_EQ(log.total_errors(), 1500U);
  const auto h = log.history();
  ASSERT_EQ(h.size(), 1000U);
  EXPECT_EQ(h.front().message_or_context, "500");
  EXPECT_EQ(h.back().message_or_context, "1499");
}

TEST(ErrorLog, HistoryCapIsConfigurable) {
  ErrorLog log(0, ErrorLogConfig{.history_capacity = 3});
  for (int i = 0; i < 5; ++i) log.record(make("t", 0, Severity::Low, std::to_string(i)));
  const auto h = log.history();
  ASSERT_EQ(h.size(), 3U);
  EXPECT_EQ(h[0].message_or_context, "2");
  EXPECT_EQ(h[2].message_or_context, "4");
}

TEST(ErrorLog, DedupLogCountsAndFirstLastSeen) {
  ErrorLog log(0);
  log.record(make("api_rate_limit", 5 * kSec, Severity::Medium, "endpoint=/a"));
  log.record(make("api_connection", 6 * kSec, Severity::High));
  log.record(make("api_rate_limit", 9 * kSec, Severity::High, "endpoint=/b"));
  ASSERT_EQ(log.type_count(), 2U);
  const auto* s = log.find_type("api_rate_limit");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->count, 2U);
  EXPECT_EQ(s->first_seen_ns, 5 * kSec);
  EXPECT_EQ(s->last_seen_ns, 9 * kSec);
  EXPECT_EQ(s->first_seen_wall_ns, kWall0 + static_cast<std::int64_t>(5 * kSec));
  EXPECT_EQ(s->last_seen_wall_ns, kWall0 + static_cast<std::int64_t>(9 * kSec));
  EXPECT_EQ(s->last_severity, Severity::High);
  EXPECT_EQ(s->last_message, "endpoint=/b");
  EXPECT_EQ(s->last_component, "market_scanner");
  EXPECT_EQ(log.find_type("nope"), nullptr);
  const auto types = log.types();  // most recently recorded first
  ASSERT_EQ(types.size(), 2U);
  EXPECT_EQ(types[0].error_type, "api_rate_limit");
  EXPECT_EQ(types[1].error_type, "api_connection");
}

TEST(ErrorLog, OutOfOrderEventDoesNotMoveFirstAndLastSeenInward) {
  ErrorLog log(0);
  log.record(make("x", 10 * kSec));
  log.record(make("x", 20 * kSec));
  log.record(make("x", 15 * kSec));
  log.record(make("x", 5 * kSec));
  const auto* s = log.find_type("x");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->first_seen_ns, 5 * kSec);
  EXPECT_EQ(s->last_seen_ns, 20 * kSec);
  EXPECT_EQ(s->count, 4U);
}

TEST(ErrorLog, DedupLogEvictsLeastRecentlySeenType) {
  ErrorLog log(0, ErrorLogConfig{.max_types = 3});
  log.record(make("a", 1));
  log.record(make("b", 2));
  log.record(make("c", 3));
  log.record(make("a", 4));  // a is now the most recent; b the least
  log.record(make("d", 5));  // evicts b
  EXPECT_EQ(log.type_count(), 3U);
  EXPECT_EQ(log.evicted_types(), 1U);
  EXPECT_EQ(log.find_type("b"), nullptr);
  ASSERT_NE(log.find_type("a"), nullptr);
  EXPECT_EQ(log.find_type("a")->count, 2U);
  log.record(make("b", 6));  // returns as a new type, count restarts
  EXPECT_EQ(log.find_type("b")->count, 1U);
  EXPECT_EQ(log.find_type("c"), nullptr);
  EXPECT_EQ(log.evicted_types(), 2U);
}

TEST(ErrorLog, ManyDistinctTypesStayBounded) {
  ErrorLog log(0);
  for (int i = 0; i < 10'000; ++i) log.record(make("type_" + std::to_string(i), static_cast<std::uint64_t>(i)));
  EXPECT_EQ(log.type_count(), 4096U);
  EXPECT_EQ(log.evicted_types(), 10'000U - 4096U);
  EXPECT_NE(log.find_type("type_9999"), nullptr);
  EXPECT_EQ(log.find_type("type_0"), nullptr);
  EXPECT_EQ(log.statistics(0).errors_by_type.size(), 4096U);
}

TEST(ErrorLog, LongFieldsAreCut) {
  ErrorLog log(0);
  log.record(make(std::string(1000, 't'), 0, Severity::Low, std::string(5000, 'm')));
  const auto h = log.history();
  ASSERT_EQ(h.size(), 1U);
  EXPECT_EQ(h[0].error_type.size(), ErrorLog::kMaxFieldBytes);
  EXPECT_EQ(h[0].message_or_context.size(), ErrorLog::kMaxFieldBytes);
}

TEST(ErrorLog, StatisticsByTypeAndSeverity) {
  ErrorLog log(0);
  log.record(make("api_rate_limit", kSec, Severity::Medium));
  log.record(make("api_rate_limit", kSec, Severity::Medium));
  log.record(make("insufficient_balance", kSec, Severity::High));
  log.record(make("critical_system_error", kSec, Severity::Critical));
  const auto st = log.statistics(2 * kSec);
  EXPECT_EQ(st.total_errors, 4U);
  EXPECT_EQ(st.errors_by_type.at("api_rate_limit"), 2U);
  EXPECT_EQ(st.errors_by_type.at("insufficient_balance"), 1U);
  EXPECT_EQ(st.errors_by_type.at("critical_system_error"), 1U);
  EXPECT_EQ(st.errors_by_severity.at("LOW"), 0U);
  EXPECT_EQ(st.errors_by_severity.at("MEDIUM"), 2U);
  EXPECT_EQ(st.errors_by_severity.at("HIGH"), 1U);
  EXPECT_EQ(st.errors_by_severity.at("CRITICAL"), 1U);
  EXPECT_EQ(st.errors_by_severity.count("NONE"), 0U);
  EXPECT_EQ(st.tracked_types, 3U);
}

TEST(ErrorLog, InvalidSeverityIsCountedAsNone) {
  ErrorLog log(0);
  log.record(make("x", 0, static_cast<Severity>(9)));
  const auto st = log.statistics(0);
  EXPECT_EQ(st.errors_by_severity.at("NONE"), 1U);
  EXPECT_EQ(st.recent_errors.at(0).severity, Severity::None);
}

TEST(ErrorLog, RecentErrorsAreTheLastTenOldestFirst) {
  ErrorLog log(0);
  for (int i = 0; i < 25; ++i) log.record(make("t", 0, Severity::Low, std::to_string(i)));
  const auto st = log.statistics(0);
  ASSERT_EQ(st.recent_errors.size(), 10U);
  EXPECT_EQ(st.recent_errors.front().message_or_context, "15");
  EXPECT_EQ(st.recent_errors.back().message_or_context, "24");
}

TEST(ErrorLog, ErrorRatePerMinuteOverLastSixtySeconds) {
  const std::uint64_t start = 1000 * kSec;
  ErrorLog log(start);
  log.record(make("old", start + 10 * kSec));    // leaves the window by the query
  for (int i = 0; i < 3; ++i) log.record(make("t", start + 150 * kSec));
  // Window ending with second start+200 covers start+141 .. start+200.
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(start + 200 * kSec), 3.0);
  EXPECT_DOUBLE_EQ(log.statistics(start + 200 * kSec).error_rate_per_minute, 3.0);
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(start + 300 * kSec), 0.0);
}

TEST(ErrorLog, ErrorRateSinceStartWhenYoungerThanAMinute) {
  const std::uint64_t start = 1000 * kSec;
  ErrorLog log(start);
  for (int i = 0; i < 3; ++i) log.record(make("t", start + 5 * kSec));
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(start + 30 * kSec), 6.0);   // 3 in 30 s
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(start + 60 * kSec), 3.0);   // a full minute
}

TEST(ErrorLog, ErrorRateFloorsElapsedAtOneSecond) {
  ErrorLog log(0);
  log.record(make("t", kSec / 10));
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(kSec / 10), 60.0);
  EXPECT_DOUBLE_EQ(log.error_rate_per_minute(0), 60.0);
}

TEST(ErrorLog, MovedLogKeepsItsTypeIndex) {
  ErrorLog a(0);
  a.record(make("x", 1));
  ErrorLog b(std::move(a));
  b.record(make("x", 2));
  ASSERT_NE(b.find_type("x"), nullptr);
  EXPECT_EQ(b.find_type("x")->count, 2U);
}

TEST(ErrorLog, InvalidConfigThrows) {
  EXPECT_THROW(ErrorLog(0, ErrorLogConfig{.history_capacity = 0}), std::invalid_argument);
  EXPECT_THROW(ErrorLog(0, ErrorLogConfig{.max_types = 0}), std::invalid_argument);
}

}  // namespace
