// dashboard/dashboard_hub.hpp — the live dashboard's HTTP side: GET /, GET /events (Server-Sent
// Events), GET /api/snapshot, POST /api/action.
//
// Threads. The drain loop (DashboardCollector, dashboard_collector.hpp) hands the hub an
// immutable DashboardFrame once per interval (publish) and takes the operator actions queued
// here (take_actions). Everything else runs on the reader's one HTTP thread (http_server.hpp):
// each frame is serialised there once — an "update" event, and on demand the full snapshot
// with 10 minutes of series — and the same bytes go to every open stream, so 16 streams
// cost one serialisation, not sixteen. The loop and the HTTP thread share one mutex, held only
// to swap the frame pointer and append a second of series (publish) or to copy pointers
// (the HTTP side): the loop never waits for a client.
//
// Streams. A stream starts with `retry:` and a full snapshot at once (a new tab is never
// blank), then one update per frame, and a `: ping` comment when nothing was sent for
// ping_interval. At most max_streams are open at once: the next one is answered 503 with
// Retry-After at once, never left hanging; a stream's slot is freed as soon as its peer
// leaves (the server sees EPOLLRDHUP or a write error and destroys the stream).
//
// Access. Without a secret the dashboard is read-only. With one (--http-secret-file), POST
// /api/action takes "Authorization: Bearer <secret>" — a header, never a cookie, so another
// site cannot make a browser send it (no CSRF). On an address other than loopback the pages
// and streams need the secret too (the header, or ?token= for EventSource, which cannot set
// headers), and without a secret there the dashboard is not served (403), as /alertmanager
// refuses rules without a secret off loopback.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "dashboard/dashboard_frame.hpp"
#include "exporters/http_session.hpp"

namespace telering::reader::dashboard {

struct DashboardOptions {
  std::chrono::milliseconds interval{500};      // frames and stream updates
  std::size_t max_streams = 16;                 // concurrent /events streams
  std::chrono::milliseconds ping_interval{2000};  // ": ping" when nothing else was sent
  std::chrono::milliseconds retry{1000};        // the `retry:` a stream starts with
  std::string secret;                           // "" = read-only
  bool loopback = true;                         // the --http address is loopback only
};

// An operator's action, queued by POST /api/action for the drain loop.
struct OperatorRequest {
  enum class Kind : std::uint8_t { ForceOpen, Close, ClearBackoff };
  Kind kind = Kind::ForceOpen;
  std::string target;  // component (breakers) or error type (backoff)
};

class DashboardHub {
 public:
  static constexpr std::size_t kHistorySeconds = 600;  // 10 minutes at 1 s
  static constexpr std::size_t kMaxQueuedActions = 64;

  explicit DashboardHub(DashboardOptions options);
  ~DashboardHub();
  DashboardHub(const DashboardHub&) = delete;
  DashboardHub& operator=(const DashboardHub&) = delete;

  [[nodiscard]] const DashboardOptions& options() const noexcept { return options_; }

  // Drain-loop thread: makes `frame` current and appends its seconds of series.
  void publish(std::shared_ptr<const DashboardFrame> frame);
  // Drain-loop thread: the actions queued since the last call.
  [[nodiscard]] std::vector<OperatorRequest> take_actions();

  // Adds GET /, /dashboard.js, /dashboard.css, /uPlot.js, /uPlot.css, /events, /api/snapshot
  // and POST /api/action. The hub must outlive the router's server.
  void add_routes(HttpRouter& router);

  // Open /events streams (any thread).
  [[nodiscard]] std::size_t streams() const noexcept { return streams_.load(std::memory_order_relaxed); }
  [[nodiscard]] std::uint64_t streams_refused() const noexcept { return refused_.load(std::memory_order_relaxed); }

  // HTTP thread (or a test's single thread): the JSON of /api/snapshot, and the events a stream sends.
  [[nodiscard]] std::shared_ptr<const std::string> snapshot_json();
  [[nodiscard]] std::shared_ptr<const std::string> snapshot_event();
  [[nodiscard]] std::shared_ptr<const std::string> update_event();
  [[nodiscard]] std::uint64_t current_seq() const;

  // A response to a request for `path` that needs the page's access (nullopt: allowed).
  [[nodiscard]] std::optional<HttpResponse> check_read_access(const HttpRequest& request) const;
  [[nodiscard]] std::optional<HttpResponse> check_action_access(const HttpRequest& request) const;

 private:
  class Stream;
  friend class Stream;
  void refresh();  // HTTP thread: takes the current frame and history
  [[nodiscard]] bool token_ok(std::string_view presented) const noexcept;

  DashboardOptions options_;
  std::atomic<std::size_t> streams_{0};
  std::atomic<std::uint64_t> refused_{0};

  // Shared with the drain loop; held for pointer copies and O(1) appends only.
  mutable std::mutex mutex_;
  std::shared_ptr<const DashboardFrame> frame_;
  std::deque<std::shared_ptr<const SeriesPoint>> history_;
  std::vector<OperatorRequest> actions_;

  // HTTP thread only: what was built from frame `built_seq_`.
  std::uint64_t built_seq_ = ~0ULL;
  std::shared_ptr<const DashboardFrame> built_frame_;
  std::vector<std::shared_ptr<const SeriesPoint>> built_history_;
  std::shared_ptr<const std::string> update_event_, snapshot_event_, snapshot_json_;
};

// JSON of one frame's state (no series), as the page reads it; exposed for tests.
[[nodiscard]] std::string frame_state_json(const DashboardFrame& frame);

}  // namespace telering::reader::dashboard
