// telering/core/record.hpp — the 64-byte record a bot thread pushes into its lane.
//
// One record is one cache line. It carries ids, never strings (names are interned once
// into the name table, see name_table.hpp), plus a short inline context that is truncated
// with a flag when it does not fit. The reader validates every field of every record
// (validate_record below): shared memory is input it does not trust.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "telering/core/command.hpp"
#include "telering/core/utf8_clip.hpp"

namespace telering {

// What a record reports. Values are part of the shared-memory contract: append only.
enum class RecordKind : std::uint8_t {
  ScanTime = 1,     // value: scan duration, seconds; name: bot scan loop ("scan")
  ApiCall = 2,      // value: latency, seconds; name: endpoint
  MemorySample = 3, // value: resident set size, bytes
  Error = 4,        // name: error type; aux: component (or 0); severity set; context
  Warning = 5,      // name: warning type; context
  CallOutcome = 6,  // name: component; value: call duration, seconds; flags: kFlagFailure
  Counter = 7,      // name: metric; value: increment
  Gauge = 8,        // name: metric; value: level
  Heartbeat = 9,    // liveness of a bot thread with nothing else to say
  Command = 10,     // a request to the reader (see command.hpp); aux: command code
};
inline constexpr std::uint8_t kMaxRecordKind = 10;

// The seed's ErrorSeverity. 0 is "not applicable" (non-error records).
enum class Severity : std::uint8_t { None = 0, Low = 1, Medium = 2, High = 3, Critical = 4 };
inline constexpr std::uint8_t kMaxSeverity = 4;

[[nodiscard]] constexpr std::string_view to_string(Severity s) noexcept {
  switch (s) {
    case Severity::None: return "NONE";
    case Severity::Low: return "LOW";
    case Severity::Medium: return "MEDIUM";
    case Severity::High: return "HIGH";
    case Severity::Critical: return "CRITICAL";
  }
  return "INVALID";
}

[[nodiscard]] constexpr std::string_view to_string(RecordKind k) noexcept {
  switch (k) {
    case RecordKind::ScanTime: return "scan_time";
    case RecordKind::ApiCall: return "api_call";
    case RecordKind::MemorySample: return "memory_sample";
    case RecordKind::Error: return "error";
    case RecordKind::Warning: return "warning";
    case RecordKind::CallOutcome: return "call_outcome";
    case RecordKind::Counter: return "counter";
    case RecordKind::Gauge: return "gauge";
    case RecordKind::Heartbeat: return "heartbeat";
    case RecordKind::Command: return "command";
  }
  return "invalid";
}

inline constexpr std::uint8_t kFlagContextTruncated = 0x01;
inline constexpr std::uint8_t kFlagFailure = 0x02;  // CallOutcome: the call failed
inline constexpr std::uint8_t kFlagRetry = 0x04;    // CallOutcome: the call was a retry (retry budget)
inline constexpr std::uint8_t kFlagProbe = 0x08;    // CallOutcome: made with a half-open probe permit
inline constexpr std::uint8_t kKnownFlags = kFlagContextTruncated | kFlagFailure | kFlagRetry | kFlagProbe;

inline constexpr std::size_t kRecordSize = 64;
inline constexpr std::size_t kContextCapacity = 34;

// Field order keeps every member naturally aligned; see the static_asserts below.
struct alignas(kRecordSize) Record {
  std::uint64_t timestamp;    // TSC ticks (segment header holds the ticks->ns calibration)
  double value;               // meaning depends on kind
  std::uint32_t thread_id;    // kernel tid of the recording thread
  std::uint16_t name_id;      // name table id: error type, component, endpoint, metric
  std::uint16_t aux_id;       // second name id (component of an error), command argument, or 0
  std::uint16_t bot_id;       // name table id of the bot instance
  RecordKind kind;
  Severity severity;
  std::uint8_t flags;         // kFlag*
  std::uint8_t context_len;   // bytes used in context, <= kContextCapacity
  char context[kContextCapacity];  // not NUL-terminated

  [[nodiscard]] std::string_view context_view() const noexcept {
    return {context, context_len <= kContextCapacity ? context_len : kContextCapacity};
  }

  // Copies at most kContextCapacity bytes, cut on a character boundary (utf8_clip.hpp);
  // sets kFlagContextTruncated when it cut.
  void set_context(std::string_view text) noexcept {
    std::size_t n = text.size();
    if (n > kContextCapacity) {
      n = utf8_clip(text, kContextCapacity).size();
      flags |= kFlagContextTruncated;
    }
    if (n != 0) std::memcpy(context, text.data(), n);
    context_len = static_cast<std::uint8_t>(n);
  }
};

static_assert(sizeof(Record) == kRecordSize, "a record is one cache line");
static_assert(alignof(Record) == kRecordSize);
static_assert(std::is_trivially_copyable_v<Record>);
static_assert(std::is_standard_layout_v<Record>);
static_assert(offsetof(Record, timestamp) == 0);
static_assert(offsetof(Record, value) == 8);
static_assert(offsetof(Record, thread_id) == 16);
static_assert(offsetof(Record, name_id) == 20);
static_assert(offsetof(Record, bot_id) == 24);
static_assert(offsetof(Record, kind) == 26);
static_assert(offsetof(Record, context) == 30);

// Why a record was refused by the reader. Values index the reader's malformed counters.
enum class RecordFault : std::uint8_t {
  None = 0,
  BadKind,
  BadSeverity,
  BadFlags,
  BadContextLength,
  NameOutOfRange,
  BotOutOfRange,
  NotFinite,
  BadValue,  // finite but impossible for the kind (negative duration, ...)
  BadCommand,
  Count_
};

[[nodiscard]] constexpr std::string_view to_string(RecordFault f) noexcept {
  switch (f) {
    case RecordFault::None: return "none";
    case RecordFault::BadKind: return "bad_kind";
    case RecordFault::BadSeverity: return "bad_severity";
    case RecordFault::BadFlags: return "bad_flags";
    case RecordFault::BadContextLength: return "bad_context_length";
    case RecordFault::NameOutOfRange: return "name_out_of_range";
    case RecordFault::BotOutOfRange: return "bot_out_of_range";
    case RecordFault::NotFinite: return "not_finite";
    case RecordFault::BadValue: return "bad_value";
    case RecordFault::BadCommand: return "bad_command";
    case RecordFault::Count_: break;
  }
  return "invalid";
}

// Checks every field of a record copied out of shared memory. name_capacity is the name
// table size from the segment header: ids at or above it cannot name anything.
[[nodiscard]] inline RecordFault validate_record(const Record& r, std::uint32_t name_capacity) noexcept {
  const auto kind = static_cast<std::uint8_t>(r.kind);
  if (kind == 0 || kind > kMaxRecordKind) return RecordFault::BadKind;
  const auto sev = static_cast<std::uint8_t>(r.severity);
  if (sev > kMaxSeverity) return RecordFault::BadSeverity;
  if (r.kind == RecordKind::Error && r.severity == Severity::None) return RecordFault::BadSeverity;
  if ((r.flags & ~kKnownFlags) != 0) return RecordFault::BadFlags;
  if (r.context_len > kContextCapacity) return RecordFault::BadContextLength;
  if (r.name_id >= name_capacity) return RecordFault::NameOutOfRange;
  if (r.kind == RecordKind::Command) {
    if (r.aux_id == 0 || r.aux_id > kMaxCommandCode) return RecordFault::BadCommand;
  } else if (r.aux_id >= name_capacity) {
    return RecordFault::NameOutOfRange;
  }
  if (r.bot_id >= name_capacity) return RecordFault::BotOutOfRange;
  if (!std::isfinite(r.value)) return RecordFault::NotFinite;
  switch (r.kind) {
    case RecordKind::ScanTime:
    case RecordKind::ApiCall:
    case RecordKind::MemorySample:
    case RecordKind::CallOutcome:
      if (r.value < 0.0) return RecordFault::BadValue;
      break;
    case RecordKind::Command:  // value is the command id: a positive integer below 2^53
      if (r.value < 1.0 || r.value > 9007199254740992.0 || r.value != std::floor(r.value)) return RecordFault::BadValue;
      break;
    default:
      break;
  }
  return RecordFault::None;
}

}  // namespace telering
