// An Engine driven through shared memory in one thread, for tests: a Writer records into its
// lane, a Drainer hands the records to the Engine, and the test chooses every now_ns (no
// sleeping), starting from the real monotonic clock so the records' TSC timestamps fall
// inside Engine::event_time's accepted range.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/report_page.hpp"
#include "telering/writer.hpp"
#include "unique_segment.hpp"

namespace telering::reader {

inline constexpr const char* kBot = "kucoin-futures-1";

inline SegmentGeometry engine_geometry() {
  SegmentGeometry g = test::small_geometry(4, 256);
  g.report_bytes = 64 * 1024;
  return g;
}

// One writer (more with bot()), one drainer and one engine on a fresh segment, in this
// thread: the one rig of the engine's tests.
class EngineRig {
 public:
  explicit EngineRig(ReaderConfig config = {}, SegmentGeometry geometry = engine_geometry(),
                     std::uint64_t t0 = monotonic_ns(), std::string bot = kBot)
      : geometry_(geometry),
        writer_(Writer::attach(writer_options(std::move(bot)))),
        drainer_(writer_.segment()),
        t0_(t0),
        engine_(std::make_unique<Engine>(std::move(config), writer_.segment(), t0_,
                                         wall_ns() - static_cast<std::int64_t>(t0_))) {}

  Writer& w() { return writer_; }
  Engine& engine() { return *engine_; }
  // For a test that replaces the engine (a reader restart on the same segment).
  std::unique_ptr<Engine>& engine_ptr() { return engine_; }
  Segment& segment() { return writer_.segment(); }
  const BoardReader& board() { return writer_.board(); }
  const test::UniqueSegment& shm() const { return segment_; }
  // A time `offset_ns` after the engine started.
  [[nodiscard]] std::uint64_t at(std::uint64_t offset_ns) const { return t0_ + offset_ns; }

  // Another bot of this process on the same segment (created on first use).
  Writer& bot(const std::string& name) {
    for (auto& [n, w] : bots_)
      if (n == name) return *w;
    bots_.emplace_back(name, std::make_unique<Writer>(Writer::attach(writer_options(name))));
    return *bots_.back().second;
  }

  // Drains everything into the engine at `now_ns`, then ticks it. Returns records handled.
  // The records keep the time their writers stamped.
  std::uint64_t pump(std::uint64_t now_ns) { return drain_into_engine(now_ns, false); }

  // As pump(), with time the test's alone: the records drained are taken as written at
  // `now_ns` (restamped), so waits, leases and silences are exactly the offsets between
  // pumps, however long the machine takes between them. `now_ns` never goes back.
  std::uint64_t pump_restamped(std::uint64_t now_ns) {
    EXPECT_GE(now_ns, last_now_) << "the test's clock went back";
    last_now_ = now_ns;
    return drain_into_engine(now_ns, true);
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
  std::uint64_t drain_into_engine(std::uint64_t now_ns, bool restamp) {
    struct Handler {
      Engine& engine;
      std::uint64_t now_ns;
      bool restamp;
      std::uint64_t ticks;
      void on_record(const Record& r, const RecordSource& s) {
        Record at = r;
        if (restamp) at.timestamp = ticks;
        engine.on_record(at, s, now_ns);
      }
      void on_malformed(RecordFault f, const Record& r, const RecordSource& s) { engine.on_malformed(f, r, s); }
    } handler{*engine_, now_ns, restamp, engine_->calibration().to_ticks(now_ns)};
    // This rig is the segment's live reader: bots honour HALF_OPEN permits only while one is.
    // (Writers judge that by their own clock, so the heartbeat is real time.)
    segment().header().reader_heartbeat_ns.store(monotonic_ns(), std::memory_order_release);
    std::uint64_t total = 0;
    for (;;) {
      const DrainStats s = drainer_.poll(handler, 4096, now_ns);
      total += s.delivered + s.malformed;
      if (s.delivered + s.malformed == 0) break;
    }
    engine_->tick(now_ns);
    return total;
  }

  WriterOptions writer_options(std::string bot) const {
    WriterOptions o;
    o.segment = segment_.name();
    o.bot = std::move(bot);
    o.geometry = geometry_;
    o.sample_memory = false;
    return o;
  }

  test::UniqueSegment segment_;
  SegmentGeometry geometry_;
  Writer writer_;
  Drainer drainer_;
  std::uint64_t t0_;
  std::uint64_t last_now_ = 0;
  std::unique_ptr<Engine> engine_;
  std::vector<std::pair<std::string, std::unique_ptr<Writer>>> bots_;
};

}  // namespace telering::reader
