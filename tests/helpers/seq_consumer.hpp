// The consumer side of the cross-process and stress tests: drains a segment with
// telering::Drainer and checks every record it gets — self-consistent payload (no torn
// record), the same tid and bot for a producing thread, and sequence numbers strictly
// increasing per (thread, lane) and, unless a thread may change lanes, per thread.
//
// Not thread-safe: one consumer thread, like the reader.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include "seq_payload.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/segment.hpp"

namespace telering::test {

// What the consumer saw from one producing thread, keyed by (writer, thread) of its payload.
struct Stream {
  std::uint32_t tid = 0;
  std::uint16_t bot_id = 0;
  std::uint64_t delivered = 0;
  std::uint64_t next_min_seq = 0;  // per thread: every later seq must be >= this
  std::map<std::uint32_t, std::uint64_t> next_min_seq_by_lane;
  std::uint64_t last_seq = 0;
  std::uint64_t seq_sum = 0;
  std::uint64_t on_shared_lane = 0;
  std::set<std::uint32_t> lanes;
};

class Consumer {
 public:
  // thread_order: require order per thread across lanes. A Writer thread that moves from
  // the shared lane to a lane of its own (or back) is ordered per lane only, since the
  // drainer visits lanes one after another.
  explicit Consumer(const Segment& segment, DrainOptions options = {}, bool thread_order = true)
      : drainer_(segment, options), thread_order_(thread_order) {}

  // Drains until the segment is empty (plus what writers add meanwhile).
  DrainStats drain() {
    const DrainStats s = for_each_record(drainer_, [&](const Record& r, const RecordSource& src) { on_record(r, src); });
    stats += s;
    return s;
  }

  // One bounded poll at a given monotonic time (to drive the shared lane's stuck timeout
  // by hand, without sleeping).
  DrainStats poll_at(std::uint64_t now_ns, std::uint64_t max_records = ~0ULL) {
    struct Handler {
      Consumer& c;
      void on_record(const Record& r, const RecordSource& s) { c.on_record(r, s); }
      void on_malformed(RecordFault, const Record&, const RecordSource&) {}
    } handler{*this};
    const DrainStats s = drainer_.poll(handler, max_records, now_ns);
    stats += s;
    return s;
  }

  Drainer& drainer() noexcept { return drainer_; }

  void expect_writer_pid(std::uint32_t writer, pid_t pid) { expected_pid_[writer] = static_cast<std::uint32_t>(pid); }

  void on_record(const Record& r, const RecordSource& src) {
    const auto payload = consistent_payload(r);
    if (!payload) {
      if (torn++ == 0)
        ADD_FAILURE() << "torn or foreign record: value=" << r.value << " context='" << r.context_view() << "'";
      return;
    }
    if (r.kind != RecordKind::Counter || r.timestamp == 0) {
      if (torn++ == 0) ADD_FAILURE() << "record fields do not match what the writer wrote";
      return;
    }
    Stream& s = streams[{payload->writer, payload->thread}];
    if (s.delivered == 0) {
      s.tid = r.thread_id;
      s.bot_id = r.bot_id;
    } else if (s.tid != r.thread_id || s.bot_id != r.bot_id) {
      if (mixed++ == 0) ADD_FAILURE() << "stream w" << payload->writer << "/t" << payload->thread << " changed tid or bot";
    }
    std::uint64_t& lane_min = s.next_min_seq_by_lane[src.lane];
    if (payload->seq < lane_min || (thread_order_ && payload->seq < s.next_min_seq)) {
      if (out_of_order++ == 0)
        ADD_FAILURE() << "stream w" << payload->writer << "/t" << payload->thread << ": seq " << payload->seq
                      << " after " << s.last_seq << " (lane " << src.lane << ")";
    }
    if (const auto it = expected_pid_.find(payload->writer);
        it != expected_pid_.end() && src.owner_pid != 0 && src.owner_pid != it->second) {
      if (wrong_owner++ == 0)
        ADD_FAILURE() << "record of w" << payload->writer << " drained from a lane owned by pid " << src.owner_pid;
    }
    lane_min = payload->seq + 1;
    if (payload->seq + 1 > s.next_min_seq) s.next_min_seq = payload->seq + 1;
    s.last_seq = payload->seq;
    s.seq_sum += payload->seq;
    ++s.delivered;
    s.lanes.insert(src.lane);
    if (src.lane == kSharedLane) ++s.on_shared_lane;
    ++delivered_per_lane[src.lane];
  }

  // Nothing torn, mixed, out of order, malformed or corrupt was seen.
  void expect_clean() const {
    EXPECT_EQ(torn, 0u);
    EXPECT_EQ(mixed, 0u);
    EXPECT_EQ(out_of_order, 0u);
    EXPECT_EQ(wrong_owner, 0u);
    EXPECT_EQ(stats.malformed, 0u);
    EXPECT_EQ(stats.overrun, 0u);
    EXPECT_EQ(stats.shared_corrupt, 0u);
  }

  std::map<std::pair<std::uint32_t, std::uint32_t>, Stream> streams;
  std::map<std::uint32_t, std::uint64_t> delivered_per_lane;
  DrainStats stats;
  std::uint64_t torn = 0;
  std::uint64_t mixed = 0;
  std::uint64_t out_of_order = 0;
  std::uint64_t wrong_owner = 0;

 private:
  Drainer drainer_;
  bool thread_order_;
  std::map<std::uint32_t, std::uint32_t> expected_pid_;
};

}  // namespace telering::test
