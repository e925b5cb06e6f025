// loop/idle_strategy.hpp — what the drain loop does when a poll finds nothing.
//
// Spin (cheap re-polls, lowest latency), then yield, then sleep with a pause that doubles
// from min_sleep up to max_sleep. Any work resets it to spinning. The worst-case added
// latency of a decision is therefore max_sleep plus one loop turn; the idle CPU cost is one
// poll per max_sleep. Busy-spin: spins = UINT32_MAX.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>

#include "config/config.hpp"

namespace telering::reader {

class IdleStrategy {
 public:
  explicit IdleStrategy(const IdleStrategyConfig& c) noexcept : config_(c), sleep_(c.min_sleep) {}

  void reset() noexcept {
    idle_turns_ = 0;
    sleep_ = config_.min_sleep;
  }

  void idle() noexcept {
    const std::uint64_t turn = idle_turns_++;
    if (turn < config_.spins) {
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
      return;
    }
    if (turn < std::uint64_t{config_.spins} + config_.yields) {
      std::this_thread::yield();
      return;
    }
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, config_.max_sleep);
  }

 private:
  IdleStrategyConfig config_;
  std::uint64_t idle_turns_ = 0;
  std::chrono::microseconds sleep_;
};

}  // namespace telering::reader
