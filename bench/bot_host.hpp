// bench/bot_host.hpp — a host of simulated bots filling every lane of a segment with a
// bot-like mix of records (scan times, API calls per endpoint, memory, errors, warnings,
// call outcomes, counters, gauges), shared by bench_reader and bench_scrape so both offer
// the reader the same load.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.hpp"
#include "engine/engine.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/core/segment.hpp"

namespace telering::bench {

using namespace telering::reader;

inline constexpr std::uint32_t kBots = 10;
inline constexpr std::uint32_t kComponents = 100;
inline constexpr std::uint32_t kEndpoints = 16;
inline constexpr std::uint32_t kErrorTypes = 200;
inline constexpr std::uint32_t kWarningTypes = 10;
inline constexpr std::uint32_t kMetrics = 20;

struct Rng {  // xorshift64: seeded, so every run offers the same records
  std::uint64_t s;
  std::uint64_t next() noexcept {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  double unit() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint32_t below(std::uint32_t n) noexcept { return static_cast<std::uint32_t>(next() % n); }
};

// Ten bots' records in every lane of a segment (see the file comment for why not Writer).
// One thread at a time uses it (joins give the happens-before between users).
class BotHost {
 public:
  BotHost(const Segment& segment, std::uint64_t seed) : segment_(&segment), rng_{seed} {
    NameTable names(segment.names(), segment.geometry().name_capacity);
    auto intern = [&](NameKind kind, const std::string& text) {
      const NameId id = names.intern(kind, text);
      if (id == kNoName) throw std::runtime_error("name table full interning " + text);
      return id;
    };
    for (std::uint32_t i = 0; i < kBots; ++i) bots_.push_back(intern(NameKind::Bot, "bot-" + std::to_string(i)));
    for (std::uint32_t i = 0; i < kComponents; ++i)
      components_.push_back(intern(NameKind::Component, "venue-" + std::to_string(i)));
    for (std::uint32_t i = 0; i < kEndpoints; ++i)
      endpoints_.push_back(intern(NameKind::Endpoint, "/api/v3/endpoint-" + std::to_string(i)));
    // The first four have built-in recovery strategies (recovery.cpp); the rest have none.
    static const char* const kWithStrategy[] = {"api_rate_limit", "api_connection", "insufficient_balance",
                                                "position_not_found"};
    for (const char* t : kWithStrategy) error_types_.push_back(intern(NameKind::ErrorType, t));
    for (std::uint32_t i = 4; i < kErrorTypes; ++i)
      error_types_.push_back(intern(NameKind::ErrorType, "order_error_" + std::to_string(i)));
    for (std::uint32_t i = 0; i < kWarningTypes; ++i)
      warning_types_.push_back(intern(NameKind::WarningType, "slippage_" + std::to_string(i)));
    for (std::uint32_t i = 0; i < kMetrics; ++i) metrics_.push_back(intern(NameKind::Metric, "orders_" + std::to_string(i)));

    // 100 kinds in a seeded shuffled order, as one bot cycle.
    const std::pair<RecordKind, int> mix[] = {{RecordKind::ApiCall, 30}, {RecordKind::CallOutcome, 30},
                                              {RecordKind::Counter, 20}, {RecordKind::ScanTime, 5},
                                              {RecordKind::MemorySample, 5}, {RecordKind::Gauge, 5},
                                              {RecordKind::Warning, 3}, {RecordKind::Error, 2}};
    for (const auto& [kind, n] : mix) pattern_.insert(pattern_.end(), static_cast<std::size_t>(n), kind);
    for (std::size_t i = pattern_.size() - 1; i > 0; --i) std::swap(pattern_[i], pattern_[rng_.next() % (i + 1)]);

    const std::uint32_t pid = current_pid();
    const std::uint64_t start = current_process_start_time();
    for (std::uint32_t i = 0; i < segment.geometry().lane_count; ++i) {
      LaneControl& control = segment.lane(i);
      std::uint64_t expected = 0;
      const std::uint64_t owner = make_owner(pid, 0x40000000u + i);
      // Acquire: pairs with a previous owner's release of the lane (as Writer's claim).
      if (!control.owner.compare_exchange_strong(expected, owner, std::memory_order_acquire, std::memory_order_relaxed))
        continue;
      control.owner_start_time.store(start, std::memory_order_relaxed);
      lanes_.push_back(Lane{i, owner, static_cast<std::uint32_t>(lanes_.size() % kBots), 0,
                            SpscProducer(&control, segment.lane_records(i), segment.geometry().lane_capacity)});
    }
  }
  BotHost(const BotHost&) = delete;
  BotHost& operator=(const BotHost&) = delete;
  ~BotHost() {
    for (Lane& l : lanes_) {
      LaneControl& control = segment_->lane(l.index);
      control.owner_start_time.store(0, std::memory_order_relaxed);
      std::uint64_t owner = l.owner;
      // Frees the lane (pairs with the next claimant's acquire CAS).
      control.owner.compare_exchange_strong(owner, 0, std::memory_order_release, std::memory_order_relaxed);
    }
  }

  [[nodiscard]] std::size_t lanes() const noexcept { return lanes_.size(); }

  // Fills every lane to capacity; returns the records pushed (never drops).
  std::uint64_t fill() noexcept { return push(~0ULL); }

  // Pushes up to `max_records` into the free space of the lanes, round robin; returns the
  // number pushed. Never drops: it pushes only into space it has seen free.
  std::uint64_t push(std::uint64_t max_records) noexcept {
    std::uint64_t pushed = 0;
    const std::uint64_t capacity = segment_->geometry().lane_capacity;
    for (Lane& l : lanes_) {
      if (pushed == max_records) break;
      LaneControl& control = segment_->lane(l.index);
      // Pairs with the reader's release store of head after it read the slots.
      const std::uint64_t head = control.head.load(std::memory_order_acquire);
      const std::uint64_t tail = control.tail.load(std::memory_order_relaxed);
      const std::uint64_t n = std::min(capacity - (tail - head), max_records - pushed);
      for (std::uint64_t k = 0; k < n; ++k) {
        if (!l.producer.try_push([&](Record& r) { make_record(r, l); })) return pushed + k;
      }
      pushed += n;
    }
    return pushed;
  }

  // True when the reader has taken every record pushed so far.
  [[nodiscard]] bool drained() const noexcept {
    for (const Lane& l : lanes_) {
      const LaneControl& control = segment_->lane(l.index);
      // Pairs with the reader's release store of head.
      if (control.head.load(std::memory_order_acquire) != control.tail.load(std::memory_order_relaxed)) return false;
    }
    return true;
  }

  // The same mix, into memory (for Engine::on_record alone).
  std::vector<Record> make_records(std::size_t n) {
    std::vector<Record> out(n);
    for (std::size_t i = 0; i < n; ++i) make_record(out[i], lanes_[i % lanes_.size()]);
    return out;
  }

 private:
  struct Lane {
    std::uint32_t index;
    std::uint64_t owner;
    std::uint32_t bot;
    std::uint64_t seq;
    SpscProducer producer;
  };

  // Field by field as Writer::record (fill_record) writes a record.
  void make_record(Record& r, Lane& l) noexcept {
    const RecordKind kind = pattern_[l.seq++ % pattern_.size()];
    r.timestamp = read_ticks();
    r.value = 0.0;
    r.thread_id = 0x40000000u + l.index;
    r.name_id = kNoName;
    r.aux_id = kNoName;
    r.bot_id = bots_[l.bot];
    r.kind = kind;
    r.severity = Severity::None;
    r.flags = 0;
    r.context_len = 0;
    switch (kind) {
      case RecordKind::ScanTime: r.value = 5.0 + 30.0 * rng_.unit(); break;
      case RecordKind::ApiCall:
        r.value = 0.05 + 0.4 * rng_.unit();
        r.name_id = endpoints_[rng_.below(kEndpoints)];
        break;
      case RecordKind::MemorySample: r.value = (300.0 + 200.0 * rng_.unit()) * 1048576.0; break;
      case RecordKind::CallOutcome:
        r.value = 0.01 + 0.3 * rng_.unit();
        r.name_id = components_[rng_.below(kComponents)];
        if (rng_.below(100) < 3) r.flags = kFlagFailure;
        break;
      case RecordKind::Counter:
        r.value = 1.0;
        r.name_id = metrics_[rng_.below(kMetrics)];
        break;
      case RecordKind::Gauge:
        r.value = 1000.0 * rng_.unit();
        r.name_id = metrics_[rng_.below(kMetrics)];
        break;
      case RecordKind::Warning:
        r.name_id = warning_types_[rng_.below(kWarningTypes)];
        r.set_context("slippage 0.4% on BTC-USDT");
        break;
      case RecordKind::Error:
        r.name_id = error_types_[rng_.below(kErrorTypes)];
        r.severity = static_cast<Severity>(1 + rng_.below(3));  // LOW..HIGH (CRITICAL would ALERT)
        if (rng_.below(2) == 0) r.aux_id = components_[rng_.below(kComponents)];
        r.set_context("order 123456 rejected: code -2010");
        break;
      case RecordKind::Heartbeat:
      case RecordKind::Command: break;
    }
  }

  const Segment* segment_;
  Rng rng_;
  std::vector<NameId> bots_, components_, endpoints_, error_types_, warning_types_, metrics_;
  std::vector<RecordKind> pattern_;
  std::vector<Lane> lanes_;
};

// Fills from a thread on CPU 0 (a bot's core), so the drain reads lines written elsewhere.
inline std::uint64_t fill_from_cpu0(BotHost& host) {
  std::uint64_t filled = 0;
  std::thread([&] {
    pin_to_cpu(0);
    filled = host.fill();
  }).join();
  return filled;
}

}  // namespace telering::bench
