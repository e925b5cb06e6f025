// bench/drain_rep.hpp — one timed repetition of the reader's drain, as bench_reader's
// BM_ReaderLoop_Turn does it: fill every lane from CPU 0, drain on the calling thread
// (pinned to CPU 1), only the drain timed. Shared by bench_scrape and bench_dashboard, whose
// "with and without" ratios must measure the same drain.
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>

#include "bench_support.hpp"
#include "bot_host.hpp"
#include "loop/reader_loop.hpp"

namespace telering::bench {

struct DrainRep {
  std::uint64_t records = 0;
  double drain_s = 0;  // wall time inside ReaderLoop::turn
  double cpu_s = 0;    // CPU time of the draining thread in the same sections
  [[nodiscard]] double wall_rate() const { return static_cast<double>(records) / drain_s; }
  [[nodiscard]] double cpu_rate() const { return static_cast<double>(records) / cpu_s; }
};

// Fills and drains for `seconds`; throws when a fill is not drained exactly.
inline DrainRep drain_rep(BotHost& host, reader::ReaderLoop& loop, double seconds) {
  DrainRep r;
  const auto start = std::chrono::steady_clock::now();
  while (seconds_since(start) < seconds) {
    const std::uint64_t filled = fill_from_cpu0(host);
    const double c0 = thread_cpu_now();
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t n = 0;
    for (std::uint64_t k = 0; (k = loop.turn(monotonic_ns())) != 0;) n += k;
    r.drain_s += seconds_since(t0);
    r.cpu_s += thread_cpu_now() - c0;
    if (n != filled) throw std::runtime_error("drained != filled");
    r.records += n;
  }
  return r;
}

}  // namespace telering::bench
