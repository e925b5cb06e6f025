#include "exporters/alert_sender.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "evaluate/health_report_format.hpp"

namespace telering::reader {

namespace {

using Clock = std::chrono::steady_clock;

std::string hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

std::string rfc3339(std::int64_t wall_ns) {
  const std::time_t secs = static_cast<std::time_t>(wall_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

bool is_http_url(std::string_view url) { return url.starts_with("http://") || url.starts_with("https://"); }

std::uint64_t next_random(std::uint64_t& state) noexcept {  // xorshift64*: jitter only
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 2685821657736338717ULL;
}

std::size_t discard_body(char*, std::size_t size, std::size_t n, void*) { return size * n; }

}  // namespace

std::string redact_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "(url)";
  std::string_view rest = url.substr(scheme_end + 3);
  const auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  if (const auto at = authority.rfind('@'); at != std::string_view::npos) authority = authority.substr(at + 1);
  std::string out = std::string(url.substr(0, scheme_end + 3)) + std::string(authority);
  if (authority_end != std::string_view::npos) out += "/…";
  return out;
}

std::string slack_alert_body(const Alert& alert, std::string_view host, std::uint64_t repeats, std::uint64_t suppressed) {
  std::string text = "[telering " + std::string(host) + "] " + std::string(to_string(alert.severity)) + ": " + alert.text;
  if (repeats) text += " (x" + std::to_string(repeats + 1) + ")";
  if (suppressed) text += " (" + std::to_string(suppressed) + " similar suppressed)";
  return to_json_text(nlohmann::json{{"text", text}});
}

std::string generic_alert_body(const Alert& alert, std::string_view host, std::uint64_t repeats, std::uint64_t suppressed) {
  return to_json_text(nlohmann::json{{"source", "telering"},
                        {"host", host},
                        {"key", alert.key},
                        {"severity", to_string(alert.severity)},
                        {"text", alert.text},
                        {"time", rfc3339(alert.wall_ns)},
                        {"wall_ns", alert.wall_ns},
                        {"repeats", repeats},
                        {"suppressed", suppressed}});
}

AlertSenderOptions AlertSenderOptions::from_config(const AlertConfig& config) {
  AlertSenderOptions o;
  o.webhook_url = config.webhook_url;
  o.generic_webhook_url = config.generic_webhook_url;
  o.min_interval = config.min_interval;
  return o;
}

// One libcurl easy handle, reused (keeps the connection alive between alerts).
struct AlertSender::Transport {
  enum class Outcome { Delivered, Retry, Permanent };
  struct Result {
    Outcome outcome = Outcome::Retry;
    long http_status = 0;
    CURLcode code = CURLE_OK;
    std::chrono::milliseconds retry_after{0};
  };

  explicit Transport(std::chrono::milliseconds timeout) : timeout_(timeout) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    curl_ = curl_easy_init();
    if (!curl_) throw std::runtime_error("alerts: curl_easy_init failed");
    headers_ = curl_slist_append(nullptr, "Content-Type: application/json");
  }
  ~Transport() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  Result post(const std::string& url, const std::string& body) {
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<std::int64_t>(timeout_.count(), 3000)));
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "telering-reader");
    Result r;
    r.code = curl_easy_perform(curl_);
    if (r.code != CURLE_OK) return r;  // connection refused, timeout, DNS...: retry
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.http_status);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(curl_, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
      r.retry_after = std::chrono::seconds(retry_after);
    if (r.http_status >= 200 && r.http_status < 300) r.outcome = Outcome::Delivered;
    else if (r.http_status == 408 || r.http_status == 429 || r.http_status >= 500) r.outcome = Outcome::Retry;
    else r.outcome = Outcome::Permanent;
    return r;
  }

 private:
  std::chrono::milliseconds timeout_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
};

AlertSender::AlertSender(AlertSenderOptions options) : options_(std::move(options)), rng_(options_.seed | 1) {
  if (options_.queue_capacity == 0) throw std::invalid_argument("alerts: queue_capacity must be at least 1");
  if (options_.max_attempts == 0) throw std::invalid_argument("alerts: max_attempts must be at least 1");
  for (const std::string* url : {&options_.webhook_url, &options_.generic_webhook_url}) {
    if (!url->empty() && !is_http_url(*url))
      throw std::invalid_argument("alerts: webhook URL " + redact_url(*url) + " must start with http:// or https://");
  }
  if (options_.host.empty()) options_.host = hostname();
  transport_ = std::make_unique<Transport>(options_.request_timeout);
  tokens_ = std::max(1.0, options_.max_per_minute);
  tokens_at_ = Clock::now();
  worker_ = std::thread([this] { run(); });
}

AlertSender::~AlertSender() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
  if (!queue_.empty()) spdlog::warn("alerts: {} undelivered alert(s) dropped at shutdown", queue_.size());
}

bool AlertSender::enqueue(Alert alert) {
  bool kept_all = true;
  {
    std::lock_guard lock(mutex_);
    ++stats_.enqueued;
    if (const auto it = queued_by_key_.find(alert.key); it != queued_by_key_.end()) {
      // Same key already waiting: one message with a repeat count says the same, and a
      // storm of one alert cannot push every other alert out of the queue.
      Pending& p = *it->second;
      ++p.repeats;
      p.alert.text = std::move(alert.text);
      p.alert.severity = std::max(p.alert.severity, alert.severity);
      p.alert.wall_ns = alert.wall_ns;
      ++stats_.coalesced;
      return true;
    }
    if (queue_.size() >= options_.queue_capacity) {
      queued_by_key_.erase(queue_.front().alert.key);
      queue_.pop_front();
      ++stats_.dropped_queue_full;
      kept_all = false;
    }
    std::string key = alert.key;
    queue_.push_back(Pending{std::move(alert), 0, Clock::now()});
    queued_by_key_.emplace(std::move(key), std::prev(queue_.end()));
    stats_.queue_length = queue_.size();
  }
  wake_.notify_one();
  return kept_all;
}

AlertSenderStats AlertSender::stats() const {
  std::lock_guard lock(mutex_);
  AlertSenderStats s = stats_;
  s.queue_length = queue_.size();
  return s;
}

bool AlertSender::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && !in_flight_; });
}

bool AlertSender::wait_or_stop(Clock::time_point until) {
  std::unique_lock lock(mutex_);
  return !wake_.wait_until(lock, until, [&] { return stop_; });
}

void AlertSender::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) break;
      p = std::move(queue_.front());
      queued_by_key_.erase(p.alert.key);
      queue_.pop_front();
      stats_.queue_length = queue_.size();
      in_flight_ = true;
    }
    deliver(p);
    {
      std::lock_guard lock(mutex_);
      in_flight_ = false;
    }
    idle_.notify_all();
  }
  idle_.notify_all();
}

void AlertSender::deliver(Pending& p) {
  const auto count = [&](std::uint64_t AlertSenderStats::*field, std::uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    stats_.*field += n;
  };
  Clock::time_point now = Clock::now();

  // Dedup per key: one message per key per min_interval; the rest are counted and reported
  // with the next message of the key.
  if (keys_.size() > 4096) std::erase_if(keys_, [&](const auto& kv) { return now - kv.second.last_sent >= options_.min_interval; });
  auto [key_it, fresh] = keys_.try_emplace(p.alert.key);
  KeyState& key = key_it->second;
  if (!fresh && now - key.last_sent < options_.min_interval) {
    key.suppressed += 1 + p.repeats;
    count(&AlertSenderStats::suppressed, 1 + p.repeats);
    return;
  }

  // Global rate limit: a token bucket of max_per_minute; waits (the alert stays ours) rather
  // than drops, so a burst is spread out instead of lost.
  const double rate_per_s = std::max(options_.max_per_minute, 1e-3) / 60.0;
  const double burst = std::max(1.0, options_.max_per_minute);
  for (;;) {
    now = Clock::now();
    tokens_ = std::min(burst, tokens_ + std::chrono::duration<double>(now - tokens_at_).count() * rate_per_s);
    tokens_at_ = now;
    if (tokens_ >= 1.0) break;
    const auto wait = std::chrono::duration<double>((1.0 - tokens_) / rate_per_s);
    if (!wait_or_stop(now + std::chrono::duration_cast<Clock::duration>(wait))) return;
  }
  tokens_ -= 1.0;

  struct Target {
    const std::string* url;
    std::string body;
    bool done;
  };
  Target targets[] = {
      {&options_.webhook_url, slack_alert_body(p.alert, options_.host, p.repeats, key.suppressed), options_.webhook_url.empty()},
      {&options_.generic_webhook_url, generic_alert_body(p.alert, options_.host, p.repeats, key.suppressed),
       options_.generic_webhook_url.empty()},
  };
  for (std::uint32_t attempt = 1;; ++attempt) {
    bool permanent = false;
    std::chrono::milliseconds retry_after{0};
    for (Target& t : targets) {
      if (t.done) continue;
      count(&AlertSenderStats::attempts);
      const Transport::Result r = transport_->post(*t.url, t.body);
      if (r.outcome == Transport::Outcome::Delivered) {
        t.done = true;
        continue;
      }
      if (r.outcome == Transport::Outcome::Permanent) {
        permanent = true;
        t.done = true;  // not retried: the request itself is refused
      }
      retry_after = std::max(retry_after, r.retry_after);
      spdlog::warn("alerts: POST to {} failed (attempt {}/{}): {}", redact_url(*t.url), attempt, options_.max_attempts,
                   r.code != CURLE_OK ? std::string(curl_easy_strerror(r.code)) : "HTTP " + std::to_string(r.http_status));
    }
    const bool all_done = std::all_of(std::begin(targets), std::end(targets), [](const Target& t) { return t.done; });
    if (all_done && !permanent) {
      key.last_sent = Clock::now();
      key.suppressed = 0;
      count(&AlertSenderStats::sent);
      return;
    }
    if (all_done || attempt >= options_.max_attempts) {
      spdlog::error("alerts: giving up on alert {} after {} attempt(s)", p.alert.key, attempt);
      count(&AlertSenderStats::failed);
      return;
    }
    if (Clock::now() - p.enqueued_at >= options_.max_age) {
      spdlog::error("alerts: giving up on alert {}: older than {} s", p.alert.key,
                    std::chrono::duration_cast<std::chrono::seconds>(options_.max_age).count());
      count(&AlertSenderStats::expired);
      return;
    }
    // Exponential backoff with equal jitter: half the step fixed, half random.
    const double step_ms = std::min(static_cast<double>(options_.retry_max.count()),
                                    static_cast<double>(options_.retry_initial.count()) * std::ldexp(1.0, static_cast<int>(std::min(attempt - 1, 30u))));
    const double jitter = static_cast<double>(next_random(rng_) >> 11) * 0x1.0p-53;
    auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(step_ms / 2 + step_ms / 2 * jitter));
    delay = std::max(delay, std::min(retry_after, options_.retry_max));
    if (!wait_or_stop(Clock::now() + delay)) {
      count(&AlertSenderStats::failed);
      return;
    }
  }
}

}  // namespace telering::reader
