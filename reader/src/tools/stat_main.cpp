// telering-stat: a live view of a telering segment read straight from shared memory, like
// Aeron's AeronStat. It maps the segment read-only (a store would fault), so it never
// disturbs the writers or the reader and works with no reader running. The one exception
// is --remove, which unlinks the segment's name (never writes into it).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>

#include "config/config.hpp"
#include "evaluate/health_report_format.hpp"
#include "loop/stop_signals.hpp"
#include "telering/core/process_info.hpp"
#include "telering/core/segment.hpp"
#include "tools/command_line.hpp"
#include "tools/segment_stats.hpp"

namespace {

int fail(const std::string& message, int code) {
  std::fprintf(stderr, "telering-stat: %s\n", message.c_str());
  return code;
}

// Sleeps up to `d`, waking early on SIGINT/SIGTERM. False when asked to stop.
bool sleep_unless_stopped(std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (!telering::reader::stop_signals().stop.load(std::memory_order_relaxed)) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return true;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(50)));
  }
  return false;
}

std::string shm_path(const std::string& name) { return "/dev/shm/" + name; }

bool shm_exists(const std::string& name) {
  std::error_code ec;
  return std::filesystem::exists(shm_path(name), ec);
}

// Pids (other than ours) that have /dev/shm/NAME mapped, from /proc/<pid>/maps. Finds
// every attached process — a writer using only the shared lane, an older build — where the
// header only knows the reader and the lane owners. Processes whose maps we may not read
// (other users) are not seen.
std::set<std::uint32_t> pids_mapping(const std::string& name) {
  std::set<std::uint32_t> pids;
  const std::string path = shm_path(name);
  const std::uint32_t me = telering::current_pid();
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string pid_text = it->path().filename().string();
    std::uint32_t pid = 0;
    const auto [ptr, err] = std::from_chars(pid_text.data(), pid_text.data() + pid_text.size(), pid);
    if (err != std::errc() || ptr != pid_text.data() + pid_text.size() || pid == me) continue;
    std::ifstream maps(it->path() / "maps");
    for (std::string line; std::getline(maps, line);) {
      const auto at = line.find(path);
      if (at == std::string::npos) continue;
      const std::string rest = line.substr(at + path.size());
      if (rest.empty() || rest == " (deleted)") {
        pids.insert(pid);
        break;
      }
    }
  }
  return pids;
}

std::string join(const std::set<std::uint32_t>& pids) {
  std::string s;
  for (std::uint32_t p : pids) s += (s.empty() ? "" : ", ") + std::to_string(p);
  return s;
}

int remove_segment(const std::string& name, bool force) {
  if (!shm_exists(name)) return fail("segment '" + name + "' does not exist (nothing to remove)", 1);
  std::string who;
  std::set<std::uint32_t> known;
  try {
    telering::SegmentOptions so;
    so.name = name;
    so.read_only = true;
    so.prefault = false;
    so.ready_timeout = std::chrono::milliseconds(200);
    const telering::Segment seg = telering::Segment::open(so);
    const telering::reader::SegmentStats s = telering::reader::take_segment_stats(seg);
    if (s.reader == telering::reader::ReaderState::Alive || s.reader == telering::reader::ReaderState::Stalled) {
      who += "a live telering-reader (pid " + std::to_string(s.reader_pid) + ")";
      known.insert(s.reader_pid);
    }
    std::set<std::uint32_t> owners;
    for (const auto& l : s.lanes)
      if (l.owner == telering::reader::OwnerState::Alive || l.owner == telering::reader::OwnerState::ThreadGone) owners.insert(l.owner_pid);
    if (!owners.empty()) {
      who += std::string(who.empty() ? "" : "; ") + "live lane owners (pid " + join(owners) + ")";
      known.insert(owners.begin(), owners.end());
    }
  } catch (const telering::SegmentError& e) {
    // Incompatible or half-initialised: its header cannot be trusted; /proc still tells.
    std::fprintf(stderr, "telering-stat: note: %s\n", e.what());
  }
  std::set<std::uint32_t> others;
  for (std::uint32_t p : pids_mapping(name))
    if (!known.count(p)) others.insert(p);
  if (!others.empty()) who += std::string(who.empty() ? "" : "; ") + "other processes mapping it (pid " + join(others) + ")";

  if (!who.empty() && !force)
    return fail("refusing to remove segment '" + name + "': attached: " + who + ". Stop them first, or pass --force", 1);
  if (!telering::Segment::remove(name))
    return fail("could not remove segment '" + name + "' (" + shm_path(name) + "): permission denied or already gone", 1);
  std::printf("removed segment '%s' (%s)\n", name.c_str(), shm_path(name).c_str());
  if (!who.empty())
    std::printf("forced: still attached: %s; they keep their mapping until they exit, and the next process to open '%s' creates a new segment\n",
                who.c_str(), name.c_str());
  return 0;
}

void print(const telering::reader::SegmentStats& s, bool json, bool clear_screen) {
  std::string out;
  if (json) {
    out = telering::reader::to_json_text(telering::reader::to_json(s));
    out += '\n';
  } else {
    if (clear_screen) out = "\x1b[H\x1b[2J";
    out += telering::reader::format_table(s);
    if (!shm_exists(s.name)) out += "\n(the segment's name has been removed from /dev/shm: showing the last mapping)\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"telering-stat: a live view of a telering segment (lanes, drops, decision board, reader heartbeat)\n"
               "read straight from shared memory. Read-only: works with no reader running and never writes."};
  app.set_version_flag("--version", std::string("telering-stat ") + TELERING_VERSION);
  std::string segment = "telering";
  std::string interval_text = "1s";
  bool once = false;
  bool json = false;
  bool remove = false;
  bool force = false;
  app.add_option("--segment", segment, "shared-memory segment name (/dev/shm/NAME)")->capture_default_str();
  app.add_flag("--once", once, "print one snapshot (rates from two samples 200 ms apart) and exit");
  app.add_flag("--json", json, "print one JSON object per snapshot, one per line");
  app.add_option("--interval", interval_text, "refresh interval, e.g. 1s, 500ms")->capture_default_str();
  auto* remove_flag = app.add_flag("--remove", remove,
                                   "remove the segment's name (shm_unlink); refuses while a live reader or writer is attached");
  app.add_flag("--force", force, "with --remove: remove even if processes are attached")->needs(remove_flag);
  if (const auto done = telering::reader::parse_command_line(app, argc, argv, "telering-stat")) return *done;

  std::chrono::milliseconds interval{};
  try {
    interval = telering::reader::parse_duration(interval_text);
  } catch (const std::invalid_argument& e) {
    return fail(std::string("--interval: ") + e.what(), 2);
  }
  if (interval.count() < 10) return fail("--interval: '" + interval_text + "' must be at least 10ms", 2);

  try {
    if (remove) return remove_segment(segment, force);

    telering::SegmentOptions so;
    so.name = segment;
    so.read_only = true;  // a read-only mapping: any store into the segment would fault
    so.prefault = false;  // no need to touch every page of a segment we only glance at
    const telering::Segment seg = telering::Segment::open(so);
    (void)telering::reader::install_stop_signals(/*with_reload=*/false);

    telering::reader::SegmentStats previous = telering::reader::take_segment_stats(seg);
    if (once) {
      if (!sleep_unless_stopped(std::chrono::milliseconds(200))) return 0;
      telering::reader::SegmentStats current = telering::reader::take_segment_stats(seg);
      telering::reader::compute_rates(current, previous);
      print(current, json, false);
      return 0;
    }
    const bool tty = ::isatty(STDOUT_FILENO) == 1;
    print(previous, json, tty);
    while (sleep_unless_stopped(interval)) {
      telering::reader::SegmentStats current = telering::reader::take_segment_stats(seg);
      telering::reader::compute_rates(current, previous);
      print(current, json, tty);
      previous = std::move(current);
    }
    return 0;
  } catch (const telering::SegmentError& e) {
    if (!shm_exists(segment))
      return fail("segment '" + segment + "' does not exist; start one with `telering-reader --segment " + segment +
                      "` (or attach a writer to it)",
                  1);
    return fail(e.what(), 1);
  } catch (const std::exception& e) {
    return fail(e.what(), 1);
  }
}
