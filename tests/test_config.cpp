// telering-reader's TOML config: the seed's defaults, a full file, and one clear line per
// bad input naming the file, the line and the key.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "config/config.hpp"

namespace telering::reader {
namespace {

using namespace std::chrono_literals;

// Parses `text` as "reader.toml" and returns the ConfigError's message ("" if it parsed).
std::string error_of(const std::string& text) {
  try {
    (void)parse_config(text, "reader.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return {};
}

// The message is one line and starts with "reader.toml:<line>: <key>: ".
void expect_error_at(const std::string& text, int line, const std::string& key) {
  const std::string message = error_of(text);
  SCOPED_TRACE(text);
  ASSERT_FALSE(message.empty()) << "config was accepted";
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  const std::string prefix = "reader.toml:" + std::to_string(line) + ": " + key + ": ";
  EXPECT_EQ(message.rfind(prefix, 0), 0U) << "message: " << message << "\nexpected prefix: " << prefix;
}

TEST(Config, EmptyConfigIsTheSeedsDefaults) {
  const ReaderConfig c = parse_config("", "empty.toml");
  EXPECT_EQ(c.source, "empty.toml");
  EXPECT_EQ(c.thresholds.scan_time_s.warning_at, 30.0);
  EXPECT_EQ(c.thresholds.scan_time_s.critical_above, 90.0);
  EXPECT_EQ(c.thresholds.memory_mb.warning_at, 820.0);
  EXPECT_EQ(c.thresholds.memory_mb.critical_above, 1024.0);
  EXPECT_EQ(c.thresholds.errors.warning_at, 5.0);
  EXPECT_EQ(c.thresholds.errors.critical_above, 10.0);
  EXPECT_EQ(c.report_interval, std::chrono::milliseconds(15min));
  EXPECT_EQ(c.default_breaker.wait_duration_in_open, 60.0);
  EXPECT_EQ(c.default_breaker.minimum_number_of_calls, 10U);
  EXPECT_EQ(c.default_breaker.failure_rate_threshold, 50.0);
  EXPECT_EQ(c.default_breaker.permitted_calls_in_half_open, 3U);
  EXPECT_EQ(c.windows.window_size, 100U);
  EXPECT_EQ(c.windows.endpoint_window_size, 100U);
  EXPECT_EQ(c.error_log.history_capacity, 1000U);
  EXPECT_TRUE(c.strategies.empty());
  EXPECT_TRUE(c.breakers.empty());
  EXPECT_TRUE(c.alerts.webhook_url.empty());
  EXPECT_TRUE(c.http_address.empty());
  // A component without its own section gets the default breaker.
  EXPECT_EQ(&c.breaker_for("market_scanner"), &c.default_breaker);
}

TEST(Config, CommentsOnlyConfigIsTheDefaults) {
  const ReaderConfig c = parse_config("# nothing here\n\n", "reader.toml");
  EXPECT_EQ(c.thresholds.scan_time_s.warning_at, 30.0);
  EXPECT_EQ(c.report_interval, std::chrono::milliseconds(15min));
}

constexpr const char* kFullConfig = R"(
[reader]
report_interval = "1h"
publish_interval = "500ms"
lane_reclaim_interval = 2
shared_lane_stuck_timeout = "30s"
max_records_per_poll = 1024
http = "127.0.0.1:9464"

[reader.idle]
spins = 10
yields = 5
min_sleep = "1ms"
max_sleep = "15m"

[windows]
size = 50
error_window_seconds = 600
max_endpoints = 8
error_history = 200
max_error_types = 64

[thresholds]
scan_time_warning = "20s"
scan_time_critical = 60
memory_mb_warning = 500
memory_mb_critical = 800.5
errors_warning = 3
errors_critical = 7
api_latency_warning = 1.5
api_latency_critical = 4

[recovery]
incident_quiet_seconds = 120
alert_on_unknown_critical = false
seed = 42

[[strategies]]
error_type = "exchange_maintenance"
action = "BACKOFF"
severity = "HIGH"
backoff_seconds = "15m"

[[strategies]]
error_type = "order_rejected"
action = "retry"
max_retries = 4
backoff_base = 3.0
backoff_cap = "30s"
max_total_seconds = 100
jitter = "full"
params = { notify = "desk", venue = "kucoin" }

[breakers.default]
minimum_number_of_calls = 20
failure_rate_threshold = 40
wait_duration_in_open = "30s"

[breakers.order_router]
sliding_window_type = "time"
sliding_window_size = 30
consecutive_failures_threshold = 5
slow_call_duration_threshold = "500ms"
slow_call_rate_threshold = 80

[alerts]
webhook_url = "https://hooks.slack.com/services/T/B/X"
generic_webhook_url = "http://127.0.0.1:9000/alerts"
min_interval = "5m"
on_critical_health = false
)";

TEST(Config, FullConfigParsesEverySection) {
  const ReaderConfig c = parse_config(kFullConfig, "full.toml");
  EXPECT_EQ(c.source, "full.toml");
  // [reader] and its idle strategy; durations with every unit and as plain seconds.
  EXPECT_EQ(c.report_interval, std::chrono::milliseconds(1h));
  EXPECT_EQ(c.publish_interval, 500ms);
  EXPECT_EQ(c.lane_reclaim_interval, 2000ms);
  EXPECT_EQ(c.shared_lane_stuck_timeout, 30000ms);
  EXPECT_EQ(c.max_records_per_poll, 1024U);
  EXPECT_EQ(c.http_address, "127.0.0.1:9464");
  EXPECT_EQ(c.idle.spins, 10U);
  EXPECT_EQ(c.idle.yields, 5U);
  EXPECT_EQ(c.idle.min_sleep, std::chrono::microseconds(1000));
  EXPECT_EQ(c.idle.max_sleep, std::chrono::microseconds(std::chrono::minutes(15)));
  // [windows]
  EXPECT_EQ(c.windows.window_size, 50U);
  EXPECT_EQ(c.windows.endpoint_window_size, 50U);
  EXPECT_EQ(c.windows.error_window_seconds, 600U);
  EXPECT_EQ(c.windows.max_endpoints, 8U);
  EXPECT_EQ(c.error_log.history_capacity, 200U);
  EXPECT_EQ(c.error_log.max_types, 64U);
  // [thresholds]: a duration string is seconds too.
  EXPECT_EQ(c.thresholds.scan_time_s.warning_at, 20.0);
  EXPECT_EQ(c.thresholds.scan_time_s.critical_above, 60.0);
  EXPECT_EQ(c.thresholds.memory_mb.warning_at, 500.0);
  EXPECT_EQ(c.thresholds.memory_mb.critical_above, 800.5);
  EXPECT_EQ(c.thresholds.errors.warning_at, 3.0);
  EXPECT_EQ(c.thresholds.errors.critical_above, 7.0);
  EXPECT_EQ(c.thresholds.api_latency_s.warning_at, 1.5);
  EXPECT_EQ(c.thresholds.api_latency_s.critical_above, 4.0);
  // [recovery]
  EXPECT_EQ(c.recovery.incident_quiet_seconds, 120.0);
  EXPECT_FALSE(c.recovery.alert_on_unknown_critical);
  EXPECT_EQ(c.recovery.seed, 42U);
  // [[strategies]]
  ASSERT_EQ(c.strategies.size(), 2U);
  const RecoveryStrategy& maintenance = c.strategies[0];
  EXPECT_EQ(maintenance.error_type, "exchange_maintenance");
  EXPECT_EQ(maintenance.action, RecoveryAction::Backoff);
  EXPECT_EQ(maintenance.severity, Severity::High);
  EXPECT_EQ(maintenance.backoff_seconds, 900.0);
  EXPECT_EQ(maintenance.backoff.jitter, BackoffPolicy::Jitter::None);
  const RecoveryStrategy& rejected = c.strategies[1];
  EXPECT_EQ(rejected.error_type, "order_rejected");
  EXPECT_EQ(rejected.action, RecoveryAction::Retry);  // action names are case-insensitive
  EXPECT_EQ(rejected.severity, Severity::Medium);     // the default
  EXPECT_EQ(rejected.max_retries, 4U);
  EXPECT_EQ(rejected.backoff.max_attempts, 4U);
  EXPECT_EQ(rejected.backoff.multiplier, 3.0);
  EXPECT_EQ(rejected.backoff.cap_seconds, 30.0);
  EXPECT_EQ(rejected.backoff.max_total_seconds, 100.0);
  EXPECT_EQ(rejected.backoff.jitter, BackoffPolicy::Jitter::Full);
  ASSERT_EQ(rejected.params.size(), 2U);
  EXPECT_EQ(rejected.params.at("notify"), "desk");
  EXPECT_EQ(rejected.params.at("venue"), "kucoin");
  // [breakers.default], and a component breaker that inherits what it does not set.
  EXPECT_EQ(c.default_breaker.minimum_number_of_calls, 20U);
  EXPECT_EQ(c.default_breaker.failure_rate_threshold, 40.0);
  EXPECT_EQ(c.default_breaker.wait_duration_in_open, 30.0);
  EXPECT_EQ(c.default_breaker.sliding_window_type, BreakerConfig::WindowType::CountBased);
  ASSERT_EQ(c.breakers.size(), 1U);
  const BreakerConfig& router = c.breaker_for("order_router");
  EXPECT_EQ(router.sliding_window_type, BreakerConfig::WindowType::TimeBased);
  EXPECT_EQ(router.sliding_window_size, 30U);
  EXPECT_EQ(router.consecutive_failures_threshold, 5U);
  EXPECT_EQ(router.slow_call_duration_threshold, 0.5);
  EXPECT_EQ(router.slow_call_rate_threshold, 80.0);
  EXPECT_EQ(router.minimum_number_of_calls, 20U);    // inherited from breakers.default
  EXPECT_EQ(router.failure_rate_threshold, 40.0);    // inherited
  EXPECT_EQ(router.wait_duration_in_open, 30.0);     // inherited
  EXPECT_EQ(router.permitted_calls_in_half_open, 3U);  // built-in default
  EXPECT_EQ(&c.breaker_for("market_scanner"), &c.default_breaker);
  // [alerts]
  EXPECT_EQ(c.alerts.webhook_url, "https://hooks.slack.com/services/T/B/X");
  EXPECT_EQ(c.alerts.generic_webhook_url, "http://127.0.0.1:9000/alerts");
  EXPECT_EQ(c.alerts.min_interval, std::chrono::milliseconds(5min));
  EXPECT_FALSE(c.alerts.on_critical_health);
}

TEST(Config, ComponentBreakerInheritsDefaultsWrittenAfterIt) {
  // TOML tables are unordered: [breakers.default] below the component still applies to it.
  const ReaderConfig c = parse_config(
      "[breakers.order_router]\nconsecutive_failures_threshold = 3\n\n[breakers.default]\nminimum_number_of_calls = 4\n",
      "reader.toml");
  EXPECT_EQ(c.breaker_for("order_router").consecutive_failures_threshold, 3U);
  EXPECT_EQ(c.breaker_for("order_router").minimum_number_of_calls, 4U);
}

TEST(Config, ParsesDurationsWithEveryUnit) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("30s"), 30000ms);
  EXPECT_EQ(parse_duration("15m"), std::chrono::milliseconds(15min));
  EXPECT_EQ(parse_duration("1h"), std::chrono::milliseconds(1h));
  EXPECT_EQ(parse_duration("2.5s"), 2500ms);
  EXPECT_EQ(parse_duration("45"), 45000ms);  // no unit: seconds
  EXPECT_EQ(parse_duration("0"), 0ms);
  for (const char* bad : {"", "s", "ms", "fast", "10 s", "10x", "-5s", "1.2.3s", ".", ".s", "1e3s",
                          "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
                          "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
                          "99999999999999999999999999999999999999999999999999999999999999999999999999999999999999999999"
                          "9999999999999999999999999999999h"}) {
    SCOPED_TRACE(bad);
    EXPECT_THROW((void)parse_duration(bad), std::invalid_argument);
  }
}

TEST(Config, PlainNumbersAreSecondsInDurationKeys) {
  const ReaderConfig c = parse_config("[reader]\nreport_interval = 90\npublish_interval = 0.25\n", "reader.toml");
  EXPECT_EQ(c.report_interval, 90000ms);
  EXPECT_EQ(c.publish_interval, 250ms);
}

TEST(Config, StateFileAndSnapshotIntervalWithTheirDefaultsAndErrors) {
  EXPECT_EQ(ReaderConfig{}.snapshot_interval, 10000ms);
  EXPECT_TRUE(ReaderConfig{}.state_file.empty());
  const ReaderConfig c =
      parse_config("[reader]\nstate_file = \"/var/lib/telering/reader.state\"\nsnapshot_interval = \"30s\"\n", "reader.toml");
  EXPECT_EQ(c.state_file, "/var/lib/telering/reader.state");
  EXPECT_EQ(c.snapshot_interval, 30000ms);
  EXPECT_EQ(error_of("[reader]\nsnapshot_interval = \"50ms\"\n"),
            "reader.toml:2: reader.snapshot_interval: must be at least 100 ms");
  EXPECT_EQ(error_of("[reader]\nstate_file = 3\n"), "reader.toml:2: reader.state_file: must be a string, got an integer");
}

TEST(Config, TomlSyntaxErrorNamesSourceAndLine) {
  const std::string message = error_of("[reader]\nreport_interval = \"15m\"\npublish_interval = = 3\n");
  ASSERT_FALSE(message.empty());
  EXPECT_EQ(message.rfind("reader.toml:3: ", 0), 0U) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
}

TEST(Config, UnclosedTableHeaderIsASyntaxErrorOnItsLine) {
  const std::string message = error_of("# comment\n[thresholds\nscan_time_warning = 10\n");
  EXPECT_EQ(message.rfind("reader.toml:2: ", 0), 0U) << message;
}

TEST(Config, UnknownTopLevelKeyIsAnError) {
  expect_error_at("[reader]\nreport_interval = \"15m\"\n\n[treshholds]\nscan_time_warning = 10\n", 4, "treshholds");
  expect_error_at("report_intervall = \"15m\"\n", 1, "report_intervall");
  EXPECT_NE(error_of("report_intervall = \"15m\"\n").find("unknown key"), std::string::npos);
}

TEST(Config, UnknownNestedKeyIsAnError) {
  expect_error_at("[thresholds]\nscan_time_warning = 10\nscan_time_critcal = 20\n", 3, "thresholds.scan_time_critcal");
  expect_error_at("[reader]\n[reader.idle]\nspins = 3\nspinz = 4\n", 4, "reader.idle.spinz");
  expect_error_at("[breakers.default]\nwait_duration = \"30s\"\n", 2, "breakers.default.wait_duration");
  expect_error_at("[[strategies]]\nerror_type = \"x\"\naction = \"ALERT\"\nmax_retry = 3\n", 4, "strategies[0].max_retry");
  expect_error_at("[alerts]\nwebhook = \"http://x\"\n", 2, "alerts.webhook");
}

TEST(Config, WrongTypeNamesTheKey) {
  expect_error_at("[thresholds]\nscan_time_warning = true\n", 2, "thresholds.scan_time_warning");
  expect_error_at("[windows]\n\nsize = \"100\"\n", 3, "windows.size");
  expect_error_at("[windows]\nsize = 10.5\n", 2, "windows.size");
  expect_error_at("[alerts]\non_critical_health = \"yes\"\n", 2, "alerts.on_critical_health");
  expect_error_at("[reader]\nhttp = 9464\n", 2, "reader.http");
  expect_error_at("reader = 5\n", 1, "reader");
  expect_error_at("[reader]\nreport_interval = true\n", 2, "reader.report_interval");
  expect_error_at("[strategies]\nerror_type = \"x\"\n", 1, "strategies");
  EXPECT_NE(error_of("[thresholds]\nmemory_mb_warning = true\n").find("must be a number, got a boolean"), std::string::npos);
  EXPECT_NE(error_of("[thresholds]\nscan_time_warning = true\n").find("got a boolean"), std::string::npos);
}

TEST(Config, OutOfRangeNumberNamesTheKeyAndTheValue) {
  expect_error_at("[windows]\nsize = 0\n", 2, "windows.size");
  expect_error_at("[windows]\nerror_history = -5\n", 2, "windows.error_history");
  expect_error_at("[thresholds]\nmemory_mb_warning = -1\n", 2, "thresholds.memory_mb_warning");
  expect_error_at("[reader]\nmax_records_per_poll = 0\n", 2, "reader.max_records_per_poll");
  const std::string message = error_of("[windows]\nsize = 0\n");
  EXPECT_NE(message.find("got 0"), std::string::npos) << message;
}

TEST(Config, WarningAboveCriticalIsRefused) {
  const std::string text = "[thresholds]\nscan_time_critical = 20\nscan_time_warning = 40\n";
  expect_error_at(text, 3, "thresholds.scan_time_warning");
  EXPECT_NE(error_of(text).find("must not exceed scan_time_critical"), std::string::npos) << error_of(text);
  // Against the default critical (90 s) too.
  expect_error_at("[thresholds]\nscan_time_warning = 91\n", 2, "thresholds.scan_time_warning");
  expect_error_at("[thresholds]\nerrors_warning = 11\n", 2, "thresholds.errors_warning");
  // Equal bounds are allowed (both ends of the band are WARNING).
  EXPECT_EQ(error_of("[thresholds]\nscan_time_warning = 40\nscan_time_critical = 40\n"), "");
}

TEST(Config, BadActionNameIsRefused) {
  const std::string text = "[[strategies]]\nerror_type = \"custom\"\naction = \"REBOOT\"\n";
  expect_error_at(text, 3, "strategies[0].action");
  EXPECT_NE(error_of(text).find("REBOOT"), std::string::npos);
  // The second entry is named by its index.
  expect_error_at(
      "[[strategies]]\nerror_type = \"a\"\naction = \"ALERT\"\n\n[[strategies]]\nerror_type = \"b\"\naction = \"PANIC\"\n", 7,
      "strategies[1].action");
  expect_error_at("[[strategies]]\nerror_type = \"a\"\naction = \"ALERT\"\nseverity = \"URGENT\"\n", 4, "strategies[0].severity");
  expect_error_at("[[strategies]]\nerror_type = \"a\"\naction = \"RETRY\"\njitter = \"random\"\n", 4, "strategies[0].jitter");
}

TEST(Config, BadDurationStringIsRefused) {
  const std::string text = "[reader]\nreport_interval = \"15 minutes\"\n";
  expect_error_at(text, 2, "reader.report_interval");
  EXPECT_NE(error_of(text).find("15 minutes"), std::string::npos) << error_of(text);
  expect_error_at("[breakers.default]\nwait_duration_in_open = \"soon\"\n", 2, "breakers.default.wait_duration_in_open");
  expect_error_at("[thresholds]\nscan_time_warning = \"30y\"\n", 2, "thresholds.scan_time_warning");
  expect_error_at("[reader]\npublish_interval = \".\"\n", 2, "reader.publish_interval");
  expect_error_at("[reader]\npublish_interval = \"" + std::string(400, '9') + "s\"\n", 2, "reader.publish_interval");
  expect_error_at("[reader]\npublish_interval = 1e300\n", 2, "reader.publish_interval");
  expect_error_at("[reader]\npublish_interval = -1\n", 2, "reader.publish_interval");
  expect_error_at("[reader]\npublish_interval = \"1ms\"\n", 2, "reader.publish_interval");  // below the 10 ms minimum
  expect_error_at("[reader.idle]\nmin_sleep = \"2ms\"\nmax_sleep = \"1ms\"\n", 1, "reader.idle.min_sleep");
}

TEST(Config, StrategyWithoutErrorTypeIsRefused) {
  const std::string text = "[recovery]\nseed = 1\n\n[[strategies]]\naction = \"ALERT\"\n";
  expect_error_at(text, 4, "strategies[0].error_type");
  expect_error_at("[[strategies]]\nerror_type = \"\"\naction = \"ALERT\"\n", 1, "strategies[0].error_type");
  expect_error_at("[[strategies]]\nerror_type = \"x\"\n", 1, "strategies[0].action");
  expect_error_at("[[strategies]]\nerror_type = \"x\"\naction = \"ALERT\"\nparams = { retries = 3 }\n", 4,
                  "strategies[0].params.retries");
}

TEST(Config, BreakerFailureRateOver100IsRefused) {
  const std::string text = "[breakers.x]\nminimum_number_of_calls = 5\nfailure_rate_threshold = 150\n";
  expect_error_at(text, 3, "breakers.x.failure_rate_threshold");
  EXPECT_NE(error_of(text).find("150"), std::string::npos) << error_of(text);
  expect_error_at("[breakers.default]\nfailure_rate_threshold = 0\n", 2, "breakers.default.failure_rate_threshold");
  expect_error_at("[breakers.x]\nsliding_window_type = \"sliding\"\n", 2, "breakers.x.sliding_window_type");
  expect_error_at("[breakers.x]\npermitted_calls_in_half_open = 0\n", 2, "breakers.x.permitted_calls_in_half_open");
  expect_error_at("[breakers]\nx = 3\n", 2, "breakers.x");
  // A value only the breaker's own validation refuses names the breaker's table.
  expect_error_at("\n[breakers.x]\nslow_call_duration_threshold = 0\n", 2, "breakers.x");
  EXPECT_NE(error_of("[breakers.x]\nslow_call_duration_threshold = 0\n").find("slow_call_duration_threshold"), std::string::npos);
}

TEST(Config, LoadConfigReadsAFileAndNamesItInErrors) {
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "telering-config-good-" + std::to_string(::getpid()) + ".toml";
  const std::string bad = dir + "telering-config-bad-" + std::to_string(::getpid()) + ".toml";
  {
    std::ofstream(good) << "[thresholds]\nscan_time_warning = 25\n";
    std::ofstream(bad) << "[thresholds]\n\nscan_time_warnin = 25\n";
  }
  const ReaderConfig c = load_config(good);
  EXPECT_EQ(c.source, good);
  EXPECT_EQ(c.thresholds.scan_time_s.warning_at, 25.0);
  try {
    (void)load_config(bad);
    ADD_FAILURE() << "bad config accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(bad + ":3: thresholds.scan_time_warnin: unknown key", 0), 0U) << e.what();
  }
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

TEST(Config, LoadConfigOfAMissingFileNamesThePath) {
  const std::string path = ::testing::TempDir() + "telering-no-such-config-" + std::to_string(::getpid()) + ".toml";
  try {
    (void)load_config(path);
    ADD_FAILURE() << "missing file accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(path + ": ", 0), 0U) << message;
    EXPECT_NE(message.find("cannot open"), std::string::npos) << message;
  }
}

TEST(Config, AlertmanagerRulesParseWithTheirDefaults) {
  const ReaderConfig none = parse_config("", "reader.toml");
  EXPECT_FALSE(none.alertmanager.enabled());
  EXPECT_TRUE(none.alertmanager.secret.empty());

  const ReaderConfig c = parse_config(R"(
[alertmanager]
secret = "s3cret"

[[alertmanager.rules]]
alertname = "ExchangeApiDegraded"
labels = { exchange = "kucoin", severity = "critical" }
action = "open_breaker"
target = "kucoin_api"

[[alertmanager.rules]]
alertname = "ExchangeRateLimited"
action = "backoff"
target = "api_rate_limit"
max_duration = 0
)",
                                      "reader.toml");
  const AlertmanagerConfig& am = c.alertmanager;
  EXPECT_TRUE(am.enabled());
  EXPECT_EQ(am.secret, "s3cret");
  ASSERT_EQ(am.rules.size(), 2U);
  EXPECT_EQ(am.rules[0].alertname, "ExchangeApiDegraded");
  EXPECT_EQ(am.rules[0].labels.size(), 2U);
  EXPECT_EQ(am.rules[0].labels.at("exchange"), "kucoin");
  EXPECT_EQ(am.rules[0].labels.at("severity"), "critical");
  EXPECT_EQ(am.rules[0].action, AlertmanagerRule::Action::OpenBreaker);
  EXPECT_EQ(am.rules[0].target, "kucoin_api");
  EXPECT_EQ(am.rules[0].max_duration, std::chrono::milliseconds(10min));  // the default
  EXPECT_TRUE(am.rules[1].labels.empty());
  EXPECT_EQ(am.rules[1].action, AlertmanagerRule::Action::Backoff);
  EXPECT_EQ(am.rules[1].max_duration, std::chrono::milliseconds(0));  // until resolved
  EXPECT_EQ(parse_config("[[alertmanager.rules]]\nalertname = \"A\"\naction = \"backoff\"\ntarget = \"t\"\nmax_duration = \"90s\"\n",
                         "reader.toml")
                .alertmanager.rules[0]
                .max_duration,
            std::chrono::milliseconds(90s));
}

TEST(Config, AlertmanagerBadRulesNameTheRuleAndTheKey) {
  const std::string rule = "[[alertmanager.rules]]\n";
  expect_error_at(rule + "action = \"open_breaker\"\ntarget = \"x\"\n", 1, "alertmanager.rules[0].alertname");
  expect_error_at(rule + "alertname = \"A\"\ntarget = \"x\"\n", 1, "alertmanager.rules[0].action");
  expect_error_at(rule + "alertname = \"A\"\naction = \"close\"\ntarget = \"x\"\n", 3, "alertmanager.rules[0].action");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\n", 1, "alertmanager.rules[0].target");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"" + std::string(53, 'x') + "\"\n", 4,
                  "alertmanager.rules[0].target");
  EXPECT_NE(error_of(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"" + std::string(53, 'x') + "\"\n").find("52"),
            std::string::npos);
  // 52 bytes (kMaxNameLength) is the longest name the segment stores.
  EXPECT_EQ(error_of(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"" + std::string(52, 'x') + "\"\n"), "");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"x\"\nlabels = { exchange = 1 }\n", 5,
                  "alertmanager.rules[0].labels.exchange");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"x\"\nlabels = { alertname = \"B\" }\n", 5,
                  "alertmanager.rules[0].labels.alertname");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"x\"\nmax_duration = \"soon\"\n", 5,
                  "alertmanager.rules[0].max_duration");
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"x\"\nlabel = { a = \"b\" }\n", 5,
                  "alertmanager.rules[0].label");
  expect_error_at("[alertmanager]\nrules = 3\n", 2, "alertmanager.rules");
  expect_error_at("[alertmanager]\nsecret = \"\"\n", 2, "alertmanager.secret");
  expect_error_at("[alertmanager]\nsecret = 42\n", 2, "alertmanager.secret");
  expect_error_at("[alertmanager]\nsecrets = \"x\"\n", 2, "alertmanager.secrets");
  // The second rule is named by its index.
  expect_error_at(rule + "alertname = \"A\"\naction = \"backoff\"\ntarget = \"x\"\n" + rule + "alertname = \"B\"\naction = \"x\"\ntarget = \"y\"\n",
                  7, "alertmanager.rules[1].action");
}

TEST(Config, AlertmanagerSecretFileIsReadTrimmedAndRelativeToTheConfig) {
  const std::string dir = ::testing::TempDir() + "telering-am-config-" + std::to_string(::getpid());
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
  const std::string config = dir + "/reader.toml";
  {
    std::ofstream(dir + "/am.secret") << "from-file-token\n";
    std::ofstream(dir + "/empty.secret") << "\n";
    std::ofstream(config) << "[alertmanager]\nsecret = \"inline\"\nsecret_file = \"am.secret\"\n";
  }
  const ReaderConfig c = load_config(config);
  EXPECT_EQ(c.alertmanager.secret, "from-file-token");  // the file wins, without its newline
  EXPECT_EQ(c.alertmanager.secret_file, dir + "/am.secret");

  std::ofstream(config) << "[alertmanager]\n\nsecret_file = \"missing.secret\"\n";
  try {
    (void)load_config(config);
    ADD_FAILURE() << "missing secret file accepted";
  } catch (const ConfigError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind(config + ":3: alertmanager.secret_file: cannot read '" + dir + "/missing.secret'", 0), 0U) << message;
  }
  std::ofstream(config) << "[alertmanager]\nsecret_file = \"empty.secret\"\n";
  try {
    (void)load_config(config);
    ADD_FAILURE() << "empty secret file accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("is empty"), std::string::npos) << e.what();
  }
  for (const char* f : {"/am.secret", "/empty.secret", "/reader.toml"}) std::remove((dir + f).c_str());
  ::rmdir(dir.c_str());
}

}  // namespace
}  // namespace telering::reader
