// telering-reader: drains a telering segment, evaluates health and publishes decisions.
#include <grp.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "dashboard/dashboard_collector.hpp"
#include "dashboard/dashboard_hub.hpp"
#include "config/config.hpp"
#include "exporters/alert_sender.hpp"
#include "exporters/metrics_endpoint.hpp"
#include "ingress/alertmanager_webhook.hpp"
#include "loop/reader_loop.hpp"
#include "loop/stop_signals.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/segment.hpp"
#include "tools/command_line.hpp"

namespace {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "telering-reader: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"telering-reader: drains a telering shared-memory segment, runs the health checks, recovery\n"
               "strategies and circuit breakers, and publishes decisions back into the segment."};
  app.set_version_flag("--version", std::string("telering-reader ") + TELERING_VERSION);
  std::string segment = "telering";
  std::string config_path;
  std::string report_interval;
  std::string log_level = "info";
  std::string http_address;
  bool once = false;
  bool json = false;
  telering::SegmentGeometry geometry;
  std::string mode_text = "0600";
  app.add_option("--segment", segment, "shared-memory segment name (/dev/shm/NAME)")->capture_default_str();
  app.add_option("--config", config_path, "TOML config file (thresholds, strategies, breakers, windows, alerts)");
  app.add_option("--report-interval", report_interval, "how often the health summary is printed, e.g. 15m, 30s (overrides the config)");
  std::string record_to;
  app.add_option("--record-to", record_to, "append every drained record to this file (rotating) for telering-replay");
  app.add_option("--http", http_address,
                 "serve /metrics, /health, /-/ready and POST /alertmanager on ADDR:PORT (e.g. 127.0.0.1:9464; a bare "
                 "PORT binds loopback); overrides [reader] http; off when neither is given");
  std::string state_file;
  app.add_option("--state-file", state_file,
                 "keep the reader's state (windows, error history, breakers, backoffs) in PATH: restored at start, "
                 "written every [reader] snapshot_interval and at shutdown; overrides [reader] state_file");
  app.add_flag("--once", once, "drain what is in the segment, print one report and exit");
  app.add_flag("--json", json, "print reports as JSON (one object per line) instead of the seed's text summary");
  app.add_option("--lanes", geometry.lane_count, "lanes, if this reader creates the segment")->capture_default_str();
  app.add_option("--lane-capacity", geometry.lane_capacity, "records per lane (power of two), if this reader creates the segment")
      ->capture_default_str();
  app.add_option("--mode", mode_text, "permissions of a segment this reader creates (octal)")->capture_default_str();
  bool allow_world_writable = false;
  app.add_flag("--allow-world-writable", allow_world_writable,
               "accept a --mode that lets every local user write the segment (and so forge decisions)");
  std::string group;
  bool trust_owner = false;
  app.add_option("--group", group, "group of a segment this reader creates (with --mode 0660: a shared bot account)");
  app.add_flag("--trust-segment-owner", trust_owner, "attach to a segment owned by another user (refused by default)");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  std::string dashboard_interval = "500ms";
  std::size_t dashboard_streams = 16;
  std::string secret_file;
  app.add_option("--dashboard-interval", dashboard_interval, "how often the dashboard (GET / and /events on --http) updates")
      ->capture_default_str();
  app.add_option("--dashboard-streams", dashboard_streams, "at most this many /events streams at once (then 503 + Retry-After)")
      ->capture_default_str();
  app.add_option("--http-secret-file", secret_file,
                 "file holding the HTTP secret: enables the dashboard's operator actions (Authorization: Bearer), and "
                 "is required for the dashboard on an address other than loopback");
  if (const auto done = telering::reader::parse_command_line(app, argc, argv, "telering-reader")) return *done;

  // Logs go to stderr so that stdout carries only reports (text or --json).
  spdlog::set_default_logger(spdlog::stderr_color_mt("telering-reader"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  const auto level = spdlog::level::from_str(log_level);
  if (level == spdlog::level::off && log_level != "off") return fail("--log-level: unknown level '" + log_level + "'", 2);
  spdlog::set_level(level);

  // Every flag is checked before anything is created: a bad one exits 2 and leaves nothing.
  telering::reader::ConfigOverrides overrides;
  try {
    if (!report_interval.empty()) overrides.report_interval = telering::reader::parse_duration(report_interval);
  } catch (const std::invalid_argument& e) {
    return fail(std::string("--report-interval: ") + e.what(), 2);
  }
  if (!record_to.empty()) overrides.record_to = record_to;
  if (!state_file.empty()) overrides.state_file = state_file;
  if (!http_address.empty()) overrides.http_address = http_address;
  telering::reader::dashboard::DashboardOptions dashboard_options;
  try {
    dashboard_options.interval = telering::reader::parse_duration(dashboard_interval);
  } catch (const std::invalid_argument& e) {
    return fail(std::string("--dashboard-interval: ") + e.what(), 2);
  }
  if (dashboard_options.interval < std::chrono::milliseconds(100) || dashboard_options.interval > std::chrono::seconds(60))
    return fail("--dashboard-interval: must be between 100ms and 60s", 2);
  if (dashboard_streams == 0 || dashboard_streams > 200) return fail("--dashboard-streams: must be 1..200", 2);
  dashboard_options.max_streams = dashboard_streams;
  if (!secret_file.empty()) {
    std::ifstream in(secret_file);
    std::stringstream text;
    text << in.rdbuf();
    std::string secret = text.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r' || secret.back() == ' ')) secret.pop_back();
    if (!in || secret.empty()) return fail("--http-secret-file: cannot read a secret from '" + secret_file + "'", 2);
    dashboard_options.secret = std::move(secret);
  }
  telering::reader::ReaderConfig config;
  try {
    if (!config_path.empty()) config = telering::reader::load_config(config_path);
  } catch (const telering::reader::ConfigError& e) {
    return fail(e.what(), 2);
  }
  overrides.apply(config);  // and again over every reloaded config (ReaderOptions::overrides)
  unsigned mode = 0;
  try {
    std::size_t used = 0;
    mode = static_cast<unsigned>(std::stoul(mode_text, &used, 8));
    if (used != mode_text.size() || mode > 0777) throw std::invalid_argument("");
  } catch (const std::exception&) {
    return fail("--mode: '" + mode_text + "' is not an octal permission like 0600", 2);
  }
  if ((mode & 0002U) != 0 && !allow_world_writable)
    return fail("--mode " + mode_text + ": every local user could write the segment and forge the reader's decisions; use "
                "0600 or 0660 with --group (or add --allow-world-writable if that is really meant)",
                2);
  if (!group.empty() && ::getgrnam(group.c_str()) == nullptr)
    return fail("--group: no group '" + group + "' on this host", 2);
  if (const std::string why = telering::validate_geometry(geometry); !why.empty())
    return fail("--lanes / --lane-capacity: " + why, 2);

  http_address = config.http_address;
  // Started before the segment is attached, so /-/ready can say "not yet" while we wait for
  // a creator; a bad or busy address stops the reader before anything else starts.
  // The webhook is declared first: the exporter's HTTP threads use it until the exporter is gone.
  // The dashboard's hub likewise: its streams live in the exporter's HTTP thread.
  std::unique_ptr<telering::reader::dashboard::DashboardHub> dashboard;
  std::unique_ptr<telering::reader::dashboard::DashboardCollector> dashboard_collector;
  std::unique_ptr<telering::reader::AlertmanagerWebhook> webhook;
  std::unique_ptr<telering::reader::MetricsExporter> exporter;
  std::unique_ptr<telering::reader::AlertSender> alerts;
  try {
    if (!http_address.empty() && !once) {
      // Always there with --http, so a SIGHUP that adds rules enables it. Refuses rules
      // without a secret on a non-loopback address (ConfigError: exit 2).
      webhook = std::make_unique<telering::reader::AlertmanagerWebhook>(
          config.alertmanager, telering::reader::parse_http_address(http_address).host);
      dashboard_options.loopback = telering::reader::is_loopback_host(telering::reader::parse_http_address(http_address).host);
      dashboard = std::make_unique<telering::reader::dashboard::DashboardHub>(dashboard_options);
      dashboard_collector = std::make_unique<telering::reader::dashboard::DashboardCollector>(*dashboard);
      exporter = std::make_unique<telering::reader::MetricsExporter>(
          http_address, webhook.get(), [&](telering::reader::HttpRouter& router) { dashboard->add_routes(router); });
      const std::string url = "http://" + (exporter->host().find(':') == std::string::npos ? exporter->host()
                                                                                            : "[" + exporter->host() + "]") +
                              ":" + std::to_string(exporter->port());
      spdlog::info("serving /metrics, /health and /-/ready on {}", url);
      if (!dashboard_options.loopback && dashboard_options.secret.empty())
        spdlog::warn("dashboard: off on {} (not loopback) until --http-secret-file is given", url);
      else
        spdlog::info("dashboard on {}/ ({} ms updates, at most {} streams, {})", url, dashboard_options.interval.count(),
                     dashboard_options.max_streams,
                     dashboard_options.secret.empty() ? "read-only: no --http-secret-file" : "operator actions with the bearer secret");
      if (config.alertmanager.enabled())
        spdlog::info("accepting Alertmanager webhooks on {}/alertmanager ({} rule(s), {})", url, config.alertmanager.rules.size(),
                     config.alertmanager.secret.empty() ? "no secret: loopback only" : "bearer secret required");
    } else if (config.alertmanager.enabled() && !once) {
      spdlog::warn("[alertmanager] has {} rule(s) but no --http address: the Alertmanager webhook is not served",
                   config.alertmanager.rules.size());
    }
    auto alert_options = telering::reader::AlertSenderOptions::from_config(config.alerts);
    if (alert_options.enabled() && !once) {
      alerts = std::make_unique<telering::reader::AlertSender>(alert_options);
      std::string targets;
      for (const std::string* url : {&alert_options.webhook_url, &alert_options.generic_webhook_url})
        if (!url->empty()) targets += (targets.empty() ? "" : ", ") + telering::reader::redact_url(*url);
      spdlog::info("alerts to {}", targets);
    }
  } catch (const std::exception& e) {
    return fail(e.what(), 2);
  }

  try {
    telering::SegmentOptions so;
    so.name = segment;
    so.geometry = geometry;
    so.mode = mode;
    so.group = group;
    so.trust_other_owner = trust_owner;
    telering::Segment seg = telering::Segment::open(so);
    spdlog::info("{} segment '{}' ({} lanes x {} records, {:.1f} MiB)", seg.created() ? "created" : "attached to", segment,
                 seg.geometry().lane_count, seg.geometry().lane_capacity, static_cast<double>(seg.size()) / (1 << 20));
    telering::reader::ReaderOptions options;
    options.json = json;
    options.metrics = exporter.get();
    options.alerts = alerts.get();
    options.alertmanager = webhook.get();
    options.tap = dashboard_collector.get();
    options.overrides = overrides;
    telering::reader::ReaderLoop loop(seg, std::move(config), options);
    if (once) {
      const std::uint64_t now = telering::monotonic_ns();
      loop.drain_all(now);
      loop.print_report(now);
      loop.save_snapshot(now, true);
      return 0;
    }
    telering::reader::StopSignals& signals = telering::reader::install_stop_signals(/*with_reload=*/true);
    loop.run(signals.stop, signals.reload, config_path);
    loop.print_report(telering::monotonic_ns());
    // Alerts raised by the final drain get a short chance to go out.
    if (alerts && !alerts->wait_idle(std::chrono::seconds(2))) spdlog::warn("alerts: stopping with alerts still undelivered");
    spdlog::info("stopped: {} records drained, {} malformed", loop.drain_stats().delivered, loop.drain_stats().malformed);
    return 0;
  } catch (const telering::SegmentError& e) {
    return fail(e.what(), 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
