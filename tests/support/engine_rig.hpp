// An Engine driven through shared memory in one thread, for tests: a Writer records into its
// lane, a Drainer hands the records to the Engine, and the test chooses every now_ns (no
// sleeping), starting from the real monotonic clock so the records' TSC timestamps fall
// inside Engine::event_time's accepted range.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "unique_segment.hpp"
#include "telering/clock.hpp"
#include "telering/drain.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "telering/report_page.hpp"
#include "telering/writer.hpp"

namespace telering::reader {

inline constexpr const char* kBot = "kucoin-futures-1";

inline SegmentGeometry engine_geometry() {
  SegmentGeometry g = test::small_geometry(4, 256);
  g.report_bytes = 64 * 1024;
  return g;
}

// One writer, one drainer and one engine on a fresh segment, in this thread.
class EngineRig {
 public:
  explicit EngineRig(ReaderConfig config = {}, SegmentGeometry geometry = engine_geometry())
      : writer_(Writer::attach(writer_options(geometry))),
        drainer_(writer_.segment()),
        t0_(monotonic_ns()),
        engine_(std::move(config), writer_.segment(), t0_, wall_ns() - static_cast<std::int64_t>(t0_)) {}

  Writer& w() { return writer_; }
  Engine& engine() { return engine_; }
  Segment& segment() { return writer_.segment(); }
  const BoardReader& board() { return writer_.board(); }
  // A time `offset_ns` after the engine started.
  [[nodiscard]] std::uint64_t at(std::uint64_t offset_ns) const { return t0_ + offset_ns; }

  // Drains everything into the engine at `now_ns`, then ticks it. Returns records handled.
  std::uint64_t pump(std::uint64_t now_ns) {
    struct Handler {
      Engine& engine;
      std::uint64_t now_ns;
      void on_record(const Record& r, const RecordSource& s) { engine.on_record(r, s, now_ns); }
      void on_malformed(RecordFault f, const Record& r, const RecordSource& s) { engine.on_malformed(f, r, s); }
    } handler{engine_, now_ns};
    // This rig is the segment's live reader: bots honour HALF_OPEN permits only while one is.
    segment().header().reader_heartbeat_ns.store(monotonic_ns(), std::memory_order_release);
    std::uint64_t total = 0;
    for (;;) {
      const DrainStats s = drainer_.poll(handler, 4096, now_ns);
      total += s.delivered + s.malformed;
      if (s.delivered + s.malformed == 0) break;
    }
    engine_.tick(now_ns);
    return total;
  }

  // The report page as JSON (fails the test when nothing was published).
  nlohmann::json report() {
    ReportPage page(&segment().report(), segment().report_payload(), segment().geometry().report_bytes);
    ReportPage::Snapshot snap;
    EXPECT_TRUE(page.read(snap));
    return nlohmann::json::parse(snap.text);
  }
  ReportPage::Snapshot report_snapshot() {
    ReportPage page(&segment().report(), segment().report_payload(), segment().geometry().report_bytes);
    ReportPage::Snapshot snap;
    EXPECT_TRUE(page.read(snap));
    return snap;
  }

  // The command id the writer handed out last.
  [[nodiscard]] std::uint64_t last_command_id() { return segment().header().next_command_id.load(); }

 private:
  WriterOptions writer_options(const SegmentGeometry& geometry) {
    WriterOptions o;
    o.segment = segment_.name();
    o.bot = kBot;
    o.geometry = geometry;
    o.sample_memory = false;
    return o;
  }

  test::UniqueSegment segment_;
  Writer writer_;
  Drainer drainer_;
  std::uint64_t t0_;
  Engine engine_;
};


}  // namespace telering::reader
