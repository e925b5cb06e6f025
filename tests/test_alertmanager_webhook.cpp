// Alertmanager -> reader (alertmanager_webhook.hpp): payload parsing and rule matching, the
// bearer secret, hostile bodies; then end to end in one process: real HTTP POSTs to the
// MetricsExporter on a kernel-picked loopback port, a ReaderLoop applying the queued actions,
// and a Writer reading the decision board back.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "exporters/metrics_endpoint.hpp"
#include "ingress/alertmanager_webhook.hpp"
#include "loop/reader_loop.hpp"
#include "support/test_writer.hpp"
#include "telering/core/clock.hpp"

namespace telering::reader {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Kind = ExternalAction::Kind;

constexpr std::uint64_t kNow = 1'000'000'000'000;  // monotonic ns the pure tests map at
constexpr const char* kSecret = "s3cret-token";

AlertmanagerRule rule(std::string alertname, AlertmanagerRule::Action action, std::string target,
                      std::chrono::milliseconds max_duration = 10min) {
  AlertmanagerRule r;
  r.alertname = std::move(alertname);
  r.action = action;
  r.target = std::move(target);
  r.max_duration = max_duration;
  return r;
}

// Fleet-wide "exchange API degraded" for kucoin opens its breaker; a rate-limit alert backs
// off the error type until resolved.
AlertmanagerConfig fleet_config(std::string secret = kSecret) {
  AlertmanagerConfig c;
  c.secret = std::move(secret);
  AlertmanagerRule degraded = rule("ExchangeApiDegraded", AlertmanagerRule::Action::OpenBreaker, "kucoin_api");
  degraded.labels = {{"exchange", "kucoin"}};
  c.rules.push_back(degraded);
  c.rules.push_back(rule("ExchangeRateLimited", AlertmanagerRule::Action::Backoff, "api_rate_limit", 0ms));
  return c;
}

json alert(const std::string& status, json labels, const std::string& fingerprint = "") {
  json a{{"status", status},
         {"labels", std::move(labels)},
         {"annotations", {{"summary", "exchange API error rate above 20 % on 3 hosts"}}},
         {"startsAt", "2024-05-01T10:00:00.000Z"},
         {"endsAt", status == "firing" ? "0001-01-01T00:00:00Z" : "2024-05-01T10:05:00.000Z"},
         {"generatorURL", "http://prometheus:9090/graph?g0.expr=up"}};
  if (!fingerprint.empty()) a["fingerprint"] = fingerprint;
  return a;
}

// The whole payload as Alertmanager 0.25 sends it (webhook version "4").
std::string payload(std::vector<json> alerts, const std::string& status = "firing") {
  json doc{{"version", "4"},
           {"groupKey", "{}:{alertname=\"ExchangeApiDegraded\"}"},
           {"truncatedAlerts", 0},
           {"status", status},
           {"receiver", "telering"},
           {"groupLabels", {{"alertname", "ExchangeApiDegraded"}}},
           {"commonLabels", json::object()},
           {"commonAnnotations", json::object()},
           {"externalURL", "http://alertmanager:9093"},
           {"alerts", std::move(alerts)}};
  return doc.dump();
}

json degraded_labels(const std::string& exchange = "kucoin") {
  return {{"alertname", "ExchangeApiDegraded"}, {"exchange", exchange}, {"severity", "critical"}};
}

// ---- mapping ------------------------------------------------------------------------------

TEST(AlertmanagerPayload, FiringAlertOpensTheRulesBreakerUntilMaxDuration) {
  const MappedWebhook m =
      map_alertmanager_payload(payload({alert("firing", degraded_labels(), "5f1a2b3c4d5e6f70")}), fleet_config(), kNow);
  ASSERT_EQ(m.actions.size(), 1U);
  const ExternalAction& a = m.actions[0];
  EXPECT_EQ(a.kind, Kind::OpenBreaker);
  EXPECT_EQ(a.target, "kucoin_api");
  EXPECT_EQ(a.holder, "5f1a2b3c4d5e6f70");
  EXPECT_EQ(a.source, "alertmanager:ExchangeApiDegraded");
  EXPECT_EQ(a.until_ns, kNow + 600'000'000'000ULL);  // the default 10 min
  EXPECT_EQ(m.summary.alerts, 1U);
  EXPECT_EQ(m.summary.firing, 1U);
  EXPECT_EQ(m.summary.resolved, 0U);
  EXPECT_EQ(m.summary.unmatched, 0U);
  EXPECT_EQ(m.summary.actions, 1U);
}

TEST(AlertmanagerPayload, ResolvedAlertReleasesWhatItsFiringHeld) {
  const MappedWebhook m = map_alertmanager_payload(
      payload({alert("resolved", degraded_labels(), "5f1a2b3c4d5e6f70"),
               alert("resolved", {{"alertname", "ExchangeRateLimited"}}, "0000000000000001")},
              "resolved"),
      fleet_config(), kNow);
  ASSERT_EQ(m.actions.size(), 2U);
  EXPECT_EQ(m.actions[0].kind, Kind::CloseBreaker);
  EXPECT_EQ(m.actions[0].target, "kucoin_api");
  EXPECT_EQ(m.actions[0].holder, "5f1a2b3c4d5e6f70");
  EXPECT_EQ(m.actions[0].until_ns, 0U);
  EXPECT_EQ(m.actions[1].kind, Kind::ClearBackoff);
  EXPECT_EQ(m.actions[1].target, "api_rate_limit");
  EXPECT_EQ(m.summary.resolved, 2U);
}

TEST(AlertmanagerPayload, MaxDurationZeroHoldsUntilResolved) {
  const MappedWebhook m =
      map_alertmanager_payload(payload({alert("firing", {{"alertname", "ExchangeRateLimited"}}, "aa")}), fleet_config(), kNow);
  ASSERT_EQ(m.actions.size(), 1U);
  EXPECT_EQ(m.actions[0].kind, Kind::Backoff);
  EXPECT_EQ(m.actions[0].until_ns, 0U);
}

TEST(AlertmanagerPayload, EveryLabelOfTheRuleMustBeEqual) {
  const AlertmanagerConfig c = fleet_config();
  const auto matched = [&](json labels) {
    return map_alertmanager_payload(payload({alert("firing", std::move(labels), "ff")}), c, kNow).actions.size();
  };
  EXPECT_EQ(matched(degraded_labels("kucoin")), 1U);
  EXPECT_EQ(matched(degraded_labels("binance")), 0U);
  EXPECT_EQ(matched({{"alertname", "ExchangeApiDegraded"}}), 0U);  // the label is missing
  EXPECT_EQ(matched({{"alertname", "ExchangeApiDegradedX"}, {"exchange", "kucoin"}}), 0U);
  EXPECT_EQ(matched({{"exchange", "kucoin"}}), 0U);  // no alertname at all
  const MappedWebhook m = map_alertmanager_payload(
      payload({alert("firing", degraded_labels("binance"), "01"), alert("firing", degraded_labels("kucoin"), "02")}), c, kNow);
  EXPECT_EQ(m.summary.alerts, 2U);
  EXPECT_EQ(m.summary.unmatched, 1U);
  EXPECT_EQ(m.summary.actions, 1U);
}

TEST(AlertmanagerPayload, EveryMatchingRuleAppliesAndOneTargetGetsOneAction) {
  AlertmanagerConfig c = fleet_config();
  c.rules.push_back(rule("ExchangeApiDegraded", AlertmanagerRule::Action::Backoff, "api_connection", 5min));
  // Same target and action as rule 0, no label matcher, until resolved: merged into one
  // action with the longest deadline (0).
  c.rules.push_back(rule("ExchangeApiDegraded", AlertmanagerRule::Action::OpenBreaker, "kucoin_api", 0ms));
  const MappedWebhook m = map_alertmanager_payload(payload({alert("firing", degraded_labels(), "ab")}), c, kNow);
  ASSERT_EQ(m.actions.size(), 2U);
  EXPECT_EQ(m.actions[0].kind, Kind::OpenBreaker);
  EXPECT_EQ(m.actions[0].target, "kucoin_api");
  EXPECT_EQ(m.actions[0].until_ns, 0U);
  EXPECT_EQ(m.actions[1].kind, Kind::Backoff);
  EXPECT_EQ(m.actions[1].target, "api_connection");
  EXPECT_EQ(m.actions[1].until_ns, kNow + 300'000'000'000ULL);
}

TEST(AlertmanagerPayload, HolderWithoutFingerprintIsTheSortedLabels) {
  const AlertmanagerConfig c = fleet_config();
  const std::string a = R"({"alerts":[{"status":"firing","labels":{"alertname":"ExchangeApiDegraded","exchange":"kucoin","zone":"b"}}]})";
  const std::string b = R"({"alerts":[{"status":"firing","fingerprint":"","labels":{"zone":"b","exchange":"kucoin","alertname":"ExchangeApiDegraded"}}]})";
  const auto ma = map_alertmanager_payload(a, c, kNow);
  const auto mb = map_alertmanager_payload(b, c, kNow);
  ASSERT_EQ(ma.actions.size(), 1U);
  ASSERT_EQ(mb.actions.size(), 1U);
  EXPECT_EQ(ma.actions[0].holder, mb.actions[0].holder);
  EXPECT_EQ(ma.actions[0].holder, R"({"alertname":"ExchangeApiDegraded","exchange":"kucoin","zone":"b"})");
}

TEST(AlertmanagerPayload, AlertWithoutStatusTakesThePayloads) {
  const auto m = map_alertmanager_payload(
      R"({"status":"resolved","alerts":[{"labels":{"alertname":"ExchangeRateLimited"},"fingerprint":"x"}]})", fleet_config(), kNow);
  ASSERT_EQ(m.actions.size(), 1U);
  EXPECT_EQ(m.actions[0].kind, Kind::ClearBackoff);
}

TEST(AlertmanagerPayload, NoRulesMatchNothing) {
  const auto m = map_alertmanager_payload(payload({alert("firing", degraded_labels(), "ab")}), AlertmanagerConfig{}, kNow);
  EXPECT_TRUE(m.actions.empty());
  EXPECT_EQ(m.summary.unmatched, 1U);
}

// A malformed body is a WebhookError naming the problem, never a crash or a partial result.
TEST(AlertmanagerPayload, MalformedBodiesAreRefusedWithAReason) {
  const struct {
    std::string body;
    std::string reason;
  } cases[] = {
      {"", "not JSON"},
      {"{", "not JSON"},
      {"{\"alerts\": [}", "not JSON"},
      {"\xff\xfe{}", "not JSON"},
      {R"({"alerts":[{"status":"firing","labels":{"alertname":"a)" "\xff" R"("}}]})", "not JSON"},  // ill-formed UTF-8
      {"null", "must be a JSON object"},
      {"[]", "must be a JSON object"},
      {"\"alerts\"", "must be a JSON object"},
      {"{}", "alerts: must be an array"},
      {R"({"alerts":{}})", "alerts: must be an array"},
      {R"({"alerts":null})", "alerts: must be an array"},
      {R"({"alerts":[1]})", "alerts[0]: must be an object"},
      {R"({"alerts":[{"labels":{}}]})", "alerts[0].status: must be \"firing\" or \"resolved\""},
      {R"({"status":7,"alerts":[{"labels":{}}]})", "alerts[0].status"},
      {R"({"alerts":[{"status":"pending","labels":{}}]})", "alerts[0].status"},
      {R"({"alerts":[{"status":"firing"}]})", "alerts[0].labels: must be an object"},
      {R"({"alerts":[{"status":"firing","labels":[]}]})", "alerts[0].labels: must be an object"},
      {R"({"alerts":[{"status":"firing","labels":{"alertname":"ExchangeApiDegraded"}},{"status":"firing","labels":{"exchange":5}}]})",
       "alerts[1].labels.exchange: must be a string"},
      {R"({"alerts":[{"status":"firing","labels":{"alertname":null}}]})", "alerts[0].labels.alertname: must be a string"},
      {R"({"alerts":[{"status":"firing","labels":{},"fingerprint":12}]})", "alerts[0].fingerprint: must be a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    try {
      (void)map_alertmanager_payload(c.body, fleet_config(), kNow);
      ADD_FAILURE() << "accepted";
    } catch (const WebhookError& e) {
      EXPECT_NE(std::string(e.what()).find(c.reason), std::string::npos) << e.what();
    }
  }
}

TEST(AlertmanagerPayload, DeepNestingIsRefusedWithoutRecursion) {
  for (const std::size_t depth : {std::size_t{17}, std::size_t{100'000}}) {
    const std::string deep = R"({"alerts":[{"status":"firing","labels":{},"annotations":)" + std::string(depth, '[') +
                             std::string(depth, ']') + "}]}";
    EXPECT_THROW((void)map_alertmanager_payload(deep, fleet_config(), kNow), WebhookError) << depth;
  }
  // Unknown fields nested within the bound are ignored.
  const std::string ok = R"({"alerts":[{"status":"firing","labels":{},"annotations":{"a":[[[[1]]]]}}]})";
  EXPECT_EQ(map_alertmanager_payload(ok, fleet_config(), kNow).summary.alerts, 1U);
}

TEST(AlertmanagerPayload, BoundsTheBodyAndTheAlertsPerRequest) {
  const std::string huge = R"({"alerts":[],"pad":")" + std::string(kMaxWebhookBodyBytes, 'x') + "\"}";
  EXPECT_THROW((void)map_alertmanager_payload(huge, fleet_config(), kNow), WebhookError);

  std::vector<json> alerts;
  for (std::size_t i = 0; i < kMaxAlertsPerRequest + 5; ++i) alerts.push_back(alert("firing", degraded_labels(), std::to_string(i)));
  // Past the bound alerts are not even checked: a bad one there does not refuse the rest.
  alerts.push_back(json{{"status", 42}});
  const MappedWebhook m = map_alertmanager_payload(payload(alerts), fleet_config(), kNow);
  EXPECT_EQ(m.summary.alerts, kMaxAlertsPerRequest);
  EXPECT_EQ(m.summary.truncated, 6U);
  EXPECT_EQ(m.actions.size(), kMaxAlertsPerRequest);
}

// ---- secret --------------------------------------------------------------------------------

TEST(AlertmanagerSecret, BearerTokenMatchesOnlyTheExactSecret) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret", "s3cret"));
  EXPECT_TRUE(bearer_token_matches("bearer s3cret", "s3cret"));  // the scheme is case-insensitive
  EXPECT_TRUE(bearer_token_matches("BEARER   s3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret2", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer S3CRET", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("s3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Basic czNjcmV0", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearers3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret", ""));  // no secret matches nothing
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));
  const std::string with_nul("Bearer s3c\0et", 13);
  EXPECT_FALSE(bearer_token_matches(with_nul, "s3cret"));
}

TEST(AlertmanagerSecret, LoopbackHostsAreTheOnlyOnesServedWithoutASecret) {
  for (const char* host : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost"}) EXPECT_TRUE(is_loopback_host(host)) << host;
  for (const char* host : {"0.0.0.0", "::", "10.0.0.5", "192.168.1.1", "::ffff:10.0.0.1", "example.com", "", "128.0.0.1"})
    EXPECT_FALSE(is_loopback_host(host)) << host;

  EXPECT_THROW((void)AlertmanagerWebhook(fleet_config(""), "0.0.0.0"), ConfigError);
  EXPECT_NO_THROW((void)AlertmanagerWebhook(fleet_config(""), "127.0.0.1"));
  EXPECT_NO_THROW((void)AlertmanagerWebhook(fleet_config(kSecret), "0.0.0.0"));
  EXPECT_NO_THROW((void)AlertmanagerWebhook(AlertmanagerConfig{}, "0.0.0.0"));  // no rules: nothing to protect

  // A reload that would expose rules without a secret is refused and the running config kept.
  AlertmanagerWebhook w(fleet_config(kSecret), "0.0.0.0");
  try {
    w.reconfigure(fleet_config(""));
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("0.0.0.0"), std::string::npos) << e.what();
  }
  EXPECT_EQ(w.handle("", payload({}), kNow).status, 401);
  EXPECT_EQ(w.handle(std::string("Bearer ") + kSecret, payload({}), kNow).status, 200);
}

// ---- the webhook's request handling (no HTTP) -----------------------------------------------

TEST(AlertmanagerWebhook, AnswersEachRefusalWithItsStatusAndCountsIt) {
  AlertmanagerWebhook w(AlertmanagerConfig{}, "127.0.0.1", /*queue_capacity=*/2);
  const std::string auth = std::string("Bearer ") + kSecret;
  const std::string firing = payload({alert("firing", degraded_labels(), "01")});
  EXPECT_EQ(w.handle(auth, firing, kNow).status, 404);  // no rules
  w.reconfigure(fleet_config());
  EXPECT_TRUE(w.enabled());
  EXPECT_EQ(w.rule_count(), 2U);
  EXPECT_EQ(w.handle("", firing, kNow).status, 401);
  EXPECT_EQ(w.handle("Bearer wrong", firing, kNow).status, 401);
  const AlertmanagerWebhook::Reply bad = w.handle(auth, "{", kNow);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(json::parse(bad.body).at("error").get<std::string>().find("not JSON"), std::string::npos) << bad.body;
  EXPECT_EQ(w.handle(auth, std::string(kMaxWebhookBodyBytes + 1, ' '), kNow).status, 413);

  const AlertmanagerWebhook::Reply ok = w.handle(auth, firing, kNow);
  ASSERT_EQ(ok.status, 200) << ok.body;
  const json summary = json::parse(ok.body);
  EXPECT_EQ(summary.at("status"), "ok");
  EXPECT_EQ(summary.at("alerts"), 1);
  EXPECT_EQ(summary.at("firing"), 1);
  EXPECT_EQ(summary.at("actions"), 1);
  EXPECT_EQ(summary.at("unmatched"), 0);

  // One slot left: a request with two actions is refused whole (503, retried), then fits
  // once the loop has taken the queue.
  const std::string two = payload({alert("firing", degraded_labels(), "02"), alert("firing", {{"alertname", "ExchangeRateLimited"}}, "03")});
  EXPECT_EQ(w.handle(auth, two, kNow).status, 503);
  std::vector<ExternalAction> taken;
  EXPECT_EQ(w.take(taken), 1U);
  EXPECT_EQ(taken[0].holder, "01");
  EXPECT_EQ(w.handle(auth, two, kNow).status, 200);
  // More actions than the queue can ever hold: 413, not an endless 503.
  const std::string three = payload({alert("firing", degraded_labels(), "04"), alert("firing", degraded_labels(), "05"),
                                     alert("firing", degraded_labels(), "06")});
  EXPECT_EQ(w.handle(auth, three, kNow).status, 413);
  EXPECT_EQ(w.take(taken), 2U);
  EXPECT_EQ(taken[0].holder, "02");  // in arrival order
  EXPECT_EQ(taken[1].holder, "03");
  EXPECT_EQ(w.take(taken), 0U);
  EXPECT_TRUE(taken.empty());
  w.count_applied(2, 1);

  const AlertmanagerStats s = w.stats();
  EXPECT_EQ(s.requests_disabled, 1U);
  EXPECT_EQ(s.requests_unauthorized, 2U);
  EXPECT_EQ(s.requests_malformed, 1U);
  EXPECT_EQ(s.requests_too_large, 2U);
  EXPECT_EQ(s.requests_queue_full, 1U);
  EXPECT_EQ(s.requests_ok, 2U);
  EXPECT_EQ(s.alerts_firing, 3U);
  EXPECT_EQ(s.actions_applied, 2U);
  EXPECT_EQ(s.actions_rejected, 1U);
  EXPECT_EQ(s.queue_length, 0U);
}

// ---- end to end: HTTP -> queue -> ReaderLoop -> board ----------------------------------------

struct Response {
  int status = 0;
  std::string body;
  std::string www_authenticate;
};

Response post(int port, const std::string& body, const std::string& token = kSecret) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto res = client.Post("/alertmanager", headers, body, "application/json");
  if (!res) return {};
  return {res->status, res->body, res->get_header_value("WWW-Authenticate")};
}

std::string get_metrics(int port) {
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/metrics");
  return res ? res->body : std::string();
}

// Exact line match of one sample in the exposition text.
bool has_sample(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l == line) return true;
  return false;
}

TEST(AlertmanagerWebhookEndToEnd, FiringOpensTheBreakerOnTheBoardAndResolvedClosesIt) {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 64);
  AlertmanagerWebhook webhook(fleet_config(), "127.0.0.1");
  MetricsExporter exporter("127.0.0.1:0", &webhook);
  ReaderOptions options;
  options.metrics = &exporter;
  options.alertmanager = &webhook;
  ReaderLoop loop(w.segment(), ReaderConfig{}, options);

  ASSERT_EQ(post(exporter.port(), payload({alert("firing", degraded_labels(), "fp-kucoin"),
                                           alert("firing", {{"alertname", "ExchangeRateLimited"}}, "fp-rate")}))
                .status,
            200);
  EXPECT_FALSE(w.breaker_open("kucoin_api"));  // queued: only the loop applies it
  loop.turn(monotonic_ns());
  EXPECT_EQ(w.breaker_state("kucoin_api"), BreakerState::ForcedOpen);
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  EXPECT_TRUE(w.in_backoff("api_rate_limit"));

  // Alertmanager re-sends a firing alert each repeat_interval: nothing changes.
  ASSERT_EQ(post(exporter.port(), payload({alert("firing", degraded_labels(), "fp-kucoin")})).status, 200);
  loop.turn(monotonic_ns());
  EXPECT_EQ(w.breaker_state("kucoin_api"), BreakerState::ForcedOpen);

  ASSERT_EQ(post(exporter.port(), payload({alert("resolved", degraded_labels(), "fp-kucoin"),
                                           alert("resolved", {{"alertname", "ExchangeRateLimited"}}, "fp-rate")},
                                          "resolved"))
                .status,
            200);
  loop.turn(monotonic_ns());
  EXPECT_EQ(w.breaker_state("kucoin_api"), BreakerState::Closed);
  EXPECT_FALSE(w.in_backoff("api_rate_limit"));

  loop.publish_metrics(monotonic_ns());
  const std::string m = get_metrics(exporter.port());
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_requests_total{result=\"ok\"} 3")) << m;
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_alerts_total{status=\"firing\"} 3")) << m;
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_alerts_total{status=\"resolved\"} 2")) << m;
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_actions_total{result=\"applied\"} 5")) << m;
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_actions_total{result=\"rejected\"} 0")) << m;
  EXPECT_TRUE(has_sample(m, "telering_alertmanager_queue_length 0")) << m;
}

// Two hosts' alerts (two fingerprints) hold one breaker: it closes when the last resolves.
TEST(AlertmanagerWebhookEndToEnd, BreakerHeldByTwoAlertsClosesWhenBothResolved) {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 64);
  AlertmanagerWebhook webhook(fleet_config(), "127.0.0.1");
  MetricsExporter exporter("127.0.0.1:0", &webhook);
  ReaderOptions options;
  options.alertmanager = &webhook;
  ReaderLoop loop(w.segment(), ReaderConfig{}, options);

  json a = degraded_labels(), b = degraded_labels();
  a["instance"] = "host-a:9464";
  b["instance"] = "host-b:9464";
  ASSERT_EQ(post(exporter.port(), payload({alert("firing", a, "fp-a"), alert("firing", b, "fp-b")})).status, 200);
  loop.turn(monotonic_ns());
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  ASSERT_EQ(post(exporter.port(), payload({alert("resolved", a, "fp-a")})).status, 200);
  loop.turn(monotonic_ns());
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  ASSERT_EQ(post(exporter.port(), payload({alert("resolved", b, "fp-b")})).status, 200);
  loop.turn(monotonic_ns());
  EXPECT_FALSE(w.breaker_open("kucoin_api"));
}

// A lost resolution: the action ends at max_duration (time driven through turn's now_ns).
TEST(AlertmanagerWebhookEndToEnd, ActionWhoseResolutionIsLostEndsAtMaxDuration) {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 64);
  AlertmanagerConfig c = fleet_config();
  c.rules[0].max_duration = 2s;
  AlertmanagerWebhook webhook(c, "127.0.0.1");
  ReaderOptions options;
  options.alertmanager = &webhook;
  ReaderLoop loop(w.segment(), ReaderConfig{}, options);
  const std::uint64_t t0 = monotonic_ns();
  ASSERT_EQ(webhook.handle(std::string("Bearer ") + kSecret, payload({alert("firing", degraded_labels(), "fp")}), t0).status, 200);
  loop.turn(t0);
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  loop.turn(t0 + 1'900'000'000);
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  loop.turn(t0 + 2'100'000'000);
  EXPECT_FALSE(w.breaker_open("kucoin_api"));
}

TEST(AlertmanagerWebhookEndToEnd, HttpAnswers404401400And503) {
  {
    MetricsExporter plain("127.0.0.1:0");  // no webhook at all
    EXPECT_EQ(post(plain.port(), payload({})).status, 404);
  }
  AlertmanagerWebhook webhook(AlertmanagerConfig{}, "127.0.0.1", /*queue_capacity=*/1);
  MetricsExporter exporter("127.0.0.1:0", &webhook);
  const int port = exporter.port();
  const std::string firing = payload({alert("firing", degraded_labels(), "fp")});
  EXPECT_EQ(post(port, firing).status, 404);  // no rules
  webhook.reconfigure(fleet_config());
  const Response unauthorized = post(port, firing, "wrong");
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_NE(unauthorized.www_authenticate.find("Bearer"), std::string::npos);
  EXPECT_EQ(post(port, firing, "").status, 401);
  const Response malformed = post(port, R"({"alerts":[{"status":"firing","labels":{"exchange":1}}]})");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_NE(malformed.body.find("alerts[0].labels.exchange: must be a string"), std::string::npos) << malformed.body;
  EXPECT_EQ(post(port, firing).status, 200);
  EXPECT_EQ(post(port, firing).status, 503);  // nobody drains the queue of one
  EXPECT_EQ(post(port, std::string(kMaxWebhookBodyBytes + 10, ' ')).status, 413);
  std::vector<ExternalAction> taken;
  EXPECT_EQ(webhook.take(taken), 1U);
  EXPECT_EQ(post(port, firing).status, 200);
  // GET is not a webhook.
  httplib::Client client("127.0.0.1", port);
  auto res = client.Get("/alertmanager");
  ASSERT_TRUE(res);
  EXPECT_NE(res->status, 200);
}

// SIGHUP: run() hands the reloaded [alertmanager] to the webhook, which then serves the new
// rules with the new secret.
TEST(AlertmanagerWebhookEndToEnd, ReloadPicksUpNewRulesAndSecret) {
  test::UniqueSegment seg;
  Writer w = test::attach_test_writer(seg, 64);
  const std::string config_path = ::testing::TempDir() + "telering-am-reload-" + std::to_string(::getpid()) + ".toml";
  std::ofstream(config_path) << "";
  AlertmanagerWebhook webhook(AlertmanagerConfig{}, "127.0.0.1");
  MetricsExporter exporter("127.0.0.1:0", &webhook);
  ReaderOptions options;
  options.alertmanager = &webhook;
  ReaderLoop loop(w.segment(), ReaderConfig{}, options);
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  std::thread runner([&] { loop.run(stop, reload, config_path); });

  const std::string firing = payload({alert("firing", degraded_labels(), "fp")});
  EXPECT_EQ(post(exporter.port(), firing).status, 404);
  std::ofstream(config_path) << "[alertmanager]\nsecret = \"reloaded\"\n[[alertmanager.rules]]\nalertname = \"ExchangeApiDegraded\"\n"
                                "action = \"open_breaker\"\ntarget = \"kucoin_api\"\n";
  reload.store(true);
  // Bounded waits for the loop thread, not timing: each ends as soon as the state is seen.
  for (int i = 0; i < 10'000 && !webhook.enabled(); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(webhook.enabled());  // not ASSERT: the loop thread must be joined below either way
  EXPECT_EQ(post(exporter.port(), firing).status, 401);  // the old (empty) secret is gone, a new one is required
  EXPECT_EQ(post(exporter.port(), firing, "reloaded").status, 200);
  for (int i = 0; i < 10'000 && !w.breaker_open("kucoin_api"); ++i) std::this_thread::sleep_for(1ms);
  EXPECT_TRUE(w.breaker_open("kucoin_api"));
  stop.store(true);
  runner.join();
  std::remove(config_path.c_str());
}

}  // namespace
}  // namespace telering::reader
