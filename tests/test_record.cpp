#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "telering/core/record.hpp"

namespace telering {
namespace {

Record valid_error() {
  Record r{};
  r.timestamp = 123;
  r.kind = RecordKind::Error;
  r.severity = Severity::High;
  r.name_id = 7;
  r.bot_id = 3;
  r.set_context("endpoint=/api/v1/market/orderbook");
  return r;
}

TEST(Record, LayoutReadsBackFromRawBytes) {
  Record r = valid_error();
  r.value = 2.5;
  r.thread_id = 0x01020304;
  r.aux_id = 9;
  unsigned char raw[sizeof(Record)];
  std::memcpy(raw, &r, sizeof raw);
  std::uint64_t ts = 0;
  std::memcpy(&ts, raw + 0, 8);
  double value = 0;
  std::memcpy(&value, raw + 8, 8);
  std::uint32_t tid = 0;
  std::memcpy(&tid, raw + 16, 4);
  std::uint16_t name = 0, aux = 0, bot = 0;
  std::memcpy(&name, raw + 20, 2);
  std::memcpy(&aux, raw + 22, 2);
  std::memcpy(&bot, raw + 24, 2);
  EXPECT_EQ(ts, 123U);
  EXPECT_EQ(value, 2.5);
  EXPECT_EQ(tid, 0x01020304U);
  EXPECT_EQ(name, 7);
  EXPECT_EQ(aux, 9);
  EXPECT_EQ(bot, 3);
  EXPECT_EQ(raw[26], static_cast<unsigned char>(RecordKind::Error));
  EXPECT_EQ(raw[27], static_cast<unsigned char>(Severity::High));
  EXPECT_EQ(raw[29], 33);  // context length
  EXPECT_EQ(std::memcmp(raw + 30, "endpoint=/api/v1/market/orderbook", 33), 0);
}

TEST(Record, ContextTruncatesWithFlag) {
  Record r{};
  r.set_context(std::string(100, 'x'));
  EXPECT_EQ(r.context_len, kContextCapacity);
  EXPECT_TRUE(r.flags & kFlagContextTruncated);
  EXPECT_EQ(r.context_view(), std::string(kContextCapacity, 'x'));
  Record fits{};
  fits.set_context("short");
  EXPECT_EQ(fits.flags & kFlagContextTruncated, 0);
  EXPECT_EQ(fits.context_view(), "short");
}

TEST(Record, ValidRecordPasses) { EXPECT_EQ(validate_record(valid_error(), 256), RecordFault::None); }

TEST(Record, ValidationRejectsEveryBadField) {
  auto with = [](auto mutate) {
    Record r = valid_error();
    mutate(r);
    return validate_record(r, 256);
  };
  EXPECT_EQ(with([](Record& r) { r.kind = static_cast<RecordKind>(0); }), RecordFault::BadKind);
  EXPECT_EQ(with([](Record& r) { r.kind = static_cast<RecordKind>(kMaxRecordKind + 1); }), RecordFault::BadKind);
  EXPECT_EQ(with([](Record& r) { r.severity = static_cast<Severity>(5); }), RecordFault::BadSeverity);
  EXPECT_EQ(with([](Record& r) { r.severity = Severity::None; }), RecordFault::BadSeverity);
  EXPECT_EQ(with([](Record& r) { r.flags = 0x80; }), RecordFault::BadFlags);
  EXPECT_EQ(with([](Record& r) { r.context_len = kContextCapacity + 1; }), RecordFault::BadContextLength);
  EXPECT_EQ(with([](Record& r) { r.name_id = 256; }), RecordFault::NameOutOfRange);
  EXPECT_EQ(with([](Record& r) { r.aux_id = 300; }), RecordFault::NameOutOfRange);
  EXPECT_EQ(with([](Record& r) { r.bot_id = 256; }), RecordFault::BotOutOfRange);
  EXPECT_EQ(with([](Record& r) { r.value = std::numeric_limits<double>::quiet_NaN(); }), RecordFault::NotFinite);
  EXPECT_EQ(with([](Record& r) { r.value = std::numeric_limits<double>::infinity(); }), RecordFault::NotFinite);
  EXPECT_EQ(with([](Record& r) {
              r.kind = RecordKind::ScanTime;
              r.severity = Severity::None;
              r.value = -1.0;
            }),
            RecordFault::BadValue);
}

}  // namespace
}  // namespace telering
