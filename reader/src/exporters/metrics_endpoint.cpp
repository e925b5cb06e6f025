// exporters/metrics_endpoint.cpp — see metrics_endpoint.hpp.
#include "exporters/metrics_endpoint.hpp"

#include <spdlog/spdlog.h>

#include <prometheus/text_serializer.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <sstream>

#include "ingress/alertmanager_webhook.hpp"
#include "telering/clock.hpp"
#include "telering/report_page.hpp"

namespace telering::reader {

namespace {

constexpr double kNsPerSecond = 1e9;

}  // namespace

// ---- address -----------------------------------------------------------------------------

HttpAddress parse_http_address(std::string_view text) {
  const auto bad = [&](const char* why) {
    return ExporterError("--http '" + std::string(text) + "': " + why +
                         " (expected ADDR:PORT such as 127.0.0.1:9464 or [::1]:9464, or a bare PORT for loopback)");
  };
  HttpAddress a;
  std::string_view port_text;
  if (text.empty()) throw bad("empty");
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') throw bad("bad IPv6 form");
    a.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else if (const auto colon = text.rfind(':'); colon != std::string_view::npos) {
    if (text.find(':') != colon) throw bad("an IPv6 address needs brackets");
    a.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  } else {
    port_text = text;
  }
  if (a.host.empty()) a.host = "127.0.0.1";
  int port = -1;
  const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 0 || port > 65535)
    throw bad("the port must be a number in 0..65535");
  a.port = port;
  return a;
}

bool is_loopback_host(std::string_view host) {
  if (host == "localhost") return true;
  const std::string text(host);
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
  if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
  return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
}

// ---- exporter (HTTP threads) --------------------------------------------------------------

namespace {

prometheus::MetricFamily live_gauge(std::string name, std::string help, double value) {
  prometheus::MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.gauge.value = value;
  family.metric.push_back(std::move(m));
  return family;
}

}  // namespace

namespace {

HttpResponse json_reply(int status, std::string body) { return HttpResponse::text(status, std::move(body), "application/json"); }

}  // namespace

MetricsExporter::MetricsExporter(const std::string& address, AlertmanagerWebhook* alertmanager,
                                 const std::function<void(HttpRouter&)>& more_routes)
    : alertmanager_(alertmanager) {
  const HttpAddress a = parse_http_address(address);
  host_ = a.host;
  router_.route("GET", "/metrics", [this](const HttpRequest&) {
    scrapes_.fetch_add(1, std::memory_order_relaxed);
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics();
    return r;
  });
  router_.route("GET", "/health", [this](const HttpRequest&) { return health(); });
  router_.route("GET", "/-/ready", [this](const HttpRequest&) {
    std::lock_guard lock(segment_mutex_);
    return segment_ ? HttpResponse::text(200, "ready\n") : HttpResponse::text(503, "not ready: segment not attached\n");
  });
  // Parsing and mapping run here, on the HTTP thread; the loop only applies queued actions.
  // The gate answers 404/401 from the headers alone: a body is read only with the token.
  const auto webhook_reply = [](AlertmanagerWebhook::Reply reply) {
    HttpResponse r = json_reply(reply.status, std::move(reply.body));
    if (reply.status == 401) r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="telering-reader")");
    return r;
  };
  router_.route(
      "POST", "/alertmanager",
      [this, webhook_reply](const HttpRequest& req) {
        return webhook_reply(alertmanager_->handle(req.header("authorization"), req.body, monotonic_ns()));
      },
      /*takes_body=*/true,
      [this, webhook_reply](const HttpRequest& req) -> std::optional<HttpResponse> {
        if (!alertmanager_) return json_reply(404, R"({"status":"error","error":"the Alertmanager webhook is not enabled"})");
        if (auto refused = alertmanager_->authorize(req.header("authorization"))) return webhook_reply(std::move(*refused));
        return std::nullopt;
      });
  if (more_routes) more_routes(router_);
  server_ = std::make_unique<HttpServer>(router_);
  try {
    server_->bind(a.host, a.port);
  } catch (const std::exception& e) {
    throw ExporterError("--http '" + address + "': cannot bind " + a.host + ":" + std::to_string(a.port) + ": " + e.what() +
                        " (in use, or not an address of this host?)");
  }
  port_ = server_->port();
  server_->start();
}

MetricsExporter::~MetricsExporter() { server_->stop(); }

void MetricsExporter::set_segment(const Segment& segment) {
  std::lock_guard lock(segment_mutex_);
  segment_ = &segment;
}

void MetricsExporter::clear_segment() {
  std::lock_guard lock(segment_mutex_);
  segment_ = nullptr;
}

void MetricsExporter::publish(std::shared_ptr<const MetricsSnapshot> snapshot) {
  // The old snapshot is released after the lock, so its destruction (the only non-trivial
  // work here) never happens while a scrape waits for the pointer.
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_.swap(snapshot);
  }
}

std::shared_ptr<const MetricsSnapshot> MetricsExporter::current() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

std::vector<std::shared_ptr<const std::string>> MetricsExporter::render_metrics() const {
  const std::shared_ptr<const MetricsSnapshot> snap = current();
  // The snapshot is immutable: serialised once, then served to every scrape until the next
  // one (a hundred concurrent scrapes cost one serialisation, not a hundred).
  if (snap != rendered_for_) {
    std::ostringstream out;
    if (snap) prometheus::TextSerializer().Serialize(out, snap->families);
    rendered_ = std::make_shared<const std::string>(out.str());
    rendered_for_ = snap;
  }
  std::vector<prometheus::MetricFamily> live;
  const std::uint64_t now = monotonic_ns();
  {
    std::lock_guard lock(segment_mutex_);
    if (segment_) {
      // Read live, not from the snapshot: a stalled loop stops refreshing both the heartbeat
      // and the snapshot, and this is how a scrape still tells.
      const std::uint64_t beat = segment_->header().reader_heartbeat_ns.load(std::memory_order_relaxed);
      live.push_back(live_gauge("telering_reader_heartbeat_age_seconds", "Seconds since the drain loop last beat (read at scrape time)",
                                beat && now > beat ? static_cast<double>(now - beat) / kNsPerSecond : 0.0));
    }
  }
  if (snap)
    live.push_back(live_gauge("telering_metrics_snapshot_age_seconds", "Seconds since the drain loop published the metrics served here",
                              now > snap->taken_mono_ns ? static_cast<double>(now - snap->taken_mono_ns) / kNsPerSecond : 0.0));
  std::ostringstream tail;
  prometheus::TextSerializer().Serialize(tail, live);
  // The cached part is shared by every connection answering from it, the tail is small.
  return {rendered_, std::make_shared<const std::string>(tail.str())};
}

HttpResponse MetricsExporter::health() const {
  std::lock_guard lock(segment_mutex_);
  if (!segment_) return json_reply(503, R"({"status":"UNKNOWN","reason":"segment not attached yet"})");
  const Segment& seg = *segment_;
  ReportPage page(&seg.report(), seg.report_payload(), seg.geometry().report_bytes);
  ReportPage::Snapshot snap;
  if (!page.read(snap)) return json_reply(503, R"({"status":"UNKNOWN","reason":"no health report published yet"})");
  // Never a stale report as if it were fresh: a loop that stopped beating or publishing is
  // reported as such, with 503, the way writers report a dead reader as UNKNOWN.
  const std::uint64_t now = monotonic_ns();
  const std::uint64_t beat = seg.header().reader_heartbeat_ns.load(std::memory_order_acquire);
  const std::shared_ptr<const MetricsSnapshot> metrics = current();
  const std::uint64_t max_age = metrics ? metrics->report_max_age_ns : 0;
  const auto age = [&](std::uint64_t t) { return now > t ? static_cast<double>(now - t) / kNsPerSecond : 0.0; };
  char reason[160] = {};
  if (beat == 0 || (now > beat && now - beat > kReaderStaleNs))
    std::snprintf(reason, sizeof reason, "the reader's drain loop has not beaten for %.1f s", age(beat));
  else if (max_age != 0 && now > snap.published_mono_ns && now - snap.published_mono_ns > max_age)
    std::snprintf(reason, sizeof reason, "the report is %.1f s old: the reader stopped publishing it", age(snap.published_mono_ns));
  if (reason[0] != '\0')
    return json_reply(503, std::string(R"({"status":"UNKNOWN","reason":")") + reason + "\"}");
  return json_reply(200, std::move(snap.text));
}

}  // namespace telering::reader
