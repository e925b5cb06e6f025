// config/config.hpp — telering-reader's configuration, from TOML.
//
// Every setting has the seed's default, so an empty file (or none) is a valid config. A bad
// file is refused whole with one ConfigError line naming the file, the line and the key:
//   reader.toml:12: breakers.default.failure_rate_threshold: must be in (0, 100], got 150
// Unknown keys are errors too (a typo must not silently keep a default).
//
// Durations are numbers of seconds or strings with a unit: "500ms", "30s", "15m", "1h".
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "aggregate/error_log.hpp"
#include "aggregate/performance_monitor.hpp"
#include "evaluate/breaker.hpp"
#include "evaluate/fleet_limits_reader.hpp"
#include "evaluate/health.hpp"
#include "evaluate/recovery.hpp"

namespace telering::reader {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What the drain loop does when a poll finds nothing: spin, then yield, then sleep with a
// growing pause up to max_sleep. Any record resets it to spinning. max_sleep bounds both the
// added decision latency (p99 ~ max_sleep) and the idle CPU (one wake-up per max_sleep, ~19 µs
// of CPU each on a small VM): 1.8 ms keeps decisions under 2 ms at ~1 % of a core.
struct IdleStrategyConfig {
  std::uint32_t spins = 200;
  std::uint32_t yields = 50;
  std::chrono::microseconds min_sleep{50};
  std::chrono::microseconds max_sleep{1800};
};

struct AlertConfig {
  std::string webhook_url;                 // Slack-compatible {"text": ...}; empty = off
  std::string generic_webhook_url;         // generic JSON body; empty = off
  std::chrono::milliseconds min_interval{std::chrono::seconds(60)};  // per dedup key
  bool on_critical_health = true;
};

// Stall detection: a bot that stops recording, or whose scan loop stops completing, is
// declared CRITICAL from outside, without its help. 0 turns a rule off.
struct StallConfig {
  enum class Action : std::uint8_t { Alert, OpenBreakers, Shutdown };
  std::chrono::milliseconds max_silence{0};        // no record at all for this long
  std::chrono::milliseconds max_scan_interval{0};  // no scan_time for this long (max cycle time)
  Action action = Action::Alert;                   // besides CRITICAL + an alert
};

// Alertmanager -> reader: POST /alertmanager (on the --http address) maps configured fleet
// alerts to board actions. A firing alert applies its action, its resolution undoes it.
struct AlertmanagerRule {
  enum class Action : std::uint8_t { OpenBreaker, Backoff };
  std::string alertname;                                    // required: labels.alertname
  std::map<std::string, std::string, std::less<>> labels;   // further labels that must be equal
  Action action = Action::OpenBreaker;
  std::string target;                                       // component (OpenBreaker) or error type (Backoff)
  // How long the action lasts without news: a firing alert re-sent by Alertmanager renews it,
  // its resolution ends it at once, and a lost resolution ends it after this. 0 = until resolved.
  std::chrono::milliseconds max_duration{std::chrono::minutes(10)};
};

struct AlertmanagerConfig {
  // Shared secret: requests must carry "Authorization: Bearer <secret>" (Alertmanager's
  // webhook_config http_config.authorization). Required unless the --http address is loopback.
  std::string secret;
  std::string secret_file;                                  // read at load; wins over `secret`
  std::vector<AlertmanagerRule> rules;                      // empty = POST /alertmanager answers 404
  [[nodiscard]] bool enabled() const noexcept { return !rules.empty(); }
};

struct ReaderConfig {
  std::string source = "(defaults)";       // file the config came from, for messages
  std::chrono::milliseconds report_interval{std::chrono::minutes(15)};  // human summary log
  std::chrono::milliseconds publish_interval{1000};  // report page and health evaluation
  std::chrono::milliseconds lane_reclaim_interval{250};
  // A bot with no record for this long is forgotten (its windows, health and series), so
  // bots that come and go do not grow the report and the metrics without bound. 0 = never.
  std::chrono::milliseconds prune_bots_after{std::chrono::hours(1)};
  std::chrono::milliseconds shared_lane_stuck_timeout{1000};
  std::uint64_t max_records_per_poll = 4096;
  IdleStrategyConfig idle;

  PerformanceMonitorConfig windows;
  ErrorLogConfig error_log;
  HealthThresholds thresholds;
  RecoveryConfig recovery;
  std::vector<RecoveryStrategy> strategies;           // added to / replacing the built-ins
  BreakerConfig default_breaker;
  std::map<std::string, BreakerConfig, std::less<>> breakers;  // per component name

  // Reader restart without amnesia (snapshot.hpp): where the state is kept ("" = nowhere;
  // --state-file overrides it) and how often it is written besides at clean shutdown.
  std::string record_to;                               // record log for telering-replay; empty = off
  std::uint64_t record_max_bytes = 64ULL << 20;        // per file, then rotate
  std::uint32_t record_keep = 4;                       // files kept: PATH, PATH.1 .. PATH.<keep-1>
  std::vector<RateLimitConfig> rate_limits;            // shared rate buckets ([[rate_limits]])
  RetryBudgetConfig retry_budget;                      // [retry_budget]
  StallConfig stall;                                   // [stall]
  std::string state_file;
  std::chrono::milliseconds snapshot_interval{10'000};

  std::string http_address;                            // "127.0.0.1:9464"; empty = off
  AlertConfig alerts;
  AlertmanagerConfig alertmanager;                     // [alertmanager] + [[alertmanager.rules]]

  [[nodiscard]] const BreakerConfig& breaker_for(std::string_view component) const;
};

// Settings given on the command line. They win over the config file at start and at every
// reload (SIGHUP): a reload re-reads the file, then applies these again.
struct ConfigOverrides {
  std::optional<std::chrono::milliseconds> report_interval;  // --report-interval
  std::optional<std::string> record_to;                      // --record-to
  std::optional<std::string> state_file;                     // --state-file
  std::optional<std::string> http_address;                   // --http
  void apply(ReaderConfig& config) const {
    if (report_interval) config.report_interval = *report_interval;
    if (record_to) config.record_to = *record_to;
    if (state_file) config.state_file = *state_file;
    if (http_address) config.http_address = *http_address;
  }
};

// Parses TOML text; `source` names it in error messages. Throws ConfigError.
[[nodiscard]] ReaderConfig parse_config(std::string_view toml_text, std::string_view source);
// Reads and parses a file. Throws ConfigError (also for a missing or unreadable file).
[[nodiscard]] ReaderConfig load_config(const std::string& path);

// "15m" -> 900000 ms, "500ms", "30s", "1h", "2.5s". Throws std::invalid_argument.
[[nodiscard]] std::chrono::milliseconds parse_duration(std::string_view text);

}  // namespace telering::reader
