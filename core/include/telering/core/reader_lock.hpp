// telering/core/reader_lock.hpp — exactly one reader per segment.
//
// A check of the header's reader pid followed by a store of our own is check-then-act: two
// readers started together both pass it, split the drain between them and both decide.
// Instead the reader holds an exclusive open-file-description lock (fcntl F_OFD_SETLK) on
// the segment's shm object for as long as it lives. The kernel grants it to one open file
// description at a time and drops it when that description is closed — however the process
// ends, SIGKILL included — so a crashed reader never blocks the next one. Writers never take
// it; telering-stat only tests it (F_OFD_GETLK).
//
// Thread safety: one ReaderLock per Segment object; the lock belongs to that Segment's file
// description, so two Segment objects of one process exclude each other too.
#pragma once

#include "telering/core/segment.hpp"

namespace telering {

class ReaderLock {
 public:
  // Takes the segment's reader lock, or throws SegmentError saying who holds it.
  explicit ReaderLock(const Segment& segment);
  ~ReaderLock();  // releases it
  ReaderLock(const ReaderLock&) = delete;
  ReaderLock& operator=(const ReaderLock&) = delete;

  // True when some open file description holds the segment's reader lock (a live reader).
  [[nodiscard]] static bool held(const Segment& segment) noexcept;

 private:
  int fd_;
};

}  // namespace telering
