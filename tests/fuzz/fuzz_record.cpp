// libFuzzer: any 64 bytes as a record, through validation and (when valid) the engine, the
// way the reader treats what it drains from shared memory.
#include <cstdint>
#include <cstring>
#include <memory>
#include <spdlog/spdlog.h>

#include "engine/engine.hpp"
#include "telering/record.hpp"
#include "telering/segment.hpp"

namespace {

struct World {
  std::string name = "telering-fuzz-record-" + std::to_string(::getpid());
  std::unique_ptr<telering::Segment> segment;
  std::unique_ptr<telering::reader::Engine> engine;
  World() {
    telering::Segment::remove(name);
    telering::SegmentOptions o;
    o.name = name;
    o.geometry.lane_count = 1;
    o.geometry.lane_capacity = 16;
    o.geometry.mpsc_capacity = 16;
    o.geometry.name_capacity = 64;
    o.geometry.report_bytes = 64 * 1024;
    segment = std::make_unique<telering::Segment>(telering::Segment::open(o));
    telering::NameTable names(segment->names(), 64);
    (void)names.intern(telering::NameKind::Bot, "bot");
    (void)names.intern(telering::NameKind::ErrorType, "api_rate_limit");
    (void)names.intern(telering::NameKind::Component, "market_scanner");
    (void)names.intern(telering::NameKind::Metric, "orders");
    spdlog::set_level(spdlog::level::off);
    engine = std::make_unique<telering::reader::Engine>(telering::reader::ReaderConfig{}, *segment, 1'000'000'000, 0);
  }
  ~World() { telering::Segment::remove(name); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World world;
  static std::uint64_t now = 1'000'000'000;
  telering::Record r{};
  std::memcpy(&r, data, std::min(size, sizeof r));
  now += 1'000'000;
  const telering::RecordFault fault = telering::validate_record(r, 64);
  const telering::RecordSource source{0, 0};
  if (fault == telering::RecordFault::None) world.engine->on_record(r, source, now);
  else world.engine->on_malformed(fault, r, source);
  if (size > sizeof r && data[sizeof r] == 0x7f) world.engine->tick(now);
  return 0;
}
