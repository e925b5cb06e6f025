// telering/core/decision_board.hpp — the reader's decisions, as writers read them.
//
// One BoardEntry per name id (layout.hpp): a component's breaker state and open-until, an
// error type's backoff-until, reset epochs, retry permits and health; plus a header with
// overall health, the shutdown request and the global reset epoch.
//
// Memory ordering: the reader is the only writer of the board. Every field a writer reads
// on its own (breaker state, backoff deadline, epochs, shutdown) is stored with release by
// the reader and loaded with acquire here, so a bot that sees a new state also sees what
// the reader wrote before it. A multi-field view (snapshot) uses the entry's version word
// as a seqlock: the reader makes it odd, updates every field with release stores, makes it
// even; snapshot() loads every field with acquire and re-checks the version.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "telering/core/clock.hpp"
#include "telering/core/command.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"

namespace telering {

struct BoardSnapshot {
  BreakerState breaker_state = BreakerState::Closed;
  HealthStatus health = HealthStatus::Unknown;
  std::uint8_t last_action = 0;
  std::uint8_t rule = 0;
  std::uint64_t open_until_ticks = 0;
  std::uint64_t backoff_until_ticks = 0;
  std::uint64_t backoff_until_ns = 0;
  std::uint64_t reset_epoch = 0;
  std::uint64_t decision_seq = 0;
  std::uint32_t retry_permits = 0;
  bool consistent = false;  // false: the reader kept updating the entry; fields may be mixed
};

// Read side, used by writers. Cheap to copy; all reads are single acquire loads.
class BoardReader {
 public:
  BoardReader() = default;
  BoardReader(const BoardHeader* header, const BoardEntry* entries, std::uint32_t capacity) noexcept
      : header_(header), entries_(entries), mask_(capacity - 1) {}

  // Pairs with the reader's release store of breaker_state (BoardWriter::set_breaker).
  [[nodiscard]] BreakerState breaker_state(NameId id) const noexcept {
    return static_cast<BreakerState>(entry(id).breaker_state.load(std::memory_order_acquire));
  }
  // True when calls to the component should not be made: OPEN or FORCED_OPEN.
  [[nodiscard]] bool breaker_open(NameId id) const noexcept {
    const auto s = entry(id).breaker_state.load(std::memory_order_acquire);
    return s == static_cast<std::uint8_t>(BreakerState::Open) || s == static_cast<std::uint8_t>(BreakerState::ForcedOpen);
  }
  // kEntry* bits (layout.hpp). Relaxed: a hint, set once per component by the reader.
  [[nodiscard]] std::uint32_t flags(NameId id) const noexcept { return entry(id).flags.load(std::memory_order_relaxed); }
  // Packed ProbeSlot range of a HALF_OPEN breaker (0 = none). Valid only if breaker_state,
  // loaded again after it, is still HALF_OPEN (BoardWriter::set_breaker).
  [[nodiscard]] std::uint32_t probe_slots(NameId id) const noexcept {
    return entry(id).probe_slots.load(std::memory_order_acquire);
  }
  // OPEN until (ticks; 0 = no deadline). Pairs with the release store in set_breaker.
  [[nodiscard]] std::uint64_t open_until_ticks(NameId id) const noexcept {
    return entry(id).open_until_ticks.load(std::memory_order_acquire);
  }
  // Pairs with the reader's release store of the deadline (BoardWriter::set_backoff).
  [[nodiscard]] std::uint64_t backoff_until_ticks(NameId id) const noexcept {
    return entry(id).backoff_until_ticks.load(std::memory_order_acquire);
  }
  [[nodiscard]] bool in_backoff(NameId id, std::uint64_t now_ticks) const noexcept {
    return now_ticks < backoff_until_ticks(id);
  }
  [[nodiscard]] std::uint64_t reset_epoch(NameId id) const noexcept {
    return entry(id).reset_epoch.load(std::memory_order_acquire);
  }
  [[nodiscard]] std::uint64_t global_reset_epoch() const noexcept { return header_->reset_epoch.load(std::memory_order_acquire); }
  [[nodiscard]] bool shutdown_requested() const noexcept { return header_->shutdown_requested.load(std::memory_order_acquire) != 0; }
  [[nodiscard]] HealthStatus overall_health() const noexcept {
    return static_cast<HealthStatus>(header_->overall_health.load(std::memory_order_acquire));
  }
  [[nodiscard]] std::uint64_t decision_seq() const noexcept { return header_->decision_seq.load(std::memory_order_acquire); }

  // Outcome of command `id`: Pending until the reader has applied it (or while a later
  // command has taken its acknowledgement slot, after kCommandAckSlots newer commands).
  [[nodiscard]] CommandStatus command_status(std::uint64_t id) const noexcept {
    // Pairs with the reader's release store in BoardWriter::acknowledge_command.
    const std::uint64_t ack = header_->command_acks[id % kCommandAckSlots].load(std::memory_order_acquire);
    return (ack >> 8) == id ? static_cast<CommandStatus>(ack & 0xFF) : CommandStatus::Pending;
  }

  // A consistent view of every field of one entry (seqlock read; retries while the reader
  // is updating it, bounded: after many retries returns the last view with consistent false).
  [[nodiscard]] BoardSnapshot snapshot(NameId id) const noexcept {
    const BoardEntry& e = entry(id);
    BoardSnapshot s;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      // Pairs with the reader's release store that ends an update (even version).
      const std::uint32_t v1 = e.version.load(std::memory_order_acquire);
      s.breaker_state = static_cast<BreakerState>(e.breaker_state.load(std::memory_order_acquire));
      s.health = static_cast<HealthStatus>(e.health.load(std::memory_order_acquire));
      s.last_action = e.last_action.load(std::memory_order_acquire);
      s.rule = e.rule.load(std::memory_order_acquire);
      s.open_until_ticks = e.open_until_ticks.load(std::memory_order_acquire);
      s.backoff_until_ticks = e.backoff_until_ticks.load(std::memory_order_acquire);
      s.backoff_until_ns = e.backoff_until_ns.load(std::memory_order_acquire);
      s.reset_epoch = e.reset_epoch.load(std::memory_order_acquire);
      s.decision_seq = e.decision_seq.load(std::memory_order_acquire);
      s.retry_permits = e.retry_permits.load(std::memory_order_acquire);
      // Each field load is acquire so the re-check of the version below cannot move
      // before it (a stand-alone fence would do, but TSan does not model fences).
      if ((v1 & 1U) == 0 && e.version.load(std::memory_order_relaxed) == v1) {
        s.consistent = true;
        break;
      }
    }
    return s;
  }

 private:
  // Ids come from the name table, whose capacity equals the board's; masking keeps a stray
  // id inside the board instead of reading past it.
  [[nodiscard]] const BoardEntry& entry(NameId id) const noexcept { return entries_[id & mask_]; }

  const BoardHeader* header_ = nullptr;
  const BoardEntry* entries_ = nullptr;
  std::uint32_t mask_ = 0;
};

// Write side, used only by the reader process (one thread). Every update bumps the board's
// decision_seq and stamps it on the entry, so a bot can tell which decision it saw.
class BoardWriter {
 public:
  BoardWriter(BoardHeader* header, BoardEntry* entries, std::uint32_t capacity) noexcept
      : header_(header), entries_(entries), mask_(capacity - 1) {}

  // Runs update(BoardEntry&) inside the entry's seqlock and returns the decision sequence.
  template <typename Update>
  std::uint64_t update(NameId id, Update&& apply) noexcept {
    BoardEntry& e = entries_[id & mask_];
    // Seqlock writer without fences (TSan does not model them): the odd version is an
    // acquire RMW, and every field store in apply() is a release store, so a snapshot that
    // reads any new field (acquire) also sees the odd version and retries.
    // Parity comes from the value, not from counting: a reader killed inside an update left
    // the word odd, and this update starts from that odd value (a fetch_add would flip the
    // parity for the life of the segment).
    const std::uint32_t odd = e.version.load(std::memory_order_relaxed) | 1U;  // only we write it
    e.version.exchange(odd, std::memory_order_acquire);
    apply(e);
    const std::uint64_t seq = header_->decision_seq.load(std::memory_order_relaxed) + 1;
    e.decision_seq.store(seq, std::memory_order_release);
    // Ends the update (pairs with the acquire load of version in BoardReader::snapshot).
    e.version.store(odd + 1, std::memory_order_release);
    header_->decision_seq.store(seq, std::memory_order_release);
    return seq;
  }

  // Entering HALF_OPEN, the permit range is stored before the state; leaving it, after: a
  // writer that reads the state, then the range, then the state again as HALF_OPEN holds
  // this period's range (Writer::probe_permitted).
  std::uint64_t set_breaker(NameId id, BreakerState state, std::uint64_t open_until_ticks, std::uint8_t rule,
                            std::uint32_t probe_slots = 0) noexcept {
    return update(id, [&](BoardEntry& e) {
      e.open_until_ticks.store(open_until_ticks, std::memory_order_release);
      e.rule.store(rule, std::memory_order_release);
      const bool half_open = state == BreakerState::HalfOpen;
      if (half_open) e.probe_slots.store(probe_slots, std::memory_order_release);
      // Pairs with BoardReader::breaker_state / breaker_open.
      e.breaker_state.store(static_cast<std::uint8_t>(state), std::memory_order_release);
      if (!half_open) e.probe_slots.store(probe_slots, std::memory_order_release);
    });
  }

  std::uint64_t set_backoff(NameId id, std::uint64_t until_ticks, std::uint64_t until_ns, std::uint8_t action,
                            std::uint8_t rule) noexcept {
    return update(id, [&](BoardEntry& e) {
      e.backoff_until_ns.store(until_ns, std::memory_order_release);
      e.last_action.store(action, std::memory_order_release);
      e.rule.store(rule, std::memory_order_release);
      // Pairs with BoardReader::backoff_until_ticks.
      e.backoff_until_ticks.store(until_ticks, std::memory_order_release);
    });
  }

  std::uint64_t set_retry_permits(NameId id, std::uint32_t permits, std::uint8_t action, std::uint8_t rule) noexcept {
    return update(id, [&](BoardEntry& e) {
      e.last_action.store(action, std::memory_order_release);
      e.rule.store(rule, std::memory_order_release);
      e.retry_permits.store(permits, std::memory_order_release);
    });
  }

  std::uint64_t set_flags(NameId id, std::uint32_t flags) noexcept {
    return update(id, [&](BoardEntry& e) { e.flags.store(flags, std::memory_order_relaxed); });
  }

  std::uint64_t set_health(NameId id, HealthStatus health) noexcept {
    return update(id, [&](BoardEntry& e) { e.health.store(static_cast<std::uint8_t>(health), std::memory_order_release); });
  }

  // RESET for one name: bumps its epoch and the global one.
  std::uint64_t bump_reset_epoch(NameId id, std::uint8_t action, std::uint8_t rule) noexcept {
    header_->reset_epoch.store(header_->reset_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    return update(id, [&](BoardEntry& e) {
      e.last_action.store(action, std::memory_order_release);
      e.rule.store(rule, std::memory_order_release);
      e.reset_epoch.store(e.reset_epoch.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    });
  }

  void set_overall_health(HealthStatus h) noexcept {
    header_->overall_health.store(static_cast<std::uint32_t>(h), std::memory_order_release);
  }
  void request_shutdown(bool requested) noexcept {
    header_->shutdown_requested.store(requested ? 1U : 0U, std::memory_order_release);
  }
  // Publishes the outcome of command `id` (pairs with the acquire load in command_status).
  void acknowledge_command(std::uint64_t id, CommandStatus status) noexcept {
    header_->commands_applied.store(header_->commands_applied.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    header_->command_acks[id % kCommandAckSlots].store((id << 8) | static_cast<std::uint8_t>(status), std::memory_order_release);
  }

  // A reader taking over the segment: every entry a killed predecessor left odd (inside an
  // update) is made even again, so bots' snapshots stop retrying. Its fields may be a mix of
  // two decisions: the caller rewrites such entries (Engine's reconcile). Returns the ids.
  std::vector<NameId> normalise_versions() noexcept {
    std::vector<NameId> odd;
    for (std::uint32_t id = 0; id <= mask_; ++id) {
      std::atomic<std::uint32_t>& v = entries_[id].version;
      const std::uint32_t value = v.load(std::memory_order_relaxed);
      if ((value & 1U) == 0) continue;
      v.store(value + 1, std::memory_order_release);  // pairs with BoardReader::snapshot
      odd.push_back(static_cast<NameId>(id));
    }
    return odd;
  }

  [[nodiscard]] BoardReader reader() const noexcept { return BoardReader(header_, entries_, mask_ + 1); }

 private:
  BoardHeader* header_;
  BoardEntry* entries_;
  std::uint32_t mask_;
};

}  // namespace telering
