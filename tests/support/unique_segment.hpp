// A segment name unique to this test process and test. /dev/shm/<name> is removed on
// construction (a leftover of a crashed run) and on destruction, so an ASSERT that returns
// early or a thrown exception still cleans up. Declare it before anything that maps the
// segment or runs a child, so it is destroyed last.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <string>

#include "telering/core/segment.hpp"

namespace telering::test {

class UniqueSegment {
 public:
  UniqueSegment() {
    static std::atomic<int> counter{0};
    std::string test = "x";
    if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) test = info->name();
    for (char& c : test)
      if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';  // a parameterised test's "/0"
    name_ = "telering-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
            test.substr(0, 40);
    Segment::remove(name_);
  }
  ~UniqueSegment() { Segment::remove(name_); }
  UniqueSegment(const UniqueSegment&) = delete;
  UniqueSegment& operator=(const UniqueSegment&) = delete;

  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::string path() const { return "/dev/shm/" + name_; }

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
