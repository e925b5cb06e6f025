// Reader restart without amnesia: the Engine's state saved to a snapshot and restored into a
// new Engine (same segment or a fresh one), deadline handling across boots, the atomic
// write, refusal of bad files and a ReaderLoop "crash" mid-incident. What a snapshot costs
// is bench/bench_snapshot.cpp.
// Time is the test's (injected now_ns); the only clock reads are the starting points.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "engine/engine.hpp"
#include "evaluate/health_report_format.hpp"
#include "loop/reader_loop.hpp"
#include "state/snapshot.hpp"
#include "support/log_capture.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/clock.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr const char* kShutdownConfig = "[[strategies]]\nerror_type = \"fatal\"\naction = \"SHUTDOWN\"\n";

// A segment with a writer (for names and for reading the board back as a bot does).
class Rig {
 public:
  explicit Rig(std::uint32_t lanes = 4) : writer_(Writer::attach(options(lanes))), t0_(monotonic_ns()) {}
  Writer& w() { return writer_; }
  Segment& segment() { return writer_.segment(); }
  [[nodiscard]] std::uint64_t at(std::uint64_t offset_ns) const { return t0_ + offset_ns; }
  NameId name(NameKind kind, std::string_view text) { return writer_.names().intern(kind, text); }
  [[nodiscard]] const std::string& segment_name() const { return segment_.name(); }

  // A validated record as the drainer would hand it over, stamped at `now`.
  Record record(RecordKind kind, NameId bot, NameId name, double value, std::uint64_t now) {
    Record r{};
    r.timestamp = segment().calibration().to_ticks(now);
    r.kind = kind;
    r.bot_id = bot;
    r.name_id = name;
    r.value = value;
    return r;
  }

 private:
  WriterOptions options(std::uint32_t lanes) {
    WriterOptions o;
    o.segment = segment_.name();
    o.bot = "kucoin-futures-1";
    SegmentGeometry g = test::small_geometry(lanes, 256);
    g.name_capacity = 1024;
    g.report_bytes = 256 * 1024;
    o.geometry = g;
    o.sample_memory = false;
    return o;
  }

  test::UniqueSegment segment_;
  Writer writer_;
  std::uint64_t t0_;
};

struct Feed {
  Rig& rig;
  Engine& engine;
  void operator()(const Record& r, std::uint64_t now) { engine.on_record(r, RecordSource{}, now); }
  void error(NameId bot, std::string_view type, Severity s, std::uint64_t now, std::string_view context = "",
             std::string_view component = "") {
    Record r = rig.record(RecordKind::Error, bot, rig.name(NameKind::ErrorType, type), 0.0, now);
    r.severity = s;
    if (!component.empty()) r.aux_id = rig.name(NameKind::Component, component);
    r.set_context(context);
    (*this)(r, now);
  }
  void outcome(NameId bot, std::string_view component, bool ok, std::uint64_t now) {
    Record r = rig.record(RecordKind::CallOutcome, bot, rig.name(NameKind::Component, component), 0.1, now);
    if (!ok) r.flags |= kFlagFailure;
    (*this)(r, now);
  }
};

// An engine in the middle of an incident: full windows for `bots` bots, 1000 errors in the
// history, market_scanner OPEN since 20 s (60 s wait), a 30 s rate-limit backoff from 35 s,
// two RESETs, a raised alert, a retry, a SHUTDOWN, counters, gauges and warnings.
void build_incident(Rig& rig, Engine& engine, int bots, int breakers = 2) {
  Feed feed{rig, engine};
  const NameId orderbook = rig.name(NameKind::Endpoint, "orderbook");
  const NameId positions = rig.name(NameKind::Endpoint, "positions");
  for (int b = 0; b < bots; ++b) {
    const NameId bot = b == 0 ? rig.w().bot_id() : rig.name(NameKind::Bot, "bot-" + std::to_string(b));
    for (int i = 1; i <= 120; ++i) {
      const std::uint64_t now = rig.at(static_cast<std::uint64_t>(i) * kSecond / 10);
      feed(rig.record(RecordKind::ScanTime, bot, kNoName, 10.0 + i % 17, now), now);
      feed(rig.record(RecordKind::ApiCall, bot, i % 2 ? orderbook : positions, 0.05 * (i % 9 + 1), now), now);
      feed(rig.record(RecordKind::MemorySample, bot, kNoName, (200.0 + i) * 1024 * 1024, now), now);
    }
  }
  const NameId bot = rig.w().bot_id();
  for (int i = 0; i < 1000; ++i)
    feed.error(bot, "order_rejected", Severity::Low, rig.at(kSecond + static_cast<std::uint64_t>(i) * 29 * kSecond / 1000),
               "e" + std::to_string(i));
  for (int c = 0; c < breakers; ++c) {
    const std::string component = c == 0 ? "market_scanner" : c == 1 ? "order_router" : "component-" + std::to_string(c);
    // market_scanner trips at 20 s; the others stay CLOSED with calls in their windows.
    for (int i = 0; i < 10; ++i) feed.outcome(bot, component, c != 0 && i % 3 != 0, rig.at(20 * kSecond));
  }
  feed.error(bot, "api_rate_limit", Severity::Medium, rig.at(35 * kSecond), "endpoint=/api/v1/market/orderbook");
  feed.error(bot, "position_not_found", Severity::Medium, rig.at(36 * kSecond), "BTCUSDTM", "position_manager");
  feed.error(bot, "position_not_found", Severity::Medium, rig.at(37 * kSecond), "ETHUSDTM", "position_manager");
  feed.error(bot, "insufficient_balance", Severity::High, rig.at(37 * kSecond));
  feed.error(bot, "api_connection", Severity::High, rig.at(38 * kSecond), "connect timeout");
  feed.error(bot, "fatal", Severity::Critical, rig.at(39 * kSecond));
  feed(rig.record(RecordKind::Counter, bot, rig.name(NameKind::Metric, "orders_sent"), 5, rig.at(39 * kSecond)), rig.at(39 * kSecond));
  feed(rig.record(RecordKind::Gauge, bot, rig.name(NameKind::Metric, "open_positions"), 7, rig.at(39 * kSecond)), rig.at(39 * kSecond));
  for (int i = 0; i < 2; ++i)
    feed(rig.record(RecordKind::Warning, bot, rig.name(NameKind::WarningType, "slow_fill"), 0, rig.at(39 * kSecond)), rig.at(39 * kSecond));
  engine.tick(rig.at(40 * kSecond));
}

// Report JSON without the fields that hold "now" as text.
json comparable(json j) {
  if (j.is_object()) {
    j.erase("timestamp");
    j.erase("timestamp_ns");
    for (auto& [k, v] : j.items()) v = comparable(v);
  } else if (j.is_array()) {
    for (auto& v : j) v = comparable(v);
  }
  return j;
}

fs::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = fs::temp_directory_path() / ("telering-snap-" + std::to_string(::getpid()) + "-" + info->name());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_raw(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::vector<fs::path> set_aside_files(const fs::path& dir, const std::string& stem) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(stem + ".bad-", 0) == 0) out.push_back(e.path());
  return out;
}

// ---------------------------------------------------------------------------------------
// Round trip

TEST(Snapshot, RoundTripOntoAFreshBoardRestoresStatisticsHealthReportAndDecisions) {
  Rig a;
  const std::int64_t wall_offset = wall_ns() - static_cast<std::int64_t>(a.at(0));
  Engine first(parse_config(kShutdownConfig, "reader.toml"), a.segment(), a.at(0), wall_offset);
  build_incident(a, first, 3);
  const std::uint64_t now = a.at(40 * kSecond);
  ASSERT_TRUE(a.w().breaker_open("market_scanner"));
  ASSERT_TRUE(a.w().in_backoff("api_rate_limit"));
  ASSERT_TRUE(a.w().shutdown_requested());
  ASSERT_EQ(first.error_log().history_size(), 1000U);

  const std::string text = encode_snapshot(first.save_state(), a.segment_name(), SnapshotClock{now, 0, "boot-1"});
  const DecodedSnapshot decoded = decode_snapshot(text, a.segment_name());

  Rig b;  // another segment: a fresh board, as after a reboot wiped /dev/shm
  Engine second(parse_config(kShutdownConfig, "reader.toml"), b.segment(), now, wall_offset);
  ASSERT_FALSE(b.w().breaker_open("market_scanner"));
  second.restore_state(decoded.state, TimeShift{}, now);

  // What people and exporters see is the same.
  EXPECT_EQ(error_statistics_to_json(second.error_statistics(now)), error_statistics_to_json(first.error_statistics(now)));
  EXPECT_EQ(comparable(json::parse(second.report_json(now))), comparable(json::parse(first.report_json(now))));
  EXPECT_EQ(second.health_summary(now), first.health_summary(now));
  EXPECT_EQ(second.health_report(now).overall_status, first.health_report(now).overall_status);
  EXPECT_EQ(second.host_monitor().scan_times().values(), first.host_monitor().scan_times().values());
  EXPECT_EQ(second.host_monitor().scan_times().total_pushed(), 360U);
  EXPECT_EQ(second.error_log().history_size(), 1000U);
  // The 6 recovery errors after the 1000 rejections pushed e0..e5 out of the history.
  EXPECT_EQ(second.error_log().history().front().message_or_context, "e6");
  EXPECT_EQ(second.error_log().history().back().error_type, "fatal");
  ASSERT_EQ(second.bots().size(), 3U);
  EXPECT_EQ(second.bots()[0].monitor->api_latencies().values(), first.bots()[0].monitor->api_latencies().values());
  EXPECT_EQ(second.counters().at("orders_sent"), 5.0);
  EXPECT_EQ(second.gauges().at("open_positions"), 7.0);
  EXPECT_EQ(second.warnings_by_type().at("slow_fill"), 2U);
  const auto rate_a = first.recovery().state("api_rate_limit");
  const auto rate_b = second.recovery().state("api_rate_limit");
  ASSERT_TRUE(rate_b.has_value());
  EXPECT_EQ(rate_b->backoff_until_ns, rate_a->backoff_until_ns);
  EXPECT_EQ(rate_b->incident, rate_a->incident);
  EXPECT_TRUE(second.recovery().state("insufficient_balance")->alerted);
  EXPECT_EQ(second.recovery().global_reset_epoch(), 2U);
  EXPECT_TRUE(second.recovery().shutdown_requested());
  const std::vector<BreakerView> ba = first.breakers(), bb = second.breakers();
  ASSERT_EQ(bb.size(), 2U);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(bb[i].component, ba[i].component);
    EXPECT_EQ(bb[i].metrics.state, ba[i].metrics.state);
    EXPECT_EQ(bb[i].metrics.open_until_ns, ba[i].metrics.open_until_ns);
    EXPECT_EQ(bb[i].metrics.calls_in_window, ba[i].metrics.calls_in_window);
    EXPECT_EQ(bb[i].metrics.failed_calls_in_window, ba[i].metrics.failed_calls_in_window);
    EXPECT_EQ(bb[i].metrics.trips, ba[i].metrics.trips);
  }

  // The fresh board shows the decisions to a bot at once: the breaker OPEN 40 s more, the
  // backoff, the reset epochs, the shutdown request.
  Writer& w = b.w();
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Open);
  EXPECT_EQ(b.w().board().snapshot(w.component("market_scanner")).open_until_ticks,
            b.segment().calibration().to_ticks(a.at(80 * kSecond)));
  EXPECT_TRUE(w.in_backoff("api_rate_limit"));
  EXPECT_EQ(w.backoff_until("api_rate_limit"), a.at(65 * kSecond));
  EXPECT_EQ(w.global_reset_epoch(), a.w().global_reset_epoch());
  EXPECT_EQ(w.board().reset_epoch(w.error_type("position_not_found")),
            a.w().board().reset_epoch(a.w().error_type("position_not_found")));
  EXPECT_EQ(w.board().reset_epoch(w.component("position_manager")), 2U);
  EXPECT_TRUE(w.shutdown_requested());
  EXPECT_EQ(json::parse(second.report_json(now))["shutdown_requested"], true);

  // And the breaker keeps its deadline: HALF_OPEN at 80 s, not before.
  second.tick(a.at(80 * kSecond) - 1);
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::Open);
  second.tick(a.at(80 * kSecond));
  EXPECT_EQ(w.breaker_state("market_scanner"), BreakerState::HalfOpen);
  // Alert dedup survived: the same incident raises no second alert.
  (void)second.take_alerts();
  Feed{b, second}.error(w.bot_id(), "insufficient_balance", Severity::High, a.at(81 * kSecond));
  EXPECT_TRUE(second.take_alerts().empty());
}

TEST(Snapshot, SameBootKeepsDeadlinesAnotherBootConvertsThemThroughWallTime) {
  Rig rig;
  Engine first(ReaderConfig{}, rig.segment(), rig.at(0), 0);
  build_incident(rig, first, 1);
  const std::uint64_t saved_mono = rig.at(40 * kSecond);
  const std::int64_t saved_wall = 1'700'000'000LL * 1'000'000'000LL;
  const json state = first.save_state();
  const SnapshotClock saved{saved_mono, saved_wall, "boot-1"};

  {  // Same boot, restarted 10 s later: the deadline is the same instant.
    const std::uint64_t now = rig.at(50 * kSecond);
    Engine second(ReaderConfig{}, rig.segment(), now, 0);
    const TimeShift shift = TimeShift::between(saved, SnapshotClock{now, saved_wall + 10 * static_cast<std::int64_t>(kSecond), "boot-1"});
    EXPECT_TRUE(shift.same_boot);
    second.restore_state(state, shift, now);
    EXPECT_EQ(second.breakers().at(0).metrics.open_until_ns, rig.at(80 * kSecond));
    EXPECT_EQ(second.recovery().state("api_rate_limit")->backoff_until_ns, rig.at(65 * kSecond));
  }
  {  // Another boot whose monotonic clock reads 100 s where the wall clock is 15 s later:
     // 40 s were left, 15 s went by, 25 s are left.
    const std::uint64_t now = rig.at(100 * kSecond);
    Engine third(ReaderConfig{}, rig.segment(), now, 0);
    const TimeShift shift = TimeShift::between(saved, SnapshotClock{now, saved_wall + 15 * static_cast<std::int64_t>(kSecond), "boot-2"});
    EXPECT_FALSE(shift.same_boot);
    third.restore_state(state, shift, now);
    EXPECT_EQ(third.breakers().at(0).metrics.state, BreakerState::Open);
    EXPECT_EQ(third.breakers().at(0).metrics.open_until_ns, now + 25 * kSecond);
    EXPECT_EQ(rig.w().board().snapshot(rig.w().component("market_scanner")).open_until_ticks,
              rig.segment().calibration().to_ticks(now + 25 * kSecond));
    EXPECT_EQ(third.recovery().state("api_rate_limit")->backoff_until_ns, now + 10 * kSecond);  // 25 s left, 15 s gone
    third.tick(now + 25 * kSecond - 1);
    EXPECT_EQ(third.breakers().at(0).metrics.state, BreakerState::Open);
    third.tick(now + 25 * kSecond);
    EXPECT_EQ(third.breakers().at(0).metrics.state, BreakerState::HalfOpen);
  }
  {  // Another boot after a long outage: every deadline is in the past, none is "never".
    const std::uint64_t now = rig.at(100 * kSecond);
    const TimeShift shift = TimeShift::between(saved, SnapshotClock{now, saved_wall + 3600 * static_cast<std::int64_t>(kSecond), "boot-3"});
    EXPECT_LT(shift(rig.at(80 * kSecond)), now);
    EXPECT_EQ(shift(0), 0U);
    EXPECT_EQ(TimeShift::between(saved, SnapshotClock{kSecond, saved_wall + 3600 * static_cast<std::int64_t>(kSecond), "boot-3"})(
                  rig.at(80 * kSecond)),
              1U);
  }
}

// ---------------------------------------------------------------------------------------
// Files

TEST(Snapshot, AtomicWriteNeverReplacesAGoodFileWhenWritingFails) {
  const fs::path dir = temp_dir();
  const std::string path = (dir / "reader.state").string();
  write_file_atomically(path, "good\n");
  EXPECT_EQ(read_file(path), "good\n");
  EXPECT_FALSE(fs::exists(path + ".tmp"));

  // The temporary cannot be created (a directory in its way — works for root too, where
  // permission bits would not stop us).
  fs::create_directory(path + ".tmp");
  EXPECT_THROW(write_file_atomically(path, "new\n"), SnapshotError);
  EXPECT_EQ(read_file(path), "good\n");
  fs::remove(path + ".tmp");

  if (::geteuid() != 0) {  // an unwritable directory
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
    EXPECT_THROW(write_file_atomically(path, "new\n"), SnapshotError);
    fs::permissions(dir, fs::perms::owner_all);
    EXPECT_EQ(read_file(path), "good\n");
  }
  // A directory that does not exist.
  EXPECT_THROW(write_file_atomically((dir / "missing" / "reader.state").string(), "x"), SnapshotError);

  // The helper thread reports the failure and keeps the good file.
  fs::create_directory(path + ".tmp");
  {
    SnapshotWriter writer(path, "seg");
    writer.submit(json{{"x", 1}}, SnapshotClock{1, 2, "b"});
    writer.flush();
    EXPECT_EQ(writer.stats().failed, 1U);
    EXPECT_EQ(writer.stats().written, 0U);
    EXPECT_NE(writer.stats().last_error.find(".tmp"), std::string::npos) << writer.stats().last_error;
  }
  EXPECT_EQ(read_file(path), "good\n");
  fs::remove(path + ".tmp");
  {
    SnapshotWriter writer(path, "seg");
    writer.submit(json{{"x", 1}}, SnapshotClock{1, 2, "b"});
    writer.flush();
    EXPECT_EQ(writer.stats().written, 1U);
  }
  EXPECT_EQ(decode_snapshot(read_file(path), "seg").state, (json{{"x", 1}}));
  fs::remove_all(dir);
}

TEST(Snapshot, CorruptTruncatedForeignAndMismatchedFilesAreRefusedSetAsideAndTheReaderStartsClean) {
  Rig rig;
  Engine engine(ReaderConfig{}, rig.segment(), rig.at(0), 0);
  build_incident(rig, engine, 1);
  const std::string good = encode_snapshot(engine.save_state(), rig.segment_name(), SnapshotClock{rig.at(40 * kSecond), 5, "b"});
  ASSERT_NO_THROW((void)decode_snapshot(good, rig.segment_name()));

  std::string mismatched = good;
  const auto pos = mismatched.find("\"orders_sent\":5");
  ASSERT_NE(pos, std::string::npos);
  mismatched.replace(pos, 15, "\"orders_sent\":6");  // still valid JSON, different content
  std::string other_version = good;
  other_version.replace(other_version.find("\"version\":1"), 11, "\"version\":9");

  const struct {
    const char* what;
    std::string text;
    const char* reason;
  } cases[] = {
      {"corrupt", std::string("\x01\xffgarbage{{", 11), "not valid JSON"},
      {"truncated", good.substr(0, good.size() / 2), "not valid JSON"},
      {"empty", "", "not valid JSON"},
      {"foreign segment", encode_snapshot(engine.save_state(), "other-segment", SnapshotClock{1, 2, "b"}), "another segment"},
      {"other format", "{\"format\":\"something-else\"}", "not a telering-reader state file"},
      {"other version", other_version, "version not compatible: reader=1 file=9"},
      {"checksum mismatch", mismatched, "checksum mismatch"},
  };
  const fs::path dir = temp_dir();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    EXPECT_THROW((void)decode_snapshot(c.text, rig.segment_name()), SnapshotError);
    const std::string path = (dir / "reader.state").string();
    write_raw(path, c.text);
    const LoadedSnapshot loaded = load_snapshot_file(path, rig.segment_name(), 1'700'000'123LL * 1'000'000'000LL);
    EXPECT_FALSE(loaded.snapshot.has_value());
    EXPECT_FALSE(loaded.missing);
    EXPECT_NE(loaded.refused.find(c.reason), std::string::npos) << loaded.refused;
    EXPECT_EQ(loaded.moved_to, path + ".bad-1700000123");
    EXPECT_FALSE(fs::exists(path));
    EXPECT_EQ(read_file(loaded.moved_to), c.text);  // kept, not deleted
    fs::remove(loaded.moved_to);
  }

  // Through a ReaderLoop: a corrupt file, a clean start, the file set aside.
  const std::string path = (dir / "reader.state").string();
  write_raw(path, good.substr(0, 100));
  ReaderConfig config;
  config.state_file = path;
  ReaderOptions options;
  options.print = [](const std::string&) {};
  {
    ReaderLoop loop(rig.segment(), config, options);
    EXPECT_FALSE(loop.restored());
    EXPECT_NE(loop.restore_outcome().refused.find("not valid JSON"), std::string::npos);
    // Nothing from the file; what the board still held is taken over (reconcile_board).
    for (const BreakerView& b : loop.engine().breakers())
      EXPECT_EQ(b.last_transition->rule, BreakerRule::Takeover) << b.component;
    EXPECT_EQ(loop.engine().error_log().total_errors(), 0U);
    EXPECT_EQ(set_aside_files(dir, "reader.state").size(), 1U);
  }
  // Missing file: a first start, nothing refused.
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    ReaderLoop loop(rig.segment(), config, options);
    EXPECT_FALSE(loop.restored());
    EXPECT_TRUE(loop.restore_outcome().missing);
    EXPECT_TRUE(loop.restore_outcome().refused.empty());
  }
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------
// A reader that dies mid-incident

TEST(Snapshot, ReaderLoopKilledMidIncidentRestartsWithTheBreakerOpenAndGetsTheRecordsLeftInTheRings) {
  Rig rig;
  Writer& w = rig.w();
  const fs::path dir = temp_dir();
  ReaderConfig config = parse_config("[reader]\nsnapshot_interval = \"1s\"\n", "reader.toml");
  config.state_file = (dir / "reader.state").string();
  ReaderOptions options;
  options.print = [](const std::string&) {};

  const std::uint64_t start = monotonic_ns();
  auto loop = std::make_unique<ReaderLoop>(rig.segment(), config, options);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(w.call_outcome("market_scanner", false, 0.1), RecordResult::Recorded);
  w.error("api_rate_limit", Severity::Medium, "endpoint=/api/v1/market/orderbook");
  loop->turn(start + kSecond / 2);
  ASSERT_TRUE(w.breaker_open("market_scanner"));
  ASSERT_TRUE(w.in_backoff("api_rate_limit"));
  EXPECT_FALSE(fs::exists(config.state_file));  // not yet: the interval has not passed
  // The periodic snapshot (no clean shutdown will follow).
  loop->turn(start + 2 * kSecond);
  loop->snapshot_writer()->flush();
  ASSERT_EQ(loop->snapshot_writer()->stats().written, 1U);
  ASSERT_TRUE(fs::exists(config.state_file));

  // Records the dying reader never drains.
  for (int i = 0; i < 7; ++i) ASSERT_EQ(w.scan_time(12.5), RecordResult::Recorded);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(w.error("order_rejected", Severity::Low, "left in ring"), RecordResult::Recorded);
  // "Crash": no run(), so no final drain and no shutdown snapshot. Destroying the loop
  // releases the reader slot, as the next reader's liveness check would after a SIGKILL.
  loop.reset();

  ReaderLoop restarted(rig.segment(), config, options);
  ASSERT_TRUE(restarted.restored());
  // Writers see the breaker OPEN and the backoff before the new reader drained anything.
  EXPECT_TRUE(w.breaker_open("market_scanner"));
  EXPECT_TRUE(w.in_backoff("api_rate_limit"));
  const std::vector<BreakerView> breakers = restarted.engine().breakers();
  ASSERT_EQ(breakers.size(), 1U);
  EXPECT_EQ(breakers[0].metrics.state, BreakerState::Open);
  EXPECT_EQ(breakers[0].metrics.trips, 1U);
  EXPECT_EQ(restarted.engine().error_log().total_errors(), 1U);  // the rate limit, from the file

  restarted.drain_all(start + 3 * kSecond);
  EXPECT_EQ(restarted.drain_stats().delivered, 10U);  // every record left in the rings
  EXPECT_EQ(restarted.engine().host_monitor().scan_times().size(), 7U);
  EXPECT_EQ(restarted.engine().error_log().total_errors(), 4U);
  EXPECT_EQ(restarted.engine().error_log().find_type("order_rejected")->count, 3U);
  EXPECT_TRUE(w.breaker_open("market_scanner"));  // still inside its 60 s
  fs::remove_all(dir);
}

TEST(Snapshot, RunWritesTheStateAtCleanShutdown) {
  Rig rig;
  const fs::path dir = temp_dir();
  ReaderConfig config;
  config.state_file = (dir / "reader.state").string();
  ReaderOptions options;
  options.print = [](const std::string&) {};
  for (int i = 0; i < 10; ++i) rig.w().call_outcome("order_router", false, 0.1);
  {
    ReaderLoop loop(rig.segment(), config, options);
    std::atomic<bool> stop{true}, reload{false};
    loop.run(stop, reload, "");  // stops at once: the final drain takes the records
    EXPECT_EQ(loop.snapshot_writer()->stats().written, 1U);
  }
  const LoadedSnapshot loaded = load_snapshot_file(config.state_file, rig.segment_name(), 0);
  ASSERT_TRUE(loaded.snapshot.has_value());
  EXPECT_EQ(loaded.snapshot->state["breakers"][0]["component"], "order_router");
  EXPECT_EQ(loaded.snapshot->at.boot_id, read_boot_id());
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------
// Damage the state survives (issue 12 item 8)

// A reader that saved a state with a counter overflowed to +Inf, then restarts.
TEST(Snapshot, EveryNumberSavedIsFiniteSoAnOverflowedCounterDoesNotCostTheState) {
  Rig rig;
  Engine engine(ReaderConfig{}, rig.segment(), rig.at(0), 0);
  build_incident(rig, engine, 1);
  Feed feed{rig, engine};
  const NameId fills = rig.name(NameKind::Metric, "fills");
  for (int i = 0; i < 2; ++i)
    feed(rig.record(RecordKind::Counter, rig.w().bot_id(), fills, 1.7e308, rig.at(40 * kSecond)), rig.at(40 * kSecond));
  ASSERT_TRUE(std::isinf(engine.counters().at("fills")));
  const std::string text = encode_snapshot(engine.save_state(), rig.segment_name(), SnapshotClock{rig.at(40 * kSecond), 5, "b"});
  EXPECT_EQ(text.find("null"), std::string::npos) << "no number is written as null";
  const DecodedSnapshot decoded = decode_snapshot(text, rig.segment_name());
  Engine restored(ReaderConfig{}, rig.segment(), rig.at(41 * kSecond), 0);
  restored.restore_state(decoded.state, TimeShift{}, rig.at(41 * kSecond));
  EXPECT_EQ(restored.counters().at("fills"), std::numeric_limits<double>::max());
  EXPECT_EQ(restored.counters().at("orders_sent"), 5.0);
  EXPECT_EQ(restored.breakers().front().metrics.state, BreakerState::Open);
}

// A state file from before the fix (a null counter) or hand-edited: what is valid comes back.
TEST(Snapshot, AnUnreadablePartCostsOnlyItselfNotTheBreakersAndBackoffs) {
  Rig rig;
  Engine engine(ReaderConfig{}, rig.segment(), rig.at(0), 0);
  build_incident(rig, engine, 2);
  json state = engine.save_state();
  state["counters"]["orders_sent"] = nullptr;      // what +Inf used to be saved as
  state["bots"][1]["monitor"]["scan_times"] = "?";  // one bot's windows damaged
  state["host"] = 42;                               // a whole section damaged
  const fs::path dir = temp_dir();
  ReaderConfig config;
  config.state_file = (dir / "reader.state").string();
  write_raw(config.state_file, encode_snapshot(state, rig.segment_name(), SnapshotClock{rig.at(40 * kSecond), 0, read_boot_id()}));
  ReaderOptions options;
  options.print = [](const std::string&) {};
  ReaderLoop loop(rig.segment(), config, options);
  ASSERT_TRUE(loop.restored()) << loop.restore_outcome().refused;
  const Engine& e = loop.engine();
  EXPECT_EQ(e.counters().count("orders_sent"), 0U) << "the null counter alone is skipped";
  EXPECT_EQ(e.gauges().at("open_positions"), 7.0);
  EXPECT_EQ(e.bots().size(), 1U) << "the damaged bot alone is dropped";
  EXPECT_EQ(e.host_monitor().scan_times().size(), 0U) << "the damaged host section starts fresh";
  EXPECT_EQ(e.error_log().history_size(), 1000U);
  bool scanner_open = false;
  for (const BreakerView& b : e.breakers()) scanner_open |= b.component == "market_scanner" && b.metrics.state == BreakerState::Open;
  EXPECT_TRUE(scanner_open);
  EXPECT_TRUE(rig.w().in_backoff("api_rate_limit"));
  EXPECT_TRUE(set_aside_files(dir, "reader.state").empty()) << "nothing refused, nothing set aside";
  fs::remove_all(dir);
}

TEST(Snapshot, AStateFileOverTheCapIsRefusedUnread) {
  Rig rig;
  const fs::path dir = temp_dir();
  const std::string path = (dir / "reader.state").string();
  {
    std::ofstream out(path, std::ios::binary);
    const std::string block(1 << 20, ' ');
    for (std::size_t i = 0; i <= kMaxSnapshotFileBytes >> 20; ++i) out << block;
  }
  const LoadedSnapshot loaded = load_snapshot_file(path, rig.segment_name(), 1'700'000'000LL * 1'000'000'000LL);
  EXPECT_FALSE(loaded.snapshot.has_value());
  EXPECT_NE(loaded.refused.find("larger than the 32 MiB"), std::string::npos) << loaded.refused;
  EXPECT_EQ(loaded.moved_to, path + ".bad-1700000000");
  fs::remove_all(dir);
}

TEST(Snapshot, ADirectoryAsStatePathHasItsOwnMessageAndIsLeftWhereItIs) {
  Rig rig;
  const fs::path dir = temp_dir();
  const std::string path = (dir / "state-dir").string();
  fs::create_directories(path);
  const LoadedSnapshot loaded = load_snapshot_file(path, rig.segment_name(), 0);
  EXPECT_FALSE(loaded.missing);
  EXPECT_NE(loaded.refused.find("is a directory"), std::string::npos) << loaded.refused;
  EXPECT_TRUE(loaded.moved_to.empty());
  EXPECT_TRUE(fs::is_directory(path)) << "not renamed";
  // Writing into it fails: said once, without claiming a previous state is kept.
  test::LogCapture log;
  {
    SnapshotWriter writer(path, rig.segment_name());
    for (int i = 0; i < 3; ++i) {
      writer.submit(json::object(), SnapshotClock{1, 2, "b"});
      writer.flush();
    }
    EXPECT_EQ(writer.stats().failed, 3U);
  }
  EXPECT_EQ(log.count("not written"), 1U) << log.text();
  EXPECT_EQ(log.count("there is no previous one"), 1U) << log.text();
  EXPECT_EQ(log.count("the previous one is kept"), 0U);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace telering::reader
