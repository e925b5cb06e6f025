// bench/bench_scrape.cpp — the cost of /metrics (issue 4, "Benchmarks"): what one scrape costs
// with 64 lanes and 100 components, and whether a scrape every 100 ms slows the drain.
//
// Setup (as bench_reader): a default segment (64 lanes x 2048), every lane claimed by a host of
// 10 bots writing bench_reader's record mix (16 endpoints, 100 components, 200 error types,
// 10 warning types, 20 metrics), drained by a ReaderLoop with a MetricsExporter on 127.0.0.1:0
// (so the loop runs MetricsCollector::observe per record and publishes a snapshot every
// publish_interval, as telering-reader --http does). Warmed with 3 full fills first, so every
// series exists.
//
//  1. Snapshot build on the loop thread: ReaderLoop::publish_metrics (MetricsCollector::collect
//     + the pointer swap), 200 calls on CPU 1, p50/p99.
//  2. Scrape cost: 200 GET /metrics from a cpp-httplib client on loopback, loop idle,
//     (a) a new connection per scrape, (b) one keep-alive connection (as Prometheus); p50/p99,
//     body size and series count.
//  3. Drain throughput: repetitions alternating "none" / "scrape every 100 ms" (a client thread,
//     unpinned, as the exporter's threads), each ~kRepSeconds of {fill all lanes from CPU 0,
//     time ReaderLoop::turn until 0 on CPU 1} — bench_reader's BM_ReaderLoop_Turn. Records/s
//     over the drain time only (wall and CPU); the ratio of the medians is the target.
//
// The simulated bots (BotHost) are bench/bot_host.hpp, shared with bench_reader.
//
// Segment: "telering-bench-scrape-<pid>", removed at the end.
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "bot_host.hpp"
#include "drain_rep.hpp"
#include "engine/engine.hpp"
#include "exporters/metrics_endpoint.hpp"
#include "loop/reader_loop.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

namespace {

using namespace telering;
using namespace telering::reader;
using namespace telering::bench;

constexpr int kCalls = 200;          // snapshot builds and scrapes timed in sections 1 and 2
constexpr int kRepsEach = 5;         // section 3: repetitions of each mode, alternating
constexpr double kRepSeconds = 3.0;  // section 3: wall time per repetition
constexpr auto kScrapeEvery = std::chrono::milliseconds(100);

std::string load_line() {
  std::string s = "?";
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    char line[128] = {};
    if (std::fgets(line, sizeof line, f)) {
      s = line;
      if (!s.empty() && s.back() == '\n') s.pop_back();
    }
    std::fclose(f);
  }
  return s;
}

httplib::Client make_client(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(5));
  return client;
}

// One GET /metrics; returns the body size, throws when it did not answer 200.
std::size_t scrape(httplib::Client& client) {
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) throw std::runtime_error("GET /metrics failed");
  return res->body.size();
}

std::size_t count_series(const std::string& body) {
  std::size_t n = 0;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t end = std::min(body.find('\n', pos), body.size());
    if (end > pos && body[pos] != '#') ++n;
    pos = end + 1;
  }
  return n;
}

// A client thread that scrapes every kScrapeEvery (on one keep-alive connection) until stopped.
class Scraper {
 public:
  explicit Scraper(int port)
      : thread_([this, port] {
          httplib::Client client = make_client(port);
          client.set_keep_alive(true);
          auto next = std::chrono::steady_clock::now();
          while (!stop_.load(std::memory_order_relaxed)) {
            const auto t0 = std::chrono::steady_clock::now();
            (void)scrape(client);
            ms_.push_back(seconds_since(t0) * 1e3);
            next += kScrapeEvery;
            std::this_thread::sleep_until(next);
          }
        }) {}
  Scraper(const Scraper&) = delete;
  Scraper& operator=(const Scraper&) = delete;
  // Stops and joins; returns the scrape times (ms).
  std::vector<double> finish() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
    return std::move(ms_);
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<double> ms_;  // the scraper thread's until join
  std::thread thread_;
};

int run() {
  print_machine();
  std::printf("date: %s\nloadavg at start: %s\n", utc_now_text().c_str(), load_line().c_str());
  std::fflush(stdout);

  const std::string name = "telering-bench-scrape-" + std::to_string(::getpid());
  (void)Segment::remove(name);
  SegmentOptions so;
  so.name = name;
  Segment segment = Segment::open(so);
  BotHost host(segment, 0x5eed3);
  MetricsExporter exporter("127.0.0.1:0");
  ReaderOptions ro;
  ro.print = [](const std::string&) {};
  ro.metrics = &exporter;
  ReaderLoop loop(segment, ReaderConfig{}, ro);
  pin_to_cpu(1);
  for (int i = 0; i < 3; ++i) {  // warm: every bot, breaker, endpoint and error type seen
    (void)fill_from_cpu0(host);
    while (loop.turn(monotonic_ns()) != 0) {
    }
  }
  loop.publish_metrics(monotonic_ns());
  std::printf("lanes in use: %zu, bots: %zu, breakers: %zu\n", host.lanes(), loop.engine().bots().size(),
              loop.engine().breakers().size());

  // ---- 1. Snapshot build on the loop thread -----------------------------------------------
  std::vector<double> build_us;
  for (int i = 0; i < kCalls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    loop.publish_metrics(monotonic_ns());
    build_us.push_back(seconds_since(t0) * 1e6);
  }

  // ---- 2. Scrape cost, loop idle ----------------------------------------------------------
  std::string body;
  {
    httplib::Client c = make_client(exporter.port());
    auto res = c.Get("/metrics");
    if (!res || res->status != 200) throw std::runtime_error("GET /metrics failed");
    body = res->body;
  }
  std::vector<double> fresh_ms;
  std::vector<double> keep_ms;
  for (int i = 0; i < kCalls; ++i) {
    httplib::Client c = make_client(exporter.port());
    const auto t0 = std::chrono::steady_clock::now();
    (void)scrape(c);
    fresh_ms.push_back(seconds_since(t0) * 1e3);
  }
  {
    httplib::Client c = make_client(exporter.port());
    c.set_keep_alive(true);
    (void)scrape(c);
    for (int i = 0; i < kCalls; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      (void)scrape(c);
      keep_ms.push_back(seconds_since(t0) * 1e3);
    }
  }

  std::printf("\n## 1. Snapshot build on the loop thread (ReaderLoop::publish_metrics = MetricsCollector::collect "
              "+ swap), %d calls, CPU 1\n\n", kCalls);
  std::printf("| p50 us | p99 us | max us |\n|---:|---:|---:|\n| %.0f | %.0f | %.0f |\n", quantile(build_us, 0.5),
              quantile(build_us, 0.99), quantile(build_us, 1.0));
  std::printf("\n## 2. One scrape of /metrics, loopback, loop idle, %d scrapes each (%zu bytes, %zu series)\n\n", kCalls,
              body.size(), count_series(body));
  std::printf("| client | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|\n");
  std::printf("| new connection per scrape | %.3f | %.3f | %.3f |\n", quantile(fresh_ms, 0.5), quantile(fresh_ms, 0.99),
              quantile(fresh_ms, 1.0));
  std::printf("| keep-alive connection | %.3f | %.3f | %.3f |\n", quantile(keep_ms, 0.5), quantile(keep_ms, 0.99),
              quantile(keep_ms, 1.0));
  std::fflush(stdout);

  // ---- 3. Drain throughput, no scrape vs a scrape every 100 ms ----------------------------
  std::printf("\n## 3. Drain throughput (ReaderLoop::turn, 64 x 2048 per fill from CPU 0, drained on CPU 1), "
              "%d x %.0f s each mode, alternating\n\n", kRepsEach, kRepSeconds);
  std::printf("| rep | mode | records/s (wall) | records/CPU-s | scrapes | scrape p50 ms | scrape max ms |\n"
              "|---:|---|---:|---:|---:|---:|---:|\n");
  std::fflush(stdout);
  std::vector<double> none_wall, none_cpu, with_wall, with_cpu, during_ms;
  for (int rep = 0; rep < 2 * kRepsEach; ++rep) {
    const bool scraping = rep % 2 == 1;
    DrainRep r;
    std::vector<double> ms;
    if (scraping) {
      Scraper scraper(exporter.port());
      r = drain_rep(host, loop, kRepSeconds);
      ms = scraper.finish();
      during_ms.insert(during_ms.end(), ms.begin(), ms.end());
    } else {
      r = drain_rep(host, loop, kRepSeconds);
    }
    const double wall = r.wall_rate();
    const double cpu = r.cpu_rate();
    (scraping ? with_wall : none_wall).push_back(wall);
    (scraping ? with_cpu : none_cpu).push_back(cpu);
    std::printf("| %d | %s | %.2f M | %.2f M | %zu | %s | %s |\n", rep + 1, scraping ? "scrape/100ms" : "none", wall / 1e6,
                cpu / 1e6, ms.size(), scraping ? std::to_string(quantile(ms, 0.5)).substr(0, 5).c_str() : "-",
                scraping ? std::to_string(quantile(ms, 1.0)).substr(0, 5).c_str() : "-");
    std::fflush(stdout);
  }
  const double ratio_wall = median(with_wall) / median(none_wall);
  const double ratio_cpu = median(with_cpu) / median(none_cpu);
  std::printf("\n| mode | median records/s (wall) | median records/CPU-s |\n|---|---:|---:|\n");
  std::printf("| none | %.2f M | %.2f M |\n| scrape every 100 ms | %.2f M | %.2f M |\n", median(none_wall) / 1e6,
              median(none_cpu) / 1e6, median(with_wall) / 1e6, median(with_cpu) / 1e6);
  std::printf("| ratio (scrape / none) | %.3f | %.3f |\n", ratio_wall, ratio_cpu);
  std::printf("\nscrapes while draining: %zu, p50 %.3f ms, p99 %.3f ms; exporter served %llu scrapes in all\n",
              during_ms.size(), quantile(during_ms, 0.5), quantile(during_ms, 0.99),
              static_cast<unsigned long long>(exporter.scrapes()));
  std::printf("target: scrape every 100 ms within 5 %% of none (wall ratio >= 0.95): %s\n",
              ratio_wall >= 0.95 ? "met" : "MISSED");
  std::printf("loadavg at end: %s\n", load_line().c_str());
  std::fflush(stdout);
  (void)Segment::remove(name);
  return 0;
}

}  // namespace

int main() {
  spdlog::set_level(spdlog::level::err);
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_scrape: %s\n", e.what());
    return 1;
  }
}
