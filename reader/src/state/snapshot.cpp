// state/snapshot.cpp — the state file: format (envelope and checksum), atomic write, load,
// and the helper thread that writes it. The parts: snapshot_codecs.cpp, engine_state.cpp.
#include "state/snapshot.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "aggregate/rolling_window.hpp"
#include "common/fnv1a.hpp"
#include "evaluate/health_report_format.hpp"
#include "telering/backoff.hpp"
#include "telering/clock.hpp"

namespace telering::reader {

namespace {

using nlohmann::json;

[[nodiscard]] std::string hex64(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Contexts come from shared memory and may hold invalid UTF-8: replaced, never thrown on
// (to_json_text, the one JSON serialiser of shared-memory text).
[[nodiscard]] std::string dump(const json& j) { return to_json_text(j); }

[[nodiscard]] std::string errno_text(int e) { return std::strerror(e); }

[[nodiscard]] std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Clocks

std::string read_boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  if (!(in >> id)) return {};
  return id;
}

SnapshotClock SnapshotClock::now() {
  static const std::string boot = read_boot_id();  // constant for the life of the process
  return SnapshotClock{telering::monotonic_ns(), telering::wall_ns(), boot};
}

TimeShift TimeShift::between(const SnapshotClock& saved, const SnapshotClock& now) noexcept {
  TimeShift s;
  s.same_boot = !saved.boot_id.empty() && saved.boot_id == now.boot_id;
  if (s.same_boot) return s;
  // saved time t happened at wall saved.wall - (saved.mono - t); that wall time is mono
  // now.mono - (now.wall - wall) on this boot.
  s.delta_ns = static_cast<std::int64_t>(now.mono_ns - saved.mono_ns) - (now.wall_ns - saved.wall_ns);
  return s;
}

std::uint64_t TimeShift::operator()(std::uint64_t t) const noexcept {
  if (t == 0 || delta_ns == 0) return t;
  if (delta_ns > 0) return telering::detail::backoff_add_saturating(t, static_cast<std::uint64_t>(delta_ns));
  const auto back = static_cast<std::uint64_t>(-(delta_ns + 1)) + 1;
  return t > back ? t - back : 1;
}

std::uint64_t TimeShift::second(std::uint64_t s) const noexcept {
  if (delta_ns == 0) return s;
  return (*this)(s * RateWindow::kNsPerSecond + 1) / RateWindow::kNsPerSecond;
}

// ---------------------------------------------------------------------------------------
// Envelope

void make_numbers_finite(json& j) {
  if (j.is_number_float()) {
    const double v = j.get<double>();
    if (std::isnan(v)) j = 0.0;
    else if (std::isinf(v)) j = v > 0 ? std::numeric_limits<double>::max() : std::numeric_limits<double>::lowest();
  } else if (j.is_structured()) {
    for (json& v : j) make_numbers_finite(v);
  }
}

std::string encode_snapshot(json state, std::string_view segment, const SnapshotClock& at) {
  // JSON has no infinity: nlohmann would write null, which the next start could not read
  // back as a number (a counter that overflowed cost the whole state once).
  make_numbers_finite(state);
  const std::string state_text = dump(state);
  // The envelope is assembled by hand around the already dumped state, so the state is
  // serialised once; json::parse of the result gives back the same value.
  json head{{"format", kSnapshotFormat},     {"version", kSnapshotFormatVersion}, {"segment", segment},
            {"boot_id", at.boot_id},         {"mono_ns", at.mono_ns},             {"wall_ns", at.wall_ns},
            {"checksum", hex64(fnv1a64(state_text))}};
  std::string text = dump(head);
  text.pop_back();  // the closing brace
  text += ",\"state\":";
  text += state_text;
  text += "}\n";
  return text;
}

DecodedSnapshot decode_snapshot(std::string_view text, std::string_view segment) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) throw SnapshotError("not valid JSON (truncated or corrupt)");
  if (!doc.is_object()) throw SnapshotError("not a JSON object");
  const auto format = doc.find("format");
  if (format == doc.end() || !format->is_string() || format->get<std::string>() != kSnapshotFormat)
    throw SnapshotError("not a telering-reader state file (format field missing or different)");
  const auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_unsigned())
    throw SnapshotError("format version missing");
  if (version->get<std::uint64_t>() != kSnapshotFormatVersion)
    throw SnapshotError("format version not compatible: reader=" + std::to_string(kSnapshotFormatVersion) +
                        " file=" + std::to_string(version->get<std::uint64_t>()));
  const auto seg = doc.find("segment");
  if (seg == doc.end() || !seg->is_string()) throw SnapshotError("segment name missing");
  if (seg->get<std::string>() != segment)
    throw SnapshotError("snapshot of another segment: file='" + seg->get<std::string>() + "' reader='" +
                        std::string(segment) + "'");
  const auto state = doc.find("state");
  const auto checksum = doc.find("checksum");
  if (state == doc.end() || !state->is_object()) throw SnapshotError("state missing");
  if (checksum == doc.end() || !checksum->is_string()) throw SnapshotError("checksum missing");
  const std::string actual = hex64(fnv1a64(dump(*state)));
  if (checksum->get<std::string>() != actual)
    throw SnapshotError("checksum mismatch: file says " + checksum->get<std::string>() + ", content is " + actual);
  DecodedSnapshot out;
  try {
    out.at.boot_id = doc.at("boot_id").get<std::string>();
    out.at.mono_ns = doc.at("mono_ns").get<std::uint64_t>();
    out.at.wall_ns = doc.at("wall_ns").get<std::int64_t>();
  } catch (const json::exception& e) {
    throw SnapshotError(std::string("bad time fields: ") + e.what());
  }
  out.state = std::move(*state);
  return out;
}

// ---------------------------------------------------------------------------------------
// Files

void write_file_atomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw SnapshotError("cannot create " + tmp + ": " + errno_text(errno));
  auto fail = [&](const char* step) {
    const int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    throw SnapshotError(std::string(step) + " " + tmp + ": " + errno_text(e));
  };
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write");
    }
    done += static_cast<std::size_t>(n);
  }
  // Without this fsync a crash after the rename can leave PATH naming an empty file.
  if (::fsync(fd) != 0) fail("cannot fsync");
  if (::close(fd) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw SnapshotError("cannot close " + tmp + ": " + errno_text(e));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw SnapshotError("cannot rename " + tmp + " to " + path + ": " + errno_text(e));
  }
  // The rename is only durable once the directory entry is.
  const std::string dir = dir_of(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw SnapshotError("cannot open directory " + dir + " to fsync it: " + errno_text(errno));
  const int rc = ::fsync(dfd);
  const int e = errno;
  ::close(dfd);
  if (rc != 0) throw SnapshotError("cannot fsync directory " + dir + ": " + errno_text(e));
}

std::string set_snapshot_aside(const std::string& path, std::int64_t wall_ns) {
  const std::string bad = path + ".bad-" + std::to_string(wall_ns / 1'000'000'000);
  if (::rename(path.c_str(), bad.c_str()) != 0) {
    spdlog::error("state file {}: cannot move it aside to {}: {}", path, bad, errno_text(errno));
    return {};
  }
  return bad;
}

LoadedSnapshot load_snapshot_file(const std::string& path, std::string_view segment, std::int64_t wall_ns) {
  LoadedSnapshot out;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 && errno == ENOENT) {
    out.missing = true;
    spdlog::info("state file {} does not exist yet: starting clean", path);
    return out;
  }
  if (S_ISDIR(st.st_mode)) {
    // Not a damaged state file: a mistake in the path. Left where it is.
    out.refused = "it is a directory, not a state file (give --state-file / [reader] state_file a file's path)";
    spdlog::error("state file {} refused: {}; starting clean and keeping no state", path, out.refused);
    return out;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.refused = "cannot open: " + errno_text(errno);
  } else {
    // Read at most one byte past the cap, whatever stat said: the file may grow meanwhile.
    std::string text(kMaxSnapshotFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (in.bad()) {
      out.refused = "cannot read";
    } else if (text.size() > kMaxSnapshotFileBytes) {
      out.refused = "larger than the " + std::to_string(kMaxSnapshotFileBytes >> 20) + " MiB a state file may be";
    } else {
      try {
        out.snapshot = decode_snapshot(text, segment);
        return out;
      } catch (const SnapshotError& e) {
        out.refused = e.what();
      }
    }
  }
  out.moved_to = set_snapshot_aside(path, wall_ns);
  spdlog::error("state file {} refused: {}; starting clean{}", path, out.refused,
                out.moved_to.empty() ? std::string() : " (kept as " + out.moved_to + ")");
  return out;
}

// ---------------------------------------------------------------------------------------
// Helper thread

SnapshotWriter::SnapshotWriter(std::string path, std::string segment)
    : path_(std::move(path)), segment_(std::move(segment)), thread_([this] { run(); }) {}

SnapshotWriter::~SnapshotWriter() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void SnapshotWriter::submit(json state, SnapshotClock at) {
  {
    std::lock_guard lock(mutex_);
    if (pending_) ++stats_.replaced;
    pending_.emplace(std::move(state), std::move(at));
  }
  wake_.notify_one();
}

void SnapshotWriter::flush() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [&] { return !pending_ && !busy_; });
}

SnapshotWriter::Stats SnapshotWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void SnapshotWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stop_ || pending_; });
    if (!pending_) return;  // stop with nothing left to write
    auto job = std::move(*pending_);
    pending_.reset();
    busy_ = true;
    lock.unlock();
    const std::uint64_t start = monotonic_ns();
    std::string error;
    try {
      write_file_atomically(path_, encode_snapshot(job.first, segment_, job.second));
    } catch (const std::exception& e) {
      error = e.what();
    }
    const std::uint64_t took = monotonic_ns() - start;
    if (!error.empty() && error != stats_.last_error) {
      // Once per distinct error, not every snapshot_interval; and "kept" only when there is one.
      struct stat st {};
      const bool previous = ::stat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode);
      spdlog::error("state file {} not written ({}): {}", path_, previous ? "the previous one is kept" : "there is no previous one",
                    error);
    }
    lock.lock();
    busy_ = false;
    stats_.last_write_ns = took;
    stats_.max_write_ns = std::max(stats_.max_write_ns, took);
    if (error.empty()) {
      ++stats_.written;
      stats_.last_error.clear();
    } else {
      ++stats_.failed;
      stats_.last_error = std::move(error);
    }
    if (!pending_) idle_.notify_all();
  }
}

}  // namespace telering::reader
