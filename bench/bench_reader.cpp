// bench/bench_reader.cpp — the reader's figures (issue 3, "Benchmarks"): throughput, decision
// latency, idle CPU, health-check cost and memory.
//
//  1. Throughput (Google Benchmark, manual time = the drain only). A host of 10 bots fills
//     every lane of a default segment (64 x 2048 = 131 072 records per iteration, from a thread
//     on CPU 0), then this thread (CPU 1) drains them:
//       BM_ReaderLoop_Turn     ReaderLoop::turn until it returns 0: drain + validate +
//                              Engine::on_record, plus the loop's heartbeat/tick/reclaim work
//       BM_Drainer_PollNoop    Drainer::poll with a handler that only sums a field
//       BM_Engine_OnRecord     Engine::on_record alone, over records already copied out
//     Record mix per 100 (as a bot: one scan, its API calls, the breakers around them):
//     30 api_call over 16 endpoints, 30 call_outcome over 100 components (3 % failures, so no
//     breaker trips), 20 counter over 20 metrics, 5 scan_time, 5 memory, 5 gauge, 3 warning
//     over 10 types, 2 error over 200 types (4 of them with built-in recovery strategies,
//     half with a component, a 30-byte context).
//  2. Decision latency (custom loop): ReaderLoop::run on CPU 1 (default idle strategy, then
//     busy-spin), a Writer on CPU 0 records 9 failed call_outcomes for a component, waits a
//     random gap (so the reader is at a random point of its idle back-off), then times from
//     the 10th failure (minimum_number_of_calls = 10 trips it) until breaker_open(id) reads
//     true. close_circuit_breaker() resets it between trials; 100 components round robin.
//  3. Idle CPU: ReaderLoop::run for 5 s on the throughput segment (64 lanes claimed and
//     empty, 10 bots, 100 breakers, full histories) and on a fresh segment, CPU time of that
//     thread (pthread_getcpuclockid) and its voluntary context switches (wake-ups); beside
//     them the floor: a thread that only sleeps 1 ms at a time.
//  4. Health check / report (Google Benchmark): run_full_health_check on full windows,
//     Engine::health_report, all 10 bots' checks, Engine::report_json, Engine::tick with a
//     report publication.
//  5. Memory: a forked child that is only a reader (opens the segment by name, prefaulted, as
//     telering-reader does, and runs ReaderLoop::run) reads its own /proc/self/status after
//     0, 1 M, 10 M, 30 M, 50 M and 100 M records drained, fed by the parent's 10-bot host.
//
// Why not Writer for the host: a process attaches at most 8 Writers (one bot name each) and
// 10 bots are wanted, so BotHost claims lanes itself and writes records field by field as
// Writer::record does, through the core SpscProducer (one release store per record). The
// decision-latency writer is a real Writer.
//
// Decision log lines (spdlog info) and alert lines are turned off (level err) so the tables
// stay readable; in the engine they come after the board store a writer reads.
//
// Segments: "telering-bench-reader-<pid>-<what>", removed at the end.
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "bot_host.hpp"
#include "engine/engine.hpp"
#include "evaluate/health.hpp"
#include "loop/reader_loop.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

namespace {

using namespace telering;
using namespace telering::reader;
using namespace telering::bench;


std::vector<std::string> g_segment_names;

std::string segment_name(const std::string& what) {
  std::string name = "telering-bench-reader-" + std::to_string(::getpid()) + "-" + what;
  (void)Segment::remove(name);
  g_segment_names.push_back(name);
  return name;
}

Segment create_segment(const std::string& name) {
  SegmentOptions o;
  o.name = name;
  return Segment::open(o);
}

// No periodic summaries on stdout (the report interval is 15 min anyway).
ReaderOptions quiet_options() {
  ReaderOptions o;
  o.print = [](const std::string&) {};
  return o;
}

struct DrainScenario {
  Segment segment;
  BotHost host;
  Drainer drainer;
  explicit DrainScenario(const std::string& name) : segment(create_segment(name)), host(segment, 0x5eed1), drainer(segment) {}
};

struct LoopScenario {
  Segment segment;
  BotHost host;
  std::unique_ptr<ReaderLoop> loop;
  explicit LoopScenario(const std::string& name) : segment(create_segment(name)), host(segment, 0x5eed2) {
    loop = std::make_unique<ReaderLoop>(segment, ReaderConfig{}, quiet_options());
    // Warm: 10 bots, 100 breakers, full windows and a full error history before measuring.
    for (int i = 0; i < 3; ++i) {
      (void)fill_from_cpu0(host);
      while (loop->turn(monotonic_ns()) != 0) {
      }
    }
  }
};

std::unique_ptr<DrainScenario> g_drain;
std::unique_ptr<LoopScenario> g_loop;
std::unique_ptr<LoopScenario> g_publish;  // its engine's clock is driven ahead: kept apart

DrainScenario& drain_scenario() {
  if (!g_drain) g_drain = std::make_unique<DrainScenario>(segment_name("drain"));
  return *g_drain;
}
LoopScenario& loop_scenario() {
  if (!g_loop) g_loop = std::make_unique<LoopScenario>(segment_name("loop"));
  return *g_loop;
}
LoopScenario& publish_scenario() {
  if (!g_publish) g_publish = std::make_unique<LoopScenario>(segment_name("publish"));
  return *g_publish;
}

struct NoopHandler {
  std::uint64_t sum = 0;
  void on_record(const Record& r, const RecordSource&) noexcept { sum += r.name_id; }
  void on_malformed(RecordFault, const Record&, const RecordSource&) noexcept {}
};

void set_rates(benchmark::State& state, std::uint64_t records, double cpu_s) {
  state.counters["records_per_s"] = benchmark::Counter(static_cast<double>(records), benchmark::Counter::kIsRate);
  state.counters["records_per_cpu_s"] = cpu_s > 0 ? static_cast<double>(records) / cpu_s : 0.0;
}

// ---- 1. Throughput ------------------------------------------------------------------------

void BM_ReaderLoop_Turn(benchmark::State& state) {
  LoopScenario& s = loop_scenario();
  pin_to_cpu(1);
  std::uint64_t records = 0;
  double cpu_s = 0;
  for (auto _ : state) {
    const std::uint64_t filled = fill_from_cpu0(s.host);
    const double c0 = thread_cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t n = 0;
    for (std::uint64_t k = 0; (k = s.loop->turn(monotonic_ns())) != 0;) n += k;
    state.SetIterationTime(seconds_since(t0));
    cpu_s += thread_cpu_now() - c0;
    if (n != filled) state.SkipWithError("drained != filled");
    records += n;
  }
  set_rates(state, records, cpu_s);
  state.counters["records_per_iter"] = static_cast<double>(records) / static_cast<double>(state.iterations());
  state.counters["malformed"] = static_cast<double>(s.loop->engine().stats().malformed);
}
BENCHMARK(BM_ReaderLoop_Turn)->UseManualTime()->MinTime(0.3)->Repetitions(5);

void BM_Drainer_PollNoop(benchmark::State& state) {
  DrainScenario& s = drain_scenario();
  pin_to_cpu(1);
  NoopHandler h;
  std::uint64_t records = 0;
  double cpu_s = 0;
  for (auto _ : state) {
    const std::uint64_t filled = fill_from_cpu0(s.host);
    const double c0 = thread_cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t n = 0;
    for (;;) {
      const DrainStats d = s.drainer.poll(h, 4096, monotonic_ns());
      if (d.delivered + d.malformed == 0) break;
      n += d.delivered + d.malformed;
    }
    state.SetIterationTime(seconds_since(t0));
    cpu_s += thread_cpu_now() - c0;
    if (n != filled) state.SkipWithError("drained != filled");
    records += n;
  }
  benchmark::DoNotOptimize(h.sum);
  set_rates(state, records, cpu_s);
}
BENCHMARK(BM_Drainer_PollNoop)->UseManualTime()->MinTime(0.3)->Repetitions(5);

void BM_Engine_OnRecord(benchmark::State& state) {
  LoopScenario& s = loop_scenario();
  pin_to_cpu(1);
  static const std::vector<Record> records = s.host.make_records(131072);
  Engine& engine = s.loop->engine();
  const RecordSource source{0, current_pid()};
  std::uint64_t n = 0;
  double cpu_s = 0;
  for (auto _ : state) {
    const double c0 = thread_cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    const std::uint64_t now = monotonic_ns();
    for (const Record& r : records) engine.on_record(r, source, now);
    state.SetIterationTime(seconds_since(t0));
    cpu_s += thread_cpu_now() - c0;
    n += records.size();
  }
  set_rates(state, n, cpu_s);
}
BENCHMARK(BM_Engine_OnRecord)->UseManualTime()->MinTime(0.3)->Repetitions(5);

// ---- 4. Health check and report -----------------------------------------------------------

void BM_Health_RunFullHealthCheck(benchmark::State& state) {
  LoopScenario& s = loop_scenario();
  const Engine& engine = s.loop->engine();
  const PerformanceMonitor& m = engine.host_monitor();
  const std::uint64_t now = monotonic_ns();
  for (auto _ : state) benchmark::DoNotOptimize(run_full_health_check(m, engine.config().thresholds, now, wall_ns()));
  state.counters["scan_samples"] = static_cast<double>(m.scan_times().size());
  state.counters["api_samples"] = static_cast<double>(m.api_latencies().size());
  state.counters["mem_samples"] = static_cast<double>(m.memory_bytes().size());
}
BENCHMARK(BM_Health_RunFullHealthCheck)->Repetitions(5);

void BM_Engine_HealthReport(benchmark::State& state) {
  const Engine& engine = loop_scenario().loop->engine();
  const std::uint64_t now = monotonic_ns();
  for (auto _ : state) benchmark::DoNotOptimize(engine.health_report(now));
  state.counters["bots"] = static_cast<double>(engine.bots().size());
}
BENCHMARK(BM_Engine_HealthReport)->Repetitions(5);

// The host's check and every bot's (what publish_report grades each second).
void BM_Engine_AllBotsHealthCheck(benchmark::State& state) {
  const Engine& engine = loop_scenario().loop->engine();
  const std::uint64_t now = monotonic_ns();
  const std::vector<BotView> bots = engine.bots();
  for (auto _ : state) {
    benchmark::DoNotOptimize(engine.health_report(now));
    for (const BotView& b : bots) benchmark::DoNotOptimize(engine.bot_health_report(b.id, now));
  }
  state.counters["bots"] = static_cast<double>(bots.size());
}
BENCHMARK(BM_Engine_AllBotsHealthCheck)->Repetitions(5);

void BM_Engine_ReportJson(benchmark::State& state) {
  const Engine& engine = loop_scenario().loop->engine();
  const std::uint64_t now = monotonic_ns();
  std::size_t bytes = 0;
  for (auto _ : state) {
    const std::string json = engine.report_json(now);
    bytes = json.size();
    benchmark::DoNotOptimize(json.data());
  }
  state.counters["json_bytes"] = static_cast<double>(bytes);
  state.counters["breakers"] = static_cast<double>(engine.breakers().size());
}
BENCHMARK(BM_Engine_ReportJson)->Repetitions(5);

// Engine::tick when a report is due: every bot's check, the board, report_json, the page.
void BM_Engine_TickPublish(benchmark::State& state) {
  Engine& engine = publish_scenario().loop->engine();
  static std::uint64_t now = monotonic_ns();  // kept across repetitions: each tick is one interval later
  const std::uint64_t step = static_cast<std::uint64_t>(std::chrono::nanoseconds(engine.config().publish_interval).count());
  const std::uint64_t before = engine.stats().reports_published;
  for (auto _ : state) {
    now += step;
    engine.tick(now);
  }
  state.counters["published"] = static_cast<double>(engine.stats().reports_published - before);
}
BENCHMARK(BM_Engine_TickPublish)->Repetitions(5);

// ---- 2. Decision latency ------------------------------------------------------------------

struct LatencyResult {
  std::vector<double> us;
  std::uint64_t early_trips = 0;  // open before the 10th failure (should be 0)
  std::uint64_t timeouts = 0;     // never seen open within 1 s
  std::uint64_t close_failures = 0;
};

LatencyResult decision_latency(bool busy_spin, int trials, std::uint32_t gap_min_us, std::uint32_t gap_max_us) {
  const std::string name = segment_name(busy_spin ? "latency-busy" : "latency-default");
  Segment segment = create_segment(name);
  ReaderConfig config;
  if (busy_spin) config.idle.spins = UINT32_MAX;
  ReaderLoop loop(segment, config, quiet_options());
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  std::thread reader([&] {
    pin_to_cpu(1);
    loop.run(stop, reload, "");
  });
  pin_to_cpu(0);
  WriterOptions wo;
  wo.segment = name;
  wo.bot = "latency-bot";
  wo.sample_memory = false;
  Writer writer = Writer::attach(wo);
  std::vector<std::string> names;
  std::vector<NameId> ids;
  for (std::uint32_t i = 0; i < kComponents; ++i) {
    names.push_back("exchange-" + std::to_string(i));
    ids.push_back(writer.component(names.back()));
  }
  const double ns_per_tick = segment.calibration().ns_per_tick;
  const auto timeout_ticks = static_cast<std::uint64_t>(1e9 / ns_per_tick);
  Rng rng{busy_spin ? 0xb05ULL : 0xdefULL};
  LatencyResult out;
  for (int t = 0; t < trials; ++t) {
    const std::size_t c = static_cast<std::size_t>(t) % kComponents;
    for (int k = 0; k < 9; ++k) (void)writer.call_outcome(ids[c], false, 0.01);
    std::this_thread::sleep_for(std::chrono::microseconds(gap_min_us + rng.below(gap_max_us - gap_min_us + 1)));
    if (writer.breaker_open(ids[c])) ++out.early_trips;
    const std::uint64_t t0 = read_ticks();
    (void)writer.call_outcome(ids[c], false, 0.01);
    std::uint64_t t1 = t0;
    bool seen = false;
    for (std::uint32_t spin = 0;; ++spin) {
      if (writer.breaker_open(ids[c])) {
        t1 = read_ticks();
        seen = true;
        break;
      }
      TELERING_BENCH_PAUSE();
      if ((spin & 1023) == 0 && read_ticks() - t0 > timeout_ticks) break;
    }
    if (seen) out.us.push_back(static_cast<double>(t1 - t0) * ns_per_tick / 1000.0);
    else ++out.timeouts;
    if (writer.close_circuit_breaker(names[c], std::chrono::seconds(1)) != CommandStatus::Applied) ++out.close_failures;
  }
  stop.store(true, std::memory_order_relaxed);
  reader.join();
  return out;
}

void print_latency_row(const char* mode, const LatencyResult& r, double target_us) {
  const double p99 = quantile(r.us, 0.99);
  std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.1f | %.1f | %" PRIu64 "/%" PRIu64 "/%" PRIu64 " | p99 <= %.0f us: %s |\n", mode,
              r.us.size(), quantile(r.us, 0.0), quantile(r.us, 0.5), quantile(r.us, 0.9), p99, quantile(r.us, 1.0),
              r.early_trips, r.timeouts, r.close_failures, target_us, p99 <= target_us && r.timeouts == 0 ? "met" : "MISSED");
}

// ---- 3. Idle CPU --------------------------------------------------------------------------

long thread_voluntary_switches(pid_t tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("voluntary_ctxt_switches:", 0) == 0) return std::atol(line.c_str() + 24);
  return -1;
}

double thread_cpu_s(pthread_t thread) {
  clockid_t cid{};
  if (::pthread_getcpuclockid(thread, &cid) != 0) return -1.0;
  timespec ts{};
  ::clock_gettime(cid, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs loop.run() for `seconds` on CPU 1 and prints one row: CPU time of that thread (its
// clock via pthread_getcpuclockid) and its voluntary context switches (wake-ups).
void idle_cpu(const char* label, ReaderLoop& loop, double seconds) {
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
  std::atomic<pid_t> tid{0};
  const std::uint64_t reports_before = loop.engine().stats().reports_published;
  std::thread reader([&] {
    pin_to_cpu(1);
    tid.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_release);
    loop.run(stop, reload, "");
  });
  while (tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // past the first spins and yields
  const double cpu0 = thread_cpu_s(reader.native_handle());
  const long sw0 = thread_voluntary_switches(tid.load());
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const double cpu1 = thread_cpu_s(reader.native_handle());
  const long sw1 = thread_voluntary_switches(tid.load());
  const double wall = seconds_since(t0);
  stop.store(true, std::memory_order_relaxed);
  reader.join();
  const double pct = 100.0 * (cpu1 - cpu0) / wall;
  const double wakeups = static_cast<double>(sw1 - sw0) / wall;
  std::printf("| %s | %.2f s | %.1f ms | **%.2f %%** | %.0f/s | %.1f us | %" PRIu64 " | <= 1 %%: %s |\n", label, wall,
              1000.0 * (cpu1 - cpu0), pct, wakeups, wakeups > 0 ? 1e6 * (cpu1 - cpu0) / wall / wakeups : 0.0,
              loop.engine().stats().reports_published - reports_before, pct <= 1.0 ? "met" : "MISSED");
  std::fflush(stdout);
}

void idle_section() {
  std::printf("\n## 3. Reader CPU with idle bots (ReaderLoop::run, default idle strategy, 5 s each)\n\n");
  std::printf("| segment state | wall | thread CPU | %% of a core | wake-ups | CPU per wake-up | reports published | target |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
  {
    LoopScenario& s = loop_scenario();
    char label[160];
    std::snprintf(label, sizeof label, "%zu lanes claimed (empty), %zu bots, %zu breakers, full histories", s.host.lanes(),
                  s.loop->engine().bots().size(), s.loop->engine().breakers().size());
    idle_cpu(label, *s.loop, 5.0);
  }
  {
    Segment segment = create_segment(segment_name("idle-empty"));
    ReaderLoop loop(segment, ReaderConfig{}, quiet_options());
    idle_cpu("fresh segment: no lane claimed, no bots, no breakers", loop, 5.0);
  }
  // Floor: what 1000 wake-ups/s cost on this machine with no work at all.
  std::atomic<bool> stop{false};
  std::atomic<pid_t> tid{0};
  std::thread sleeper([&] {
    pin_to_cpu(1);
    tid.store(static_cast<pid_t>(::syscall(SYS_gettid)), std::memory_order_release);
    while (!stop.load(std::memory_order_relaxed)) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (tid.load(std::memory_order_acquire) == 0) std::this_thread::yield();
  const double cpu0 = thread_cpu_s(sleeper.native_handle());
  const long sw0 = thread_voluntary_switches(tid.load());
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const double cpu1 = thread_cpu_s(sleeper.native_handle());
  const long sw1 = thread_voluntary_switches(tid.load());
  const double wall = seconds_since(t0);
  stop.store(true, std::memory_order_relaxed);
  sleeper.join();
  const double wakeups = static_cast<double>(sw1 - sw0) / wall;
  std::printf("| floor: a thread doing only sleep_for(1 ms), 2 s | %.2f s | %.1f ms | %.2f %% | %.0f/s | %.1f us | - | - |\n", wall,
              1000.0 * (cpu1 - cpu0), 100.0 * (cpu1 - cpu0) / wall, wakeups,
              wakeups > 0 ? 1e6 * (cpu1 - cpu0) / wall / wakeups : 0.0);
}

// ---- 5. Memory ----------------------------------------------------------------------------

struct MemSample {
  std::uint64_t records = 0;  // pushed by the parent and drained by the child
  long vm_rss_kb = 0, vm_hwm_kb = 0, rss_anon_kb = 0, rss_file_kb = 0, rss_shmem_kb = 0;
  std::size_t heap_in_use = 0;  // glibc mallinfo2().uordblks: live heap bytes, without fragmentation
};

struct MemControl {  // in an anonymous shared mapping made before fork
  std::atomic<std::uint32_t> ready{0};      // child: reader running (release)
  std::atomic<std::uint32_t> request{0};    // parent: take sample #request (release)
  std::atomic<std::uint32_t> answered{0};   // child: sample #answered written (release)
  std::atomic<std::uint32_t> quit{0};
  std::atomic<std::uint32_t> done{0};       // child: final stats written (release)
  std::uint64_t engine_records = 0;
  std::uint64_t engine_malformed = 0;
  std::uint64_t segment_bytes = 0;
  MemSample samples[10];
};

MemSample read_status() {
  MemSample s;
  std::ifstream in("/proc/self/status");
  std::string line;
  auto field = [&](const char* key, long& out) {
    const std::size_t n = std::strlen(key);
    if (line.compare(0, n, key) == 0) out = std::atol(line.c_str() + n);
  };
  while (std::getline(in, line)) {
    field("VmRSS:", s.vm_rss_kb);
    field("VmHWM:", s.vm_hwm_kb);
    field("RssAnon:", s.rss_anon_kb);
    field("RssFile:", s.rss_file_kb);
    field("RssShmem:", s.rss_shmem_kb);
  }
  s.heap_in_use = ::mallinfo2().uordblks;
  return s;
}

[[noreturn]] void memory_child(const std::string& name, MemControl& ctl) {
  pin_to_cpu(1);
  SegmentOptions so;
  so.name = name;
  so.create = false;  // as telering-reader attaches (prefaulted)
  Segment segment = Segment::open(so);
  ctl.segment_bytes = segment.size();
  {
    ReaderLoop loop(segment, ReaderConfig{}, quiet_options());
    std::atomic<bool> stop{false};
    std::atomic<bool> reload{false};
    std::thread reader([&] { loop.run(stop, reload, ""); });
    ctl.ready.store(1, std::memory_order_release);
    std::uint32_t answered = 0;
    while (ctl.quit.load(std::memory_order_acquire) == 0) {
      // Pairs with the parent's release store of request (its records count before it).
      const std::uint32_t want = ctl.request.load(std::memory_order_acquire);
      if (want != answered) {
        const std::uint64_t records = ctl.samples[want].records;
        ctl.samples[want] = read_status();
        ctl.samples[want].records = records;
        answered = want;
        ctl.answered.store(want, std::memory_order_release);  // pairs with the parent's acquire wait
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop.store(true, std::memory_order_relaxed);
    reader.join();
    ctl.engine_records = loop.engine().stats().records;
    ctl.engine_malformed = loop.engine().stats().malformed;
  }
  ctl.done.store(1, std::memory_order_release);
  std::_Exit(0);
}

// Runs before any thread exists in this process, so fork() is safe.
void memory_test() {
  std::printf("\n## 5. Reader memory (forked reader-only process, default 64-lane segment)\n\n");
  const std::string name = segment_name("memory");
  void* p = ::mmap(nullptr, sizeof(MemControl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    return;
  }
  auto* ctl = new (p) MemControl();
  const auto t_start = std::chrono::steady_clock::now();
  std::uint64_t pushed = 0;
  std::uint32_t sample = 0;
  {
    Segment segment = create_segment(name);
    std::fflush(stdout);
    const pid_t child = ::fork();
    if (child == 0) memory_child(name, *ctl);
    pin_to_cpu(0);
    BotHost host(segment, 0x5eed3);
    while (ctl->ready.load(std::memory_order_acquire) == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto take = [&] {
      while (!host.drained()) std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let the loop finish the turn's work
      ++sample;
      ctl->samples[sample].records = pushed;
      ctl->request.store(sample, std::memory_order_release);
      while (ctl->answered.load(std::memory_order_acquire) != sample) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    };
    take();
    for (const std::uint64_t target : {1'000'000ULL, 10'000'000ULL, 30'000'000ULL, 50'000'000ULL, 100'000'000ULL}) {
      while (pushed < target) {
        const std::uint64_t n = host.push(target - pushed);
        pushed += n;
        if (n == 0) TELERING_BENCH_PAUSE();
      }
      take();
    }
    ctl->quit.store(1, std::memory_order_release);
    int status = 0;
    ::waitpid(child, &status, 0);
  }
  const double elapsed = seconds_since(t_start);
  std::printf("Segment (mapped, prefaulted by the reader as telering-reader does): %" PRIu64 " B = %.2f MiB. "
              "Reader's engine processed %" PRIu64 " records (pushed %" PRIu64 ", malformed %" PRIu64 ") in %.1f s.\n\n",
              ctl->segment_bytes, static_cast<double>(ctl->segment_bytes) / 1048576.0, ctl->engine_records, pushed,
              ctl->engine_malformed, elapsed);
  std::printf("| records drained | VmRSS MiB | VmHWM MiB | RssAnon MiB | RssFile MiB | RssShmem MiB (segment) | heap in use KiB | <= 64 MiB |\n");
  std::printf("|---:|---:|---:|---:|---:|---:|---:|---|\n");
  for (std::uint32_t i = 1; i <= sample; ++i) {
    const MemSample& s = ctl->samples[i];
    std::printf("| %" PRIu64 " | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %s |\n", s.records, s.vm_rss_kb / 1024.0,
                s.vm_hwm_kb / 1024.0, s.rss_anon_kb / 1024.0, s.rss_file_kb / 1024.0, s.rss_shmem_kb / 1024.0,
                static_cast<double>(s.heap_in_use) / 1024.0,
                s.vm_hwm_kb <= 64 * 1024 ? "met" : "MISSED");
  }
  ::munmap(p, sizeof(MemControl));
}

// BENCH_READER_SECTIONS="memory,gbench,latency,idle" (default: all) runs a subset.
bool section_enabled(const char* name) {
  const char* env = std::getenv("BENCH_READER_SECTIONS");
  return env == nullptr || *env == '\0' || std::strstr(env, name) != nullptr;
}

// KeepingReporter plus the mean CPU time per iteration (wall and CPU part on a busy machine).
class CpuKeepingReporter : public KeepingReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred && r.aggregate_name == "mean") mean_cpu_ns_[r.run_name.function_name] = r.GetAdjustedCPUTime();
    KeepingReporter::ReportRuns(runs);
  }
  [[nodiscard]] double mean_cpu_ns(const std::string& name) const {
    const auto it = mean_cpu_ns_.find(name);
    return it == mean_cpu_ns_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> mean_cpu_ns_;
};

void gbench_section() {
  CpuKeepingReporter reporter;
  std::printf("\n## 1 + 4. Google Benchmark (throughput: manual time = the drain only)\n\n");
  std::fflush(stdout);
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf("\n## 1. Reader throughput (mean of 5 repetitions; 64 lanes x 2048 pre-filled per iteration from CPU 0, "
              "drained on CPU 1)\n\n");
  std::printf("| case | records/s (wall) | records/CPU-s | ns/record (wall) | target |\n|---|---:|---:|---:|---|\n");
  for (const char* n : {"BM_ReaderLoop_Turn", "BM_Engine_OnRecord", "BM_Drainer_PollNoop"}) {
    const double rate = reporter.counter(n, "records_per_s");
    std::printf("| %s | %.1f M | %.1f M | %.1f | %s |\n", n, rate / 1e6, reporter.counter(n, "records_per_cpu_s") / 1e6,
                rate > 0 ? 1e9 / rate : 0.0,
                std::string(n) == "BM_ReaderLoop_Turn" ? (rate >= 20e6 ? ">= 20 M/s: met" : ">= 20 M/s: MISSED") : "");
  }

  std::printf("\n## 4. Health check and report cost (mean of 5 repetitions)\n\n");
  std::printf("| case | ns/call (wall) | ns/call (CPU) | target |\n|---|---:|---:|---|\n");
  for (const char* n : {"BM_Health_RunFullHealthCheck", "BM_Engine_HealthReport", "BM_Engine_AllBotsHealthCheck",
                        "BM_Engine_ReportJson", "BM_Engine_TickPublish"}) {
    const double ns = reporter.mean_ns(n);
    const std::string name(n);
    // The target is the seed's run_full_health_check (one monitor, four components); the
    // all-bots row is 11 of them (host + 10 bots), for information.
    const bool target = name == "BM_Health_RunFullHealthCheck" || name == "BM_Engine_HealthReport";
    std::printf("| %s | %.0f | %.0f | %s |\n", n, ns, reporter.mean_cpu_ns(n),
                target ? (ns <= 10000 ? "<= 10 us: met" : "<= 10 us: MISSED") : "(no target)");
  }
  std::fflush(stdout);
}

void latency_section() {
  std::printf("\n## 2. Decision latency: 10th failed call_outcome -> a writer sees breaker_open (us)\n\n");
  std::printf("| reader idle strategy | trials | min | p50 | p90 | p99 | max | early/timeout/close-fail | target |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---|---|\n");
  std::fflush(stdout);
  const LatencyResult busy = decision_latency(true, 1000, 50, 300);
  print_latency_row("busy-spin (spins = UINT32_MAX), gap 50-300 us", busy, 50.0);
  const LatencyResult standard = decision_latency(false, 300, 1500, 4000);
  print_latency_row("default (200 spins, 50 yields, sleep 50 us..1 ms), gap 1.5-4 ms", standard, 2000.0);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::err);
  print_machine();
  std::printf("date: %s\n", utc_now_text().c_str());
  cpu_set_t all;
  ::sched_getaffinity(0, sizeof all, &all);

  // First, while this process has no other thread: it forks.
  if (section_enabled("memory")) memory_test();
  benchmark::Initialize(&argc, argv);
  if (section_enabled("gbench")) gbench_section();
  ::sched_setaffinity(0, sizeof all, &all);
  if (section_enabled("latency")) latency_section();
  ::sched_setaffinity(0, sizeof all, &all);
  if (section_enabled("idle")) idle_section();

  g_loop.reset();
  g_publish.reset();
  g_drain.reset();
  for (const std::string& n : g_segment_names) (void)Segment::remove(n);
  benchmark::Shutdown();
  return 0;
}
