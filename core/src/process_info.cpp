#include "telering/core/process_info.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace telering {

// Starts at 1 so a zero-initialised per-thread cache is always stale.
std::atomic<std::uint32_t> detail::g_fork_generation{1};

namespace {
void on_fork_child() noexcept { detail::g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
[[maybe_unused]] const int g_atfork_registered = ::pthread_atfork(nullptr, nullptr, on_fork_child);
}  // namespace

std::uint32_t current_pid() noexcept {
  // Cached per thread like the tid (getpid is a syscall); refreshed in a forked child.
  thread_local std::uint32_t pid = 0;
  thread_local std::uint32_t generation = 0;
  const std::uint32_t g = fork_generation();
  if (generation != g) {
    pid = static_cast<std::uint32_t>(::getpid());
    generation = g;
  }
  return pid;
}

std::uint32_t current_tid() noexcept {
  thread_local std::uint32_t tid = 0;
  thread_local std::uint32_t generation = 0;
  const std::uint32_t g = fork_generation();
  if (generation != g) {
    tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
    generation = g;
  }
  return tid;
}

namespace {

// Reads field 22 (starttime) and field 3 (state) of a /proc stat file. False if it cannot be
// read (no such entry, out of file descriptors, hidepid).
bool read_stat(const char* path, std::uint64_t& start, char& state) noexcept {
  std::FILE* f = std::fopen(path, "re");
  if (!f) return false;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // comm (field 2) may contain spaces and ')': fields resume after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p || p[1] != ' ') return false;
  state = p[2];
  ++p;
  // After ')' come fields 3..; starttime is field 22, i.e. the 20th after ')'.
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
  }
  unsigned long long value = 0;
  if (std::sscanf(p, " %llu", &value) != 1) return false;
  start = value;
  return true;
}

bool dead_state(char state) noexcept { return state == 'Z' || state == 'X' || state == 'x'; }

}  // namespace

std::uint64_t process_start_time(std::uint32_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  std::uint64_t start = 0;
  char state = 0;
  return read_stat(path, start, state) ? start : 0;
}

std::uint64_t thread_start_time(std::uint32_t pid, std::uint32_t tid) noexcept {
  char path[80];
  std::snprintf(path, sizeof path, "/proc/%u/task/%u/stat", pid, tid);
  std::uint64_t start = 0;
  char state = 0;
  return read_stat(path, start, state) ? start : 0;
}

std::uint64_t current_process_start_time() noexcept {
  // Recomputed after fork: the child is a new process with its own start time.
  thread_local std::uint32_t generation = 0;
  thread_local std::uint64_t cached = 0;
  const std::uint32_t g = fork_generation();
  if (generation != g) {
    cached = process_start_time(current_pid());
    generation = g;
  }
  return cached;
}

std::uint64_t current_thread_start_time() noexcept {
  thread_local std::uint32_t generation = 0;
  thread_local std::uint64_t cached = 0;
  const std::uint32_t g = fork_generation();
  if (generation != g) {
    cached = thread_start_time(current_pid(), current_tid());
    generation = g;
  }
  return cached;
}

std::uint64_t current_pid_namespace() noexcept {
  static const std::uint64_t ns = [] {
    struct stat st {};
    return ::stat("/proc/self/ns/pid", &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
  }();
  return ns;
}

Liveness thread_liveness(std::uint32_t pid, std::uint32_t tid, std::uint64_t start_time) noexcept {
  if (pid == 0 || tid == 0) return Liveness::Unknown;
  // The kernel's answer needs no file descriptor and ignores hidepid: ESRCH is a proof.
  if (::syscall(SYS_tgkill, static_cast<pid_t>(pid), static_cast<pid_t>(tid), 0) != 0 && errno == ESRCH)
    return Liveness::Dead;
  char path[80];
  std::snprintf(path, sizeof path, "/proc/%u/task/%u/stat", pid, tid);
  std::uint64_t start = 0;
  char state = 0;
  if (!read_stat(path, start, state)) return Liveness::Unknown;
  if (dead_state(state) || (start_time != 0 && start != start_time)) return Liveness::Dead;
  return start_time == 0 ? Liveness::Unknown : Liveness::Alive;
}

Liveness process_liveness(std::uint32_t pid, std::uint64_t start_time) noexcept {
  if (pid == 0) return Liveness::Unknown;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return Liveness::Dead;
  const std::uint64_t start = process_start_time(pid);
  if (start == 0) return Liveness::Unknown;
  if (start_time != 0 && start != start_time) return Liveness::Dead;
  return Liveness::Alive;
}

bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
  return process_liveness(pid, start_time) != Liveness::Dead;
}

}  // namespace telering
