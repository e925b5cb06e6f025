// telering/core/layout.hpp — the one definition of the shared-memory segment.
//
//  offset 0                       SegmentHeader (one 4 KiB page)
//    line 0  identity: magic, layout version, record size, geometry, section offsets,
//            tick calibration, creation time          — written once by the creator
//    line 1  ready word                               — written last by the creator (release)
//    line 2  reader pid / start time / heartbeat      — written by the reader
//    line 3  writer-side counters                     — written by writers (atomic RMW)
//  lanes_offset                   Lane[lane_count], each:
//            LaneControl (owner line | producer line | consumer line) + Record[lane_capacity]
//  mpsc_offset                    MpscControl + MpscSlot[mpsc_capacity] + Record[mpsc_capacity]
//  names_offset                   NameEntry[name_capacity]          (open addressing, id = index)
//  board_offset                   BoardHeader + BoardEntry[name_capacity] (indexed by name id)
//  report_offset                  ReportPageHeader + report_bytes bytes
//  fleet_offset                   FleetHeader (retry budget) + RateBucket[kRateBuckets]
//                                 + ProbeSlot[kProbeSlots] (half-open probe permits)
//
// Rules for everything below:
//  - No pointers: a section is found from the base by an offset in the header, and every
//    offset and size is checked against the mapping before use (segment.cpp).
//  - Positions only grow; index = position & (capacity - 1); capacities are powers of two.
//  - Every shared word is a lock-free std::atomic (asserted below) so processes and TSan agree.
//  - Each line names the one party that writes it; a line written by two parties is a bug.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "telering/core/clock.hpp"
#include "telering/core/record.hpp"

namespace telering {

inline constexpr std::size_t kCacheLine = 64;
inline constexpr std::uint64_t kSegmentMagic = 0x474E495245454C54ULL;  // "TELERING" little-endian
inline constexpr std::uint32_t kLayoutVersion = 3;
inline constexpr std::uint64_t kReadyWord = 0x5245414459ULL;           // "READY"

// Geometry chosen when a segment is created. Defaults fit in < 16 MiB (see tests).
struct SegmentGeometry {
  std::uint32_t lane_count = 64;
  std::uint32_t lane_capacity = 2048;   // records per SPSC lane, power of two
  std::uint32_t mpsc_capacity = 8192;   // records in the shared lane, power of two
  std::uint32_t name_capacity = 4096;   // name table and board entries, power of two, <= 65536
  std::uint32_t report_bytes = 256 * 1024;  // report page payload, multiple of 8
};

// Byte offsets of every section, derived from a geometry by compute_layout().
struct SectionOffsets {
  std::uint64_t lanes = 0;
  std::uint64_t lane_stride = 0;
  std::uint64_t mpsc = 0;
  std::uint64_t names = 0;
  std::uint64_t board = 0;
  std::uint64_t report = 0;
  std::uint64_t fleet = 0;
  std::uint64_t total = 0;
};

// Identity of a segment: written once by the creator before `ready`, never changed after.
// Trivially copyable, so an attacher validates a private copy and keeps using that copy: a
// writer that later rewrites these bytes in shared memory cannot change what the reader
// believes the geometry is (the reader also notices and repairs them, see Segment).
struct SegmentIdentity {
  std::uint64_t magic;
  std::uint32_t layout_version;
  std::uint32_t record_size;
  SegmentGeometry geometry;
  std::uint32_t creator_pid;
  SectionOffsets offsets;
  TickCalibration calibration;
  std::int64_t created_wall_ns;
  std::uint64_t created_mono_ns;
};
static_assert(std::is_trivially_copyable_v<SegmentIdentity>);
// Byte offsets, pinned. magic, layout_version and record_size are what any build compares
// before it reads anything else ("layout version: segment 3, this build 4"): they never move,
// whatever the version, or two builds disagree on what they read before the check can say
// so. The rest of the identity moves only together with a new kLayoutVersion: a reorder that
// kept the version would have one build read another's geometry and offsets wrongly.
static_assert(offsetof(SegmentIdentity, magic) == 0);
static_assert(offsetof(SegmentIdentity, layout_version) == 8);
static_assert(offsetof(SegmentIdentity, record_size) == 12);
static_assert(offsetof(SegmentIdentity, geometry) == 16);
static_assert(offsetof(SegmentGeometry, lane_count) == 0 && offsetof(SegmentGeometry, lane_capacity) == 4 &&
              offsetof(SegmentGeometry, mpsc_capacity) == 8 && offsetof(SegmentGeometry, name_capacity) == 12 &&
              offsetof(SegmentGeometry, report_bytes) == 16 && sizeof(SegmentGeometry) == 20);
static_assert(offsetof(SegmentIdentity, creator_pid) == 36);
static_assert(offsetof(SegmentIdentity, offsets) == 40 && sizeof(SectionOffsets) == 64);
static_assert(offsetof(SegmentIdentity, calibration) == 104 && sizeof(TickCalibration) == 24);
static_assert(offsetof(SegmentIdentity, created_wall_ns) == 128);
static_assert(offsetof(SegmentIdentity, created_mono_ns) == 136);
static_assert(sizeof(SegmentIdentity) == 144);

struct alignas(kCacheLine) SegmentHeader {
  // line 0..: identity, written once by the creator before `ready`.
  SegmentIdentity identity;

  // Written last by the creator with release; attachers acquire it before reading the rest.
  alignas(kCacheLine) std::atomic<std::uint64_t> ready;

  // Written by the reader only. heartbeat_ns is monotonic ns, refreshed every loop turn
  // that does work and at least every 100 ms; writers treat > 2 s old as "no reader".
  alignas(kCacheLine) std::atomic<std::uint32_t> reader_pid;
  std::atomic<std::uint32_t> reader_generation;   // bumped at each reader attach
  std::atomic<std::uint64_t> reader_start_time;   // /proc starttime of reader_pid
  std::atomic<std::uint64_t> reader_heartbeat_ns;
  std::atomic<std::uint64_t> reader_pid_ns;       // the reader's PID namespace (process_info.hpp)

  // Written by writers (atomic RMW, rare events only — never on the recording path).
  alignas(kCacheLine) std::atomic<std::uint64_t> lane_claims;       // successful lane claims
  std::atomic<std::uint64_t> lane_claim_failures;                    // no free lane: fell back to MPSC
  std::atomic<std::uint64_t> name_table_full;                        // interning refused: table full
  std::atomic<std::uint64_t> next_command_id;                        // last command id handed out
  std::atomic<std::uint64_t> lanes_lost;                             // a writer found its lane owned by another and moved
};
static_assert(offsetof(SegmentHeader, identity) == 0);
// An attacher waits for the ready word before it reads the identity: it never moves either,
// or a build of another version would wait for a word that is not there instead of naming
// the version it found.
static_assert(offsetof(SegmentHeader, ready) == 192);
inline constexpr std::size_t kHeaderBytes = 4096;
static_assert(sizeof(SegmentHeader) <= kHeaderBytes);

// Owner word of a lane or of a claim: (pid << 32) | tid; 0 = free.
[[nodiscard]] constexpr std::uint64_t make_owner(std::uint32_t pid, std::uint32_t tid) noexcept {
  return (static_cast<std::uint64_t>(pid) << 32) | tid;
}
[[nodiscard]] constexpr std::uint32_t owner_pid(std::uint64_t owner) noexcept { return static_cast<std::uint32_t>(owner >> 32); }
[[nodiscard]] constexpr std::uint32_t owner_tid(std::uint64_t owner) noexcept { return static_cast<std::uint32_t>(owner); }

// Control block of one SPSC lane; the lane's records follow it.
struct LaneControl {
  // Owner line: claimed by a writer thread with CAS 0 -> owner (acquire), released with a
  // release CAS owner -> 0 after start_time is cleared; the reader frees it the same way once
  // the owning thread is proven dead (process_info.hpp: thread_liveness) and its lane is
  // drained. start_time and pid_ns are written after the claim: a reader that sees 0 in
  // either cannot tell, and never frees the lane on that. It re-reads owner after them, so a
  // new owner's start time is never judged against an old owner word.
  alignas(kCacheLine) std::atomic<std::uint64_t> owner;
  std::atomic<std::uint64_t> owner_start_time;  // the owning thread's start time, 0 = not yet known
  std::atomic<std::uint64_t> generation;        // bumped on every claim (for telering-stat)
  std::atomic<std::uint64_t> owner_pid_ns;      // the owner's PID namespace, 0 = not yet known

  // Producer line: written only by the owning writer thread.
  // tail: next position to write, published with release after the record is complete, so
  //       a writer killed mid-record never exposes it (pairs with the reader's acquire).
  // head_cache: the producer's last view of head; refreshed only when it says "full".
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;
  std::atomic<std::uint64_t> head_cache;
  std::atomic<std::uint64_t> dropped;  // records refused because the lane was full

  // Consumer line: written only by the reader, published once per drained batch (release,
  // pairs with the producer's acquire refresh of head_cache).
  alignas(kCacheLine) std::atomic<std::uint64_t> head;
};
static_assert(sizeof(LaneControl) == 3 * kCacheLine);
static_assert(offsetof(LaneControl, tail) == kCacheLine);
static_assert(offsetof(LaneControl, head) == 2 * kCacheLine);

// Control block of the shared multi-producer lane (ring_mpsc.hpp has the protocol).
struct MpscControl {
  // Written by producers (CAS to claim a position, atomic add to count drops).
  alignas(kCacheLine) std::atomic<std::uint64_t> tail;
  std::atomic<std::uint64_t> dropped;  // full, or a tombstone in the way
  std::atomic<std::uint64_t> gave_up;  // tail kept moving or a sequence word was garbage
  // Published by the reader (its own copies; it never reads them back).
  alignas(kCacheLine) std::atomic<std::uint64_t> head;
  std::atomic<std::uint64_t> lost;  // claims abandoned after the stuck timeout
};
static_assert(sizeof(MpscControl) == 2 * kCacheLine);

// One slot's control line of the shared lane: its sequence word (ring_mpsc.hpp) and, written
// by the claimant between its claim and its commit, who claimed it and the check word of
// the record. One line per slot: producers of neighbouring positions do not share one.
struct MpscSlot {
  alignas(kCacheLine) std::atomic<std::uint64_t> seq;
  std::atomic<std::uint64_t> claimant;             // make_owner(pid, tid); 0 = unknown or consumed
  std::atomic<std::uint64_t> claimant_start_time;  // that thread's start time
  std::atomic<std::uint64_t> claimant_pid_ns;      // its PID namespace
  std::atomic<std::uint64_t> check;                // mpsc_check(record, position)
};
static_assert(sizeof(MpscSlot) == kCacheLine);

enum class NameKind : std::uint8_t {
  Bot = 1,
  Component = 2,
  ErrorType = 3,
  WarningType = 4,
  Endpoint = 5,
  Metric = 6,
  RateGroup = 7,   // a shared rate limiter (an exchange's endpoint group / account quota)
  BotBreaker = 8,  // one bot's own breaker on a component: text "<component id>@<bot id>"
};
inline constexpr std::uint8_t kMaxNameKind = 8;
inline constexpr std::size_t kMaxNameLength = 52;

// One interned name. `tag` is its state and what it is for, in one word, so that a thread
// interning a name waits only on an entry being written for the same (kind, hash), and so
// that a claimant's publish is one CAS that fails if its claim was abandoned meanwhile:
//   bits 0-7 state (kNameEmpty, kNameWriting, kNameReady, kNameAbandoned), bits 8-15 kind,
//   bits 32-63 hash (name_table.hpp: name_hash). An empty entry is all zero.
// Writing -> Ready by the claimant (release, after length and text); Writing -> Abandoned by
// an interner of the same name that waited too long (the slot is then skipped for ever).
// Entry 0 is never used: id 0 means "no name".
struct NameEntry {
  std::atomic<std::uint64_t> tag;
  std::uint8_t length;
  std::uint8_t reserved[3];
  char text[kMaxNameLength];
};
static_assert(sizeof(NameEntry) == 64);
inline constexpr std::uint32_t kNameEmpty = 0;
inline constexpr std::uint32_t kNameWriting = 1;
inline constexpr std::uint32_t kNameReady = 2;
inline constexpr std::uint32_t kNameAbandoned = 3;
[[nodiscard]] constexpr std::uint64_t name_tag(std::uint32_t state, NameKind kind, std::uint32_t hash) noexcept {
  return std::uint64_t{hash} << 32 | std::uint64_t{static_cast<std::uint8_t>(kind)} << 8 | state;
}
[[nodiscard]] constexpr std::uint32_t tag_state(std::uint64_t tag) noexcept { return static_cast<std::uint32_t>(tag & 0xFF); }
[[nodiscard]] constexpr std::uint8_t tag_kind(std::uint64_t tag) noexcept { return static_cast<std::uint8_t>(tag >> 8); }
[[nodiscard]] constexpr std::uint32_t tag_hash(std::uint64_t tag) noexcept { return static_cast<std::uint32_t>(tag >> 32); }

// Circuit-breaker states (resilience4j's). Values are the shared-memory contract.
enum class BreakerState : std::uint8_t { Closed = 0, Open = 1, HalfOpen = 2, ForcedOpen = 3, Disabled = 4 };
inline constexpr std::uint8_t kMaxBreakerState = 4;

// The seed's RecoveryAction, as published in BoardEntry::last_action.
enum class RecoveryAction : std::uint8_t { None = 0, Retry = 1, Backoff = 2, Reset = 3, Alert = 4, Shutdown = 5 };
inline constexpr std::uint8_t kMaxRecoveryAction = 5;

// Health of a component or of a bot, worst wins. Unknown: no live reader or no data.
enum class HealthStatus : std::uint8_t { Unknown = 0, Healthy = 1, Warning = 2, Critical = 3 };

// The names of these values, the one definition: the reader's reports, logs and metrics, the
// C ABI's users and the Python module (telering._native's *_NAMES) all show these.
[[nodiscard]] constexpr std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::Closed: return "CLOSED";
    case BreakerState::Open: return "OPEN";
    case BreakerState::HalfOpen: return "HALF_OPEN";
    case BreakerState::ForcedOpen: return "FORCED_OPEN";
    case BreakerState::Disabled: return "DISABLED";
  }
  return "INVALID";
}
// The seed's RecoveryAction values ("retry", ...).
[[nodiscard]] constexpr std::string_view to_string(RecoveryAction a) noexcept {
  switch (a) {
    case RecoveryAction::None: return "none";
    case RecoveryAction::Retry: return "retry";
    case RecoveryAction::Backoff: return "backoff";
    case RecoveryAction::Reset: return "reset";
    case RecoveryAction::Alert: return "alert";
    case RecoveryAction::Shutdown: return "shutdown";
  }
  return "invalid";
}
// The seed's HealthStatus strings.
[[nodiscard]] constexpr std::string_view to_string(HealthStatus s) noexcept {
  switch (s) {
    case HealthStatus::Unknown: return "UNKNOWN";
    case HealthStatus::Healthy: return "HEALTHY";
    case HealthStatus::Warning: return "WARNING";
    case HealthStatus::Critical: return "CRITICAL";
  }
  return "INVALID";
}

inline constexpr std::uint32_t kCommandAckSlots = 256;

// Decision board, written only by the reader. Writers read single words with acquire loads
// (each pairs with the reader's release store of that word); a consistent multi-word view
// uses `version` as a seqlock (odd while the reader updates the entry).
struct BoardHeader {
  alignas(kCacheLine) std::atomic<std::uint64_t> version;       // seqlock over this header
  std::atomic<std::uint64_t> decision_seq;                      // bumped on every published decision
  std::atomic<std::uint32_t> overall_health;                    // HealthStatus
  std::atomic<std::uint32_t> shutdown_requested;                // 1 = the reader asks bots to stop
  std::atomic<std::uint64_t> reset_epoch;                       // bumped by every RESET decision
  std::atomic<std::uint64_t> commands_applied;                  // count of commands applied
  std::atomic<std::uint64_t> report_seq;                        // bumped on every report publish
  // Command acknowledgements: slot id % kCommandAckSlots holds (id << 8) | CommandStatus
  // once the reader has applied command id (release; a writer waits with acquire loads).
  alignas(kCacheLine) std::atomic<std::uint64_t> command_acks[kCommandAckSlots];
};
static_assert(sizeof(BoardHeader) == kCacheLine + kCommandAckSlots * 8);

struct BoardEntry {
  alignas(kCacheLine) std::atomic<std::uint32_t> version;  // seqlock: odd while updating
  std::atomic<std::uint8_t> breaker_state;                   // BreakerState (for a component)
  std::atomic<std::uint8_t> health;                          // HealthStatus
  std::atomic<std::uint8_t> last_action;                     // RecoveryAction of the last decision
  std::atomic<std::uint8_t> rule;                            // why: reader-defined rule code
  std::atomic<std::uint64_t> open_until_ticks;               // breaker: OPEN until (ticks)
  std::atomic<std::uint64_t> backoff_until_ticks;            // error type: back off until (ticks)
  std::atomic<std::uint64_t> reset_epoch;                    // bumped by RESET for this name
  std::atomic<std::uint64_t> decision_seq;                   // board decision_seq at last change
  std::atomic<std::uint32_t> retry_permits;                  // retries the bot may still make
  std::atomic<std::uint32_t> flags;                          // kEntry* bits
  std::atomic<std::uint64_t> backoff_until_ns;               // same deadline, monotonic ns
  // HALF_OPEN breaker: its probe permits are ProbeSlot[first, first + count), packed as
  // first << 16 | count; 0 = no permits published (every call may go through).
  std::atomic<std::uint32_t> probe_slots;
};
static_assert(sizeof(BoardEntry) == kCacheLine);
// BoardEntry::flags of a component: bots also read their own breaker (NameKind::BotBreaker).
inline constexpr std::uint32_t kEntryPerBotBreakers = 1;
[[nodiscard]] constexpr std::uint32_t pack_probe_slots(std::uint32_t first, std::uint32_t count) noexcept {
  return first << 16 | count;
}

// Report page: the reader's latest health report and error statistics as JSON, behind a
// seqlock (seq odd while writing; payload copied with relaxed 8-byte atomics).
struct ReportPageHeader {
  alignas(kCacheLine) std::atomic<std::uint64_t> seq;
  std::atomic<std::uint64_t> length;
  std::atomic<std::uint64_t> published_mono_ns;
  std::atomic<std::uint32_t> overall_health;
  std::atomic<std::uint32_t> reserved;
};
static_assert(sizeof(ReportPageHeader) == kCacheLine);

// Host-wide resources every bot shares (fleet_limits_writer.hpp): a retry budget and rate buckets.
//
// Retry budget: the reader refills `tokens` every interval from what it saw (retries may be
// at most a fraction of requests, with a floor); a writer takes one token with a CAS before
// each retry and stops retrying when none is left. Counters are bumped by writers only on
// the retry path, never on the recording path.
// The writers' line (tokens, refusals) is apart from the reader's settings, which every take
// reads: they stay in each core's cache while the writers pass the tokens around.
struct FleetHeader {
  alignas(kCacheLine) std::atomic<std::int64_t> retry_tokens;    // writers CAS down; reader stores
  // Writers, relaxed RMW on refusal only (retries taken are counted by the reader from the
  // records flagged kFlagRetry: a second shared RMW per take would double its cost).
  std::atomic<std::uint64_t> retries_refused;
  alignas(kCacheLine) std::atomic<std::uint64_t> retry_budget_enabled;  // reader; 0: no budget published (retries allowed)
  std::atomic<std::uint64_t> retry_refill_seq;                   // bumped by the reader at each refill
  // Reader, at each refill: monotonic ns after which writers treat the budget as not
  // published (its reader is gone; nobody would refill it).
  std::atomic<std::uint64_t> retry_budget_valid_until_ns;
};
static_assert(sizeof(FleetHeader) == 2 * kCacheLine);

// A shared rate limiter (GCRA: one "theoretical arrival time" word). The reader configures a
// bucket (name id of its group, emission interval and burst tolerance in ticks) and may
// stretch the interval after an exchange's rate-limit error; writers CAS `tat` forward to
// acquire. A bucket with name_id 0 is unused.
// The writers' line (tat, refused) and the reader's line are apart, so that the settings
// every acquire reads stay in each core's cache while the writers pass `tat` around.
struct RateBucket {
  alignas(kCacheLine) std::atomic<std::uint64_t> tat;       // writers: CAS; next free slot (ticks)
  std::atomic<std::uint64_t> refused;                        // writers: relaxed RMW on refusal only
  alignas(kCacheLine) std::atomic<std::uint64_t> interval_ticks;  // reader: ticks per request (0 = unlimited)
  std::atomic<std::uint64_t> tolerance_ticks;                // reader: (burst - 1) * interval
  std::atomic<std::uint32_t> name_id;                        // reader: group name id; release-published last
  std::atomic<std::uint32_t> shrunk;                         // reader: 1 while stretched after a rate-limit error
  std::atomic<std::uint64_t> base_interval_ticks;            // reader: the configured interval
  std::atomic<std::uint64_t> shrunk_until_ticks;             // reader: when the stretch ends
};
static_assert(sizeof(RateBucket) == 2 * kCacheLine);
inline constexpr std::uint32_t kRateBuckets = 64;

// One half-open probe permit (probe_permits.hpp). owner: 0 = free; make_owner(pid, tid) of
// the holder; kProbeSlotBusy while the reader (re)sets the slot. Writers only ever CAS it
// from 0 (to take) or from themselves back to 0 (a take that lost a race); the reader moves
// it to busy, rewrites the rest, and frees it with a release store of 0 last. Leases and
// holders' liveness are the reader's private bookkeeping.
struct ProbeSlot {
  alignas(kCacheLine) std::atomic<std::uint64_t> owner;   // see above
  std::atomic<std::uint64_t> epoch;                        // reader: bumped at every (re)set
  std::atomic<std::uint32_t> breaker_id;                   // reader: board entry served (0 = none)
  std::atomic<std::uint32_t> used;                         // reader: 1 once the holder's probe outcome arrived
  std::atomic<std::uint32_t> spent;                        // holder: 1 once it recorded its probe outcome
};
static_assert(sizeof(ProbeSlot) == kCacheLine);
inline constexpr std::uint64_t kProbeSlotBusy = ~std::uint64_t{0};
inline constexpr std::uint32_t kProbeSlots = 256;

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::int64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
static_assert(std::atomic<std::uint8_t>::is_always_lock_free);
static_assert(std::is_standard_layout_v<SegmentHeader>);
static_assert(std::is_standard_layout_v<LaneControl>);

[[nodiscard]] constexpr bool is_power_of_two(std::uint64_t v) noexcept { return v != 0 && (v & (v - 1)) == 0; }

[[nodiscard]] constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) noexcept { return (v + a - 1) / a * a; }

// Offsets of every section for a geometry. Sections start on 4 KiB pages.
[[nodiscard]] constexpr SectionOffsets compute_layout(const SegmentGeometry& g) noexcept {
  constexpr std::uint64_t kPage = 4096;
  SectionOffsets o;
  o.lanes = kHeaderBytes;
  o.lane_stride = align_up(sizeof(LaneControl) + std::uint64_t{g.lane_capacity} * kRecordSize, kCacheLine);
  o.mpsc = align_up(o.lanes + o.lane_stride * g.lane_count, kPage);
  const std::uint64_t mpsc_bytes = sizeof(MpscControl) + std::uint64_t{g.mpsc_capacity} * (sizeof(MpscSlot) + kRecordSize);
  o.names = align_up(o.mpsc + mpsc_bytes, kPage);
  o.board = align_up(o.names + std::uint64_t{g.name_capacity} * sizeof(NameEntry), kPage);
  o.report = align_up(o.board + sizeof(BoardHeader) + std::uint64_t{g.name_capacity} * sizeof(BoardEntry), kPage);
  o.fleet = align_up(o.report + sizeof(ReportPageHeader) + g.report_bytes, kPage);
  o.total = align_up(o.fleet + sizeof(FleetHeader) + kRateBuckets * sizeof(RateBucket) + kProbeSlots * sizeof(ProbeSlot), kPage);
  return o;
}

}  // namespace telering
