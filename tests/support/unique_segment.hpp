// A segment name unique to this test process and test, removed from /dev/shm on exit.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <string>

#include "telering/core/segment.hpp"

namespace telering::test {

class UniqueSegment {
 public:
  UniqueSegment() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = "telering-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
            (info ? std::string(info->name()).substr(0, 40) : std::string("x"));
    Segment::remove(name_);
  }
  ~UniqueSegment() { Segment::remove(name_); }
  UniqueSegment(const UniqueSegment&) = delete;
  UniqueSegment& operator=(const UniqueSegment&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }

  [[nodiscard]] SegmentOptions options(SegmentGeometry g = {}) const {
    SegmentOptions o;
    o.name = name_;
    o.geometry = g;
    return o;
  }

 private:
  std::string name_;
};

// A small geometry for tests that fill lanes.
inline SegmentGeometry small_geometry(std::uint32_t lanes = 4, std::uint32_t capacity = 16) {
  SegmentGeometry g;
  g.lane_count = lanes;
  g.lane_capacity = capacity;
  g.mpsc_capacity = 64;
  g.name_capacity = 256;
  g.report_bytes = 16 * 1024;
  return g;
}

}  // namespace telering::test
