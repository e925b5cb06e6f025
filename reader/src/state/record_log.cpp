#include "state/record_log.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace telering::reader {

namespace {

constexpr std::uint8_t kTagRecord = 1;
constexpr std::uint8_t kTagName = 2;

struct FileCloser {
  std::FILE* f;
  ~FileCloser() {
    if (f) std::fclose(f);
  }
};

}  // namespace

RecordLogWriter::RecordLogWriter(std::string path, std::uint64_t max_bytes, std::uint32_t keep_files, const NameTable& names,
                                 std::uint32_t name_capacity, const TickCalibration& calibration)
    : path_(std::move(path)),
      max_bytes_(max_bytes < 4096 ? 4096 : max_bytes),
      keep_files_(keep_files == 0 ? 1 : keep_files),
      names_(&names),
      name_capacity_(name_capacity),
      calibration_(calibration),
      written_names_(name_capacity, false) {
  open_fresh();
}

RecordLogWriter::~RecordLogWriter() {
  if (file_) std::fclose(file_);
}

void RecordLogWriter::open_fresh() {
  file_ = std::fopen(path_.c_str(), "wbe");
  if (!file_) throw std::runtime_error("cannot write record log " + path_ + ": " + std::strerror(errno));
  const std::uint32_t reserved = 0;
  std::fwrite(kRecordLogMagic, 1, sizeof kRecordLogMagic, file_);
  std::fwrite(&name_capacity_, sizeof name_capacity_, 1, file_);
  std::fwrite(&reserved, sizeof reserved, 1, file_);
  std::fwrite(&calibration_, sizeof calibration_, 1, file_);
  const std::int64_t wall_offset = wall_ns() - static_cast<std::int64_t>(monotonic_ns());
  std::fwrite(&wall_offset, sizeof wall_offset, 1, file_);
  bytes_ = sizeof kRecordLogMagic + 8 + sizeof calibration_ + sizeof wall_offset;
  std::fill(written_names_.begin(), written_names_.end(), false);
}

void RecordLogWriter::rotate() {
  std::fclose(file_);
  file_ = nullptr;
  // PATH.<keep-1> falls off; PATH.k -> PATH.k+1; PATH -> PATH.1.
  for (std::uint32_t k = keep_files_ - 1; k >= 1; --k) {
    const std::string from = k == 1 ? path_ : path_ + "." + std::to_string(k - 1);
    const std::string to = path_ + "." + std::to_string(k);
    std::rename(from.c_str(), to.c_str());
  }
  ++rotations_;
  open_fresh();
}

void RecordLogWriter::note_name(NameId id) {
  if (id == kNoName || id >= name_capacity_ || written_names_[id]) return;
  NameTable::Name n;
  if (!names_->read(id, n)) return;
  const std::uint8_t tag = kTagName;
  const auto kind = static_cast<std::uint8_t>(n.kind);
  const auto length = static_cast<std::uint8_t>(n.text.size());
  std::fwrite(&tag, 1, 1, file_);
  std::fwrite(&id, sizeof id, 1, file_);
  std::fwrite(&kind, 1, 1, file_);
  std::fwrite(&length, 1, 1, file_);
  std::fwrite(n.text.data(), 1, length, file_);
  bytes_ += 5 + length;
  written_names_[id] = true;
}

void RecordLogWriter::append(const Record& r, std::uint32_t lane) {
  if (bytes_ >= max_bytes_) rotate();
  note_name(r.bot_id);
  note_name(r.name_id);
  if (r.kind != RecordKind::Command) note_name(r.aux_id);
  const std::uint8_t tag = kTagRecord;
  std::fwrite(&tag, 1, 1, file_);
  std::fwrite(&lane, sizeof lane, 1, file_);
  std::fwrite(&r, sizeof r, 1, file_);
  bytes_ += 1 + sizeof lane + sizeof r;
  ++records_;
}

void RecordLogWriter::flush() {
  if (file_) std::fflush(file_);
}

RecordLogHeader read_record_log_header(const std::string& path) {
  return read_record_log(path, nullptr, nullptr);
}

RecordLogHeader read_record_log(const std::string& path,
                                const std::function<void(NameId, NameKind, std::string_view)>& on_name,
                                const std::function<void(const Record&, std::uint32_t)>& on_record) {
  FileCloser f{std::fopen(path.c_str(), "rbe")};
  if (!f.f) throw std::runtime_error("cannot read record log " + path + ": " + std::strerror(errno));
  char magic[8];
  RecordLogHeader h;
  std::uint32_t reserved = 0;
  if (std::fread(magic, 1, 8, f.f) != 8 || std::memcmp(magic, kRecordLogMagic, 8) != 0)
    throw std::runtime_error(path + ": not a telering record log (bad magic)");
  if (std::fread(&h.name_capacity, sizeof h.name_capacity, 1, f.f) != 1 || std::fread(&reserved, 4, 1, f.f) != 1 ||
      std::fread(&h.calibration, sizeof h.calibration, 1, f.f) != 1 || std::fread(&h.wall_offset_ns, 8, 1, f.f) != 1)
    throw std::runtime_error(path + ": truncated header");
  if (!is_power_of_two(h.name_capacity) || h.name_capacity > 65536 || !(h.calibration.ns_per_tick > 0.0))
    throw std::runtime_error(path + ": corrupt header");
  if (!on_name && !on_record) return h;
  for (;;) {
    const long offset = std::ftell(f.f);
    std::uint8_t tag = 0;
    if (std::fread(&tag, 1, 1, f.f) != 1) break;  // end of file
    if (tag == kTagRecord) {
      std::uint32_t lane = 0;
      Record r;
      if (std::fread(&lane, sizeof lane, 1, f.f) != 1 || std::fread(&r, sizeof r, 1, f.f) != 1) break;  // torn tail
      on_record(r, lane);
    } else if (tag == kTagName) {
      NameId id = 0;
      std::uint8_t kind = 0, length = 0;
      char text[256];
      if (std::fread(&id, sizeof id, 1, f.f) != 1 || std::fread(&kind, 1, 1, f.f) != 1 || std::fread(&length, 1, 1, f.f) != 1 ||
          std::fread(text, 1, length, f.f) != length)
        break;
      if (id == kNoName || id >= h.name_capacity || kind == 0 || kind > kMaxNameKind || length == 0 || length > kMaxNameLength)
        throw std::runtime_error(path + ": corrupt name entry at offset " + std::to_string(offset));
      on_name(id, static_cast<NameKind>(kind), std::string_view(text, length));
    } else {
      throw std::runtime_error(path + ": unknown entry tag " + std::to_string(tag) + " at offset " + std::to_string(offset));
    }
  }
  return h;
}

}  // namespace telering::reader
