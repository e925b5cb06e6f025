// exporters/metrics_endpoint.hpp — /metrics, /health and /-/ready for telering-reader: the
// HTTP half, on the server's threads (metrics_collector.hpp is the drain-loop half).
//
// MetricsExporter (its own HTTP thread, http_server.hpp) serves, on one address:
//      GET /metrics   the latest snapshot in the Prometheus text format (prometheus-cpp's
//                     TextSerializer), plus two figures read live at scrape time
//                     (reader heartbeat age, snapshot age), so a stalled loop is visible
//                     even though it stopped publishing snapshots;
//      GET /health    the JSON health report the Engine published on the segment's report
//                     page (Engine::report_json), read through the page's seqlock; 503
//                     until a report exists, and when the loop stopped beating (2 s) or the
//                     report is older than MetricsSnapshot::report_max_age_ns; never
//                     contains config (webhook URLs);
//      GET /-/ready   200 once the segment is attached (set_segment), 503 before;
//      POST /alertmanager  Alertmanager's webhook, handed to the AlertmanagerWebhook given
//                     at construction (alertmanager_webhook.hpp), which only queues actions
//                     for the loop; 404 without one or while it has no rules; its token is
//                     checked from the headers, before the body is read.
//      and whatever routes the constructor's `more_routes` adds (the dashboard's GET /,
//                     /events, /api/snapshot, POST /api/action: dashboard/dashboard_hub.hpp).
//    prometheus-cpp's own Exposer (civetweb) serves registries only, with no way to add
//    /health, so the exposition is served by HttpServer (every client bounded in time,
//    size and number) and rendered with TextSerializer, once per snapshot.
//
// Why a scrape never stalls the drain loop: the loop and the HTTP thread share exactly one
// thing, a std::shared_ptr<const MetricsSnapshot> guarded by a mutex that either side holds
// only to copy or swap that pointer. Serialising, /health's report-page read and socket I/O
// all happen outside it, on data the loop no longer writes. The Registry's own mutexes are
// taken only by the loop thread, so they are never contended.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "exporters/http_server.hpp"
#include "exporters/metrics_collector.hpp"
#include "telering/core/segment.hpp"

namespace telering::reader {

class AlertmanagerWebhook;

class ExporterError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HttpAddress {
  std::string host;  // "127.0.0.1", "::1", "0.0.0.0"
  int port = 0;      // 0 = any free port (tests)
};

// "127.0.0.1:9464", "[::1]:9464", "0.0.0.0:9464"; a bare "9464" or ":9464" binds loopback
// (127.0.0.1). Throws ExporterError naming the text and the expected form.
[[nodiscard]] HttpAddress parse_http_address(std::string_view text);

// True for an address only this host can reach: 127.0.0.0/8, ::1, ::ffff:127.x.y.z, "localhost".
// "0.0.0.0", "::" and every other address are reachable from elsewhere.
[[nodiscard]] bool is_loopback_host(std::string_view host);

class MetricsExporter {
 public:
  // Binds `address` (parse_http_address) and starts serving at once: /-/ready answers 503
  // until set_segment(). Throws ExporterError when the address is bad or cannot be bound.
  // `alertmanager` (optional) serves POST /alertmanager and must outlive the exporter.
  // `more_routes` (optional) adds routes of other parts (the dashboard) before serving starts;
  // what they capture must outlive the exporter.
  explicit MetricsExporter(const std::string& address, AlertmanagerWebhook* alertmanager = nullptr,
                           const std::function<void(HttpRouter&)>& more_routes = {});
  ~MetricsExporter();  // stops the server and joins its threads
  MetricsExporter(const MetricsExporter&) = delete;
  MetricsExporter& operator=(const MetricsExporter&) = delete;

  [[nodiscard]] const std::string& host() const noexcept { return host_; }
  [[nodiscard]] int port() const noexcept { return port_; }  // the bound port (also when asked for 0)

  // Marks the exporter ready and lets /health and /metrics read the segment's report page
  // and heartbeat. The segment must outlive the exporter's use of it (until clear_segment or
  // destruction). Any thread.
  void set_segment(const Segment& segment);
  void clear_segment();

  // Drain-loop thread: makes `snapshot` what the next scrape serves (a pointer swap).
  void publish(std::shared_ptr<const MetricsSnapshot> snapshot);

  [[nodiscard]] std::uint64_t scrapes() const noexcept { return scrapes_.load(std::memory_order_relaxed); }

 private:
  [[nodiscard]] std::shared_ptr<const MetricsSnapshot> current() const;
  // The page as parts: the snapshot's text (cached, shared) and the live gauges.
  [[nodiscard]] std::vector<std::shared_ptr<const std::string>> render_metrics() const;
  [[nodiscard]] HttpResponse health() const;

  HttpRouter router_;
  std::unique_ptr<HttpServer> server_;  // after router_: stopped (destroyed) before it
  AlertmanagerWebhook* alertmanager_ = nullptr;  // set before the server starts, never after
  // The serialised families of rendered_for_; only the HTTP thread touches them.
  mutable std::shared_ptr<const MetricsSnapshot> rendered_for_;
  mutable std::shared_ptr<const std::string> rendered_;
  std::string host_;
  int port_ = 0;
  // Held by the loop only for the pointer swap in publish(); by a scrape only to copy it.
  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const MetricsSnapshot> snapshot_;
  // Held by a request while it reads the segment (report page, heartbeat), and by
  // set_segment/clear_segment — at start and stop, never in the drain loop's steady state —
  // so the segment cannot be unmapped under a request.
  mutable std::mutex segment_mutex_;
  const Segment* segment_ = nullptr;
  std::atomic<std::uint64_t> scrapes_{0};
};

}  // namespace telering::reader
