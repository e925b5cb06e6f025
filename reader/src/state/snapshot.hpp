// state/snapshot.hpp — the reader's state on disk, so a restart is not amnesia.
//
// What is kept: the Engine's rolling windows (host and per bot), error history, deduplicated
// error log and totals, circuit breakers (state, deadlines, windows, trip counts and wait
// growth), recovery state per error type (incident, attempts, backoff deadline, reset epoch,
// alert dedup) and the shutdown flag, strategies registered by bot commands, counters,
// gauges and warning counts, and the board's reset epochs. Not kept: EngineStats (process
// counters; Prometheus handles their reset) and pending alerts/decisions.
//
// File format (format version kSnapshotFormatVersion), one JSON object:
//   {"format": "telering-reader-state", "version": 1, "segment": "<name>",
//    "boot_id": "<kernel boot id>", "mono_ns": <snapshot CLOCK_MONOTONIC>,
//    "wall_ns": <snapshot CLOCK_REALTIME>, "checksum": "<fnv1a64 hex of dump(state)>",
//    "state": {...}}
// The checksum is over the compact dump of "state", which nlohmann reproduces exactly from
// the parsed value (keys sorted, doubles printed round-trip), so a flipped byte anywhere in
// the state is caught even when it still parses.
//
// Time: monotonic times in the state belong to the snapshot's boot. Restored on the same
// boot (same boot_id) they are kept as they are; on another boot they are moved by
// (now_mono - snapshot_mono) - (now_wall - snapshot_wall), i.e. converted through wall time,
// so an OPEN breaker stays open for what was left of its wait, less the time the machine
// was down. A time that lands before this boot's clock start becomes 1 ns (long past).
//
// Atomicity: write_file_atomically writes PATH.tmp in the same directory, fsyncs it, renames
// it over PATH and fsyncs the directory, so PATH is always either the previous good snapshot
// or the new one — never a torn file — whatever point a crash or an I/O error stops at.
//
// The state's parts are encoded by state/snapshot_codecs.hpp (the building blocks) and
// engine/engine_state.cpp (the Engine); this file is the envelope, the file and the writer.
//
// Thread safety: SnapshotWriter's submit/flush are for one thread (the drain loop); its
// helper thread does the file I/O. Everything else is plain functions.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>

namespace telering::reader {

inline constexpr std::uint32_t kSnapshotFormatVersion = 1;
inline constexpr std::string_view kSnapshotFormat = "telering-reader-state";

class SnapshotError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The kernel's id of this boot (/proc/sys/kernel/random/boot_id), "" when unreadable.
[[nodiscard]] std::string read_boot_id();

// A point in time on both clocks, and the boot the monotonic one belongs to.
struct SnapshotClock {
  std::uint64_t mono_ns = 0;
  std::int64_t wall_ns = 0;
  std::string boot_id;
  [[nodiscard]] static SnapshotClock now();  // reads both clocks and the boot id
};

// Maps a monotonic time of the snapshot's boot onto this one (rule in the header comment).
struct TimeShift {
  std::int64_t delta_ns = 0;
  bool same_boot = true;
  [[nodiscard]] static TimeShift between(const SnapshotClock& saved, const SnapshotClock& now) noexcept;
  // 0 ("never") stays 0; a time that would fall at or before 0 becomes 1.
  [[nodiscard]] std::uint64_t operator()(std::uint64_t t) const noexcept;
  // An absolute second (t / 1e9) of a one-second bucket.
  [[nodiscard]] std::uint64_t second(std::uint64_t s) const noexcept;
};

// The file text of a snapshot of `state`. Every number in it is finite: NaN is written as 0
// and an infinity as the largest finite double of its sign (JSON has neither).
[[nodiscard]] std::string encode_snapshot(nlohmann::json state, std::string_view segment, const SnapshotClock& at);

// A state file larger than this is refused unread (a full state is ~400 KB; reading a
// planted 500 MB file took 1.5 GB).
inline constexpr std::size_t kMaxSnapshotFileBytes = 32U << 20;

struct DecodedSnapshot {
  nlohmann::json state;
  SnapshotClock at;
};
// Throws SnapshotError naming why the text is not a snapshot of `segment` this reader can use
// (not JSON / truncated, another format or version, another segment, checksum mismatch).
[[nodiscard]] DecodedSnapshot decode_snapshot(std::string_view text, std::string_view segment);

// Rule in the header comment. Throws SnapshotError naming the step and errno text; then
// PATH is untouched and PATH.tmp removed (when it was ours).
void write_file_atomically(const std::string& path, std::string_view bytes);

// Renames a refused file to PATH.bad-<unix seconds> (kept for a post-mortem, never deleted).
// Returns the new name, or "" when the rename failed (logged).
std::string set_snapshot_aside(const std::string& path, std::int64_t wall_ns);

struct LoadedSnapshot {
  std::optional<DecodedSnapshot> snapshot;  // set when usable
  bool missing = false;                     // no file yet: a first start, not an error
  std::string refused;                      // why it was refused ("" when usable or missing)
  std::string moved_to;                     // where the refused file went
};
// Reads and decodes PATH. A file that exists but cannot be used (corrupt, foreign, larger
// than kMaxSnapshotFileBytes) is logged in one line naming the file and the reason, and set
// aside; a directory is refused with a message of its own and left where it is.
[[nodiscard]] LoadedSnapshot load_snapshot_file(const std::string& path, std::string_view segment, std::int64_t wall_ns);

// Writes snapshots on a helper thread so the drain loop never waits for write/fsync/rename.
// submit() hands over a built state (the newest replaces one not yet written); flush()
// waits until everything submitted is on disk (or failed). The destructor finishes the
// pending write.
class SnapshotWriter {
 public:
  struct Stats {
    std::uint64_t written = 0;
    std::uint64_t failed = 0;
    std::uint64_t replaced = 0;         // submitted states overtaken by a newer one
    std::uint64_t last_write_ns = 0;    // encode + write + fsync + rename, last one
    std::uint64_t max_write_ns = 0;
    std::string last_error;
  };

  SnapshotWriter(std::string path, std::string segment);
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  void submit(nlohmann::json state, SnapshotClock at);
  void flush();
  [[nodiscard]] Stats stats() const;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  void run();

  const std::string path_;
  const std::string segment_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;   // helper: work or stop
  std::condition_variable idle_;   // flush(): nothing pending or in flight
  std::optional<std::pair<nlohmann::json, SnapshotClock>> pending_;
  bool busy_ = false;
  bool stop_ = false;
  Stats stats_;
  std::thread thread_;  // last: starts after every member it uses is constructed
};

}  // namespace telering::reader
