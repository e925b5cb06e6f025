#include "state/replay.hpp"

#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "state/record_log.hpp"

namespace telering::reader {

namespace {

constexpr std::uint64_t kTickNs = 1'000'000;

// A private segment (removed on exit) whose name table holds the recorded ids unchanged.
struct PrivateSegment {
  std::string name;
  std::unique_ptr<Segment> segment;
  explicit PrivateSegment(std::uint32_t name_capacity) {
    static std::atomic<int> counter{0};
    name = "telering-replay-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
    Segment::remove(name);
    SegmentOptions o;
    o.name = name;
    o.geometry.lane_count = 1;
    o.geometry.lane_capacity = 2;
    o.geometry.mpsc_capacity = 2;
    o.geometry.name_capacity = name_capacity;
    o.prefault = false;
    segment = std::make_unique<Segment>(Segment::open(o));
  }
  ~PrivateSegment() { Segment::remove(name); }

  void install_name(NameId id, NameKind kind, std::string_view text) {
    NameEntry& e = segment->names()[id];
    if (tag_state(e.tag.load(std::memory_order_relaxed)) == kNameReady) return;
    e.length = static_cast<std::uint8_t>(text.size());
    std::memcpy(e.text, text.data(), text.size());
    e.tag.store(name_tag(kNameReady, kind, name_hash(kind, text)), std::memory_order_release);
  }
};

}  // namespace

ReplayResult replay(const std::vector<std::string>& files, const ReaderConfig& config) {
  ReplayResult result;
  if (files.empty()) return result;
  const RecordLogHeader first = read_record_log_header(files.front());
  PrivateSegment seg(first.name_capacity);
  std::unique_ptr<Engine> engine;
  std::uint64_t first_ns = 0, now_ns = 0, next_tick_ns = 0;

  for (const std::string& file : files) {
    const RecordLogHeader header = read_record_log_header(file);
    if (header.name_capacity != first.name_capacity)
      throw std::runtime_error(file + ": recorded from a segment with " + std::to_string(header.name_capacity) +
                               " names, " + files.front() + " with " + std::to_string(first.name_capacity));
    read_record_log(
        file, [&](NameId id, NameKind kind, std::string_view text) { seg.install_name(id, kind, text); },
        [&](const Record& r, std::uint32_t lane) {
          const std::uint64_t t = header.calibration.to_ns(r.timestamp);
          if (!engine) {
            first_ns = now_ns = next_tick_ns = t;
            engine = std::make_unique<Engine>(config, *seg.segment, t, header.wall_offset_ns);
            engine->set_replaying(true);
          }
          if (t > now_ns) now_ns = t;  // time never runs backwards across threads' records
          while (next_tick_ns <= now_ns) {
            engine->tick(next_tick_ns);
            next_tick_ns += kTickNs;
          }
          const RecordSource source{lane, 0};
          const RecordFault fault = validate_record(r, first.name_capacity);
          if (fault == RecordFault::None) engine->on_record(r, source, now_ns);
          else engine->on_malformed(fault, r, source);
          ++result.records;
        });
  }
  if (!engine) return result;
  engine->tick(now_ns);
  result.duration_ns = now_ns - first_ns;
  result.decisions = engine->take_decisions();
  for (DecisionEvent& d : result.decisions) d.now_ns -= std::min(d.now_ns, first_ns);
  result.alerts = engine->take_alerts();
  result.final_health = engine->health_report(now_ns);
  result.final_errors = engine->error_statistics(now_ns);
  result.stats = engine->stats();
  return result;
}

}  // namespace telering::reader
