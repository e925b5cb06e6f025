// /metrics, /health and /-/ready of telering-reader, end to end in one process: a Writer
// records into a real segment, a ReaderLoop drains it into the Engine and the
// MetricsCollector, and the test reads the values back with real HTTP GETs against the
// MetricsExporter on a loopback port the kernel picked (port 0).
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/safe_text.hpp"
#include "engine/engine.hpp"
#include "exporters/metrics_endpoint.hpp"
#include "loop/reader_loop.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/report_page.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

constexpr const char* kBot = "obs-bot";
constexpr double kMiB = 1024.0 * 1024.0;

using Labels = std::vector<std::pair<std::string, std::string>>;

// Sum of the samples named `name` whose labels include every pair of `labels`; nullopt when
// no sample matched. Parses the text format the way Prometheus does for these simple cases.
std::optional<double> sample(const std::string& text, const std::string& name, const Labels& labels = {}) {
  std::istringstream in(text);
  std::string line;
  std::optional<double> sum;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const auto name_end = line.find_first_of("{ ");
    if (line.compare(0, name_end, name) != 0 || name_end != name.size()) continue;
    std::string label_text;
    if (line[name_end] == '{') label_text = line.substr(name_end, line.find('}') - name_end + 1);
    bool all = true;
    for (const auto& [k, v] : labels) {
      const std::string want = k + "=\"" + v + "\"";
      if (label_text.find("{" + want) == std::string::npos && label_text.find("," + want) == std::string::npos) all = false;
    }
    if (!all) continue;
    const double value = std::stod(line.substr(line.rfind(' ') + 1));
    sum = sum.value_or(0.0) + value;
  }
  return sum;
}

struct Response {
  int status = 0;
  std::string body;
};

Response get(int port, const std::string& path) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  auto res = client.Get(path.c_str());
  if (!res) return {};
  return {res->status, res->body};
}

WriterOptions writer_options(const test::UniqueSegment& seg, SegmentGeometry g) {
  WriterOptions o;
  o.segment = seg.name();
  o.bot = kBot;
  o.geometry = g;
  o.sample_memory = false;
  return o;
}

SegmentGeometry geometry() {
  SegmentGeometry g = test::small_geometry(4, 64);
  g.report_bytes = 64 * 1024;
  return g;
}

ReaderConfig config() {
  ReaderConfig c;
  c.default_breaker.consecutive_failures_threshold = 3;
  return c;
}

TEST(HttpAddress, ParsesHostPortIpv6AndBarePort) {
  EXPECT_EQ(parse_http_address("127.0.0.1:9464").host, "127.0.0.1");
  EXPECT_EQ(parse_http_address("127.0.0.1:9464").port, 9464);
  EXPECT_EQ(parse_http_address("[::1]:9000").host, "::1");
  EXPECT_EQ(parse_http_address("[::1]:9000").port, 9000);
  EXPECT_EQ(parse_http_address("9464").host, "127.0.0.1");
  EXPECT_EQ(parse_http_address(":9464").host, "127.0.0.1");
  EXPECT_EQ(parse_http_address("0.0.0.0:0").port, 0);
  EXPECT_THROW((void)parse_http_address(""), ExporterError);
  EXPECT_THROW((void)parse_http_address("localhost:http"), ExporterError);
  EXPECT_THROW((void)parse_http_address("::1:9464"), ExporterError);
  EXPECT_THROW((void)parse_http_address("127.0.0.1:70000"), ExporterError);
}

TEST(MetricsExporter, RefusesAnAddressAlreadyInUse) {
  MetricsExporter first("127.0.0.1:0");
  EXPECT_THROW(MetricsExporter second("127.0.0.1:" + std::to_string(first.port())), ExporterError);
}

TEST(MetricsExporter, NotReadyUntilTheSegmentIsAttached) {
  MetricsExporter exporter("127.0.0.1:0");
  EXPECT_EQ(get(exporter.port(), "/-/ready").status, 503);
  EXPECT_EQ(get(exporter.port(), "/health").status, 503);
  EXPECT_EQ(get(exporter.port(), "/metrics").status, 200);  // empty, but a valid exposition
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, geometry()));
  {
    ReaderOptions options;
    options.metrics = &exporter;
    ReaderLoop loop(w.segment(), config(), options);
    EXPECT_EQ(get(exporter.port(), "/-/ready").status, 200);
  }
  // The loop is gone and the segment may be unmapped: not ready any more.
  EXPECT_EQ(get(exporter.port(), "/-/ready").status, 503);
}

TEST(MetricsExporter, ServesWhatTheWriterRecorded) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, geometry()));
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderLoop loop(w.segment(), config(), options);

  ASSERT_EQ(w.scan_time(25.5), RecordResult::Recorded);
  w.scan_time(95.0);
  w.api_call(1.2, "orderbook");
  w.api_call(0.02, "ticker");
  w.memory_bytes(900 * kMiB);
  for (int i = 0; i < 3; ++i) w.error("api_connection", Severity::High, "connect refused");
  w.error("api_rate_limit", Severity::Medium, "429");
  w.warning("slow_fill", "3.1 s");
  for (int i = 0; i < 3; ++i) w.call_outcome("market_scanner", false, 0.5);
  w.call_outcome("order_router", true, 0.1);
  w.scan_time(std::numeric_limits<double>::quiet_NaN());  // refused by the reader's validation
  loop.drain_all(monotonic_ns());

  const Response r = get(exporter.port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  const std::string& m = r.body;
  EXPECT_EQ(sample(m, "telering_scan_time_seconds_count", {{"bot", kBot}}), 2.0) << m;
  EXPECT_EQ(sample(m, "telering_scan_time_seconds_sum", {{"bot", kBot}}), 120.5);
  EXPECT_EQ(sample(m, "telering_scan_time_seconds_bucket", {{"bot", kBot}, {"le", "30"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_scan_time_seconds_bucket", {{"bot", kBot}, {"le", "+Inf"}}), 2.0);
  EXPECT_EQ(sample(m, "telering_api_latency_seconds_count", {{"bot", kBot}, {"endpoint", "orderbook"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_api_latency_seconds_count", {{"bot", kBot}}), 2.0);
  EXPECT_EQ(sample(m, "telering_scan_time_avg_seconds", {{"bot", kBot}}), 60.25);
  EXPECT_EQ(sample(m, "telering_memory_bytes", {{"bot", kBot}}), 900 * kMiB);
  EXPECT_EQ(sample(m, "telering_errors_total", {{"bot", kBot}, {"type", "api_connection"}, {"severity", "high"}}), 3.0);
  EXPECT_EQ(sample(m, "telering_errors_total", {{"type", "api_rate_limit"}, {"severity", "medium"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_errors_total"), 4.0);
  EXPECT_EQ(sample(m, "telering_warnings_total", {{"type", "slow_fill"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_errors_in_window", {{"bot", kBot}}), 4.0);
  EXPECT_EQ(sample(m, "telering_breaker_state", {{"component", "market_scanner"}}), 1.0);  // OPEN
  EXPECT_EQ(sample(m, "telering_breaker_state", {{"component", "order_router"}}), 0.0);    // CLOSED
  EXPECT_EQ(sample(m, "telering_breaker_trips_total", {{"component", "market_scanner"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_backoff_active", {{"type", "api_rate_limit"}}), 1.0);  // built-in BACKOFF 30 s
  EXPECT_GT(*sample(m, "telering_backoff_remaining_seconds", {{"type", "api_rate_limit"}}), 20.0);
  EXPECT_EQ(sample(m, "telering_malformed_records_total", {{"fault", "not_finite"}}), 1.0);
  EXPECT_EQ(sample(m, "telering_records_drained_total", {{"kind", "error"}}), 4.0);
  EXPECT_EQ(sample(m, "telering_records_drained_total", {{"kind", "scan_time"}}), 2.0);
  EXPECT_EQ(sample(m, "telering_health_status", {{"component", "memory_usage"}}), 2.0);       // 900 MB: WARNING
  EXPECT_EQ(sample(m, "telering_health_status", {{"component", "scan_performance"}}), 2.0);   // avg 60 s: WARNING
  EXPECT_EQ(sample(m, "telering_bot_health_status", {{"bot", kBot}, {"component", "overall"}}), 2.0);
  EXPECT_EQ(sample(m, "telering_health_overall_status"), 2.0);
  EXPECT_GE(*sample(m, "telering_decisions_total"), 3.0);  // breaker open, backoff, retry
  EXPECT_EQ(sample(m, "telering_lane_dropped_records_total"), 0.0);
  EXPECT_EQ(sample(m, "telering_lanes_in_use"), 1.0);
  EXPECT_GT(*sample(m, "telering_reader_heartbeat_timestamp_seconds"), 1.6e9);
  EXPECT_TRUE(sample(m, "telering_reader_heartbeat_age_seconds").has_value());
  EXPECT_TRUE(sample(m, "telering_metrics_snapshot_age_seconds").has_value());
  EXPECT_NE(m.find("# TYPE telering_scan_time_seconds histogram"), std::string::npos);
  EXPECT_NE(m.find("# TYPE telering_errors_total counter"), std::string::npos);

  const Response health = get(exporter.port(), "/health");
  ASSERT_EQ(health.status, 200);
  const auto doc = nlohmann::json::parse(health.body);
  EXPECT_EQ(doc.at("overall_status"), "WARNING");
  EXPECT_EQ(doc.at("breakers").at("market_scanner").at("state"), "OPEN");
  EXPECT_EQ(doc.at("error_statistics").at("total_errors"), 4);
  EXPECT_EQ(get(exporter.port(), "/-/ready").status, 200);
  EXPECT_EQ(get(exporter.port(), "/nope").status, 404);
}

// Issue 12 item 2: a bot whose name is clipped at 52 bytes (honest: multibyte characters)
// and a hostile writer's raw bytes must not make the page unparseable (invalid UTF-8 in a
// label value makes Prometheus refuse the whole scrape).
TEST(MetricsExporter, EveryLabelIsValidUtf8WhateverTheNamesHold) {
  test::UniqueSegment seg;
  WriterOptions o = writer_options(seg, geometry());
  o.bot.clear();
  while (o.bot.size() < 70) o.bot += "\xC3\xA9";  // e-acute: 52 falls inside a character
  Writer w = Writer::attach(o);
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderLoop loop(w.segment(), config(), options);
  NameTable names(w.segment().names(), w.segment().geometry().name_capacity);
  const NameId type = names.intern(NameKind::ErrorType, "bad\xFF\xC3\ntype");
  const NameId endpoint = names.intern(NameKind::Endpoint, "ep\xE2\x82");
  ASSERT_EQ(w.error(type, Severity::High, "ctx"), RecordResult::Recorded);
  ASSERT_EQ(w.api_call(0.1, endpoint), RecordResult::Recorded);
  ASSERT_EQ(w.scan_time(1.0), RecordResult::Recorded);
  loop.drain_all(monotonic_ns());
  const Response r = get(exporter.port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  std::istringstream in(r.body);
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line); ++lines) EXPECT_TRUE(is_safe_text(line)) << line;
  EXPECT_GT(lines, 100U);
  EXPECT_EQ(sample(r.body, "telering_errors_total", {{"type", "bad\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDtype"}}), 1.0)
      << "each bad byte is one U+FFFD";
}

// Issue 12 item 6: one hostile writer inventing bots must not grow the page without bound;
// the families built in collect() are capped like the per-record ones, and the drops counted.
TEST(MetricsCollector, EveryFamilyIsCappedAndCountsWhatItDrops) {
  test::UniqueSegment seg;
  SegmentGeometry g = test::small_geometry(2, 64);
  g.name_capacity = 8192;
  g.report_bytes = 256 * 1024;
  Segment segment = Segment::open(seg.options(g));
  const std::uint64_t now = monotonic_ns();
  Engine engine(config(), segment, now, wall_ns() - static_cast<std::int64_t>(now));
  MetricsCollector collector(segment);
  NameTable names(segment.names(), g.name_capacity);
  constexpr int kBots = 2100;  // x 5 bot_health series each, > 2000
  for (int i = 0; i < kBots; ++i) {
    Record r{};
    r.kind = RecordKind::ScanTime;
    r.value = 1.0;
    r.timestamp = read_ticks();
    r.bot_id = names.intern(NameKind::Bot, "bot-" + std::to_string(i));
    ASSERT_NE(r.bot_id, kNoName);
    engine.on_record(r, RecordSource{}, now);
    collector.observe(r, engine);
  }
  const auto snapshot = collector.collect(engine, LoopFigures{}, now, wall_ns());
  std::size_t total = 0;
  std::map<std::string, double> dropped;
  for (const prometheus::MetricFamily& f : snapshot->families) {
    EXPECT_LE(f.metric.size(), MetricsCollector::kMaxSeriesPerFamily + 1) << f.name;
    total += f.metric.size();
    if (f.name == "telering_metrics_dropped_series_total")
      for (const prometheus::ClientMetric& m : f.metric) dropped[m.label.at(0).value] = m.counter.value;
  }
  EXPECT_LT(total, 25'000U);
  EXPECT_EQ(dropped["telering_scan_time_seconds"], kBots - 2000.0) << "folded under other";
  EXPECT_EQ(dropped["telering_scan_time_avg_seconds"], kBots - 2000.0) << "left out of the snapshot";
  EXPECT_GT(dropped["telering_bot_health_status"], 0.0);
}

// Issue 12 item 5: /health never serves a report the loop stopped refreshing as if fresh.
TEST(MetricsExporter, HealthIs503WhenTheLoopOrTheReportIsStale) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, geometry()));
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderLoop loop(w.segment(), config(), options);
  loop.drain_all(monotonic_ns());
  ASSERT_EQ(get(exporter.port(), "/health").status, 200);
  SegmentHeader& h = w.segment().header();
  // A loop that stopped beating (stalled, or killed without a successor).
  h.reader_heartbeat_ns.store(monotonic_ns() - 3'000'000'000ULL);
  Response r = get(exporter.port(), "/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("has not beaten"), std::string::npos) << r.body;
  // A loop that beats but whose report is old (it stopped publishing).
  h.reader_heartbeat_ns.store(monotonic_ns());
  ReportPage page(&w.segment().report(), w.segment().report_payload(), w.segment().geometry().report_bytes);
  ASSERT_TRUE(page.publish(R"({"overall_status":"HEALTHY"})", HealthStatus::Healthy, monotonic_ns() - 60'000'000'000ULL));
  r = get(exporter.port(), "/health");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("stopped publishing"), std::string::npos) << r.body;
}

TEST(MetricsExporter, BotScopedBreakersCarryTheirBotLabel) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, geometry()));
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderConfig c = config();
  BreakerConfig scoped = c.default_breaker;
  scoped.scope = BreakerConfig::Scope::Bot;
  c.breakers.emplace("orders", scoped);
  ReaderLoop loop(w.segment(), c, options);
  for (int i = 0; i < 3; ++i) w.call_outcome("orders", false, 0.5);
  loop.drain_all(monotonic_ns());

  const std::string m = get(exporter.port(), "/metrics").body;
  EXPECT_EQ(sample(m, "telering_breaker_state", {{"component", "orders"}, {"bot", kBot}}), 1.0) << m;  // its own: OPEN
  EXPECT_EQ(sample(m, "telering_breaker_trips_total", {{"component", "orders"}, {"bot", kBot}}), 1.0);
  EXPECT_EQ(sample(m, "telering_breaker_probe_events_total", {{"event", "refused"}}), 0.0);
  const auto doc = nlohmann::json::parse(get(exporter.port(), "/health").body);
  EXPECT_EQ(doc.at("breakers").at(std::string("orders@") + kBot).at("state"), "OPEN");
  EXPECT_EQ(doc.at("breakers").at(std::string("orders@") + kBot).at("bot"), kBot);
}

TEST(MetricsExporter, CountsDropsPerLane) {
  test::UniqueSegment seg;
  SegmentGeometry g = test::small_geometry(2, 16);
  Writer w = Writer::attach(writer_options(seg, g));
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderLoop loop(w.segment(), config(), options);
  std::uint64_t dropped = 0;
  for (int i = 0; i < 40; ++i) dropped += w.counter("fills") == RecordResult::Dropped;
  ASSERT_GT(dropped, 0u);
  loop.drain_all(monotonic_ns());
  const std::string m = get(exporter.port(), "/metrics").body;
  EXPECT_EQ(sample(m, "telering_lane_dropped_records_total"), static_cast<double>(dropped)) << m;
  EXPECT_EQ(sample(m, "telering_lane_dropped_records_total", {{"lane", "shared"}}), 0.0);
  EXPECT_EQ(sample(m, "telering_bot_metric_accumulated", {{"metric", "fills"}}), static_cast<double>(40 - dropped));
  EXPECT_EQ(sample(m, "telering_lane_fill_ratio"), 0.0);  // drained
}

// Scrapes from another thread while the loop drains: the loop's only shared state with
// the HTTP threads is the snapshot pointer (ThreadSanitizer checks the rest), and every
// record is accounted for at the end.
TEST(MetricsExporter, ScrapesRunConcurrentlyWithTheDrainLoop) {
  test::UniqueSegment seg;
  Writer w = Writer::attach(writer_options(seg, geometry()));
  MetricsExporter exporter("127.0.0.1:0");
  ReaderConfig c = config();
  c.publish_interval = std::chrono::milliseconds(1);
  ReaderOptions options;
  options.metrics = &exporter;
  ReaderLoop loop(w.segment(), c, options);

  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::thread scraper([&] {
    while (!done.load(std::memory_order_relaxed)) {
      if (get(exporter.port(), "/metrics").status == 200) scrapes.fetch_add(1, std::memory_order_relaxed);
      (void)get(exporter.port(), "/health");
    }
  });
  constexpr int kRecords = 2000;
  for (int i = 0; i < kRecords; ++i) {
    while (w.scan_time(1.0 + i % 50) == RecordResult::Dropped) loop.turn(monotonic_ns());
    loop.turn(monotonic_ns());
    if (i % 100 == 0) {
      // Keep going until the scraper has had a few turns, without timing anything.
      while (scrapes.load(std::memory_order_relaxed) < i / 100) loop.turn(monotonic_ns());
    }
  }
  loop.drain_all(monotonic_ns());
  done.store(true);
  scraper.join();
  const std::string m = get(exporter.port(), "/metrics").body;
  EXPECT_EQ(sample(m, "telering_scan_time_seconds_count", {{"bot", kBot}}), static_cast<double>(kRecords));
  EXPECT_GE(exporter.scrapes(), 20u);
}

}  // namespace
}  // namespace telering::reader
