// state/snapshot_codecs.hpp — the state file's parts: each building block of the reader
// (windows, monitors, the error log, breakers, recovery) to JSON and back.
//
// Loading into an object built from the *current* config keeps what fits it: the newest
// samples of a window, the seconds still in a rate window, and so on. A part that cannot be
// read throws (nlohmann::json's exceptions); Engine::restore_state catches per part.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "aggregate/error_log.hpp"
#include "aggregate/performance_monitor.hpp"
#include "aggregate/rolling_window.hpp"
#include "evaluate/breaker.hpp"
#include "evaluate/recovery.hpp"
#include "state/snapshot.hpp"

namespace telering::reader {

namespace detail {

// Saves and restores the private state of the reader's building blocks (each declares it a
// friend).
struct SnapshotAccess {
  using NameOf = std::function<std::string(std::uint16_t)>;
  using IdOf = std::function<std::uint16_t(const std::string&)>;

  static nlohmann::json save(const RollingWindow& w);
  static void load(RollingWindow& w, const nlohmann::json& j);
  static nlohmann::json save(const RateWindow& w);
  static void load(RateWindow& w, const nlohmann::json& j, const TimeShift& shift);
  static nlohmann::json save(const PerformanceMonitor& m, const NameOf& endpoint_name);
  static void load(PerformanceMonitor& m, const nlohmann::json& j, const TimeShift& shift, const IdOf& endpoint_id);
  static nlohmann::json save(const ErrorLog& log, const NameOf& bot_name, std::size_t max_history);
  static void load(ErrorLog& log, const nlohmann::json& j, const TimeShift& shift, const IdOf& bot_id);
  static nlohmann::json save(const CircuitBreaker& b);
  static void load(CircuitBreaker& b, const nlohmann::json& j, const TimeShift& shift);
  static nlohmann::json save(const RecoveryEngine& r);
  static void load(RecoveryEngine& r, const nlohmann::json& j, const TimeShift& shift);
  static nlohmann::json save(const RecoveryStrategy& s);
  static RecoveryStrategy load_strategy(const nlohmann::json& j);
};

}  // namespace detail

}  // namespace telering::reader
