// state/replay.hpp — feeds recorded streams (record_log.hpp) through the Engine with
// a given config, deterministically, and collects the decisions it would have made: for
// tuning thresholds against a real incident before deploying them.
//
// Time is the records' own: each record is processed at its timestamp (converted with the
// calibration in the file) and the Engine's time-driven work runs every millisecond of
// recorded time, so breaker timeouts and backoffs expire as they would have live.
#pragma once

#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"

namespace telering::reader {

struct ReplayResult {
  std::vector<DecisionEvent> decisions;  // now_ns relative to the first record
  std::vector<Alert> alerts;
  HealthReport final_health;
  ErrorStatistics final_errors;
  EngineStats stats;
  std::uint64_t records = 0;
  std::uint64_t duration_ns = 0;  // first to last record
};

// Throws std::runtime_error (unreadable or corrupt file, no space for a private segment).
[[nodiscard]] ReplayResult replay(const std::vector<std::string>& files, const ReaderConfig& config);

}  // namespace telering::reader
