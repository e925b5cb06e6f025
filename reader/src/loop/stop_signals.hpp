// loop/stop_signals.hpp — SIGTERM/SIGINT (stop) and SIGHUP (reload) as flags the
// tools' loops poll. The handlers only store to lock-free atomics (async-signal-safe).
#pragma once

#include <signal.h>

#include <atomic>

namespace telering::reader {

struct StopSignals {
  std::atomic<bool> stop{false};
  std::atomic<bool> reload{false};
};
static_assert(std::atomic<bool>::is_always_lock_free, "signal handlers need a lock-free flag");

// The process-wide flags the handlers set.
inline StopSignals& stop_signals() noexcept {
  static StopSignals flags;
  return flags;
}

extern "C" inline void telering_on_stop_signal(int) { stop_signals().stop.store(true, std::memory_order_relaxed); }
extern "C" inline void telering_on_reload_signal(int) { stop_signals().reload.store(true, std::memory_order_relaxed); }

// Installs the handlers: SIGTERM and SIGINT set stop; SIGHUP sets reload when asked for.
inline StopSignals& install_stop_signals(bool with_reload) noexcept {
  StopSignals& flags = stop_signals();
  struct sigaction sa {};
  sigemptyset(&sa.sa_mask);
  sa.sa_handler = telering_on_stop_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  if (with_reload) {
    sa.sa_handler = telering_on_reload_signal;
    sigaction(SIGHUP, &sa, nullptr);
  }
  return flags;
}

}  // namespace telering::reader
