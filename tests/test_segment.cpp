#include <gtest/gtest.h>

#include "support/unique_segment.hpp"
#include "telering/core/segment.hpp"

namespace telering {
namespace {

using test::UniqueSegment;

TEST(Segment, CreatesThenAttaches) {
  UniqueSegment name;
  Segment first = Segment::open(name.options(test::small_geometry()));
  EXPECT_TRUE(first.created());
  Segment second = Segment::open(name.options());
  EXPECT_FALSE(second.created());
  // The attacher uses the creator's geometry, not its own defaults.
  EXPECT_EQ(second.geometry().lane_count, 4U);
  EXPECT_EQ(second.size(), first.size());
  // Both map the same memory.
  first.lane(2).tail.store(42, std::memory_order_relaxed);
  EXPECT_EQ(second.lane(2).tail.load(std::memory_order_relaxed), 42U);
}

TEST(Segment, HeaderDescribesTheLayout) {
  UniqueSegment name;
  Segment s = Segment::open(name.options(test::small_geometry(8, 32)));
  const SegmentHeader& live = s.header();
  const SegmentIdentity& h = live.identity;
  EXPECT_EQ(h.magic, kSegmentMagic);
  EXPECT_EQ(h.layout_version, kLayoutVersion);
  EXPECT_EQ(h.record_size, kRecordSize);
  EXPECT_EQ(h.geometry.lane_count, 8U);
  EXPECT_EQ(h.geometry.lane_capacity, 32U);
  EXPECT_EQ(live.ready.load(), kReadyWord);
  EXPECT_GT(h.calibration.ns_per_tick, 0.0);
  EXPECT_EQ(validate_identity(h, s.size()), "");
  // Sections do not overlap and fit in the mapping.
  const SectionOffsets& o = h.offsets;
  EXPECT_LE(o.lanes + o.lane_stride * 8, o.mpsc);
  EXPECT_LT(o.mpsc, o.names);
  EXPECT_LT(o.names, o.board);
  EXPECT_LT(o.board, o.report);
  EXPECT_EQ(o.total, s.size());
}

TEST(Segment, DefaultSegmentFitsIn16MiB) {
  const SectionOffsets o = compute_layout(SegmentGeometry{});
  EXPECT_LE(o.total, 16U * 1024 * 1024);
  EXPECT_GE(o.total, 64U * 2048 * 64);  // 64 lanes x 2048 records x 64 B at least
}

TEST(Segment, RefusesBadGeometryWithReason) {
  UniqueSegment name;
  SegmentGeometry g = test::small_geometry();
  g.lane_capacity = 100;  // not a power of two
  try {
    (void)Segment::open(name.options(g));
    FAIL() << "expected SegmentError";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("lane capacity must be a power of two"), std::string::npos) << e.what();
  }
}

TEST(Segment, AttachOnlyFailsClearlyWhenMissing) {
  UniqueSegment name;
  SegmentOptions o = name.options();
  o.create = false;
  try {
    (void)Segment::open(o);
    FAIL() << "expected SegmentError";
  } catch (const SegmentError& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
}

TEST(Segment, ReadOnlyAttachSeesWrites) {
  UniqueSegment name;
  Segment rw = Segment::open(name.options(test::small_geometry()));
  SegmentOptions o = name.options();
  o.read_only = true;
  Segment ro = Segment::open(o);
  rw.mpsc().tail.store(7, std::memory_order_relaxed);
  EXPECT_EQ(ro.mpsc().tail.load(std::memory_order_relaxed), 7U);
  EXPECT_FALSE(ro.created());
}

TEST(Segment, RejectsNamesWithSlash) {
  SegmentOptions o;
  o.name = "a/b";
  EXPECT_THROW((void)Segment::open(o), SegmentError);
}

}  // namespace
}  // namespace telering
