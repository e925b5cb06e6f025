// exporters/alert_sender.hpp — delivers the Engine's alerts to webhooks, off the drain loop.
//
// The drain loop hands each Alert (Engine::take_alerts) to enqueue(); a worker thread POSTs
// it with libcurl to
//   - alerts.webhook_url          Slack-compatible: {"text": "..."}
//   - alerts.generic_webhook_url  {"source":"telering","host":..,"key":..,"severity":..,
//                                  "text":..,"time":..,"repeats":..,"suppressed":..}
// with retries and exponential backoff (jittered, capped; Retry-After honoured), a global
// rate limit (max_per_minute, token bucket) and per-key deduplication (min_interval).
//
// Never blocks the loop: enqueue() takes a mutex that the worker holds only to push or pop
// a queue node (never across an HTTP request), coalesces an alert whose key is already
// queued into that entry (its `repeats` grows), and when the bounded queue is full drops the
// oldest entry and counts it. So enqueue is O(1) (amortised hash lookup) whatever the
// webhook does: down, slow, or hanging until its timeout.
//
// Semantics:
//  - dedup / rate limit per key: after a key was delivered, further alerts with that key are
//    suppressed (counted) until min_interval has passed; the next delivered alert of the key
//    says how many were suppressed.
//  - retry: a failed POST (connection error, timeout, HTTP 408/429/5xx) is retried after
//    retry_initial * 2^(attempt-1), capped at retry_max, until max_attempts or max_age; then
//    the alert is given up (counted `failed` or `expired`). Other 4xx are not retried.
//  - an alert is POSTed to each configured URL; a retry goes only to the ones that failed.
//
// Secrets: webhook URLs often carry tokens in the path or query. They are never logged
// whole (redact_url keeps scheme, host and port) and never exported (/health, /metrics).
// libcurl's own error text is not logged either (it can quote the URL); its error code is.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "config/config.hpp"
#include "engine/engine.hpp"

namespace telering::reader {

struct AlertSenderOptions {
  std::string webhook_url;          // Slack-compatible; empty = off
  std::string generic_webhook_url;  // generic JSON; empty = off
  std::chrono::milliseconds min_interval{std::chrono::seconds(60)};  // per key
  std::size_t queue_capacity = 256;
  std::uint32_t max_attempts = 6;
  std::chrono::milliseconds retry_initial{std::chrono::seconds(1)};
  std::chrono::milliseconds retry_max{std::chrono::seconds(60)};
  std::chrono::milliseconds request_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds max_age{std::chrono::minutes(15)};  // give up on older alerts
  double max_per_minute = 30;       // all keys together (Slack allows about 1 message/s)
  std::string host;                 // named in messages; empty = this machine's hostname
  std::uint64_t seed = 0x7E1E41E27ULL;  // backoff jitter

  // From the [alerts] section of the reader's config (URLs and min_interval); the rest keep
  // the defaults above.
  [[nodiscard]] static AlertSenderOptions from_config(const AlertConfig& config);
  [[nodiscard]] bool enabled() const noexcept { return !webhook_url.empty() || !generic_webhook_url.empty(); }
};

struct AlertSenderStats {
  std::uint64_t enqueued = 0;            // accepted by enqueue (including coalesced)
  std::uint64_t coalesced = 0;           // merged into a queued alert with the same key
  std::uint64_t dropped_queue_full = 0;  // oldest dropped because the queue was full
  std::uint64_t suppressed = 0;          // not sent: same key within min_interval
  std::uint64_t sent = 0;                // delivered to every configured URL
  std::uint64_t failed = 0;              // gave up after max_attempts or a permanent error
  std::uint64_t expired = 0;             // gave up because older than max_age
  std::uint64_t attempts = 0;            // POSTs made (each URL, each retry)
  std::uint64_t queue_length = 0;        // queued now
};

// "https://hooks.slack.com/services/T0/B0/XYZ?x=1" -> "https://hooks.slack.com/…": scheme,
// host and port only; user info, path, query and fragment are never shown.
[[nodiscard]] std::string redact_url(std::string_view url);

// The message bodies (exposed for tests).
[[nodiscard]] std::string slack_alert_body(const Alert& alert, std::string_view host, std::uint64_t repeats,
                                           std::uint64_t suppressed);
[[nodiscard]] std::string generic_alert_body(const Alert& alert, std::string_view host, std::uint64_t repeats,
                                             std::uint64_t suppressed);

class AlertSender {
 public:
  // Starts the worker thread. Throws std::invalid_argument for a zero queue capacity or
  // attempt count, or a URL that is not http(s).
  explicit AlertSender(AlertSenderOptions options);
  // Stops the worker: an alert being retried is abandoned (counted failed) after its
  // current request; queued ones are logged as lost.
  ~AlertSender();
  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  // Drain-loop thread (any thread, in fact). O(1); never waits for the network. Returns
  // false when the queue was full and the oldest alert was dropped to make room.
  bool enqueue(Alert alert);

  [[nodiscard]] AlertSenderStats stats() const;

  // Waits until the queue is empty and nothing is in flight, or the timeout passes.
  // For tests and an orderly shutdown; never called by the drain loop.
  bool wait_idle(std::chrono::milliseconds timeout);

  [[nodiscard]] const AlertSenderOptions& options() const noexcept { return options_; }

 private:
  struct Pending {
    Alert alert;
    std::uint64_t repeats = 0;                  // coalesced duplicates
    std::chrono::steady_clock::time_point enqueued_at;
  };
  struct Transport;

  void run();
  void deliver(Pending& p);
  bool wait_or_stop(std::chrono::steady_clock::time_point until);  // false when stopping

  AlertSenderOptions options_;
  std::unique_ptr<Transport> transport_;  // worker thread only

  mutable std::mutex mutex_;  // guards everything below up to stats_; never held across I/O
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::list<Pending> queue_;  // oldest first
  std::unordered_map<std::string, std::list<Pending>::iterator> queued_by_key_;
  bool in_flight_ = false;
  bool stop_ = false;
  AlertSenderStats stats_;

  // Worker thread only.
  struct KeyState {
    std::chrono::steady_clock::time_point last_sent;
    std::uint64_t suppressed = 0;
  };
  std::unordered_map<std::string, KeyState> keys_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point tokens_at_;
  std::uint64_t rng_;

  std::thread worker_;  // last: starts after every member above is constructed
};

}  // namespace telering::reader
