#include "tools/segment_stats.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "common/safe_text.hpp"
#include "evaluate/breaker.hpp"
#include "evaluate/health.hpp"
#include "evaluate/recovery.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/decision_board.hpp"
#include "telering/core/process_info.hpp"

namespace telering::reader {

namespace {

// A deadline further away than this (about three years) is not one the reader wrote.
constexpr double kMaxPlausibleSeconds = 1e8;

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n > 0) out.append(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof buf - 1));
}

// Printable ASCII only: names come from shared memory and must not drive the terminal.
std::string printable(const char* text, std::size_t length) { return safe_text(std::string_view(text, length)); }

double seconds(std::uint64_t ns) noexcept { return static_cast<double>(ns) / 1e9; }

// Ticks -> monotonic ns in double, so a garbage tick value cannot overflow an integer cast
// (TickCalibration::to_ns clamps to uint64 via a cast that a huge value would overflow).
double ticks_to_ns(const TickCalibration& c, std::uint64_t ticks) noexcept {
  return static_cast<double>(c.mono_base_ns) +
         static_cast<double>(static_cast<std::int64_t>(ticks - c.tick_base)) * c.ns_per_tick;
}

std::string format_utc(std::int64_t wall_ns) {
  const std::time_t t = static_cast<std::time_t>(wall_ns / 1'000'000'000LL);
  std::tm tm{};
  if (wall_ns <= 0 || !::gmtime_r(&t, &tm)) return "unknown";
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::string breaker_text(std::uint8_t raw) {
  return raw <= kMaxBreakerState ? std::string(to_string(static_cast<BreakerState>(raw))) : "corrupt";
}
std::string action_text(std::uint8_t raw) {
  return raw <= kMaxRecoveryAction ? std::string(to_string(static_cast<RecoveryAction>(raw))) : "corrupt";
}
std::string health_text(std::uint32_t raw) {
  return raw <= static_cast<std::uint32_t>(HealthStatus::Critical) ? std::string(to_string(static_cast<HealthStatus>(raw)))
                                                                    : "corrupt";
}

// start_time is the owning thread's (process_info.hpp); the reader frees the lane of a Dead
// owner once it is drained.
OwnerState owner_state(std::uint32_t pid, std::uint32_t tid, std::uint64_t start_time) {
  if (pid == 0 || tid == 0 || pid > kMaxPid || tid > kMaxPid) return OwnerState::Corrupt;
  switch (thread_liveness(pid, tid, start_time)) {
    case Liveness::Dead: return process_liveness(pid, 0) == Liveness::Dead ? OwnerState::Dead : OwnerState::ThreadGone;
    case Liveness::Alive: return OwnerState::Alive;
    case Liveness::Unknown: break;
  }
  return OwnerState::Unknown;
}

void read_reader(const SegmentHeader& h, const BoardHeader& board, const StatClock& clock, SegmentStats& s) {
  // Each pairs with the reader's release store of that word (ReaderLoop attach / heartbeat).
  const std::uint32_t pid = h.reader_pid.load(std::memory_order_acquire);
  const std::uint64_t start = h.reader_start_time.load(std::memory_order_acquire);
  const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
  s.reader_pid = pid;
  char text[160];
  if (pid > kMaxPid || (beat != 0 && beat > clock.mono_ns + 1'000'000'000ULL)) {
    s.reader = ReaderState::Corrupt;
    std::snprintf(text, sizeof text, "reader corrupt (pid %u, heartbeat %" PRIu64 " ns is in the future)", pid, beat);
    s.problems.push_back(std::string("header: ") + (pid > kMaxPid ? "reader pid out of range" : "reader heartbeat in the future"));
    s.health_reason = "reader identity corrupt";
  } else if (pid == 0 && beat == 0) {
    s.reader = ReaderState::NoReader;
    std::snprintf(text, sizeof text, "no reader");
    s.health_reason = "no reader has attached to the segment";
  } else {
    const std::uint64_t age = beat == 0 ? 0 : (clock.mono_ns > beat ? clock.mono_ns - beat : 0);
    if (beat != 0) s.heartbeat_age_s = seconds(age);
    const bool stale = beat == 0 || age > kReaderStaleNs;
    const bool pid_alive = pid != 0 && process_alive(pid, start);
    const double age_s = seconds(age);
    if (pid != 0 && !pid_alive) {
      s.reader = ReaderState::Dead;
      std::snprintf(text, sizeof text, "reader dead (pid %u gone, heartbeat %.1f s old)", pid, age_s);
      s.health_reason = "reader pid " + std::to_string(pid) + " is gone";
    } else if (!stale) {
      s.reader = ReaderState::Alive;
      if (pid != 0) std::snprintf(text, sizeof text, "pid %u alive, heartbeat %.2f s old", pid, age_s);
      else std::snprintf(text, sizeof text, "alive (pid not published), heartbeat %.2f s old", age_s);
    } else if (pid == 0) {
      s.reader = ReaderState::Stopped;
      std::snprintf(text, sizeof text, "reader stopped (heartbeat %.1f s old)", age_s);
    } else {
      s.reader = ReaderState::Stalled;
      if (beat == 0) std::snprintf(text, sizeof text, "reader pid %u attached, no heartbeat yet", pid);
      else std::snprintf(text, sizeof text, "reader pid %u stalled (heartbeat %.1f s old)", pid, age_s);
    }
    if (s.reader != ReaderState::Alive && s.health_reason.empty()) {
      char why[96];
      if (beat == 0) std::snprintf(why, sizeof why, "no live reader: no heartbeat");
      else std::snprintf(why, sizeof why, "no live reader: heartbeat %.1f s old", age_s);
      s.health_reason = why;
    }
  }
  s.reader_text = text;

  // Pairs with BoardWriter::set_overall_health's release store.
  const std::uint32_t overall = board.overall_health.load(std::memory_order_acquire);
  if (s.reader == ReaderState::Alive) {
    s.overall_health = health_text(overall);
    if (s.overall_health == "corrupt") s.problems.push_back("board: overall health " + std::to_string(overall) + " out of range");
  } else {
    // Never a stale HEALTHY: with no live reader the board is what a dead reader left.
    s.overall_health = "UNKNOWN";
  }
}

void read_lanes(const Segment& seg, SegmentStats& s) {
  const SegmentGeometry& g = s.geometry;
  s.lane_tails.assign(g.lane_count, 0);
  for (std::uint32_t i = 0; i < g.lane_count; ++i) {
    const LaneControl& lane = seg.lane(i);
    // Pairs with the claim CAS / release of the owner word (writer) and the reader's reclaim.
    const std::uint64_t owner = lane.owner.load(std::memory_order_acquire);
    // head before tail: head only chases tail, so a later tail load is never behind it.
    // Pairs with the reader's release store of head after a drained batch.
    const std::uint64_t head = lane.head.load(std::memory_order_acquire);
    // Pairs with the producer's release store that publishes a record.
    const std::uint64_t tail = lane.tail.load(std::memory_order_acquire);
    s.lane_tails[i] = tail;
    if (owner == 0) {
      ++s.free_lanes;
      if (tail > head && tail - head <= g.lane_capacity) {
        ++s.free_lanes_with_backlog;
        s.free_lanes_backlog += tail - head;
      }
      continue;
    }
    LaneStats l;
    l.index = i;
    l.owner_pid = owner_pid(owner);
    l.owner_tid = owner_tid(owner);
    l.owner = owner_state(l.owner_pid, l.owner_tid, lane.owner_start_time.load(std::memory_order_acquire));
    l.generation = lane.generation.load(std::memory_order_relaxed);
    l.head = head;
    l.tail = tail;
    l.capacity = g.lane_capacity;
    l.dropped = lane.dropped.load(std::memory_order_relaxed);
    if (l.owner == OwnerState::Corrupt)
      s.problems.push_back("lane " + std::to_string(i) + ": owner pid " + std::to_string(l.owner_pid) + " tid " +
                           std::to_string(l.owner_tid) + " out of range");
    if (tail < head) {
      l.corrupt = true;
      s.problems.push_back("lane " + std::to_string(i) + ": head " + std::to_string(head) + " is ahead of tail " +
                           std::to_string(tail));
    } else if (tail - head > l.capacity) {
      l.corrupt = true;
      s.problems.push_back("lane " + std::to_string(i) + ": tail " + std::to_string(tail) + " is " + std::to_string(tail - head) +
                           " records ahead of head " + std::to_string(head) + " (capacity " + std::to_string(l.capacity) + ")");
    } else {
      l.fill = tail - head;
    }
    s.lanes.push_back(l);
  }

  const MpscControl& m = seg.mpsc();
  SharedLaneStats& sh = s.shared;
  // Pairs with the reader's release store of head; then the producers' claim CAS on tail.
  sh.head = m.head.load(std::memory_order_acquire);
  sh.tail = m.tail.load(std::memory_order_acquire);
  sh.capacity = g.mpsc_capacity;
  sh.dropped = m.dropped.load(std::memory_order_relaxed);
  sh.lost = m.lost.load(std::memory_order_relaxed);
  if (sh.tail < sh.head || sh.tail - sh.head > sh.capacity) {
    sh.corrupt = true;
    s.problems.push_back("shared lane: tail " + std::to_string(sh.tail) + " and head " + std::to_string(sh.head) +
                         " are inconsistent (capacity " + std::to_string(sh.capacity) + ")");
  } else {
    sh.fill = sh.tail - sh.head;
  }
}

void read_names_and_board(const Segment& seg, SegmentStats& s) {
  const std::uint32_t capacity = s.geometry.name_capacity;
  const NameEntry* names = seg.names();
  const BoardReader board(&seg.board(), seg.board_entries(), capacity);
  const TickCalibration cal = seg.calibration();
  const double now_ns = static_cast<double>(s.taken.mono_ns);
  s.names.capacity = capacity - 1;
  for (std::uint32_t id = 1; id < capacity; ++id) {
    const NameEntry& e = names[id];
    // Pairs with the release CAS that publishes the entry (NameTable::intern).
    const std::uint64_t tag = e.tag.load(std::memory_order_acquire);
    const std::uint32_t state = tag_state(tag);
    if (state == kNameEmpty) continue;
    if (state == kNameWriting || state == kNameAbandoned) {
      ++s.names.writing;
      continue;
    }
    const std::string where = "name #" + std::to_string(id);
    if (state != kNameReady) {
      ++s.names.corrupt;
      s.problems.push_back(where + ": state " + std::to_string(state) + " out of range");
      continue;
    }
    const std::uint8_t kind = tag_kind(tag);
    const std::uint8_t length = e.length;
    const bool kind_ok = kind >= 1 && kind <= kMaxNameKind;
    const bool length_ok = length >= 1 && length <= kMaxNameLength;
    if (kind_ok && length_ok) {
      ++s.names.by_kind[kind];
    } else {
      ++s.names.corrupt;
      s.problems.push_back(where + ": " + (kind_ok ? "" : "kind " + std::to_string(kind) + " out of range") +
                           (!kind_ok && !length_ok ? ", " : "") +
                           (length_ok ? "" : "length " + std::to_string(length) + " out of range"));
    }

    const BoardSnapshot b = board.snapshot(static_cast<NameId>(id));
    const auto breaker_raw = static_cast<std::uint8_t>(b.breaker_state);
    const double backoff_ns = b.backoff_until_ns != 0 ? static_cast<double>(b.backoff_until_ns)
                              : b.backoff_until_ticks != 0 ? ticks_to_ns(cal, b.backoff_until_ticks)
                                                            : 0.0;
    const bool backoff_in_force = backoff_ns > now_ns;
    const bool is_default = breaker_raw == static_cast<std::uint8_t>(BreakerState::Closed) && !backoff_in_force &&
                            b.reset_epoch == 0 && b.retry_permits == 0 && b.last_action == 0;
    if (is_default) continue;

    BoardRow r;
    r.id = static_cast<NameId>(id);
    r.name = length_ok ? printable(e.text, length) : "<corrupt name #" + std::to_string(id) + ">";
    r.kind = std::string(name_kind_text(kind));
    r.breaker = breaker_text(breaker_raw);
    r.last_action = action_text(b.last_action);
    r.health = health_text(static_cast<std::uint8_t>(b.health));
    if (r.breaker == "corrupt") s.problems.push_back(where + ": breaker state " + std::to_string(breaker_raw) + " out of range");
    if (r.last_action == "corrupt") s.problems.push_back(where + ": last action " + std::to_string(b.last_action) + " out of range");
    if (r.health == "corrupt")
      s.problems.push_back(where + ": health " + std::to_string(static_cast<unsigned>(b.health)) + " out of range");
    if (b.open_until_ticks != 0) {
      const double open_for = (ticks_to_ns(cal, b.open_until_ticks) - now_ns) / 1e9;
      if (std::abs(open_for) > kMaxPlausibleSeconds) {
        r.open_until_corrupt = true;
        s.problems.push_back(where + ": breaker open-until is implausibly far from now");
      } else {
        r.open_for_s = open_for;
      }
    }
    if (backoff_in_force) {
      const double remaining = (backoff_ns - now_ns) / 1e9;
      if (remaining > kMaxPlausibleSeconds) {
        r.backoff_corrupt = true;
        s.problems.push_back(where + ": backoff deadline is implausibly far away");
      } else {
        r.backoff_remaining_s = remaining;
      }
    }
    r.reset_epoch = b.reset_epoch;
    r.retry_permits = b.retry_permits;
    r.decision_seq = b.decision_seq;
    r.consistent = b.consistent;
    s.board.push_back(std::move(r));
  }
  // A bot's own breaker is named "<component id>@<bot id>": show the names instead.
  const NameTable table(seg.names(), capacity);
  for (BoardRow& r : s.board) {
    if (r.kind != name_kind_text(static_cast<std::uint8_t>(NameKind::BotBreaker))) continue;
    unsigned component = 0;
    unsigned bot = 0;
    if (std::sscanf(r.name.c_str(), "%u@%u", &component, &bot) != 2) continue;
    const auto text_of = [&](unsigned id) -> std::string {
      NameTable::Name n;
      return id < capacity && table.read(static_cast<NameId>(id), n) ? printable(n.text.data(), n.text.size())
                                                                      : "#" + std::to_string(id);
    };
    r.name = text_of(component) + "@" + text_of(bot);
  }
}

std::string opt_seconds(const std::optional<double>& v, bool corrupt, const char* fmt = "%.1f s") {
  if (corrupt) return "corrupt";
  if (!v) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, *v);
  return buf;
}

std::string rate_text(const std::optional<double>& r) {
  if (!r) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", *r);
  return buf;
}

// A lane's FILL and % columns: "12/256" and "4.7", or "corrupt" and "-".
struct FillText {
  std::string fill = "corrupt";
  std::string pct = "-";
};
FillText fill_text(const std::optional<std::uint64_t>& fill, std::uint64_t capacity) {
  FillText t;
  if (!fill) return t;
  t.fill = std::to_string(*fill) + "/" + std::to_string(capacity);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.1f", 100.0 * static_cast<double>(*fill) / static_cast<double>(capacity));
  t.pct = buf;
  return t;
}

template <typename T>
nlohmann::json opt(const std::optional<T>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

StatClock StatClock::now() noexcept { return StatClock{telering::monotonic_ns(), telering::wall_ns()}; }

std::uint64_t NameCounts::used() const noexcept {
  std::uint64_t n = writing + corrupt;
  for (std::uint8_t k = 1; k <= kMaxNameKind; ++k) n += by_kind[k];
  return n;
}

std::string_view to_string(ReaderState s) noexcept {
  switch (s) {
    case ReaderState::NoReader: return "no_reader";
    case ReaderState::Alive: return "alive";
    case ReaderState::Stopped: return "stopped";
    case ReaderState::Stalled: return "stalled";
    case ReaderState::Dead: return "dead";
    case ReaderState::Corrupt: return "corrupt";
  }
  return "corrupt";
}

std::string_view to_string(OwnerState s) noexcept {
  switch (s) {
    case OwnerState::Alive: return "alive";
    case OwnerState::ThreadGone: return "thread_gone";
    case OwnerState::Dead: return "dead";
    case OwnerState::Corrupt: return "corrupt";
    case OwnerState::Unknown: return "unknown";
  }
  return "corrupt";
}

std::string_view name_kind_text(std::uint8_t kind) noexcept {
  switch (kind) {
    case static_cast<std::uint8_t>(NameKind::Bot): return "bot";
    case static_cast<std::uint8_t>(NameKind::Component): return "component";
    case static_cast<std::uint8_t>(NameKind::ErrorType): return "error_type";
    case static_cast<std::uint8_t>(NameKind::WarningType): return "warning_type";
    case static_cast<std::uint8_t>(NameKind::Endpoint): return "endpoint";
    case static_cast<std::uint8_t>(NameKind::Metric): return "metric";
    case static_cast<std::uint8_t>(NameKind::RateGroup): return "rate_group";
    case static_cast<std::uint8_t>(NameKind::BotBreaker): return "bot_breaker";
    default: return "corrupt";
  }
}

SegmentStats take_segment_stats(const Segment& seg, const StatClock& clock) {
  SegmentStats s;
  s.taken = clock;
  const SegmentHeader& h = seg.header();
  // Identity fields were validated by Segment::open (magic, version, geometry, offsets, size).
  s.name = seg.name();
  s.size_bytes = seg.size();
  const SegmentIdentity& id = seg.identity();
  s.layout_version = id.layout_version;
  s.geometry = id.geometry;
  s.creator_pid = id.creator_pid;
  s.created_wall_ns = id.created_wall_ns;

  const BoardHeader& board = seg.board();
  read_reader(h, board, clock, s);
  // Pairs with BoardWriter::request_shutdown's release store.
  const std::uint32_t shutdown = board.shutdown_requested.load(std::memory_order_acquire);
  if (shutdown <= 1) s.shutdown_requested = shutdown == 1;
  else s.problems.push_back("board: shutdown word " + std::to_string(shutdown) + " out of range");

  s.lane_claims = h.lane_claims.load(std::memory_order_relaxed);
  s.lane_claim_failures = h.lane_claim_failures.load(std::memory_order_relaxed);
  s.name_table_full = h.name_table_full.load(std::memory_order_relaxed);
  s.next_command_id = h.next_command_id.load(std::memory_order_relaxed);
  s.commands_applied = board.commands_applied.load(std::memory_order_relaxed);
  // Pairs with the release stores in BoardWriter::update / bump_reset_epoch.
  s.decision_seq = board.decision_seq.load(std::memory_order_acquire);
  s.global_reset_epoch = board.reset_epoch.load(std::memory_order_acquire);

  const ReportPageHeader& rp = seg.report();
  // Pairs with the release store that ends ReportPage::publish (even seq).
  const std::uint64_t rseq = rp.seq.load(std::memory_order_acquire);
  if (rseq != 0) {
    s.report.published = true;
    s.report.seq = rseq;
    s.report.length = rp.length.load(std::memory_order_acquire);
    const std::uint64_t at = rp.published_mono_ns.load(std::memory_order_acquire);
    if (at != 0 && at <= clock.mono_ns + 1'000'000'000ULL) s.report.age_s = seconds(clock.mono_ns > at ? clock.mono_ns - at : 0);
    if (s.report.length > s.geometry.report_bytes)
      s.problems.push_back("report page: length " + std::to_string(s.report.length) + " exceeds its capacity " +
                           std::to_string(s.geometry.report_bytes));
  }

  read_lanes(seg, s);
  read_names_and_board(seg, s);
  return s;
}

void compute_rates(SegmentStats& current, const SegmentStats& previous) noexcept {
  if (current.taken.mono_ns <= previous.taken.mono_ns) return;
  const double dt = seconds(current.taken.mono_ns - previous.taken.mono_ns);
  for (LaneStats& l : current.lanes) {
    if (l.index >= previous.lane_tails.size() || l.corrupt) continue;
    const std::uint64_t before = previous.lane_tails[l.index];
    if (l.tail >= before) l.records_per_s = static_cast<double>(l.tail - before) / dt;
  }
  if (!current.shared.corrupt && current.shared.tail >= previous.shared.tail)
    current.shared.records_per_s = static_cast<double>(current.shared.tail - previous.shared.tail) / dt;
}

std::string format_table(const SegmentStats& s) {
  std::string out;
  const SegmentGeometry& g = s.geometry;
  appendf(out, "telering-stat  segment '%s'  at %s\n", s.name.c_str(), format_utc(s.taken.wall_ns).c_str());
  appendf(out, "segment   /dev/shm/%s  %.1f MiB  layout v%u  %u lanes x %u records, shared lane %u, %u names, report %u KiB\n",
          s.name.c_str(), static_cast<double>(s.size_bytes) / (1 << 20), s.layout_version, g.lane_count, g.lane_capacity,
          g.mpsc_capacity, g.name_capacity, g.report_bytes / 1024);
  appendf(out, "created   %s by pid %u\n", format_utc(s.created_wall_ns).c_str(), s.creator_pid);
  appendf(out, "reader    %s\n", s.reader_text.c_str());
  if (s.health_reason.empty()) appendf(out, "health    %s\n", s.overall_health.c_str());
  else appendf(out, "health    %s (%s)\n", s.overall_health.c_str(), s.health_reason.c_str());
  appendf(out, "shutdown  %s\n", !s.shutdown_requested ? "corrupt" : *s.shutdown_requested ? "REQUESTED" : "no");
  appendf(out,
          "counters  lane claims %" PRIu64 ", claim failures %" PRIu64 ", name table full %" PRIu64 ", next command id %" PRIu64
          ", commands applied %" PRIu64 ", decision seq %" PRIu64 ", reset epoch %" PRIu64 "\n",
          s.lane_claims, s.lane_claim_failures, s.name_table_full, s.next_command_id, s.commands_applied, s.decision_seq,
          s.global_reset_epoch);
  if (!s.report.published) appendf(out, "report    none published\n");
  else
    appendf(out, "report    seq %" PRIu64 ", %" PRIu64 " bytes, published %s ago\n", s.report.seq, s.report.length,
            opt_seconds(s.report.age_s, false).c_str());

  appendf(out, "\nLANES  %zu claimed, %u free", s.lanes.size(), s.free_lanes);
  if (s.free_lanes_with_backlog != 0)
    appendf(out, " (%u of them still hold%s %" PRIu64 " undrained records)", s.free_lanes_with_backlog,
            s.free_lanes_with_backlog == 1 ? "s" : "", s.free_lanes_backlog);
  out += '\n';
  appendf(out, "%5s  %8s  %8s  %-11s  %15s  %6s  %12s  %10s  %10s\n", "LANE", "PID", "TID", "OWNER", "FILL", "%", "RECORDS",
          "DROPPED", "REC/S");
  for (const LaneStats& l : s.lanes) {
    const auto [fill, pct] = fill_text(l.fill, l.capacity);
    appendf(out, "%5u  %8u  %8u  %-11s  %15s  %6s  %12" PRIu64 "  %10" PRIu64 "  %10s\n", l.index, l.owner_pid, l.owner_tid,
            std::string(to_string(l.owner)).c_str(), fill.c_str(), pct.c_str(), l.tail, l.dropped, rate_text(l.records_per_s).c_str());
  }
  {
    const SharedLaneStats& sh = s.shared;
    const auto [fill, pct] = fill_text(sh.fill, sh.capacity);
    appendf(out, "%-36s  %15s  %6s  %12" PRIu64 "  %10" PRIu64 "  %10s  lost %" PRIu64 "\n", "shared", fill.c_str(), pct.c_str(),
            sh.tail, sh.dropped, rate_text(sh.records_per_s).c_str(), sh.lost);
  }

  appendf(out, "\nDECISION BOARD  %zu entr%s with a decision\n", s.board.size(), s.board.size() == 1 ? "y" : "ies");
  if (!s.board.empty()) {
    appendf(out, "%-28s  %-12s  %-11s  %10s  %10s  %6s  %7s  %-8s  %-8s  %8s\n", "NAME", "KIND", "BREAKER", "OPEN FOR", "BACKOFF",
            "EPOCH", "PERMITS", "ACTION", "HEALTH", "SEQ");
    for (const BoardRow& r : s.board) {
      appendf(out, "%-28s  %-12s  %-11s  %10s  %10s  %6" PRIu64 "  %7u  %-8s  %-8s  %8" PRIu64 "%s\n", r.name.c_str(), r.kind.c_str(),
              r.breaker.c_str(), opt_seconds(r.open_for_s, r.open_until_corrupt).c_str(),
              opt_seconds(r.backoff_remaining_s, r.backoff_corrupt).c_str(), r.reset_epoch, r.retry_permits, r.last_action.c_str(),
              r.health.c_str(), r.decision_seq, r.consistent ? "" : "  (torn)");
    }
  }

  appendf(out, "\nNAMES  ");
  for (std::uint8_t k = 1; k <= kMaxNameKind; ++k)
    appendf(out, "%s %" PRIu64 ", ", std::string(name_kind_text(k)).c_str(), s.names.by_kind[k]);
  appendf(out, "being written %" PRIu64 ", corrupt %" PRIu64 "  (%" PRIu64 " of %" PRIu64 " used)\n", s.names.writing,
          s.names.corrupt, s.names.used(), s.names.capacity);

  if (!s.problems.empty()) {
    appendf(out, "\nCORRUPT  %zu value%s out of range (shown as corrupt above)\n", s.problems.size(), s.problems.size() == 1 ? "" : "s");
    for (const std::string& p : s.problems) appendf(out, "  %s\n", p.c_str());
  }
  return out;
}

nlohmann::json to_json(const SegmentStats& s) {
  using nlohmann::json;
  const SegmentGeometry& g = s.geometry;
  json j;
  j["segment"] = s.name;
  j["taken_wall_ns"] = s.taken.wall_ns;
  j["size_bytes"] = s.size_bytes;
  j["layout_version"] = s.layout_version;
  j["geometry"] = {{"lane_count", g.lane_count},
                   {"lane_capacity", g.lane_capacity},
                   {"mpsc_capacity", g.mpsc_capacity},
                   {"name_capacity", g.name_capacity},
                   {"report_bytes", g.report_bytes}};
  j["creator_pid"] = s.creator_pid;
  j["created_wall_ns"] = s.created_wall_ns;
  j["created_utc"] = format_utc(s.created_wall_ns);
  j["reader"] = {{"state", to_string(s.reader)},
                 {"pid", s.reader_pid},
                 {"heartbeat_age_s", opt(s.heartbeat_age_s)},
                 {"text", s.reader_text}};
  j["overall_health"] = s.overall_health;
  j["health_reason"] = s.health_reason.empty() ? json(nullptr) : json(s.health_reason);
  j["shutdown_requested"] = s.shutdown_requested ? json(*s.shutdown_requested) : json("corrupt");
  j["counters"] = {{"lane_claims", s.lane_claims},
                   {"lane_claim_failures", s.lane_claim_failures},
                   {"name_table_full", s.name_table_full},
                   {"next_command_id", s.next_command_id},
                   {"commands_applied", s.commands_applied},
                   {"decision_seq", s.decision_seq},
                   {"reset_epoch", s.global_reset_epoch}};
  j["report"] = {{"published", s.report.published},
                 {"seq", s.report.seq},
                 {"length", s.report.length},
                 {"age_s", opt(s.report.age_s)}};
  json lanes = json::array();
  for (const LaneStats& l : s.lanes) {
    lanes.push_back({{"index", l.index},
                     {"owner_pid", l.owner_pid},
                     {"owner_tid", l.owner_tid},
                     {"owner", to_string(l.owner)},
                     {"owner_alive", l.owner == OwnerState::Alive},
                     {"generation", l.generation},
                     {"head", l.head},
                     {"tail", l.tail},
                     {"capacity", l.capacity},
                     {"fill", l.fill ? json(*l.fill) : json("corrupt")},
                     {"fill_pct", l.fill ? json(100.0 * static_cast<double>(*l.fill) / static_cast<double>(l.capacity)) : json(nullptr)},
                     {"dropped", l.dropped},
                     {"records_per_s", opt(l.records_per_s)},
                     {"corrupt", l.corrupt}});
  }
  j["lanes"] = std::move(lanes);
  j["free_lanes"] = s.free_lanes;
  j["free_lanes_backlog"] = {{"lanes", s.free_lanes_with_backlog}, {"records", s.free_lanes_backlog}};
  const SharedLaneStats& sh = s.shared;
  j["shared_lane"] = {{"head", sh.head},
                      {"tail", sh.tail},
                      {"capacity", sh.capacity},
                      {"fill", sh.fill ? json(*sh.fill) : json("corrupt")},
                      {"fill_pct", sh.fill ? json(100.0 * static_cast<double>(*sh.fill) / static_cast<double>(sh.capacity)) : json(nullptr)},
                      {"dropped", sh.dropped},
                      {"lost", sh.lost},
                      {"records_per_s", opt(sh.records_per_s)},
                      {"corrupt", sh.corrupt}};
  json board = json::array();
  for (const BoardRow& r : s.board) {
    board.push_back({{"id", r.id},
                     {"name", r.name},
                     {"kind", r.kind},
                     {"breaker", r.breaker},
                     {"open_for_s", r.open_until_corrupt ? json("corrupt") : opt(r.open_for_s)},
                     {"backoff_remaining_s", r.backoff_corrupt ? json("corrupt") : opt(r.backoff_remaining_s)},
                     {"reset_epoch", r.reset_epoch},
                     {"retry_permits", r.retry_permits},
                     {"last_action", r.last_action},
                     {"health", r.health},
                     {"decision_seq", r.decision_seq},
                     {"consistent", r.consistent}});
  }
  j["board"] = std::move(board);
  json names = json::object();
  for (std::uint8_t k = 1; k <= kMaxNameKind; ++k) names[std::string(name_kind_text(k))] = s.names.by_kind[k];
  names["being_written"] = s.names.writing;
  names["corrupt"] = s.names.corrupt;
  names["used"] = s.names.used();
  names["capacity"] = s.names.capacity;
  j["names"] = std::move(names);
  j["problems"] = s.problems;
  return j;
}

}  // namespace telering::reader
