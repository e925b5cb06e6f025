// Tests for RollingWindow and RateWindow (reader/src/aggregate/rolling_window.hpp).
#include "aggregate/rolling_window.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace {

using telering::reader::RateWindow;
using telering::reader::RollingWindow;

constexpr std::uint64_t kSec = 1'000'000'000ULL;

TEST(RollingWindow, DefaultCapacityIsTheSeedsHundred) {
  RollingWindow w;
  EXPECT_EQ(w.capacity(), 100U);
  EXPECT_TRUE(w.empty());
}

TEST(RollingWindow, EmptyWindowReportsZeros) {
  RollingWindow w(5);
  EXPECT_EQ(w.size(), 0U);
  EXPECT_EQ(w.average(), 0.0);
  EXPECT_EQ(w.sum(), 0.0);
  EXPECT_EQ(w.min(), 0.0);
  EXPECT_EQ(w.max(), 0.0);
  EXPECT_EQ(w.last(), 0.0);
  EXPECT_EQ(w.percentile(50), 0.0);
  EXPECT_TRUE(w.values().empty());
}

TEST(RollingWindow, ZeroCapacityThrows) { EXPECT_THROW(RollingWindow(0), std::invalid_argument); }

TEST(RollingWindow, TracksSumAverageMinMaxLast) {
  RollingWindow w(10);
  for (double v : {3.0, 1.0, 4.0, 1.0, 5.0}) ASSERT_TRUE(w.push(v));
  EXPECT_EQ(w.size(), 5U);
  EXPECT_DOUBLE_EQ(w.sum(), 14.0);
  EXPECT_DOUBLE_EQ(w.average(), 2.8);
  EXPECT_EQ(w.min(), 1.0);
  EXPECT_EQ(w.max(), 5.0);
  EXPECT_EQ(w.last(), 5.0);
  EXPECT_EQ(w.values(), (std::vector<double>{3.0, 1.0, 4.0, 1.0, 5.0}));
}

TEST(RollingWindow, WindowRollsAt100) {
  RollingWindow w;
  for (int i = 1; i <= 100; ++i) w.push(static_cast<double>(i));
  EXPECT_EQ(w.size(), 100U);
  EXPECT_TRUE(w.full());
  EXPECT_DOUBLE_EQ(w.average(), 50.5);
  w.push(1000.0);  // evicts 1
  EXPECT_EQ(w.size(), 100U);
  EXPECT_EQ(w.min(), 2.0);
  EXPECT_EQ(w.max(), 1000.0);
  EXPECT_DOUBLE_EQ(w.sum(), 5050.0 - 1.0 + 1000.0);
  const std::vector<double> v = w.values();
  ASSERT_EQ(v.size(), 100U);
  EXPECT_EQ(v.front(), 2.0);
  EXPECT_EQ(v.back(), 1000.0);
  EXPECT_EQ(w.total_pushed(), 101U);
}

TEST(RollingWindow, AverageIsOnlyTheLastHundredAfterManyWraps) {
  RollingWindow w;
  for (int i = 0; i < 100'000; ++i) w.push(1e9 + static_cast<double>(i % 7));
  for (int i = 0; i < 100; ++i) w.push(0.25);
  // Re-summing at each wrap keeps the big earlier values from leaving rounding residue.
  EXPECT_EQ(w.average(), 0.25);
  EXPECT_EQ(w.sum(), 25.0);
}

TEST(RollingWindow, RefusesNonFiniteSamples) {
  RollingWindow w(4);
  w.push(2.0);
  EXPECT_FALSE(w.push(std::numeric_limits<double>::quiet_NaN()));
  EXPECT_FALSE(w.push(std::numeric_limits<double>::infinity()));
  EXPECT_EQ(w.size(), 1U);
  EXPECT_EQ(w.rejected(), 2U);
  EXPECT_EQ(w.average(), 2.0);
}

TEST(RollingWindow, PercentileInterpolatesBetweenRanks) {
  RollingWindow w(10);
  for (double v : {4.0, 1.0, 3.0, 2.0}) w.push(v);
  EXPECT_DOUBLE_EQ(w.percentile(50), 2.5);
  EXPECT_DOUBLE_EQ(w.percentile(0), 1.0);
  EXPECT_DOUBLE_EQ(w.percentile(100), 4.0);
  EXPECT_DOUBLE_EQ(w.percentile(25), 1.75);
  EXPECT_DOUBLE_EQ(w.percentile(-5), 1.0);   // clamped
  EXPECT_DOUBLE_EQ(w.percentile(500), 4.0);  // clamped
}

TEST(RollingWindow, PercentileOfOneHundredSamples) {
  RollingWindow w;
  for (int i = 100; i >= 1; --i) w.push(static_cast<double>(i));
  EXPECT_DOUBLE_EQ(w.percentile(99), 99.01);
  EXPECT_DOUBLE_EQ(w.percentile(50), 50.5);
}

TEST(RollingWindow, ClearEmptiesButKeepsCapacity) {
  RollingWindow w(3);
  w.push(1.0);
  w.push(2.0);
  w.clear();
  EXPECT_TRUE(w.empty());
  EXPECT_EQ(w.capacity(), 3U);
  w.push(7.0);
  EXPECT_EQ(w.average(), 7.0);
  EXPECT_EQ(w.values(), std::vector<double>{7.0});
}

TEST(RateWindow, CountsEventsInTheLastNSeconds) {
  RateWindow r(60);
  r.add(0 * kSec);
  r.add(10 * kSec + 5);
  r.add(59 * kSec + kSec / 2);
  EXPECT_EQ(r.count(59 * kSec), 3U);
  EXPECT_EQ(r.count(60 * kSec), 2U);   // second 0 has left the 60 s ending with second 60
  EXPECT_EQ(r.count(70 * kSec), 1U);   // seconds 11..70
  EXPECT_EQ(r.count(119 * kSec), 0U);  // seconds 60..119
  EXPECT_EQ(r.total(), 3U);
}

TEST(RateWindow, CountLastClampsToWindowLength) {
  RateWindow r(10);
  for (std::uint64_t s = 0; s < 10; ++s) r.add(s * kSec);
  EXPECT_EQ(r.count(9 * kSec, 3), 3U);
  EXPECT_EQ(r.count(9 * kSec, 100), 10U);
  EXPECT_EQ(r.count(9 * kSec, 0), 0U);
}

TEST(RateWindow, BucketReusedOnlyForANewerSecond) {
  RateWindow r(5);
  r.add(7 * kSec, 4);   // bucket 2
  r.add(2 * kSec, 1);   // same bucket, older second: too late, total only
  EXPECT_EQ(r.count(7 * kSec), 4U);
  EXPECT_EQ(r.total(), 5U);
  r.add(12 * kSec, 2);  // same bucket, newer second: replaces
  EXPECT_EQ(r.count(12 * kSec), 2U);
}

TEST(RateWindow, OutOfOrderEventsInsideTheWindowStillCount) {
  RateWindow r(60);
  r.add(50 * kSec);
  r.add(30 * kSec);  // drained later from another lane
  EXPECT_EQ(r.count(50 * kSec), 2U);
  EXPECT_EQ(r.count(50 * kSec, 10), 1U);
}

TEST(RateWindow, LongIdleGapForgetsEverything) {
  RateWindow r(900);
  for (int i = 0; i < 20; ++i) r.add(100 * kSec);
  EXPECT_EQ(r.count(100 * kSec), 20U);
  EXPECT_EQ(r.count(100'000 * kSec), 0U);
  EXPECT_EQ(r.total(), 20U);
}

TEST(RateWindow, ZeroSecondsThrows) { EXPECT_THROW(RateWindow(0), std::invalid_argument); }

}  // namespace
