// telering_obs_writer — a deterministic bot stand-in for tests/prometheus_integration.sh.
//
//   telering_obs_writer --segment NAME --bot NAME --errors N --failures N --scans N
//
// Attaches a Writer and records exactly: N errors "api_connection" (HIGH), N failed call
// outcomes of component "market_scanner", N scan times of 20 s, and one memory sample of
// 900 MiB; then prints what it recorded as one line ("recorded errors=.. failures=.. scans=..
// dropped=..") and exits. The integration test compares Prometheus' view with that line.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "telering/writer.hpp"

int main(int argc, char** argv) {
  std::string segment, bot = "it-bot";
  long errors = 5, failures = 3, scans = 4;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i];
    const char* v = argv[i + 1];
    if (key == "--segment") segment = v;
    else if (key == "--bot") bot = v;
    else if (key == "--errors") errors = std::strtol(v, nullptr, 10);
    else if (key == "--failures") failures = std::strtol(v, nullptr, 10);
    else if (key == "--scans") scans = std::strtol(v, nullptr, 10);
    else {
      std::fprintf(stderr, "telering_obs_writer: unknown option %s\n", key.c_str());
      return 2;
    }
  }
  if (segment.empty()) {
    std::fprintf(stderr, "telering_obs_writer: --segment is required\n");
    return 2;
  }
  try {
    telering::WriterOptions o;
    o.segment = segment;
    o.bot = bot;
    o.sample_memory = false;
    telering::Writer w = telering::Writer::attach(o);
    long dropped = 0;
    const auto rec = [&](telering::RecordResult r) { dropped += r == telering::RecordResult::Dropped; };
    for (long i = 0; i < errors; ++i) rec(w.error("api_connection", telering::Severity::High, "connection refused"));
    for (long i = 0; i < failures; ++i) rec(w.call_outcome("market_scanner", false, 0.5));
    for (long i = 0; i < scans; ++i) rec(w.scan_time(20.0));
    rec(w.memory_bytes(900.0 * 1024 * 1024));
    std::printf("recorded errors=%ld failures=%ld scans=%ld dropped=%ld\n", errors, failures, scans, dropped);
    return dropped == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "telering_obs_writer: %s\n", e.what());
    return 1;
  }
}
