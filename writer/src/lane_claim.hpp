// writer/src/lane_claim.hpp — the lane protocol of a bot process (not installed): which
// thread writes into which SPSC lane, and how lanes are given back.
//
// A thread claims a free lane with one CAS on its owner word (make_owner(pid, tid)) on its
// first record, after fork, and every kReclaimInterval records while it is on the shared
// lane; it re-checks every kOwnerCheckTicks that the owner word is still its own (a lane
// taken over means two producers on one SPSC ring: it moves to another and counts
// lanes_lost). Lanes go back when the thread exits (ThreadLaneReleaser), when the Writer is
// destroyed, or when the reader proves the owner dead. fork() gets every lock of this
// protocol held across it, so the child's copies are unlocked; the child's threads claim
// afresh (fork_generation).
//
// Memory ordering: a claim's CAS is acquire (pairs with the previous owner's or the reader's
// release of the lane: the claimant sees its final tail); a release is a release CAS of
// owner = 0 (pairs with the next claimant's acquire).
//
// Writer::record's fast path (writer.cpp) only reads the thread's LaneCache; everything
// here runs off it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "memory_sampler.hpp"
#include "telering/core/ring_mpsc.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/writer.hpp"

namespace telering {

namespace detail {

inline constexpr std::size_t kMaxWritersPerProcess = 8;
// A thread on the shared lane retries claiming a lane of its own every this many records.
inline constexpr std::uint32_t kReclaimInterval = 4096;

}  // namespace detail

struct Writer::State {
  Segment segment;
  NameTable names;
  BoardReader board;
  MpscProducer shared;
  NameId bot = kNoName;
  std::size_t slot = 0;        // index into every thread's lane cache
  std::uint64_t serial = 0;    // unique per attach in this process; 0 is never used
  std::unique_ptr<MemorySampler> sampler;

  ProbeSlot* probe_slots = nullptr;
  // own_breakers[component]: this bot's BotBreaker id, kNoName = not interned yet,
  // kOwnBreakerUnavailable = the name table was full. Any thread may fill a slot; they all
  // store the same value (interning gives one id per name).
  std::unique_ptr<std::atomic<std::uint32_t>[]> own_breakers;

  std::mutex lanes_mutex;      // guards claimed (claims and releases are off the hot path)
  std::vector<std::uint32_t> claimed;

  explicit State(Segment s)
      : segment(std::move(s)),
        names(segment.names(), segment.geometry().name_capacity),
        board(&segment.board(), segment.board_entries(), segment.geometry().name_capacity),
        shared(&segment.mpsc(), segment.mpsc_slots(), segment.mpsc_records(), segment.geometry().mpsc_capacity),
        probe_slots(segment.probe_slots()),
        own_breakers(std::make_unique<std::atomic<std::uint32_t>[]>(segment.geometry().name_capacity)) {}
};

namespace detail {

// One thread's lane for one Writer. Valid while serial and fork generation match.
struct LaneCache {
  std::uint64_t serial = 0;
  std::uint32_t fork_generation = 0;
  std::uint32_t tid = 0;
  std::uint32_t lane = 0;
  bool on_shared = false;
  std::uint32_t shared_countdown = 0;
  std::uint64_t next_owner_check = 0;  // ticks: when to re-check that the lane is still ours
  SpscProducer producer;
  MpscClaimant me;                      // this thread's identity, stamped on shared-lane claims
};

// How often (in ticks, ~50-100 ms) a thread re-checks that its lane is still its own.
inline constexpr std::uint64_t kOwnerCheckTicks = 1ULL << 27;

// A thread's lanes, one cache per writer slot (Writer::State::slot).
using LaneCaches = std::array<LaneCache, kMaxWritersPerProcess>;

// Attach: a slot and a serial for `w` in this process's registry. Throws SegmentError when
// kMaxWritersPerProcess writers are attached already.
void register_writer(Writer::State& w);
// ~Writer: out of the registry, and every lane this process still holds in it given back.
void unregister_writer(Writer::State& w) noexcept;

// Claims a lane for the calling thread (or settles on the shared lane) into `c`, one of the
// thread's `lanes`; the first claim arranges for them to be given back at thread exit.
void claim_lane(Writer::State& w, LaneCache& c, LaneCaches& lanes) noexcept;
// Every kOwnerCheckTicks: moves to another lane when this one is no longer ours.
void check_lane_owner(Writer::State& w, LaneCache& c, LaneCaches& lanes, std::uint64_t now_ticks) noexcept;

}  // namespace detail

}  // namespace telering
