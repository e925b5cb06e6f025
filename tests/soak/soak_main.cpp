// telering_soak — exact accounting under load with random SIGKILLs of writers and of the
// consumer, writers frozen mid-claim, consumers started in pairs and killed mid-publish.
// scripts/soak.sh runs it; one executable plays three roles:
//
//   telering_soak [--seconds N] [--seed S] [--writers W] [--threads T] [--lanes L] [--capacity C]
//       the orchestrator: creates the segment and the account block, starts W writer
//       processes and consumers (always two at once: the reader lock lets one run), at
//       random (seeded) SIGKILLs and restarts them, SIGSTOPs a writer that records into the
//       shared lane for 1.5-3 s (longer than the consumer's stuck timeout: its claim is
//       tombstoned under it), and SIGKILLs a consumer while it publishes its report page;
//       then stops everything cleanly, checks the accounting and prints a summary. Exit 1 on
//       a mismatch.
//   telering_soak writer <segment> <launch> <threads> <seed>     (started by the orchestrator)
//   telering_soak consumer <segment>                             (started by the orchestrator)
//
// Accounting scheme. Every writer thread is a stream (launch, thread): a launch is one start
// of a writer process, so a restarted writer makes new streams. Each record carries its
// stream and a per-stream sequence number (helpers/seq_payload.hpp: value and context agree,
// so a torn record is detected). The account block (/dev/shm/<segment>-acct, ours, not part
// of telering) survives any kill because it lives in shared memory:
//  - The writer thread stores attempts = seq + 1 BEFORE each call and bumps recorded /
//    dropped AFTER it (one writer per slot, single 8-byte stores). A SIGKILL therefore leaves
//    at most one call per thread "in flight": attempts - results is 0 or 1.
//  - The consumer (a Drainer, like the reader's loop) keeps per stream and per source (own
//    lane / shared lane) one word (delivered count << 32 | next expected seq), written with
//    a single store after it has taken a record. A kill between that store and the lane's
//    head store (once per batch) makes the restarted consumer read the batch again; a seq
//    below next-expected is then a duplicate and skipped. A thread's records are in order
//    within a source, so this de-duplication is exact.
//  - Drops are counted where they happen: the writer's Dropped results, and the lanes' own
//    drop counters in the segment (which also see a drop whose call was then killed).
//  - At the end: produced (sum of attempts) == delivered + dropped + lost-to-crash, where
//    lost-to-crash is what is left: only in-flight calls of killed threads may be in it, at
//    most one per killed thread, never one of a cleanly stopped thread. The shared lane's
//    `lost` (claims skipped by the consumer) must be part of it.
//  - No torn, malformed, overrun or corrupt record; every record's tid is its stream's.
//  - One owner per lane: once a lane delivers a stream's record, no earlier stream of that
//    lane ever appears on it again (two producers on an SPSC lane would interleave).
//  - One consumer at a time: each consumer that holds the reader lock writes its pid to the
//    account block and checks it stays there.
//  - The consumer publishes a report page (every line holds the same publish number) and a
//    board entry per poll; a consumer killed mid-publish leaves them odd. The next consumer
//    normalises them (as the reader does at takeover): no torn report is ever read, and at
//    the end the page reads and every board entry reads consistent.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "helpers/seq_payload.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/drain.hpp"
#include "telering/core/layout.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/reader_lock.hpp"
#include "telering/core/report_page.hpp"
#include "telering/core/segment.hpp"
#include "telering/writer.hpp"

namespace {

using telering::test::SeqPayload;

constexpr std::uint32_t kMaxLaunches = 8192;
constexpr std::uint32_t kMaxThreads = 8;
constexpr std::uint64_t kMaxSeq = 0xFFFF'FFF0ULL;  // seq and count share one 64-bit word
constexpr std::uint64_t kAccountMagic = 0x4B414F53474E4952ULL;  // "RINGSOAK"
constexpr std::uint64_t kStuckTimeoutNs = 300'000'000;
constexpr std::uint64_t kBatch = 256;
constexpr const char* kMetric = "soak.seq";

// One producing thread. The writer fields are written by that thread only, the consumer
// fields by the consumer only; the orchestrator reads them once both are gone.
struct alignas(64) StreamSlot {
  std::atomic<std::uint64_t> attempts;
  std::atomic<std::uint64_t> recorded;  // Recorded + RecordedShared
  std::atomic<std::uint64_t> dropped;
  std::atomic<std::uint64_t> other;
  std::atomic<std::uint64_t> delivered[2];  // [own lane, shared lane]: count << 32 | next seq
  std::atomic<std::uint32_t> state;         // 0 never started, 1 recording, 2 finished cleanly
  std::atomic<std::uint32_t> tid;
  std::atomic<std::uint32_t> on_shared;     // the thread's last record went to the shared lane
};
static_assert(sizeof(StreamSlot) == 64);

struct alignas(64) AccountControl {
  std::atomic<std::uint64_t> magic;
  std::atomic<std::uint32_t> stop_writers;
  std::atomic<std::uint32_t> stop_consumer;
  std::atomic<std::uint32_t> consumer_done;
  std::atomic<std::uint32_t> consumer_starts;
  // Written by the consumer: all must stay 0 except duplicates and reclaimed.
  std::atomic<std::uint64_t> torn;
  std::atomic<std::uint64_t> wrong_tid;
  std::atomic<std::uint64_t> malformed;
  std::atomic<std::uint64_t> overrun;
  std::atomic<std::uint64_t> corrupt;
  std::atomic<std::uint64_t> duplicates;
  std::atomic<std::uint64_t> reclaimed;
  std::atomic<std::uint64_t> two_owners;      // a lane delivered an earlier owner's record again
  std::atomic<std::uint64_t> two_consumers;   // a consumer found another's pid while it held the lock
  std::atomic<std::uint64_t> torn_reports;    // a report page read back inconsistent
  std::atomic<std::uint64_t> lock_refusals;   // consumers that found the lock held and left
  std::atomic<std::uint32_t> active_consumer; // pid of the consumer holding the reader lock
  std::atomic<std::uint32_t> publishing;      // the consumer is inside a report publish
};

struct AccountBlock {
  AccountControl control;
  StreamSlot streams[kMaxLaunches * kMaxThreads];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

std::string account_name(const std::string& segment) { return segment + "-acct"; }

AccountBlock* map_account(const std::string& segment, bool create) {
  const std::string name = "/" + account_name(segment);
  const int fd = ::shm_open(name.c_str(), create ? (O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC) : (O_RDWR | O_CLOEXEC), 0600);
  if (fd < 0) throw std::runtime_error("shm_open " + name + ": " + std::strerror(errno));
  if (create && ::ftruncate(fd, sizeof(AccountBlock)) != 0) throw std::runtime_error("ftruncate " + name);
  void* p = ::mmap(nullptr, sizeof(AccountBlock), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) throw std::runtime_error("mmap " + name);
  auto* block = static_cast<AccountBlock*>(p);  // zero-filled by ftruncate: every counter starts at 0
  if (create) block->control.magic.store(kAccountMagic, std::memory_order_release);
  else if (block->control.magic.load(std::memory_order_acquire) != kAccountMagic) throw std::runtime_error("bad account block");
  return block;
}

std::uint64_t seq_of(std::uint64_t word) { return word & 0xFFFF'FFFFULL; }
std::uint64_t count_of(std::uint64_t word) { return word >> 32; }

// ---------------------------------------------------------------------------------------
// Writer role.

int run_writer(const std::string& segment, std::uint32_t launch, std::uint32_t threads, std::uint64_t seed) {
  AccountBlock* acct = map_account(segment, false);
  telering::WriterOptions wo;
  wo.segment = segment;
  wo.bot = "soak-" + std::to_string(launch % 16);
  wo.sample_memory = false;
  telering::Writer writer = telering::Writer::attach(wo);
  const telering::NameId metric = writer.metric(kMetric);
  if (metric == telering::kNoName) throw std::runtime_error("cannot intern " + std::string(kMetric));
  std::vector<std::thread> pool;
  for (std::uint32_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      StreamSlot& slot = acct->streams[launch * kMaxThreads + t];
      slot.tid.store(telering::current_tid(), std::memory_order_relaxed);
      slot.state.store(1, std::memory_order_relaxed);
      std::mt19937_64 rng(seed ^ (std::uint64_t{launch} << 8) ^ t);
      char context[telering::test::kSeqContextBuffer];
      std::uint64_t seq = 0;
      std::uint64_t recorded = 0, dropped = 0, other = 0;
      while (acct->control.stop_writers.load(std::memory_order_relaxed) == 0 && seq < kMaxSeq) {
        const std::uint64_t burst = 1 + rng() % 2048;
        for (std::uint64_t i = 0; i < burst && seq < kMaxSeq; ++i, ++seq) {
          const std::size_t len = telering::test::format_seq_context(context, SeqPayload{launch, t, seq});
          slot.attempts.store(seq + 1, std::memory_order_relaxed);
          // A SIGKILL stops this thread between two instructions, and the orchestrator reads
          // the block only after the process is gone: compiler-only fences are what keeps
          // "attempt counted" before the call and "result counted" after it.
          std::atomic_signal_fence(std::memory_order_seq_cst);
          const auto r = writer.record(telering::RecordKind::Counter, metric, static_cast<double>(seq),
                                       telering::Severity::None, telering::kNoName, 0, {context, len});
          std::atomic_signal_fence(std::memory_order_seq_cst);
          slot.on_shared.store(r == telering::RecordResult::RecordedShared ? 1 : 0, std::memory_order_relaxed);
          switch (r) {
            case telering::RecordResult::Recorded:
            case telering::RecordResult::RecordedShared: slot.recorded.store(++recorded, std::memory_order_relaxed); break;
            case telering::RecordResult::Dropped: slot.dropped.store(++dropped, std::memory_order_relaxed); break;
            default: slot.other.store(++other, std::memory_order_relaxed); break;
          }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
      }
      slot.state.store(2, std::memory_order_relaxed);
    });
  }
  for (auto& th : pool) th.join();
  return 0;  // ~Writer releases the lanes
}

// ---------------------------------------------------------------------------------------
// Consumer role.

struct ConsumerHandler {
  AccountBlock* acct;
  // Per SPSC lane: the stream now writing it and the streams it had before (as launch *
  // kMaxThreads + thread). Consumer-private: a restarted consumer starts with none.
  std::vector<std::uint32_t> lane_stream;
  std::vector<std::unordered_set<std::uint32_t>> lane_history;

  void check_one_owner(std::uint32_t lane, std::uint32_t stream) {
    if (lane >= lane_stream.size()) return;
    std::uint32_t& current = lane_stream[lane];
    if (current == stream) return;
    if (lane_history[lane].count(stream) != 0) acct->control.two_owners.fetch_add(1, std::memory_order_relaxed);
    if (current != kNoStream) lane_history[lane].insert(current);
    current = stream;
  }
  static constexpr std::uint32_t kNoStream = ~0u;

  void on_record(const telering::Record& r, const telering::RecordSource& src) {
    AccountControl& c = acct->control;
    const auto p = telering::test::consistent_payload(r);
    if (!p || r.kind != telering::RecordKind::Counter || p->writer >= kMaxLaunches || p->thread >= kMaxThreads ||
        p->seq >= kMaxSeq) {
      c.torn.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const std::uint32_t stream = static_cast<std::uint32_t>(p->writer * kMaxThreads + p->thread);
    StreamSlot& slot = acct->streams[stream];
    if (src.lane != telering::kSharedLane) check_one_owner(src.lane, stream);
    if (r.thread_id != slot.tid.load(std::memory_order_relaxed)) c.wrong_tid.fetch_add(1, std::memory_order_relaxed);
    std::atomic<std::uint64_t>& word = slot.delivered[src.lane == telering::kSharedLane ? 1 : 0];
    const std::uint64_t w = word.load(std::memory_order_relaxed);
    if (p->seq < seq_of(w)) {
      c.duplicates.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // The one store that makes this record delivered: count and next seq together.
    word.store(((count_of(w) + 1) << 32) | (p->seq + 1), std::memory_order_relaxed);
  }
  void on_malformed(telering::RecordFault, const telering::Record&, const telering::RecordSource&) {
    acct->control.malformed.fetch_add(1, std::memory_order_relaxed);
  }
};

bool segment_empty(const telering::Segment& seg) {
  for (std::uint32_t i = 0; i < seg.geometry().lane_count; ++i) {
    const telering::LaneControl& lane = seg.lane(i);
    if (lane.tail.load(std::memory_order_acquire) != lane.head.load(std::memory_order_relaxed)) return false;
  }
  const telering::MpscControl& m = seg.mpsc();
  return m.tail.load(std::memory_order_relaxed) == m.head.load(std::memory_order_relaxed);
}

constexpr int kExitLockHeld = 3;

// The consumer's stand-in for the reader's publishing: a report page whose lines all carry
// the same publish number (a torn copy mixes two) and one board entry.
class Publisher {
 public:
  explicit Publisher(const telering::Segment& seg)
      : page_(&seg.report(), seg.report_payload(), seg.geometry().report_bytes),
        board_(&seg.board(), seg.board_entries(), seg.geometry().name_capacity),
        text_(seg.geometry().report_bytes - kLine, '\n') {}

  // What the reader does when it takes a segment over; true if the page then reads whole.
  bool takeover_consistent() {
    page_.normalise();
    (void)board_.normalise_versions();
    return page_consistent(page_, nullptr);
  }

  void publish(std::uint64_t now) {
    ++number_;
    char line[kLine + 1];
    std::snprintf(line, sizeof line, "publish %020" PRIu64 "\n", number_);  // kLine bytes
    for (std::size_t at = 0; at + kLine <= text_.size(); at += kLine) std::memcpy(text_.data() + at, line, kLine);
    (void)page_.publish(text_, telering::HealthStatus::Healthy, now);
    (void)board_.set_health(kBoardId, number_ % 2 ? telering::HealthStatus::Healthy : telering::HealthStatus::Warning);
  }

  static constexpr std::size_t kLine = 29;
  static constexpr telering::NameId kBoardId = 1;

  // The page reads (or was never published) and every line holds one publish number.
  static bool page_consistent(const telering::ReportPage& page, bool* published) {
    telering::ReportPage::Snapshot snap;
    const bool read = page.read(snap);
    if (published) *published = read;
    if (!read) return true;
    const std::string_view text = snap.text;
    for (std::size_t at = kLine; at + kLine <= text.size(); at += kLine)
      if (text.compare(at, kLine, text.substr(0, kLine)) != 0) return false;
    return true;
  }

 private:
  telering::ReportPage page_;
  telering::BoardWriter board_;
  std::string text_;
  std::uint64_t number_ = 0;
};

int run_consumer(const std::string& segment) {
  AccountBlock* acct = map_account(segment, false);
  AccountControl& c = acct->control;
  c.consumer_starts.fetch_add(1, std::memory_order_relaxed);
  telering::SegmentOptions so;
  so.name = segment;
  so.create = false;
  const telering::Segment seg = telering::Segment::open(so);
  std::optional<telering::ReaderLock> lock;
  try {
    lock.emplace(seg);
  } catch (const telering::SegmentError&) {
    c.lock_refusals.fetch_add(1, std::memory_order_relaxed);
    return kExitLockHeld;  // the other consumer of the pair holds the segment
  }
  const auto me = static_cast<std::uint32_t>(::getpid());
  c.active_consumer.store(me, std::memory_order_relaxed);
  Publisher publisher(seg);
  if (!publisher.takeover_consistent()) c.torn_reports.fetch_add(1, std::memory_order_relaxed);
  telering::DrainOptions options;
  options.batch = kBatch;
  options.shared_stuck_timeout_ns = kStuckTimeoutNs;
  telering::Drainer drainer(seg, options);
  ConsumerHandler handler{acct, std::vector<std::uint32_t>(seg.geometry().lane_count, ConsumerHandler::kNoStream),
                          std::vector<std::unordered_set<std::uint32_t>>(seg.geometry().lane_count)};
  std::uint64_t next_reclaim = 0, next_publish = 0;
  for (;;) {
    const std::uint64_t now = telering::monotonic_ns();
    const telering::DrainStats s = drainer.poll(handler, 4096, now);
    if (s.overrun) c.overrun.fetch_add(s.overrun, std::memory_order_relaxed);
    if (s.shared_corrupt) c.corrupt.fetch_add(s.shared_corrupt, std::memory_order_relaxed);
    if (c.active_consumer.load(std::memory_order_relaxed) != me) c.two_consumers.fetch_add(1, std::memory_order_relaxed);
    if (now >= next_publish) {
      c.publishing.store(1, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      publisher.publish(now);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      c.publishing.store(0, std::memory_order_relaxed);
      next_publish = now + 1'000'000;
    }
    if (now >= next_reclaim) {
      c.reclaimed.fetch_add(drainer.reclaim_dead_lanes(), std::memory_order_relaxed);
      next_reclaim = now + 20'000'000;
    }
    if (s.delivered + s.malformed + s.shared_lost + s.shared_corrupt == 0) {
      if (c.stop_consumer.load(std::memory_order_acquire) != 0 && segment_empty(seg)) {
        c.reclaimed.fetch_add(drainer.reclaim_dead_lanes(), std::memory_order_relaxed);
        c.consumer_done.store(1, std::memory_order_release);
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Orchestrator.

struct Launch {
  std::uint32_t slot = 0;  // which of the W writer positions it fills
  pid_t pid = -1;
  bool running = false;
  bool killed = false;
  int status = 0;
  std::chrono::steady_clock::time_point stopped_until{};  // SIGSTOPped until then (or not)
  bool stopped = false;
};

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("readlink /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

pid_t spawn(const std::string& exe, std::vector<std::string> args) {
  args.insert(args.begin(), exe);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int reap(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

// Waits up to `timeout` for pid to exit; returns true and its status if it did.
bool wait_exit(pid_t pid, std::chrono::milliseconds timeout, int& status) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

int run_orchestrator(int argc, char** argv) {
  std::uint64_t seconds = env_or("SOAK_SECONDS", 120);
  std::uint64_t seed = env_or("TELERING_SOAK_SEED", 0);
  bool seeded = std::getenv("TELERING_SOAK_SEED") && *std::getenv("TELERING_SOAK_SEED");
  std::uint32_t writers = 3, threads = 2;
  // Fewer lanes than writer threads: some threads always record into the shared lane, so
  // both kinds of lane are under the kills.
  telering::SegmentGeometry g;
  g.lane_count = 4;
  g.lane_capacity = 1024;
  g.mpsc_capacity = 1024;
  g.name_capacity = 256;
  g.report_bytes = 256 * 1024;  // the default: a publish takes long enough to be killed in
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::uint64_t v = std::strtoull(argv[i + 1], nullptr, 0);
    if (k == "--seconds") seconds = v;
    else if (k == "--seed") seed = v, seeded = true;
    else if (k == "--writers") writers = static_cast<std::uint32_t>(v);
    else if (k == "--threads") threads = static_cast<std::uint32_t>(v);
    else if (k == "--lanes") g.lane_count = static_cast<std::uint32_t>(v);
    else if (k == "--capacity") g.lane_capacity = static_cast<std::uint32_t>(v);
    else {
      std::fprintf(stderr, "telering_soak: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (threads == 0 || threads > kMaxThreads || writers == 0) {
    std::fprintf(stderr, "telering_soak: --threads must be 1..%u, --writers >= 1\n", kMaxThreads);
    return 2;
  }
  if (!seeded) seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  std::printf("telering_soak: %" PRIu64 " s, %u writer processes x %u threads, %u lanes x %u records\n", seconds,
              writers, threads, g.lane_count, g.lane_capacity);
  std::printf("telering_soak: TELERING_SOAK_SEED=%" PRIu64 " (set it to replay the kill schedule)\n", seed);
  std::fflush(stdout);
  std::mt19937_64 rng(seed);

  const std::string segment = "telering-soak-" + std::to_string(::getpid());
  telering::Segment::remove(segment);
  ::shm_unlink(("/" + account_name(segment)).c_str());
  struct Cleanup {
    std::string segment;
    ~Cleanup() {
      telering::Segment::remove(segment);
      ::shm_unlink(("/" + account_name(segment)).c_str());
    }
  } cleanup{segment};
  telering::SegmentOptions so;
  so.name = segment;
  so.geometry = g;
  const telering::Segment seg = telering::Segment::open(so);
  AccountBlock* acct = map_account(segment, true);
  {
    // Names interned before any writer can be killed while interning them.
    telering::NameTable names(seg.names(), g.name_capacity);
    (void)names.intern(telering::NameKind::Metric, kMetric);
    for (int b = 0; b < 16; ++b) (void)names.intern(telering::NameKind::Bot, "soak-" + std::to_string(b));
  }
  const std::string exe = self_exe();

  std::vector<Launch> launches;
  std::vector<std::int64_t> slot_launch(writers, -1);  // running launch per slot, -1 = none
  std::vector<pid_t> consumers;  // running consumer processes: the pair just started, or the one left
  std::uint64_t writer_kills = 0, consumer_kills = 0, consumer_exits_bad = 0, writer_exits_bad = 0;
  std::uint64_t writer_stops = 0, kills_mid_publish = 0;
  auto start_writer = [&](std::uint32_t slot) {
    if (launches.size() >= kMaxLaunches) return;
    const auto launch = static_cast<std::uint32_t>(launches.size());
    Launch l;
    l.slot = slot;
    l.pid = spawn(exe, {"writer", segment, std::to_string(launch), std::to_string(threads), std::to_string(seed)});
    l.running = true;
    launches.push_back(l);
    slot_launch[slot] = launch;
  };
  // Two at once, like two readers started together: the reader lock lets one in.
  auto start_consumers = [&] {
    for (int i = 0; i < 2; ++i) consumers.push_back(spawn(exe, {"consumer", segment}));
  };
  // Reaps consumers that exited: the one refused the lock is expected, any other exit is not.
  auto reap_consumers = [&](bool blocking) {
    std::erase_if(consumers, [&](pid_t pid) {
      int status = 0;
      if (::waitpid(pid, &status, blocking ? 0 : WNOHANG) != pid) return false;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != kExitLockHeld) {
        ++consumer_exits_bad;
        std::fprintf(stderr, "telering_soak: consumer pid %d exited by itself, status %d\n", pid, status);
      }
      return true;
    });
  };
  auto resume = [&](Launch& l) {
    if (l.stopped) ::kill(l.pid, SIGCONT);
    l.stopped = false;
  };
  auto kill_all = [&] {
    for (Launch& l : launches)
      if (l.running) {
        ::kill(l.pid, SIGKILL);
        reap(l.pid);
        l.running = false;
      }
    for (pid_t pid : consumers) {
      ::kill(pid, SIGKILL);
      reap(pid);
    }
    consumers.clear();
  };

  start_consumers();
  for (std::uint32_t s = 0; s < writers; ++s) start_writer(s);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 180));
    // A writer or the consumer that exited by itself is a failure (it prints why).
    for (Launch& l : launches) {
      if (!l.running) continue;
      if (::waitpid(l.pid, &l.status, WNOHANG) == l.pid) {
        l.running = false;
        ++writer_exits_bad;
        std::fprintf(stderr, "telering_soak: writer pid %d exited by itself, status %d\n", l.pid, l.status);
        slot_launch[l.slot] = -1;
      }
    }
    reap_consumers(false);
    const auto now = std::chrono::steady_clock::now();
    for (Launch& l : launches)
      if (l.running && l.stopped && now >= l.stopped_until) resume(l);
    const std::uint64_t dice = rng() % 100;
    if (dice < 35) {
      const std::uint32_t slot = static_cast<std::uint32_t>(rng() % writers);
      if (slot_launch[slot] >= 0) {
        Launch& l = launches[static_cast<std::size_t>(slot_launch[slot])];
        ::kill(l.pid, SIGKILL);
        l.status = reap(l.pid);
        l.running = false;
        l.killed = true;
        l.stopped = false;
        slot_launch[slot] = -1;
        ++writer_kills;
      }
    } else if (dice < 43 && !consumers.empty()) {
      // Mid-publish when we can catch it: wait (bounded) for the consumer to be inside one.
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      while (acct->control.publishing.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
      }
      for (pid_t pid : consumers) ::kill(pid, SIGKILL);
      if (seg.report().seq.load(std::memory_order_relaxed) & 1U) ++kills_mid_publish;
      for (pid_t pid : consumers) reap(pid);
      consumers.clear();
      ++consumer_kills;
    } else if (dice < 53) {
      // Freeze a writer whose thread records into the shared lane, longer than the consumer's
      // stuck timeout: a claim it holds is tombstoned, its late commit must not land.
      std::vector<Launch*> candidates;
      for (std::int64_t i : slot_launch) {
        if (i < 0 || launches[static_cast<std::size_t>(i)].stopped) continue;
        Launch& l = launches[static_cast<std::size_t>(i)];
        for (std::uint32_t t = 0; t < threads; ++t)
          if (acct->streams[(&l - launches.data()) * kMaxThreads + t].on_shared.load(std::memory_order_relaxed)) {
            candidates.push_back(&l);
            break;
          }
      }
      if (!candidates.empty()) {
        Launch& l = *candidates[rng() % candidates.size()];
        ::kill(l.pid, SIGSTOP);
        l.stopped = true;
        l.stopped_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500 + rng() % 1501);
        ++writer_stops;
      }
    }
    // Restarts: a killed writer or consumer comes back on a later turn (or this one), so
    // lanes fill and drop while the consumer is down, and dead writers' lanes wait.
    for (std::uint32_t s = 0; s < writers; ++s)
      if (slot_launch[s] < 0 && rng() % 2 == 0) start_writer(s);
    if (consumers.empty() && rng() % 2 == 0) start_consumers();
  }

  // Stop: writers first (cleanly), then the consumer once it has drained everything.
  if (consumers.empty()) start_consumers();
  for (Launch& l : launches)
    if (l.running) resume(l);
  acct->control.stop_writers.store(1, std::memory_order_release);
  for (Launch& l : launches) {
    if (!l.running) continue;
    if (!wait_exit(l.pid, std::chrono::seconds(60), l.status)) {
      std::fprintf(stderr, "telering_soak: writer pid %d did not stop within 60 s\n", l.pid);
      kill_all();
      return 1;
    }
    l.running = false;
    if (!WIFEXITED(l.status) || WEXITSTATUS(l.status) != 0) ++writer_exits_bad;
  }
  acct->control.stop_consumer.store(1, std::memory_order_release);
  // One of the pair left at once (lock held); the other drains everything and exits 0.
  const auto stop_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool finished = false;
  while (!consumers.empty()) {
    std::erase_if(consumers, [&](pid_t pid) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) != pid) return false;
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) finished = true;
      else if (!WIFEXITED(status) || WEXITSTATUS(status) != kExitLockHeld) ++consumer_exits_bad;
      return true;
    });
    if (std::chrono::steady_clock::now() > stop_deadline) {
      std::fprintf(stderr, "telering_soak: the consumer did not finish draining within 60 s\n");
      kill_all();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!finished || acct->control.consumer_done.load() != 1) ++consumer_exits_bad;

  // Accounting.
  std::vector<std::string> errors;
  auto fail = [&](std::string what) {
    if (errors.size() < 20) errors.push_back(std::move(what));
    else if (errors.size() == 20) errors.emplace_back("...");
  };
  std::uint64_t produced = 0, delivered = 0, writer_dropped = 0, recorded = 0, unaccounted = 0, killed_threads = 0;
  std::uint64_t streams = 0, delivered_shared = 0;
  for (std::uint32_t L = 0; L < launches.size(); ++L) {
    for (std::uint32_t t = 0; t < threads; ++t) {
      const StreamSlot& s = acct->streams[L * kMaxThreads + t];
      const std::uint64_t a = s.attempts.load(), rec = s.recorded.load(), dr = s.dropped.load(), ot = s.other.load();
      const std::uint64_t del = count_of(s.delivered[0].load()) + count_of(s.delivered[1].load());
      const std::string name = "stream w" + std::to_string(L) + "/t" + std::to_string(t);
      const bool killed = launches[L].killed;
      if (s.state.load() != 0) ++streams;
      if (killed && s.state.load() != 0) ++killed_threads;
      produced += a;
      delivered += del;
      delivered_shared += count_of(s.delivered[1].load());
      writer_dropped += dr;
      recorded += rec;
      if (ot != 0) fail(name + ": " + std::to_string(ot) + " calls returned neither recorded nor dropped");
      const std::uint64_t results = rec + dr + ot;
      if (results > a || a - results > (killed ? 1u : 0u)) {
        fail(name + ": attempts " + std::to_string(a) + " vs results " + std::to_string(results));
        continue;
      }
      const std::uint64_t in_flight = a - results;
      if (del < rec || del > rec + in_flight)
        fail(name + ": delivered " + std::to_string(del) + " but the writer recorded " + std::to_string(rec) +
             (in_flight ? " (+1 in flight)" : ""));
      else unaccounted += rec + in_flight - del;  // the in-flight call, if it was not delivered
      if (!killed && s.state.load() != 2 && a != 0) fail(name + ": a cleanly stopped thread did not finish");
    }
  }
  std::uint64_t segment_dropped = seg.mpsc().dropped.load();
  for (std::uint32_t i = 0; i < g.lane_count; ++i) segment_dropped += seg.lane(i).dropped.load();
  const std::uint64_t shared_lost = seg.mpsc().lost.load();
  // A drop whose call was then killed shows in the lane's counter only; a shared-lane claim
  // the consumer skipped is a Dropped result for its (slow, live) writer and `lost` in the
  // segment, not a lane drop.
  const std::int64_t inflight_drops = static_cast<std::int64_t>(segment_dropped) - static_cast<std::int64_t>(writer_dropped);
  if (inflight_drops > static_cast<std::int64_t>(unaccounted) || -inflight_drops > static_cast<std::int64_t>(shared_lost))
    fail("lane drop counters (" + std::to_string(segment_dropped) + ") disagree with the writers' Dropped results (" +
         std::to_string(writer_dropped) + ")");
  const std::uint64_t dropped = writer_dropped + static_cast<std::uint64_t>(inflight_drops > 0 ? inflight_drops : 0);
  const std::int64_t lost = static_cast<std::int64_t>(produced) - static_cast<std::int64_t>(delivered) -
                            static_cast<std::int64_t>(dropped);
  if (lost < 0) fail("more delivered + dropped than produced: lost-to-crash " + std::to_string(lost));
  if (lost > static_cast<std::int64_t>(killed_threads))
    fail("lost-to-crash " + std::to_string(lost) + " exceeds the killed threads (" + std::to_string(killed_threads) + ")");
  const AccountControl& c = acct->control;
  if (c.torn.load()) fail(std::to_string(c.torn.load()) + " torn or foreign records");
  if (c.wrong_tid.load()) fail(std::to_string(c.wrong_tid.load()) + " records with another thread's tid");
  if (c.malformed.load()) fail(std::to_string(c.malformed.load()) + " malformed records");
  if (c.overrun.load()) fail(std::to_string(c.overrun.load()) + " overrun positions");
  if (c.corrupt.load()) fail(std::to_string(c.corrupt.load()) + " corrupt shared-lane sequence words");
  const std::uint64_t dup_bound = consumer_kills * (std::uint64_t{g.lane_count} * kBatch);
  if (c.duplicates.load() > dup_bound)
    fail(std::to_string(c.duplicates.load()) + " duplicates, more than a batch per lane per consumer kill");
  if (writer_exits_bad) fail(std::to_string(writer_exits_bad) + " writer processes exited by themselves or badly");
  if (consumer_exits_bad) fail(std::to_string(consumer_exits_bad) + " consumer exits that were not a clean finish");
  if (!segment_empty(seg)) fail("records left in the segment after the final drain");
  if (c.two_owners.load()) fail(std::to_string(c.two_owners.load()) + " records from a lane's earlier owner after a later one's");
  if (c.two_consumers.load()) fail(std::to_string(c.two_consumers.load()) + " polls by a consumer while another held the segment");
  if (c.torn_reports.load()) fail(std::to_string(c.torn_reports.load()) + " torn report pages read after a takeover");
  {
    const telering::ReportPage page(&seg.report(), seg.report_payload(), g.report_bytes);
    bool published = false;
    if (!Publisher::page_consistent(page, &published)) fail("the final report page reads torn");
    else if (!published) fail("the final report page does not read (seqlock parity lost?)");
    const telering::BoardReader board(&seg.board(), seg.board_entries(), g.name_capacity);
    if (!board.snapshot(Publisher::kBoardId).consistent) fail("the board entry never reads consistent (seqlock parity lost?)");
  }

  std::printf("telering_soak: %" PRIu64 " s, seed %" PRIu64 "\n", seconds, seed);
  std::printf("  writer launches    %zu (%" PRIu64 " streams), writer kills %" PRIu64 " (%" PRIu64 " threads)\n",
              launches.size(), streams, writer_kills, killed_threads);
  std::printf("  consumer starts    %u (%" PRIu64 " refused: the other of the pair held the lock), consumer kills %" PRIu64
              " (%" PRIu64 " mid-publish), duplicates skipped %" PRIu64 "\n",
              c.consumer_starts.load(), c.lock_refusals.load(), consumer_kills, kills_mid_publish, c.duplicates.load());
  std::printf("  writer stops       %" PRIu64 " (SIGSTOP 1.5-3 s while on the shared lane)\n", writer_stops);
  std::printf("  produced           %" PRIu64 "\n", produced);
  std::printf("  delivered          %" PRIu64 " (%" PRIu64 " via the shared lane)\n", delivered, delivered_shared);
  std::printf("  dropped            %" PRIu64 " (writers' Dropped %" PRIu64 ", lane counters %" PRIu64 ")\n", dropped,
              writer_dropped, segment_dropped);
  std::printf("  lost-to-crash      %" PRId64 " (bound: %" PRIu64 " killed threads; shared-lane claims skipped %" PRIu64 ")\n",
              lost, killed_threads, shared_lost);
  std::printf("  lanes reclaimed    %" PRIu64 ", lane claim failures %" PRIu64 "\n", c.reclaimed.load(),
              seg.header().lane_claim_failures.load());
  std::printf("  torn %" PRIu64 ", malformed %" PRIu64 ", overrun %" PRIu64 ", corrupt %" PRIu64 "\n", c.torn.load(),
              c.malformed.load(), c.overrun.load(), c.corrupt.load());
  std::printf("  produced == delivered + dropped + lost-to-crash: %" PRIu64 " == %" PRIu64 " + %" PRIu64 " + %" PRId64 "\n",
              produced, delivered, dropped, lost);
  if (!errors.empty()) {
    for (const auto& e : errors) std::printf("  MISMATCH: %s\n", e.c_str());
    std::printf("telering_soak: FAILED (replay with TELERING_SOAK_SEED=%" PRIu64 ")\n", seed);
    return 1;
  }
  std::printf("telering_soak: OK\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string role = argc > 1 ? argv[1] : "";
    if (role == "writer" && argc == 6)
      return run_writer(argv[2], static_cast<std::uint32_t>(std::strtoul(argv[3], nullptr, 10)),
                        static_cast<std::uint32_t>(std::strtoul(argv[4], nullptr, 10)), std::strtoull(argv[5], nullptr, 10));
    if (role == "consumer" && argc == 3) return run_consumer(argv[2]);
    return run_orchestrator(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telering_soak: %s\n", e.what());
    return 1;
  }
}
