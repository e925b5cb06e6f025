// bench/bench_overload.cpp — recording with the reader down, and what the writer costs in heap.
//
// 1. Heap: this binary replaces the global operator new/delete to count every allocation
//    (calls, requested bytes, live bytes) and also reads glibc's mallinfo2() (in-use bytes
//    over all arenas, which also sees C-level malloc such as fopen buffers). It reports the
//    heap added by Writer::attach (default options: memory sampler thread on), by a thread's
//    first record (lane claim), by 10 M records, and by a second thread's lane claim; and
//    the default segment's size (Segment::size(), shared memory, not heap).
// 2. Overload: no consumer at all. The lane fills after lane_capacity records and every later
//    call drops and counts. kCalls calls are each timed with read_ticks() before/after (raw,
//    nothing subtracted); the worst case and the number of calls above 1 us / 10 us / 1 ms
//    are printed, and recorded + dropped == calls is checked against the RecordResult
//    returns and the lane's drop counter. The same loop also counts allocations: must be 0.
// 3. Google Benchmark: BM_Writer_ScanTimeNoReader, the mean of the drop path (untimed loop).
#include <benchmark/benchmark.h>
#include <malloc.h>
#include <sys/resource.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <thread>

#include "bench_support.hpp"
#include "telering/writer.hpp"

// --- counting allocator ----------------------------------------------------------------------
namespace {
std::atomic<std::uint64_t> g_new_calls{0};
std::atomic<std::uint64_t> g_new_bytes{0};
std::atomic<std::int64_t> g_live_bytes{0};

void* counted_alloc(std::size_t n, std::size_t align) {
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n);
  if (p == nullptr) return nullptr;
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  g_new_bytes.fetch_add(n, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}
void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  g_live_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}
void* counted_alloc_or_throw(std::size_t n, std::size_t align) {
  void* p = counted_alloc(n, align);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace

void* operator new(std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new[](std::size_t n) { return counted_alloc_or_throw(n, 0); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_alloc_or_throw(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }

namespace {

using namespace telering;
using namespace telering::bench;

constexpr std::uint64_t kCalls = 10'000'000;
constexpr int kPasses = 3;

struct HeapSnapshot {
  std::uint64_t new_calls, new_bytes;
  std::int64_t live;
  std::size_t malloc_in_use;
  static HeapSnapshot take() noexcept {
    const struct mallinfo2 mi = mallinfo2();
    return {g_new_calls.load(), g_new_bytes.load(), g_live_bytes.load(), mi.uordblks + mi.hblkhd};
  }
};

void print_heap_delta(const char* what, const HeapSnapshot& a, const HeapSnapshot& b) {
  std::printf("  %-46s new: %6" PRIu64 " calls %9" PRIu64 " B requested, live %+9" PRId64 " B | malloc in use %+9" PRId64 " B\n",
              what, b.new_calls - a.new_calls, b.new_bytes - a.new_bytes, b.live - a.live,
              static_cast<std::int64_t>(b.malloc_in_use) - static_cast<std::int64_t>(a.malloc_in_use));
}

thread_local Record t_floor_slot;  // the floor loop's store target
std::string g_segment_name;
std::optional<Writer> g_writer;

void BM_Writer_ScanTimeNoReader(benchmark::State& state) {
  pin_to_cpu(0);
  Writer& w = *g_writer;
  std::uint64_t dropped = 0;
  for (auto _ : state) dropped += w.scan_time(25.5) == RecordResult::Dropped ? 1 : 0;
  state.counters["drop_%"] = 100.0 * static_cast<double>(dropped) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_Writer_ScanTimeNoReader)->Iterations(10'000'000)->Repetitions(5)->ReportAggregatesOnly(true)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  print_machine();
  g_segment_name = "telering-bench-overload-" + std::to_string(::getpid());
  Segment::remove(g_segment_name);
  bool ok = true;

  // --- heap ---
  std::printf("\nWriter heap (operator new counted by this binary; mallinfo2 in-use over all arenas):\n");
  const HeapSnapshot h0 = HeapSnapshot::take();
  try {
    WriterOptions wo;
    wo.segment = g_segment_name;
    wo.bot = "overload-bot";  // default options otherwise: memory sampler thread on
    g_writer.emplace(Writer::attach(wo));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_overload: %s\n", e.what());
    Segment::remove(g_segment_name);
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the sampler take its first sample
  const HeapSnapshot h1 = HeapSnapshot::take();
  Writer& w = *g_writer;
  pin_to_cpu(0);
  const NameId err = w.error_type("api_rate_limit");
  const NameId comp = w.component("market_scanner");
  (void)w.scan_time(1.0);  // this thread claims its lane
  (void)w.error(err, Severity::High, "endpoint=/api/v1/market/orderbook", comp);
  const HeapSnapshot h2 = HeapSnapshot::take();

  // --- overload: no consumer ---
  const double ns_per_tick = w.segment().calibration().ns_per_tick;
  const std::uint64_t lane_drops0 = w.stats().dropped;
  std::uint64_t recorded = 2, dropped = 0, calls = 2;  // the two records above
  std::printf("\nOverload, reader down: %d passes x %" PRIu64 " calls (scan_time and error(id) alternating), each timed\n"
              "with rdtsc (raw, nothing subtracted). 'floor' = the same loop timing read_ticks() + a 64-byte store, run\n"
              "right after: tail events present in both are the machine (interrupts, preemption), not the writer.\n",
              kPasses, kCalls);
  std::printf("  %-12s %7s %7s %7s %8s %8s %11s %7s %7s %7s %6s %6s\n", "pass", "p50_ns", "p99", "p99.9", "p99.99",
              "p99.999", "max_ns", ">1us", ">10us", ">1ms", "allocs", "invcsw");
  // The bench's own buffers are allocated before the writer's heap is measured.
  TickHistogram h, floor_h, all, all_floor;

  const HeapSnapshot h2b = HeapSnapshot::take();
  const auto row = [&](const char* label, int pass, const TickHistogram& x, std::uint64_t allocs, long invcsw) {
    const auto above = [&](double ns) { return x.count_above(static_cast<std::uint64_t>(ns / ns_per_tick)); };
    char name[32];
    std::snprintf(name, sizeof name, "%d %s", pass, label);
    std::printf("  %-12s %7.1f %7.1f %7.1f %8.1f %8.1f %11.1f %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %6" PRIu64 " %6ld\n", name,
                static_cast<double>(x.quantile(0.5)) * ns_per_tick, static_cast<double>(x.quantile(0.99)) * ns_per_tick,
                static_cast<double>(x.quantile(0.999)) * ns_per_tick, static_cast<double>(x.quantile(0.9999)) * ns_per_tick,
                static_cast<double>(x.quantile(0.99999)) * ns_per_tick, static_cast<double>(x.max()) * ns_per_tick,
                above(1e3), above(1e4), above(1e6), allocs, invcsw);
  };
  for (int pass = 0; pass < kPasses; ++pass) {
    h.clear();
    floor_h.clear();
    const long cs0 = involuntary_switches();
    const HeapSnapshot a = HeapSnapshot::take();
    for (std::uint64_t i = 0; i < kCalls; ++i) {
      const std::uint64_t t0 = read_ticks();
      const RecordResult r = (i & 1) == 0 ? w.scan_time(25.5) : w.error(err, Severity::Medium, "endpoint=/api/v1/market/orderbook");
      const std::uint64_t t1 = read_ticks();
      h.add(t1 - t0);
      recorded += r == RecordResult::Recorded ? 1 : 0;
      dropped += r == RecordResult::Dropped ? 1 : 0;
      ++calls;
    }
    const HeapSnapshot b = HeapSnapshot::take();
    const long cs1 = involuntary_switches();
    for (std::uint64_t i = 0; i < kCalls; ++i) {
      const std::uint64_t t0 = read_ticks();
      t_floor_slot.timestamp = read_ticks();
      t_floor_slot.value = 25.5;
      t_floor_slot.kind = RecordKind::ScanTime;
      benchmark::ClobberMemory();
      const std::uint64_t t1 = read_ticks();
      floor_h.add(t1 - t0);
    }
    const long cs2 = involuntary_switches();
    row("writer", pass, h, b.new_calls - a.new_calls, cs1 - cs0);
    row("floor", pass, floor_h, 0, cs2 - cs1);
    // Only operator new is attributed to the loop: malloc in use also moves with the sampler thread's fopen.
    ok = ok && b.new_calls == a.new_calls;
    all.merge(h);
    all_floor.merge(floor_h);
  }
  const std::uint64_t lane_drops = w.stats().dropped - lane_drops0;
  const bool exact = recorded + dropped == calls && lane_drops == dropped;
  ok = ok && exact;
  std::printf("  accounting: calls %" PRIu64 " = recorded %" PRIu64 " + dropped %" PRIu64 " (lane drop counter %" PRIu64 "): %s\n",
              calls, recorded, dropped, lane_drops, exact ? "exact" : "MISMATCH");
  const auto above = [&](const TickHistogram& x, double ns) { return x.count_above(static_cast<std::uint64_t>(ns / ns_per_tick)); };
  std::printf("  writer: worst of %" PRIu64 " calls %.1f ns; > 1 us: %" PRIu64 ", > 1 ms: %" PRIu64 "   |   floor: worst %.1f ns; > 1 us: %" PRIu64
              ", > 1 ms: %" PRIu64 "\n",
              all.count(), static_cast<double>(all.max()) * ns_per_tick, above(all, 1e3), above(all, 1e6),
              static_cast<double>(all_floor.max()) * ns_per_tick, above(all_floor, 1e3), above(all_floor, 1e6));
  const HeapSnapshot h3 = HeapSnapshot::take();

  // A second thread: its first record claims a lane of its own.
  HeapSnapshot t0{}, t1{};
  std::thread other([&] {
    t0 = HeapSnapshot::take();
    for (int i = 0; i < 1000; ++i) (void)w.scan_time(1.0);
    t1 = HeapSnapshot::take();
  });
  other.join();

  print_heap_delta("Writer::attach (sampler thread on)", h0, h1);
  print_heap_delta("first records of a thread (lane claim)", h1, h2);
  print_heap_delta("30 M records, reader down", h2b, h3);
  print_heap_delta("second thread: 1000 records incl. lane claim", t0, t1);
  // Writer total: everything above except the bench's own histograms (allocated between h2 and h2b).
  const HeapSnapshot end = HeapSnapshot::take();
  const std::int64_t retained_new = (h2.live - h0.live) + (end.live - h2b.live);
  const std::int64_t retained_malloc = static_cast<std::int64_t>(h2.malloc_in_use - h0.malloc_in_use) +
                                       (static_cast<std::int64_t>(end.malloc_in_use) - static_cast<std::int64_t>(h2b.malloc_in_use));
  const std::int64_t retained = std::max(retained_new, retained_malloc);
  std::printf("  %-46s live %+9" PRId64 " B (operator new) | malloc in use %+9" PRId64 " B\n", "TOTAL retained by the writer",
              retained_new, retained_malloc);
  std::printf("  writer heap: %" PRId64 " B (%.1f KiB; target <= 64 KiB: %s)\n", retained,
              static_cast<double>(retained) / 1024.0, retained <= 64 * 1024 ? "MET" : "MISSED");
  const std::size_t seg = w.segment().size();
  const SegmentGeometry g = w.segment().geometry();
  std::printf("  default segment: %u lanes x %u records + MPSC %u + %u names/board entries + %u B report = %zu B "
              "(%.2f MiB; target <= 16 MiB: %s) — shared memory, not heap\n",
              g.lane_count, g.lane_capacity, g.mpsc_capacity, g.name_capacity, g.report_bytes, seg,
              static_cast<double>(seg) / (1024.0 * 1024.0), seg <= 16u * 1024 * 1024 ? "MET" : "MISSED");

  // --- Google Benchmark mean of the drop path ---
  std::printf("\n");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();

  g_writer.reset();
  Segment::remove(g_segment_name);
  return ok ? 0 : 1;
}
