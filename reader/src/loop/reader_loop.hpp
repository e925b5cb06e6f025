// loop/reader_loop.hpp — telering-reader's main loop around one segment.
//
// Each turn: drain a bounded batch from every lane (Drainer::poll), feed the Engine, keep
// the heartbeat fresh, let the Engine do its time-driven work, reclaim lanes of dead
// writers, log the periodic health summary, and idle (IdleStrategy) when there was nothing
// to do. With a MetricsExporter it also feeds a MetricsCollector (per record, and a snapshot
// every publish interval), and with an AlertSender it hands over the Engine's alerts every
// tick; neither ever waits for a scrape or a webhook (see metrics_collector.hpp,
// metrics_endpoint.hpp and alert_sender.hpp). With an AlertmanagerWebhook it applies, at the start of each turn, the
// board actions the webhook's HTTP threads queued (alertmanager_webhook.hpp), and hands it
// the new [alertmanager] config on reload. With a LoopTap (the dashboard's collector) it hands
// it the engine every ~100 ms. The loop holds the segment's reader lock for its
// lifetime (reader_lock.hpp) and refuses to start while another reader holds it; it takes
// over the board (seqlocks normalised, every decision it did not restore reconciled), and
// stops with a SegmentError when the segment is truncated or replaced under it.
//
// With a state file (ReaderConfig::state_file, --state-file) the loop restores the Engine's
// state from it at construction (a refused file is set aside and the loop starts clean, see
// snapshot.hpp) and saves it every snapshot_interval and when run() stops. A loop destroyed
// without run() stopping (a crash, as far as the file is concerned) leaves the last
// periodic snapshot; records still in the rings are not lost either way, since the rings
// live in the segment and the next loop drains them.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "exporters/metrics_endpoint.hpp"
#include "loop/idle_strategy.hpp"
#include "state/record_log.hpp"
#include "state/snapshot.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/reader_lock.hpp"
#include "telering/core/segment.hpp"
#include "telering/core/truncation_guard.hpp"

namespace telering::reader {

class AlertSender;
class AlertmanagerWebhook;

// Something that looks at the loop's state now and then on the loop's own thread (the
// dashboard: dashboard/dashboard_collector.hpp). Called when now_ns reaches the time its
// previous call returned (the first time: on the first turn); it may read the engine and
// apply operator actions to it, and must return quickly (it delays the drain).
class LoopTap {
 public:
  virtual ~LoopTap() = default;
  virtual std::uint64_t on_loop(Engine& engine, const Segment& segment, const DrainStats& totals, std::uint64_t now_ns) = 0;
};

struct ReaderOptions {
  bool json = false;  // periodic report as one JSON line instead of the seed's text summary
  std::function<void(const std::string&)> print;  // where summaries go (default: stdout)
  // Optional exporters; they must outlive the loop. The loop marks `metrics` ready (and
  // unready again in its destructor, before the segment can go away).
  MetricsExporter* metrics = nullptr;
  AlertSender* alerts = nullptr;
  AlertmanagerWebhook* alertmanager = nullptr;
  LoopTap* tap = nullptr;  // must outlive the loop
  ConfigOverrides overrides;  // command-line settings, applied again over every reloaded config
};

class ReaderLoop {
 public:
  // Takes the segment's reader lock (reader_lock.hpp). Throws SegmentError if another live
  // reader holds it.
  ReaderLoop(const Segment& segment, ReaderConfig config, ReaderOptions options);
  ~ReaderLoop();  // releases the reader slot
  ReaderLoop(const ReaderLoop&) = delete;
  ReaderLoop& operator=(const ReaderLoop&) = delete;

  // One turn at monotonic time now_ns; returns the records (valid + malformed) drained.
  std::uint64_t turn(std::uint64_t now_ns);

  // Drains until the rings are empty, then runs the engine's time-driven work once.
  void drain_all(std::uint64_t now_ns);

  // Runs turns until `stop` is set; reloads the config from `config_path` whenever `reload`
  // is set (a bad new config is logged and the old one kept, also one the Alertmanager
  // webhook refuses).
  void run(const std::atomic<bool>& stop, std::atomic<bool>& reload, const std::string& config_path);

  // Prints the health summary (text or JSON per options) now.
  void print_report(std::uint64_t now_ns);

  [[nodiscard]] Engine& engine() noexcept { return *engine_; }
  [[nodiscard]] const DrainStats& drain_stats() const noexcept { return totals_; }
  // Times the segment's identity was found rewritten and restored.
  [[nodiscard]] std::uint64_t identity_repairs() const noexcept { return identity_repairs_; }

  // Takes a metrics snapshot and hands it to the exporter now (no-op without one). The loop
  // does this every publish interval and at the end of drain_all.
  void publish_metrics(std::uint64_t now_ns);

  // Builds the state on this thread and hands it to the snapshot writer's thread; with
  // `wait`, returns once it is on disk. No-op without a state file. turn() calls it every
  // snapshot_interval, run() once more when it stops.
  void save_snapshot(std::uint64_t now_ns, bool wait);
  // nullptr without a state file.
  [[nodiscard]] SnapshotWriter* snapshot_writer() noexcept { return snapshots_.get(); }
  // What happened to the state file at start.
  [[nodiscard]] const LoadedSnapshot& restore_outcome() const noexcept { return restored_; }
  [[nodiscard]] bool restored() const noexcept { return restored_.snapshot.has_value(); }
  // Time save_snapshot spent on this thread building the state, last call.
  [[nodiscard]] std::uint64_t last_snapshot_build_ns() const noexcept { return last_snapshot_build_ns_; }

 private:
  void heartbeat(std::uint64_t now_ns) noexcept;
  void anchor_clock(std::uint64_t now_ns) noexcept;
  // Throws SegmentError when the segment was truncated or replaced under us; repairs a
  // rewritten identity.
  void check_segment();
  void repair_identity(const std::string& why);
  void forward_alerts();
  void apply_external_actions(std::uint64_t now_ns);
  void restore(const std::string& path, std::uint64_t now_ns);
  [[nodiscard]] nlohmann::json drain_positions() const;
  void count_lost_to_crash(const nlohmann::json& state);

  // First, so they are released last, after every member that may touch the segment.
  ReaderLock lock_;        // we are the segment's only reader while it is held
  TruncationGuard guard_;  // a truncated segment is an error here, not a SIGBUS
  const Segment* segment_;
  ReaderOptions options_;
  Drainer drainer_;
  std::unique_ptr<Engine> engine_;
  IdleStrategy idle_;
  DrainStats totals_;
  std::uint64_t next_heartbeat_ns_ = 0;
  std::uint64_t next_clock_anchor_ns_ = 0;
  std::uint64_t next_tick_ns_ = 0;
  std::uint64_t next_reclaim_ns_ = 0;
  std::uint64_t next_summary_ns_ = 0;
  std::unique_ptr<MetricsCollector> metrics_;  // only with options_.metrics
  std::uint64_t next_metrics_ns_ = 0;
  std::uint64_t last_turn_ns_ = 0;
  std::uint64_t max_turn_gap_ns_ = 0;
  std::int64_t wall_offset_ns_ = 0;  // wall minus monotonic at construction
  std::unique_ptr<SnapshotWriter> snapshots_;  // only with a state file
  LoadedSnapshot restored_;
  std::uint64_t next_snapshot_ns_ = 0;
  std::uint64_t last_snapshot_build_ns_ = 0;
  std::unique_ptr<RecordLogWriter> record_log_;  // only with [reader] record_to / --record-to
  NameTable record_names_;
  std::uint64_t next_record_flush_ns_ = 0;
  std::vector<ExternalAction> external_;  // reused take() buffer (options_.alertmanager)
  std::uint64_t identity_repairs_ = 0;
  std::uint64_t next_tap_ns_ = 0;
  bool foreign_lanes_logged_ = false;
};

}  // namespace telering::reader
