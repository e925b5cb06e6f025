// telering-reader's command line as an operator meets it (issue 12 items 9, 10, 11): a bad
// flag exits 2 and leaves nothing behind, a failed create removes its half-made segment,
// world-writable modes need an explicit flag, and command-line settings keep precedence over
// the config file across SIGHUP reloads. The real binary, started as a child process.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/shm_test_util.hpp"
#include "telering/core/segment.hpp"

#ifndef TELERING_READER_EXE
#error "TELERING_READER_EXE must name the telering-reader executable"
#endif

namespace telering::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The reader with its stderr (logs, errors) merged into the pipe we read.
std::unique_ptr<ChildProcess> reader(const std::vector<std::string>& args) {
  std::vector<std::string> a = {"-c", "exec \"$0\" \"$@\" 2>&1", TELERING_READER_EXE};
  a.insert(a.end(), args.begin(), args.end());
  return std::make_unique<ChildProcess>("/bin/sh", a);
}

// Runs the reader to its end (bounded) and returns its exit code and output.
struct Outcome {
  int code = -1;
  std::string output;
};
Outcome run_reader(const std::vector<std::string>& args) {
  auto r = reader(args);
  const bool ended = poll_until(20s, [&] { return !r->running(); }, [] { std::this_thread::sleep_for(5ms); });
  if (!ended) r->kill(SIGKILL);
  r->reap_blocking();
  Outcome o;
  for (const std::string& line : r->lines_with("")) o.output += line + "\n";
  o.code = ended && WIFEXITED(r->raw_status()) ? WEXITSTATUS(r->raw_status()) : -1;
  return o;
}

TEST(ReaderCli, ABadGroupExitsTwoAndLeavesNoSegment) {
  UniqueSegment shm;
  const Outcome o = run_reader({"--segment", shm.name(), "--once", "--mode", "0660", "--group", "telering-no-such-group"});
  EXPECT_EQ(o.code, 2) << o.output;
  EXPECT_NE(o.output.find("--group"), std::string::npos) << o.output;
  EXPECT_FALSE(fs::exists(shm.path())) << "nothing half-made survives a failed start";
  const Outcome next = run_reader({"--segment", shm.name(), "--once"});
  EXPECT_EQ(next.code, 0) << "a later start is not blocked: " << next.output;
}

TEST(ReaderCli, AFailedCreateRemovesTheHalfMadeSegment) {
  UniqueSegment shm;
  SegmentOptions o = create_options(shm.name(), small_test_geometry(2, 64));
  o.mode = 0660;
  o.group = "telering-no-such-group";
  EXPECT_THROW((void)Segment::open(o), SegmentError);
  EXPECT_FALSE(fs::exists(shm.path())) << "a 0-byte object would make every later open fail";
}

TEST(ReaderCli, WorldWritableModesNeedAnExplicitFlag) {
  UniqueSegment shm;
  const Outcome refused = run_reader({"--segment", shm.name(), "--once", "--mode", "0666"});
  EXPECT_EQ(refused.code, 2) << refused.output;
  EXPECT_NE(refused.output.find("--allow-world-writable"), std::string::npos) << refused.output;
  EXPECT_FALSE(fs::exists(shm.path()));
  const Outcome allowed = run_reader({"--segment", shm.name(), "--once", "--mode", "0666", "--allow-world-writable"});
  EXPECT_EQ(allowed.code, 0) << allowed.output;
  struct stat st {};
  ASSERT_EQ(::stat(shm.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666U);
}

TEST(ReaderCli, BadFlagsExitTwo) {
  UniqueSegment shm;
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--lanes", "0"}, {"--lane-capacity", "100"}, {"--mode", "9"}, {"--report-interval", "soon"}, {"--no-such-flag"}}) {
    std::vector<std::string> all = {"--segment", shm.name(), "--once"};
    all.insert(all.end(), args.begin(), args.end());
    const Outcome o = run_reader(all);
    EXPECT_EQ(o.code, 2) << args[0] << ": " << o.output;
    EXPECT_FALSE(fs::exists(shm.path())) << args[0];
  }
}

// --report-interval 300ms over a config file: a SIGHUP re-reads the file, and the interval
// must stay 300 ms, not fall back to the file's (here: the default 15 min).
TEST(ReaderCli, CommandLineSettingsSurviveASighupReload) {
  UniqueSegment shm;
  const fs::path config = fs::temp_directory_path() / ("telering-cli-" + shm.name() + ".toml");
  std::ofstream(config) << "[reader]\npublish_interval = \"100ms\"\n";
  auto r = reader({"--segment", shm.name(), "--config", config.string(), "--report-interval", "300ms", "--json"});
  const auto reports = [&] {
    r->pump();
    return r->lines_with("{").size();
  };
  ASSERT_TRUE(poll_until(15s, [&] { return reports() >= 2 || !r->running(); }, [] { std::this_thread::sleep_for(10ms); }))
      << "no periodic reports before the reload";
  const auto logged = [&](std::string_view needle) {
    r->pump();
    for (const std::string& l : r->lines_with(""))
      if (l.find(needle) != std::string::npos) return true;
    return false;
  };
  r->kill(SIGHUP);
  ASSERT_TRUE(poll_until(15s, [&] { return logged("reloaded config") || !r->running(); }, [] { std::this_thread::sleep_for(10ms); }))
      << "the reload was not logged";
  const std::size_t before = reports();
  // At 300 ms, three more reports take about a second; 15 min would give none.
  EXPECT_TRUE(poll_until(20s, [&] { return reports() >= before + 3 || !r->running(); }, [] { std::this_thread::sleep_for(10ms); }))
      << "the report interval was lost on reload: " << reports() - before << " report(s) after it";
  r->kill(SIGTERM);
  EXPECT_TRUE(poll_until(10s, [&] { return !r->running(); }, [] { std::this_thread::sleep_for(5ms); }));
  fs::remove(config);
}

}  // namespace
}  // namespace telering::test
