// telering_hostile_names — bots whose names and contexts hold arbitrary bytes, for
// tests/promtool_scrape.sh (issue 12 item 2).
//
//   telering_hostile_names SEGMENT SEED
//
// Starts 4 bots, one thread each: one honest bot whose name of 2-byte characters is clipped
// at 52 bytes, and three whose names are random bytes (invalid UTF-8, control characters,
// quotes, backslashes). Each records scans, API calls, errors and warnings with contexts,
// call outcomes, counters and gauges under random-byte names, then exits 0 ("recorded N").
// SEED makes the bytes replayable.
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "telering/writer.hpp"

namespace {

std::string random_bytes(std::mt19937_64& rng, std::size_t min, std::size_t max) {
  std::string s(min + rng() % (max - min + 1), '\0');
  for (char& c : s) {
    c = static_cast<char>(rng());
    if (c == '\0') c = '\\';  // names stop at nothing, but keep them non-empty and visible
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: telering_hostile_names SEGMENT SEED\n");
    return 2;
  }
  const std::string segment = argv[1];
  const std::uint64_t seed = std::strtoull(argv[2], nullptr, 0);
  std::vector<std::thread> bots;
  std::vector<long> recorded(4, 0);
  for (int b = 0; b < 4; ++b) {
    bots.emplace_back([&, b] {
      std::mt19937_64 rng(seed + static_cast<std::uint64_t>(b));
      telering::WriterOptions o;
      o.segment = segment;
      o.sample_memory = false;
      if (b == 0) {
        for (int i = 0; i < 40; ++i) o.bot += "\xC3\xA9";  // "é" x 40: 52 bytes fall inside one
      } else {
        o.bot = random_bytes(rng, 1, 80);
      }
      telering::Writer w = telering::Writer::attach(o);
      for (int i = 0; i < 20; ++i) {
        const std::string name = b == 0 ? std::string("\xE2\x82\xAC") + std::string(50, 'x') : random_bytes(rng, 1, 70);
        const std::string context = random_bytes(rng, 0, 60);
        int ok = 0;
        ok += w.scan_time(1.0 + i) == telering::RecordResult::Recorded;
        ok += w.api_call(0.01 * i, name) == telering::RecordResult::Recorded;
        ok += w.error(name, telering::Severity::Medium, context, name) == telering::RecordResult::Recorded;
        ok += w.warning(name, context) == telering::RecordResult::Recorded;
        ok += w.call_outcome(name, i % 3 != 0, 0.1) == telering::RecordResult::Recorded;
        ok += w.counter(name, 1.0) == telering::RecordResult::Recorded;
        ok += w.gauge(name, i) == telering::RecordResult::Recorded;
        recorded[static_cast<std::size_t>(b)] += ok;
      }
    });
  }
  for (auto& t : bots) t.join();
  long total = 0;
  for (long n : recorded) total += n;
  std::printf("recorded %ld\n", total);
  return 0;
}
