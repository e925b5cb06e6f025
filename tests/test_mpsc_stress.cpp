// The shared (MPSC) lane under several producers, and its one recovery rule: a slot
// claimed but never committed is skipped after the stuck timeout and counted lost.
//
// Built twice (tests/cross_process.cmake): TELERING_MPSC_STRESS=0 gives the quick,
// deterministic suite `Mpsc`; TELERING_MPSC_STRESS=1 the heavy `MpscStress` suite
// (label `stress`), whose runs are randomised from TELERING_TEST_SEED (printed).
//
// Accounting is exact in every test: delivered + dropped (lane full) + lost (skipped
// claims) == produced, and each producer's sequence numbers arrive in order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "helpers/seq_consumer.hpp"
#include "helpers/seq_payload.hpp"
#include "support/shm_test_util.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/ring_mpsc.hpp"
#include "telering/core/ring_spsc.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

#ifndef TELERING_MPSC_STRESS
#define TELERING_MPSC_STRESS 1
#endif

namespace telering::test {
namespace {

using namespace std::chrono_literals;

MpscProducer shared_producer(const Segment& seg) {
  return MpscProducer(&seg.mpsc(), seg.mpsc_slots(), seg.mpsc_records(), seg.geometry().mpsc_capacity);
}

void fill_payload(Record& r, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq) noexcept {
  r = Record{};
  r.timestamp = read_ticks() | 1;
  r.kind = RecordKind::Counter;
  r.value = static_cast<double>(seq);
  r.thread_id = thread;
  char ctx[kSeqContextBuffer];
  r.set_context({ctx, format_seq_context(ctx, {writer, thread, seq})});
}

// Pushes one payload record into the shared lane; `during` runs between claim and commit,
// after the record is written (`before` runs before it is written).
template <typename Before, typename During>
MpscPush push_seq(MpscProducer& p, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq, Before&& before,
                  During&& during) {
  return p.try_push([&](Record& r) noexcept {
    before();
    fill_payload(r, writer, thread, seq);
    during();
  });
}
template <typename During>
MpscPush push_seq(MpscProducer& p, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq, During&& during) {
  return push_seq(p, writer, thread, seq, [] {}, during);
}
MpscPush push_seq(MpscProducer& p, std::uint32_t writer, std::uint32_t thread, std::uint64_t seq) {
  return push_seq(p, writer, thread, seq, [] {});
}

// Claims the next position of the shared lane and never commits it: what a producer killed
// between its claim and its commit leaves behind. The claim is made, with the claimant's
// identity as MpscProducer writes it, by a thread that then exits: the claimant is dead.
std::uint64_t claim_without_commit(const Segment& seg) {
  std::uint64_t pos = 0;
  std::thread([&] {
    pos = seg.mpsc().tail.load(std::memory_order_relaxed);
    while (!seg.mpsc().tail.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
    }
    MpscSlot& slot = seg.mpsc_slots()[pos & (seg.geometry().mpsc_capacity - 1)];
    slot.claimant.store(make_owner(current_pid(), current_tid()));
    slot.claimant_start_time.store(current_thread_start_time());
    slot.claimant_pid_ns.store(current_pid_namespace());
  }).join();
  return pos;
}

#if !TELERING_MPSC_STRESS

TEST(Mpsc, ClaimOfADeadProducerIsAbandonedAfterTheStuckTimeoutCountedLostAndFreedOnceItsClaimantIsProvenDead) {
  constexpr std::uint32_t kCapacity = 8;
  constexpr std::uint64_t kTimeout = 1'000'000;  // ns; time is fed by hand below
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  DrainOptions options;
  options.shared_stuck_timeout_ns = kTimeout;
  Consumer consumer(seg, options);
  std::uint64_t seq = 0, claims = 0;

  for (int i = 0; i < 3; ++i, ++claims) ASSERT_EQ(push_seq(producer, 0, 0, seq++), MpscPush::Committed);
  const std::uint64_t stuck = claim_without_commit(seg);
  ++claims;
  EXPECT_EQ(stuck, 3u);
  for (int i = 0; i < 3; ++i, ++claims) ASSERT_EQ(push_seq(producer, 0, 0, seq++), MpscPush::Committed);

  const std::uint64_t t0 = 5'000'000'000;
  DrainStats s = consumer.poll_at(t0);
  EXPECT_EQ(s.delivered, 3u) << "records before the stuck slot are delivered";
  EXPECT_EQ(s.shared_lost, 0u) << "the stuck slot is first only noticed";
  s = consumer.poll_at(t0 + kTimeout - 1);
  EXPECT_EQ(s.delivered + s.shared_lost, 0u) << "not abandoned before the timeout";
  s = consumer.poll_at(t0 + kTimeout);
  EXPECT_EQ(s.shared_lost, 1u) << "abandoned at the timeout";
  EXPECT_EQ(s.delivered, 3u) << "the records behind it follow";
  EXPECT_EQ(seg.mpsc().lost.load(std::memory_order_relaxed), 1u);
  EXPECT_EQ(seg.mpsc_slots()[stuck & (kCapacity - 1)].seq.load(), kTombstone | stuck) << "a tombstone, not a free slot";

  // Its claimant's thread has exited: proven dead, the tombstone is freed for the next lap.
  s = consumer.poll_at(t0 + kTimeout + 1);
  EXPECT_EQ(s.shared_tombstones_freed, 1u);
  EXPECT_EQ(seg.mpsc_slots()[stuck & (kCapacity - 1)].seq.load(), stuck + kCapacity);

  // The lane goes on, across several laps of the ring.
  for (std::uint32_t i = 0; i < 4 * kCapacity; ++i, ++claims) {
    ASSERT_EQ(push_seq(producer, 0, 0, seq++), MpscPush::Committed);
    consumer.poll_at(t0 + kTimeout + i + 2);
  }
  consumer.poll_at(t0 + 2 * kTimeout);
  consumer.expect_clean();
  const Stream& st = consumer.streams[{0, 0}];
  EXPECT_EQ(st.delivered, seq);
  EXPECT_EQ(st.last_seq, seq - 1);
  EXPECT_EQ(st.seq_sum, seq * (seq - 1) / 2);
  // Exact: every claim is delivered or lost; nothing dropped.
  EXPECT_EQ(consumer.stats.delivered + consumer.stats.shared_lost, claims);
  EXPECT_EQ(seg.mpsc().dropped.load(std::memory_order_relaxed), 0u);
  EXPECT_EQ(seg.mpsc().head.load(std::memory_order_relaxed), seg.mpsc().tail.load(std::memory_order_relaxed));
}

TEST(Mpsc, ProducerDescheduledPastTheStuckTimeoutFindsItsClaimAbandonedReportsTheRecordLostAndReleasesTheSlot) {
  constexpr std::uint32_t kCapacity = 8;
  constexpr std::uint64_t kTimeout = 1'000'000;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  DrainOptions options;
  options.shared_stuck_timeout_ns = kTimeout;
  Consumer consumer(seg, options);

  const std::uint64_t t0 = 7'000'000'000;
  // Between its claim and its commit, the producer "sleeps" while the consumer times it out.
  const MpscPush late = push_seq(producer, 0, 0, 0, [&] {
    consumer.poll_at(t0);
    consumer.poll_at(t0 + kTimeout);
  });
  EXPECT_EQ(late, MpscPush::Skipped) << "its commit must fail, not corrupt the sequence word";
  EXPECT_EQ(consumer.stats.shared_lost, 1u);
  EXPECT_EQ(consumer.stats.delivered, 0u);
  EXPECT_EQ(seg.mpsc_slots()[0].seq.load(), kCapacity) << "its failed commit released the slot for the next lap";

  ASSERT_EQ(push_seq(producer, 0, 0, 1), MpscPush::Committed);
  consumer.poll_at(t0 + kTimeout + 1);
  consumer.expect_clean();
  EXPECT_EQ(consumer.stats.delivered, 1u);
  EXPECT_EQ(consumer.stats.shared_tombstones_freed, 1u);
  EXPECT_EQ((consumer.streams[{0, 0}].last_seq), 1u);
  // Exact: 2 produced = 1 delivered + 1 lost.
  EXPECT_EQ(consumer.stats.delivered + consumer.stats.shared_lost, 2u);
}

// Issue 11.1: a producer that claimed position p and stalled past the stuck timeout used to
// find its slot freed for the next lap; a later producer committed position p + capacity into
// it, and the late fill then overwrote that record, which still passed validation (the later
// record vanished, the stalled one was delivered in its place). Now the abandoned claim is a
// tombstone the later producer treats as full, and nothing is ever overwritten.
TEST(Mpsc, LateClaimantNeverOverwritesALaterLap) {
  constexpr std::uint32_t kCapacity = 8;
  constexpr std::uint64_t kTimeout = 1'000'000;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  DrainOptions options;
  options.shared_stuck_timeout_ns = kTimeout;
  Consumer consumer(seg, options);
  const std::uint64_t t0 = 9'000'000'000;
  std::uint64_t later_committed = 0, later_full = 0;

  // Stream 1 claims position 0 and is descheduled before it writes anything...
  const MpscPush late = push_seq(producer, 1, 0, 0, [&] {
    consumer.poll_at(t0);
    consumer.poll_at(t0 + kTimeout);  // ...long enough to be abandoned,
    for (std::uint64_t s = 0; s < kCapacity - 1; ++s)  // while stream 2 fills the rest of the lap
      ASSERT_EQ(push_seq(producer, 2, 0, s), MpscPush::Committed);
    consumer.poll_at(t0 + kTimeout + 1);
    // Stream 2's next record would land in stream 1's slot (position capacity).
    const MpscPush r = push_seq(producer, 2, 0, kCapacity - 1);
    (r == MpscPush::Committed ? later_committed : later_full) += 1;
  }, [] {});
  EXPECT_EQ(late, MpscPush::Skipped);
  EXPECT_EQ(later_committed, 0u) << "a later lap was let into a slot whose claimant may still write it";
  EXPECT_EQ(later_full, 1u);
  // Stream 1's failed commit released the slot: stream 2 goes on.
  ASSERT_EQ(push_seq(producer, 2, 0, kCapacity), MpscPush::Committed);
  consumer.poll_at(t0 + kTimeout + 2);
  consumer.expect_clean();
  EXPECT_EQ((consumer.streams[{1, 0}].delivered), 0u) << "the abandoned record is lost, not delivered";
  EXPECT_EQ((consumer.streams[{2, 0}].delivered), kCapacity);
  EXPECT_EQ(consumer.stats.shared_lost, 1u);
}

// A record overwritten in part after its commit (what a claimant frozen past even the
// abandon timeout could do) fails its check word and is refused, never delivered as valid.
TEST(Mpsc, RecordThatDoesNotMatchItsCheckWordIsRefused) {
  constexpr std::uint32_t kCapacity = 8;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  ASSERT_EQ(push_seq(producer, 0, 0, 0), MpscPush::Committed);
  ASSERT_EQ(push_seq(producer, 0, 0, 1), MpscPush::Committed);
  seg.mpsc_records()[0].value = 42.0;  // a late writer's field in a committed record
  Consumer consumer(seg);
  consumer.drain();
  EXPECT_EQ(consumer.stats.shared_corrupt, 1u);
  EXPECT_EQ(consumer.stats.delivered, 1u);
  EXPECT_EQ((consumer.streams[{0, 0}].last_seq), 1u);
}

// Runs `push` on its own thread and says whether it returned within `limit`: a producer
// spinning for ever (today's bug) fails the test instead of hanging it.
template <typename Push>
std::optional<MpscPush> returns_within(std::chrono::milliseconds limit, Push push) {
  auto result = std::make_shared<std::atomic<int>>(-1);
  std::thread([result, push]() mutable { result->store(static_cast<int>(push())); }).detach();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (result->load() < 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  if (result->load() < 0) return std::nullopt;
  return static_cast<MpscPush>(result->load());
}

// Issue 11.2: a sequence word ahead of tail made every producer of the shared lane spin
// for ever. They give up after a bounded number of reloads, and say so.
TEST(Mpsc, ProducersGiveUpOnASequenceWordAheadOfTailInsteadOfSpinning) {
  constexpr std::uint32_t kCapacity = 8;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  seg.mpsc_slots()[0].seq.store(5);  // ahead of tail (0): no honest party writes it
  const auto r = returns_within(5000ms, [&seg] {
    MpscProducer producer = shared_producer(seg);
    return push_seq(producer, 0, 0, 0);
  });
  ASSERT_TRUE(r.has_value()) << "the producer spun on the word";
  EXPECT_EQ(*r, MpscPush::GaveUp);
  EXPECT_EQ(seg.mpsc().gave_up.load(), 1u);
  // The reader repairs the word at its empty head, and the lane works again.
  Consumer consumer(seg);
  consumer.drain();
  EXPECT_EQ(consumer.stats.shared_corrupt, 1u);
  MpscProducer producer = shared_producer(seg);
  ASSERT_EQ(push_seq(producer, 0, 0, 0), MpscPush::Committed);
  consumer.drain();
  EXPECT_EQ(consumer.stats.delivered, 1u);
}

// Issue 11.2: the reader's resync of a word below tail moved head past tail and left the
// word ahead of every producer — the lane wedged for good. The reader never moves past tail:
// at an unclaimed head it repairs the word instead.
TEST(Mpsc, ReaderNeverResyncsAtOrPastTail) {
  constexpr std::uint32_t kCapacity = 8;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  ASSERT_EQ(push_seq(producer, 0, 0, 0), MpscPush::Committed);
  Consumer consumer(seg);
  consumer.drain();  // head = tail = 1
  seg.mpsc_slots()[1].seq.store(0);  // below tail, at the consumer's head
  consumer.drain();
  EXPECT_EQ(consumer.drainer().shared_head(), 1u) << "head moved at or past tail";
  const auto r = returns_within(5000ms, [&seg] {
    MpscProducer p = shared_producer(seg);
    return push_seq(p, 0, 0, 1);
  });
  ASSERT_TRUE(r.has_value()) << "the lane wedged";
  EXPECT_EQ(*r, MpscPush::Committed);
  consumer.drain();
  EXPECT_EQ((consumer.streams[{0, 0}].delivered), 2u);
}

// Issue 11.2: consumer positions live in the reader's memory, published but never read back:
// a writer that rewinds the published head cannot make the reader deliver records twice.
TEST(Mpsc, PublishedHeadsAreNeverReadBack) {
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, 8)));
  MpscProducer producer = shared_producer(seg);
  SpscProducer lane(&seg.lane(0), seg.lane_records(0), seg.geometry().lane_capacity);
  for (std::uint64_t s = 0; s < 3; ++s) ASSERT_EQ(push_seq(producer, 0, 0, s), MpscPush::Committed);
  ASSERT_TRUE(lane.try_push([](Record& r) noexcept { fill_payload(r, 1, 0, 0); }));
  Consumer consumer(seg);
  consumer.drain();
  ASSERT_EQ(consumer.stats.delivered, 4u);
  seg.mpsc().head.store(0);  // rewound by a hostile writer
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) seg.lane(i).head.store(0);
  consumer.drain();
  EXPECT_EQ(consumer.stats.delivered, 4u) << "records delivered twice";
}

TEST(Mpsc, FullSharedLaneDropsAndCountsExactly) {
  constexpr std::uint32_t kCapacity = 16;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, kCapacity)));
  MpscProducer producer = shared_producer(seg);
  std::uint64_t committed = 0, full = 0;
  for (std::uint64_t s = 0; s < 3 * kCapacity; ++s) {
    const MpscPush r = push_seq(producer, 0, 0, s);
    committed += r == MpscPush::Committed ? 1 : 0;
    full += r == MpscPush::Full ? 1 : 0;
  }
  EXPECT_EQ(committed, kCapacity);
  EXPECT_EQ(full, 2u * kCapacity);
  EXPECT_EQ(seg.mpsc().dropped.load(std::memory_order_relaxed), full);
  Consumer consumer(seg);
  consumer.drain();
  consumer.expect_clean();
  EXPECT_EQ(consumer.stats.delivered, kCapacity);
  EXPECT_EQ((consumer.streams[{0, 0}].last_seq), kCapacity - 1);
  EXPECT_EQ(consumer.stats.delivered + full, 3u * kCapacity);
}

#else  // TELERING_MPSC_STRESS

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t kScale = 4;  // sanitizers run ~5-15x slower: keep each test < 10 s
#else
constexpr std::uint64_t kScale = 1;
#endif

struct ProducerCounts {
  std::uint64_t produced = 0;
  std::uint64_t committed = 0;
  std::uint64_t full = 0;
  std::uint64_t skipped = 0;
  std::uint64_t committed_seq_sum = 0;
};

// Runs `producers` threads of push_seq on the shared lane, released together by a start
// barrier, while this thread drains; returns once every claim is delivered or lost.
std::vector<ProducerCounts> run_shared_lane_producers(const Segment& seg, Consumer& consumer, std::uint32_t producers,
                                                      std::uint64_t records_each, std::uint64_t seed,
                                                      std::uint64_t extra_claims) {
  std::vector<ProducerCounts> counts(producers);
  std::latch start(producers + 1);
  std::atomic<std::uint32_t> finished{0};
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      MpscProducer producer = shared_producer(seg);
      std::mt19937_64 rng(seed * 1000003 + p);
      ProducerCounts& c = counts[p];
      start.arrive_and_wait();
      for (std::uint64_t s = 0; s < records_each; ++s) {
        const MpscPush r = push_seq(producer, 0, p, s);
        ++c.produced;
        if (r == MpscPush::Committed) {
          ++c.committed;
          c.committed_seq_sum += s;
        } else if (r == MpscPush::Full) {
          ++c.full;
        } else {
          ++c.skipped;
        }
        if ((rng() & 63) == 0) std::this_thread::yield();  // seeded interleavings
      }
      finished.fetch_add(1, std::memory_order_release);
    });
  }
  start.arrive_and_wait();
  // Until every producer finished and every claim (theirs and the extra hand claims) is
  // either delivered or skipped as lost.
  const bool accounted = poll_until(
      60s,
      [&] {
        if (finished.load(std::memory_order_acquire) != producers) return false;
        std::uint64_t claims = extra_claims;
        for (const auto& c : counts) claims += c.committed + c.skipped;
        return consumer.stats.delivered + consumer.stats.shared_lost == claims;
      },
      [&] { consumer.drain(); });
  for (auto& t : threads) t.join();
  EXPECT_TRUE(accounted) << "the consumer did not account for every claim";
  return counts;
}

void expect_exact_per_producer(const Consumer& consumer, const std::vector<ProducerCounts>& counts,
                               std::uint64_t records_each) {
  for (std::uint32_t p = 0; p < counts.size(); ++p) {
    SCOPED_TRACE("producer " + std::to_string(p));
    const ProducerCounts& c = counts[p];
    const auto it = consumer.streams.find({0, p});
    const std::uint64_t delivered = it == consumer.streams.end() ? 0 : it->second.delivered;
    const std::uint64_t seq_sum = it == consumer.streams.end() ? 0 : it->second.seq_sum;
    EXPECT_EQ(c.produced, records_each);
    EXPECT_EQ(c.committed + c.full + c.skipped, c.produced);
    EXPECT_EQ(delivered, c.committed) << "every committed record is delivered, once";
    EXPECT_EQ(seq_sum, c.committed_seq_sum) << "...and they are exactly the committed ones";
  }
}

TEST(MpscStress, ConcurrentProducersDeliverInOrderPerProducerWithExactAccounting) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const std::uint32_t producers = 3 + static_cast<std::uint32_t>(rng() % 3);              // 3..5
  const std::uint32_t capacity = 64u << (rng() % 5);                                      // 64..1024
  const std::uint64_t records_each = (100'000 + rng() % 100'000) / kScale;
  std::cout << "producers=" << producers << " capacity=" << capacity << " records_each=" << records_each << "\n";
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, capacity)));
  Consumer consumer(seg);

  const auto counts = run_shared_lane_producers(seg, consumer, producers, records_each, seed, 0);

  consumer.expect_clean();
  expect_exact_per_producer(consumer, counts, records_each);
  std::uint64_t produced = 0, full = 0, skipped = 0;
  for (const auto& c : counts) {
    produced += c.produced;
    full += c.full;
    skipped += c.skipped;
  }
  EXPECT_EQ(seg.mpsc().dropped.load(std::memory_order_relaxed), full);
  EXPECT_EQ(consumer.stats.shared_lost, skipped) << "a claim skipped by the consumer is one its producer reported";
  EXPECT_EQ(consumer.stats.delivered + full + consumer.stats.shared_lost, produced);
}

TEST(MpscStress, StuckClaimAmongConcurrentProducersIsSkippedAndEveryRecordIsAccounted) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  const std::uint32_t producers = 3;
  const std::uint32_t capacity = 256;
  const std::uint64_t records_each = (50'000 + rng() % 50'000) / kScale;
  UniqueSegment shm;
  const Segment seg = Segment::open(create_options(shm.name(), small_test_geometry(1, 16, capacity)));
  DrainOptions options;
  options.shared_stuck_timeout_ns = 20'000'000;  // 20 ms: the lane is blocked until then
  Consumer consumer(seg, options);

  // A producer that died right after its claim, before the others start.
  const std::uint64_t stuck = claim_without_commit(seg);
  const auto counts = run_shared_lane_producers(seg, consumer, producers, records_each, seed, 1);

  consumer.expect_clean();
  expect_exact_per_producer(consumer, counts, records_each);
  std::uint64_t produced = 0, full = 0, skipped = 0;
  for (const auto& c : counts) {
    produced += c.produced;
    full += c.full;
    skipped += c.skipped;
  }
  EXPECT_EQ(consumer.stats.shared_lost, skipped + 1) << "the dead claim is lost, and only what producers reported besides";
  EXPECT_EQ(seg.mpsc().lost.load(std::memory_order_relaxed), consumer.stats.shared_lost);
  EXPECT_EQ(seg.mpsc().dropped.load(std::memory_order_relaxed), full);
  // Exact: the live producers' records plus the dead claim.
  EXPECT_EQ(consumer.stats.delivered + full + consumer.stats.shared_lost, produced + 1);
  std::uint64_t expected = stuck;
  EXPECT_FALSE(seg.mpsc_slots()[stuck & (capacity - 1)].seq.compare_exchange_strong(expected, stuck + 1))
      << "the dead claim's slot was reclaimed";
}

TEST(MpscStress, WriterThreadsBeyondTheLaneCountShareTheMpscLaneWithExactAccounting) {
  const std::uint64_t seed = test_seed();
  std::mt19937_64 rng(seed);
  constexpr std::uint32_t kLanes = 2;
  const std::uint32_t threads = 5 + static_cast<std::uint32_t>(rng() % 3);  // 5..7: most share the MPSC lane
  const std::uint64_t records_each = (50'000 + rng() % 50'000) / kScale;
  std::cout << "threads=" << threads << " records_each=" << records_each << "\n";
  UniqueSegment shm;
  WriterOptions wo;
  wo.segment = shm.name();
  wo.bot = "mpsc-stress";
  wo.geometry = small_test_geometry(kLanes, 256, 512);
  wo.sample_memory = false;
  Writer writer = Writer::attach(wo);
  const Segment& seg = writer.segment();
  const NameId metric = writer.metric("xproc.seq");
  // A thread on the shared lane claims a lane of its own once one frees up, so its records
  // are ordered per lane, not across lanes.
  Consumer consumer(seg, {}, /*thread_order=*/false);

  struct Counts {
    std::uint64_t produced = 0, recorded = 0, shared = 0, dropped = 0, other = 0;
  };
  std::vector<Counts> counts(threads);
  std::latch start(threads + 1);
  std::atomic<std::uint32_t> finished{0};
  std::vector<std::thread> pool;
  for (std::uint32_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 trng(seed * 7919 + t);
      Counts& c = counts[t];
      char ctx[kSeqContextBuffer];
      start.arrive_and_wait();
      for (std::uint64_t s = 0; s < records_each; ++s) {
        const std::size_t len = format_seq_context(ctx, {0, t, s});
        const RecordResult r =
            writer.record(RecordKind::Counter, metric, static_cast<double>(s), Severity::None, kNoName, 0, {ctx, len});
        ++c.produced;
        switch (r) {
          case RecordResult::Recorded: ++c.recorded; break;
          case RecordResult::RecordedShared: ++c.shared; break;
          case RecordResult::Dropped: ++c.dropped; break;
          default: ++c.other; break;
        }
        if ((trng() & 63) == 0) std::this_thread::yield();
      }
      finished.fetch_add(1, std::memory_order_release);
    });
  }
  start.arrive_and_wait();
  const bool accounted = poll_until(
      60s,
      [&] {
        if (finished.load(std::memory_order_acquire) != threads) return false;
        std::uint64_t sent = 0;
        for (const auto& c : counts) sent += c.recorded + c.shared;
        return consumer.stats.delivered == sent;
      },
      [&] { consumer.drain(); });
  for (auto& th : pool) th.join();
  ASSERT_TRUE(accounted);
  consumer.drain();

  consumer.expect_clean();
  std::uint64_t produced = 0, dropped = 0, shared = 0;
  for (std::uint32_t t = 0; t < threads; ++t) {
    SCOPED_TRACE("thread " + std::to_string(t));
    const Counts& c = counts[t];
    const Stream& s = consumer.streams[{0, t}];
    EXPECT_EQ(c.other, 0u);
    EXPECT_EQ(c.recorded + c.shared + c.dropped, c.produced);
    EXPECT_EQ(s.delivered, c.recorded + c.shared);
    EXPECT_EQ(s.on_shared_lane, c.shared);
    EXPECT_EQ(s.delivered + c.dropped, c.produced);
    produced += c.produced;
    dropped += c.dropped;
    shared += c.shared;
  }
  EXPECT_GT(shared, 0u) << "more threads than lanes: some recorded into the shared lane";
  // The writers' Dropped results are exactly the segment's drop and lost counters.
  std::uint64_t lane_drops = 0;
  for (std::uint32_t i = 0; i < kLanes; ++i) lane_drops += seg.lane(i).dropped.load(std::memory_order_relaxed);
  EXPECT_EQ(lane_drops + seg.mpsc().dropped.load(std::memory_order_relaxed) + consumer.stats.shared_lost, dropped);
  EXPECT_EQ(consumer.stats.delivered + dropped, produced);
  for (std::uint32_t i = 0; i < kLanes; ++i) EXPECT_EQ(seg.lane(i).owner.load(std::memory_order_acquire), 0u);
}

#endif  // TELERING_MPSC_STRESS

}  // namespace
}  // namespace telering::test
