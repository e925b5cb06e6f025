// telering/core/process_info.hpp — who owns a lane, and whether that owner is still alive.
//
// A pid alone is not an identity: pids and tids are reused. An owner is (pid, tid) plus the
// start time of that thread (field 22 of /proc/<pid>/task/<tid>/stat, clock ticks since
// boot) and the PID namespace the numbers belong to, so a lane whose owner died is not
// mistaken for one owned by an unrelated thread that got its numbers, and a live owner is
// never taken for dead because this process could not look it up.
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
// Start time of a process in clock ticks since boot; 0 if it does not exist or /proc
// cannot be read.
[[nodiscard]] std::uint64_t process_start_time(std::uint32_t pid) noexcept;
// Start time of this process, read once.
[[nodiscard]] std::uint64_t current_process_start_time() noexcept;
// Start time of thread `tid` of process `pid` (field 22 of /proc/<pid>/task/<tid>/stat); 0 if
// it does not exist or cannot be read.
[[nodiscard]] std::uint64_t thread_start_time(std::uint32_t pid, std::uint32_t tid) noexcept;
// Start time of the calling thread, read once per thread (and again after fork).
[[nodiscard]] std::uint64_t current_thread_start_time() noexcept;
// Which PID namespace this process's pids and tids are numbered in: the inode of
// /proc/self/ns/pid, read once; 0 if it cannot be read.
[[nodiscard]] std::uint64_t current_pid_namespace() noexcept;

// What this process can tell about a thread or process. Dead is a proof, never a guess:
// "cannot tell" (no /proc access when out of file descriptors, hidepid=2, a start time not
// yet published) is Unknown, and callers that free what the owner holds treat Unknown as
// Alive.
enum class Liveness : std::uint8_t { Alive, Dead, Unknown };

// Thread `tid` of process `pid`, started at `start_time` (its thread start time; 0 = not
// known), numbered in this process's PID namespace. Dead when the kernel has no such thread
// (tgkill(pid, tid, 0) fails with ESRCH — no file descriptor needed), or its /proc entry
// shows another start time (the tid was reused) or a zombie (a main thread that exited
// while its other threads run is one). Unknown when /proc cannot be read or start_time is 0.
[[nodiscard]] Liveness thread_liveness(std::uint32_t pid, std::uint32_t tid, std::uint64_t start_time) noexcept;
// Process `pid`, started at `start_time` (0 = not known): Dead when kill(pid, 0) says no such
// process, or /proc shows another start time (the pid was reused); Unknown when /proc cannot
// be read. A zombie whose threads still run is Alive (its threads are judged one by one).
[[nodiscard]] Liveness process_liveness(std::uint32_t pid, std::uint64_t start_time) noexcept;
// process_liveness(...) != Dead.
[[nodiscard]] bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept;

}  // namespace telering
