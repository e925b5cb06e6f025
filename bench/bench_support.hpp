// bench/bench_support.hpp — pieces shared by the telering benchmarks: thread pinning, the
// consumer idle strategies, an rdtsc latency histogram and a reporter that keeps the
// aggregate results so main() can print ratio tables after the run.
//
// Latencies are raw: each call is bracketed by two read_ticks() (rdtsc, not serialising) and
// the difference is converted with the segment's (or calibrate_ticks()'s) ns_per_tick.
// Nothing is subtracted: the figures include about one rdtsc of measurement cost.
#pragma once

#include <benchmark/benchmark.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "telering/core/clock.hpp"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TELERING_BENCH_PAUSE() _mm_pause()
#else
#define TELERING_BENCH_PAUSE() std::this_thread::yield()
#endif

namespace telering::bench {

// The q-quantile (0..1) of v by nearest rank; 0 for an empty v.
inline double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}
inline double median(std::vector<double> v) { return quantile(std::move(v), 0.5); }

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU time of the calling thread: a drain preempted by another process (this machine is
// shared) loses wall time but not CPU time, so both rates are reported.
inline double thread_cpu_now() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Involuntary context switches of the calling thread so far: a case that was preempted
// (another process on its CPU) shows it here, and its tail figures are the machine's.
inline long involuntary_switches() noexcept {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return ru.ru_nivcsw;
}

// Pins the calling thread to `cpu` when the machine has at least two CPUs. Producer on 0,
// consumer on 1, so the two never share a core and every shared line crosses between them.
inline void pin_to_cpu(int cpu) noexcept {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 2) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<unsigned>(cpu % n), &set);
  (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

// What a consumer does when a poll returned nothing.
enum class Idle {
  Default,   // the reader's: spin briefly, then yield, then sleep ~50 us
  BusySpin,  // poll again at once (pause only)
};

inline const char* to_string(Idle i) noexcept { return i == Idle::Default ? "DefaultIdle" : "BusySpin"; }

class IdleStrategy {
 public:
  static constexpr std::uint32_t kSpins = 64;
  static constexpr std::uint32_t kYields = 8;
  static constexpr std::chrono::microseconds kSleep{50};

  explicit IdleStrategy(Idle mode) noexcept : mode_(mode) {}

  void idle(std::uint64_t work_done) noexcept {
    if (work_done != 0) {
      count_ = 0;
      return;
    }
    if (mode_ == Idle::BusySpin) {
      TELERING_BENCH_PAUSE();
      return;
    }
    ++count_;
    if (count_ <= kSpins) {
      TELERING_BENCH_PAUSE();
    } else if (count_ <= kSpins + kYields) {
      ::sched_yield();
    } else {
      std::this_thread::sleep_for(kSleep);
    }
  }

 private:
  Idle mode_;
  std::uint32_t count_ = 0;
};

// Runs `poll()` (returns records consumed) on its own thread pinned to CPU 1 until stopped,
// then drains what is left. poll must be safe to call from that thread only.
template <typename Poll>
class ConsumerThread {
 public:
  ConsumerThread(Idle mode, Poll poll) : poll_(std::move(poll)) {
    thread_ = std::thread([this, mode] {
      pin_to_cpu(1);
      IdleStrategy idle(mode);
      started_.store(true, std::memory_order_release);
      // Pairs with the release store in stop(): every record pushed before it is visible
      // to the final drain below.
      while (!stop_.load(std::memory_order_acquire)) idle.idle(consume(poll_()));
      for (int empty = 0; empty < 3;) empty = consume(poll_()) == 0 ? empty + 1 : 0;
    });
    while (!started_.load(std::memory_order_acquire)) std::this_thread::yield();
  }
  ConsumerThread(const ConsumerThread&) = delete;
  ConsumerThread& operator=(const ConsumerThread&) = delete;
  ~ConsumerThread() { stop(); }

  // Stops the consumer after it drained everything; returns the records it consumed.
  std::uint64_t stop() {
    if (thread_.joinable()) {
      stop_.store(true, std::memory_order_release);
      thread_.join();
    }
    return consumed_;
  }

 private:
  std::uint64_t consume(std::uint64_t n) noexcept {
    consumed_ += n;
    return n;
  }

  Poll poll_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::uint64_t consumed_ = 0;
  std::thread thread_;
};

// Latency histogram in ticks: exact below kExact ticks, the rest kept individually (rare).
class TickHistogram {
 public:
  static constexpr std::uint64_t kExact = 1u << 14;

  TickHistogram() : exact_(kExact, 0) { overflow_.reserve(1u << 16); }

  void add(std::uint64_t ticks) noexcept {
    ++count_;
    if (ticks > max_) max_ = ticks;
    if (ticks < kExact) {
      ++exact_[ticks];
    } else if (overflow_.size() < overflow_.capacity()) {
      overflow_.push_back(ticks);  // never reallocates: capacity reserved up front
    } else {
      ++overflow_lost_;  // counted in count_ and max_, not in the percentiles above p99.99
    }
  }

  // Empties the histogram without giving back its memory (no allocation when reused).
  void clear() noexcept {
    std::fill(exact_.begin(), exact_.end(), 0);
    overflow_.clear();
    count_ = max_ = overflow_lost_ = 0;
  }

  void merge(const TickHistogram& o) {
    for (std::uint64_t i = 0; i < kExact; ++i) exact_[i] += o.exact_[i];
    overflow_.insert(overflow_.end(), o.overflow_.begin(), o.overflow_.end());
    count_ += o.count_;
    max_ = std::max(max_, o.max_);
    overflow_lost_ += o.overflow_lost_;
  }

  [[nodiscard]] std::uint64_t count() const noexcept { return count_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

  // Number of samples strictly above `ticks`.
  [[nodiscard]] std::uint64_t count_above(std::uint64_t ticks) const noexcept {
    std::uint64_t n = overflow_lost_;
    for (std::uint64_t i = ticks + 1; i < kExact; ++i) n += exact_[i];
    for (std::uint64_t v : overflow_) n += v > ticks ? 1 : 0;
    return n;
  }

  // Value at quantile q (0..1), in ticks.
  [[nodiscard]] std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1));
    std::uint64_t seen = 0;
    for (std::uint64_t i = 0; i < kExact; ++i) {
      seen += exact_[i];
      if (seen > rank) return i;
    }
    std::vector<std::uint64_t> rest = overflow_;
    std::sort(rest.begin(), rest.end());
    const std::uint64_t k = rank - seen;
    return k < rest.size() ? rest[k] : max_;
  }

 private:
  std::vector<std::uint64_t> exact_;
  std::vector<std::uint64_t> overflow_;
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t overflow_lost_ = 0;
};

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, p9999 = 0, max = 0;
};

inline Percentiles percentiles(const TickHistogram& h, double ns_per_tick) {
  Percentiles p;
  p.p50 = static_cast<double>(h.quantile(0.50)) * ns_per_tick;
  p.p90 = static_cast<double>(h.quantile(0.90)) * ns_per_tick;
  p.p99 = static_cast<double>(h.quantile(0.99)) * ns_per_tick;
  p.p999 = static_cast<double>(h.quantile(0.999)) * ns_per_tick;
  p.p9999 = static_cast<double>(h.quantile(0.9999)) * ns_per_tick;
  p.max = static_cast<double>(h.max()) * ns_per_tick;
  return p;
}

inline void export_percentiles(benchmark::State& state, const TickHistogram& h, double ns_per_tick) {
  const Percentiles p = percentiles(h, ns_per_tick);
  state.counters["p50_ns"] = p.p50;
  state.counters["p99_ns"] = p.p99;
  state.counters["p99.9_ns"] = p.p999;
  state.counters["p99.99_ns"] = p.p9999;
}

// Times `calls` calls of op() one by one into h.
template <typename Op>
inline void time_each_call(TickHistogram& h, std::uint64_t calls, Op&& op) {
  for (std::uint64_t i = 0; i < calls; ++i) {
    const std::uint64_t t0 = read_ticks();
    op();
    const std::uint64_t t1 = read_ticks();
    h.add(t1 - t0);
  }
}

// Console output as usual, plus the aggregate "mean" rows kept for the ratio tables.
class KeepingReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;  // e.g. KeepingReporter(OO_Tabular): no colours
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      if (r.error_occurred || r.aggregate_name != "mean") continue;
      // Keyed by the registered name, without the /iterations:/repeats: decorations.
      const std::string key = r.run_name.function_name + (r.run_name.args.empty() ? "" : "/" + r.run_name.args);
      mean_real_ns_[key] = r.GetAdjustedRealTime();
      if (const Run* m = find_median(runs, r.run_name.str())) median_real_ns_[key] = m->GetAdjustedRealTime();
      counters_[key] = r.counters;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  // Mean real time per iteration (ns) of benchmark `name` (without the aggregate suffix).
  [[nodiscard]] double mean_ns(const std::string& name) const {
    const auto it = mean_real_ns_.find(name);
    return it == mean_real_ns_.end() ? 0.0 : it->second;
  }
  [[nodiscard]] double counter(const std::string& name, const std::string& key) const {
    const auto it = counters_.find(name);
    if (it == counters_.end()) return 0.0;
    const auto c = it->second.find(key);
    return c == it->second.end() ? 0.0 : c->second.value;
  }
  [[nodiscard]] double median_ns(const std::string& name) const {
    const auto it = median_real_ns_.find(name);
    return it == median_real_ns_.end() ? 0.0 : it->second;
  }

 private:
  static const Run* find_median(const std::vector<Run>& runs, const std::string& run_name) {
    for (const Run& m : runs)
      if (m.aggregate_name == "median" && m.run_name.str() == run_name) return &m;
    return nullptr;
  }
  std::map<std::string, double> median_real_ns_;
  std::map<std::string, double> mean_real_ns_;
  std::map<std::string, benchmark::UserCounters> counters_;
};

// Now in UTC as 2026-12-02T06:30:15Z, for a benchmark's header.
inline std::string utc_now_text() {
  const std::time_t t = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&t, &utc);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return date;
}

inline void print_machine() {
  char host[256] = {};
  (void)::gethostname(host, sizeof host - 1);
  std::string model = "unknown";
  if (std::FILE* f = std::fopen("/proc/cpuinfo", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
      std::string s(line);
      if (s.rfind("model name", 0) == 0) {
        model = s.substr(s.find(':') + 2);
        if (!model.empty() && model.back() == '\n') model.pop_back();
        break;
      }
    }
    std::fclose(f);
  }
  std::printf("machine: %s, %ld CPUs, model \"%s\", TSC invariant: %s\n", host, ::sysconf(_SC_NPROCESSORS_ONLN),
              model.c_str(), ticks_are_tsc() ? "yes" : "no");
}

}  // namespace telering::bench
