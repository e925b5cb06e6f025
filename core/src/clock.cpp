#include "telering/clock.hpp"

#include <fstream>
#include <string>
#include <thread>

namespace telering {

bool ticks_are_tsc() noexcept {
#ifdef TELERING_HAVE_RDTSC
  static const bool invariant = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    std::string line;
    while (std::getline(cpuinfo, line)) {
      if (line.rfind("flags", 0) == 0) {
        return line.find(" constant_tsc") != std::string::npos && line.find(" nonstop_tsc") != std::string::npos;
      }
    }
    return false;
  }();
  return invariant;
#else
  return false;
#endif
}

TickCalibration calibrate_ticks(std::chrono::milliseconds window) {
  TickCalibration cal;
  if (!ticks_are_tsc()) {
    cal.tick_base = 0;
    cal.mono_base_ns = 0;
    cal.ns_per_tick = 1.0;
    return cal;
  }
  // Bracket each tick read between two clock reads and keep the tightest bracket, so a
  // preemption between the reads does not skew the calibration.
  auto sample = [](std::uint64_t& ticks, std::uint64_t& ns) {
    std::uint64_t best = ~0ULL;
    for (int i = 0; i < 16; ++i) {
      const std::uint64_t a = monotonic_ns();
      const std::uint64_t t = read_ticks();
      const std::uint64_t b = monotonic_ns();
      if (b - a < best) {
        best = b - a;
        ticks = t;
        ns = a + (b - a) / 2;
      }
    }
  };
  std::uint64_t t0 = 0, n0 = 0, t1 = 0, n1 = 0;
  sample(t0, n0);
  std::this_thread::sleep_for(window);
  sample(t1, n1);
  cal.tick_base = t1;
  cal.mono_base_ns = n1;
  cal.ns_per_tick = (t1 > t0) ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0;
  return cal;
}

}  // namespace telering
