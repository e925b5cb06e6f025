// Recording drained records and replaying them with other thresholds (telering-replay).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "state/record_log.hpp"
#include "state/replay.hpp"
#include "support/test_writer.hpp"
#include "support/unique_segment.hpp"
#include "telering/core/drain.hpp"
#include "telering/writer.hpp"

namespace telering::reader {
namespace {

struct Recording {
  test::UniqueSegment seg;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("telering-replay-test-" + std::to_string(::getpid()));
  Writer w = test::attach_test_writer(seg, 4096);
  Recording() { std::filesystem::create_directories(dir); }
  ~Recording() { std::filesystem::remove_all(dir); }

  // An incident: 12 failed calls of market_scanner among 4 good ones, a rate-limit error.
  void record_incident() {
    for (int i = 0; i < 4; ++i) w.call_outcome("market_scanner", true, 0.1);
    for (int i = 0; i < 12; ++i) w.call_outcome("market_scanner", false, 0.1);
    w.error("api_rate_limit", Severity::Medium, "429");
    w.scan_time(25.0);
  }

  std::string record_to_log(std::uint64_t max_bytes = 1 << 20) {
    const std::string path = (dir / "records.log").string();
    NameTable names(w.segment().names(), w.segment().geometry().name_capacity);
    RecordLogWriter log(path, max_bytes, 4, names, w.segment().geometry().name_capacity, w.segment().calibration());
    Drainer d(w.segment());
    for_each_record(d, [&](const Record& r, const RecordSource& s) { log.append(r, s.lane); });
    log.flush();
    return path;
  }
};

std::vector<std::string> rules(const ReplayResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.decisions) out.push_back(d.subject + " " + d.rule);
  return out;
}

bool contains(const std::vector<std::string>& seen, const std::string& rule) {
  return std::find(seen.begin(), seen.end(), rule) != seen.end();
}

// For failure messages: every decision of a replay, one a line.
std::string describe(const ReplayResult& r) {
  std::string out = std::to_string(r.decisions.size()) + " decisions:";
  for (const auto& d : r.decisions) out += "\n  " + std::to_string(d.now_ns) + " ns " + d.subject + ": " + d.what + " (" + d.rule + ")";
  return out;
}

TEST(Replay, ReproducesTheDecisionsOfTheIncident) {
  Recording rec;
  rec.record_incident();
  const std::string log = rec.record_to_log();
  const ReplayResult r = replay({log}, ReaderConfig{});
  EXPECT_EQ(r.records, 18U);
  const auto seen = rules(r);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "market_scanner failure_rate"), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), "api_rate_limit recovery:backoff"), seen.end());
  EXPECT_EQ(r.final_errors.total_errors, 1U);
  EXPECT_EQ(r.stats.records_by_kind[static_cast<int>(RecordKind::CallOutcome)], 16U);
}

TEST(Replay, ProbesRecordedWithAPermitCountAsTheProbesTheyWere) {
  Recording rec;
  for (int i = 0; i < 12; ++i) rec.w.call_outcome("market_scanner", false, 0.1);
  ::usleep(20'000);  // past the 10 ms wait below
  const NameId scanner = rec.w.component("market_scanner");
  for (int i = 0; i < 2; ++i) rec.w.call_outcome(scanner, true, 0.1);  // no permit: not probes
  for (int i = 0; i < 3; ++i) rec.w.record(RecordKind::CallOutcome, scanner, 0.1, Severity::None, kNoName, kFlagProbe);
  const std::string log = rec.record_to_log();
  ReaderConfig c;
  c.default_breaker.wait_duration_in_open = 0.01;
  const ReplayResult r = replay({log}, c);
  const auto seen = rules(r);
  EXPECT_NE(std::find(seen.begin(), seen.end(), "market_scanner probe_succeeded"), seen.end());
  EXPECT_EQ(r.stats.probe_outcomes_refused, 2U);
}

TEST(Replay, OtherThresholdsMakeOtherDecisions) {
  Recording rec;
  rec.record_incident();
  const std::string log = rec.record_to_log();
  const ReplayResult strict = replay({log}, ReaderConfig{});  // failure_rate_threshold 50 %
  const ReaderConfig tolerant_config = parse_config("[breakers.default]\nfailure_rate_threshold = 90\n", "tolerant.toml");
  const ReplayResult tolerant = replay({log}, tolerant_config);  // 12 of 16 failed = 75 % < 90 %
  ASSERT_EQ(strict.records, 18U);
  ASSERT_EQ(tolerant.records, 18U);
  const auto with_50 = rules(strict);
  const auto with_90 = rules(tolerant);
  EXPECT_TRUE(contains(with_50, "market_scanner failure_rate")) << describe(strict);
  EXPECT_FALSE(contains(with_90, "market_scanner failure_rate")) << describe(tolerant);
  for (const auto& d : tolerant.decisions) EXPECT_NE(d.subject, "market_scanner") << d.what;
  // The tolerant replay decided too: a breaker threshold does not change the rate-limit backoff.
  EXPECT_TRUE(contains(with_90, "api_rate_limit recovery:backoff")) << describe(tolerant);
  EXPECT_NE(with_50, with_90);
}

TEST(Replay, IsDeterministic) {
  Recording rec;
  rec.record_incident();
  const std::string log = rec.record_to_log();
  const ReplayResult a = replay({log}, ReaderConfig{});
  const ReplayResult b = replay({log}, ReaderConfig{});
  // Both decisions of the incident were made, so there is something to compare.
  EXPECT_TRUE(contains(rules(a), "market_scanner failure_rate")) << describe(a);
  EXPECT_TRUE(contains(rules(a), "api_rate_limit recovery:backoff")) << describe(a);
  ASSERT_EQ(a.decisions.size(), b.decisions.size()) << describe(a) << describe(b);
  for (std::size_t i = 0; i < a.decisions.size(); ++i) {
    SCOPED_TRACE("decision " + std::to_string(i));
    EXPECT_EQ(a.decisions[i].subject, b.decisions[i].subject);
    EXPECT_EQ(a.decisions[i].rule, b.decisions[i].rule);
    EXPECT_EQ(a.decisions[i].what, b.decisions[i].what);
    EXPECT_EQ(a.decisions[i].now_ns, b.decisions[i].now_ns);
    EXPECT_EQ(a.decisions[i].board_seq, b.decisions[i].board_seq);
  }
  EXPECT_EQ(a.duration_ns, b.duration_ns);
  EXPECT_EQ(a.final_errors.total_errors, b.final_errors.total_errors);
  EXPECT_EQ(a.final_health.overall_status, b.final_health.overall_status);
}

TEST(Replay, RotatedFilesReplayInOrderWithTheirNames) {
  Recording rec;
  for (int k = 0; k < 30; ++k) rec.record_incident();
  const std::string log = rec.record_to_log(8192);  // rotates every ~100 records
  std::vector<std::string> files;
  for (int k = 3; k >= 1; --k)
    if (std::filesystem::exists(log + "." + std::to_string(k))) files.push_back(log + "." + std::to_string(k));
  files.push_back(log);
  ASSERT_GE(files.size(), 3U);  // keep = 4 files: the oldest records fell off
  const ReplayResult r = replay(files, ReaderConfig{});
  EXPECT_GT(r.records, 0U);
  EXPECT_LT(r.records, 30U * 18U);
  EXPECT_EQ(r.stats.unknown_names, 0U);  // every file carries the names its records use
}

TEST(Replay, CorruptFileIsAClearError) {
  Recording rec;
  const std::string path = (rec.dir / "garbage.log").string();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  std::fputs("not a log", f);
  std::fclose(f);
  try {
    (void)replay({path}, ReaderConfig{});
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("not a telering record log"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace telering::reader
