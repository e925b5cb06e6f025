// bench/bench_snapshot.cpp — what the reader's state snapshot (reader.state) costs, the figure
// quoted in reader_loop.cpp and docs/benchmarks.md: the loop thread builds the JSON tree, the
// SnapshotWriter's thread dumps it and writes it atomically, and a restarting reader decodes
// and restores it.
//
// The state is a full one: 64 bots with full windows (120 scans, API calls and memory samples
// each), a 1000-entry error history, 100 breakers (one OPEN), a backoff, a SHUTDOWN request,
// counters, gauges and warnings: ~400 KB of JSON. Time in the engine is injected (records
// stamped at offsets from a start), so the state is the same on every run.
//
//   BM_Snapshot_SaveState       Engine::save_state (loop thread)
//   BM_Snapshot_Encode          encode_snapshot: dump + checksum (helper thread)
//   BM_Snapshot_WriteAtomically write PATH.tmp + fsync + rename + directory fsync (helper thread)
//   BM_Snapshot_DecodeRestore   decode_snapshot + a new Engine + restore_state (reader start)
//
// The write goes to TMPDIR (default /tmp): its fsync is that file system's.
// Segment: "telering-bench-snapshot-<pid>", removed at the end.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "bench_support.hpp"
#include "config/config.hpp"
#include "engine/engine.hpp"
#include "state/snapshot.hpp"
#include "telering/writer.hpp"

namespace telering::bench {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
constexpr int kBots = 64;
constexpr int kBreakers = 100;

// A segment, a writer for its names, and an engine holding the full state.
struct FullState {
  std::string segment_name = "telering-bench-snapshot-" + std::to_string(::getpid());
  std::filesystem::path dir = std::filesystem::temp_directory_path() / segment_name;
  std::unique_ptr<Writer> writer;
  std::unique_ptr<reader::Engine> engine;
  std::uint64_t t0 = 0;
  std::string text;  // one encoded snapshot, for the decode case

  FullState() {
    (void)Segment::remove(segment_name);
    std::filesystem::create_directories(dir);
    WriterOptions o;
    o.segment = segment_name;
    o.bot = "bot-0";
    o.geometry.lane_count = 4;
    o.geometry.lane_capacity = 256;
    o.geometry.mpsc_capacity = 64;
    o.geometry.name_capacity = 1024;
    o.geometry.report_bytes = 256 * 1024;
    o.sample_memory = false;
    writer = std::make_unique<Writer>(Writer::attach(o));
    t0 = monotonic_ns();
    engine = std::make_unique<reader::Engine>(
        reader::parse_config("[[strategies]]\nerror_type = \"fatal\"\naction = \"SHUTDOWN\"\n", "bench.toml"),
        writer->segment(), t0, 0);
    fill();
    text = reader::encode_snapshot(engine->save_state(), segment_name, clock());
  }
  ~FullState() {
    engine.reset();
    writer.reset();
    (void)Segment::remove(segment_name);
    std::filesystem::remove_all(dir);
  }

  [[nodiscard]] reader::SnapshotClock clock() const { return reader::SnapshotClock{t0 + 40 * kSecond, 0, "bench"}; }
  NameId name(NameKind kind, const std::string& text_) { return writer->names().intern(kind, text_); }

  // One record at t0 + at_ns, fed as the drainer would hand it over.
  void feed(RecordKind kind, NameId bot, NameId id, double value, std::uint64_t at_ns, Severity severity = Severity::None,
            std::uint8_t flags = 0, std::string_view context = {}) {
    Record r{};
    r.timestamp = writer->segment().calibration().to_ticks(t0 + at_ns);
    r.kind = kind;
    r.bot_id = bot;
    r.name_id = id;
    r.value = value;
    r.severity = severity;
    r.flags = flags;
    r.set_context(context);
    engine->on_record(r, RecordSource{}, t0 + at_ns);
  }

  void fill() {
    const NameId endpoints[2] = {name(NameKind::Endpoint, "orderbook"), name(NameKind::Endpoint, "positions")};
    for (int b = 0; b < kBots; ++b) {
      const NameId bot = b == 0 ? writer->bot_id() : name(NameKind::Bot, "bot-" + std::to_string(b));
      for (std::uint64_t i = 1; i <= 120; ++i) {  // every 100 ms for 12 s: windows full
        feed(RecordKind::ScanTime, bot, kNoName, 10.0 + static_cast<double>(i % 17), i * kSecond / 10);
        feed(RecordKind::ApiCall, bot, endpoints[i % 2], 0.05 * static_cast<double>(i % 9 + 1), i * kSecond / 10);
        feed(RecordKind::MemorySample, bot, kNoName, (200.0 + static_cast<double>(i)) * 1024 * 1024, i * kSecond / 10);
      }
    }
    const NameId bot = writer->bot_id();
    const NameId rejected = name(NameKind::ErrorType, "order_rejected");
    for (std::uint64_t i = 0; i < 1000; ++i)
      feed(RecordKind::Error, bot, rejected, 0.0, kSecond + i * 29 * kSecond / 1000, Severity::Low, 0, "e" + std::to_string(i));
    for (int c = 0; c < kBreakers; ++c) {  // the first trips at 20 s, the others stay CLOSED
      const NameId component = name(NameKind::Component, "component-" + std::to_string(c));
      for (int i = 0; i < 10; ++i)
        feed(RecordKind::CallOutcome, bot, component, 0.1, 20 * kSecond, Severity::None,
             c == 0 || i % 3 == 0 ? kFlagFailure : std::uint8_t{0});
    }
    feed(RecordKind::Error, bot, name(NameKind::ErrorType, "api_rate_limit"), 0.0, 35 * kSecond, Severity::Medium, 0,
         "endpoint=/api/v1/market/orderbook");
    feed(RecordKind::Error, bot, name(NameKind::ErrorType, "fatal"), 0.0, 39 * kSecond, Severity::Critical);
    feed(RecordKind::Counter, bot, name(NameKind::Metric, "orders_sent"), 5, 39 * kSecond);
    feed(RecordKind::Gauge, bot, name(NameKind::Metric, "open_positions"), 7, 39 * kSecond);
    feed(RecordKind::Warning, bot, name(NameKind::WarningType, "slow_fill"), 0, 39 * kSecond);
    engine->tick(t0 + 40 * kSecond);
  }
};

FullState* g_state = nullptr;

void BM_Snapshot_SaveState(benchmark::State& state) {
  for (auto _ : state) {
    nlohmann::json j = g_state->engine->save_state();
    benchmark::DoNotOptimize(j);
  }
}
BENCHMARK(BM_Snapshot_SaveState)->Unit(benchmark::kMillisecond)->Repetitions(5);

void BM_Snapshot_Encode(benchmark::State& state) {
  const nlohmann::json j = g_state->engine->save_state();
  for (auto _ : state) {
    std::string text = reader::encode_snapshot(j, g_state->segment_name, g_state->clock());
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(g_state->text.size());
}
BENCHMARK(BM_Snapshot_Encode)->Unit(benchmark::kMillisecond)->Repetitions(5);

void BM_Snapshot_WriteAtomically(benchmark::State& state) {
  const std::string path = (g_state->dir / "reader.state").string();
  for (auto _ : state) reader::write_file_atomically(path, g_state->text);
}
BENCHMARK(BM_Snapshot_WriteAtomically)->Unit(benchmark::kMillisecond)->Repetitions(5);

void BM_Snapshot_DecodeRestore(benchmark::State& state) {
  const std::uint64_t now = g_state->clock().mono_ns;
  for (auto _ : state) {
    reader::Engine restored(reader::ReaderConfig{}, g_state->writer->segment(), now, 0);
    restored.restore_state(reader::decode_snapshot(g_state->text, g_state->segment_name).state, reader::TimeShift{}, now);
    if (restored.bots().size() != kBots || restored.breakers().size() != kBreakers) state.SkipWithError("restore lost state");
  }
}
BENCHMARK(BM_Snapshot_DecodeRestore)->Unit(benchmark::kMillisecond)->Repetitions(5);

}  // namespace
}  // namespace telering::bench

int main(int argc, char** argv) {
  using namespace telering::bench;
  spdlog::set_level(spdlog::level::err);
  print_machine();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  FullState state;
  g_state = &state;
  std::printf("full state: %d bots, %zu breakers, %zu history entries, %zu bytes of snapshot\n", kBots,
              state.engine->breakers().size(), state.engine->error_log().history_size(), state.text.size());
  KeepingReporter reporter(benchmark::ConsoleReporter::OO_Tabular);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // The cases report in milliseconds (Unit(kMillisecond)), and so do the reporter's medians.
  const auto ms = [&](const char* name) { return reporter.median_ns(name); };
  std::printf("\nfull state snapshot (%zu bytes), medians: build %.2f ms (loop thread), encode %.2f ms + "
              "write/fsync/rename %.2f ms (helper thread), decode+restore %.2f ms\n",
              state.text.size(), ms("BM_Snapshot_SaveState"), ms("BM_Snapshot_Encode"), ms("BM_Snapshot_WriteAtomically"),
              ms("BM_Snapshot_DecodeRestore"));
  g_state = nullptr;
  benchmark::Shutdown();
  return 0;
}
