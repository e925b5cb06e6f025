// exporters/metrics_collector.hpp — the drain-loop half of /metrics (metrics_endpoint.hpp
// serves what it collects).
//
// MetricsCollector runs on the drain-loop thread only. It owns a prometheus-cpp Registry that
// no other thread ever touches. observe() is called per drained record for what only the
// record stream knows (scan-time and API-latency histograms, errors and warnings by type and
// severity); collect() reads the Engine, the lanes and the loop's own figures into the
// registry once per publish interval and returns an immutable snapshot of it
// (std::vector<prometheus::MetricFamily>, prometheus-cpp's data model), which the loop hands
// to MetricsExporter::publish (a pointer swap).
//
// Cardinality: label values come from the segment's name table, which writers fill; every
// family, per-record or built in collect(), is capped at kMaxSeriesPerFamily series
// (series_cap.hpp), and what the caps refuse is counted in
// telering_metrics_dropped_series_total{family}.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/family.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include "exporters/series_cap.hpp"
#include "telering/drain.hpp"
#include "telering/record.hpp"
#include "telering/segment.hpp"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace telering::reader {

class Engine;
struct AlertSenderStats;
struct AlertmanagerStats;

// A reader heartbeat older than this is a stalled loop, as writers judge it
// (Writer::reader_alive's default).
inline constexpr std::uint64_t kReaderStaleNs = 2'000'000'000ULL;

// Histogram buckets, seconds. Scan time spans the seed's 30 s / 90 s thresholds; API latency
// the 2 s / 5 s ones, down to fast exchange round trips.
inline const std::vector<double> kScanTimeBuckets{1, 5, 10, 15, 20, 25, 30, 45, 60, 90, 120, 180, 300};
inline const std::vector<double> kApiLatencyBuckets{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};

struct MetricsSnapshot {
  std::vector<prometheus::MetricFamily> families;
  std::uint64_t taken_mono_ns = 0;
  // /health answers 503 for a report page older than this (the engine's publish interval,
  // with slack): a report the loop stopped refreshing is never served as fresh.
  std::uint64_t report_max_age_ns = 0;
};

// What the loop knows about itself, passed to collect().
struct LoopFigures {
  DrainStats drained;                     // totals since start
  std::uint64_t max_turn_gap_ns = 0;      // longest gap between two turns since the last collect
  const AlertSenderStats* alerts = nullptr;  // nullptr when alerts are off
  const AlertmanagerStats* alertmanager = nullptr;  // nullptr without an Alertmanager webhook
};

class MetricsCollector {
 public:
  static constexpr std::size_t kMaxSeriesPerFamily = reader::kMaxSeriesPerFamily;  // series_cap.hpp

  explicit MetricsCollector(const Segment& segment);
  ~MetricsCollector();
  MetricsCollector(const MetricsCollector&) = delete;
  MetricsCollector& operator=(const MetricsCollector&) = delete;

  // Drain-loop thread, after engine.on_record(r, ...): histograms and error/warning counters.
  // Amortised O(1): label lookups are cached per (bot, name, severity) id.
  void observe(const Record& r, const Engine& engine);

  // Drain-loop thread: reads engine state, lanes and loop figures into the registry and
  // returns the snapshot to hand to MetricsExporter::publish.
  [[nodiscard]] std::shared_ptr<const MetricsSnapshot> collect(const Engine& engine, const LoopFigures& loop,
                                                               std::uint64_t now_ns, std::int64_t wall_ns);

 private:
  struct Families;

  const Segment* segment_;
  std::shared_ptr<prometheus::Registry> registry_;  // drain-loop thread only
  std::unique_ptr<Families> f_;                     // every family behind a SeriesCap (series_cap.hpp)
  double start_wall_s_ = 0;
  std::vector<std::uint64_t> lane_drops_seen_;  // raw lane counters at the last collect (reset-aware)
  std::vector<double> lane_drops_total_;
};

}  // namespace telering::reader
