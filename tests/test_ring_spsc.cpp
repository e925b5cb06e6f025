#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/ring_spsc.hpp"

namespace telering {
namespace {

constexpr std::uint32_t kCapacity = 16;

struct Lane {
  test::UniqueSegment name;
  Segment segment = Segment::open(name.options(test::small_geometry(1, kCapacity)));
  SpscProducer producer{&segment.lane(0), segment.lane_records(0), kCapacity};
  SpscConsumer consumer{&segment.lane(0), segment.lane_records(0), kCapacity};

  bool push(std::uint64_t seq) {
    return producer.try_push([&](Record& r) {
      r = Record{};
      r.kind = RecordKind::Counter;
      r.value = static_cast<double>(seq);
      r.timestamp = seq;
    });
  }
  std::vector<std::uint64_t> drain(std::uint64_t max = ~0ULL) {
    std::vector<std::uint64_t> out;
    consumer.poll([&](const Record& r) { out.push_back(r.timestamp); }, max);
    return out;
  }
};

TEST(SpscRing, DropsAndCountsWhenLaneIsFull) {
  Lane lane;
  std::uint64_t accepted = 0;
  for (std::uint64_t i = 0; i < kCapacity + 10; ++i) accepted += lane.push(i) ? 1 : 0;
  EXPECT_EQ(accepted, kCapacity);
  EXPECT_EQ(lane.segment.lane(0).dropped.load(), 10U);
  const auto got = lane.drain();
  ASSERT_EQ(got.size(), kCapacity);
  for (std::uint64_t i = 0; i < kCapacity; ++i) EXPECT_EQ(got[i], i);  // the oldest are kept
}

TEST(SpscRing, WrapsAroundPreservingOrder) {
  Lane lane;
  std::uint64_t next = 0, expected = 0;
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < 11; ++i) ASSERT_TRUE(lane.push(next++));
    for (std::uint64_t v : lane.drain()) EXPECT_EQ(v, expected++);
  }
  EXPECT_EQ(expected, next);
  EXPECT_GT(lane.segment.lane(0).tail.load(), 3 * kCapacity);  // positions only grow
  EXPECT_EQ(lane.segment.lane(0).dropped.load(), 0U);
}

TEST(SpscRing, PollIsBoundedByMaxRecords) {
  Lane lane;
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(lane.push(i));
  EXPECT_EQ(lane.drain(4).size(), 4U);
  EXPECT_EQ(lane.drain(100).size(), 6U);
  EXPECT_TRUE(lane.drain().empty());
}

TEST(SpscRing, FreedSlotsAreReusableAfterDrain) {
  Lane lane;
  for (std::uint64_t i = 0; i < kCapacity; ++i) ASSERT_TRUE(lane.push(i));
  EXPECT_FALSE(lane.push(99));
  lane.drain(1);
  EXPECT_TRUE(lane.push(100));
  EXPECT_EQ(lane.segment.lane(0).dropped.load(), 1U);
}

TEST(SpscRing, CorruptTailIsCountedAsOverrunNotCrash) {
  Lane lane;
  lane.segment.lane(0).tail.store(1000, std::memory_order_relaxed);  // hostile: far past head
  std::uint64_t delivered = 0;
  const auto r = lane.consumer.poll([&](const Record&) { ++delivered; }, ~0ULL);
  EXPECT_EQ(r.overrun, 1000U - kCapacity);
  EXPECT_EQ(delivered, kCapacity);
  EXPECT_EQ(lane.segment.lane(0).head.load(), 1000U);
}

TEST(SpscRing, ConcurrentProducerConsumerExactAccounting) {
  Lane lane;
  constexpr std::uint64_t kRecords = 200'000;
  std::uint64_t produced_ok = 0;
  std::thread producer([&] {
    for (std::uint64_t i = 0; i < kRecords; ++i) produced_ok += lane.push(i) ? 1 : 0;
  });
  std::uint64_t delivered = 0, last = 0;
  bool ordered = true, first = true;
  auto take = [&] {
    for (std::uint64_t v : lane.drain()) {
      if (!first && v <= last) ordered = false;
      first = false;
      last = v;
      ++delivered;
    }
  };
  // Every record ends up delivered or dropped; the drop counter is the producer's own word.
  while (delivered + lane.segment.lane(0).dropped.load(std::memory_order_relaxed) < kRecords) take();
  producer.join();
  take();
  EXPECT_TRUE(ordered);
  EXPECT_EQ(delivered, produced_ok);
  EXPECT_EQ(delivered + lane.segment.lane(0).dropped.load(), kRecords);
}

}  // namespace
}  // namespace telering
