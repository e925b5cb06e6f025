#include "telering/memory_sampler.hpp"

#include <unistd.h>

#include <cstdio>

namespace telering {

MemorySampler::MemorySampler(std::chrono::milliseconds interval) : interval_(interval) {
  rss_bytes_.store(sample_rss_bytes(), std::memory_order_relaxed);
  thread_ = std::thread([this] { run(); });
}

MemorySampler::~MemorySampler() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
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
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stop_; })) {
    rss_bytes_.store(sample_rss_bytes(), std::memory_order_relaxed);
  }
}

}  // namespace telering
