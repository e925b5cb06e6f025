#include "ingress/alertmanager_webhook.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <utility>

#include "evaluate/health_report_format.hpp"
#include "exporters/metrics_endpoint.hpp"

namespace telering::reader {

namespace {

using nlohmann::json;

// Error messages quote pieces of the body, which need not be valid UTF-8: replace, not throw.
std::string dump(const json& j) { return to_json_text(j); }

std::string error_body(std::string_view message) { return dump(json{{"status", "error"}, {"error", message}}); }

std::string where(std::size_t index, std::string_view key) {
  return "alerts[" + std::to_string(index) + "]" + (key.empty() ? "" : "." + std::string(key));
}

struct ParsedAlert {
  bool firing = false;
  const json* labels = nullptr;  // object of strings, checked
  std::string holder;
};

ParsedAlert parse_alert(const json& alert, std::size_t index, const json* payload_status) {
  if (!alert.is_object()) throw WebhookError(where(index, "") + ": must be an object");
  ParsedAlert a;
  const auto status_it = alert.find("status");
  const json* status = status_it != alert.end() ? &*status_it : payload_status;
  if (!status || !status->is_string() || (*status != "firing" && *status != "resolved"))
    throw WebhookError(where(index, "status") + ": must be \"firing\" or \"resolved\"");
  a.firing = *status == "firing";
  const auto labels = alert.find("labels");
  if (labels == alert.end() || !labels->is_object()) throw WebhookError(where(index, "labels") + ": must be an object");
  for (const auto& [name, value] : labels->items())
    if (!value.is_string()) throw WebhookError(where(index, "labels.") + name + ": must be a string");
  a.labels = &*labels;
  // The fingerprint names the alert's label set; without one the sorted labels do (json
  // objects are ordered maps, so the dump is canonical).
  const auto fingerprint = alert.find("fingerprint");
  if (fingerprint != alert.end() && !fingerprint->is_string()) throw WebhookError(where(index, "fingerprint") + ": must be a string");
  if (fingerprint != alert.end() && !fingerprint->get_ref<const std::string&>().empty())
    a.holder = fingerprint->get<std::string>();
  else
    a.holder = dump(*labels);
  return a;
}

bool rule_matches(const AlertmanagerRule& rule, const json& labels) {
  const auto alertname = labels.find("alertname");
  if (alertname == labels.end() || alertname->get_ref<const std::string&>() != rule.alertname) return false;
  return std::all_of(rule.labels.begin(), rule.labels.end(), [&](const std::pair<const std::string, std::string>& matcher) {
    const auto it = labels.find(matcher.first);
    return it != labels.end() && it->get_ref<const std::string&>() == matcher.second;
  });
}

std::uint64_t deadline(const AlertmanagerRule& rule, std::uint64_t now_ns) {
  if (rule.max_duration.count() <= 0) return 0;
  return now_ns + static_cast<std::uint64_t>(std::chrono::nanoseconds(rule.max_duration).count());
}

}  // namespace

MappedWebhook map_alertmanager_payload(std::string_view body, const AlertmanagerConfig& config, std::uint64_t now_ns) {
  if (body.size() > kMaxWebhookBodyBytes)
    throw WebhookError("body of " + std::to_string(body.size()) + " bytes is over the limit of " +
                       std::to_string(kMaxWebhookBodyBytes));
  // nlohmann's parser and destructor are iterative, but nothing in a payload nests deeper
  // than 3: refusing more keeps the work per byte small and the tree flat.
  const json::parser_callback_t depth_guard = [](int depth, json::parse_event_t, json&) {
    if (depth > static_cast<int>(kMaxWebhookJsonDepth))
      throw WebhookError("JSON nested deeper than " + std::to_string(kMaxWebhookJsonDepth) + " levels");
    return true;
  };
  json doc;
  try {
    doc = json::parse(body.begin(), body.end(), depth_guard);
  } catch (const json::exception& e) {
    throw WebhookError(std::string("not JSON: ") + e.what());
  }
  if (!doc.is_object()) throw WebhookError("the body must be a JSON object (an Alertmanager webhook payload)");
  const auto status = doc.find("status");
  const json* payload_status = status != doc.end() ? &*status : nullptr;
  const auto alerts = doc.find("alerts");
  if (alerts == doc.end() || !alerts->is_array()) throw WebhookError("alerts: must be an array");

  // Every processed alert is checked before any action is produced: a request is mapped
  // whole or refused whole.
  const std::size_t n = std::min(alerts->size(), kMaxAlertsPerRequest);
  std::vector<ParsedAlert> parsed;
  parsed.reserve(n);
  for (std::size_t i = 0; i < n; ++i) parsed.push_back(parse_alert((*alerts)[i], i, payload_status));

  MappedWebhook out;
  WebhookSummary& s = out.summary;
  s.alerts = static_cast<std::uint32_t>(n);
  s.truncated = static_cast<std::uint32_t>(alerts->size() - n);
  for (const ParsedAlert& a : parsed) {
    ++(a.firing ? s.firing : s.resolved);
    const std::size_t first = out.actions.size();
    for (const AlertmanagerRule& rule : config.rules) {
      if (!rule_matches(rule, *a.labels)) continue;
      const bool breaker = rule.action == AlertmanagerRule::Action::OpenBreaker;
      using Kind = ExternalAction::Kind;
      const Kind kind = breaker ? (a.firing ? Kind::OpenBreaker : Kind::CloseBreaker)
                                : (a.firing ? Kind::Backoff : Kind::ClearBackoff);
      const std::uint64_t until = a.firing ? deadline(rule, now_ns) : 0;
      // Two rules naming one target for one alert make one action: the longer deadline (0,
      // until resolved, is the longest).
      const auto same = std::find_if(out.actions.begin() + static_cast<std::ptrdiff_t>(first), out.actions.end(),
                                     [&](const ExternalAction& x) { return x.kind == kind && x.target == rule.target; });
      if (same != out.actions.end()) {
        if (same->until_ns != 0) same->until_ns = until == 0 ? 0 : std::max(same->until_ns, until);
        continue;
      }
      out.actions.push_back(ExternalAction{kind, rule.target, a.holder, "alertmanager:" + rule.alertname, until});
    }
    if (out.actions.size() == first) ++s.unmatched;
  }
  s.actions = static_cast<std::uint32_t>(out.actions.size());
  return out;
}

bool bearer_token_matches(std::string_view authorization, std::string_view secret) noexcept {
  constexpr std::string_view kScheme = "bearer";
  if (secret.empty() || authorization.size() <= kScheme.size() || authorization[kScheme.size()] != ' ') return false;
  for (std::size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return false;
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  // Constant time in the token's content: every byte of the secret is compared, whatever the
  // token holds; only the secret's length shapes the loop.
  unsigned diff = token.size() == secret.size() ? 0U : 1U;
  for (std::size_t i = 0; i < secret.size(); ++i) {
    const auto t = static_cast<unsigned char>(i < token.size() ? token[i] : 0);
    diff |= static_cast<unsigned>(t ^ static_cast<unsigned char>(secret[i]));
  }
  return diff == 0;
}

// ---- AlertmanagerWebhook --------------------------------------------------------------------

AlertmanagerWebhook::AlertmanagerWebhook(AlertmanagerConfig config, std::string http_host, std::size_t queue_capacity)
    : http_host_(std::move(http_host)), capacity_(queue_capacity) {
  check_exposure(config, http_host_);
  config_ = std::make_shared<const AlertmanagerConfig>(std::move(config));
}

void AlertmanagerWebhook::check_exposure(const AlertmanagerConfig& config, const std::string& http_host) {
  // Without a secret, whoever reaches the port could open this host's breakers: only this
  // host may, through a loopback address.
  if (config.enabled() && config.secret.empty() && !is_loopback_host(http_host))
    throw ConfigError("[alertmanager]: rules without a secret are refused on the non-loopback address " + http_host +
                      " (set [alertmanager] secret_file, or bind --http to 127.0.0.1)");
}

void AlertmanagerWebhook::reconfigure(AlertmanagerConfig config) {
  check_exposure(config, http_host_);
  auto next = std::make_shared<const AlertmanagerConfig>(std::move(config));
  // The old config is released after the lock (a request may still hold it).
  std::lock_guard lock(config_mutex_);
  config_.swap(next);
}

std::shared_ptr<const AlertmanagerConfig> AlertmanagerWebhook::config() const {
  std::lock_guard lock(config_mutex_);
  return config_;
}

bool AlertmanagerWebhook::enabled() const { return config()->enabled(); }
std::size_t AlertmanagerWebhook::rule_count() const { return config()->rules.size(); }

std::optional<AlertmanagerWebhook::Reply> AlertmanagerWebhook::authorize(std::string_view authorization) {
  const std::shared_ptr<const AlertmanagerConfig> config = this->config();
  if (!config->enabled()) {
    count(disabled_);
    return Reply{404, error_body("no [[alertmanager.rules]] configured on this reader")};
  }
  if (!config->secret.empty() && !bearer_token_matches(authorization, config->secret)) {
    count(unauthorized_);
    return Reply{401, error_body("missing or wrong bearer token (http_config.authorization in the webhook_config)")};
  }
  return std::nullopt;
}

AlertmanagerWebhook::Reply AlertmanagerWebhook::handle(std::string_view authorization, std::string_view body,
                                                       std::uint64_t now_ns) {
  // Checked again: a reload may have changed the rules or the secret since the headers came.
  if (std::optional<Reply> refused = authorize(authorization)) return std::move(*refused);
  const std::shared_ptr<const AlertmanagerConfig> config = this->config();
  if (body.size() > kMaxWebhookBodyBytes) {
    count(too_large_);
    return {413, error_body("body over " + std::to_string(kMaxWebhookBodyBytes) + " bytes (lower max_alerts in the webhook_config)")};
  }
  MappedWebhook mapped;
  try {
    mapped = map_alertmanager_payload(body, *config, now_ns);
  } catch (const WebhookError& e) {
    count(malformed_);
    return {400, error_body(e.what())};
  }
  if (mapped.actions.size() > capacity_) {
    // Could never be queued: a 503 would make Alertmanager retry it forever.
    count(too_large_);
    return {413, error_body("one request maps to " + std::to_string(mapped.actions.size()) + " actions, over the queue's " +
                            std::to_string(capacity_) + " (lower max_alerts in the webhook_config)")};
  }
  {
    std::lock_guard lock(queue_mutex_);
    if (queue_.size() + mapped.actions.size() > capacity_) {
      count(queue_full_);
      return {503, error_body("action queue full (the drain loop is behind); retry later")};
    }
    std::move(mapped.actions.begin(), mapped.actions.end(), std::back_inserter(queue_));
    queued_.store(queue_.size(), std::memory_order_relaxed);
  }
  const WebhookSummary& s = mapped.summary;
  count(ok_);
  count(firing_, s.firing);
  count(resolved_, s.resolved);
  count(unmatched_, s.unmatched);
  return {200, dump(json{{"status", "ok"},
                         {"alerts", s.alerts},
                         {"firing", s.firing},
                         {"resolved", s.resolved},
                         {"unmatched", s.unmatched},
                         {"truncated", s.truncated},
                         {"actions", s.actions}})};
}

std::size_t AlertmanagerWebhook::take(std::vector<ExternalAction>& out) {
  out.clear();
  if (queued_.load(std::memory_order_relaxed) == 0) return 0;
  std::lock_guard lock(queue_mutex_);
  // `out`'s capacity goes back to the queue, so a steady flow reallocates neither.
  queue_.swap(out);
  queued_.store(0, std::memory_order_relaxed);
  return out.size();
}

void AlertmanagerWebhook::count_applied(std::uint64_t applied, std::uint64_t rejected) noexcept {
  count(applied_, applied);
  count(rejected_, rejected);
}

AlertmanagerStats AlertmanagerWebhook::stats() const {
  const auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  AlertmanagerStats s;
  s.requests_ok = get(ok_);
  s.requests_unauthorized = get(unauthorized_);
  s.requests_malformed = get(malformed_);
  s.requests_too_large = get(too_large_);
  s.requests_disabled = get(disabled_);
  s.requests_queue_full = get(queue_full_);
  s.alerts_firing = get(firing_);
  s.alerts_resolved = get(resolved_);
  s.alerts_unmatched = get(unmatched_);
  s.actions_applied = get(applied_);
  s.actions_rejected = get(rejected_);
  s.queue_length = queued_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace telering::reader
