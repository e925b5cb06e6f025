#include "loop/reader_loop.hpp"

#include <spdlog/spdlog.h>

#include <sys/prctl.h>

#include <cstdio>

#include "evaluate/health_report_format.hpp"
#include "exporters/alert_sender.hpp"
#include "ingress/alertmanager_webhook.hpp"
#include "state/record_log.hpp"
#include "telering/core/process_info.hpp"

namespace telering::reader {

namespace {

constexpr std::uint64_t kHeartbeatPeriodNs = 10'000'000;  // 10 ms; writers call > 2 s stale
constexpr std::uint64_t kTickPeriodNs = 1'000'000;        // breaker timeouts to the millisecond
constexpr std::uint64_t kClockAnchorPeriodNs = 1'000'000'000;  // deadlines in ticks off by < 1 s of drift

std::uint64_t ns(std::chrono::milliseconds d) { return static_cast<std::uint64_t>(std::chrono::nanoseconds(d).count()); }

DrainOptions drain_options(const ReaderConfig& c) {
  DrainOptions o;
  o.shared_stuck_timeout_ns = ns(c.shared_lane_stuck_timeout);
  return o;
}

struct EngineHandler {
  Engine& engine;
  std::uint64_t now_ns;
  MetricsCollector* metrics;
  RecordLogWriter* record_log;
  void on_record(const Record& r, const RecordSource& s) {
    if (record_log) record_log->append(r, s.lane);
    engine.on_record(r, s, now_ns);
    if (metrics) metrics->observe(r, engine);
  }
  void on_malformed(RecordFault f, const Record& r, const RecordSource& s) { engine.on_malformed(f, r, s); }
};

// Which segment instance a snapshot's drain positions belong to: a segment removed and
// created again under the same name starts its positions over.
nlohmann::json instance_of(const Segment& segment) {
  const SegmentIdentity& id = segment.identity();
  return {{"created_wall_ns", id.created_wall_ns}, {"creator_pid", id.creator_pid}};
}

}  // namespace

ReaderLoop::ReaderLoop(const Segment& segment, ReaderConfig config, ReaderOptions options)
    : lock_(segment),
      guard_(segment.base(), segment.size()),
      segment_(&segment),
      options_(std::move(options)),
      drainer_(segment, drain_options(config)),
      idle_(config.idle),
      record_names_(segment.names(), segment.geometry().name_capacity) {
  if (!config.record_to.empty()) {
    // Throws std::runtime_error naming the path: nothing started yet.
    record_log_ = std::make_unique<RecordLogWriter>(config.record_to, config.record_max_bytes, config.record_keep, record_names_,
                                                    segment.geometry().name_capacity, segment.calibration());
    spdlog::info("recording drained records to {} (at most {} files of {} MiB) for telering-replay", config.record_to,
                 config.record_keep, config.record_max_bytes >> 20);
  }
  // lock_ made us the segment's only reader: the slot below is for people (telering-stat).
  SegmentHeader& h = segment.header();
  const std::uint32_t me = current_pid();
  if (std::string why = segment.identity_changed(); !why.empty()) repair_identity(why);
  h.reader_start_time.store(current_process_start_time(), std::memory_order_relaxed);
  h.reader_pid_ns.store(current_pid_namespace(), std::memory_order_release);  // pairs with Writer::attach
  h.reader_generation.fetch_add(1, std::memory_order_relaxed);
  // Publishes our identity (pairs with the acquire loads above in a later reader).
  h.reader_pid.store(me, std::memory_order_release);
  if (!options_.print) options_.print = [](const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  };
  const std::uint64_t now = monotonic_ns();
  wall_offset_ns_ = wall_ns() - static_cast<std::int64_t>(now);
  const std::string state_file = config.state_file;
  engine_ = std::make_unique<Engine>(std::move(config), segment, now, wall_offset_ns_);
  anchor_clock(now);  // before restore converts any deadline
  if (!state_file.empty()) {
    restore(state_file, now);
    snapshots_ = std::make_unique<SnapshotWriter>(state_file, segment.name());
    next_snapshot_ns_ = now + ns(engine_->config().snapshot_interval);
  }
  // Every board entry this reader did not restore is adopted with its deadline or closed:
  // no decision of a previous reader stays in force without a reader to end it.
  anchor_clock(now);  // a refused state file made a new engine
  engine_->reconcile_board(now);
  next_summary_ns_ = now + ns(engine_->config().report_interval);
  heartbeat(now);
  if (options_.metrics) {
    metrics_ = std::make_unique<MetricsCollector>(segment);
    publish_metrics(now);
    options_.metrics->set_segment(segment);
  }
}

ReaderLoop::~ReaderLoop() {
  // The segment may be unmapped after us: no request may read it any more.
  if (options_.metrics) options_.metrics->clear_segment();
  SegmentHeader& h = segment_->header();
  std::uint32_t me = current_pid();
  // Releases the reader slot; writers see the stale heartbeat and report UNKNOWN.
  h.reader_pid.compare_exchange_strong(me, 0, std::memory_order_release, std::memory_order_relaxed);
}

void ReaderLoop::restore(const std::string& path, std::uint64_t now_ns) {
  const SnapshotClock now{now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_, SnapshotClock::now().boot_id};
  restored_ = load_snapshot_file(path, segment_->name(), now.wall_ns);
  if (!restored_.snapshot) return;
  const DecodedSnapshot& snap = *restored_.snapshot;
  const TimeShift shift = TimeShift::between(snap.at, now);
  try {
    engine_->restore_state(snap.state, shift, now_ns);
    count_lost_to_crash(snap.state);
    spdlog::info("state restored from {} (taken {:.1f} s ago, {} boot)", path,
                 static_cast<double>(now.wall_ns - snap.at.wall_ns) / 1e9, shift.same_boot ? "same" : "another");
  } catch (const std::exception& e) {
    // Parsed and checksummed, yet not a state this reader can use (a reader bug, or a
    // hand-edited file with a valid checksum): same treatment as a corrupt file.
    restored_.refused = std::string("unusable state: ") + e.what();
    restored_.snapshot.reset();
    restored_.moved_to = set_snapshot_aside(path, now.wall_ns);
    spdlog::error("state file {} refused: {}; starting clean{}", path, restored_.refused,
                  restored_.moved_to.empty() ? std::string() : " (kept as " + restored_.moved_to + ")");
    ReaderConfig config = engine_->config();
    engine_.reset();
    engine_ = std::make_unique<Engine>(std::move(config), *segment_, now_ns, wall_offset_ns_);
  }
}

// Cost, measured (2-vCPU AMD EPYC VM, -O2; bench/bench_snapshot prints it)
// for a full state — 64 bots with full 100-sample windows, a 1000-entry error history, 100
// breakers, ~400 KB of JSON: building the JSON tree here takes 1.1-2.8 ms; dumping it (1.7-3.8
// ms) and write + fsync + rename + directory fsync (11-15 ms) run on the SnapshotWriter's thread.
// So the drain loop stalls at most ~3 ms once per snapshot_interval (10 s by default),
// which the lanes absorb, instead of ~20 ms with the I/O inline.
void ReaderLoop::save_snapshot(std::uint64_t now_ns, bool wait) {
  if (!snapshots_) return;
  const std::uint64_t start = monotonic_ns();
  nlohmann::json state = engine_->save_state();
  state["drain"] = drain_positions();
  last_snapshot_build_ns_ = monotonic_ns() - start;
  snapshots_->submit(std::move(state),
                     SnapshotClock{now_ns, static_cast<std::int64_t>(now_ns) + wall_offset_ns_, SnapshotClock::now().boot_id});
  next_snapshot_ns_ = now_ns + ns(engine_->config().snapshot_interval);
  if (wait) snapshots_->flush();
}

// Where the drain stood when the state was built: every record before these positions is in
// the state, none after. Built on the loop thread between polls, when each consumer's
// position equals what it published.
nlohmann::json ReaderLoop::drain_positions() const {
  nlohmann::json lanes = nlohmann::json::array();
  for (std::uint32_t i = 0; i < segment_->geometry().lane_count; ++i) lanes.push_back(drainer_.lane_head(i));
  return {{"segment", instance_of(*segment_)}, {"lanes", std::move(lanes)}, {"shared", drainer_.shared_head()}};
}

// The previous reader drained past its last snapshot before it died: those records were
// taken from the lanes (its published positions, where our drainer starts) but are not in
// the state we restored. They cannot be read again (producers reuse the slots), so they are
// counted — exact, given a snapshot of this segment instance.
void ReaderLoop::count_lost_to_crash(const nlohmann::json& state) {
  const auto it = state.find("drain");
  if (it == state.end() || !it->is_object() || it->value("segment", nlohmann::json()) != instance_of(*segment_)) return;
  const nlohmann::json& lanes = it->value("lanes", nlohmann::json::array());
  const auto behind = [](std::uint64_t now, const nlohmann::json& saved) -> std::uint64_t {
    if (!saved.is_number_unsigned()) return 0;
    const std::uint64_t then = saved.get<std::uint64_t>();
    return now > then ? now - then : 0;
  };
  std::uint64_t lost = 0;
  for (std::uint32_t i = 0; i < segment_->geometry().lane_count && i < lanes.size(); ++i)
    lost += behind(drainer_.lane_head(i), lanes[i]);
  lost += behind(drainer_.shared_head(), it->value("shared", nlohmann::json()));
  totals_.lost_to_reader_crash += lost;
  if (lost != 0)
    spdlog::warn("{} records were drained by the previous reader after its last snapshot and died with it (counted in "
                 "telering_records_lost_to_reader_crash_total)",
                 lost);
}

void ReaderLoop::anchor_clock(std::uint64_t now_ns) noexcept {
  engine_->anchor_clock(sample_clocks());
  next_clock_anchor_ns_ = now_ns + kClockAnchorPeriodNs;
}

void ReaderLoop::heartbeat(std::uint64_t now_ns) noexcept {
  // Pairs with the acquire load in Writer::reader_alive.
  segment_->header().reader_heartbeat_ns.store(now_ns, std::memory_order_release);
  next_heartbeat_ns_ = now_ns + kHeartbeatPeriodNs;
}

void ReaderLoop::repair_identity(const std::string& why) {
  if (identity_repairs_++ == 0)
    spdlog::error("segment '{}': its header identity was rewritten after attach ({}); restored from the copy validated "
                  "at attach (further rewrites are counted, not logged)",
                  segment_->name(), why);
  segment_->restore_identity();
}

void ReaderLoop::check_segment() {
  // A truncated object would SIGBUS us on the next page we touch past its end (the guard
  // turns a fault into zero pages; the size check usually sees it first).
  const std::size_t object = segment_->object_size();
  if (guard_.tripped() || (object != 0 && object < segment_->size()))
    throw SegmentError("segment '" + segment_->name() + "' was truncated by another process (now " + std::to_string(object) +
                       " bytes, mapped " + std::to_string(segment_->size()) +
                       "): its bots cannot record either; remove /dev/shm/" + segment_->name() +
                       ", then restart the bots and the reader");
  if (segment_->replaced())
    throw SegmentError("segment '" + segment_->name() +
                       "' was removed and created anew by another process: this reader no longer serves the segment "
                       "bots attach to; exiting so that a reader can serve the new one");
  if (std::string why = segment_->identity_changed(); !why.empty()) repair_identity(why);
}

std::uint64_t ReaderLoop::turn(std::uint64_t now_ns) {
  if (guard_.tripped()) check_segment();
  if (last_turn_ns_ && now_ns > last_turn_ns_) max_turn_gap_ns_ = std::max(max_turn_gap_ns_, now_ns - last_turn_ns_);
  last_turn_ns_ = now_ns;
  if (options_.alertmanager) apply_external_actions(now_ns);
  EngineHandler handler{*engine_, now_ns, metrics_.get(), record_log_.get()};
  const DrainStats s = drainer_.poll(handler, engine_->config().max_records_per_poll, now_ns);
  totals_ += s;
  if (now_ns >= next_heartbeat_ns_) heartbeat(now_ns);
  if (now_ns >= next_clock_anchor_ns_) anchor_clock(now_ns);
  if (now_ns >= next_tick_ns_) {
    engine_->tick(now_ns);
    forward_alerts();
    next_tick_ns_ = now_ns + kTickPeriodNs;
  }
  if (metrics_ && now_ns >= next_metrics_ns_) publish_metrics(now_ns);
  if (options_.tap && now_ns >= next_tap_ns_) next_tap_ns_ = options_.tap->on_loop(*engine_, *segment_, totals_, now_ns);
  if (record_log_ && now_ns >= next_record_flush_ns_) {
    record_log_->flush();
    next_record_flush_ns_ = now_ns + ns(engine_->config().publish_interval);
  }
  if (now_ns >= next_reclaim_ns_) {
    check_segment();
    const std::uint64_t reclaimed = drainer_.reclaim_dead_lanes();
    totals_.lanes_reclaimed += reclaimed;
    if (reclaimed) spdlog::info("reclaimed {} lane(s) of exited writers", reclaimed);
    if (drainer_.foreign_lanes() != 0 && !foreign_lanes_logged_) {
      foreign_lanes_logged_ = true;
      spdlog::error("{} lane(s) are held by writers in another PID namespace: this reader cannot tell whether they "
                    "live, so it will never reclaim those lanes; run the bots in the reader's PID namespace",
                    drainer_.foreign_lanes());
    }
    next_reclaim_ns_ = now_ns + ns(engine_->config().lane_reclaim_interval);
  }
  if (now_ns >= next_summary_ns_) {
    print_report(now_ns);
    next_summary_ns_ = now_ns + ns(engine_->config().report_interval);
  }
  if (snapshots_ && now_ns >= next_snapshot_ns_) save_snapshot(now_ns, false);
  return s.delivered + s.malformed;
}

void ReaderLoop::drain_all(std::uint64_t now_ns) {
  if (options_.alertmanager) apply_external_actions(now_ns);
  EngineHandler handler{*engine_, now_ns, metrics_.get(), record_log_.get()};
  for (;;) {
    const DrainStats s = drainer_.poll(handler, engine_->config().max_records_per_poll, now_ns);
    totals_ += s;
    if (s.delivered + s.malformed == 0) break;
  }
  heartbeat(now_ns);
  engine_->tick(now_ns);
  forward_alerts();
  if (metrics_) publish_metrics(now_ns);
}

void ReaderLoop::apply_external_actions(std::uint64_t now_ns) {
  if (options_.alertmanager->take(external_) == 0) return;
  std::uint64_t applied = 0;
  for (const ExternalAction& a : external_) {
    if (engine_->apply_external(a, now_ns)) {
      ++applied;
    } else {
      spdlog::warn("{}: cannot apply to '{}' (the segment's name table is full, or {} alerts already hold it)", a.source,
                   a.target, Engine::kMaxExternalHolders);
    }
  }
  options_.alertmanager->count_applied(applied, external_.size() - applied);
  external_.clear();
}

void ReaderLoop::forward_alerts() {
  if (!options_.alerts) return;  // without a sender the Engine keeps (and bounds) them
  for (Alert& a : engine_->take_alerts()) options_.alerts->enqueue(std::move(a));
}

void ReaderLoop::publish_metrics(std::uint64_t now_ns) {
  if (!metrics_) return;
  LoopFigures figures;
  figures.drained = totals_;
  figures.max_turn_gap_ns = max_turn_gap_ns_;
  AlertSenderStats alert_stats;
  if (options_.alerts) {
    alert_stats = options_.alerts->stats();
    figures.alerts = &alert_stats;
  }
  AlertmanagerStats alertmanager_stats;
  if (options_.alertmanager) {
    alertmanager_stats = options_.alertmanager->stats();
    figures.alertmanager = &alertmanager_stats;
  }
  options_.metrics->publish(metrics_->collect(*engine_, figures, now_ns, wall_ns()));
  max_turn_gap_ns_ = 0;
  next_metrics_ns_ = now_ns + ns(engine_->config().publish_interval);
}

void ReaderLoop::print_report(std::uint64_t now_ns) {
  if (options_.json) options_.print(engine_->report_json(now_ns) + "\n");
  else options_.print(engine_->health_summary(now_ns));
}

void ReaderLoop::run(const std::atomic<bool>& stop, std::atomic<bool>& reload, const std::string& config_path) {
  // Sleeps of the idle strategy end when asked, not up to 50 µs later (the default slack):
  // the decision latency is the sleep, and the sleep is already chosen with that in mind.
  (void)::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  while (!stop.load(std::memory_order_relaxed)) {
    if (reload.exchange(false, std::memory_order_relaxed)) {
      if (config_path.empty()) {
        spdlog::info("SIGHUP: no --config file to reload");
      } else {
        try {
          ReaderConfig next = load_config(config_path);
          options_.overrides.apply(next);
          // The webhook first, as it may refuse the config (rules without a secret off
          // loopback); if the engine then refuses it, the webhook goes back to the running one.
          const AlertmanagerConfig running = engine_->config().alertmanager;
          if (options_.alertmanager) options_.alertmanager->reconfigure(next.alertmanager);
          try {
            engine_->reload(std::move(next));
          } catch (...) {
            if (options_.alertmanager) options_.alertmanager->reconfigure(running);
            throw;
          }
          idle_ = IdleStrategy(engine_->config().idle);
          spdlog::info("reloaded config {}", config_path);
        } catch (const std::exception& e) {
          spdlog::error("config reload refused, keeping the running config: {}", e.what());
        }
      }
    }
    if (turn(monotonic_ns()) != 0) idle_.reset();
    else idle_.idle();
  }
  // Stop: take what is still in the rings so nothing recorded before the stop is lost,
  // and keep the state for the next start.
  const std::uint64_t now = monotonic_ns();
  drain_all(now);
  save_snapshot(now, true);
}

}  // namespace telering::reader
