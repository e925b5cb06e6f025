// Records an error and a scan time through the installed C++ writer (telering::writer).
#include <cstdio>

#include "telering/retry.hpp"
#include "telering/writer.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s SEGMENT\n", argv[0]);
    return 2;
  }
  try {
    auto w = telering::Writer::attach({.segment = argv[1], .bot = "install-consumer-cpp", .sample_memory = false});
    const bool ok = w.error("install_check", telering::Severity::High, "from the installed package") ==
                        telering::RecordResult::Recorded &&
                    w.scan_time(12.5) == telering::RecordResult::Recorded;
    std::printf("cpp_consumer: recorded=%d\n", ok ? 1 : 0);
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cpp_consumer: %s\n", e.what());
    return 1;
  }
}
