// telering/process_info.hpp — who owns a lane, and whether that owner is still alive.
//
// A pid alone is not an identity: pids are reused. An owner is (pid, tid) plus the start
// time of the process (field 22 of /proc/<pid>/stat, clock ticks since boot), so a lane
// whose owner died is not mistaken for one owned by an unrelated process that got its pid.
#pragma once

#include <atomic>
#include <cstdint>

namespace telering {

// This process's pid, cached per thread (no syscall after the first call until a fork).
[[nodiscard]] std::uint32_t current_pid() noexcept;
namespace detail {
// Starts at 1 and is bumped in the child after every fork() (pthread_atfork, registered by
// process_info.cpp); relaxed: it only ever changes in a single-threaded child.
extern std::atomic<std::uint32_t> g_fork_generation;
}  // namespace detail

// Per-thread caches of pid, tid or lane ownership compare this to know they were inherited
// from the parent process. Inline: the writer checks it on every record.
[[nodiscard]] inline std::uint32_t fork_generation() noexcept {
  return detail::g_fork_generation.load(std::memory_order_relaxed);
}
// Kernel thread id of the calling thread, cached per thread (no syscall after the first
// call, nor after fork until the generation changes).
[[nodiscard]] std::uint32_t current_tid() noexcept;
// Start time of a process in clock ticks since boot; 0 if it does not exist.
[[nodiscard]] std::uint64_t process_start_time(std::uint32_t pid) noexcept;
// Start time of this process, read once.
[[nodiscard]] std::uint64_t current_process_start_time() noexcept;
// True if pid exists and, when start_time != 0, was started at start_time.
[[nodiscard]] bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept;

}  // namespace telering
