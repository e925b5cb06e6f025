// Test utilities for the cross-process and stress suites (their segments are
// support/unique_segment.hpp's UniqueSegment): the replayable seed, a deadline poller, and a child
// process (fork + exec) whose stdin/stdout are pipes and which is killed and reaped if the
// test ends while it still runs.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "telering/core/segment.hpp"
#include "unique_segment.hpp"  // UniqueSegment

namespace telering::test {

// A geometry small enough that lanes fill under load and the segment maps fast.
inline SegmentGeometry small_test_geometry(std::uint32_t lanes, std::uint32_t capacity, std::uint32_t mpsc = 1024) {
  SegmentGeometry g;
  g.lane_count = lanes;
  g.lane_capacity = capacity;
  g.mpsc_capacity = mpsc;
  g.name_capacity = 256;
  g.report_bytes = 16 * 1024;
  return g;
}

inline SegmentOptions create_options(const std::string& name, const SegmentGeometry& g) {
  SegmentOptions o;
  o.name = name;
  o.geometry = g;
  return o;
}

inline SegmentOptions attach_options(const std::string& name) {
  SegmentOptions o;
  o.name = name;
  o.create = false;
  return o;
}

// The seed of a randomised test: TELERING_TEST_SEED if set, otherwise fresh. Always
// printed (and recorded in the XML report) so a failure can be replayed.
inline std::uint64_t test_seed() {
  std::uint64_t seed = 0;
  if (const char* env = std::getenv("TELERING_TEST_SEED"); env != nullptr && *env != '\0') {
    seed = std::strtoull(env, nullptr, 0);
  } else {
    std::random_device rd;
    seed = (static_cast<std::uint64_t>(rd()) << 32) | rd();
  }
  std::cout << "[   SEED   ] TELERING_TEST_SEED=" << seed << " (set it to replay)\n";
  ::testing::Test::RecordProperty("seed", std::to_string(seed));
  return seed;
}

// Polls cond() until it holds or the deadline passes; between polls calls idle() (which
// may do useful work, e.g. drain). Returns cond()'s last value. Never a correctness sleep:
// the condition decides, the deadline only bounds a hang.
template <typename Cond, typename Idle>
bool poll_until(std::chrono::steady_clock::duration timeout, Cond&& cond, Idle&& idle) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return cond();
    idle();
  }
}

// A child process started with fork + execv. Its stdin and stdout are pipes to us; its
// stderr is ours (so its diagnostics show in the test log).
class ChildProcess {
 public:
  ChildProcess(const std::string& path, const std::vector<std::string>& args) {
    // Everything the child needs is built before fork: after fork in a (possibly
    // multi-threaded) process the child only calls async-signal-safe functions.
    std::vector<std::string> storage;
    storage.push_back(path);
    storage.insert(storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);

    int in_pipe[2];
    int out_pipe[2];
    if (::pipe2(in_pipe, O_CLOEXEC) != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // dup2 clears FD_CLOEXEC on the new descriptors; every other pipe end closes at exec.
      if (::dup2(in_pipe[0], STDIN_FILENO) < 0 || ::dup2(out_pipe[1], STDOUT_FILENO) < 0) ::_exit(126);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    stdin_fd_ = in_pipe[1];
    stdout_fd_ = out_pipe[0];
    ::fcntl(stdout_fd_, F_SETFL, ::fcntl(stdout_fd_, F_GETFL) | O_NONBLOCK);
  }

  ~ChildProcess() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      reap_blocking();
    }
    if (stdin_fd_ >= 0) ::close(stdin_fd_);
    if (stdout_fd_ >= 0) ::close(stdout_fd_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] pid_t pid() const noexcept { return pid_; }

  // True while the child has not been reaped. Reaps it (without blocking) if it exited.
  bool running() {
    if (reaped_) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = status;
    }
    return !reaped_;
  }

  void kill(int sig) { ::kill(pid_, sig); }

  // Blocks until the child is reaped (use after SIGKILL, which always ends it).
  void reap_blocking() {
    while (!reaped_) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, 0);
      if (r == pid_) {
        reaped_ = true;
        status_ = status;
      } else if (r < 0 && errno != EINTR) {
        reaped_ = true;
      }
    }
  }

  [[nodiscard]] bool exited_ok() const noexcept { return reaped_ && WIFEXITED(status_) && WEXITSTATUS(status_) == 0; }
  [[nodiscard]] bool killed_by(int sig) const noexcept { return reaped_ && WIFSIGNALED(status_) && WTERMSIG(status_) == sig; }
  [[nodiscard]] int raw_status() const noexcept { return status_; }

  void send_line(std::string_view line) {
    std::string s(line);
    s.push_back('\n');
    const char* p = s.data();
    std::size_t left = s.size();
    while (left > 0) {
      const ssize_t n = ::write(stdin_fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::runtime_error("write to child stdin failed");
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  }

  // Reads whatever the child wrote so far (non-blocking) into complete lines.
  void pump() {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) break;
      partial_.append(buf, static_cast<std::size_t>(n));
    }
    for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
      lines_.push_back(partial_.substr(0, nl));
      partial_.erase(0, nl + 1);
    }
  }

  // Removes and returns the first line starting with prefix, if the child wrote one.
  std::optional<std::string> take_line(std::string_view prefix) {
    pump();
    for (auto it = lines_.begin(); it != lines_.end(); ++it) {
      if (std::string_view(*it).substr(0, prefix.size()) == prefix) {
        std::string line = *it;
        lines_.erase(it);
        return line;
      }
    }
    return std::nullopt;
  }

  // Every line starting with prefix, in order (after the child exited: all of them).
  std::vector<std::string> lines_with(std::string_view prefix) {
    pump();
    std::vector<std::string> out;
    for (const auto& l : lines_)
      if (std::string_view(l).substr(0, prefix.size()) == prefix) out.push_back(l);
    return out;
  }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string partial_;
  std::deque<std::string> lines_;
};

}  // namespace telering::test
