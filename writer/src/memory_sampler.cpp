#include "memory_sampler.hpp"

#include <unistd.h>

#include <cstdio>

#include "telering/core/process_info.hpp"

namespace telering {

MemorySampler::MemorySampler(std::chrono::milliseconds interval) : interval_(interval), owner_pid_(current_pid()) {
  rss_bytes_.store(sample_rss_bytes(), std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
}

bool MemorySampler::runs_in_this_process() const noexcept { return owner_pid_ == current_pid(); }

MemorySampler::~MemorySampler() {
  if (!runs_in_this_process()) {
    // After fork(): the thread is the parent's. Joining it would wait forever, and the mutex
    // may have been held by it at the fork: leave both alone.
    thread_.detach();
    (void)wake_.release();
    return;
  }
  {
    std::lock_guard lock(wake_->mutex);
    wake_->stop = true;
  }
  wake_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t MemorySampler::sample_rss_bytes() noexcept {
  std::FILE* f = std::fopen("/proc/self/statm", "re");
  if (!f) return 0;
  unsigned long long size = 0, resident = 0;
  const int n = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  if (n != 2) return 0;
  return resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

void MemorySampler::run() {
  Wake& w = *wake_;
  std::unique_lock lock(w.mutex);
  while (!w.cv.wait_for(lock, interval_, [&w] { return w.stop; })) {
    rss_bytes_.store(sample_rss_bytes(), std::memory_order_relaxed);
  }
}

}  // namespace telering
