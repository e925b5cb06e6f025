#include "telering/core/reader_lock.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace telering {
namespace {

// The whole object: byte 0 is enough, any range would do as long as every reader agrees.
struct flock whole(short type) {
  struct flock l {};
  l.l_type = type;
  l.l_whence = SEEK_SET;
  l.l_start = 0;
  l.l_len = 1;
  l.l_pid = 0;  // required for OFD locks
  return l;
}

}  // namespace

ReaderLock::ReaderLock(const Segment& segment) : fd_(segment.native_handle()) {
  struct flock l = whole(F_WRLCK);
  if (::fcntl(fd_, F_OFD_SETLK, &l) == 0) return;
  const int err = errno;
  if (err == EAGAIN || err == EACCES) {
    const std::uint32_t pid = segment.header().reader_pid.load(std::memory_order_acquire);
    throw SegmentError("segment '" + segment.name() + "' already has a live telering-reader" +
                       (pid ? " (pid " + std::to_string(pid) + ")" : std::string()) +
                       "; stop it first, or use another --segment");
  }
  throw SegmentError("segment '" + segment.name() + "': cannot take the reader lock: " + std::strerror(err));
}

ReaderLock::~ReaderLock() {
  struct flock l = whole(F_UNLCK);
  (void)::fcntl(fd_, F_OFD_SETLK, &l);
}

bool ReaderLock::held(const Segment& segment) noexcept {
  struct flock l = whole(F_WRLCK);
  if (::fcntl(segment.native_handle(), F_OFD_GETLK, &l) != 0) return false;
  return l.l_type != F_UNLCK;
}

}  // namespace telering
