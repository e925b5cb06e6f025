// The reader's HTTP side under abuse (issue 12, "Proof"): a real telering-reader on a
// loopback port, attacked the way the issue found it weak — slowloris and idle connections,
// pipelining, long request lines and header sections, chunked, length-less, huge and gzip
// bodies with and without the Alertmanager token, and 100 concurrent scrapes — while a probe
// scrapes /metrics every 100 ms and reads the drain loop's heartbeat from the segment.
//
// Bounds asserted (the issue's): /metrics answers within 1 s throughout (5 s under a
// sanitizer, which slows everything ~10x), the heartbeat never gets 2 s old (what writers
// call "no reader"), the reader's peak RSS stays under 64 MiB (not under ASan, whose shadow
// memory is most of it), and SIGTERM in the middle of the attack exits 0 within 5 s.
// Loopback only; every loop is bounded in count and time; the whole test takes ~20 s.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/shm_test_util.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/segment.hpp"

#ifndef TELERING_READER_EXE
#error "TELERING_READER_EXE must name the telering-reader executable"
#endif

namespace telering::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
constexpr auto kScrapeBound = kSanitized ? 5000ms : 1000ms;
constexpr const char* kToken = "abuse-test-secret";

// A blocking loopback connection with bounded reads and writes.
class Conn {
 public:
  explicit Conn(int port, std::chrono::milliseconds timeout = 5000ms) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Conn() { ::close(fd_); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  [[nodiscard]] bool ok() const { return ok_; }
  // False once the peer stopped taking bytes (closed, reset, or the send timed out).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads until `enough` says the text is complete, the peer closes or a read times out.
  template <typename Enough>
  std::string read_until(Enough enough) {
    std::string text;
    char buf[65536];
    while (!enough(text)) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      text.append(buf, static_cast<std::size_t>(n));
    }
    return text;
  }
  // The status code of one complete answer (0 when none came).
  int status() {
    const std::string r = read_until([](const std::string& t) {
      const auto head = t.find("\r\n\r\n");
      if (head == std::string::npos) return false;
      const auto cl = t.find("Content-Length: ");
      return cl == std::string::npos || t.size() >= head + 4 + std::stoul(t.substr(cl + 16));
    });
    return r.size() >= 12 && r.starts_with("HTTP/1.1 ") ? std::stoi(r.substr(9, 3)) : 0;
  }
  [[nodiscard]] int fd() const { return fd_; }
  // Sends `chunk` up to `times` times, stopping as soon as the reader has answered (or stopped
  // taking bytes); returns the bytes sent.
  std::size_t send_until_answered(const std::string& chunk, int times) {
    std::size_t sent = 0;
    char peek = 0;
    for (int i = 0; i < times; ++i) {
      if (::recv(fd_, &peek, 1, MSG_PEEK | MSG_DONTWAIT) > 0 || !send(chunk)) break;
      sent += chunk.size();
    }
    return sent;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

std::string post_head(std::string_view token, std::string_view framing) {
  std::string r = "POST /alertmanager HTTP/1.1\r\nHost: reader\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + std::string(token) + "\r\n";
  return r + std::string(framing) + "\r\n";
}

// Peak resident set of a process, KiB (VmHWM).
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

TEST(HttpAbuse, TheReaderKeepsServingStaysSmallAndStopsOnTime) {
  UniqueSegment shm;
  const fs::path config = fs::temp_directory_path() / ("telering-abuse-" + shm.name() + ".toml");
  std::ofstream(config) << "[reader]\npublish_interval = \"200ms\"\n"
                        << "[alertmanager]\nsecret = \"" << kToken << "\"\n"
                        << "[[alertmanager.rules]]\nalertname = \"ExchangeApiDegraded\"\naction = \"open_breaker\"\n"
                        << "target = \"kucoin_api\"\n";
  ChildProcess reader("/bin/sh", {"-c", "exec \"$0\" \"$@\" 2>&1", TELERING_READER_EXE, "--segment", shm.name(), "--config",
                                  config.string(), "--http", "127.0.0.1:0", "--log-level", "info"});
  int port = 0;
  ASSERT_TRUE(poll_until(15s, [&] {
    if (auto line = reader.take_line("")) {
      const auto at = line->find("serving /metrics");
      if (at != std::string::npos) port = std::stoi(line->substr(line->rfind(':') + 1));
    }
    return port != 0 || !reader.running();
  }, [] { std::this_thread::sleep_for(5ms); })) << "the reader did not say where it serves";
  ASSERT_NE(port, 0);
  Segment seg = Segment::open(attach_options(shm.name()));
  ASSERT_TRUE(poll_until(10s, [&] { return seg.header().reader_heartbeat_ns.load() != 0; }, [] { std::this_thread::sleep_for(5ms); }));

  // The probe: a fresh connection and a full /metrics every 100 ms, and the heartbeat's age.
  std::atomic<bool> probing{true};
  std::atomic<int> probes{0}, probe_failures{0};
  std::atomic<std::int64_t> worst_scrape_ms{0}, worst_beat_ms{0};
  std::thread probe([&] {
    while (probing.load()) {
      const auto start = Clock::now();
      Conn c(port, 5000ms);
      const bool ok = c.ok() && c.send("GET /metrics HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n") && c.status() == 200;
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
      if (!ok) probe_failures.fetch_add(1);
      worst_scrape_ms.store(std::max<std::int64_t>(worst_scrape_ms.load(), ms));
      const std::uint64_t beat = seg.header().reader_heartbeat_ns.load(std::memory_order_acquire);
      const std::uint64_t now = monotonic_ns();
      const auto age_ms = static_cast<std::int64_t>(now > beat ? (now - beat) / 1'000'000 : 0);
      worst_beat_ms.store(std::max<std::int64_t>(worst_beat_ms.load(), age_ms));
      probes.fetch_add(1);
      std::this_thread::sleep_for(100ms);
    }
  });

  // Slowloris and idle: 100 connections trickling a header byte every 500 ms, 50 silent ones.
  const auto attack_start = Clock::now();
  std::vector<std::unique_ptr<Conn>> slow, idle;
  for (int i = 0; i < 100; ++i) {
    slow.push_back(std::make_unique<Conn>(port, 200ms));
    slow.back()->send("GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Slow: ");
  }
  for (int i = 0; i < 50; ++i) idle.push_back(std::make_unique<Conn>(port, 200ms));
  std::atomic<bool> trickling{true};
  std::thread trickle([&] {
    for (int round = 0; round < 40 && trickling.load(); ++round) {
      for (auto& c : slow) (void)::send(c->fd(), "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(500ms);
    }
  });

  // Pipelining: 50 requests in one write, 50 answers in order.
  {
    Conn c(port);
    std::string batch;
    for (int i = 0; i < 50; ++i) batch += "GET /-/ready HTTP/1.1\r\nHost: pipe\r\n\r\n";
    ASSERT_TRUE(c.send(batch));
    const std::string all = c.read_until([](const std::string& t) {
      std::size_t n = 0;
      for (std::size_t at = 0; (at = t.find("ready\n", at)) != std::string::npos; ++at) ++n;
      return n >= 50;
    });
    std::size_t answers = 0;
    for (std::size_t at = 0; (at = all.find("HTTP/1.1 200 OK", at)) != std::string::npos; ++at) ++answers;
    EXPECT_EQ(answers, 50U) << "pipelined requests are all answered";
  }
  // Long request line and header section.
  {
    Conn c(port);
    c.send("GET /" + std::string(100'000, 'a') + " HTTP/1.1\r\n\r\n");
    EXPECT_EQ(c.status(), 414);
  }
  {
    Conn c(port);
    std::string h = "GET /metrics HTTP/1.1\r\n";
    for (int i = 0; i < 2000; ++i) h += "X-H" + std::to_string(i) + ": " + std::string(50, 'h') + "\r\n";
    c.send(h + "\r\n");
    EXPECT_EQ(c.status(), 431);
  }
  // Bodies. Without the token: refused from the headers, whatever follows.
  {
    Conn c(port);
    c.send(post_head("", "Transfer-Encoding: chunked\r\n"));
    const std::string chunk = "100000\r\n" + std::string(0x100000, 'x') + "\r\n";  // 1 MiB chunks
    const std::size_t sent = c.send_until_answered(chunk, 300);                    // up to 300 MB
    EXPECT_EQ(c.status(), 401);
    EXPECT_LT(sent, 64U << 20) << "the reader stopped taking the body early";
  }
  {
    Conn c(port);
    c.send(post_head("wrong", "Content-Length: 300000000\r\n"));
    EXPECT_EQ(c.status(), 401);
  }
  // With the token: capped at 1 MiB in every framing, compressed ones refused.
  {
    Conn c(port);
    c.send(post_head(kToken, "Transfer-Encoding: chunked\r\n"));
    const std::string chunk = "100000\r\n" + std::string(0x100000, 'x') + "\r\n";
    const std::size_t sent = c.send_until_answered(chunk, 300);
    EXPECT_EQ(c.status(), 413);
    EXPECT_LT(sent, 64U << 20);
  }
  {
    Conn c(port);
    c.send(post_head(kToken, "Content-Length: 300000000\r\n"));
    EXPECT_EQ(c.status(), 413);
  }
  {
    Conn c(port);
    c.send(post_head(kToken, "") + std::string(100'000, '{'));
    EXPECT_EQ(c.status(), 411) << "a length-less body";
  }
  {
    // A gzip bomb's header: never inflated.
    Conn c(port);
    c.send(post_head(kToken, "Content-Length: 20\r\nContent-Encoding: gzip\r\n") + std::string("\x1f\x8b\x08\0\0\0\0\0\0\x03", 10) +
           std::string(10, '\0'));
    EXPECT_EQ(c.status(), 415);
  }
  {
    Conn c(port);
    const std::string body = R"({"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"ExchangeApiDegraded"},"fingerprint":"f1"}]})";
    c.send(post_head(kToken, "Content-Length: " + std::to_string(body.size()) + "\r\n") + body);
    EXPECT_EQ(c.status(), 200) << "a real webhook still gets through";
  }
  // 100 concurrent scrapes.
  {
    std::atomic<int> ok{0};
    std::vector<std::thread> scrapers;
    for (int i = 0; i < 100; ++i)
      scrapers.emplace_back([&] {
        Conn c(port, 10'000ms);
        if (c.ok() && c.send("GET /metrics HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n") && c.status() == 200) ok.fetch_add(1);
      });
    for (auto& t : scrapers) t.join();
    EXPECT_EQ(ok.load(), 100);
  }

  // Probes go on under the slow connections for 8 s in all (past the 5 s header deadline),
  // then SIGTERM while they are still trickling.
  std::this_thread::sleep_until(attack_start + 8s);
  probing.store(false);
  probe.join();
  const long rss = peak_rss_kib(reader.pid());
  const auto term = Clock::now();
  reader.kill(SIGTERM);
  const bool stopped = poll_until(10s, [&] { return !reader.running(); }, [&] {
    reader.pump();
    std::this_thread::sleep_for(5ms);
  });
  const auto stop_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - term).count();
  trickling.store(false);
  trickle.join();

  std::cout << "[  FIGURES ] probes " << probes.load() << ", worst /metrics " << worst_scrape_ms.load() << " ms, worst heartbeat age "
            << worst_beat_ms.load() << " ms, peak RSS " << rss / 1024 << " MiB, SIGTERM to exit " << stop_ms << " ms\n";
  EXPECT_TRUE(stopped && reader.exited_ok()) << "status " << reader.raw_status();
  EXPECT_LE(stop_ms, 5000) << "SIGTERM must end the reader within 5 s whatever the HTTP side does";
  EXPECT_EQ(probe_failures.load(), 0) << "a probe scrape failed";
  EXPECT_GE(probes.load(), 20);
  EXPECT_LE(worst_scrape_ms.load(), kScrapeBound.count());
  EXPECT_LT(worst_beat_ms.load(), 2000) << "the drain loop's heartbeat stalled";
  if (!kSanitized) {
    EXPECT_LT(rss, 64 * 1024) << "peak RSS " << rss << " KiB";
  }
  fs::remove(config);
}

}  // namespace
}  // namespace telering::test
