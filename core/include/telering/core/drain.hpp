// telering/core/drain.hpp — the consumer side of a segment: every lane, every record, validated.
//
// Drainer is what the reader's loop (and tests) call: poll(handler, max_records) visits the
// SPSC lanes round-robin and the shared lane, copies each committed record out of shared
// memory, validates every field (validate_record) and hands valid records to
// handler.on_record(record, source) and invalid ones to handler.on_malformed(fault, record,
// source). One call does bounded work; what to do when it returns 0 is the caller's idle
// strategy. reclaim_dead_lanes() frees lanes whose owning thread is proven dead, once drained.
//
// Thread safety: one Drainer per segment, used by one thread (the single consumer).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "telering/core/layout.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/record.hpp"
#include "telering/core/ring_mpsc.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/core/segment.hpp"

namespace telering {

namespace detail {
// Test hook: called by reclaim_dead_lanes() between reading a lane's owner identity and
// re-checking its owner word, so a test can change owners there. nullptr in production.
inline void (*g_reclaim_pause)(std::uint32_t lane) = nullptr;
}  // namespace detail

inline constexpr std::uint32_t kSharedLane = 0xFFFFFFFFu;  // RecordSource::lane of the MPSC lane

struct RecordSource {
  std::uint32_t lane = 0;        // SPSC lane index, or kSharedLane
  std::uint32_t owner_pid = 0;   // owner of the lane when drained (0 for the shared lane)
};

struct DrainStats {
  std::uint64_t delivered = 0;
  std::uint64_t malformed = 0;
  std::array<std::uint64_t, static_cast<std::size_t>(RecordFault::Count_)> malformed_by_fault{};
  std::uint64_t overrun = 0;        // SPSC positions skipped: tail more than a lap ahead (corruption)
  std::uint64_t shared_lost = 0;    // MPSC claims never committed, skipped after the timeout
  std::uint64_t shared_corrupt = 0; // MPSC sequence words no honest producer writes, records failing their check
  std::uint64_t shared_tombstones_freed = 0;    // abandoned claims released by their claimant or freed when it died
  std::uint64_t shared_tombstones_expired = 0;  // ...freed after the abandon timeout instead
  std::uint64_t lanes_reclaimed = 0;
  // Set by the reader at start: records its crashed predecessor drained after its last
  // snapshot, missing from the restored state.
  std::uint64_t lost_to_reader_crash = 0;

  DrainStats& operator+=(const DrainStats& o) noexcept {
    delivered += o.delivered;
    malformed += o.malformed;
    for (std::size_t i = 0; i < malformed_by_fault.size(); ++i) malformed_by_fault[i] += o.malformed_by_fault[i];
    overrun += o.overrun;
    shared_lost += o.shared_lost;
    shared_corrupt += o.shared_corrupt;
    shared_tombstones_freed += o.shared_tombstones_freed;
    shared_tombstones_expired += o.shared_tombstones_expired;
    lanes_reclaimed += o.lanes_reclaimed;
    lost_to_reader_crash += o.lost_to_reader_crash;
    return *this;
  }
};

struct DrainOptions {
  std::uint64_t batch = 256;                             // records per lane per visit
  std::uint64_t shared_stuck_timeout_ns = 1'000'000'000; // abandon an uncommitted MPSC claim after this
  // ...and free its tombstone after this if its claimant is not proven dead first.
  std::uint64_t shared_abandon_timeout_ns = MpscConsumer::kDefaultAbandonTimeoutNs;
};

class Drainer {
 public:
  explicit Drainer(const Segment& segment, DrainOptions options = {})
      : segment_(&segment),
        options_(options),
        name_capacity_(segment.geometry().name_capacity),
        shared_(&segment.mpsc(), segment.mpsc_slots(), segment.mpsc_records(), segment.geometry().mpsc_capacity,
                options.shared_stuck_timeout_ns, options.shared_abandon_timeout_ns),
        pid_ns_(current_pid_namespace()) {
    const std::uint32_t n = segment.geometry().lane_count;
    lanes_.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i)
      lanes_.emplace_back(&segment.lane(i), segment.lane_records(i), segment.geometry().lane_capacity);
  }

  // Drains up to max_records (valid + malformed) across all lanes. now_ns is monotonic ns,
  // used only to time out uncommitted claims in the shared lane.
  template <typename Handler>
  DrainStats poll(Handler&& handler, std::uint64_t max_records, std::uint64_t now_ns) {
    DrainStats stats;
    const std::uint32_t n = static_cast<std::uint32_t>(lanes_.size());
    for (std::uint32_t visited = 0; visited < n && stats.delivered + stats.malformed < max_records; ++visited) {
      const std::uint32_t i = next_lane_;
      next_lane_ = next_lane_ + 1 == n ? 0 : next_lane_ + 1;
      RecordSource source{i, owner_pid(segment_->lane(i).owner.load(std::memory_order_relaxed))};
      const std::uint64_t budget = std::min(options_.batch, max_records - stats.delivered - stats.malformed);
      const auto r = lanes_[i].poll([&](const Record& rec) { dispatch(handler, rec, source, stats); }, budget);
      stats.overrun += r.overrun;
    }
    if (stats.delivered + stats.malformed < max_records) {
      const RecordSource source{kSharedLane, 0};
      const std::uint64_t budget = std::min(options_.batch, max_records - stats.delivered - stats.malformed);
      const auto r = shared_.poll([&](const Record& rec) { dispatch(handler, rec, source, stats); }, budget, now_ns);
      stats.shared_lost += r.lost;
      stats.shared_corrupt += r.corrupt;
      stats.shared_tombstones_freed += r.tombstones_freed;
      stats.shared_tombstones_expired += r.tombstones_expired;
    }
    return stats;
  }

  // Frees lanes whose owning thread is proven dead (process_info.hpp: thread_liveness) and
  // whose records were all drained. "Cannot tell" — /proc unreadable, a start time not yet
  // published, an owner in another PID namespace — never frees a lane: a live writer would
  // then share its SPSC lane with the next claimant. A lane of a dead owner that still holds
  // records is left for a later call (after the next poll).
  std::uint64_t reclaim_dead_lanes() noexcept {
    std::uint64_t reclaimed = 0;
    std::uint32_t foreign = 0;
    for (std::uint32_t i = 0; i < lanes_.size(); ++i) {
      LaneControl& lane = segment_->lane(i);
      // Pairs with the writer's acquire CAS on claim; we read its identity after it.
      std::uint64_t owner = lane.owner.load(std::memory_order_acquire);
      if (owner == 0) continue;
      const std::uint64_t start = lane.owner_start_time.load(std::memory_order_acquire);
      const std::uint64_t ns = lane.owner_pid_ns.load(std::memory_order_acquire);
      if (detail::g_reclaim_pause) detail::g_reclaim_pause(i);
      // A new owner's identity must not be judged against the old owner word: re-check.
      if (lane.owner.load(std::memory_order_acquire) != owner) continue;
      if (ns != 0 && ns != pid_ns_) {
        ++foreign;
        continue;
      }
      if (ns == 0 || thread_liveness(owner_pid(owner), owner_tid(owner), start) != Liveness::Dead) continue;
      if (lane.tail.load(std::memory_order_acquire) != lanes_[i].head()) continue;
      lane.owner_start_time.store(0, std::memory_order_relaxed);
      lane.owner_pid_ns.store(0, std::memory_order_relaxed);
      // Frees the lane (pairs with the next claimant's acquire CAS); fails harmlessly if the
      // owner word changed meanwhile.
      if (lane.owner.compare_exchange_strong(owner, 0, std::memory_order_release, std::memory_order_relaxed)) ++reclaimed;
    }
    foreign_lanes_ = foreign;
    return reclaimed;
  }

  // Lanes whose owner is in another PID namespace, as of the last reclaim_dead_lanes(): this
  // reader cannot tell whether those threads live, so their lanes are never reclaimed.
  [[nodiscard]] std::uint32_t foreign_lanes() const noexcept { return foreign_lanes_; }

  // Consumer positions, this reader's own (published to the segment, never read back).
  [[nodiscard]] std::uint64_t lane_head(std::uint32_t lane) const noexcept { return lanes_[lane].head(); }
  [[nodiscard]] std::uint64_t shared_head() const noexcept { return shared_.head(); }

 private:
  template <typename Handler>
  void dispatch(Handler& handler, const Record& rec, const RecordSource& source, DrainStats& stats) {
    const RecordFault fault = validate_record(rec, name_capacity_);
    if (fault == RecordFault::None) {
      ++stats.delivered;
      handler.on_record(rec, source);
    } else {
      ++stats.malformed;
      ++stats.malformed_by_fault[static_cast<std::size_t>(fault)];
      handler.on_malformed(fault, rec, source);
    }
  }

  const Segment* segment_;
  DrainOptions options_;
  std::uint32_t name_capacity_;
  std::vector<SpscConsumer> lanes_;
  MpscConsumer shared_;
  std::uint64_t pid_ns_;
  std::uint32_t next_lane_ = 0;
  std::uint32_t foreign_lanes_ = 0;
};

// Convenience for tests and tools: drains until the segment is empty (or max_records),
// calling fn(const Record&, const RecordSource&) on each valid record.
template <typename Fn>
DrainStats for_each_record(Drainer& drainer, Fn&& fn, std::uint64_t max_records = ~0ULL) {
  struct Adapter {
    Fn& fn;
    void on_record(const Record& r, const RecordSource& s) { fn(r, s); }
    void on_malformed(RecordFault, const Record&, const RecordSource&) {}
  } adapter{fn};
  DrainStats total;
  for (;;) {
    const DrainStats s = drainer.poll(adapter, max_records - total.delivered - total.malformed, monotonic_ns());
    total += s;
    if (s.delivered + s.malformed == 0 || total.delivered + total.malformed >= max_records) break;
  }
  return total;
}

}  // namespace telering
