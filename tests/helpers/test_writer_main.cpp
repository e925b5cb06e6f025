// telering_test_writer — a bot stand-in the cross-process tests fork and exec.
//
//   telering_test_writer --segment NAME --writer N --threads T --records M
//                        [--pause-after K] [--lanes L --capacity C --mpsc C]
//
// Attaches a telering::Writer (open-or-create, with the given geometry if it creates),
// bot name "w<N>", then T threads each record M Counter records (M = 0: until killed) whose
// value and context both carry the thread's sequence number (helpers/seq_payload.hpp).
// The sequence advances on every attempt, dropped or not, so a consumer can account for
// every record. Protocol on stdout, one line each, flushed:
//   ready created=<0|1> pid=<pid>      after attach
//   paused                             every thread recorded K (--pause-after); then it
//                                      waits for one line on stdin before going on
//   running                            (M = 0) every thread is in its recording loop
//   thread <i> <tid> <produced> <recorded> <shared> <dropped> <other>   at the end
//   done
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "seq_payload.hpp"
#include "telering/core/process_info.hpp"
#include "telering/writer.hpp"

namespace {

struct Args {
  std::string segment;
  std::uint32_t writer = 0;
  std::uint32_t threads = 2;
  std::uint64_t records = 1000;  // 0 = until killed
  std::uint64_t pause_after = 0; // 0 = no pause
  telering::SegmentGeometry geometry{};
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "telering_test_writer: %s\n", why);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string key = argv[i];
    if (i + 1 >= argc) usage(("missing value for " + key).c_str());
    const char* v = argv[++i];
    const auto num = std::strtoull(v, nullptr, 10);
    if (key == "--segment") a.segment = v;
    else if (key == "--writer") a.writer = static_cast<std::uint32_t>(num);
    else if (key == "--threads") a.threads = static_cast<std::uint32_t>(num);
    else if (key == "--records") a.records = num;
    else if (key == "--pause-after") a.pause_after = num;
    else if (key == "--lanes") a.geometry.lane_count = static_cast<std::uint32_t>(num);
    else if (key == "--capacity") a.geometry.lane_capacity = static_cast<std::uint32_t>(num);
    else if (key == "--mpsc") a.geometry.mpsc_capacity = static_cast<std::uint32_t>(num);
    else usage(("unknown option " + key).c_str());
  }
  if (a.segment.empty()) usage("--segment is required");
  if (a.threads == 0) usage("--threads must be >= 1");
  return a;
}

void say(const std::string& line) {
  std::cout << line << '\n' << std::flush;
}

struct ThreadCounts {
  std::uint32_t tid = 0;
  std::uint64_t produced = 0;
  std::uint64_t recorded = 0;
  std::uint64_t shared = 0;
  std::uint64_t dropped = 0;
  std::uint64_t other = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    // Small test geometries keep the name table small too.
    telering::SegmentGeometry g = args.geometry;
    if (g.lane_capacity <= 4096) {
      g.name_capacity = 256;
      g.report_bytes = 16 * 1024;
    }
    telering::WriterOptions options;
    options.segment = args.segment;
    options.bot = "w" + std::to_string(args.writer);
    options.geometry = g;
    options.sample_memory = false;
    telering::Writer writer = telering::Writer::attach(options);
    const telering::NameId metric = writer.metric("xproc.seq");
    if (metric == telering::kNoName) usage("cannot intern the metric name");
    say("ready created=" + std::to_string(writer.segment().created() ? 1 : 0) +
        " pid=" + std::to_string(telering::current_pid()));

    std::vector<ThreadCounts> counts(args.threads);
    std::latch phase1_done(args.threads);
    std::latch go(1);
    std::latch all_running(args.threads);
    std::vector<std::thread> threads;
    for (std::uint32_t t = 0; t < args.threads; ++t) {
      threads.emplace_back([&, t] {
        ThreadCounts& c = counts[t];
        c.tid = telering::current_tid();
        char context[telering::test::kSeqContextBuffer];
        bool announced = false;
        for (std::uint64_t seq = 0; args.records == 0 || seq < args.records; ++seq) {
          const std::size_t len = telering::test::format_seq_context(context, {args.writer, t, seq});
          const auto r = writer.record(telering::RecordKind::Counter, metric, static_cast<double>(seq),
                                       telering::Severity::None, telering::kNoName, 0, {context, len});
          ++c.produced;
          switch (r) {
            case telering::RecordResult::Recorded: ++c.recorded; break;
            case telering::RecordResult::RecordedShared: ++c.shared; break;
            case telering::RecordResult::Dropped: ++c.dropped; break;
            default: ++c.other; break;
          }
          if (args.records == 0 && !announced) {
            announced = true;
            all_running.count_down();
          }
          if (args.pause_after != 0 && seq + 1 == args.pause_after) {
            phase1_done.count_down();
            go.wait();
          }
        }
      });
    }
    if (args.records == 0) {
      all_running.wait();
      say("running");
      for (;;) ::pause();  // the test ends us with a signal
    }
    if (args.pause_after != 0 && args.pause_after < args.records) {
      phase1_done.wait();
      say("paused");
      std::string line;
      std::getline(std::cin, line);
    }
    go.count_down();
    for (auto& th : threads) th.join();
    for (std::uint32_t t = 0; t < args.threads; ++t) {
      const ThreadCounts& c = counts[t];
      say("thread " + std::to_string(t) + " " + std::to_string(c.tid) + " " + std::to_string(c.produced) + " " +
          std::to_string(c.recorded) + " " + std::to_string(c.shared) + " " + std::to_string(c.dropped) + " " +
          std::to_string(c.other));
    }
    say("done");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telering_test_writer: %s\n", e.what());
    return 1;
  }
}
