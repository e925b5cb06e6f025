// The live dashboard (issue 15), reader side: SSE framing, the stream cap, disconnect
// clean-up, the JSON schema of /api/snapshot and /events, and the operator actions' auth.
// Sessions are driven without sockets (the test's clock) except where the socket is the
// point: a closed connection frees its stream, and the cap answers at once over TCP.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dashboard/dashboard_collector.hpp"
#include "dashboard/dashboard_hub.hpp"
#include "support/engine_rig.hpp"
#include "exporters/http_server.hpp"
#include "exporters/http_session.hpp"

namespace telering::reader::dashboard {
namespace {

using nlohmann::json;
constexpr std::uint64_t kMs = 1'000'000ULL;

std::shared_ptr<DashboardFrame> frame(std::uint64_t seq, std::int64_t second_ms = 0) {
  auto f = std::make_shared<DashboardFrame>();
  f->seq = seq;
  f->at_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq) * 500;
  f->overall = "HEALTHY";
  BreakerFrame b;
  b.name = b.component = "market_scanner";
  b.scope = "component";
  b.state = "CLOSED";
  f->breakers.push_back(b);
  if (second_ms != 0) f->points.push_back(SeriesPoint{second_ms, {{"records_per_s", 10.0 * static_cast<double>(seq)}}});
  return f;
}

// A hub's routes on a router, and sessions on it driven by hand.
struct Rig {
  explicit Rig(DashboardOptions o = {}) : hub(std::move(o)) { hub.add_routes(router); }
  std::unique_ptr<HttpSession> open() { return std::make_unique<HttpSession>(router, limits, budget, now); }
  static std::string take(HttpSession& s, std::uint64_t now_ns) {
    std::string out;
    while (s.has_output()) {
      const std::string_view o = s.pending_output();
      out += o;
      s.consume_output(o.size(), now_ns);
    }
    return out;
  }
  std::string request(HttpSession& s, const std::string& text) {
    s.receive(text, now);
    return take(s, now);
  }
  std::string get(HttpSession& s, const std::string& path, const std::string& extra = {}) {
    return request(s, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n");
  }
  static int status_of(const std::string& out) { return out.size() > 12 ? std::stoi(out.substr(9, 3)) : 0; }
  static std::string body_of(const std::string& out) { return out.substr(out.find("\r\n\r\n") + 4); }

  DashboardHub hub;
  HttpRouter router;
  HttpLimits limits;
  HttpBodyBudget budget;
  std::uint64_t now = 1000 * kMs;
};

// SSE events in a stream body: (event, id, data) per event; every event ends with a blank
// line and its data is one line of JSON.
struct Event {
  std::string event, id, data;
  bool comment = false;
};
std::vector<Event> parse_events(std::string_view body) {
  std::vector<Event> out;
  while (!body.empty()) {
    const std::size_t end = body.find("\n\n");
    EXPECT_NE(end, std::string_view::npos) << "an event without its blank line: " << body;
    if (end == std::string_view::npos) break;
    std::string_view block = body.substr(0, end);
    body.remove_prefix(end + 2);
    Event e;
    while (!block.empty()) {
      const std::size_t nl = block.find('\n');
      const std::string_view line = block.substr(0, nl);
      block.remove_prefix(nl == std::string_view::npos ? block.size() : nl + 1);
      if (line.starts_with(":")) e.comment = true;
      else if (line.starts_with("event: ")) e.event = line.substr(7);
      else if (line.starts_with("id: ")) e.id = line.substr(4);
      else if (line.starts_with("data: ")) {
        EXPECT_TRUE(e.data.empty()) << "one data line per event";
        e.data = line.substr(6);
      } else if (!line.starts_with("retry: ")) ADD_FAILURE() << "unexpected SSE line: " << line;
    }
    out.push_back(std::move(e));
  }
  return out;
}

TEST(DashboardEvents, StartWithRetryAndAFullSnapshotAtOnce) {
  Rig rig;
  rig.hub.publish(frame(1, 1'700'000'000'000));
  auto s = rig.open();
  const std::string out = rig.get(*s, "/events");
  EXPECT_EQ(Rig::status_of(out), 200) << out;
  EXPECT_NE(out.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Content-Length"), std::string::npos) << "a stream has no length";
  EXPECT_NE(out.find("Cache-Control: no-store\r\n"), std::string::npos);
  const std::string body = Rig::body_of(out);
  ASSERT_TRUE(body.starts_with("retry: 1000\n\n")) << body;
  const auto events = parse_events(body);
  ASSERT_EQ(events.size(), 2U);
  EXPECT_EQ(events[1].event, "snapshot");
  EXPECT_EQ(events[1].id, "1");
  const json snap = json::parse(events[1].data);
  EXPECT_EQ(snap["type"], "snapshot");
  EXPECT_EQ(snap["state"]["breakers"][0]["name"], "market_scanner");
  EXPECT_EQ(snap["series"]["t"].size(), 1U);
  EXPECT_TRUE(s->streaming());
  EXPECT_FALSE(s->wants_input()) << "a stream serves nothing else";
  EXPECT_EQ(rig.hub.streams(), 1U);
}

TEST(DashboardEvents, BeforeTheFirstFrameTheSnapshotSaysSoInsteadOfStayingBlank) {
  Rig rig;
  auto s = rig.open();
  const auto events = parse_events(Rig::body_of(rig.get(*s, "/events")));
  ASSERT_EQ(events.size(), 2U);
  const json snap = json::parse(events[1].data);
  EXPECT_TRUE(snap["state"].is_null());
  EXPECT_TRUE(snap["series"]["t"].empty());
}

TEST(DashboardEvents, SendOneUpdatePerFrameAndPingsInBetween) {
  Rig rig;
  rig.hub.publish(frame(1));
  auto s = rig.open();
  (void)rig.get(*s, "/events");
  s->pump(rig.now + 100 * kMs);
  EXPECT_FALSE(s->has_output()) << "nothing new, no ping due yet";
  rig.hub.publish(frame(2, 1'700'000'001'000));
  s->pump(rig.now + 200 * kMs);
  auto events = parse_events(Rig::take(*s, rig.now + 200 * kMs));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].event, "update");
  EXPECT_EQ(events[0].id, "2");
  const json update = json::parse(events[0].data);
  EXPECT_EQ(update["type"], "update");
  ASSERT_EQ(update["points"].size(), 1U) << "only the seconds since the previous frame";
  EXPECT_EQ(update["points"][0]["t"], 1'700'000'001'000);
  EXPECT_EQ(update["points"][0]["v"]["records_per_s"], 20.0);
  s->pump(rig.now + 2300 * kMs);  // 2 s after the update: a ping
  events = parse_events(Rig::take(*s, rig.now + 2300 * kMs));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_TRUE(events[0].comment);
  // A missed frame (two published between pulls) is made good with a full snapshot.
  rig.hub.publish(frame(3));
  rig.hub.publish(frame(4));
  s->pump(rig.now + 2400 * kMs);
  events = parse_events(Rig::take(*s, rig.now + 2400 * kMs));
  ASSERT_EQ(events.size(), 1U);
  EXPECT_EQ(events[0].event, "snapshot");
  EXPECT_EQ(events[0].id, "4");
}

TEST(DashboardEvents, AllStreamsShareOneSerialisationPerFrame) {
  Rig rig;
  rig.hub.publish(frame(1));
  auto a = rig.open();
  auto b = rig.open();
  (void)rig.get(*a, "/events");
  (void)rig.get(*b, "/events");
  rig.hub.publish(frame(2));
  EXPECT_EQ(rig.hub.update_event().get(), rig.hub.update_event().get());
}

TEST(DashboardStreamCap, AnswersAtTheCapWith503AndRetryAfterAndFreesOnClose) {
  DashboardOptions o;
  o.max_streams = 2;
  Rig rig(o);
  auto a = rig.open();
  auto b = rig.open();
  EXPECT_EQ(Rig::status_of(rig.get(*a, "/events")), 200);
  EXPECT_EQ(Rig::status_of(rig.get(*b, "/events")), 200);
  auto c = rig.open();
  const std::string refused = rig.get(*c, "/events");
  EXPECT_EQ(Rig::status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After: 5\r\n"), std::string::npos);
  EXPECT_FALSE(c->streaming());
  EXPECT_EQ(rig.hub.streams_refused(), 1U);
  // /api/snapshot still answers at the cap (for proxies and scripts).
  auto d = rig.open();
  EXPECT_EQ(Rig::status_of(rig.get(*d, "/api/snapshot")), 200);
  a->peer_closed();  // the tab closed: its slot is free at once
  EXPECT_EQ(rig.hub.streams(), 1U);
  auto e = rig.open();
  EXPECT_EQ(Rig::status_of(rig.get(*e, "/events")), 200);
  b.reset();  // the connection went away (write error, server stop)
  EXPECT_EQ(rig.hub.streams(), 1U);
}

TEST(DashboardStreamCap, APeerThatDoesNotReadIsDroppedAndFreesItsSlot) {
  Rig rig;
  auto s = rig.open();
  s->receive("GET /events HTTP/1.1\r\nHost: x\r\n\r\n", rig.now);
  EXPECT_EQ(rig.hub.streams(), 1U);
  // Never reads: after the write timeout the session gives up on it.
  s->on_time(rig.now + 11'000 * kMs);
  EXPECT_TRUE(s->finished());
  EXPECT_EQ(rig.hub.streams(), 0U);
}

TEST(DashboardEvents, HeadAnswersTheHeadAloneAndHoldsNoStream) {
  Rig rig;
  auto s = rig.open();
  const std::string out = rig.request(*s, "HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(Rig::status_of(out), 200);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
  EXPECT_FALSE(s->streaming());
  EXPECT_EQ(rig.hub.streams(), 0U);
}

TEST(DashboardPage, ServesThePageAndTheChartLibraryFromTheBinary) {
  Rig rig;
  auto s = rig.open();
  const std::string page = rig.get(*s, "/");
  EXPECT_EQ(Rig::status_of(page), 200);
  EXPECT_NE(page.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy: default-src 'self'"), std::string::npos);
  EXPECT_NE(page.find("<script src=\"uPlot.js\"></script>"), std::string::npos);
  for (const char* path : {"/uPlot.js", "/uPlot.css", "/dashboard.js", "/dashboard.css"}) {
    auto t = rig.open();
    const std::string out = rig.get(*t, path);
    EXPECT_EQ(Rig::status_of(out), 200) << path;
    EXPECT_GT(Rig::body_of(out).size(), 1000U) << path;
  }
  auto u = rig.open();
  EXPECT_NE(Rig::body_of(rig.get(*u, "/uPlot.js")).find("uPlot"), std::string::npos);
}

// ---- access ---------------------------------------------------------------------------------

std::string action(const std::string& auth, const std::string& body, const std::string& path = "/api/action") {
  return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + (auth.empty() ? "" : "Authorization: " + auth + "\r\n") +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(DashboardActions, AreRefusedWithoutASecret) {
  Rig rig;  // no secret: read-only
  auto s = rig.open();
  const std::string out = rig.request(*s, action("Bearer anything", R"({"action":"force_open","target":"market_scanner"})"));
  EXPECT_EQ(Rig::status_of(out), 403) << out;
  EXPECT_TRUE(rig.hub.take_actions().empty());
}

TEST(DashboardActions, NeedTheBearerSecretInTheHeader) {
  DashboardOptions o;
  o.secret = "s3cret";
  Rig rig(o);
  const std::string body = R"({"action":"force_open","target":"market_scanner"})";
  for (const std::string& auth : {std::string(), std::string("Bearer wrong!"), std::string("Bearer s3cre"), std::string("Basic s3cret")}) {
    auto s = rig.open();
    const std::string out = rig.request(*s, action(auth, body));
    EXPECT_EQ(Rig::status_of(out), 401) << auth;
    EXPECT_NE(out.find("WWW-Authenticate: Bearer"), std::string::npos);
  }
  {  // a token in the query is not enough for an action: only a header (no CSRF)
    auto s = rig.open();
    EXPECT_EQ(Rig::status_of(rig.request(*s, action("", body, "/api/action?token=s3cret"))), 401);
  }
  EXPECT_TRUE(rig.hub.take_actions().empty());
  auto s = rig.open();
  const std::string out = rig.request(*s, action("Bearer s3cret", body));
  EXPECT_EQ(Rig::status_of(out), 202) << out;
  const auto queued = rig.hub.take_actions();
  ASSERT_EQ(queued.size(), 1U);
  EXPECT_EQ(queued[0].kind, OperatorRequest::Kind::ForceOpen);
  EXPECT_EQ(queued[0].target, "market_scanner");
  auto bad = rig.open();
  EXPECT_EQ(Rig::status_of(rig.request(*bad, action("Bearer s3cret", R"({"action":"explode","target":"x"})"))), 400);
  auto snapshot = rig.open();
  EXPECT_TRUE(json::parse(Rig::body_of(rig.get(*snapshot, "/api/snapshot")))["actions"].get<bool>());
}

TEST(DashboardAccess, OnLoopbackThePageIsOpenAndReadOnlyWithoutASecret) {
  Rig rig;
  auto s = rig.open();
  EXPECT_EQ(Rig::status_of(rig.get(*s, "/")), 200);
  auto t = rig.open();
  EXPECT_FALSE(json::parse(Rig::body_of(rig.get(*t, "/api/snapshot")))["actions"].get<bool>());
}

TEST(DashboardAccess, OffLoopbackThePageNeedsTheSecret) {
  DashboardOptions o;
  o.loopback = false;
  o.secret = "s3cret";
  Rig rig(o);
  for (const char* path : {"/", "/events", "/api/snapshot"}) {
    auto s = rig.open();
    EXPECT_EQ(Rig::status_of(rig.get(*s, path)), 401) << path;
    auto t = rig.open();
    EXPECT_EQ(Rig::status_of(rig.get(*t, path, "Authorization: Bearer s3cret\r\n")), 200) << path;
    auto u = rig.open();
    EXPECT_EQ(Rig::status_of(rig.get(*u, std::string(path) + "?token=s3cret")), 200) << path << " (EventSource cannot set headers)";
  }
  EXPECT_EQ(rig.hub.streams(), 0U) << "each stream went with its session";

  DashboardOptions open_off_loopback;
  open_off_loopback.loopback = false;  // and no secret: not served at all
  Rig off(open_off_loopback);
  for (const char* path : {"/", "/events", "/api/snapshot"}) {
    auto s = off.open();
    EXPECT_EQ(Rig::status_of(off.get(*s, path)), 403) << path;
  }
}

// ---- the collector: the drain loop's side, on a real engine ------------------------------------

ReaderConfig breaker_config() {
  ReaderConfig c;
  c.default_breaker.minimum_number_of_calls = 4;
  c.default_breaker.sliding_window_size = 4;
  return c;
}

TEST(DashboardCollector, SnapshotJsonHasTheDocumentedSchema) {
  EngineRig rig(breaker_config());
  rig.w().scan_time(25.0);
  rig.w().api_call(0.4, "orderbook");
  rig.w().memory_bytes(300.0 * 1024 * 1024);
  rig.w().error("api_rate_limit", Severity::Medium, "endpoint=/x");
  for (int i = 0; i < 4; ++i) (void)rig.w().call_outcome("market_scanner", false, 0.1);
  rig.pump(rig.at(10 * kMs));
  DashboardHub hub({});
  DashboardCollector collector(hub);
  DrainStats totals;
  totals.delivered = 8;
  // Two seconds of series, then a frame.
  (void)collector.on_loop(rig.engine(), rig.segment(), totals, rig.at(20 * kMs));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // wall clock: the next second
  (void)collector.on_loop(rig.engine(), rig.segment(), totals, rig.at(1000 * kMs));
  const json snap = json::parse(*hub.snapshot_json());
  EXPECT_EQ(snap["type"], "snapshot");
  EXPECT_EQ(snap["version"], 1);
  EXPECT_EQ(snap["interval_ms"], 500);
  EXPECT_EQ(snap["max_streams"], 16);
  EXPECT_FALSE(snap["actions"].get<bool>());
  const json& st = snap["state"];
  for (const char* key : {"seq", "at_ms", "overall", "host", "bots", "breakers", "errors", "decisions", "backoffs", "rate_limits",
                          "retry_budget", "lanes", "reader"})
    EXPECT_TRUE(st.contains(key)) << key;
  ASSERT_EQ(st["host"].size(), 4U) << "the seed's four checks";
  for (const json& c : st["host"])
    for (const char* key : {"name", "status", "message", "value", "warning_at", "critical_above"}) EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_EQ(st["host"][0]["name"], "scan_performance");
  EXPECT_EQ(st["host"][0]["warning_at"], 30.0);
  EXPECT_EQ(st["host"][0]["critical_above"], 90.0);
  ASSERT_EQ(st["bots"].size(), 1U);
  EXPECT_EQ(st["bots"][0]["name"], kBot);
  ASSERT_GE(st["breakers"].size(), 1U);
  const json& b = st["breakers"][0];
  for (const char* key : {"name", "component", "bot", "scope", "state", "failure_rate", "slow_call_rate", "calls_in_window",
                          "calls_per_second", "time_in_state_s", "next_transition_s", "probes_in_flight", "trips", "last_rule"})
    EXPECT_TRUE(b.contains(key)) << key;
  EXPECT_EQ(b["name"], "market_scanner");
  EXPECT_EQ(b["state"], "OPEN");
  EXPECT_EQ(b["failure_rate"], 100.0);
  EXPECT_GT(b["next_transition_s"].get<double>(), 0.0);
  ASSERT_GE(st["errors"].size(), 1U);
  EXPECT_EQ(st["errors"][0]["type"], "api_rate_limit");
  EXPECT_EQ(st["errors"][0]["count"], 1);
  ASSERT_GE(st["decisions"].size(), 1U);
  EXPECT_EQ(st["decisions"][0]["rule"], "failure_rate");
  ASSERT_GE(st["backoffs"].size(), 1U);
  EXPECT_EQ(st["backoffs"][0]["type"], "api_rate_limit");
  EXPECT_TRUE(st["reader"].contains("uptime_s"));
  const json& series = snap["series"];
  ASSERT_GE(series["t"].size(), 2U);
  for (const auto& [name, column] : series["values"].items()) EXPECT_EQ(column.size(), series["t"].size()) << name;
  for (const char* name : {"scan:kucoin-futures-1", "memory:kucoin-futures-1", "p50:orderbook", "p99:orderbook", "errors_per_min",
                           "records_per_s"})
    EXPECT_TRUE(series["values"].contains(name)) << name;
}

TEST(DashboardCollector, OperatorActionsAreAppliedOnTheLoopAndShownAsDecisions) {
  EngineRig rig(breaker_config());
  (void)rig.w().call_outcome("market_scanner", true, 0.1);
  rig.w().error("api_rate_limit", Severity::Medium, "");
  rig.pump(rig.at(10 * kMs));
  ASSERT_TRUE(rig.w().in_backoff("api_rate_limit"));
  DashboardOptions o;
  o.secret = "s3cret";
  Rig http(o);
  DashboardCollector collector(http.hub);
  for (const char* body : {R"({"action":"force_open","target":"market_scanner"})", R"({"action":"clear_backoff","target":"api_rate_limit"})"}) {
    auto s = http.open();
    ASSERT_EQ(Rig::status_of(http.request(*s, action("Bearer s3cret", body))), 202);
  }
  (void)collector.on_loop(rig.engine(), rig.segment(), DrainStats{}, rig.at(20 * kMs));
  EXPECT_EQ(rig.board().breaker_state(rig.w().component("market_scanner")), BreakerState::ForcedOpen);
  EXPECT_FALSE(rig.w().in_backoff("api_rate_limit"));
  json snap = json::parse(*http.hub.snapshot_json());
  std::vector<std::string> rules;
  for (const json& d : snap["state"]["decisions"]) rules.push_back(d["rule"]);
  EXPECT_NE(std::find(rules.begin(), rules.end(), "dashboard:force_open"), rules.end());
  EXPECT_NE(std::find(rules.begin(), rules.end(), "dashboard:clear_backoff"), rules.end());
  EXPECT_EQ(snap["state"]["breakers"][0]["state"], "FORCED_OPEN");

  auto s = http.open();
  ASSERT_EQ(Rig::status_of(http.request(*s, action("Bearer s3cret", R"({"action":"close","target":"market_scanner"})"))), 202);
  (void)collector.on_loop(rig.engine(), rig.segment(), DrainStats{}, rig.at(600 * kMs));
  EXPECT_EQ(rig.board().breaker_state(rig.w().component("market_scanner")), BreakerState::Closed);
}

TEST(DashboardCollector, ABotsOwnBreakerIsNamedComponentAtBot) {
  ReaderConfig c = breaker_config();
  BreakerConfig scoped = c.default_breaker;
  scoped.scope = BreakerConfig::Scope::Bot;
  c.breakers["market_scanner"] = scoped;
  EngineRig rig(c);
  for (int i = 0; i < 4; ++i) (void)rig.w().call_outcome("market_scanner", false, 0.1);
  rig.pump(rig.at(10 * kMs));
  const NameId own = rig.w().own_breaker(rig.w().component("market_scanner"));
  ASSERT_NE(own, kNoName);
  ASSERT_EQ(rig.board().breaker_state(own), BreakerState::Open);
  DashboardOptions o;
  o.secret = "s3cret";
  Rig http(o);
  DashboardCollector collector(http.hub);
  const std::string name = std::string("market_scanner@") + kBot;
  (void)collector.on_loop(rig.engine(), rig.segment(), DrainStats{}, rig.at(20 * kMs));
  json snap = json::parse(*http.hub.snapshot_json());
  bool listed = false;
  for (const json& b : snap["state"]["breakers"]) listed |= b["name"] == name && b["bot"] == kBot && b["scope"] == "bot";
  EXPECT_TRUE(listed) << snap["state"]["breakers"].dump();
  auto s = http.open();
  ASSERT_EQ(Rig::status_of(http.request(*s, action("Bearer s3cret", R"({"action":"close","target":")" + name + "\"}"))), 202);
  (void)collector.on_loop(rig.engine(), rig.segment(), DrainStats{}, rig.at(600 * kMs));
  EXPECT_EQ(rig.board().breaker_state(own), BreakerState::Closed);
}

// ---- over real sockets ------------------------------------------------------------------------

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

// Reads until `until` appears or 2 s pass (never hangs the test).
std::string read_until(int fd, std::string_view until) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (got.find(until) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

template <typename F>
bool eventually(F f) {
  for (int i = 0; i < 200; ++i) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return f();
}

TEST(DashboardOverTcp, AClosedTabFreesItsStreamAtOnceAndTheCapNeverHangs) {
  DashboardOptions o;
  o.max_streams = 2;
  DashboardHub hub(o);
  hub.publish(frame(1));
  HttpRouter router;
  hub.add_routes(router);
  HttpServer server(router);
  server.bind("127.0.0.1", 0);
  server.start();
  const std::string get = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
  int a = connect_to(server.port());
  int b = connect_to(server.port());
  for (int fd : {a, b}) {
    ASSERT_EQ(::send(fd, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
    EXPECT_NE(read_until(fd, "event: snapshot").find("event: snapshot"), std::string::npos);
  }
  EXPECT_EQ(hub.streams(), 2U);
  // The third: 503 with Retry-After, at once.
  const int c = connect_to(server.port());
  ASSERT_EQ(::send(c, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  const auto asked = std::chrono::steady_clock::now();
  const std::string refused = read_until(c, "\r\n\r\n");
  EXPECT_LT(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(1000));
  EXPECT_TRUE(refused.starts_with("HTTP/1.1 503")) << refused;
  EXPECT_NE(refused.find("Retry-After: 5"), std::string::npos);
  ::close(c);
  // A stream gets the next frame as an update.
  hub.publish(frame(2));
  EXPECT_NE(read_until(a, "event: update").find("id: 2"), std::string::npos);
  // A tab closes: its stream is gone within a server turn, not at a timeout.
  ::close(a);
  EXPECT_TRUE(eventually([&] { return hub.streams() == 1U; })) << hub.streams();
  const int d = connect_to(server.port());
  ASSERT_EQ(::send(d, get.data(), get.size(), 0), static_cast<ssize_t>(get.size()));
  EXPECT_TRUE(read_until(d, "\r\n\r\n").starts_with("HTTP/1.1 200"));
  server.stop();
  EXPECT_EQ(hub.streams(), 0U) << "stopping the server frees every stream";
  ::close(b);
  ::close(d);
}

}  // namespace
}  // namespace telering::reader::dashboard
