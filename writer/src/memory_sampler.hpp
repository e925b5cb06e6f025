// writer/src/memory_sampler.hpp — the bot's resident set size, sampled off the hot path.
//
// The seed's update_memory_usage() calls psutil on the caller's thread. Here a background
// thread reads /proc/self/statm every interval and stores the RSS in an atomic, so
// Writer::memory() records the latest sample with one relaxed load and no syscall.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
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

  // False in a child after fork(): the sampling thread exists only in the parent, so the
  // child's copy holds a stale value and must not be joined.
  [[nodiscard]] bool runs_in_this_process() const noexcept;

  // Reads /proc/self/statm now (a syscall; 0 on failure).
  [[nodiscard]] static std::uint64_t sample_rss_bytes() noexcept;

 private:
  void run();

  // What the sampling thread waits on. Heap-held so that a fork child can leave it alone:
  // the parent's thread may have been waiting on the condition variable at the fork, and
  // destroying that copy would wait for a waiter that does not exist in the child.
  struct Wake {
    std::mutex mutex;
    std::condition_variable cv;
    bool stop = false;
  };

  std::chrono::milliseconds interval_;
  std::atomic<std::uint64_t> rss_bytes_{0};
  std::unique_ptr<Wake> wake_ = std::make_unique<Wake>();
  std::uint32_t owner_pid_ = 0;  // the process whose thread samples
  std::thread thread_;
};

}  // namespace telering
