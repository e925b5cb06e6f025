// telering/memory_sampler.hpp — the bot's resident set size, sampled off the hot path.
//
// The seed's update_memory_usage() calls psutil on the caller's thread. Here a background
// thread reads /proc/self/statm every interval and stores the RSS in an atomic, so
// Writer::memory() records the latest sample with one relaxed load and no syscall.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace telering {

class MemorySampler {
 public:
  explicit MemorySampler(std::chrono::milliseconds interval);
  ~MemorySampler();
  MemorySampler(const MemorySampler&) = delete;
  MemorySampler& operator=(const MemorySampler&) = delete;

  // Latest sample (relaxed: a lone value, nothing else is published with it).
  [[nodiscard]] std::uint64_t rss_bytes() const noexcept { return rss_bytes_.load(std::memory_order_relaxed); }

  // Reads /proc/self/statm now (a syscall; 0 on failure).
  [[nodiscard]] static std::uint64_t sample_rss_bytes() noexcept;

 private:
  void run();

  std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> rss_bytes_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace telering
