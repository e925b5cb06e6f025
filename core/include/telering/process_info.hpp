// telering/process_info.hpp — who owns a lane, and whether that owner is still alive.
//
// A pid alone is not an identity: pids are reused. An owner is (pid, tid) plus the start
// time of the process (field 22 of /proc/<pid>/stat, clock ticks since boot), so a lane
// whose owner died is not mistaken for one owned by an unrelated process that got its pid.
#pragma once

#include <cstdint>

namespace telering {

[[nodiscard]] std::uint32_t current_pid() noexcept;
// Bumped in the child after every fork() (pthread_atfork): per-thread caches of pid, tid or
// lane ownership compare it to know they were inherited from the parent.
[[nodiscard]] std::uint32_t fork_generation() noexcept;
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
