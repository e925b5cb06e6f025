#include "config/config.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "telering/layout.hpp"

namespace telering::reader {

namespace {

// One TOML table being read: remembers which keys were used so that the rest can be
// reported as unknown, and formats every error as "file:line: key: message".
class Section {
 public:
  Section(const toml::table& table, std::string path, std::string_view source)
      : table_(table), path_(std::move(path)), source_(source) {}

  [[noreturn]] void fail(const toml::node* node, std::string_view key, const std::string& message) const {
    std::ostringstream out;
    out << source_;
    const toml::node* where = node ? node : &table_;
    if (where->source().begin.line > 0) out << ':' << where->source().begin.line;
    out << ": " << qualified(key) << ": " << message;
    throw ConfigError(out.str());
  }

  const toml::node* find(std::string_view key) {
    used_.insert(std::string(key));
    return table_.get(key);
  }

  std::optional<double> number(std::string_view key) {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (auto v = n->value<double>()) {
      if (!std::isfinite(*v)) fail(n, key, "must be a finite number");
      return *v;
    }
    fail(n, key, std::string("must be a number, got ") + type_name(*n));
  }

  void number(std::string_view key, double& out, double min, double max, bool min_exclusive = false) {
    if (auto v = number(key)) {
      const bool below = min_exclusive ? *v <= min : *v < min;
      if (below || *v > max) {
        std::ostringstream m;
        m << "must be in " << (min_exclusive ? "(" : "[") << min << ", " << max << "], got " << *v;
        fail(table_.get(key), key, m.str());
      }
      out = *v;
    }
  }

  template <typename Int>
  void integer(std::string_view key, Int& out, std::int64_t min, std::int64_t max) {
    const toml::node* n = find(key);
    if (!n) return;
    auto v = n->value_exact<std::int64_t>();
    if (!v) fail(n, key, std::string("must be an integer, got ") + type_name(*n));
    if (*v < min || *v > max)
      fail(n, key, "must be in [" + std::to_string(min) + ", " + std::to_string(max) + "], got " + std::to_string(*v));
    out = static_cast<Int>(*v);
  }

  void boolean(std::string_view key, bool& out) {
    const toml::node* n = find(key);
    if (!n) return;
    auto v = n->value_exact<bool>();
    if (!v) fail(n, key, std::string("must be true or false, got ") + type_name(*n));
    out = *v;
  }

  void string(std::string_view key, std::string& out) {
    const toml::node* n = find(key);
    if (!n) return;
    auto v = n->value_exact<std::string>();
    if (!v) fail(n, key, std::string("must be a string, got ") + type_name(*n));
    out = *v;
  }

  template <typename Duration>
  void duration(std::string_view key, Duration& out, std::chrono::milliseconds min) {
    const toml::node* n = find(key);
    if (!n) return;
    std::chrono::milliseconds ms{};
    if (auto s = n->value_exact<std::string>()) {
      try {
        ms = parse_duration(*s);
      } catch (const std::invalid_argument& e) {
        fail(n, key, e.what());
      }
    } else if (auto d = n->value<double>()) {
      if (!std::isfinite(*d) || *d < 0) fail(n, key, "must be a non-negative number of seconds");
      // The same bound as parse_duration: beyond it llround's result is unspecified.
      if (*d > 1e12) fail(n, key, "is too long");
      ms = std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(*d * 1000.0)));
    } else {
      fail(n, key, std::string("must be seconds or a duration string like \"15m\", got ") + type_name(*n));
    }
    if (ms < min) fail(n, key, "must be at least " + std::to_string(min.count()) + " ms");
    out = std::chrono::duration_cast<Duration>(ms);
  }

  // Seconds as a double (for thresholds expressed in seconds), from a number or a duration.
  void seconds(std::string_view key, double& out, double min_seconds) {
    const toml::node* n = find(key);
    if (!n) return;
    double value = 0;
    if (auto s = n->value_exact<std::string>()) {
      try {
        value = static_cast<double>(parse_duration(*s).count()) / 1000.0;
      } catch (const std::invalid_argument& e) {
        fail(n, key, e.what());
      }
    } else if (auto d = n->value<double>()) {
      value = *d;
    } else {
      fail(n, key, std::string("must be seconds or a duration string, got ") + type_name(*n));
    }
    if (!std::isfinite(value) || value < min_seconds)
      fail(n, key, "must be at least " + std::to_string(min_seconds) + " s");
    out = value;
  }

  std::optional<Section> table(std::string_view key) {
    const toml::node* n = find(key);
    if (!n) return std::nullopt;
    if (!n->is_table()) fail(n, key, std::string("must be a table, got ") + type_name(*n));
    return Section(*n->as_table(), qualified(key), source_);
  }

  // Every key not read is unknown: an error, so a typo never silently keeps a default.
  void finish() const {
    for (auto&& [k, v] : table_) {
      if (!used_.count(std::string(k.str()))) fail(&v, k.str(), "unknown key");
    }
  }

  const toml::table& raw() const { return table_; }
  const std::string& path() const { return path_; }
  // An empty key names the section itself (errors about the table as a whole).
  std::string qualified(std::string_view key) const {
    if (key.empty()) return path_;
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  std::string_view source() const { return source_; }

 private:
  static const char* type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer: return "an integer";
      case toml::node_type::floating_point: return "a number";
      case toml::node_type::boolean: return "a boolean";
      case toml::node_type::table: return "a table";
      case toml::node_type::array: return "an array";
      default: return "a date/time";
    }
  }

  const toml::table& table_;
  std::string path_;
  std::string_view source_;
  std::set<std::string> used_;
};

// Time bands (scan time, API latency) take seconds or a duration string like every other
// time setting; the others (MB, error counts) take plain numbers.
enum class BandUnit { Seconds, Number };

void read_band(Section& s, std::string_view warning_key, std::string_view critical_key, ThresholdBand& band,
               BandUnit unit = BandUnit::Number) {
  if (unit == BandUnit::Seconds) {
    s.seconds(warning_key, band.warning_at, 0);
    s.seconds(critical_key, band.critical_above, 0);
  } else {
    s.number(warning_key, band.warning_at, 0, 1e12);
    s.number(critical_key, band.critical_above, 0, 1e12);
  }
  if (band.warning_at > band.critical_above)
    s.fail(s.raw().get(warning_key), warning_key,
           "must not exceed " + std::string(critical_key) + " (" + std::to_string(band.warning_at) + " > " +
               std::to_string(band.critical_above) + ")");
}

BreakerConfig read_breaker(Section& s, BreakerConfig b) {
  if (const toml::node* n = s.find("sliding_window_type")) {
    auto v = n->value_exact<std::string>();
    if (v == "count") b.sliding_window_type = BreakerConfig::WindowType::CountBased;
    else if (v == "time") b.sliding_window_type = BreakerConfig::WindowType::TimeBased;
    else s.fail(n, "sliding_window_type", "must be \"count\" or \"time\"");
  }
  s.integer("sliding_window_size", b.sliding_window_size, 1, 100000);
  s.integer("minimum_number_of_calls", b.minimum_number_of_calls, 1, 1000000);
  s.number("failure_rate_threshold", b.failure_rate_threshold, 0, 100, true);
  s.seconds("slow_call_duration_threshold", b.slow_call_duration_threshold, 0);
  s.number("slow_call_rate_threshold", b.slow_call_rate_threshold, 0, 100, true);
  s.integer("consecutive_failures_threshold", b.consecutive_failures_threshold, 0, 1000000);
  s.seconds("wait_duration_in_open", b.wait_duration_in_open, 0.001);
  s.number("wait_duration_multiplier", b.wait_duration_multiplier, 1, 1000);
  s.seconds("max_wait_duration_in_open", b.max_wait_duration_in_open, 0);
  s.integer("permitted_calls_in_half_open", b.permitted_calls_in_half_open, 1, 100000);
  s.seconds("max_wait_in_half_open", b.max_wait_in_half_open, 0);
  if (const toml::node* n = s.find("scope")) {
    const auto v = n->value_exact<std::string>();
    if (v == "component") b.scope = BreakerConfig::Scope::Component;
    else if (v == "bot") b.scope = BreakerConfig::Scope::Bot;
    else if (v == "host") b.scope = BreakerConfig::Scope::Host;
    else s.fail(n, "scope", "must be \"component\", \"bot\" or \"host\"");
  }
  s.integer("quorum", b.quorum, 1, 1'000'000);
  s.number("quorum_fraction", b.quorum_fraction, 0, 1);
  s.seconds("quorum_window", b.quorum_window, 0.001);
  s.seconds("probe_lease", b.probe_lease, 0.001);
  try {
    b.validate();
  } catch (const std::invalid_argument& e) {
    s.fail(nullptr, "", e.what());
  }
  s.finish();
  return b;
}

std::optional<RecoveryAction> parse_action(std::string_view text) {
  static const std::pair<std::string_view, RecoveryAction> kActions[] = {
      {"RETRY", RecoveryAction::Retry}, {"BACKOFF", RecoveryAction::Backoff}, {"RESET", RecoveryAction::Reset},
      {"ALERT", RecoveryAction::Alert}, {"SHUTDOWN", RecoveryAction::Shutdown}, {"NONE", RecoveryAction::None}};
  for (auto [name, action] : kActions) {
    if (text.size() == name.size() &&
        std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; }))
      return action;
  }
  return std::nullopt;
}

std::optional<Severity> parse_severity(std::string_view text) {
  for (Severity s : {Severity::Low, Severity::Medium, Severity::High, Severity::Critical}) {
    const std::string_view name = to_string(s);
    if (text.size() == name.size() &&
        std::equal(text.begin(), text.end(), name.begin(), [](char a, char b) { return std::toupper(static_cast<unsigned char>(a)) == b; }))
      return s;
  }
  return std::nullopt;
}

RecoveryStrategy read_strategy(Section& s) {
  RecoveryStrategy st;
  s.string("error_type", st.error_type);
  if (st.error_type.empty()) s.fail(nullptr, "error_type", "is required and must not be empty");
  std::string action, severity, jitter;
  s.string("action", action);
  if (auto a = parse_action(action)) st.action = *a;
  else s.fail(s.raw().get("action"), "action", "must be one of RETRY, BACKOFF, RESET, ALERT, SHUTDOWN, NONE, got \"" + action + "\"");
  s.string("severity", severity);
  if (!severity.empty()) {
    if (auto v = parse_severity(severity)) st.severity = *v;
    else s.fail(s.raw().get("severity"), "severity", "must be one of LOW, MEDIUM, HIGH, CRITICAL");
  }
  s.integer("max_retries", st.max_retries, 0, 1000);
  s.seconds("backoff_seconds", st.backoff_seconds, 0);
  double base = 2.0;
  s.number("backoff_base", base, 1.0, 1000.0);
  st.backoff = BackoffPolicy::seed_compatible(st.max_retries, base);
  s.seconds("backoff_cap", st.backoff.cap_seconds, 0.001);
  s.seconds("max_total_seconds", st.backoff.max_total_seconds, 0);
  s.string("jitter", jitter);
  if (jitter == "none" || jitter.empty()) st.backoff.jitter = BackoffPolicy::Jitter::None;
  else if (jitter == "full") st.backoff.jitter = BackoffPolicy::Jitter::Full;
  else if (jitter == "decorrelated") st.backoff.jitter = BackoffPolicy::Jitter::Decorrelated;
  else s.fail(s.raw().get("jitter"), "jitter", "must be \"none\", \"full\" or \"decorrelated\"");
  if (auto params = s.table("params")) {
    for (auto&& [k, v] : params->raw()) {
      auto text = v.value<std::string>();
      if (!text) params->fail(&v, k.str(), "strategy params must be strings");
      st.params.emplace(std::string(k.str()), *text);
      (void)params->find(k.str());
    }
  }
  s.finish();
  return st;
}

// A secret file's content without surrounding whitespace (the trailing newline of `echo`),
// as Alertmanager reads its own credentials_file. A relative path is taken from the config
// file's directory, as Alertmanager does.
std::string read_secret_file(Section& s, std::string& path) {
  const toml::node* n = s.raw().get("secret_file");
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(std::string(s.source())).parent_path() / p;
  path = p.string();
  std::ifstream in(p, std::ios::binary);
  if (!in) s.fail(n, "secret_file", "cannot read '" + path + "': " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) s.fail(n, "secret_file", "cannot read '" + path + "'");
  std::string secret = text.str();
  const auto space = [](char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; };
  while (!secret.empty() && space(secret.back())) secret.pop_back();
  secret.erase(secret.begin(), std::find_if_not(secret.begin(), secret.end(), space));
  if (secret.empty()) s.fail(n, "secret_file", "'" + path + "' is empty");
  return secret;
}

AlertmanagerRule read_alertmanager_rule(Section& s) {
  AlertmanagerRule r;
  s.string("alertname", r.alertname);
  if (r.alertname.empty()) s.fail(s.raw().get("alertname"), "alertname", "is required and must not be empty");
  if (auto labels = s.table("labels")) {
    for (auto&& [k, v] : labels->raw()) {
      (void)labels->find(k.str());
      if (k.str() == "alertname") labels->fail(&v, k.str(), "use the rule's own alertname key");
      auto text = v.value_exact<std::string>();
      if (!text) labels->fail(&v, k.str(), "label values must be strings (equality matchers)");
      r.labels.emplace(std::string(k.str()), *text);
    }
  }
  const toml::node* action = s.find("action");
  const auto action_text = action ? action->value_exact<std::string>() : std::nullopt;
  if (action_text == "open_breaker") r.action = AlertmanagerRule::Action::OpenBreaker;
  else if (action_text == "backoff") r.action = AlertmanagerRule::Action::Backoff;
  else s.fail(action, "action", action ? "must be \"open_breaker\" or \"backoff\"" : "is required (\"open_breaker\" or \"backoff\")");
  s.string("target", r.target);
  // The target is interned in the segment's name table, which keeps kMaxNameLength bytes.
  if (r.target.empty()) s.fail(s.raw().get("target"), "target", "is required and must not be empty");
  if (r.target.size() > kMaxNameLength)
    s.fail(s.raw().get("target"), "target", "must be at most " + std::to_string(kMaxNameLength) + " bytes, got " +
                                                std::to_string(r.target.size()));
  s.duration("max_duration", r.max_duration, std::chrono::milliseconds(0));
  s.finish();
  return r;
}

void read_alertmanager(Section& s, AlertmanagerConfig& am) {
  s.string("secret", am.secret);
  if (const toml::node* n = s.raw().get("secret"); n && am.secret.empty())
    s.fail(n, "secret", "must not be empty (leave it out for no secret)");
  s.string("secret_file", am.secret_file);
  if (!am.secret_file.empty()) am.secret = read_secret_file(s, am.secret_file);
  else if (const toml::node* n = s.raw().get("secret_file")) s.fail(n, "secret_file", "must not be empty");
  if (const toml::node* n = s.find("rules")) {
    const toml::array* arr = n->as_array();
    if (!arr) s.fail(n, "rules", "must be an array of tables ([[alertmanager.rules]])");
    std::size_t index = 0;
    for (const toml::node& item : *arr) {
      if (!item.is_table()) s.fail(&item, "rules", "each entry must be a table");
      Section rule(*item.as_table(), s.qualified("rules[" + std::to_string(index++) + "]"), s.source());
      am.rules.push_back(read_alertmanager_rule(rule));
    }
  }
  s.finish();
}

}  // namespace

std::chrono::milliseconds parse_duration(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string number(text.substr(0, i));
  const std::string_view unit = text.substr(i);
  // At least one digit and at most one '.': std::stod would throw std::invalid_argument
  // with the bare message "stod" for ".", and std::out_of_range (which escapes the config
  // loader's handlers) for a number too long for a double.
  const bool has_digit = std::any_of(number.begin(), number.end(), [](char ch) { return ch != '.'; });
  if (!has_digit || number.find('.') != number.rfind('.'))
    throw std::invalid_argument("\"" + std::string(text) + "\" is not a duration (use e.g. 500ms, 30s, 15m, 1h)");
  const double value = std::strtod(number.c_str(), nullptr);  // overflow gives HUGE_VAL: "too long" below
  double ms_per_unit = 0;
  if (unit == "ms") ms_per_unit = 1;
  else if (unit == "s" || unit.empty()) ms_per_unit = 1000;
  else if (unit == "m") ms_per_unit = 60'000;
  else if (unit == "h") ms_per_unit = 3'600'000;
  else throw std::invalid_argument("\"" + std::string(text) + "\" has an unknown unit (use ms, s, m or h)");
  const double ms = value * ms_per_unit;
  if (!std::isfinite(ms) || ms > 1e15) throw std::invalid_argument("\"" + std::string(text) + "\" is too long");
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(ms)));
}

const BreakerConfig& ReaderConfig::breaker_for(std::string_view component) const {
  const auto it = breakers.find(component);
  return it == breakers.end() ? default_breaker : it->second;
}

ReaderConfig parse_config(std::string_view toml_text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(toml_text, source);
  } catch (const toml::parse_error& e) {
    std::ostringstream out;
    out << source << ':' << e.source().begin.line << ": " << e.description();
    throw ConfigError(out.str());
  }
  ReaderConfig c;
  c.source = std::string(source);
  Section top(root, "", source);

  if (auto s = top.table("reader")) {
    s->duration("report_interval", c.report_interval, std::chrono::milliseconds(100));
    s->duration("publish_interval", c.publish_interval, std::chrono::milliseconds(10));
    s->duration("lane_reclaim_interval", c.lane_reclaim_interval, std::chrono::milliseconds(10));
    s->duration("prune_bots_after", c.prune_bots_after, std::chrono::milliseconds(0));
    s->duration("shared_lane_stuck_timeout", c.shared_lane_stuck_timeout, std::chrono::milliseconds(10));
    s->integer("max_records_per_poll", c.max_records_per_poll, 1, 1 << 24);
    s->string("http", c.http_address);
    s->string("state_file", c.state_file);
    s->string("record_to", c.record_to);
    s->integer("record_max_bytes", c.record_max_bytes, 4096, std::int64_t{1} << 40);
    s->integer("record_keep", c.record_keep, 1, 1000);
    s->duration("snapshot_interval", c.snapshot_interval, std::chrono::milliseconds(100));
    if (auto idle = s->table("idle")) {
      idle->integer("spins", c.idle.spins, 0, 1'000'000'000);
      idle->integer("yields", c.idle.yields, 0, 1'000'000'000);
      idle->duration("min_sleep", c.idle.min_sleep, std::chrono::milliseconds(0));
      idle->duration("max_sleep", c.idle.max_sleep, std::chrono::milliseconds(0));
      if (c.idle.min_sleep > c.idle.max_sleep) idle->fail(nullptr, "min_sleep", "must not exceed max_sleep");
      idle->finish();
    }
    s->finish();
  }
  if (auto s = top.table("windows")) {
    s->integer("size", c.windows.window_size, 1, 1'000'000);
    c.windows.endpoint_window_size = c.windows.window_size;
    s->integer("error_window_seconds", c.windows.error_window_seconds, 1, 7 * 24 * 3600);
    s->integer("max_endpoints", c.windows.max_endpoints, 0, 65536);
    s->integer("error_history", c.error_log.history_capacity, 1, 1'000'000);
    s->integer("max_error_types", c.error_log.max_types, 1, 1'000'000);
    s->finish();
  }
  if (auto s = top.table("thresholds")) {
    read_band(*s, "scan_time_warning", "scan_time_critical", c.thresholds.scan_time_s, BandUnit::Seconds);
    read_band(*s, "memory_mb_warning", "memory_mb_critical", c.thresholds.memory_mb);
    read_band(*s, "errors_warning", "errors_critical", c.thresholds.errors);
    read_band(*s, "api_latency_warning", "api_latency_critical", c.thresholds.api_latency_s, BandUnit::Seconds);
    s->finish();
  }
  if (auto s = top.table("recovery")) {
    s->number("incident_quiet_seconds", c.recovery.incident_quiet_seconds, 0, 1e9, true);
    s->boolean("alert_on_unknown_critical", c.recovery.alert_on_unknown_critical);
    if (const toml::node* n = s->find("seed")) {
      auto v = n->value_exact<std::int64_t>();
      if (!v) s->fail(n, "seed", "must be an integer");
      c.recovery.seed = static_cast<std::uint64_t>(*v);
    }
    s->finish();
  }
  if (const toml::node* n = top.find("strategies")) {
    const toml::array* arr = n->as_array();
    if (!arr) top.fail(n, "strategies", "must be an array of tables ([[strategies]])");
    std::size_t index = 0;
    for (const toml::node& item : *arr) {
      if (!item.is_table()) top.fail(&item, "strategies", "each entry must be a table");
      Section st(*item.as_table(), "strategies[" + std::to_string(index++) + "]", source);
      c.strategies.push_back(read_strategy(st));
    }
  }
  if (auto s = top.table("breakers")) {
    if (auto d = s->table("default")) c.default_breaker = read_breaker(*d, c.default_breaker);
    for (auto&& [k, v] : s->raw()) {
      if (k.str() == "default") continue;
      auto component = s->table(k.str());
      c.breakers.emplace(std::string(k.str()), read_breaker(*component, c.default_breaker));
    }
    s->finish();
  }
  if (const toml::node* n = top.find("rate_limits")) {
    const toml::array* arr = n->as_array();
    if (!arr) top.fail(n, "rate_limits", "must be an array of tables ([[rate_limits]])");
    std::size_t index = 0;
    for (const toml::node& item : *arr) {
      if (!item.is_table()) top.fail(&item, "rate_limits", "each entry must be a table");
      Section rl(*item.as_table(), "rate_limits[" + std::to_string(index++) + "]", source);
      RateLimitConfig r;
      rl.string("group", r.group);
      if (r.group.empty()) rl.fail(nullptr, "group", "is required and must not be empty");
      rl.integer("requests", r.requests, 1, std::int64_t{1} << 40);
      if (r.requests == 0) rl.fail(nullptr, "requests", "is required");
      rl.duration("period", r.period, std::chrono::milliseconds(1));
      rl.integer("burst", r.burst, 1, std::int64_t{1} << 40);
      rl.string("shrink_on_error", r.shrink_on_error);
      rl.number("shrink_factor", r.shrink_factor, 1.0, 1000.0);
      rl.duration("shrink_window", r.shrink_window, std::chrono::milliseconds(0));
      rl.finish();
      c.rate_limits.push_back(std::move(r));
    }
  }
  if (auto s = top.table("retry_budget")) {
    s->boolean("enabled", c.retry_budget.enabled);
    s->number("ratio", c.retry_budget.ratio, 0.0, 100.0);
    s->integer("min_retries", c.retry_budget.min_retries, 0, 1'000'000'000);
    s->integer("window_seconds", c.retry_budget.window_seconds, 1, 3600);
    s->duration("refill_interval", c.retry_budget.refill_interval, std::chrono::milliseconds(10));
    s->finish();
  }
  if (auto s = top.table("stall")) {
    s->duration("max_silence", c.stall.max_silence, std::chrono::milliseconds(0));
    s->duration("max_scan_interval", c.stall.max_scan_interval, std::chrono::milliseconds(0));
    if (const toml::node* n = s->find("action")) {
      const auto v = n->value_exact<std::string>();
      if (v == "alert") c.stall.action = StallConfig::Action::Alert;
      else if (v == "open_breakers") c.stall.action = StallConfig::Action::OpenBreakers;
      else if (v == "shutdown") c.stall.action = StallConfig::Action::Shutdown;
      else s->fail(n, "action", "must be \"alert\", \"open_breakers\" or \"shutdown\"");
    }
    s->finish();
  }
  if (auto s = top.table("alerts")) {
    s->string("webhook_url", c.alerts.webhook_url);
    s->string("generic_webhook_url", c.alerts.generic_webhook_url);
    s->duration("min_interval", c.alerts.min_interval, std::chrono::milliseconds(0));
    s->boolean("on_critical_health", c.alerts.on_critical_health);
    s->finish();
  }
  if (auto s = top.table("alertmanager")) read_alertmanager(*s, c.alertmanager);
  top.finish();
  try {
    c.thresholds.validate();
    c.windows.validate();
    c.error_log.validate();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string(source) + ": " + e.what());
  }
  return c;
}

ReaderConfig load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path + ": cannot read config file");
  return parse_config(text.str(), path);
}

}  // namespace telering::reader
