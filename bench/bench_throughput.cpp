// bench/bench_throughput.cpp — records/s from a writer process to a consumer process.
//
// The parent attaches a telering::Writer (creating the segment) and forks a consumer child
// that opens the segment by name, pins itself to CPU 1 and drains it with telering::Drainer
// (validation of every field included), using the reader's default idle strategy or a busy
// spin. The parent, pinned to CPU 0, records kRecordsPerRun scan_time records per run, flat
// out or paced in bursts of 64 to a target rate. Each record's value is its sequence number
// in the run, so the child checks order and counts the gaps.
//
// Accounting is exact and checked per run: produced == delivered + dropped, where dropped is
// both the count of RecordResult::Dropped returns and the lane's drop counter, and the gaps
// the child saw in the sequence equal the drops. "zero loss" means dropped == 0.
//
// Two geometries: the default (64 lanes x 2048 records) and a deep one (2 lanes x 65536,
// still < 16 MiB), chosen at creation as a one-bot host would; a stall probe first measures
// the longest pauses a spinning thread sees on each CPU (on this VM: the hypervisor's),
// which is what a lane must absorb for a zero-loss run.
//
// Rates: produced/s = records / writer's elapsed time; delivered/s = delivered / time from
// the run's start to the child's last delivered record.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "telering/core/drain.hpp"
#include "telering/writer.hpp"

namespace {

using namespace telering;
using namespace telering::bench;

constexpr std::uint64_t kRecordsPerRun = 20'000'000;
constexpr int kRepetitions = 3;
constexpr std::uint64_t kBurst = 64;

// Shared between the two processes (anonymous MAP_SHARED mapping made before fork).
struct Control {
  std::atomic<std::uint32_t> run{0};           // parent: run number being produced (release)
  std::atomic<std::uint32_t> idle_mode{0};     // parent: Idle for this run
  std::atomic<std::uint32_t> produced_run{0};  // parent: run whose records are all produced (release)
  std::atomic<std::uint32_t> consumed_run{0};  // child: run fully drained, results below valid (release)
  std::atomic<std::uint32_t> quit{0};
  std::atomic<std::uint64_t> start_ns{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> malformed{0};
  std::atomic<std::uint64_t> gaps{0};
  std::atomic<std::uint64_t> out_of_order{0};
  std::atomic<std::uint64_t> last_delivery_ns{0};
};

struct SeqHandler {
  std::uint64_t next = 0;
  std::uint64_t delivered = 0;
  std::uint64_t gaps = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t malformed = 0;
  void on_record(const Record& r, const RecordSource&) noexcept {
    const auto seq = static_cast<std::uint64_t>(r.value);
    if (seq >= next) {
      gaps += seq - next;
      next = seq + 1;
    } else {
      ++out_of_order;
    }
    ++delivered;
  }
  void on_malformed(RecordFault, const Record&, const RecordSource&) noexcept { ++malformed; }
};

[[noreturn]] void consumer_main(const std::string& segment_name, Control& ctl) {
  pin_to_cpu(1);
  SegmentOptions so;
  so.name = segment_name;
  so.create = false;
  Segment segment = Segment::open(so);
  Drainer drainer(segment);
  std::uint32_t done = 0;
  for (;;) {
    std::uint32_t run = 0;
    // Pairs with the parent's release store of run (the idle mode and start time before it).
    while ((run = ctl.run.load(std::memory_order_acquire)) == done) {
      if (ctl.quit.load(std::memory_order_acquire) != 0) std::_Exit(0);
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    IdleStrategy idle(static_cast<Idle>(ctl.idle_mode.load(std::memory_order_relaxed)));
    SeqHandler h;
    std::uint64_t last_ns = 0;
    for (;;) {
      // Read before polling: once the parent says "all produced" (its release store after
      // its last tail store), a poll that then finds nothing means the lane is empty.
      const bool all_produced = ctl.produced_run.load(std::memory_order_acquire) == run;
      const DrainStats s = drainer.poll(h, 4096, 0);
      if (s.delivered != 0) last_ns = monotonic_ns();
      if (s.delivered + s.malformed == 0 && all_produced) break;
      idle.idle(s.delivered + s.malformed);
    }
    ctl.delivered.store(h.delivered, std::memory_order_relaxed);
    ctl.malformed.store(h.malformed, std::memory_order_relaxed);
    // Drops at the very end of a run leave no later record to reveal them: count them too.
    ctl.gaps.store(h.gaps + (kRecordsPerRun > h.next ? kRecordsPerRun - h.next : 0), std::memory_order_relaxed);
    ctl.out_of_order.store(h.out_of_order, std::memory_order_relaxed);
    ctl.last_delivery_ns.store(last_ns, std::memory_order_relaxed);
    // Publishes the results above (pairs with the parent's acquire wait).
    ctl.consumed_run.store(run, std::memory_order_release);
    done = run;
  }
}

struct RunResult {
  double produced_per_s = 0;
  double delivered_per_s = 0;
  std::uint64_t produced = 0, delivered = 0, dropped = 0, lane_dropped = 0, gaps = 0, out_of_order = 0, malformed = 0;
  bool exact = false;
};

RunResult run_once(Writer& w, Control& ctl, std::uint32_t run, Idle idle, double target_per_s, double ns_per_tick) {
  const std::uint64_t lane_before = w.stats().dropped;
  ctl.idle_mode.store(static_cast<std::uint32_t>(idle), std::memory_order_relaxed);
  const std::uint64_t t0 = monotonic_ns();
  ctl.start_ns.store(t0, std::memory_order_relaxed);
  ctl.run.store(run, std::memory_order_release);  // starts the consumer's run
  std::uint64_t dropped = 0;
  if (target_per_s <= 0) {
    for (std::uint64_t i = 0; i < kRecordsPerRun; ++i)
      dropped += w.scan_time(static_cast<double>(i)) == RecordResult::Recorded ? 0 : 1;
  } else {
    const double ticks_per_burst = static_cast<double>(kBurst) * 1e9 / target_per_s / ns_per_tick;
    const std::uint64_t tick0 = read_ticks();
    for (std::uint64_t i = 0; i < kRecordsPerRun; i += kBurst) {
      const auto due = tick0 + static_cast<std::uint64_t>(static_cast<double>(i / kBurst) * ticks_per_burst);
      while (read_ticks() < due) TELERING_BENCH_PAUSE();
      for (std::uint64_t j = i; j < i + kBurst && j < kRecordsPerRun; ++j)
        dropped += w.scan_time(static_cast<double>(j)) == RecordResult::Recorded ? 0 : 1;
    }
  }
  const std::uint64_t t1 = monotonic_ns();
  // After our last tail store (release): tells the consumer that an empty poll now means done.
  ctl.produced_run.store(run, std::memory_order_release);
  while (ctl.consumed_run.load(std::memory_order_acquire) != run) std::this_thread::sleep_for(std::chrono::microseconds(50));
  RunResult r;
  r.produced = kRecordsPerRun;
  r.dropped = dropped;
  r.lane_dropped = w.stats().dropped - lane_before;
  r.delivered = ctl.delivered.load(std::memory_order_relaxed);
  r.gaps = ctl.gaps.load(std::memory_order_relaxed);
  r.out_of_order = ctl.out_of_order.load(std::memory_order_relaxed);
  r.malformed = ctl.malformed.load(std::memory_order_relaxed);
  r.produced_per_s = static_cast<double>(r.produced) * 1e9 / static_cast<double>(t1 - t0);
  const std::uint64_t last = ctl.last_delivery_ns.load(std::memory_order_relaxed);
  r.delivered_per_s = last > t0 ? static_cast<double>(r.delivered) * 1e9 / static_cast<double>(last - t0) : 0;
  r.exact = r.produced == r.delivered + r.dropped && r.lane_dropped == r.dropped && r.gaps == r.dropped &&
            r.out_of_order == 0 && r.malformed == 0;
  return r;
}

// Longest pauses a spinning thread sees on each CPU over `seconds`: on a VM these are the
// hypervisor's (steal) and bound how much lane depth a zero-loss run needs.
void probe_stalls(double seconds, double ns_per_tick) {
  auto probe = [&](int cpu, std::uint64_t& over100us, std::uint64_t& max_ticks) {
    pin_to_cpu(cpu);
    const auto limit = static_cast<std::uint64_t>(100'000.0 / ns_per_tick);
    std::uint64_t prev = read_ticks();
    const std::uint64_t end = prev + static_cast<std::uint64_t>(seconds * 1e9 / ns_per_tick);
    while (prev < end) {
      const std::uint64_t t = read_ticks();
      const std::uint64_t d = t - prev;
      prev = t;
      if (d > limit) ++over100us;
      if (d > max_ticks) max_ticks = d;
    }
  };
  std::uint64_t n0 = 0, m0 = 0, n1 = 0, m1 = 0;
  std::thread other([&] { probe(1, n1, m1); });
  probe(0, n0, m0);
  other.join();
  std::printf("stall probe (%.1f s spinning on each CPU): CPU0 %" PRIu64 " pauses > 100 us, longest %.0f us; "
              "CPU1 %" PRIu64 " pauses > 100 us, longest %.0f us\n",
              seconds, n0, static_cast<double>(m0) * ns_per_tick / 1e3, n1, static_cast<double>(m1) * ns_per_tick / 1e3);
}

// One full set of runs on a fresh segment of geometry g. Returns false on any mismatch.
bool run_geometry(const SegmentGeometry& g, const std::string& label) {
  const std::string name = "telering-bench-throughput-" + std::to_string(::getpid()) + "-" + label;
  Segment::remove(name);
  void* mem = ::mmap(nullptr, sizeof(Control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    std::perror("mmap");
    return false;
  }
  Control& ctl = *new (mem) Control();
  bool ok = false;
  try {
    WriterOptions wo;
    wo.segment = name;
    wo.bot = "throughput-bot";
    wo.geometry = g;
    wo.sample_memory = false;  // keep the parent single-threaded across fork()
    Writer w = Writer::attach(wo);
    const double ns_per_tick = w.segment().calibration().ns_per_tick;
    (void)w.scan_time(0.0);  // claim this thread's lane before the child starts
    const pid_t child = ::fork();
    if (child < 0) throw std::runtime_error("fork failed");
    if (child == 0) {
      try {
        consumer_main(name, ctl);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer: %s\n", e.what());
        std::_Exit(2);
      }
    }
    pin_to_cpu(0);
    const double slack_us = static_cast<double>(g.lane_capacity) / 20.0;  // at 20 M/s
    std::printf("\n=== %s geometry: %u lanes x %u records (segment %zu bytes = %.2f MiB); a full lane absorbs a "
                "consumer pause of %.0f us at 20 M/s, %.0f us at 50 M/s\n",
                label.c_str(), g.lane_count, g.lane_capacity, w.segment().size(),
                static_cast<double>(w.segment().size()) / (1024.0 * 1024.0), slack_us, slack_us * 20.0 / 50.0);
    std::printf("segment %s, %" PRIu64 " records per run, %d repetitions, writer pid %d on CPU 0, consumer pid %d on CPU 1\n",
                name.c_str(), kRecordsPerRun, kRepetitions, ::getpid(), child);
    std::printf("%-12s %-12s %4s %14s %14s %12s %12s %s\n", "consumer", "offered", "rep", "produced/s", "delivered/s",
                "delivered", "dropped", "accounting");
    struct Config {
      Idle idle;
      double rate;
    };
    const std::vector<Config> configs = {{Idle::Default, 0},  {Idle::Default, 50e6},  {Idle::Default, 20e6},
                                         {Idle::BusySpin, 0}, {Idle::BusySpin, 50e6}, {Idle::BusySpin, 20e6}};
    std::uint32_t run = 0;
    bool all_exact = true;
    std::vector<std::string> summary;
    // Warm-up run, not reported: it also drains the lane-claiming record above (which makes
    // its own sequence check fail by one, so its accounting is not checked).
    (void)run_once(w, ctl, ++run, Idle::BusySpin, 0, ns_per_tick);
    for (const Config& c : configs) {
      double sum_produced = 0, sum_delivered = 0;
      std::uint64_t total_dropped = 0;
      char offered[32];
      std::snprintf(offered, sizeof offered, c.rate > 0 ? "%.0f M/s" : "flat-out", c.rate / 1e6);
      for (int rep = 0; rep < kRepetitions; ++rep) {
        const RunResult r = run_once(w, ctl, ++run, c.idle, c.rate, ns_per_tick);
        all_exact = all_exact && r.exact;
        sum_produced += r.produced_per_s;
        sum_delivered += r.delivered_per_s;
        total_dropped += r.dropped;
        std::printf("%-12s %-12s %4d %12.2f M %12.2f M %12" PRIu64 " %12" PRIu64 " %s\n", to_string(c.idle), offered, rep,
                    r.produced_per_s / 1e6, r.delivered_per_s / 1e6, r.delivered, r.dropped,
                    r.exact ? "exact" : "MISMATCH");
        if (!r.exact)
          std::printf("   produced %" PRIu64 " delivered %" PRIu64 " dropped %" PRIu64 " lane_dropped %" PRIu64
                      " gaps %" PRIu64 " out_of_order %" PRIu64 " malformed %" PRIu64 "\n",
                      r.produced, r.delivered, r.dropped, r.lane_dropped, r.gaps, r.out_of_order, r.malformed);
      }
      char line[256];
      std::snprintf(line, sizeof line,
                    "  %-8s %-12s %-9s produced %6.2f M/s, delivered %6.2f M/s, dropped %8" PRIu64 " of %" PRIu64 " (%.3f%%)%s",
                    label.c_str(), to_string(c.idle), offered, sum_produced / kRepetitions / 1e6,
                    sum_delivered / kRepetitions / 1e6, total_dropped, kRecordsPerRun * kRepetitions,
                    100.0 * static_cast<double>(total_dropped) / static_cast<double>(kRecordsPerRun * kRepetitions),
                    total_dropped == 0 ? "  ZERO LOSS" : "");
      summary.emplace_back(line);
    }
    ctl.quit.store(1, std::memory_order_release);
    int child_status = 0;
    ::waitpid(child, &child_status, 0);
    std::printf("summary (%s):\n", label.c_str());
    for (const std::string& s : summary) std::printf("%s\n", s.c_str());
    std::printf("  accounting produced == delivered + dropped (== lane drop counter == sequence gaps): %s\n",
                all_exact ? "exact in every run" : "MISMATCH");
    ok = all_exact && WIFEXITED(child_status) && WEXITSTATUS(child_status) == 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_throughput: %s\n", e.what());
  }
  ::munmap(mem, sizeof(Control));
  Segment::remove(name);
  return ok;
}

}  // namespace

// Usage: bench_throughput            default geometry, then a deep-lane geometry
int main() {
  print_machine();
  probe_stalls(1.0, calibrate_ticks().ns_per_tick);
  std::printf("target: >= 20 M records/s sustained with zero loss (stretch 50 M)\n");
  const SegmentGeometry defaults{};
  SegmentGeometry deep{};
  deep.lane_count = 2;
  deep.lane_capacity = 65536;  // 4 MiB per lane; still a < 16 MiB segment
  const bool a = run_geometry(defaults, "default");
  const bool b = run_geometry(deep, "deep");
  return a && b ? 0 : 1;
}
