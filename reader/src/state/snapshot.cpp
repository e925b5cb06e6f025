// state/snapshot.cpp — the state file: format, atomic write, load, the helper
// thread, and the save/restore of every building block and of the Engine.
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

#include "telering/clock.hpp"
#include "engine/engine.hpp"
#include "common/fnv1a.hpp"
#include "evaluate/health_report_format.hpp"
#include "common/safe_text.hpp"

namespace telering::reader {

namespace {

using nlohmann::json;

// Bounds on what one snapshot copies on the loop thread (see ReaderLoop::save_snapshot).
constexpr std::size_t kMaxSavedWindowSamples = 1000;
constexpr std::size_t kMaxSavedHistory = 1000;

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

// A time that JSON can hold: +inf (an uncapped backoff) is written as null.
[[nodiscard]] json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }
[[nodiscard]] double null_is_inf(const json& j) {
  return j.is_null() ? std::numeric_limits<double>::infinity() : j.get<double>();
}

[[nodiscard]] Severity severity_of(const json& j) {
  const auto v = j.get<std::uint32_t>();
  return v <= kMaxSeverity ? static_cast<Severity>(v) : Severity::None;
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

// ---------------------------------------------------------------------------------------
// Building blocks

namespace detail {

json SnapshotAccess::save(const RollingWindow& w) {
  std::vector<double> v = w.values();
  if (v.size() > kMaxSavedWindowSamples) v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(kMaxSavedWindowSamples));
  return json{{"samples", std::move(v)}, {"pushed", w.pushed_}, {"rejected", w.rejected_}};
}

void SnapshotAccess::load(RollingWindow& w, const json& j) {
  w.clear();
  for (const json& v : j.at("samples")) w.push(v.get<double>());
  w.pushed_ = j.at("pushed").get<std::uint64_t>();
  w.rejected_ = j.at("rejected").get<std::uint64_t>();
}

json SnapshotAccess::save(const RateWindow& w) {
  json buckets = json::array();
  for (std::size_t i = 0; i < w.counts_.size(); ++i)
    if (w.second_[i] != RateWindow::kNoSecond && w.counts_[i] != 0) buckets.push_back({w.second_[i], w.counts_[i]});
  return json{{"buckets", std::move(buckets)}, {"total", w.total_}};
}

void SnapshotAccess::load(RateWindow& w, const json& j, const TimeShift& shift) {
  w.clear();
  for (const json& b : j.at("buckets")) {
    const std::uint64_t second = shift.second(b.at(0).get<std::uint64_t>());
    w.add(second * RateWindow::kNsPerSecond, b.at(1).get<std::uint64_t>());
  }
  w.total_ = j.at("total").get<std::uint64_t>();
}

json SnapshotAccess::save(const PerformanceMonitor& m, const NameOf& endpoint_name) {
  json endpoints = json::array();
  for (const auto& [id, window] : m.endpoints_) {
    const std::string name = endpoint_name(id);
    if (!name.empty()) endpoints.push_back({{"name", name}, {"window", save(window)}});
  }
  return json{{"scan_times", save(m.scan_times_)},
              {"api_latencies", save(m.api_latencies_)},
              {"memory_bytes", save(m.memory_bytes_)},
              {"errors", save(m.errors_)},
              {"warnings", save(m.warnings_)},
              {"endpoints", std::move(endpoints)},
              {"untracked_endpoint_calls", m.untracked_endpoint_calls_},
              {"last_scan_ns", m.last_scan_ns_},
              {"last_api_ns", m.last_api_ns_},
              {"last_memory_ns", m.last_memory_ns_},
              {"last_update_ns", m.last_update_ns_},
              {"rejected", m.rejected_}};
}

void SnapshotAccess::load(PerformanceMonitor& m, const json& j, const TimeShift& shift, const IdOf& endpoint_id) {
  load(m.scan_times_, j.at("scan_times"));
  load(m.api_latencies_, j.at("api_latencies"));
  load(m.memory_bytes_, j.at("memory_bytes"));
  load(m.errors_, j.at("errors"), shift);
  load(m.warnings_, j.at("warnings"), shift);
  m.endpoints_.clear();
  for (const json& e : j.at("endpoints")) {
    const std::uint16_t id = endpoint_id(e.at("name").get<std::string>());
    if (id == 0 || m.endpoints_.size() >= m.config_.max_endpoints) continue;
    const auto it = std::lower_bound(m.endpoints_.begin(), m.endpoints_.end(), id,
                                     [](const auto& entry, std::uint16_t v) { return entry.first < v; });
    if (it != m.endpoints_.end() && it->first == id) continue;
    load(m.endpoints_.emplace(it, id, RollingWindow(m.config_.endpoint_window_size))->second, e.at("window"));
  }
  m.untracked_endpoint_calls_ = j.at("untracked_endpoint_calls").get<std::uint64_t>();
  m.last_scan_ns_ = shift(j.at("last_scan_ns").get<std::uint64_t>());
  m.last_api_ns_ = shift(j.at("last_api_ns").get<std::uint64_t>());
  m.last_memory_ns_ = shift(j.at("last_memory_ns").get<std::uint64_t>());
  m.last_update_ns_ = shift(j.at("last_update_ns").get<std::uint64_t>());
  m.rejected_ = j.at("rejected").get<std::uint64_t>();
}

json SnapshotAccess::save(const ErrorLog& log, const NameOf& bot_name, std::size_t max_history) {
  json history = json::array();
  for (const ErrorEvent& e : log.recent(std::min(max_history, kMaxSavedHistory)))
    history.push_back({e.error_type, e.component, static_cast<unsigned>(e.severity), e.message_or_context, e.now_ns,
                       e.wall_ns, bot_name(static_cast<std::uint16_t>(e.bot_id))});
  json types = json::array();  // most recently recorded first, as the LRU list
  for (const ErrorTypeSummary& s : log.lru_)
    types.push_back({s.error_type, s.count, s.first_seen_ns, s.last_seen_ns, s.first_seen_wall_ns, s.last_seen_wall_ns,
                     static_cast<unsigned>(s.last_severity), s.last_component, s.last_message});
  json by_severity = json::array();
  for (const std::uint64_t n : log.by_severity_) by_severity.push_back(n);
  return json{{"start_ns", log.start_ns_}, {"history", std::move(history)}, {"types", std::move(types)},
              {"evicted_types", log.evicted_types_}, {"total", log.total_}, {"by_severity", std::move(by_severity)},
              {"rate", save(log.rate_)}};
}

void SnapshotAccess::load(ErrorLog& log, const json& j, const TimeShift& shift, const IdOf& bot_id) {
  ErrorLog fresh(shift(j.at("start_ns").get<std::uint64_t>()), log.config_);
  // History: the newest entries that fit this config's capacity, oldest first.
  const json& history = j.at("history");
  const std::size_t keep = std::min(history.size(), fresh.history_.size());
  for (std::size_t i = history.size() - keep; i < history.size(); ++i) {
    const json& h = history[i];
    ErrorEvent e;
    e.error_type = h.at(0).get<std::string>();
    e.component = h.at(1).get<std::string>();
    e.severity = severity_of(h.at(2));
    e.message_or_context = h.at(3).get<std::string>();
    e.now_ns = shift(h.at(4).get<std::uint64_t>());
    e.wall_ns = h.at(5).get<std::int64_t>();
    e.bot_id = bot_id(h.at(6).get<std::string>());
    fresh.history_[fresh.history_next_] = std::move(e);
    fresh.history_next_ = (fresh.history_next_ + 1) % fresh.history_.size();
    ++fresh.history_size_;
  }
  // The dedup log, oldest first onto the front so the LRU order comes back as saved.
  const json& types = j.at("types");
  std::size_t skip = types.size() > fresh.config_.max_types ? types.size() - fresh.config_.max_types : 0;
  fresh.evicted_types_ = j.at("evicted_types").get<std::uint64_t>() + skip;
  for (auto it = types.rbegin(); it != types.rend(); ++it) {
    if (skip > 0) {
      --skip;
      continue;
    }
    const json& t = *it;
    fresh.lru_.push_front(ErrorTypeSummary{
        .error_type = t.at(0).get<std::string>(),
        .count = t.at(1).get<std::uint64_t>(),
        .first_seen_ns = shift(t.at(2).get<std::uint64_t>()),
        .last_seen_ns = shift(t.at(3).get<std::uint64_t>()),
        .first_seen_wall_ns = t.at(4).get<std::int64_t>(),
        .last_seen_wall_ns = t.at(5).get<std::int64_t>(),
        .last_severity = severity_of(t.at(6)),
        .last_component = t.at(7).get<std::string>(),
        .last_message = t.at(8).get<std::string>(),
    });
    if (!fresh.types_.emplace(std::string_view(fresh.lru_.front().error_type), fresh.lru_.begin()).second)
      fresh.lru_.pop_front();  // a duplicate type (hand-edited file): keep the first
  }
  fresh.total_ = j.at("total").get<std::uint64_t>();
  const json& by_severity = j.at("by_severity");
  for (std::size_t i = 0; i <= kMaxSeverity && i < by_severity.size(); ++i) fresh.by_severity_[i] = by_severity[i].get<std::uint64_t>();
  load(fresh.rate_, j.at("rate"), shift);
  log = std::move(fresh);
}

json SnapshotAccess::save(const CircuitBreaker& b) {
  json buckets = json::array();
  for (const CircuitBreaker::Bucket& k : b.window_buckets()) buckets.push_back({k.second, k.calls, k.failures, k.slow});
  json j{{"state", static_cast<unsigned>(b.state_)},
         {"open_until_ns", b.open_until_ns_},
         {"half_open_since_ns", b.half_open_since_ns_},
         {"last_now_ns", b.last_now_ns_},
         {"window_type", b.config_.sliding_window_type == BreakerConfig::WindowType::CountBased ? "count" : "time"},
         {"calls", b.window_calls()},
         {"buckets", std::move(buckets)},
         {"newest_second", b.newest_second_},
         {"consecutive_failures", b.consecutive_failures_},
         {"probe", {b.probe_calls_, b.probe_failures_, b.probe_slow_}},
         {"trips", b.trips_},
         {"trips_since_closed", b.trips_since_closed_},
         {"not_permitted", b.not_permitted_},
         {"transitions", b.transitions_}};
  if (b.last_)
    j["last"] = {static_cast<unsigned>(b.last_->from), static_cast<unsigned>(b.last_->to), static_cast<unsigned>(b.last_->rule),
                 b.last_->now_ns, b.last_->failure_rate, b.last_->slow_rate};
  return j;
}

void SnapshotAccess::load(CircuitBreaker& b, const json& j, const TimeShift& shift) {
  const auto state = j.at("state").get<unsigned>();
  if (state > static_cast<unsigned>(BreakerState::Disabled)) throw SnapshotError("breaker state " + std::to_string(state) + " out of range");
  b.allocate_window();
  b.state_ = static_cast<BreakerState>(state);
  b.open_until_ns_ = shift(j.at("open_until_ns").get<std::uint64_t>());
  b.half_open_since_ns_ = shift(j.at("half_open_since_ns").get<std::uint64_t>());
  b.last_now_ns_ = shift(j.at("last_now_ns").get<std::uint64_t>());
  const bool count_based = j.at("window_type").get<std::string>() == "count";
  if (count_based == (b.config_.sliding_window_type == BreakerConfig::WindowType::CountBased)) {
    std::vector<CircuitBreaker::Bucket> buckets;
    for (const json& k : j.at("buckets"))
      buckets.push_back({shift.second(k.at(0).get<std::uint64_t>()), k.at(1).get<std::uint32_t>(), k.at(2).get<std::uint32_t>(),
                         k.at(3).get<std::uint32_t>()});
    b.load_window(j.at("calls").get<std::vector<std::uint8_t>>(), buckets, shift.second(j.at("newest_second").get<std::uint64_t>()));
  }
  b.consecutive_failures_ = j.at("consecutive_failures").get<std::uint32_t>();
  b.probe_calls_ = j.at("probe").at(0).get<std::uint32_t>();
  b.probe_failures_ = j.at("probe").at(1).get<std::uint32_t>();
  b.probe_slow_ = j.at("probe").at(2).get<std::uint32_t>();
  b.trips_ = j.at("trips").get<std::uint64_t>();
  b.trips_since_closed_ = j.at("trips_since_closed").get<std::uint64_t>();
  b.not_permitted_ = j.at("not_permitted").get<std::uint64_t>();
  b.transitions_ = j.at("transitions").get<std::uint64_t>();
  b.last_.reset();
  if (const auto last = j.find("last"); last != j.end()) {
    const json& t = *last;
    const auto from = t.at(0).get<unsigned>(), to = t.at(1).get<unsigned>(), rule = t.at(2).get<unsigned>();
    if (from <= static_cast<unsigned>(BreakerState::Disabled) && to <= static_cast<unsigned>(BreakerState::Disabled) &&
        rule <= static_cast<unsigned>(BreakerRule::Takeover))
      b.last_ = BreakerTransition{static_cast<BreakerState>(from), static_cast<BreakerState>(to), static_cast<BreakerRule>(rule),
                                  shift(t.at(3).get<std::uint64_t>()), t.at(4).get<double>(), t.at(5).get<double>()};
  }
}

json SnapshotAccess::save(const RecoveryStrategy& s) {
  return json{{"error_type", s.error_type},
              {"severity", static_cast<unsigned>(s.severity)},
              {"action", static_cast<unsigned>(s.action)},
              {"max_retries", s.max_retries},
              {"backoff_seconds", s.backoff_seconds},
              {"backoff",
               {{"base_seconds", s.backoff.base_seconds},
                {"multiplier", s.backoff.multiplier},
                {"cap_seconds", finite_or_null(s.backoff.cap_seconds)},
                {"jitter", static_cast<unsigned>(s.backoff.jitter)},
                {"max_attempts", s.backoff.max_attempts},
                {"max_total_seconds", s.backoff.max_total_seconds}}},
              {"params", s.params}};
}

RecoveryStrategy SnapshotAccess::load_strategy(const json& j) {
  RecoveryStrategy s;
  s.error_type = j.at("error_type").get<std::string>();
  s.severity = severity_of(j.at("severity"));
  const auto action = j.at("action").get<unsigned>();
  if (action > kMaxRecoveryAction) throw SnapshotError("strategy action " + std::to_string(action) + " out of range");
  s.action = static_cast<RecoveryAction>(action);
  s.max_retries = j.at("max_retries").get<std::uint32_t>();
  s.backoff_seconds = j.at("backoff_seconds").get<double>();
  const json& b = j.at("backoff");
  s.backoff.base_seconds = b.at("base_seconds").get<double>();
  s.backoff.multiplier = b.at("multiplier").get<double>();
  s.backoff.cap_seconds = null_is_inf(b.at("cap_seconds"));
  const auto jitter = b.at("jitter").get<unsigned>();
  s.backoff.jitter = jitter <= 2 ? static_cast<BackoffPolicy::Jitter>(jitter) : BackoffPolicy::Jitter::None;
  s.backoff.max_attempts = b.at("max_attempts").get<std::uint32_t>();
  s.backoff.max_total_seconds = b.at("max_total_seconds").get<double>();
  s.params = j.at("params").get<std::map<std::string, std::string>>();
  return s;
}

json SnapshotAccess::save(const RecoveryEngine& r) {
  json types = json::array();
  for (const auto& [type, e] : r.states_) {
    const RecoveryTypeState& s = e.s;
    types.push_back({type, s.incident, s.incident_started_ns, s.last_error_ns, s.errors_in_incident, s.attempts,
                     s.backoff_until_ns, s.reset_epoch, s.alerted});
  }
  return json{{"types", std::move(types)},
              {"global_reset_epoch", r.global_reset_epoch_},
              {"evicted", r.evicted_},
              {"shutdown", r.shutdown_}};
}

void SnapshotAccess::load(RecoveryEngine& r, const json& j, const TimeShift& shift) {
  r.states_.clear();
  for (const json& t : j.at("types")) {
    RecoveryTypeState s;
    const std::string type = t.at(0).get<std::string>();
    s.incident = t.at(1).get<std::uint64_t>();
    s.incident_started_ns = shift(t.at(2).get<std::uint64_t>());
    s.last_error_ns = shift(t.at(3).get<std::uint64_t>());
    s.errors_in_incident = t.at(4).get<std::uint64_t>();
    s.attempts = t.at(5).get<std::uint32_t>();
    s.backoff_until_ns = shift(t.at(6).get<std::uint64_t>());
    s.reset_epoch = t.at(7).get<std::uint64_t>();
    s.alerted = t.at(8).get<bool>();
    if (type.empty()) continue;
    auto& entry = r.states_.insert_or_assign(type, RecoveryEngine::TypeEntry{s, Backoff(BackoffPolicy{})}).first->second;
    r.rebuild_backoff(type, entry);
  }
  // Bounded like live state: the least recently erring types go first.
  while (r.states_.size() > r.config_.max_tracked_types) {
    r.states_.erase(std::min_element(r.states_.begin(), r.states_.end(), [](const auto& a, const auto& b) {
      return a.second.s.last_error_ns < b.second.s.last_error_ns;
    }));
    ++r.evicted_;
  }
  r.global_reset_epoch_ = std::max(r.global_reset_epoch_, j.at("global_reset_epoch").get<std::uint64_t>());
  r.evicted_ += j.at("evicted").get<std::uint64_t>();
  r.shutdown_ = j.at("shutdown").get<bool>();
}

}  // namespace detail

// ---------------------------------------------------------------------------------------
// Engine

nlohmann::json Engine::save_state() const {
  using detail::SnapshotAccess;
  const auto endpoint_name = [this](std::uint16_t id) -> std::string {
    const CachedName* c = resolve(id);
    return c && c->kind == NameKind::Endpoint ? c->text : std::string();
  };
  const auto bot_name = [this](std::uint16_t id) -> std::string {
    const CachedName* c = resolve(id);
    return c && c->kind == NameKind::Bot ? c->text : std::string();
  };
  json bots = json::array();
  for (const auto& [id, b] : bots_) {
    const std::string name = bot_name(id);
    if (name.empty()) continue;  // a bot whose name never resolved has nothing to key it by
    bots.push_back({{"name", name}, {"last_seen_ns", b.last_seen_ns}, {"monitor", SnapshotAccess::save(b.monitor, endpoint_name)}});
  }
  json breakers = json::array();
  for (const auto& [id, b] : breakers_) {
    json j = {{"component", b.component}, {"breaker", SnapshotAccess::save(b.breaker)}};
    if (b.bot_id != kNoName) {
      const std::string bot = bot_name(b.bot_id);
      if (bot.empty()) continue;
      j["bot"] = bot;  // a bot's own breaker, keyed by names (ids differ on a fresh segment)
    }
    breakers.push_back(std::move(j));
  }
  json strategies = json::array();
  for (const RecoveryStrategy& s : command_strategies_) strategies.push_back(SnapshotAccess::save(s));
  // The board's per-name reset epochs: a fresh board (another boot) must not show a bot an
  // epoch lower than one it already saw.
  json epochs = json::array();
  const BoardReader board = board_.reader();
  for (NameId id = 1; id < name_cache_.size(); ++id) {
    const std::uint64_t epoch = board.reset_epoch(id);
    if (epoch == 0) continue;
    if (const CachedName* c = resolve(id)) epochs.push_back({static_cast<unsigned>(c->kind), c->text, epoch});
  }
  // Holds from outside (the Alertmanager webhook): a restarted reader keeps a breaker forced
  // open by a firing alert until its resolution (or deadline) arrives.
  json external = json::array();
  for (const auto& [key, hold] : external_) {
    json h = json::array();
    for (const auto& [holder, until_ns] : hold.holders) h.push_back({holder, until_ns});
    external.push_back({{"breaker", key.first}, {"target", name_of(key.second)}, {"forced", hold.forced}, {"holders", std::move(h)}});
  }
  return json{{"host", SnapshotAccess::save(host_, endpoint_name)},
              {"external", std::move(external)},
              {"bots", std::move(bots)},
              {"errors", SnapshotAccess::save(errors_, bot_name, errors_.config().history_capacity)},
              {"recovery", SnapshotAccess::save(*recovery_)},
              {"command_strategies", std::move(strategies)},
              {"breakers", std::move(breakers)},
              {"counters", counters_},
              {"gauges", gauges_},
              {"warnings_by_type", warnings_by_type_},
              {"board_epochs", std::move(epochs)},
              {"board_global_epoch", board.global_reset_epoch()},
              {"shutdown_published", shutdown_published_}};
}

void Engine::restore_state(const nlohmann::json& state, const TimeShift& shift, std::uint64_t now_ns) {
  using detail::SnapshotAccess;
  if (!state.is_object()) throw SnapshotError("the state is not a JSON object");
  const auto id_of = [this](NameKind kind) {
    return [this, kind](const std::string& name) -> std::uint16_t { return name.empty() ? kNoName : names_.intern(kind, name); };
  };
  const auto endpoint_id = id_of(NameKind::Endpoint);
  const auto bot_id = id_of(NameKind::Bot);
  // What is valid is restored, section by section and entry by entry: one bad value (a
  // hand edit, a reader bug) costs its own entry, never the breakers, backoffs and history
  // with it. `undo` puts what the failed part touched back to a fresh state.
  std::size_t skipped = 0;
  const auto part = [&](std::string_view what, auto&& restore, auto&& undo) {
    try {
      restore();
    } catch (const std::exception& e) {
      ++skipped;
      spdlog::warn("state file: {} not restored ({}); starting it fresh", what, e.what());
      undo();
    }
  };
  const auto each = [&](const char* section) -> const json& {
    static const json kEmpty = json::array();
    const auto it = state.find(section);
    if (it == state.end() || !it->is_array()) {
      ++skipped;
      spdlog::warn("state file: section '{}' missing or not a list; starting it fresh", section);
      return kEmpty;
    }
    return *it;
  };
  const auto nothing = [] {};

  part("section 'host'", [&] { SnapshotAccess::load(host_, state.at("host"), shift, endpoint_id); },
       [&] { host_ = PerformanceMonitor(config_.windows); });
  for (const json& j : each("bots")) {
    NameId id = kNoName;
    part("a bot", [&] {
      id = bot_id(j.at("name").get<std::string>());
      if (id == kNoName) return;  // name table full
      Bot& b = bot(id);
      b.last_seen_ns = shift(j.at("last_seen_ns").get<std::uint64_t>());
      SnapshotAccess::load(b.monitor, j.at("monitor"), shift, endpoint_id);
    }, [&] {
      if (id == kNoName || !bots_by_id_[id]) return;
      bots_by_id_[id] = nullptr;
      bots_.erase(id);
    });
  }
  part("section 'errors'", [&] { SnapshotAccess::load(errors_, state.at("errors"), shift, bot_id); }, nothing);
  // Strategies before states: registering a strategy forgets its type's state.
  for (const json& j : each("command_strategies")) {
    part("a bot's strategy", [&] {
      RecoveryStrategy s = SnapshotAccess::load_strategy(j);
      if (!recovery_->register_recovery_strategy(s)) return;
      std::erase_if(command_strategies_, [&](const RecoveryStrategy& c) { return c.error_type == s.error_type; });
      command_strategies_.push_back(std::move(s));
    }, nothing);
  }
  part("section 'recovery'", [&] { SnapshotAccess::load(*recovery_, state.at("recovery"), shift); }, [&] {
    auto fresh = std::make_unique<RecoveryEngine>(config_.recovery);
    for (const RecoveryStrategy& s : config_.strategies) fresh->register_recovery_strategy(s);
    for (const RecoveryStrategy& s : command_strategies_) fresh->register_recovery_strategy(s);
    recovery_ = std::move(fresh);
  });
  for (const json& j : each("breakers")) {
    Breaker* b = nullptr;
    part("a breaker", [&] {
      const NameId id = names_.intern(NameKind::Component, j.at("component").get<std::string>());
      if (id == kNoName) return;
      b = breaker(id, now_ns);
      if (b && j.contains("bot")) {
        const NameId own_bot = names_.intern(NameKind::Bot, j.at("bot").get<std::string>());
        b = own_bot == kNoName ? nullptr : bot_breaker(*b, own_bot);
      }
      if (b) SnapshotAccess::load(b->breaker, j.at("breaker"), shift);
    }, [&] {
      if (b) b->breaker = CircuitBreaker(b->breaker.config());
    });
  }
  // Plain maps: an entry that is not a number (a counter once saved as null) is skipped alone.
  const auto numbers = [&](const char* section, auto&& put) {
    const auto it = state.find(section);
    if (it == state.end() || !it->is_object()) {
      ++skipped;
      spdlog::warn("state file: section '{}' missing or not an object; starting it fresh", section);
      return;
    }
    for (const auto& [name, v] : it->items()) {
      if (!v.is_number() || !std::isfinite(v.template get<double>())) {
        ++skipped;
        spdlog::warn("state file: {} '{}' is not a finite number; not restored", section, safe_text(name));
        continue;
      }
      put(name, v);
    }
  };
  numbers("counters", [&](const std::string& name, const json& v) { counters_[name] = v.get<double>(); });
  numbers("gauges", [&](const std::string& name, const json& v) { gauges_[name] = v.get<double>(); });
  numbers("warnings_by_type", [&](const std::string& name, const json& v) {
    if (v.is_number_unsigned() && (warnings_by_type_.size() < config_.error_log.max_types || warnings_by_type_.count(name)))
      warnings_by_type_[name] = v.get<std::uint64_t>();
  });
  part("the shutdown flag", [&] { shutdown_published_ = state.at("shutdown_published").get<bool>(); }, nothing);
  shutdown_published_ = shutdown_published_ || recovery_->shutdown_requested();
  std::vector<std::pair<NameId, std::uint64_t>> epochs;
  for (const json& e : each("board_epochs")) {
    part("a reset epoch", [&] {
      const auto kind = e.at(0).get<unsigned>();
      // BotBreaker names are made of ids, which differ on a fresh segment: not restored.
      if (kind == 0 || kind > kMaxNameKind || kind == static_cast<unsigned>(NameKind::BotBreaker)) return;
      const NameId id = names_.intern(static_cast<NameKind>(kind), e.at(1).get<std::string>());
      if (id != kNoName) epochs.emplace_back(id, e.at(2).get<std::uint64_t>());
    }, nothing);
  }
  std::uint64_t global_epoch = 0;
  part("the global reset epoch", [&] { global_epoch = state.at("board_global_epoch").get<std::uint64_t>(); }, nothing);
  republish(now_ns, epochs, global_epoch);
  if (state.contains("external")) {
    for (const json& e : each("external")) {
      part("an Alertmanager hold", [&] {
        const bool breaker_kind = e.at("breaker").get<bool>();
        for (const json& h : e.at("holders")) {
          ExternalAction a;
          a.kind = breaker_kind ? ExternalAction::Kind::OpenBreaker : ExternalAction::Kind::Backoff;
          a.target = e.at("target").get<std::string>();
          a.holder = h.at(0).get<std::string>();
          a.source = "restore";
          const auto until = h.at(1).get<std::uint64_t>();
          a.until_ns = until == 0 ? 0 : shift(until);
          if (a.until_ns == 0 || a.until_ns > now_ns) apply_external(a, now_ns);
        }
        // The breaker came back FORCED_OPEN with the other breakers, so re-applying the holds
        // changed nothing: whether they own that state comes from the snapshot.
        const NameId id = names_.intern(breaker_kind ? NameKind::Component : NameKind::ErrorType, e.at("target").get<std::string>());
        if (const auto held = external_.find(std::make_pair(breaker_kind, id)); held != external_.end())
          held->second.forced = e.value("forced", false);
      }, nothing);
    }
  }
  if (skipped != 0) spdlog::warn("state file: {} part(s) could not be restored (see above); the rest was", skipped);
}

void Engine::republish(std::uint64_t now_ns, const std::vector<std::pair<NameId, std::uint64_t>>& epochs, std::uint64_t global_epoch) {
  // Epochs only grow: on the same segment the board already has them (max keeps it), on a
  // fresh one they come back to what bots last saw.
  BoardHeader& header = segment_->board();
  const std::uint64_t global = std::max(global_epoch, recovery_->global_reset_epoch());
  if (header.reset_epoch.load(std::memory_order_relaxed) < global)
    header.reset_epoch.store(global, std::memory_order_release);  // pairs with BoardReader::global_reset_epoch
  const BoardReader board = board_.reader();
  for (const auto& entry : epochs) {
    // Named copies: clang 14 cannot capture structured bindings in a lambda.
    const NameId id = entry.first;
    const std::uint64_t epoch = entry.second;
    if (board.reset_epoch(id) >= epoch) continue;
    (void)board_.update(id, [&](BoardEntry& e) {
      e.reset_epoch.store(epoch, std::memory_order_release);  // pairs with BoardReader::reset_epoch
    });
  }
  std::size_t open = 0, backoffs = 0;
  timed_breakers_.clear();
  for (auto& [id, b] : breakers_) {
    const BreakerState s = b.breaker.state();
    const std::uint64_t until = b.breaker.open_until_ns();
    const std::uint8_t rule = static_cast<std::uint8_t>(b.breaker.last_transition() ? b.breaker.last_transition()->rule : BreakerRule::Reset);
    if (b.probe_slots != 0) probes_.withdraw(b.probe_slots);
    b.probe_slots = 0;
    if (s == BreakerState::HalfOpen) b.probe_slots = issue_probes(id, b);
    const std::uint64_t seq = board_.set_breaker(id, s, until ? clock_.calibration().to_ticks(until) : 0, rule, b.probe_slots);
    if (s == BreakerState::Open || s == BreakerState::HalfOpen) timed_breakers_.push_back(id);
    if (s != BreakerState::Closed) {
      ++open;
      record_decision(seq, now_ns, b.component, "breaker " + std::string(to_string(s)) + " restored", "restore");
    }
  }
  for (const auto& state : recovery_->states()) {
    const auto& type = state.first;
    const std::uint64_t backoff_until_ns = state.second.backoff_until_ns;
    const auto attempts = state.second.attempts;
    if (backoff_until_ns <= now_ns) continue;
    const NameId id = names_.intern(NameKind::ErrorType, type);
    if (id == kNoName) continue;
    const RecoveryStrategy* strat = recovery_->strategy(type);
    const RecoveryAction action = strat ? strat->action : RecoveryAction::Backoff;
    const std::uint32_t permits = action == RecoveryAction::Retry && strat->max_retries > attempts ? strat->max_retries - attempts : 0;
    const std::uint64_t ticks = clock_.calibration().to_ticks(backoff_until_ns);
    const std::uint64_t seq = board_.update(id, [&](BoardEntry& e) {
      e.backoff_until_ns.store(backoff_until_ns, std::memory_order_release);
      e.retry_permits.store(permits, std::memory_order_release);
      e.last_action.store(static_cast<std::uint8_t>(action), std::memory_order_release);
      e.rule.store(recovery_rule(action), std::memory_order_release);
      // Pairs with BoardReader::backoff_until_ticks.
      e.backoff_until_ticks.store(ticks, std::memory_order_release);
    });
    ++backoffs;
    record_decision(seq, now_ns, type, "backoff restored", "restore");
  }
  board_.request_shutdown(shutdown_published_);
  for (auto& [id, b] : bots_) b.status = HealthStatus::Unknown;  // every bot's health goes out again
  published_status_ = HealthStatus::Unknown;
  publish_report(now_ns);
  spdlog::info("restored state: {} bot(s), {} error(s) in history, {} breaker(s) ({} not closed), {} active backoff(s){}",
               bots_.size(), errors_.history_size(), breakers_.size(), open, backoffs,
               shutdown_published_ ? ", shutdown requested" : "");
}

}  // namespace telering::reader
