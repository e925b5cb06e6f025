// state/record_log.hpp — drained records on disk, for telering-replay.
//
// The reader can append every record it drains to a file (bounded, rotating: PATH, PATH.1,
// ... PATH.<keep-1>), together with the names the records refer to and the tick
// calibration, so that `telering-replay` can feed the same stream through the aggregation
// and decision logic with other thresholds and print the decisions it would have made.
//
// File format (little-endian, this host's layout):
//   header  "TLRLOG01" | u32 name_capacity | u32 reserved | TickCalibration (24 bytes) |
//           i64 wall_offset_ns (Unix ns minus monotonic ns when the file was opened)
//   entries u8 tag, then
//     tag 1 (record): u32 lane, Record (64 bytes)
//     tag 2 (name):   u16 id, u8 kind, u8 length, text[length]
// A name entry precedes the first record that uses its id in each file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "telering/clock.hpp"
#include "telering/layout.hpp"
#include "telering/name_table.hpp"
#include "telering/record.hpp"

namespace telering::reader {

inline constexpr char kRecordLogMagic[8] = {'T', 'L', 'R', 'L', 'O', 'G', '0', '1'};

class RecordLogWriter {
 public:
  // Throws std::runtime_error naming the path if it cannot be opened.
  RecordLogWriter(std::string path, std::uint64_t max_bytes, std::uint32_t keep_files, const NameTable& names,
                  std::uint32_t name_capacity, const TickCalibration& calibration);
  ~RecordLogWriter();
  RecordLogWriter(const RecordLogWriter&) = delete;
  RecordLogWriter& operator=(const RecordLogWriter&) = delete;

  void append(const Record& r, std::uint32_t lane);
  void flush();

  [[nodiscard]] std::uint64_t records_written() const noexcept { return records_; }
  [[nodiscard]] std::uint64_t rotations() const noexcept { return rotations_; }

 private:
  void open_fresh();
  void rotate();
  void note_name(NameId id);

  std::string path_;
  std::uint64_t max_bytes_;
  std::uint32_t keep_files_;
  const NameTable* names_;
  std::uint32_t name_capacity_;
  TickCalibration calibration_;
  std::FILE* file_ = nullptr;
  std::uint64_t bytes_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t rotations_ = 0;
  std::vector<bool> written_names_;  // ids already described in the current file
};

struct RecordLogHeader {
  std::uint32_t name_capacity = 0;
  TickCalibration calibration;
  std::int64_t wall_offset_ns = 0;
};

// Reads only the header of a file (throws like read_record_log).
[[nodiscard]] RecordLogHeader read_record_log_header(const std::string& path);

// Reads one file. on_name(id, kind, text) and on_record(record, lane) are called in file
// order. Throws std::runtime_error naming the file and offset for a bad header or entry
// (a truncated last entry — a reader killed mid-write — ends the file quietly).
RecordLogHeader read_record_log(const std::string& path,
                                const std::function<void(NameId, NameKind, std::string_view)>& on_name,
                                const std::function<void(const Record&, std::uint32_t)>& on_record);

}  // namespace telering::reader
