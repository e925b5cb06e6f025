// bench/bench_record.cpp — what one record costs the bot thread, next to the alternatives.
//
// Every producer/consumer case runs the producer on CPU 0 (the benchmark thread) while a
// consumer drains concurrently on CPU 1, either with the reader's default idle strategy
// (poll; on an empty poll spin 64 pauses, then 8 yields, then sleep 50 us; drain in batches)
// or busy-spinning. Cases, all in this one run:
//   BM_Floor_Record              read_ticks() + store one 64-byte record to thread-local memory
//   BM_Writer_ScanTime/...       telering::Writer::scan_time, drained by telering::Drainer
//   BM_Writer_Error/...          Writer::error(pre-interned id, Medium, 33-byte context)
//   BM_SpscLane_Push/...         telering's SpscProducer/SpscConsumer lane used directly
//   BM_BoostSpscQueue_Push/...   boost::lockfree::spsc_queue<Record, capacity<2048>>
//   BM_BoostQueue_Push/...       boost::lockfree::queue<Record, capacity<2048>> (bounded_push)
//   BM_MutexDeque_Push/...       std::mutex + std::deque<Record> (the seed's thread-safe monitor),
//                                the consumer pops under the lock, 256 per lock hold
//   BM_Writer_BreakerOpen{Id,String}  the decision-board read
//   BM_Writer_BreakerOpenHostScope    the same with per-bot breakers on (scope bot/host): the
//                                     component's entry, then this bot's own
// Bounded queues have the lane's capacity (2048 records) and drop when full; the deque is
// unbounded (as the seed's list is) up to 1 M records. Every case checks its accounting:
// produced == consumed + dropped.
//
// The Google Benchmark time is the mean per call of an untimed loop. After that loop, each
// run times kTimedCalls further calls one by one with read_ticks() before and after (raw
// rdtsc ticks converted with the segment's calibration; nothing subtracted, so each sample
// includes ~one rdtsc of measurement cost) into a histogram; p50..p99.99 are exported as
// counters and, merged over the repetitions, printed in the table after the run.
#include <benchmark/benchmark.h>

#include <boost/lockfree/policies.hpp>
#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <array>
#include <cinttypes>
#include <cstdio>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "bench_support.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/writer.hpp"

namespace {

using namespace telering;
using namespace telering::bench;

constexpr std::uint32_t kCapacity = 2048;        // = default lane capacity
constexpr std::uint64_t kPollMax = 1024;         // records per consumer poll (batch)
constexpr std::uint64_t kIterations = 4'000'000; // untimed calls per repetition
constexpr std::uint64_t kSlowIterations = 1'000'000;
constexpr std::uint64_t kTimedCalls = 1'000'000; // individually timed calls per repetition
constexpr std::size_t kDequeLimit = 1u << 20;
constexpr const char* kErrorContext = "endpoint=/api/v1/market/orderbook";  // 33 bytes

std::string g_segment_name;
std::optional<Writer> g_writer;
double g_ns_per_tick = 1.0;
NameId g_error_id = kNoName;
NameId g_component_id = kNoName;
NameId g_scoped_component_id = kNoName;  // flagged kEntryPerBotBreakers, as the reader does for scope host
std::uint32_t g_raw_lane = 0;

struct Tally {
  std::uint64_t produced = 0;
  std::uint64_t consumed = 0;
  std::uint64_t dropped = 0;
};
std::map<std::string, TickHistogram> g_hist;
std::map<std::string, Tally> g_tally;

thread_local Record t_floor_slot;

Record make_record(std::uint64_t ticks) noexcept {
  Record r;
  r.timestamp = ticks;
  r.value = 25.5;
  r.thread_id = 1;
  r.name_id = 0;
  r.aux_id = 0;
  r.bot_id = 1;
  r.kind = RecordKind::ScanTime;
  r.severity = Severity::None;
  r.flags = 0;
  r.context_len = 0;
  return r;
}

// Producer side of every case: push() returns false when the record was dropped. After the
// untimed loop, times kTimedCalls more calls, stops the consumer and checks the accounting.
template <typename Push, typename Consumer>
void run_producer(benchmark::State& state, const std::string& key, Push&& push, Consumer& consumer) {
  const long cs0 = involuntary_switches();
  std::uint64_t produced = 0;
  std::uint64_t dropped = 0;
  for (auto _ : state) {
    dropped += push() ? 0 : 1;
    ++produced;
  }
  TickHistogram h;
  time_each_call(h, kTimedCalls, [&] {
    dropped += push() ? 0 : 1;
    ++produced;
  });
  const std::uint64_t consumed = consumer.stop();
  if (consumed + dropped != produced) {
    state.SkipWithError(("accounting broken: produced " + std::to_string(produced) + " != consumed " +
                         std::to_string(consumed) + " + dropped " + std::to_string(dropped)).c_str());
  }
  export_percentiles(state, h, g_ns_per_tick);
  state.counters["drop_%"] = 100.0 * static_cast<double>(dropped) / static_cast<double>(produced);
  state.counters["invcsw"] = static_cast<double>(involuntary_switches() - cs0);
  g_hist[key].merge(h);
  Tally& t = g_tally[key];
  t.produced += produced;
  t.consumed += consumed;
  t.dropped += dropped;
}

// --- floor ---------------------------------------------------------------------------
void BM_Floor_Record(benchmark::State& state) {
  pin_to_cpu(0);
  auto push = [] {
    t_floor_slot = make_record(read_ticks());
    benchmark::ClobberMemory();  // the store happens every call
    return true;
  };
  const long cs0 = involuntary_switches();
  for (auto _ : state) push();
  TickHistogram h;
  time_each_call(h, kTimedCalls, push);
  export_percentiles(state, h, g_ns_per_tick);
  state.counters["invcsw"] = static_cast<double>(involuntary_switches() - cs0);
  g_hist["BM_Floor_Record"].merge(h);
}

// --- telering Writer + Drainer -----------------------------------------------------------
struct CountingHandler {
  std::uint64_t records = 0;
  std::uint64_t malformed = 0;
  void on_record(const Record& r, const RecordSource&) noexcept {
    ++records;
    benchmark::DoNotOptimize(r.timestamp);
  }
  void on_malformed(RecordFault, const Record&, const RecordSource&) noexcept { ++malformed; }
};

auto drainer_poll(const Segment& segment) {
  return [drainer = Drainer(segment), handler = CountingHandler{}]() mutable {
    const DrainStats s = drainer.poll(handler, kPollMax, monotonic_ns());
    return s.delivered + s.malformed;
  };
}

template <typename Record1>
void writer_case(benchmark::State& state, const std::string& key, Idle idle, Record1 record_one) {
  pin_to_cpu(0);
  Writer& w = *g_writer;
  (void)record_one();  // claims this thread's lane before the consumer starts
  const std::uint64_t lane_drops_before = w.stats().dropped;
  ConsumerThread consumer(idle, drainer_poll(w.segment()));
  // The record above may still be in the lane: the consumer counts it, so count it produced.
  const long cs0 = involuntary_switches();
  std::uint64_t produced = 1;
  std::uint64_t dropped = 0;
  for (auto _ : state) {
    dropped += record_one() == RecordResult::Recorded ? 0 : 1;
    ++produced;
  }
  TickHistogram h;
  time_each_call(h, kTimedCalls, [&] {
    dropped += record_one() == RecordResult::Recorded ? 0 : 1;
    ++produced;
  });
  const std::uint64_t consumed = consumer.stop();
  const std::uint64_t lane_drops = w.stats().dropped - lane_drops_before;
  if (consumed + dropped != produced || lane_drops != dropped) {
    state.SkipWithError(("accounting broken: produced " + std::to_string(produced) + ", consumed " +
                         std::to_string(consumed) + ", dropped " + std::to_string(dropped) + ", lane drop counter " +
                         std::to_string(lane_drops)).c_str());
  }
  export_percentiles(state, h, g_ns_per_tick);
  state.counters["drop_%"] = 100.0 * static_cast<double>(dropped) / static_cast<double>(produced);
  state.counters["invcsw"] = static_cast<double>(involuntary_switches() - cs0);
  g_hist[key].merge(h);
  Tally& t = g_tally[key];
  t.produced += produced;
  t.consumed += consumed;
  t.dropped += dropped;
}

void BM_Writer_ScanTime(benchmark::State& state, Idle idle, const std::string& key) {
  writer_case(state, key, idle, [] { return g_writer->scan_time(25.5); });
}

void BM_Writer_Error(benchmark::State& state, Idle idle, const std::string& key) {
  writer_case(state, key, idle, [] { return g_writer->error(g_error_id, Severity::Medium, kErrorContext); });
}

// --- telering lane used directly ---------------------------------------------------------
void BM_SpscLane_Push(benchmark::State& state, Idle idle, const std::string& key) {
  pin_to_cpu(0);
  Segment& seg = g_writer->segment();
  const std::uint32_t cap = seg.geometry().lane_capacity;
  SpscProducer producer(&seg.lane(g_raw_lane), seg.lane_records(g_raw_lane), cap);
  auto poll = [c = SpscConsumer(&seg.lane(g_raw_lane), seg.lane_records(g_raw_lane), cap)]() mutable {
    return c.poll([](const Record& r) { benchmark::DoNotOptimize(r.timestamp); }, kPollMax).delivered;
  };
  ConsumerThread consumer(idle, poll);
  auto push = [&] {
    return producer.try_push([](Record& r) noexcept { r = make_record(read_ticks()); });
  };
  run_producer(state, key, push, consumer);
}

// --- boost::lockfree::spsc_queue -----------------------------------------------------------
using BoostSpsc = boost::lockfree::spsc_queue<Record, boost::lockfree::capacity<kCapacity>>;
std::unique_ptr<BoostSpsc> g_boost_spsc;

void BM_BoostSpscQueue_Push(benchmark::State& state, Idle idle, const std::string& key) {
  pin_to_cpu(0);
  BoostSpsc& q = *g_boost_spsc;
  auto poll = [&q, buf = std::make_unique<std::array<Record, kPollMax>>()]() mutable -> std::uint64_t {
    const std::size_t n = q.pop(buf->data(), buf->size());
    for (std::size_t i = 0; i < n; ++i) benchmark::DoNotOptimize((*buf)[i].timestamp);
    return n;
  };
  ConsumerThread consumer(idle, std::move(poll));
  auto push = [&q] { return q.push(make_record(read_ticks())); };
  run_producer(state, key, push, consumer);
}

// --- boost::lockfree::queue (MPMC) ----------------------------------------------------------
using BoostQueue = boost::lockfree::queue<Record, boost::lockfree::capacity<kCapacity>>;
std::unique_ptr<BoostQueue> g_boost_queue;

void BM_BoostQueue_Push(benchmark::State& state, Idle idle, const std::string& key) {
  pin_to_cpu(0);
  BoostQueue& q = *g_boost_queue;
  auto poll = [&q]() -> std::uint64_t {
    std::uint64_t n = 0;
    Record r;
    while (n < kPollMax && q.pop(r)) {
      benchmark::DoNotOptimize(r.timestamp);
      ++n;
    }
    return n;
  };
  ConsumerThread consumer(idle, poll);
  auto push = [&q] { return q.bounded_push(make_record(read_ticks())); };
  run_producer(state, key, push, consumer);
}

// --- std::mutex + std::deque ----------------------------------------------------------------
struct MutexDeque {
  std::mutex mutex;
  std::deque<Record> records;
};
std::unique_ptr<MutexDeque> g_mutex_deque;

void BM_MutexDeque_Push(benchmark::State& state, Idle idle, const std::string& key) {
  pin_to_cpu(0);
  MutexDeque& m = *g_mutex_deque;
  auto poll = [&m]() -> std::uint64_t {
    std::uint64_t n = 0;
    std::lock_guard lock(m.mutex);
    while (n < kPollMax && !m.records.empty()) {
      benchmark::DoNotOptimize(m.records.front().timestamp);
      m.records.pop_front();
      ++n;
    }
    return n;
  };
  ConsumerThread consumer(idle, poll);
  auto push = [&m] {
    const Record r = make_record(read_ticks());
    std::lock_guard lock(m.mutex);
    if (m.records.size() >= kDequeLimit) return false;
    m.records.push_back(r);
    return true;
  };
  run_producer(state, key, push, consumer);
}

// --- decision board -----------------------------------------------------------------------
void BM_Writer_BreakerOpenId(benchmark::State& state) {
  pin_to_cpu(0);
  const Writer& w = *g_writer;
  for (auto _ : state) benchmark::DoNotOptimize(w.breaker_open(g_component_id));
}

void BM_Writer_BreakerOpenString(benchmark::State& state) {
  pin_to_cpu(0);
  const Writer& w = *g_writer;
  for (auto _ : state) benchmark::DoNotOptimize(w.breaker_open(std::string_view("market_scanner")));
}

void BM_Writer_BreakerOpenHostScope(benchmark::State& state) {
  pin_to_cpu(0);
  const Writer& w = *g_writer;
  for (auto _ : state) benchmark::DoNotOptimize(w.breaker_open(g_scoped_component_id));
}

void register_all() {
  constexpr int kReps = 5;
  auto reg = [](const std::string& name, auto fn, std::uint64_t iterations) {
    benchmark::RegisterBenchmark(name.c_str(), fn)
        ->Iterations(static_cast<benchmark::IterationCount>(iterations))
        ->Repetitions(kReps)
        ->ReportAggregatesOnly(true)
        ->UseRealTime()
        ->Unit(benchmark::kNanosecond);
  };
  reg("BM_Floor_Record", BM_Floor_Record, kIterations);
  for (Idle idle : {Idle::Default, Idle::BusySpin}) {
    const std::string suffix = std::string("/") + to_string(idle);
    auto with = [idle](auto fn, std::string key) { return [fn, idle, key](benchmark::State& s) { fn(s, idle, key); }; };
    for (auto [name, fn, iters] : {
             std::tuple{"BM_Writer_ScanTime", &BM_Writer_ScanTime, kIterations},
             std::tuple{"BM_Writer_Error", &BM_Writer_Error, kIterations},
             std::tuple{"BM_SpscLane_Push", &BM_SpscLane_Push, kIterations},
             std::tuple{"BM_BoostSpscQueue_Push", &BM_BoostSpscQueue_Push, kIterations},
             std::tuple{"BM_BoostQueue_Push", &BM_BoostQueue_Push, kIterations},
             std::tuple{"BM_MutexDeque_Push", &BM_MutexDeque_Push, kSlowIterations},
         }) {
      const std::string key = std::string(name) + suffix;
      reg(key, with(fn, key), iters);
    }
  }
  reg("BM_Writer_BreakerOpenId", BM_Writer_BreakerOpenId, 200'000'000);
  reg("BM_Writer_BreakerOpenString", BM_Writer_BreakerOpenString, 50'000'000);
  reg("BM_Writer_BreakerOpenHostScope", BM_Writer_BreakerOpenHostScope, 200'000'000);
}

void print_tables(const KeepingReporter& rep) {
  std::printf("\nPer-call latency, rdtsc before/after each call (raw: includes ~1 rdtsc, nothing subtracted),\n"
              "merged over all repetitions; ns_per_tick = %.5f\n",
              g_ns_per_tick);
  std::printf("mean_ns = Google Benchmark mean of the untimed loops; drop_%% over all calls of the case\n");
  std::printf("%-36s %9s %8s %8s %8s %9s %9s %10s %9s %8s\n", "case", "mean_ns", "p50", "p90", "p99", "p99.9",
              "p99.99", "max", "samples", "drop_%");
  for (const auto& [key, h] : g_hist) {
    const Percentiles p = percentiles(h, g_ns_per_tick);
    const auto t = g_tally.find(key);
    const double drop = t == g_tally.end() || t->second.produced == 0
                            ? 0.0
                            : 100.0 * static_cast<double>(t->second.dropped) / static_cast<double>(t->second.produced);
    std::printf("%-36s %9.2f %8.1f %8.1f %8.1f %9.1f %9.1f %10.1f %9" PRIu64 " %8.2f\n", key.c_str(), rep.mean_ns(key),
                p.p50, p.p90, p.p99, p.p999, p.p9999, p.max, h.count(), drop);
  }
  std::printf("%-36s %9.3f\n", "BM_Writer_BreakerOpenId", rep.mean_ns("BM_Writer_BreakerOpenId"));
  std::printf("%-36s %9.3f\n", "BM_Writer_BreakerOpenString", rep.mean_ns("BM_Writer_BreakerOpenString"));
  std::printf("%-36s %9.3f\n", "BM_Writer_BreakerOpenHostScope", rep.mean_ns("BM_Writer_BreakerOpenHostScope"));

  std::printf("\nAccounting (all repetitions): produced == consumed + dropped\n");
  for (const auto& [key, t] : g_tally)
    std::printf("  %-36s produced %10" PRIu64 "  consumed %10" PRIu64 "  dropped %10" PRIu64 "  %s\n", key.c_str(),
                t.produced, t.consumed, t.dropped, t.produced == t.consumed + t.dropped ? "exact" : "MISMATCH");

  const double floor = rep.mean_ns("BM_Floor_Record");
  const Percentiles pf = percentiles(g_hist["BM_Floor_Record"], g_ns_per_tick);
  auto verdict = [](bool ok) { return ok ? "MET" : "MISSED"; };
  std::printf("\nRatios against the issue-2 targets (means are Google Benchmark real time per call)\n");
  for (Idle idle : {Idle::Default, Idle::BusySpin}) {
    const std::string s = std::string("/") + to_string(idle);
    const double tw = rep.mean_ns("BM_Writer_ScanTime" + s);
    const double twm = rep.median_ns("BM_Writer_ScanTime" + s);
    const double md = rep.mean_ns("BM_MutexDeque_Push" + s);
    const double sq = rep.mean_ns("BM_BoostSpscQueue_Push" + s);
    const double bq = rep.mean_ns("BM_BoostQueue_Push" + s);
    const double ln = rep.mean_ns("BM_SpscLane_Push" + s);
    const Percentiles pw = percentiles(g_hist["BM_Writer_ScanTime" + s], g_ns_per_tick);
    const Percentiles pm = percentiles(g_hist["BM_MutexDeque_Push" + s], g_ns_per_tick);
    std::printf(" consumer %s:\n", to_string(idle));
    std::printf("  telering/floor              %6.2fx  (target <= 1.5x)   %s   [medians: %.2fx]\n", tw / floor,
                verdict(tw / floor <= 1.5), twm / rep.median_ns("BM_Floor_Record"));
    std::printf("  mutex_deque/telering        %6.2fx  (target >= 3x)     %s   [medians: %.2fx]\n", md / tw, verdict(md / tw >= 3.0),
                rep.median_ns("BM_MutexDeque_Push" + s) / twm);
    std::printf("  spsc_queue/telering         %6.2fx  (target > 1x)      %s   [medians: %.2fx]\n", sq / tw, verdict(sq / tw > 1.0),
                rep.median_ns("BM_BoostSpscQueue_Push" + s) / twm);
    std::printf("  boost_queue/telering        %6.2fx  (info)\n", bq / tw);
    std::printf("  spsc_lane/telering          %6.2fx  (info: raw lane vs full Writer)\n", ln / tw);
    std::printf("  p50 telering - floor        %6.1f ns (target <= 10 ns) %s\n", pw.p50 - pf.p50, verdict(pw.p50 - pf.p50 <= 10.0));
    std::printf("  p99.9 mutex_deque/telering  %6.1fx  (target >= 50x)    %s\n", pm.p999 / pw.p999, verdict(pm.p999 / pw.p999 >= 50.0));
    std::printf("  p99.9 telering              %6.1f ns (target <= 300)  %s\n", pw.p999, verdict(pw.p999 <= 300.0));
    std::printf("  p99.99 telering             %6.1f ns (target < 1000)  %s\n", pw.p9999, verdict(pw.p9999 < 1000.0));
  }
  const double br = rep.mean_ns("BM_Writer_BreakerOpenId");
  std::printf(" breaker_open(NameId)         %6.3f ns (target <= 2 ns)  %s\n", br, verdict(br <= 2.0));
  std::printf(" breaker_open(\"market_scanner\") %6.3f ns (info: string lookup)\n", rep.mean_ns("BM_Writer_BreakerOpenString"));
  const double hs = rep.mean_ns("BM_Writer_BreakerOpenHostScope");
  std::printf(" breaker_open(NameId), host scope %6.3f ns (target <= 2 ns)  %s\n", hs, verdict(hs <= 2.0));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  print_machine();
  g_segment_name = "telering-bench-record-" + std::to_string(::getpid());
  Segment::remove(g_segment_name);
  try {
    WriterOptions wo;
    wo.segment = g_segment_name;
    wo.bot = "bench-bot";
    wo.sample_memory = false;  // no third thread on a 2-core machine
    g_writer.emplace(Writer::attach(wo));
    g_ns_per_tick = g_writer->segment().calibration().ns_per_tick;
    g_error_id = g_writer->error_type("api_rate_limit");
    g_component_id = g_writer->component("market_scanner");
    g_scoped_component_id = g_writer->component("exchange_api");
    Segment& seg = g_writer->segment();
    BoardWriter(&seg.board(), seg.board_entries(), seg.geometry().name_capacity)
        .set_flags(g_scoped_component_id, kEntryPerBotBreakers);
    (void)g_writer->own_breaker(g_scoped_component_id);  // interned once, as on a bot's first check
    // The raw-lane case gets a lane of its own, claimed like a writer thread would.
    for (std::uint32_t i = seg.geometry().lane_count; i-- > 0;) {
      std::uint64_t expected = 0;
      if (seg.lane(i).owner.compare_exchange_strong(expected, make_owner(static_cast<std::uint32_t>(::getpid()), 1),
                                                   std::memory_order_acquire, std::memory_order_relaxed)) {
        g_raw_lane = i;
        break;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_record: %s\n", e.what());
    Segment::remove(g_segment_name);
    return 1;
  }
  std::printf("segment %s: %zu bytes, ns_per_tick %.5f\n", g_segment_name.c_str(), g_writer->segment().size(), g_ns_per_tick);
  g_boost_spsc = std::make_unique<BoostSpsc>();
  g_boost_queue = std::make_unique<BoostQueue>();
  g_mutex_deque = std::make_unique<MutexDeque>();
  // Touch every slot once so no case pays first-touch page faults.
  for (std::uint32_t i = 0; i < kCapacity; ++i) {
    (void)g_boost_spsc->push(make_record(0));
    (void)g_boost_queue->bounded_push(make_record(0));
  }
  Record sink;
  while (g_boost_spsc->pop(sink)) {}
  while (g_boost_queue->pop(sink)) {}

  register_all();
  KeepingReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  print_tables(reporter);

  Segment& seg = g_writer->segment();
  seg.lane(g_raw_lane).owner.store(0, std::memory_order_release);  // give the raw lane back
  g_writer.reset();
  Segment::remove(g_segment_name);
  return 0;
}
