// AlertSender against a real HTTP receiver on loopback (cpp-httplib, started by each test):
// delivery of both bodies, dedup and rate limits, retries with backoff while the receiver is
// down, giving up within limits, and a slow receiver that never slows enqueue().
//
// No correctness assertion depends on timing: waits are for conditions (with generous
// bounds so a broken build fails instead of hanging), and "enqueue does not block" is shown
// by structure — the test thread finishes its enqueues while the receiver is provably stuck
// inside a request, waiting for the test to open a gate.
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exporters/alert_sender.hpp"

namespace telering::reader {
namespace {

using namespace std::chrono_literals;

struct Received {
  std::string path;
  std::string body;
};

class Receiver {
 public:
  // port 0: any free port.
  explicit Receiver(int port = 0) {
    server_.set_keep_alive_timeout(1);  // stop() waits for idle keep-alive connections
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::unique_lock lock(mutex_);
        ++entered_;
        changed_.notify_all();
        changed_.wait(lock, [&] { return gate_open_; });
      }
      const int status = respond_ ? respond_(req.path) : 200;
      res.status = status;
      res.set_content("ok", "text/plain");
      std::lock_guard lock(mutex_);
      if (status < 300) got_.push_back({req.path, req.body});
      changed_.notify_all();
    });
    if (port == 0) {
      port_ = server_.bind_to_any_port("127.0.0.1");
    } else {
      for (int i = 0; i < 50 && !server_.bind_to_port("127.0.0.1", port); ++i) std::this_thread::sleep_for(20ms);
      port_ = port;
    }
    EXPECT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() is a no-op until the listen loop runs: wait for it.
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(1ms);
  }
  ~Receiver() { stop(); }
  Receiver(const Receiver&) = delete;
  Receiver& operator=(const Receiver&) = delete;

  void stop() {
    open_gate();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] int port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  void close_gate() {
    std::lock_guard lock(mutex_);
    gate_open_ = false;
  }
  void open_gate() {
    std::lock_guard lock(mutex_);
    gate_open_ = true;
    changed_.notify_all();
  }
  // Status to answer per path (default 200); set before the first request.
  void respond_with(std::function<int(const std::string&)> f) { respond_ = std::move(f); }

  bool wait_entered(int n) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return entered_ >= n; });
  }
  std::vector<Received> got() {
    std::lock_guard lock(mutex_);
    return got_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool gate_open_ = true;
  int entered_ = 0;
  std::vector<Received> got_;
  std::function<int(const std::string&)> respond_;
};

// A port nothing listens on (bound once by the kernel's choice, then released).
int free_port() {
  Receiver r;
  const int port = r.port();
  r.stop();
  return port;
}

Alert alert(std::string key, std::string text = "ALERT insufficient_balance (HIGH): retry budget spent",
            Severity severity = Severity::High) {
  return Alert{std::move(key), std::move(text), severity, 1'764'000'000'000'000'000};
}

AlertSenderOptions fast_options() {
  AlertSenderOptions o;
  o.retry_initial = 5ms;
  o.retry_max = 50ms;
  o.max_per_minute = 6000;
  o.request_timeout = 30s;
  o.host = "test-host";
  return o;
}

template <typename Pred>
bool eventually(Pred pred) {
  for (int i = 0; i < 4000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST(AlertSender, RedactsEverythingButSchemeHostAndPort) {
  EXPECT_EQ(redact_url("https://hooks.slack.com/services/T000/B000/XXXXSECRET"), "https://hooks.slack.com/…");
  EXPECT_EQ(redact_url("http://user:pw@10.0.0.1:8080/hook?token=abc#x"), "http://10.0.0.1:8080/…");
  EXPECT_EQ(redact_url("http://example.com?token=abc"), "http://example.com/…");
  EXPECT_EQ(redact_url("http://example.com"), "http://example.com");
  EXPECT_EQ(redact_url("not a url with secret"), "(url)");
}

TEST(AlertSender, BodiesCarryRepeatAndSuppressedCounts) {
  const Alert a = alert("k", "disk full", Severity::Critical);
  EXPECT_EQ(nlohmann::json::parse(slack_alert_body(a, "h", 2, 7)).at("text"),
            "[telering h] CRITICAL: disk full (x3) (7 similar suppressed)");
  const auto generic = nlohmann::json::parse(generic_alert_body(a, "h", 2, 7));
  EXPECT_EQ(generic.at("repeats"), 2);
  EXPECT_EQ(generic.at("suppressed"), 7);
  EXPECT_EQ(generic.at("text"), "disk full");
}

TEST(AlertSender, RefusesNonHttpUrls) {
  AlertSenderOptions o;
  o.webhook_url = "file:///etc/passwd";
  EXPECT_THROW(AlertSender{o}, std::invalid_argument);
}

TEST(AlertSender, DeliversSlackAndGenericBodies) {
  Receiver rx;
  AlertSenderOptions o = fast_options();
  o.webhook_url = rx.url("/slack/T0/B0/secret");
  o.generic_webhook_url = rx.url("/generic?token=secret");
  AlertSender sender(o);
  EXPECT_TRUE(sender.enqueue(alert("recovery/insufficient_balance")));
  ASSERT_TRUE(sender.wait_idle(20s));
  const auto got = rx.got();
  ASSERT_EQ(got.size(), 2u);
  const auto slack = nlohmann::json::parse(got[0].path.starts_with("/slack") ? got[0].body : got[1].body);
  const auto generic = nlohmann::json::parse(got[0].path.starts_with("/slack") ? got[1].body : got[0].body);
  EXPECT_EQ(slack.size(), 1u);
  EXPECT_EQ(slack.at("text"), "[telering test-host] HIGH: ALERT insufficient_balance (HIGH): retry budget spent");
  EXPECT_EQ(generic.at("source"), "telering");
  EXPECT_EQ(generic.at("host"), "test-host");
  EXPECT_EQ(generic.at("key"), "recovery/insufficient_balance");
  EXPECT_EQ(generic.at("severity"), "HIGH");
  EXPECT_EQ(generic.at("time"), "2025-11-24T16:00:00Z");
  const AlertSenderStats s = sender.stats();
  EXPECT_EQ(s.sent, 1u);
  EXPECT_EQ(s.attempts, 2u);
  EXPECT_EQ(s.failed, 0u);
}

TEST(AlertSender, SuppressesTheSameKeyWithinMinIntervalAndReportsTheCount) {
  Receiver rx;
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = rx.url("/generic");
  o.min_interval = std::chrono::hours(1);
  AlertSender sender(o);
  sender.enqueue(alert("health/bot-1"));
  ASSERT_TRUE(sender.wait_idle(20s));
  sender.enqueue(alert("health/bot-1"));
  ASSERT_TRUE(sender.wait_idle(20s));
  sender.enqueue(alert("health/bot-2"));
  ASSERT_TRUE(sender.wait_idle(20s));
  const auto got = rx.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body).at("key"), "health/bot-1");
  EXPECT_EQ(nlohmann::json::parse(got[1].body).at("key"), "health/bot-2");
  EXPECT_EQ(sender.stats().suppressed, 1u);
  EXPECT_EQ(sender.stats().sent, 2u);
}

TEST(AlertSender, MinIntervalZeroSendsEveryAlert) {
  Receiver rx;
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = rx.url("/generic");
  o.min_interval = 0ms;  // every alert goes out: nothing is suppressed
  AlertSender sender(o);
  for (int i = 0; i < 3; ++i) {
    sender.enqueue(alert("k"));
    ASSERT_TRUE(sender.wait_idle(20s));
  }
  EXPECT_EQ(rx.got().size(), 3u);
  EXPECT_EQ(sender.stats().suppressed, 0u);
}

// The receiver holds the first request until the test opens the gate. While it is stuck
// there, the test thread makes 100 more enqueue() calls and they all return — the worker is
// inside curl_easy_perform, so enqueue cannot have waited for it. The bounded queue keeps
// the newest 4 and counts the rest as dropped.
TEST(AlertSender, SlowReceiverNeverBlocksEnqueueAndTheQueueDropsOldest) {
  Receiver rx;
  rx.close_gate();
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = rx.url("/generic");
  o.queue_capacity = 4;
  AlertSender sender(o);
  sender.enqueue(alert("first"));
  ASSERT_TRUE(rx.wait_entered(1));  // the worker is now blocked in the request
  int kept = 0;
  for (int i = 0; i < 100; ++i) kept += sender.enqueue(alert("burst/" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) sender.enqueue(alert("burst/99"));  // coalesced into the queued one
  AlertSenderStats s = sender.stats();
  EXPECT_EQ(kept, 4);
  EXPECT_EQ(s.dropped_queue_full, 96u);
  EXPECT_EQ(s.coalesced, 5u);
  EXPECT_EQ(s.queue_length, 4u);
  EXPECT_EQ(s.sent, 0u);
  EXPECT_TRUE(rx.got().empty());

  rx.open_gate();
  ASSERT_TRUE(sender.wait_idle(20s));
  const auto got = rx.got();
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body).at("key"), "first");
  for (int i = 1; i < 5; ++i) EXPECT_EQ(nlohmann::json::parse(got[i].body).at("key"), "burst/" + std::to_string(95 + i));
  EXPECT_EQ(nlohmann::json::parse(got[4].body).at("repeats"), 5);
  EXPECT_EQ(sender.stats().sent, 5u);
}

TEST(AlertSender, QueuesWhileTheReceiverIsDownAndDeliversOnceItIsUp) {
  const int port = free_port();
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/generic";
  o.max_attempts = 100000;  // limited by max_age instead
  AlertSender sender(o);
  sender.enqueue(alert("recovery/critical_system_error"));
  sender.enqueue(alert("health/bot-1"));
  ASSERT_TRUE(eventually([&] { return sender.stats().attempts >= 3; }));  // refused, retried
  EXPECT_EQ(sender.stats().sent, 0u);

  Receiver rx(port);
  ASSERT_TRUE(sender.wait_idle(20s));
  const auto got = rx.got();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(got[0].body).at("key"), "recovery/critical_system_error");
  EXPECT_EQ(nlohmann::json::parse(got[1].body).at("key"), "health/bot-1");
  EXPECT_EQ(sender.stats().sent, 2u);
  EXPECT_EQ(sender.stats().failed, 0u);
}

TEST(AlertSender, GivesUpAfterMaxAttempts) {
  const int port = free_port();
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/generic";
  o.max_attempts = 3;
  AlertSender sender(o);
  sender.enqueue(alert("k"));
  ASSERT_TRUE(sender.wait_idle(20s));
  const AlertSenderStats s = sender.stats();
  EXPECT_EQ(s.attempts, 3u);
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.sent, 0u);
}

TEST(AlertSender, GivesUpOnAlertsOlderThanMaxAge) {
  const int port = free_port();
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = "http://127.0.0.1:" + std::to_string(port) + "/generic";
  o.max_attempts = 1000000;
  o.max_age = 0ms;
  AlertSender sender(o);
  sender.enqueue(alert("k"));
  ASSERT_TRUE(sender.wait_idle(20s));
  EXPECT_EQ(sender.stats().expired, 1u);
  EXPECT_EQ(sender.stats().attempts, 1u);
}

TEST(AlertSender, RetriesServerErrorsButNotClientErrors) {
  Receiver rx;
  std::atomic<int> calls{0};
  rx.respond_with([&](const std::string& path) {
    if (path == "/flaky") return calls.fetch_add(1) == 0 ? 503 : 200;
    return 404;
  });
  {
    AlertSenderOptions o = fast_options();
    o.generic_webhook_url = rx.url("/flaky");
    AlertSender sender(o);
    sender.enqueue(alert("k"));
    ASSERT_TRUE(sender.wait_idle(20s));
    EXPECT_EQ(sender.stats().sent, 1u);
    EXPECT_EQ(sender.stats().attempts, 2u);
  }
  {
    AlertSenderOptions o = fast_options();
    o.generic_webhook_url = rx.url("/gone");
    AlertSender sender(o);
    sender.enqueue(alert("k"));
    ASSERT_TRUE(sender.wait_idle(20s));
    EXPECT_EQ(sender.stats().failed, 1u);
    EXPECT_EQ(sender.stats().attempts, 1u);
  }
}

TEST(AlertSender, GlobalRateLimitHoldsBackTheNextAlert) {
  Receiver rx;
  AlertSenderOptions o = fast_options();
  o.generic_webhook_url = rx.url("/generic");
  o.max_per_minute = 1;  // one token, refilled after a minute
  AlertSender sender(o);
  sender.enqueue(alert("a"));
  sender.enqueue(alert("b"));
  ASSERT_TRUE(eventually([&] { return sender.stats().sent == 1; }));
  // "b" waits a minute for its token; the sender is not idle and has not sent it.
  EXPECT_FALSE(sender.wait_idle(100ms));
  EXPECT_EQ(rx.got().size(), 1u);
}

}  // namespace
}  // namespace telering::reader
