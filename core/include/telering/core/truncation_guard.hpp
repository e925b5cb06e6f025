// telering/core/truncation_guard.hpp — a segment shrunk under us must not kill the process.
//
// Any process that may write the segment may also ftruncate(2) its shm object below the
// size we mapped. Touching a page past the new end then raises SIGBUS, which kills the
// process mid-instruction — for the reader, a crash loop under Restart=always. A
// TruncationGuard registers a mapping with a process-wide SIGBUS handler: a fault inside it
// maps private zero pages over the rest of the mapping (MAP_FIXED, async-signal-safe), marks
// the guard tripped and lets the faulting access complete on those pages. The owner checks
// tripped() at its next turn and stops using the segment with a clear message. A SIGBUS
// outside every guarded mapping keeps its default action (the process dies as before).
//
// Memory ordering: `tripped` is set in the handler with a relaxed store and polled with a
// relaxed load; it carries no data. Registration publishes a slot's range with release
// stores (pairs with the handler's acquire loads).
//
// Thread safety: construct and destroy from any thread; at most kMaxGuardedMappings live
// guards per process.
#pragma once

#include <cstddef>

namespace telering {

class TruncationGuard {
 public:
  static constexpr std::size_t kMaxGuardedMappings = 16;

  // Guards [base, base + size). Throws std::runtime_error when every slot is taken or the
  // handler cannot be installed.
  TruncationGuard(void* base, std::size_t size);
  ~TruncationGuard();
  TruncationGuard(const TruncationGuard&) = delete;
  TruncationGuard& operator=(const TruncationGuard&) = delete;

  // True once an access to the mapping hit a page past the end of its object.
  [[nodiscard]] bool tripped() const noexcept;

 private:
  std::size_t slot_;
};

}  // namespace telering
