// ingress/alertmanager_webhook.hpp — Alertmanager -> reader: fleet alerts become
// board actions on every host.
//
// Alertmanager's webhook receiver POSTs its JSON payload (version "4") to /alertmanager on
// the reader's --http address. Each alert that a rule of [[alertmanager.rules]] matches
// (its alertname, and every label the rule lists, equal) becomes an ExternalAction:
//
//   firing    open_breaker -> OpenBreaker (FORCED_OPEN for every bot)   until now + max_duration
//             backoff      -> Backoff (every bot backs off the type)    (0 = until resolved)
//   resolved  open_breaker -> CloseBreaker, backoff -> ClearBackoff
//
// The alert's fingerprint holds the action (alertname and sorted labels without one), so a
// breaker two alerts opened closes when both have resolved. Alertmanager re-sends a firing
// alert every repeat_interval, which renews the deadline; max_duration only ends an action
// whose resolution was lost. Every matching rule applies.
//
// Security: with a secret, a request must carry "Authorization: Bearer <secret>" (compared
// in constant time). Without one the webhook is served only on a loopback address: the
// constructor and reconfigure() refuse rules without a secret on any other address.
//
// Threads: handle() runs on the exporter's HTTP threads and never touches the Engine. It
// parses and maps on its own thread, then queues the request's actions all-or-nothing in a
// bounded queue; a full queue answers 503, which Alertmanager retries (it retries 5xx, not
// 4xx). The drain loop take()s them at the start of a turn and applies them with
// Engine::apply_external. reconfigure() (SIGHUP, loop thread) swaps the rules and the secret;
// a request runs with the config it started with.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"

namespace telering::reader {

// A body that is not an Alertmanager webhook payload; what() names the first problem
// ("alerts[2].labels.exchange: must be a string").
class WebhookError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What one payload held and what it produced (the HTTP reply's body, and the metrics).
struct WebhookSummary {
  std::uint32_t alerts = 0;     // alerts processed (at most kMaxAlertsPerRequest)
  std::uint32_t firing = 0;
  std::uint32_t resolved = 0;
  std::uint32_t unmatched = 0;  // processed alerts no rule matched
  std::uint32_t truncated = 0;  // alerts beyond kMaxAlertsPerRequest, ignored
  std::uint32_t actions = 0;
};

struct MappedWebhook {
  std::vector<ExternalAction> actions;  // in payload order; one per (alert, kind, target)
  WebhookSummary summary;
};

inline constexpr std::size_t kMaxWebhookBodyBytes = 1 << 20;  // Alertmanager's are a few KiB
inline constexpr std::size_t kMaxAlertsPerRequest = 1000;     // the rest are counted as truncated
inline constexpr std::size_t kMaxWebhookJsonDepth = 16;       // the payload nests 3 deep

// Parses a webhook body and maps its alerts with `config`'s rules. Deadlines are now_ns +
// max_duration (monotonic ns). Throws WebhookError on anything but a well-formed payload;
// never crashes on hostile input (size and depth are bounded).
[[nodiscard]] MappedWebhook map_alertmanager_payload(std::string_view body, const AlertmanagerConfig& config,
                                                     std::uint64_t now_ns);

// True when `authorization` is "Bearer <secret>" (scheme case-insensitive). The comparison
// takes the same time whatever the token holds, so a caller cannot guess the secret byte by
// byte from the response time. An empty secret matches nothing.
[[nodiscard]] bool bearer_token_matches(std::string_view authorization, std::string_view secret) noexcept;

// Counters since start, any thread (relaxed reads of figures, not synchronisation).
struct AlertmanagerStats {
  std::uint64_t requests_ok = 0;
  std::uint64_t requests_unauthorized = 0;  // 401
  std::uint64_t requests_malformed = 0;     // 400
  std::uint64_t requests_too_large = 0;     // 413 (body or actions over the bounds)
  std::uint64_t requests_disabled = 0;      // 404: no rules
  std::uint64_t requests_queue_full = 0;    // 503: Alertmanager retries
  std::uint64_t alerts_firing = 0;
  std::uint64_t alerts_resolved = 0;
  std::uint64_t alerts_unmatched = 0;
  std::uint64_t actions_applied = 0;        // by the loop, Engine::apply_external true
  std::uint64_t actions_rejected = 0;       // Engine::apply_external false (name table full)
  std::uint64_t queue_length = 0;
};

class AlertmanagerWebhook {
 public:
  static constexpr std::size_t kDefaultQueueCapacity = 4096;  // actions

  struct Reply {
    int status = 200;
    std::string body;  // JSON
  };

  // `http_host` is the host the exporter binds (HttpAddress::host). Throws ConfigError when
  // `config` has rules and no secret and the host is not loopback.
  AlertmanagerWebhook(AlertmanagerConfig config, std::string http_host, std::size_t queue_capacity = kDefaultQueueCapacity);
  AlertmanagerWebhook(const AlertmanagerWebhook&) = delete;
  AlertmanagerWebhook& operator=(const AlertmanagerWebhook&) = delete;

  // Any thread (SIGHUP reload): the next request uses `config`. Throws ConfigError, keeping
  // the running config, for the same reason as the constructor. Actions already queued stay.
  void reconfigure(AlertmanagerConfig config);
  [[nodiscard]] bool enabled() const;
  [[nodiscard]] std::size_t rule_count() const;

  // HTTP thread, from the request's headers alone, before its body is read: 404 without
  // rules, 401 without the right token (counted like handle()'s); nullopt: read the body.
  [[nodiscard]] std::optional<Reply> authorize(std::string_view authorization);

  // HTTP threads: one POST /alertmanager. `authorization` is the header's value ("" when
  // absent). 404 without rules, 401 bad secret, 413 too large, 400 malformed, 503 queue
  // full, 200 with the WebhookSummary as JSON.
  [[nodiscard]] Reply handle(std::string_view authorization, std::string_view body, std::uint64_t now_ns);

  // Drain-loop thread: swaps the queued actions into `out` (cleared first) and returns how
  // many; one relaxed load and no lock when there are none, so an idle webhook costs a turn
  // nothing.
  std::size_t take(std::vector<ExternalAction>& out);
  // Drain-loop thread: what Engine::apply_external made of the actions take() returned.
  void count_applied(std::uint64_t applied, std::uint64_t rejected) noexcept;

  [[nodiscard]] AlertmanagerStats stats() const;

 private:
  [[nodiscard]] std::shared_ptr<const AlertmanagerConfig> config() const;
  static void check_exposure(const AlertmanagerConfig& config, const std::string& http_host);
  static void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  const std::string http_host_;
  const std::size_t capacity_;

  // Held only to copy or swap the pointer: a request keeps the config it copied.
  mutable std::mutex config_mutex_;
  std::shared_ptr<const AlertmanagerConfig> config_;

  // Held by a request to append its actions, by take() to swap the vector: never across
  // parsing, I/O or Engine work.
  mutable std::mutex queue_mutex_;
  std::vector<ExternalAction> queue_;
  // queue_.size(), stored under queue_mutex_; take() reads it without the lock as a hint
  // only (the mutex orders the queue itself): a stale 0 delays the actions by one turn.
  std::atomic<std::size_t> queued_{0};

  std::atomic<std::uint64_t> ok_{0}, unauthorized_{0}, malformed_{0}, too_large_{0}, disabled_{0}, queue_full_{0};
  std::atomic<std::uint64_t> firing_{0}, resolved_{0}, unmatched_{0}, applied_{0}, rejected_{0};
};

}  // namespace telering::reader
