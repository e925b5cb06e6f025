// libFuzzer: hostile bytes written over a live segment's header, lanes, shared lane and name
// table; the header validator, the drainer and the engine must neither crash nor hang.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <spdlog/spdlog.h>

#include "engine/engine.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/segment.hpp"

namespace {

struct World {
  std::string name = "telering-fuzz-segment-" + std::to_string(::getpid());
  std::unique_ptr<telering::Segment> segment;
  std::vector<std::byte> pristine;
  World() {
    telering::Segment::remove(name);
    telering::SegmentOptions o;
    o.name = name;
    o.geometry.lane_count = 2;
    o.geometry.lane_capacity = 8;
    o.geometry.mpsc_capacity = 8;
    o.geometry.name_capacity = 16;
    o.geometry.report_bytes = 16 * 1024;
    segment = std::make_unique<telering::Segment>(telering::Segment::open(o));
    pristine.assign(segment->base(), segment->base() + segment->size());
    spdlog::set_level(spdlog::level::off);
  }
  ~World() { telering::Segment::remove(name); }
};

struct Handler {
  telering::reader::Engine& engine;
  std::uint64_t now;
  void on_record(const telering::Record& r, const telering::RecordSource& s) { engine.on_record(r, s, now); }
  void on_malformed(telering::RecordFault f, const telering::Record& r, const telering::RecordSource& s) {
    engine.on_malformed(f, r, s);
  }
};

}  // namespace

// Input: a sequence of (offset: 2 bytes, length: 1 byte, bytes...) patches. Offsets past
// the header address the sections after it, so lanes, the shared lane and names get hit.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  telering::Segment& seg = *world.segment;
  std::memcpy(seg.base(), world.pristine.data(), world.pristine.size());

  // The identity is validated on a copy, as an attacher does before trusting it.
  telering::SegmentIdentity header_copy;
  std::memcpy(static_cast<void*>(&header_copy), seg.base(), sizeof header_copy);
  std::size_t i = 0;
  const std::size_t body = seg.size() - telering::kHeaderBytes;
  while (i + 3 <= size) {
    const std::size_t offset = (static_cast<std::size_t>(data[i]) << 8 | data[i + 1]) * 4;
    const std::size_t length = data[i + 2];
    i += 3;
    const std::size_t n = std::min(length, size - i);
    if (offset < sizeof header_copy) {
      const std::size_t m = std::min(n, sizeof header_copy - offset);
      std::memcpy(reinterpret_cast<std::byte*>(&header_copy) + offset, data + i, m);
    } else {
      const std::size_t at = telering::kHeaderBytes + (offset % body);
      const std::size_t m = std::min(n, seg.size() - at);
      std::memcpy(seg.base() + at, data + i, m);
    }
    i += n;
  }
  (void)telering::validate_identity(header_copy, seg.size());

  telering::reader::Engine engine(telering::reader::ReaderConfig{}, seg, 1'000'000'000, 0);
  telering::Drainer drainer(seg);
  Handler handler{engine, 2'000'000'000};
  for (int turn = 0; turn < 4; ++turn) {
    handler.now += 2'000'000'000;  // past the shared lane's stuck timeout
    (void)drainer.poll(handler, 64, handler.now);
    engine.tick(handler.now);
  }
  (void)drainer.reclaim_dead_lanes();
  return 0;
}
