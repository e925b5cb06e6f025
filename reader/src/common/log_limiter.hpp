// common/log_limiter.hpp — log lines a writer can cause, bounded per kind of fault.
//
// Anything a bot can trigger at record rate (a rejected command, a strategy registration, a
// decision it commands) must not turn into a log line per record: one hostile or looping
// writer would flood the journal (14,100 lines a second were seen) and hide everything else.
// A LogLimiter lets the first `burst` lines of each kind through per `period`; the rest are
// counted, and flush() — called from the engine's tick — logs one line per kind saying how
// many were held back once that kind's period is over.
//
// Invariant: per kind, at most burst + 1 lines per period, whatever the input rate; nothing
// held back goes uncounted. Time is the caller's (monotonic ns), so tests drive it.
// Thread safety: one thread (the drain loop), like the Engine that owns it.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace telering::reader {

class LogLimiter {
 public:
  static constexpr std::uint32_t kDefaultBurst = 5;
  static constexpr std::uint64_t kDefaultPeriodNs = 10'000'000'000ULL;  // 10 s

  explicit LogLimiter(std::uint32_t burst = kDefaultBurst, std::uint64_t period_ns = kDefaultPeriodNs) noexcept
      : burst_(burst), period_ns_(period_ns) {}

  // True when a line of `kind` may be logged now; false counts it as held back.
  [[nodiscard]] bool allow(std::string_view kind, std::uint64_t now_ns) {
    auto it = kinds_.find(kind);
    if (it == kinds_.end()) it = kinds_.emplace(std::string(kind), Kind{now_ns, 0, 0}).first;
    Kind& k = it->second;
    if (now_ns - k.period_start_ns >= period_ns_) report(it->first, k, now_ns);
    if (k.logged < burst_) {
      ++k.logged;
      return true;
    }
    if (k.held_back++ == 0) ++pending_;
    ++held_back_total_;
    return false;
  }

  // Logs the "N more" line of every kind whose period is over. Cheap when nothing is held back.
  void flush(std::uint64_t now_ns) {
    if (pending_ == 0) return;
    for (auto& [name, k] : kinds_)
      if (k.held_back != 0 && now_ns - k.period_start_ns >= period_ns_) report(name, k, now_ns);
  }

  [[nodiscard]] std::uint64_t held_back_total() const noexcept { return held_back_total_; }

 private:
  struct Kind {
    std::uint64_t period_start_ns = 0;
    std::uint32_t logged = 0;
    std::uint64_t held_back = 0;
  };

  // Ends the kind's period: its count of held-back lines goes out as one line.
  void report(const std::string& name, Kind& k, std::uint64_t now_ns) {
    if (k.held_back != 0) {
      --pending_;
      spdlog::warn("{} more '{}' log lines held back in the last {:.0f} s (at most {} per {:.0f} s are logged)", k.held_back,
                   name, static_cast<double>(now_ns - k.period_start_ns) / 1e9, burst_,
                   static_cast<double>(period_ns_) / 1e9);
    }
    k = Kind{now_ns, 0, 0};
  }

  std::uint32_t burst_;
  std::uint64_t period_ns_;
  std::map<std::string, Kind, std::less<>> kinds_;  // one entry per kind named in the code
  std::size_t pending_ = 0;                         // kinds with lines held back
  std::uint64_t held_back_total_ = 0;
};

}  // namespace telering::reader
