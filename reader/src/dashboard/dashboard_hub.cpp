// dashboard/dashboard_hub.cpp — see dashboard_hub.hpp.
#include "dashboard/dashboard_hub.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <cmath>

#include "dashboard/dashboard_assets.hpp"

namespace telering::reader::dashboard {

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

double finite(double v) { return std::isfinite(v) ? v : 0.0; }

json component_json(const ComponentFrame& c) {
  return {{"name", c.name},   {"status", c.status},         {"message", c.message},
          {"value", finite(c.value)}, {"warning_at", finite(c.warning_at)}, {"critical_above", finite(c.critical_above)}};
}

json components_json(const std::vector<ComponentFrame>& cs) {
  json out = json::array();
  for (const ComponentFrame& c : cs) out.push_back(component_json(c));
  return out;
}

json state_json(const DashboardFrame& f) {
  json bots = json::array();
  for (const BotFrame& b : f.bots)
    bots.push_back({{"name", b.name}, {"status", b.status}, {"last_record_age_s", finite(b.last_record_age_s)},
                    {"components", components_json(b.components)}});
  json breakers = json::array();
  for (const BreakerFrame& b : f.breakers)
    breakers.push_back({{"name", b.name},
                        {"component", b.component},
                        {"bot", b.bot},
                        {"scope", b.scope},
                        {"state", b.state},
                        {"failure_rate", finite(b.failure_rate)},
                        {"slow_call_rate", finite(b.slow_call_rate)},
                        {"calls_in_window", b.calls_in_window},
                        {"calls_per_second", finite(b.calls_per_second)},
                        {"time_in_state_s", finite(b.time_in_state_s)},
                        {"next_transition_s", finite(b.next_transition_s)},
                        {"probes_in_flight", b.probes_in_flight},
                        {"trips", b.trips},
                        {"last_rule", b.last_rule}});
  json errors = json::array();
  for (const ErrorFrame& e : f.errors)
    errors.push_back({{"type", e.type},
                      {"severity", e.severity},
                      {"count", e.count},
                      {"first_seen_ms", e.first_seen_ms},
                      {"last_seen_ms", e.last_seen_ms},
                      {"component", e.component},
                      {"message", e.message}});
  json decisions = json::array();
  for (const DecisionFrame& d : f.decisions)
    decisions.push_back({{"seq", d.seq}, {"at_ms", d.at_ms}, {"subject", d.subject}, {"what", d.what}, {"rule", d.rule}});
  json backoffs = json::array();
  for (const BackoffFrame& b : f.backoffs)
    backoffs.push_back({{"type", b.type}, {"remaining_s", finite(b.remaining_s)}, {"incident", b.incident}, {"attempts", b.attempts}});
  json limits = json::array();
  for (const RateLimitFrame& r : f.rate_limits)
    limits.push_back({{"group", r.group},
                      {"requests", r.requests},
                      {"period_s", finite(r.period_s)},
                      {"burst", r.burst},
                      {"shrunk", r.shrunk},
                      {"refused", r.refused}});
  json lanes = json::array();
  for (const LaneFrame& l : f.lanes)
    lanes.push_back({{"lane", l.lane}, {"fill", finite(l.fill)}, {"dropped", l.dropped}, {"in_use", l.in_use}});
  const RetryBudgetFrame& rb = f.retry_budget;
  const ReaderFrame& r = f.reader;
  return {{"seq", f.seq},
          {"at_ms", f.at_ms},
          {"overall", f.overall},
          {"host", components_json(f.host)},
          {"bots", std::move(bots)},
          {"breakers", std::move(breakers)},
          {"errors", std::move(errors)},
          {"decisions", std::move(decisions)},
          {"backoffs", std::move(backoffs)},
          {"rate_limits", std::move(limits)},
          {"retry_budget",
           {{"enabled", rb.enabled},
            {"tokens", rb.tokens},
            {"requests_in_window", rb.requests_in_window},
            {"retries_in_window", rb.retries_in_window},
            {"ratio", finite(rb.ratio)},
            {"min_retries", rb.min_retries},
            {"window_seconds", rb.window_seconds}}},
          {"lanes", std::move(lanes)},
          {"reader",
           {{"pid", r.pid},
            {"uptime_s", finite(r.uptime_s)},
            {"records", r.records},
            {"malformed", r.malformed},
            {"records_per_second", finite(r.records_per_second)},
            {"drops_per_second", finite(r.drops_per_second)},
            {"decisions", r.decisions},
            {"lanes_in_use", r.lanes_in_use}}}};
}

json point_json(const SeriesPoint& p) {
  json values = json::object();
  for (const auto& [name, value] : p.values)
    if (std::isfinite(value)) values[name] = value;
  return {{"t", p.at_ms}, {"v", std::move(values)}};
}

// Column form for the page's charts: one time axis, one array per series (null where a
// series had no value that second).
json series_json(const std::vector<std::shared_ptr<const SeriesPoint>>& history) {
  json t = json::array();
  json values = json::object();
  for (std::size_t i = 0; i < history.size(); ++i) {
    t.push_back(history[i]->at_ms);
    for (const auto& [name, value] : history[i]->values) {
      json& column = values[name];
      if (column.is_null()) column = json::array();
      while (column.size() < i) column.push_back(nullptr);
      column.push_back(std::isfinite(value) ? json(value) : json(nullptr));
    }
  }
  for (auto& [name, column] : values.items())
    while (column.size() < history.size()) column.push_back(nullptr);
  return {{"t", std::move(t)}, {"values", std::move(values)}};
}

HttpResponse json_reply(int status, std::string body) { return HttpResponse::text(status, std::move(body), "application/json"); }

std::string percent_decode(std::string_view s) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i] == '+' ? ' ' : s[i]);
    }
  }
  return out;
}

std::string query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=')
      return percent_decode(pair.substr(name.size() + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

std::string frame_state_json(const DashboardFrame& frame) { return dump(state_json(frame)); }

// One /events connection. Lives in the HTTP server's session; its destruction (the peer
// left, or the server stopped) frees its slot under the cap.
class DashboardHub::Stream final : public HttpStream {
 public:
  Stream(DashboardHub& hub, std::uint64_t seq) : hub_(&hub), last_seq_(seq) {
    hub_->streams_.fetch_add(1, std::memory_order_relaxed);
  }
  ~Stream() override { hub_->streams_.fetch_sub(1, std::memory_order_relaxed); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  void pull(std::vector<std::shared_ptr<const std::string>>& out, std::uint64_t now_ns) override {
    if (last_sent_ns_ == 0) last_sent_ns_ = now_ns;  // the snapshot went with the response, on the server's clock
    const std::uint64_t seq = hub_->current_seq();
    if (seq != last_seq_) {
      // Updates carry only the seconds since the previous frame; one missed (a stalled
      // server thread) is made good with a full snapshot.
      out.push_back(seq == last_seq_ + 1 ? hub_->update_event() : hub_->snapshot_event());
      last_seq_ = seq;
      last_sent_ns_ = now_ns;
    } else if (now_ns - last_sent_ns_ >= static_cast<std::uint64_t>(std::chrono::nanoseconds(hub_->options_.ping_interval).count())) {
      static const auto kPing = std::make_shared<const std::string>(": ping\n\n");
      out.push_back(kPing);
      last_sent_ns_ = now_ns;
    }
  }

 private:
  DashboardHub* hub_;
  std::uint64_t last_seq_;
  std::uint64_t last_sent_ns_ = 0;
};

DashboardHub::DashboardHub(DashboardOptions options) : options_(std::move(options)) {}

DashboardHub::~DashboardHub() = default;

void DashboardHub::publish(std::shared_ptr<const DashboardFrame> frame) {
  std::vector<std::shared_ptr<const SeriesPoint>> points;
  points.reserve(frame->points.size());
  for (const SeriesPoint& p : frame->points) points.push_back(std::make_shared<const SeriesPoint>(p));
  {
    std::lock_guard lock(mutex_);
    frame_.swap(frame);
    for (auto& p : points) {
      history_.push_back(std::move(p));
      if (history_.size() > kHistorySeconds) history_.pop_front();
    }
  }
  // `frame` (the previous one) is released here, outside the lock.
}

std::vector<OperatorRequest> DashboardHub::take_actions() {
  std::vector<OperatorRequest> out;
  std::lock_guard lock(mutex_);
  out.swap(actions_);
  return out;
}

std::uint64_t DashboardHub::current_seq() const {
  std::lock_guard lock(mutex_);
  return frame_ ? frame_->seq : 0;
}

void DashboardHub::refresh() {
  std::shared_ptr<const DashboardFrame> frame;
  {
    std::lock_guard lock(mutex_);
    const std::uint64_t seq = frame_ ? frame_->seq : 0;
    if (seq == built_seq_) return;
    frame = frame_;
    built_history_.assign(history_.begin(), history_.end());
    built_seq_ = seq;
  }
  built_frame_ = std::move(frame);
  update_event_.reset();
  snapshot_event_.reset();
  snapshot_json_.reset();
}

std::shared_ptr<const std::string> DashboardHub::update_event() {
  refresh();
  if (!update_event_) {
    json points = json::array();
    if (built_frame_)
      for (const SeriesPoint& p : built_frame_->points) points.push_back(point_json(p));
    const json data = {{"type", "update"}, {"state", built_frame_ ? state_json(*built_frame_) : json(nullptr)}, {"points", std::move(points)}};
    update_event_ = std::make_shared<const std::string>("event: update\nid: " + std::to_string(built_seq_) + "\ndata: " + dump(data) + "\n\n");
  }
  return update_event_;
}

std::shared_ptr<const std::string> DashboardHub::snapshot_json() {
  refresh();
  if (!snapshot_json_) {
    const json data = {{"type", "snapshot"},
                       {"version", 1},
                       {"interval_ms", options_.interval.count()},
                       {"actions", !options_.secret.empty()},
                       {"max_streams", options_.max_streams},
                       {"state", built_frame_ ? state_json(*built_frame_) : json(nullptr)},
                       {"series", series_json(built_history_)}};
    snapshot_json_ = std::make_shared<const std::string>(dump(data));
  }
  return snapshot_json_;
}

std::shared_ptr<const std::string> DashboardHub::snapshot_event() {
  refresh();
  if (!snapshot_event_)
    snapshot_event_ = std::make_shared<const std::string>("event: snapshot\nid: " + std::to_string(built_seq_) + "\ndata: " + *snapshot_json() +
                                                          "\n\n");
  return snapshot_event_;
}

bool DashboardHub::token_ok(std::string_view presented) const noexcept {
  // Constant time in the presented bytes: a timing does not tell how much of it was right.
  const std::string& secret = options_.secret;
  if (secret.empty()) return false;
  unsigned diff = presented.size() == secret.size() ? 0U : 1U;
  for (std::size_t i = 0; i < presented.size(); ++i)
    diff |= static_cast<unsigned>(static_cast<unsigned char>(presented[i]) ^ static_cast<unsigned char>(secret[i % secret.size()]));
  return diff == 0;
}

namespace {

std::string_view bearer(const HttpRequest& r) {
  std::string_view h = r.header("authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() < kBearer.size()) return {};
  for (std::size_t i = 0; i < kBearer.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(h[i])) != std::tolower(static_cast<unsigned char>(kBearer[i]))) return {};
  return h.substr(kBearer.size());
}

HttpResponse unauthorized(std::string why) {
  HttpResponse r = json_reply(401, R"j({"status":"error","error":")j" + why + "\"}");
  r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="telering-reader")");
  return r;
}

}  // namespace

std::optional<HttpResponse> DashboardHub::check_read_access(const HttpRequest& request) const {
  if (options_.loopback) return std::nullopt;
  if (options_.secret.empty())
    return json_reply(403, R"j({"status":"error","error":"the dashboard is off: --http is not a loopback address and no --http-secret-file is set"})j");
  const std::string from_query = query_param(request.query, "token");
  if (token_ok(bearer(request)) || token_ok(from_query)) return std::nullopt;
  return unauthorized("this address needs the HTTP secret (Authorization: Bearer, or ?token=)");
}

std::optional<HttpResponse> DashboardHub::check_action_access(const HttpRequest& request) const {
  if (options_.secret.empty())
    return json_reply(403, R"j({"status":"error","error":"read-only: the reader has no HTTP secret (--http-secret-file)"})j");
  if (!token_ok(bearer(request))) return unauthorized("operator actions need Authorization: Bearer <secret>");
  return std::nullopt;
}

void DashboardHub::add_routes(HttpRouter& router) {
  for (const Asset& a : dashboard_assets()) {
    const bool page = a.path == "/";
    router.route("GET", std::string(a.path), [this, a, page, body = std::make_shared<const std::string>(a.data)](const HttpRequest& req) {
      if (page)
        if (auto refused = check_read_access(req)) return std::move(*refused);
      HttpResponse r;
      r.content_type = std::string(a.content_type);
      r.headers.emplace_back("Cache-Control", "no-cache");
      r.headers.emplace_back("X-Content-Type-Options", "nosniff");
      if (page) {
        // Everything the page runs is its own: no inline script, nothing from elsewhere.
        r.headers.emplace_back("Content-Security-Policy",
                               "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'");
      }
      r.body.push_back(body);
      return r;
    });
  }
  router.route("GET", "/api/snapshot", [this](const HttpRequest& req) {
    if (auto refused = check_read_access(req)) return std::move(*refused);
    HttpResponse r;
    r.content_type = "application/json";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body.push_back(snapshot_json());
    return r;
  });
  router.route("GET", "/events", [this](const HttpRequest& req) {
    if (auto refused = check_read_access(req)) return std::move(*refused);
    if (streams() >= options_.max_streams) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      HttpResponse r = HttpResponse::text(503,
                                          "too many dashboard streams open (" + std::to_string(options_.max_streams) +
                                              "); close a tab or retry later, or poll /api/snapshot\n");
      r.headers.emplace_back("Retry-After", "5");
      return r;
    }
    HttpResponse r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-store");
    r.headers.emplace_back("X-Accel-Buffering", "no");  // proxies: do not hold events back
    // The first event at once: a new tab is never blank.
    r.body.push_back(std::make_shared<const std::string>("retry: " + std::to_string(options_.retry.count()) + "\n\n"));
    r.body.push_back(snapshot_event());
    r.stream = std::make_shared<Stream>(*this, built_seq_);
    return r;
  });
  router.route(
      "POST", "/api/action",
      [this](const HttpRequest& req) {
        json body = json::parse(req.body, nullptr, false);
        if (!body.is_object() || !body.contains("action") || !body["action"].is_string() || !body.contains("target") ||
            !body["target"].is_string())
          return json_reply(400, R"j({"status":"error","error":"expected {\"action\": \"force_open\"|\"close\"|\"clear_backoff\", \"target\": NAME}"})j");
        const std::string action = body["action"].get<std::string>();
        const std::string target = body["target"].get<std::string>();
        OperatorRequest r;
        if (action == "force_open") r.kind = OperatorRequest::Kind::ForceOpen;
        else if (action == "close") r.kind = OperatorRequest::Kind::Close;
        else if (action == "clear_backoff") r.kind = OperatorRequest::Kind::ClearBackoff;
        else return json_reply(400, R"j({"status":"error","error":"unknown action"})j");
        if (target.empty() || target.size() > 64)
          return json_reply(400, R"j({"status":"error","error":"target must be 1..64 bytes"})j");
        r.target = target;
        {
          std::lock_guard lock(mutex_);
          if (actions_.size() >= kMaxQueuedActions)
            return json_reply(503, R"j({"status":"error","error":"too many actions queued; retry"})j");
          actions_.push_back(std::move(r));
        }
        spdlog::info("dashboard: operator action {} {} queued", action, dump(json(target)));
        return json_reply(202, R"j({"status":"queued"})j");
      },
      /*takes_body=*/true, [this](const HttpRequest& req) { return check_action_access(req); });
}

}  // namespace telering::reader::dashboard
