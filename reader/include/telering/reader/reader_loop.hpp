// telering/reader/reader_loop.hpp — telering-reader's main loop around one segment.
//
// Each turn: drain a bounded batch from every lane (Drainer::poll), feed the Engine, keep
// the heartbeat fresh, let the Engine do its time-driven work, reclaim lanes of dead
// writers, log the periodic health summary, and idle (IdleStrategy) when there was nothing
// to do. The loop claims the segment's reader slot (pid, start time, generation) and
// refuses to start while another live reader holds it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "telering/drain.hpp"
#include "telering/reader/config.hpp"
#include "telering/reader/engine.hpp"
#include "telering/reader/idle_strategy.hpp"
#include "telering/segment.hpp"

namespace telering::reader {

struct ReaderOptions {
  bool json = false;  // periodic report as one JSON line instead of the seed's text summary
  std::function<void(const std::string&)> print;  // where summaries go (default: stdout)
};

class ReaderLoop {
 public:
  // Claims the reader slot of the segment. Throws SegmentError if another live reader has it.
  ReaderLoop(const Segment& segment, ReaderConfig config, ReaderOptions options);
  ~ReaderLoop();  // releases the reader slot
  ReaderLoop(const ReaderLoop&) = delete;
  ReaderLoop& operator=(const ReaderLoop&) = delete;

  // One turn at monotonic time now_ns; returns the records (valid + malformed) drained.
  std::uint64_t turn(std::uint64_t now_ns);

  // Drains until the rings are empty, then runs the engine's time-driven work once.
  void drain_all(std::uint64_t now_ns);

  // Runs turns until `stop` is set; reloads the config from `config_path` whenever `reload`
  // is set (a bad new config is logged and the old one kept).
  void run(const std::atomic<bool>& stop, std::atomic<bool>& reload, const std::string& config_path);

  // Prints the health summary (text or JSON per options) now.
  void print_report(std::uint64_t now_ns);

  [[nodiscard]] Engine& engine() noexcept { return *engine_; }
  [[nodiscard]] const DrainStats& drain_stats() const noexcept { return totals_; }

 private:
  void heartbeat(std::uint64_t now_ns) noexcept;

  const Segment* segment_;
  ReaderOptions options_;
  Drainer drainer_;
  std::unique_ptr<Engine> engine_;
  IdleStrategy idle_;
  DrainStats totals_;
  std::uint64_t next_heartbeat_ns_ = 0;
  std::uint64_t next_tick_ns_ = 0;
  std::uint64_t next_reclaim_ns_ = 0;
  std::uint64_t next_summary_ns_ = 0;
};

}  // namespace telering::reader
