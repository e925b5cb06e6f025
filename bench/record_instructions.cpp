// Instructions per record on the writer's hot path, for callgrind, which counts the same
// total for the same binary whatever else the machine is doing (wall-clock figures on these
// shared 2-core VMs drift by 2x). One thread, no consumer: the lane is deep enough that
// every call records. bench/compare_revisions.sh runs it twice (N and 6N calls) per revision
// and prints the difference per call, which leaves out attach and the first-record claim.
//
//   record_instructions <calls> [error]     scan_time(i), or error(id, High, 35-byte context)
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "telering/writer.hpp"

int main(int argc, char** argv) {
  using namespace telering;
  if (argc < 2) {
    std::fprintf(stderr, "usage: record_instructions <calls> [error]\n");
    return 2;
  }
  const long calls = std::atol(argv[1]);
  const bool error = argc > 2;
  WriterOptions o;
  o.segment = "telering-record-instructions-" + std::to_string(::getpid());
  o.bot = "record-instructions";
  o.sample_memory = false;
  o.geometry.lane_count = 2;
  o.geometry.lane_capacity = 1u << 20;  // more than the calls: none drops
  long recorded = 0;
  {
    Writer w = Writer::attach(o);
    const NameId type = w.name(NameKind::ErrorType, "order_rejected");
    for (long i = 0; i < calls; ++i) {
      const RecordResult r = error ? w.error(type, Severity::High, "order 12345 rejected: insufficient")
                                   : w.scan_time(static_cast<double>(i));
      recorded += r != RecordResult::Dropped;
    }
  }
  ::shm_unlink(("/" + o.segment).c_str());
  std::printf("%ld of %ld recorded\n", recorded, calls);
  return recorded == calls ? 0 : 1;
}
