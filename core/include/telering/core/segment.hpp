// telering/core/segment.hpp — opening, creating and validating the shared-memory segment.
//
// Writers and the reader both call Segment::open_or_create, so start order does not matter.
// The creator sizes and zeroes the segment, writes the header and publishes the ready word
// last (release); an attacher waits (bounded) for the ready word (acquire) and then checks
// every identity field against what it was built for. A mismatch is a SegmentError that
// names both values; an existing segment is never re-initialised.
//
// Thread safety: a Segment is an immutable mapping once constructed; the accessors return
// views into shared memory whose own rules are in layout.hpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "telering/core/layout.hpp"

namespace telering {

class SegmentError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct SegmentOptions {
  std::string name = "telering";  // shm object name, /dev/shm/<name>
  SegmentGeometry geometry{};     // used only when this call creates the segment
  unsigned mode = 0600;           // permissions of a created segment
  std::string group;              // group of a created segment ("" = the creator's); for a shared bot account
  bool trust_other_owner = false; // attach to a segment owned by another user (refused by default)
  bool create = true;             // false: attach only, fail if it does not exist
  bool read_only = false;         // map read-only (telering-stat); implies create = false
  bool prefault = true;           // touch every page at attach so recording never faults
  std::chrono::milliseconds ready_timeout{2000};  // wait for a concurrent creator
};

class Segment {
 public:
  // Opens the named segment, creating it if it does not exist (unless options.create is
  // false). Throws SegmentError with a message that says what to do.
  static Segment open(const SegmentOptions& options);

  // Removes the shm object name; mappings stay valid until closed. True if it existed.
  static bool remove(const std::string& name) noexcept;

  Segment(Segment&&) noexcept;
  Segment& operator=(Segment&&) noexcept;
  ~Segment();

  [[nodiscard]] bool created() const noexcept { return created_; }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::byte* base() const noexcept { return base_; }

  [[nodiscard]] SegmentHeader& header() const noexcept { return *reinterpret_cast<SegmentHeader*>(base_); }
  // The identity validated at attach, from this process's own copy: never re-read from
  // shared memory, where a writer could rewrite it after validation.
  [[nodiscard]] const SegmentIdentity& identity() const noexcept { return identity_; }
  [[nodiscard]] const SegmentGeometry& geometry() const noexcept { return identity_.geometry; }
  [[nodiscard]] const TickCalibration& calibration() const noexcept { return identity_.calibration; }

  // "" while the identity in shared memory still equals the copy validated at attach;
  // otherwise which field differs ("lane_count: segment=999 attached=64").
  [[nodiscard]] std::string identity_changed() const;
  // Writes the validated identity back over a rewritten one (the reader does, so that bots
  // attaching later and a restarted reader see the segment as it was created).
  void restore_identity() const noexcept;
  // Size of the shared-memory object now (fstat), or 0 if it cannot be read. Below size()
  // means another process truncated it: touching the missing pages raises SIGBUS.
  [[nodiscard]] std::size_t object_size() const noexcept;
  // True when /dev/shm/<name> now names another object (this one was removed and a new one
  // created under its name); false while it names this one, or nothing at all.
  [[nodiscard]] bool replaced() const noexcept;
  // The open file descriptor of the shm object (for locks); -1 if none.
  [[nodiscard]] int native_handle() const noexcept;

  [[nodiscard]] LaneControl& lane(std::uint32_t index) const noexcept {
    return *reinterpret_cast<LaneControl*>(base_ + offsets_.lanes + offsets_.lane_stride * index);
  }
  [[nodiscard]] Record* lane_records(std::uint32_t index) const noexcept {
    return reinterpret_cast<Record*>(reinterpret_cast<std::byte*>(&lane(index)) + sizeof(LaneControl));
  }
  [[nodiscard]] MpscControl& mpsc() const noexcept { return *reinterpret_cast<MpscControl*>(base_ + offsets_.mpsc); }
  [[nodiscard]] MpscSlot* mpsc_slots() const noexcept {
    return reinterpret_cast<MpscSlot*>(base_ + offsets_.mpsc + sizeof(MpscControl));
  }
  [[nodiscard]] Record* mpsc_records() const noexcept {
    return reinterpret_cast<Record*>(base_ + offsets_.mpsc + sizeof(MpscControl) +
                                     std::uint64_t{geometry().mpsc_capacity} * sizeof(MpscSlot));
  }
  [[nodiscard]] NameEntry* names() const noexcept { return reinterpret_cast<NameEntry*>(base_ + offsets_.names); }
  [[nodiscard]] BoardHeader& board() const noexcept { return *reinterpret_cast<BoardHeader*>(base_ + offsets_.board); }
  [[nodiscard]] BoardEntry* board_entries() const noexcept {
    return reinterpret_cast<BoardEntry*>(base_ + offsets_.board + sizeof(BoardHeader));
  }
  [[nodiscard]] ReportPageHeader& report() const noexcept { return *reinterpret_cast<ReportPageHeader*>(base_ + offsets_.report); }
  [[nodiscard]] std::byte* report_payload() const noexcept { return base_ + offsets_.report + sizeof(ReportPageHeader); }
  [[nodiscard]] FleetHeader& fleet() const noexcept { return *reinterpret_cast<FleetHeader*>(base_ + offsets_.fleet); }
  [[nodiscard]] ProbeSlot* probe_slots() const noexcept {
    return reinterpret_cast<ProbeSlot*>(base_ + offsets_.fleet + sizeof(FleetHeader) + kRateBuckets * sizeof(RateBucket));
  }
  [[nodiscard]] RateBucket* rate_buckets() const noexcept {
    return reinterpret_cast<RateBucket*>(base_ + offsets_.fleet + sizeof(FleetHeader));
  }

 private:
  struct Mapping;
  Segment() = default;

  std::unique_ptr<Mapping> mapping_;
  std::string name_;
  std::byte* base_ = nullptr;
  std::size_t size_ = 0;
  SegmentIdentity identity_{};
  SectionOffsets offsets_{};
  bool created_ = false;
};

// Checks a geometry a user asked for; returns an empty string or what is wrong with it.
[[nodiscard]] std::string validate_geometry(const SegmentGeometry& g);

// Checks the identity read from an existing segment against this build and the mapped size.
// Returns an empty string or the reason, naming both values ("layout version: segment=2 this build=1").
[[nodiscard]] std::string validate_identity(const SegmentIdentity& id, std::size_t mapped_size);

}  // namespace telering
