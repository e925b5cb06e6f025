#include "telering/core/truncation_guard.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <mutex>
#include <stdexcept>

namespace telering {
namespace {

struct Guarded {
  std::atomic<std::uintptr_t> begin{0};  // 0 = free slot
  std::atomic<std::uintptr_t> end{0};
  std::atomic<bool> tripped{false};
};

std::array<Guarded, TruncationGuard::kMaxGuardedMappings> g_guarded;
std::mutex g_register_mutex;  // registration only; never taken in the handler
struct sigaction g_previous {};
bool g_installed = false;

void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (Guarded& g : g_guarded) {
    // Pairs with the release stores in the constructor.
    const std::uintptr_t begin = g.begin.load(std::memory_order_acquire);
    const std::uintptr_t end = g.end.load(std::memory_order_acquire);
    if (begin == 0 || addr < begin || addr >= end) continue;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const std::uintptr_t from = addr & ~(page - 1);
    // Zero pages from the fault to the end of the mapping: the access completes, and later
    // accesses past the object's end read zeros instead of faulting again.
    if (::mmap(reinterpret_cast<void*>(from), end - from, PROT_READ | PROT_WRITE,
               MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
      break;
    g.tripped.store(true, std::memory_order_relaxed);
    return;
  }
  // Not ours: what would have happened without us.
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction) {
      g_previous.sa_sigaction(sig, info, context);
      return;
    }
  } else if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  ::signal(SIGBUS, SIG_DFL);  // returning re-executes the access, which now kills the process
}

}  // namespace

TruncationGuard::TruncationGuard(void* base, std::size_t size) {
  std::lock_guard lock(g_register_mutex);
  if (!g_installed) {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (::sigaction(SIGBUS, &sa, &g_previous) != 0) throw std::runtime_error("cannot install the SIGBUS handler");
    g_installed = true;
  }
  for (std::size_t i = 0; i < g_guarded.size(); ++i) {
    Guarded& g = g_guarded[i];
    if (g.begin.load(std::memory_order_relaxed) != 0) continue;
    g.tripped.store(false, std::memory_order_relaxed);
    g.end.store(reinterpret_cast<std::uintptr_t>(base) + size, std::memory_order_release);
    g.begin.store(reinterpret_cast<std::uintptr_t>(base), std::memory_order_release);  // pairs with on_sigbus
    slot_ = i;
    return;
  }
  throw std::runtime_error("too many guarded segment mappings in this process");
}

TruncationGuard::~TruncationGuard() {
  std::lock_guard lock(g_register_mutex);
  g_guarded[slot_].begin.store(0, std::memory_order_release);
  g_guarded[slot_].end.store(0, std::memory_order_release);
}

bool TruncationGuard::tripped() const noexcept { return g_guarded[slot_].tripped.load(std::memory_order_relaxed); }

}  // namespace telering
