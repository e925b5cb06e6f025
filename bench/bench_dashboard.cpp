// bench/bench_dashboard.cpp — the cost of the live dashboard (issue 15, "Cost"): what the drain
// loop pays to build a frame, what one /events stream costs the reader at the default 500 ms,
// and whether 16 open streams slow the drain.
//
// Setup (as bench_scrape): a default segment (64 lanes x 2048), every lane claimed by a host of
// 10 bots writing bench_reader's record mix (16 endpoints, 100 components, 200 error types),
// drained by a ReaderLoop with a MetricsExporter on 127.0.0.1:0 serving the dashboard's routes
// and a DashboardCollector as its LoopTap, exactly as telering-reader --http runs them.
// Warmed with 3 full fills first, so every series, breaker and error type exists.
//
//  1. Frame build on the loop thread (DashboardCollector::build), 200 calls on CPU 1, p50/p99;
//     then the HTTP side's serialisation of one update event and of a full snapshot.
//  2. Reader CPU per stream, loop idle (turns every ~1 ms as the idle strategy would): the CPU
//     time of the reader's HTTP-side threads, read per thread from /proc/self/task/*/schedstat
//     (so the stream client and the idle loop's own wake-ups are not counted), for 0, 1 and 16
//     streams, kCpuSeconds each, alternating kCpuReps times; medians, in % of one core, plus
//     the loop's frame builds (section 1's p50, twice a second).
//  3. Drain throughput: repetitions alternating "none" / "16 streams" (a client thread reading
//     16 /events connections), each ~kRepSeconds of {fill all lanes from CPU 0, time
//     ReaderLoop::turn until 0 on CPU 1}; records/s over the drain time only; the ratio of the
//     medians is the target (>= 0.97).
//
// Segment: "telering-bench-dashboard-<pid>", removed at the end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <dirent.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "bot_host.hpp"
#include "drain_rep.hpp"
#include "dashboard/dashboard_collector.hpp"
#include "dashboard/dashboard_hub.hpp"
#include "exporters/metrics_endpoint.hpp"
#include "loop/reader_loop.hpp"
#include "telering/core/segment.hpp"

namespace {

using namespace telering;
using namespace telering::reader;
using namespace telering::bench;

constexpr int kCalls = 200;
constexpr int kRepsEach = 10;
constexpr double kRepSeconds = 2.0;
constexpr double kCpuSeconds = 5.0;
constexpr int kCpuReps = 3;
constexpr int kStreams = 16;

// CPU time (ns, from schedstat) of each thread of this process, by tid.
std::map<long, std::uint64_t> thread_cpu_ns() {
  std::map<long, std::uint64_t> out;
  DIR* dir = ::opendir("/proc/self/task");
  if (!dir) return out;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const std::string path = std::string("/proc/self/task/") + e->d_name + "/schedstat";
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
      unsigned long long ns = 0;
      if (std::fscanf(f, "%llu", &ns) == 1) out[std::atol(e->d_name)] = ns;
      std::fclose(f);
    }
  }
  ::closedir(dir);
  return out;
}

// A thread holding `n` /events connections, reading whatever comes, until stopped.
class StreamClients {
 public:
  StreamClients(int port, int n) {
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) throw std::runtime_error("connect failed");
      const std::string get = "GET /events HTTP/1.1\r\nHost: bench\r\n\r\n";
      if (::send(fd, get.data(), get.size(), 0) != static_cast<ssize_t>(get.size())) throw std::runtime_error("send failed");
      fds_.push_back(fd);
    }
    thread_ = std::thread([this] {
      tid_.store(static_cast<long>(::syscall(SYS_gettid)), std::memory_order_relaxed);
      std::vector<pollfd> p;
      for (int fd : fds_) p.push_back(pollfd{fd, POLLIN, 0});
      char buf[64 * 1024];
      while (!stop_.load(std::memory_order_relaxed)) {
        if (::poll(p.data(), p.size(), 50) <= 0) continue;
        for (pollfd& q : p)
          if (q.revents & POLLIN) {
            const ssize_t got = ::recv(q.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (got > 0) bytes_ += static_cast<std::uint64_t>(got);
          }
      }
      timespec ts{};
      ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      cpu_s_ = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    });
  }
  StreamClients(const StreamClients&) = delete;
  StreamClients& operator=(const StreamClients&) = delete;
  ~StreamClients() {
    finish();
    for (int fd : fds_) ::close(fd);
  }
  // Stops the thread; its CPU time and the bytes it read.
  void finish() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] double cpu_s() const { return cpu_s_; }
  [[nodiscard]] std::uint64_t bytes() const { return bytes_; }
  [[nodiscard]] long tid() const { return tid_.load(std::memory_order_relaxed); }

 private:
  std::atomic<long> tid_{0};
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::uint64_t bytes_ = 0;
  double cpu_s_ = 0;
  std::thread thread_;
};

// The loop idle for `seconds` (a turn every ~1 ms). Returns the CPU seconds of the reader's
// other threads (the HTTP server: streams, serialisation) in that span — read per thread from
// schedstat, so neither the idle loop's own wake-ups nor the stream client are counted —
// and, in *loop_s, the loop thread's.
double idle_http_cpu(ReaderLoop& loop, double seconds, StreamClients* clients, double* loop_s) {
  const long me = static_cast<long>(::syscall(SYS_gettid));
  const std::map<long, std::uint64_t> before = thread_cpu_ns();
  const auto t0 = std::chrono::steady_clock::now();
  while (seconds_since(t0) < seconds) {
    (void)loop.turn(monotonic_ns());
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::map<long, std::uint64_t> after = thread_cpu_ns();
  const long client = clients ? clients->tid() : 0;
  std::uint64_t other = 0;
  for (const auto& [tid, ns] : after) {
    const auto it = before.find(tid);
    if (it == before.end() || tid == client) continue;
    if (tid == me) *loop_s = static_cast<double>(ns - it->second) / 1e9;
    else other += ns - it->second;
  }
  return static_cast<double>(other) / 1e9;
}

int run() {
  print_machine();
  std::printf("date: %s\n", utc_now_text().c_str());

  const std::string name = "telering-bench-dashboard-" + std::to_string(::getpid());
  (void)Segment::remove(name);
  SegmentOptions so;
  so.name = name;
  Segment segment = Segment::open(so);
  BotHost host(segment, 0x5eed3);
  dashboard::DashboardHub hub({});  // the defaults: 500 ms, 16 streams
  dashboard::DashboardCollector collector(hub);
  MetricsExporter exporter("127.0.0.1:0", nullptr, [&](HttpRouter& router) { hub.add_routes(router); });
  ReaderOptions ro;
  ro.print = [](const std::string&) {};
  ro.metrics = &exporter;
  ro.tap = &collector;
  ReaderLoop loop(segment, ReaderConfig{}, ro);
  pin_to_cpu(1);
  for (int i = 0; i < 3; ++i) {
    (void)fill_from_cpu0(host);
    while (loop.turn(monotonic_ns()) != 0) {
    }
  }
  std::printf("lanes in use: %zu, bots: %zu, breakers: %zu\n", host.lanes(), loop.engine().bots().size(),
              loop.engine().breakers().size());

  // ---- 1. Frame build on the loop thread, serialisation on the HTTP side ----------------------
  std::vector<double> build_us, update_us, snapshot_us;
  std::size_t update_bytes = 0, snapshot_bytes = 0;
  for (int i = 0; i < kCalls; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = collector.build(loop.engine(), segment, loop.drain_stats(), monotonic_ns());
    build_us.push_back(seconds_since(t0) * 1e6);
    hub.publish(std::move(f));
    const auto t1 = std::chrono::steady_clock::now();
    update_bytes = hub.update_event()->size();
    update_us.push_back(seconds_since(t1) * 1e6);
    const auto t2 = std::chrono::steady_clock::now();
    snapshot_bytes = hub.snapshot_event()->size();
    snapshot_us.push_back(seconds_since(t2) * 1e6);
  }
  std::printf("\n## 1. Frame build on the loop thread (DashboardCollector::build), %d calls, CPU 1\n\n", kCalls);
  std::printf("| step | p50 us | p99 us | max us | bytes |\n|---|---:|---:|---:|---:|\n");
  std::printf("| frame build (loop thread) | %.0f | %.0f | %.0f | |\n", quantile(build_us, 0.5), quantile(build_us, 0.99),
              quantile(build_us, 1.0));
  std::printf("| update event JSON (HTTP thread, once per frame for all streams) | %.0f | %.0f | %.0f | %zu |\n",
              quantile(update_us, 0.5), quantile(update_us, 0.99), quantile(update_us, 1.0), update_bytes);
  std::printf("| full snapshot JSON (HTTP thread, on connect) | %.0f | %.0f | %.0f | %zu |\n", quantile(snapshot_us, 0.5),
              quantile(snapshot_us, 0.99), quantile(snapshot_us, 1.0), snapshot_bytes);
  std::fflush(stdout);

  // ---- 2. Reader CPU per stream, loop idle --------------------------------------------------
  // Alternating 0 / 1 / 16 streams, kCpuReps times; the HTTP side's threads measured on their
  // own (schedstat), the loop thread's beside them (its idle wake-ups dominate it).
  std::printf("\n## 2. Reader CPU, loop idle, %d x %.0f s per mode, alternating (per-thread schedstat)\n\n", kCpuReps,
              kCpuSeconds);
  std::printf("| rep | streams | HTTP threads %% of a core | loop thread %% | bytes streamed |\n|---:|---:|---:|---:|---:|\n");
  std::vector<double> http_by_mode[3];
  const int modes[3] = {0, 1, kStreams};
  for (int rep = 0; rep < kCpuReps; ++rep)
    for (int m = 0; m < 3; ++m) {
      const int n = modes[m];
      std::unique_ptr<StreamClients> clients = n ? std::make_unique<StreamClients>(exporter.port(), n) : nullptr;
      for (int i = 0; i < 200 && hub.streams() < static_cast<std::size_t>(n); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      double loop_s = 0;
      const double http = 100.0 * idle_http_cpu(loop, kCpuSeconds, clients.get(), &loop_s) / kCpuSeconds;
      http_by_mode[m].push_back(http);
      if (clients) clients->finish();
      std::printf("| %d | %d | %.3f | %.2f | %llu |\n", rep + 1, n, http, 100.0 * loop_s / kCpuSeconds,
                  static_cast<unsigned long long>(clients ? clients->bytes() : 0));
      std::fflush(stdout);
      clients.reset();
      for (int i = 0; i < 200 && hub.streams() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  const double base = median(http_by_mode[0]);
  const double one = median(http_by_mode[1]) - base;
  const double sixteen = median(http_by_mode[2]) - base;
  // The loop's share: a frame every 500 ms and a point every second, whoever watches.
  const double loop_share = 100.0 * (2.0 * median(build_us) * 1e-6);
  std::printf("\n| streams | median HTTP-thread CPU %% | above none |\n|---:|---:|---:|\n| 0 | %.3f | |\n| 1 | %.3f | %.3f |\n"
              "| 16 | %.3f | %.3f |\n",
              base, median(http_by_mode[1]), one, median(http_by_mode[2]), sixteen);
  std::printf("one stream costs %.3f %% of a core at 500 ms on the HTTP thread + %.3f %% on the loop (2 frame builds/s) = "
              "%.3f %% (target <= 1 %%): %s; 16 streams cost %.3f %% + %.3f %%\n",
              one, loop_share, one + loop_share, one + loop_share <= 1.0 ? "met" : "MISSED", sixteen, loop_share);
  std::fflush(stdout);

  // ---- 3. Drain throughput, no stream vs 16 ---------------------------------------------------
  std::printf("\n## 3. Drain throughput (ReaderLoop::turn, 64 x 2048 per fill from CPU 0, drained on CPU 1), "
              "%d x %.0f s each mode, alternating\n\n", kRepsEach, kRepSeconds);
  std::printf("| rep | mode | records/s (wall) | records/CPU-s | streams open |\n|---:|---|---:|---:|---:|\n");
  std::vector<double> none_wall, none_cpu, with_wall, with_cpu;
  for (int rep = 0; rep < 2 * kRepsEach; ++rep) {
    const bool streaming = rep % 2 == 1;
    std::unique_ptr<StreamClients> clients = streaming ? std::make_unique<StreamClients>(exporter.port(), kStreams) : nullptr;
    if (streaming)
      for (int i = 0; i < 200 && hub.streams() < static_cast<std::size_t>(kStreams); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const std::size_t open = hub.streams();
    const DrainRep r = drain_rep(host, loop, kRepSeconds);
    clients.reset();
    const double wall = r.wall_rate();
    const double cpu = r.cpu_rate();
    (streaming ? with_wall : none_wall).push_back(wall);
    (streaming ? with_cpu : none_cpu).push_back(cpu);
    std::printf("| %d | %s | %.2f M | %.2f M | %zu |\n", rep + 1, streaming ? "16 streams" : "none", wall / 1e6, cpu / 1e6, open);
    std::fflush(stdout);
    for (int i = 0; i < 200 && hub.streams() != 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double ratio_wall = median(with_wall) / median(none_wall);
  const double ratio_cpu = median(with_cpu) / median(none_cpu);
  std::printf("\n| mode | median records/s (wall) | median records/CPU-s |\n|---|---:|---:|\n");
  std::printf("| none | %.2f M | %.2f M |\n| 16 streams | %.2f M | %.2f M |\n", median(none_wall) / 1e6, median(none_cpu) / 1e6,
              median(with_wall) / 1e6, median(with_cpu) / 1e6);
  std::printf("| ratio (16 streams / none) | %.3f | %.3f |\n", ratio_wall, ratio_cpu);
  std::printf("target: 16 streams within 3 %% of none (wall ratio >= 0.97): %s\n", ratio_wall >= 0.97 ? "met" : "MISSED");
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
    std::fprintf(stderr, "bench_dashboard: %s\n", e.what());
    return 1;
  }
}
