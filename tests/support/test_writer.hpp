// A Writer on a test's own segment: small geometry, no memory sampler thread.
#pragma once

#include "telering/writer.hpp"
#include "unique_segment.hpp"

namespace telering::test {

inline Writer attach_test_writer(const UniqueSegment& seg, std::uint32_t lane_capacity) {
  WriterOptions o;
  o.segment = seg.name();
  o.geometry = small_geometry(4, lane_capacity);
  o.sample_memory = false;
  return Writer::attach(o);
}

}  // namespace telering::test
