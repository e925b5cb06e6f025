#include "telering/core/clock.hpp"

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

ClockSample sample_clocks() noexcept {
  ClockSample best_sample;
  std::uint64_t best = ~0ULL;
  for (int i = 0; i < 16; ++i) {
    const std::uint64_t a = monotonic_ns();
    const std::uint64_t t = read_ticks();
    const std::uint64_t b = monotonic_ns();
    if (b - a < best) {
      best = b - a;
      best_sample = ClockSample{t, a + (b - a) / 2};
    }
  }
  return best_sample;
}

TickCalibration calibrate_ticks(std::chrono::milliseconds window) {
  TickCalibration cal;
  if (!ticks_are_tsc()) {
    cal.tick_base = 0;
    cal.mono_base_ns = 0;
    cal.ns_per_tick = 1.0;
    return cal;
  }
  const ClockSample first = sample_clocks();
  std::this_thread::sleep_for(window);
  const ClockSample last = sample_clocks();
  const std::uint64_t t0 = first.ticks, n0 = first.ns, t1 = last.ticks, n1 = last.ns;
  cal.tick_base = t1;
  cal.mono_base_ns = n1;
  cal.ns_per_tick = (t1 > t0) ? static_cast<double>(n1 - n0) / static_cast<double>(t1 - t0) : 1.0;
  return cal;
}

}  // namespace telering
