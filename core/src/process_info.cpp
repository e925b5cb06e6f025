#include "telering/process_info.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
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

std::uint64_t process_start_time(std::uint32_t pid) noexcept {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  std::FILE* f = std::fopen(path, "re");
  if (!f) return 0;
  char buf[1024];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // comm (field 2) may contain spaces and ')': fields resume after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (!p) return 0;
  ++p;
  // After ')' come fields 3..; starttime is field 22, i.e. the 20th after ')'.
  for (int field = 3; field < 22 && *p; ++field) {
    while (*p == ' ') ++p;
    while (*p && *p != ' ') ++p;
  }
  unsigned long long start = 0;
  if (std::sscanf(p, " %llu", &start) != 1) return 0;
  return start;
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

bool process_alive(std::uint32_t pid, std::uint64_t start_time) noexcept {
  if (pid == 0) return false;
  const std::uint64_t actual = process_start_time(pid);
  if (actual == 0) return false;
  // A zombie still has /proc/<pid>/stat: treat state 'Z' as dead.
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
  if (std::FILE* f = std::fopen(path, "re")) {
    char buf[512];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    if (const char* p = std::strrchr(buf, ')'); p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return false;
  }
  return start_time == 0 || start_time == actual;
}

}  // namespace telering
