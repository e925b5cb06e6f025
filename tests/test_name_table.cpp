#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "support/unique_segment.hpp"
#include "telering/core/name_table.hpp"

namespace telering {
namespace {

struct Table {
  test::UniqueSegment name;
  Segment segment = Segment::open(name.options(test::small_geometry()));
  NameTable table{segment.names(), segment.geometry().name_capacity};
};

TEST(NameTable, InternsOnceAndFindsAgain) {
  Table t;
  const NameId a = t.table.intern(NameKind::ErrorType, "api_rate_limit");
  ASSERT_NE(a, kNoName);
  EXPECT_EQ(t.table.intern(NameKind::ErrorType, "api_rate_limit"), a);
  EXPECT_EQ(t.table.find(NameKind::ErrorType, "api_rate_limit"), a);
  NameTable::Name out;
  ASSERT_TRUE(t.table.read(a, out));
  EXPECT_EQ(out.text, "api_rate_limit");
  EXPECT_EQ(out.kind, NameKind::ErrorType);
}

TEST(NameTable, KindsAreSeparateNamespaces) {
  Table t;
  const NameId as_component = t.table.intern(NameKind::Component, "market_scanner");
  const NameId as_error = t.table.intern(NameKind::ErrorType, "market_scanner");
  EXPECT_NE(as_component, as_error);
  EXPECT_EQ(t.table.find(NameKind::Metric, "market_scanner"), kNoName);
}

TEST(NameTable, EmptyNameIsRefusedAndIdZeroIsNeverUsed) {
  Table t;
  EXPECT_EQ(t.table.intern(NameKind::Bot, ""), kNoName);
  NameTable::Name out;
  EXPECT_FALSE(t.table.read(kNoName, out));
}

TEST(NameTable, LongNamesAreClippedConsistently) {
  Table t;
  const std::string long_name(100, 'n');
  const NameId id = t.table.intern(NameKind::Metric, long_name);
  ASSERT_NE(id, kNoName);
  EXPECT_EQ(t.table.find(NameKind::Metric, long_name), id);
  NameTable::Name out;
  ASSERT_TRUE(t.table.read(id, out));
  EXPECT_EQ(out.text.size(), kMaxNameLength);
}

TEST(NameTable, FullTableReturnsNoName) {
  Table t;
  const std::uint32_t usable = t.table.capacity() - 1;  // slot 0 is reserved
  std::set<NameId> ids;
  for (std::uint32_t i = 0; i < usable; ++i) {
    const NameId id = t.table.intern(NameKind::Metric, "m" + std::to_string(i));
    ASSERT_NE(id, kNoName) << i;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), usable);
  EXPECT_EQ(t.table.intern(NameKind::Metric, "one-too-many"), kNoName);
  EXPECT_EQ(t.table.find(NameKind::Metric, "m7"), t.table.intern(NameKind::Metric, "m7"));
}

TEST(NameTable, ConcurrentInternOfSameNamesGivesOneIdEach) {
  Table t;
  constexpr int kThreads = 4, kNames = 60;
  std::vector<std::vector<NameId>> got(kThreads, std::vector<NameId>(kNames));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < kThreads; ++th) {
    threads.emplace_back([&, th] {
      ready.fetch_add(1);
      while (ready.load() < kThreads) {
      }
      for (int i = 0; i < kNames; ++i) got[th][i] = t.table.intern(NameKind::Component, "component-" + std::to_string(i));
    });
  }
  for (auto& th : threads) th.join();
  std::set<NameId> distinct;
  for (int i = 0; i < kNames; ++i) {
    for (int th = 1; th < kThreads; ++th) EXPECT_EQ(got[th][i], got[0][i]) << "name " << i;
    distinct.insert(got[0][i]);
  }
  EXPECT_EQ(distinct.size(), static_cast<std::size_t>(kNames));
}

// The slot where a new name of this hash is claimed in an empty table.
std::uint32_t home_slot(const NameTable& table, NameKind kind, std::string_view text) {
  const std::uint32_t i = name_hash(kind, text) & (table.capacity() - 1);
  return i == 0 ? 1 : i;
}

// Stalls one chosen thread inside intern(), between writing its entry and publishing it.
struct InternStall {
  static inline std::atomic<std::thread::id> stalled{};
  static inline std::promise<void> reached;
  static inline std::shared_future<void> resume;
  static void hook() {
    if (std::this_thread::get_id() != stalled.load()) return;
    reached.set_value();
    resume.wait();
  }
  std::promise<void> release;
  InternStall() {
    reached = {};
    resume = release.get_future().share();
    detail::g_intern_pause = &hook;
  }
  ~InternStall() { detail::g_intern_pause = nullptr; }
};

TEST(NameTable, AStalledInternerDoesNotGiveItsNameASecondId) {
  Table t;
  NameTable impatient{t.segment.names(), t.segment.geometry().name_capacity, std::chrono::milliseconds(5)};
  InternStall stall;
  std::future<void> reached = InternStall::reached.get_future();
  NameId stalled_id = kNoName;
  std::thread slow([&] {
    InternStall::stalled = std::this_thread::get_id();
    stalled_id = t.table.intern(NameKind::Component, "kucoin-futures");
  });
  reached.wait();  // the slow interner holds its slot in the writing state
  // Another interner of the same name gives up on it after its wait and claims the name.
  const NameId id = impatient.intern(NameKind::Component, "kucoin-futures");
  ASSERT_NE(id, kNoName);
  stall.release.set_value();
  slow.join();
  EXPECT_EQ(stalled_id, id) << "the stalled claimant's publish must fail and find the name";
  EXPECT_EQ(t.table.find(NameKind::Component, "kucoin-futures"), id);
  const std::uint32_t home = home_slot(t.table, NameKind::Component, "kucoin-futures");
  EXPECT_EQ(tag_state(t.segment.names()[home].tag.load()), kNameAbandoned);
}

TEST(NameTable, ADeadClaimantDelaysOnlyInternersOfItsOwnName) {
  Table t;
  // A claimant of another name died in the writing state on our name's first slot.
  const std::uint32_t home = home_slot(t.table, NameKind::Endpoint, "/api/v1/orders");
  t.segment.names()[home].tag.store(name_tag(kNameWriting, NameKind::Endpoint, name_hash(NameKind::Endpoint, "x")));
  // With a wait this long, an interner that waited on a different name would hang the test.
  NameTable patient{t.segment.names(), t.segment.geometry().name_capacity, std::chrono::hours(1)};
  const NameId id = patient.intern(NameKind::Endpoint, "/api/v1/orders");
  EXPECT_NE(id, kNoName);
  EXPECT_NE(id, home);
  EXPECT_EQ(patient.find(NameKind::Endpoint, "/api/v1/orders"), id);
}

TEST(NameTable, ADeadClaimantOfTheSameNameIsAbandonedOnce) {
  Table t;
  const std::uint32_t home = home_slot(t.table, NameKind::Bot, "bot-7");
  t.segment.names()[home].tag.store(name_tag(kNameWriting, NameKind::Bot, name_hash(NameKind::Bot, "bot-7")));
  NameTable impatient{t.segment.names(), t.segment.geometry().name_capacity, std::chrono::milliseconds(5)};
  const NameId id = impatient.intern(NameKind::Bot, "bot-7");
  ASSERT_NE(id, kNoName);
  EXPECT_NE(id, home);
  EXPECT_EQ(tag_state(t.segment.names()[home].tag.load()), kNameAbandoned);
  // Later interners pass the abandoned slot without waiting (an hour would hang the test).
  NameTable patient{t.segment.names(), t.segment.geometry().name_capacity, std::chrono::hours(1)};
  EXPECT_EQ(patient.intern(NameKind::Bot, "bot-7"), id);
}

TEST(NameTable, ReadRejectsCorruptEntries) {
  Table t;
  const NameId id = t.table.intern(NameKind::Bot, "bot-1");
  t.segment.names()[id].length = 200;  // hostile
  NameTable::Name out;
  EXPECT_FALSE(t.table.read(id, out));
}

}  // namespace
}  // namespace telering
