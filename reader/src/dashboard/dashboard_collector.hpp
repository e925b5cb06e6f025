// dashboard/dashboard_collector.hpp — the drain loop's side of the dashboard.
//
// A LoopTap (reader_loop.hpp): the loop calls on_loop() every 100 ms on its own thread. It
// applies the operator actions the hub queued (each a decision on the board, logged), appends
// one SeriesPoint per completed second (the time series, downsampled here so the page never
// receives raw records), and once per interval builds a DashboardFrame — plain values copied
// out of the Engine and the segment — and hands it to the hub (one pointer swap). Everything
// heavier (JSON, sockets) happens on the HTTP thread. Measured cost on the loop: see
// docs/operations.md#dashboard (bench_dashboard).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dashboard/dashboard_frame.hpp"
#include "dashboard/dashboard_hub.hpp"
#include "loop/reader_loop.hpp"

namespace telering::reader::dashboard {

class DashboardCollector final : public LoopTap {
 public:
  static constexpr std::size_t kMaxDecisions = 100;
  static constexpr std::size_t kMaxErrors = 50;
  static constexpr std::size_t kMaxSeries = 96;  // per second; more are left out
  static constexpr std::uint64_t kPeriodNs = 100'000'000;  // on_loop cadence

  explicit DashboardCollector(DashboardHub& hub);

  std::uint64_t on_loop(Engine& engine, const Segment& segment, const DrainStats& totals, std::uint64_t now_ns) override;

  // Builds the frame of `now_ns` (what on_loop publishes each interval). Loop thread.
  [[nodiscard]] std::shared_ptr<DashboardFrame> build(Engine& engine, const Segment& segment, const DrainStats& totals,
                                                      std::uint64_t now_ns);

 private:
  void apply_actions(Engine& engine, std::uint64_t now_ns);
  void sample_second(const Engine& engine, const Segment& segment, const DrainStats& totals, std::uint64_t now_ns,
                     std::int64_t second_ms);
  [[nodiscard]] std::uint64_t total_drops(const Segment& segment) const;

  DashboardHub* hub_;
  std::uint64_t interval_ns_;
  std::uint64_t next_frame_ns_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t start_ns_ = 0;
  std::int64_t last_second_ms_ = 0;
  std::vector<SeriesPoint> pending_points_;  // seconds since the last frame
  std::deque<DecisionFrame> decisions_;      // newest at the back
  // Rates: the figures at the previous second (series) and the previous frame (tiles).
  std::uint64_t prev_records_ = 0, prev_drops_ = 0;
  std::uint64_t prev_second_ns_ = 0;
  std::deque<std::pair<std::uint64_t, std::uint64_t>> error_totals_;  // (errors, warnings) per second, last 61
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>, std::less<>> prev_outcomes_;  // breaker -> (outcomes, ns)
  std::uint64_t prev_frame_records_ = 0, prev_frame_drops_ = 0, prev_frame_ns_ = 0;
  std::vector<std::uint64_t> prev_lane_drops_;
};

}  // namespace telering::reader::dashboard
