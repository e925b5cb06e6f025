// tools/segment_stats.hpp — a read-only snapshot of a segment, for telering-stat.
//
// take_segment_stats() copies what an operator wants to see (header, lanes, shared lane,
// decision board, name table, report page) out of a mapped segment into a plain struct;
// format_table() and to_json() render it. telering-stat and the tests share this code.
//
// Contract:
//  - Loads only. The snapshot never stores to the segment, so it works on a read-only
//    mapping (SegmentOptions{.read_only = true}) where any store would fault, with no
//    reader running, and without disturbing one that is.
//  - Shared memory is untrusted input: every value is range-checked before it is used to
//    index, size or label anything. A value out of range is reported as "corrupt" (and
//    explained in SegmentStats::problems), never trusted and never a crash. Name text is
//    reduced to printable ASCII so a hostile segment cannot inject terminal escapes.
//  - A snapshot is not atomic across fields: each word is one acquire load (each pairs
//    with the release store of its single writer, named in layout.hpp); board entries use
//    their seqlock. Counters that move while it is taken are off by what moved.
//  - Liveness checks (/proc) make syscalls: this is a tool, not a hot path.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "telering/layout.hpp"
#include "telering/name_table.hpp"
#include "telering/segment.hpp"

namespace telering::reader {

// A heartbeat older than this means "no live reader" (the writers' rule, writer.cpp).
inline constexpr std::uint64_t kReaderStaleNs = 2'000'000'000ULL;
// Linux PID_MAX_LIMIT: a pid or tid above it cannot be real.
inline constexpr std::uint32_t kMaxPid = 4'194'304;

// The clocks a snapshot is taken at; tests pass fixed values.
struct StatClock {
  std::uint64_t mono_ns = 0;
  std::int64_t wall_ns = 0;
  static StatClock now() noexcept;
};

enum class ReaderState : std::uint8_t {
  NoReader,  // never attached (no heartbeat, no pid)
  Alive,     // heartbeat fresher than kReaderStaleNs and its pid (if any) still running
  Stopped,   // detached cleanly (pid 0) and heartbeat stale
  Stalled,   // its pid still runs but the heartbeat is stale (hung or stopped)
  Dead,      // its pid is gone
  Corrupt,   // heartbeat in the future or pid out of range
};

enum class OwnerState : std::uint8_t {
  Alive,       // owning thread running (same start time)
  ThreadGone,  // process running, owning thread gone (or tid reused): reclaimed once drained
  Dead,        // process gone (or pid reused): the reader reclaims the lane once drained
  Corrupt,     // owner word out of range
  Unknown,     // cannot tell (no /proc access, identity not yet published): never reclaimed
};

struct LaneStats {
  std::uint32_t index = 0;
  std::uint32_t owner_pid = 0;
  std::uint32_t owner_tid = 0;
  OwnerState owner = OwnerState::Corrupt;
  std::uint64_t generation = 0;  // claims of this lane so far
  std::uint64_t head = 0;
  std::uint64_t tail = 0;        // records ever published into the lane
  std::uint64_t capacity = 0;
  std::uint64_t dropped = 0;
  std::optional<std::uint64_t> fill;      // tail - head; empty when corrupt
  std::optional<double> records_per_s;    // set by compute_rates()
  bool corrupt = false;                   // positions inconsistent (see problems)
};

struct SharedLaneStats {
  std::uint64_t head = 0;
  std::uint64_t tail = 0;
  std::uint64_t capacity = 0;
  std::uint64_t dropped = 0;
  std::uint64_t lost = 0;  // claimed but never committed (claimant died): skipped by the reader
  std::optional<std::uint64_t> fill;
  std::optional<double> records_per_s;
  bool corrupt = false;
};

// One name whose board entry holds a decision (anything but the all-default entry).
struct BoardRow {
  NameId id = 0;
  std::string name;   // printable; "<corrupt name #id>" when the entry is malformed
  std::string kind;   // "component", "error_type", ... or "corrupt"
  std::string breaker;      // "CLOSED", "OPEN", ... or "corrupt"
  std::string last_action;  // "none", "backoff", ... or "corrupt"
  std::string health;       // "UNKNOWN", "HEALTHY", ... or "corrupt"
  std::optional<double> open_for_s;           // breaker open-until minus now (may be <= 0: expired)
  std::optional<double> backoff_remaining_s;  // > 0 only; empty when no backoff in force
  bool open_until_corrupt = false;            // deadline implausibly far away
  bool backoff_corrupt = false;
  std::uint64_t reset_epoch = 0;
  std::uint32_t retry_permits = 0;
  std::uint64_t decision_seq = 0;
  bool consistent = true;  // false: the reader kept updating the entry during the read
};

struct NameCounts {
  std::uint64_t by_kind[kMaxNameKind + 1] = {};  // index = NameKind value; [0] unused
  std::uint64_t writing = 0;  // claimed, text not yet published (or claimant died)
  std::uint64_t corrupt = 0;
  std::uint64_t capacity = 0;  // usable slots (slot 0 is never used)
  [[nodiscard]] std::uint64_t used() const noexcept;
};

struct ReportStats {
  bool published = false;
  std::uint64_t seq = 0;
  std::uint64_t length = 0;
  std::optional<double> age_s;
};

struct SegmentStats {
  // Identity (validated by Segment::open against this build).
  std::string name;
  std::uint64_t size_bytes = 0;
  std::uint32_t layout_version = 0;
  SegmentGeometry geometry{};
  std::uint32_t creator_pid = 0;
  std::int64_t created_wall_ns = 0;

  // Reader and health.
  ReaderState reader = ReaderState::NoReader;
  std::uint32_t reader_pid = 0;
  std::optional<double> heartbeat_age_s;
  std::string reader_text;           // "no reader", "pid 12 alive, heartbeat 0.05 s old", ...
  std::string overall_health;        // from the board, or "UNKNOWN" / "corrupt"
  std::string health_reason;         // why it is UNKNOWN; empty otherwise
  std::optional<bool> shutdown_requested;  // empty: corrupt word

  // Counters.
  std::uint64_t lane_claims = 0;
  std::uint64_t lane_claim_failures = 0;
  std::uint64_t name_table_full = 0;
  std::uint64_t next_command_id = 0;
  std::uint64_t commands_applied = 0;
  std::uint64_t decision_seq = 0;
  std::uint64_t global_reset_epoch = 0;
  ReportStats report;

  std::vector<LaneStats> lanes;  // claimed lanes only, by index
  std::uint32_t free_lanes = 0;
  std::uint32_t free_lanes_with_backlog = 0;  // released (writer gone) but not yet drained
  std::uint64_t free_lanes_backlog = 0;       // records waiting in those lanes
  SharedLaneStats shared;
  std::vector<BoardRow> board;   // by name id
  NameCounts names;

  std::vector<std::string> problems;  // every corrupt value found, one line each
  StatClock taken;
  std::vector<std::uint64_t> lane_tails;  // tail of every lane, claimed or free (for rates)
};

// Snapshots a mapped segment (loads only; see the contract above).
[[nodiscard]] SegmentStats take_segment_stats(const Segment& segment, const StatClock& clock);
[[nodiscard]] inline SegmentStats take_segment_stats(const Segment& segment) {
  return take_segment_stats(segment, StatClock::now());
}

// Fills records_per_s of `current` from the tail growth since `previous` (same segment).
// A lane claimed again in between still counts: positions only grow.
void compute_rates(SegmentStats& current, const SegmentStats& previous) noexcept;

// The human table (no ANSI codes; the caller clears the screen) and the JSON object.
[[nodiscard]] std::string format_table(const SegmentStats& stats);
[[nodiscard]] nlohmann::json to_json(const SegmentStats& stats);

[[nodiscard]] std::string_view to_string(ReaderState s) noexcept;  // "no_reader", "alive", ...
[[nodiscard]] std::string_view to_string(OwnerState s) noexcept;   // "alive", "thread_gone", ...
[[nodiscard]] std::string_view name_kind_text(std::uint8_t kind) noexcept;  // "component", ... or "corrupt"

}  // namespace telering::reader
