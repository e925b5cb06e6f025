#include "telering/core/segment.hpp"

#include <sys/mman.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstring>
#include <new>
#include <thread>

#include "telering/core/process_info.hpp"

namespace bip = boost::interprocess;

namespace telering {

struct Segment::Mapping {
  bip::shared_memory_object shm;
  bip::mapped_region region;
};

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

template <typename T>
std::string mismatch(const char* what, T segment_value, T build_value) {
  return std::string(what) + ": segment=" + std::to_string(segment_value) + " this build=" + std::to_string(build_value);
}

void initialise(std::byte* base, const SegmentGeometry& g, const SectionOffsets& o) {
  // The mapping is freshly truncated, so all bytes are zero: zero is the initial value of
  // every counter, position and state. Atomics still need their lifetime started.
  auto* h = new (base) SegmentHeader{};
  SegmentIdentity& id = h->identity;
  id.magic = kSegmentMagic;
  id.layout_version = kLayoutVersion;
  id.record_size = kRecordSize;
  id.geometry = g;
  id.creator_pid = current_pid();
  id.offsets = o;
  id.calibration = calibrate_ticks();
  id.created_wall_ns = wall_ns();
  id.created_mono_ns = monotonic_ns();
  for (std::uint32_t i = 0; i < g.lane_count; ++i) new (base + o.lanes + o.lane_stride * i) LaneControl{};
  new (base + o.mpsc) MpscControl{};
  auto* slots = reinterpret_cast<MpscSlot*>(base + o.mpsc + sizeof(MpscControl));
  for (std::uint32_t i = 0; i < g.mpsc_capacity; ++i) new (&slots[i]) MpscSlot{i, 0, 0, 0, 0};
  auto* names = reinterpret_cast<NameEntry*>(base + o.names);
  for (std::uint32_t i = 0; i < g.name_capacity; ++i) new (&names[i]) NameEntry{};
  new (base + o.board) BoardHeader{};
  auto* entries = reinterpret_cast<BoardEntry*>(base + o.board + sizeof(BoardHeader));
  for (std::uint32_t i = 0; i < g.name_capacity; ++i) new (&entries[i]) BoardEntry{};
  new (base + o.report) ReportPageHeader{};
  new (base + o.fleet) FleetHeader{};
  auto* buckets = reinterpret_cast<RateBucket*>(base + o.fleet + sizeof(FleetHeader));
  for (std::uint32_t i = 0; i < kRateBuckets; ++i) new (&buckets[i]) RateBucket{};
  auto* probes = reinterpret_cast<ProbeSlot*>(buckets + kRateBuckets);
  for (std::uint32_t i = 0; i < kProbeSlots; ++i) new (&probes[i]) ProbeSlot{};
  // Publishes everything above (pairs with the acquire load in Segment::open's attach path).
  h->ready.store(kReadyWord, std::memory_order_release);
}

}  // namespace

std::string validate_geometry(const SegmentGeometry& g) {
  if (g.lane_count == 0 || g.lane_count > 4096) return "lane count must be 1..4096, got " + std::to_string(g.lane_count);
  if (!is_power_of_two(g.lane_capacity) || g.lane_capacity < 2 || g.lane_capacity > (1U << 24))
    return "lane capacity must be a power of two in 2..16777216, got " + std::to_string(g.lane_capacity);
  if (!is_power_of_two(g.mpsc_capacity) || g.mpsc_capacity < 2 || g.mpsc_capacity > (1U << 24))
    return "shared lane capacity must be a power of two in 2..16777216, got " + std::to_string(g.mpsc_capacity);
  if (!is_power_of_two(g.name_capacity) || g.name_capacity < 16 || g.name_capacity > 65536)
    return "name capacity must be a power of two in 16..65536, got " + std::to_string(g.name_capacity);
  if (g.report_bytes % 8 != 0 || g.report_bytes < 4096 || g.report_bytes > (64U << 20))
    return "report page size must be a multiple of 8 in 4096..67108864, got " + std::to_string(g.report_bytes);
  return {};
}

std::string validate_identity(const SegmentIdentity& h, std::size_t mapped_size) {
  if (h.magic != kSegmentMagic) return "not a telering segment (bad magic)";
  if (h.layout_version != kLayoutVersion) return mismatch("layout version", h.layout_version, kLayoutVersion);
  if (h.record_size != kRecordSize) return mismatch("record size", h.record_size, static_cast<std::uint32_t>(kRecordSize));
  if (std::string why = validate_geometry(h.geometry); !why.empty()) return "corrupt geometry: " + why;
  const SectionOffsets expected = compute_layout(h.geometry);
  if (std::memcmp(&expected, &h.offsets, sizeof expected) != 0) return "corrupt header: section offsets do not match its geometry";
  if (expected.total != mapped_size)
    return mismatch("segment size", static_cast<std::uint64_t>(mapped_size), expected.total);
  if (!(h.calibration.ns_per_tick > 0.0 && h.calibration.ns_per_tick < 1e6)) return "corrupt header: tick calibration";
  return {};
}

Segment Segment::open(const SegmentOptions& options) {
  if (options.name.empty() || options.name.size() > 200 || options.name.find('/') != std::string::npos)
    throw SegmentError("segment name " + quoted(options.name) + " must be 1..200 characters without '/'");
  const bool want_create = options.create && !options.read_only;
  if (want_create) {
    if (std::string why = validate_geometry(options.geometry); !why.empty())
      throw SegmentError("segment " + quoted(options.name) + ": " + why);
  }

  Segment seg;
  seg.name_ = options.name;
  seg.mapping_ = std::make_unique<Mapping>();
  const bip::mode_t access = options.read_only ? bip::read_only : bip::read_write;
  const bip::map_options_t map_flags = options.prefault ? MAP_POPULATE : bip::default_map_options;

  if (want_create) {
    try {
      bip::permissions perm;
      perm.set_permissions(options.mode);
      seg.mapping_->shm = bip::shared_memory_object(bip::create_only, options.name.c_str(), bip::read_write, perm);
      seg.created_ = true;
    } catch (const bip::interprocess_exception& e) {
      if (e.get_error_code() != bip::already_exists_error)
        throw SegmentError("cannot create segment " + quoted(options.name) + ": " + e.what());
    }
  }

  if (seg.created_) {
    try {
      const int fd = seg.mapping_->shm.get_mapping_handle().handle;
      if (!options.group.empty()) {
        const ::group* gr = ::getgrnam(options.group.c_str());
        if (!gr) throw SegmentError("segment " + quoted(options.name) + ": unknown group " + quoted(options.group));
        if (::fchown(fd, static_cast<uid_t>(-1), gr->gr_gid) != 0)
          throw SegmentError("segment " + quoted(options.name) + ": cannot give it to group " + quoted(options.group) + ": " +
                             std::strerror(errno));
      }
      // shm_open applies the umask; set the mode we were asked for explicitly.
      if (::fchmod(fd, static_cast<mode_t>(options.mode)) != 0)
        throw SegmentError("segment " + quoted(options.name) + ": cannot set mode: " + std::strerror(errno));
      const SectionOffsets o = compute_layout(options.geometry);
      seg.mapping_->shm.truncate(static_cast<bip::offset_t>(o.total));
      seg.mapping_->region = bip::mapped_region(seg.mapping_->shm, bip::read_write, 0, o.total, nullptr, map_flags);
      seg.base_ = static_cast<std::byte*>(seg.mapping_->region.get_address());
      seg.size_ = o.total;
      seg.offsets_ = o;
      initialise(seg.base_, options.geometry, o);
      std::memcpy(&seg.identity_, &seg.header().identity, sizeof seg.identity_);
      return seg;
    } catch (const bip::interprocess_exception& e) {
      bip::shared_memory_object::remove(options.name.c_str());
      throw SegmentError("cannot initialise segment " + quoted(options.name) + ": " + e.what());
    } catch (...) {
      // Whatever failed (a group, the mode), nothing half-made may stay: an uninitialised
      // object makes every later start and every bot fail with "exists but was not initialised".
      bip::shared_memory_object::remove(options.name.c_str());
      throw;
    }
  }

  try {
    seg.mapping_->shm = bip::shared_memory_object(bip::open_only, options.name.c_str(), access);
  } catch (const bip::interprocess_exception& e) {
    if (e.get_error_code() == bip::not_found_error)
      throw SegmentError("segment " + quoted(options.name) + " does not exist (start telering-reader or a writer first)");
    if (e.get_error_code() == bip::security_error)
      throw SegmentError("segment " + quoted(options.name) + ": permission denied (it belongs to another user or its mode forbids you)");
    throw SegmentError("cannot open segment " + quoted(options.name) + ": " + e.what());
  }

  // Shared memory of another user is input we did not create: refuse it unless told to
  // trust its owner (a bot account shared through a group, say).
  if (!options.trust_other_owner) {
    struct stat st {};
    if (::fstat(seg.mapping_->shm.get_mapping_handle().handle, &st) == 0 && st.st_uid != ::geteuid())
      throw SegmentError("segment " + quoted(options.name) + " is owned by uid " + std::to_string(st.st_uid) +
                         ", not by this user (uid " + std::to_string(::geteuid()) +
                         "): refusing to attach (pass --trust-segment-owner / trust_other_owner if that is intended)");
  }

  // A concurrent creator may not have sized or published the segment yet: wait, bounded.
  const auto deadline = std::chrono::steady_clock::now() + options.ready_timeout;
  for (;;) {
    bip::offset_t size = 0;
    if (!seg.mapping_->shm.get_size(size)) size = 0;
    if (static_cast<std::size_t>(size) >= kHeaderBytes) {
      if (!seg.mapping_->region.get_address() || seg.mapping_->region.get_size() != static_cast<std::size_t>(size)) {
        seg.mapping_->region = bip::mapped_region(seg.mapping_->shm, access, 0, static_cast<std::size_t>(size), nullptr, map_flags);
      }
      auto* h = static_cast<SegmentHeader*>(seg.mapping_->region.get_address());
      // Pairs with the creator's release store in initialise().
      if (h->ready.load(std::memory_order_acquire) == kReadyWord) {
        seg.base_ = static_cast<std::byte*>(seg.mapping_->region.get_address());
        seg.size_ = static_cast<std::size_t>(size);
        // Validate a private copy and keep using it: what is checked is what is used.
        std::memcpy(&seg.identity_, &h->identity, sizeof seg.identity_);
        if (std::string why = validate_identity(seg.identity_, seg.size_); !why.empty())
          throw SegmentError("segment " + quoted(options.name) + " is not compatible: " + why +
                             " (remove it with telering-stat --remove or rm /dev/shm/" + options.name +
                             " once no process uses it)");
        seg.offsets_ = seg.identity_.offsets;
        return seg;
      }
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw SegmentError("segment " + quoted(options.name) + " exists but was not initialised within " +
                         std::to_string(options.ready_timeout.count()) +
                         " ms (its creator may have died): remove /dev/shm/" + options.name + " once no process uses it");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string Segment::identity_changed() const {
  SegmentIdentity live;
  std::memcpy(&live, &header().identity, sizeof live);
  if (std::memcmp(&live, &identity_, sizeof live) == 0) return {};
  const auto differs = [](const char* what, auto now, auto then) {
    return std::string(what) + ": segment=" + std::to_string(now) + " attached=" + std::to_string(then);
  };
  const SegmentGeometry& g = live.geometry;
  const SegmentGeometry& a = identity_.geometry;
  if (live.magic != identity_.magic) return differs("magic", live.magic, identity_.magic);
  if (live.layout_version != identity_.layout_version) return differs("layout_version", live.layout_version, identity_.layout_version);
  if (live.record_size != identity_.record_size) return differs("record_size", live.record_size, identity_.record_size);
  if (g.lane_count != a.lane_count) return differs("lane_count", g.lane_count, a.lane_count);
  if (g.lane_capacity != a.lane_capacity) return differs("lane_capacity", g.lane_capacity, a.lane_capacity);
  if (g.mpsc_capacity != a.mpsc_capacity) return differs("mpsc_capacity", g.mpsc_capacity, a.mpsc_capacity);
  if (g.name_capacity != a.name_capacity) return differs("name_capacity", g.name_capacity, a.name_capacity);
  if (g.report_bytes != a.report_bytes) return differs("report_bytes", g.report_bytes, a.report_bytes);
  if (std::memcmp(&live.offsets, &identity_.offsets, sizeof live.offsets) != 0) return "section offsets";
  if (std::memcmp(&live.calibration, &identity_.calibration, sizeof live.calibration) != 0) return "tick calibration";
  return "creator or creation time";
}

void Segment::restore_identity() const noexcept { std::memcpy(&header().identity, &identity_, sizeof identity_); }

std::size_t Segment::object_size() const noexcept {
  struct stat st {};
  if (native_handle() < 0 || ::fstat(native_handle(), &st) != 0) return 0;
  return static_cast<std::size_t>(st.st_size);
}

bool Segment::replaced() const noexcept {
  struct stat mine {};
  struct stat named {};
  if (native_handle() < 0 || ::fstat(native_handle(), &mine) != 0) return false;
  if (::stat(("/dev/shm/" + name_).c_str(), &named) != 0) return false;  // removed, not replaced
  return named.st_ino != mine.st_ino || named.st_dev != mine.st_dev;
}

int Segment::native_handle() const noexcept { return mapping_ ? mapping_->shm.get_mapping_handle().handle : -1; }

bool Segment::remove(const std::string& name) noexcept {
  try {
    return bip::shared_memory_object::remove(name.c_str());
  } catch (...) {
    return false;
  }
}

Segment::Segment(Segment&&) noexcept = default;
Segment& Segment::operator=(Segment&&) noexcept = default;
Segment::~Segment() = default;

}  // namespace telering
