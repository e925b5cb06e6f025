// Host-wide limits (issue 7): cost of RateLimiter::try_acquire and RetryBudget::try_take,
// alone and with both cores contending on the same bucket. Targets: <= 20 ns uncontended,
// p99 <= 100 ns with two threads contending.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <memory>

#include "bench_support.hpp"
#include "telering/core/fleet_limits_writer.hpp"
#include "telering/writer.hpp"

namespace {

using telering::Acquire;

struct Shared {
  std::string name = "telering-bench-fleet-" + std::to_string(::getpid());
  std::unique_ptr<telering::Writer> writer;
  Shared() {
    telering::Segment::remove(name);
    telering::WriterOptions o;
    o.segment = name;
    o.sample_memory = false;
    writer = std::make_unique<telering::Writer>(telering::Writer::attach(o));
    telering::Segment& s = writer->segment();
    // A bucket that grants nearly everything (a refusal path would be measured separately):
    // 1e9 requests per second, bursts of 1e6.
    telering::configure_rate_bucket(s.rate_buckets(), writer->name(telering::NameKind::RateGroup, "kucoin_public"),
                                    1'000'000'000, 1'000'000'000, 1'000'000, s.calibration());
    telering::configure_rate_bucket(s.rate_buckets(), writer->name(telering::NameKind::RateGroup, "tight"), 1, 1'000'000'000,
                                    1, s.calibration());
    s.fleet().retry_tokens.store(std::int64_t{1} << 60);
    s.fleet().retry_budget_enabled.store(1);
  }
  ~Shared() {
    writer.reset();
    telering::Segment::remove(name);
  }
};

Shared& shared() {
  static Shared s;
  return s;
}

// Google Benchmark's mean, plus each call timed with rdtsc (nothing subtracted): p50/p99 per
// thread, averaged over the threads (kAvgThreads).
template <typename Op>
void run_timed(benchmark::State& state, Op&& op) {
  if (state.threads() > 1) telering::bench::pin_to_cpu(state.thread_index() % 2);
  const double ns_per_tick = shared().writer->segment().calibration().ns_per_tick;
  telering::bench::TickHistogram mine;
  for (auto _ : state) benchmark::DoNotOptimize(op());
  telering::bench::time_each_call(mine, 200'000, [&] { benchmark::DoNotOptimize(op()); });
  const telering::bench::Percentiles p = telering::bench::percentiles(mine, ns_per_tick);
  state.counters["p50_ns"] = benchmark::Counter(p.p50, benchmark::Counter::kAvgThreads);
  state.counters["p99_ns"] = benchmark::Counter(p.p99, benchmark::Counter::kAvgThreads);
  state.counters["p99.9_ns"] = benchmark::Counter(p.p999, benchmark::Counter::kAvgThreads);
}

void BM_RateLimiter_TryAcquire(benchmark::State& state) {
  telering::RateLimiter limiter = shared().writer->rate_limiter("kucoin_public");
  run_timed(state, [&] { return limiter.try_acquire() == Acquire::Granted; });
}
BENCHMARK(BM_RateLimiter_TryAcquire)->Threads(1)->Threads(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();

// The same GCRA step as RateLimiter::try_acquire_at, but with a plain load of tat before the
// CAS (the first version): kept to show, in the same run, what fetching the line with the
// CAS itself saves when both cores contend.
void BM_RateLimiter_TryAcquireLoadFirst(benchmark::State& state) {
  telering::Segment& seg = shared().writer->segment();
  telering::RateBucket* b = telering::find_rate_bucket(seg.rate_buckets(), shared().writer->name(telering::NameKind::RateGroup, "kucoin_public"));
  run_timed(state, [b] {
    const std::uint64_t now = telering::read_ticks();
    const std::uint64_t interval = b->interval_ticks.load(std::memory_order_relaxed);
    const std::uint64_t tolerance = b->tolerance_ticks.load(std::memory_order_relaxed);
    std::uint64_t tat = b->tat.load(std::memory_order_relaxed);
    for (;;) {
      if (now + tolerance < tat) return false;
      if (b->tat.compare_exchange_weak(tat, (tat > now ? tat : now) + interval, std::memory_order_relaxed)) return true;
    }
  });
}
BENCHMARK(BM_RateLimiter_TryAcquireLoadFirst)->Threads(1)->Threads(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();

void BM_RateLimiter_Refused(benchmark::State& state) {
  telering::RateLimiter limiter = shared().writer->rate_limiter("tight");
  run_timed(state, [&] { return limiter.try_acquire() == Acquire::Granted; });
}
BENCHMARK(BM_RateLimiter_Refused)->Threads(1)->Threads(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();

void BM_RetryBudget_TryTake(benchmark::State& state) {
  telering::RetryBudget budget = shared().writer->retry_budget();
  run_timed(state, [&] { return budget.try_take() == Acquire::Granted; });
}
BENCHMARK(BM_RetryBudget_TryTake)->Threads(1)->Threads(2)->Repetitions(3)->ReportAggregatesOnly(true)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
