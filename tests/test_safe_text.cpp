// Shared-memory text on its way out of the reader (issue 12, items 1 and 2): names and
// contexts are cut on a character boundary when written (utf8_clip.hpp), and whatever bytes
// a segment holds, what the reader makes of them — reports, alerts, labels, logs — is valid
// UTF-8 without control characters (safe_text.hpp).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>
#include <string>

#include "common/safe_text.hpp"
#include "evaluate/health_report_format.hpp"
#include "exporters/alert_sender.hpp"
#include "support/engine_rig.hpp"
#include "support/shm_test_util.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/record.hpp"
#include "telering/core/utf8_clip.hpp"

namespace telering::reader {
namespace {

constexpr std::uint64_t kSecond = 1'000'000'000ULL;
const std::string kEAcute = "\xC3\xA9";          // é, 2 bytes
const std::string kEuro = "\xE2\x82\xAC";         // €, 3 bytes
const std::string kRocket = "\xF0\x9F\x9A\x80";   // 🚀, 4 bytes

TEST(Utf8Clip, CutsBeforeACharacterTheBudgetWouldSplit) {
  for (const std::string& ch : {kEAcute, kEuro, kRocket}) {
    std::string text;
    while (text.size() < 60) text += ch;
    for (std::size_t budget = 0; budget <= text.size(); ++budget) {
      const std::string_view cut = utf8_clip(text, budget);
      EXPECT_LE(cut.size(), budget);
      EXPECT_GT(cut.size() + ch.size(), budget) << "cuts at most one character";
      EXPECT_EQ(cut.size() % ch.size(), 0U) << "budget " << budget << " split a character";
      EXPECT_TRUE(is_safe_text(cut));
    }
  }
  EXPECT_EQ(utf8_clip("abcdef", 3), "abc");
  EXPECT_EQ(utf8_clip("abc", 10), "abc");
}

TEST(Utf8Clip, NameTableKeepsALongMultibyteNameValid) {
  test::UniqueSegment shm;
  Segment seg = Segment::open(test::create_options(shm.name(), test::small_test_geometry(2, 64)));
  NameTable table(seg.names(), seg.geometry().name_capacity);
  std::string name = "b";  // 1 + 2*k bytes: kMaxNameLength (52) falls inside a character
  while (name.size() < 80) name += kEAcute;
  const NameId id = table.intern(NameKind::Bot, name);
  ASSERT_NE(id, kNoName);
  NameTable::Name out;
  ASSERT_TRUE(table.read(id, out));
  EXPECT_EQ(out.text.size(), kMaxNameLength - 1);
  EXPECT_TRUE(is_safe_text(out.text)) << "clipped in the middle of a character";
  EXPECT_EQ(table.find(NameKind::Bot, name), id) << "lookups clip the same way";
}

TEST(Utf8Clip, RecordContextIsCutOnACharacterBoundary) {
  Record r{};
  std::string context = "x";
  while (context.size() < 50) context += kEuro;
  r.set_context(context);
  EXPECT_TRUE(r.flags & kFlagContextTruncated);
  EXPECT_LE(r.context_view().size(), kContextCapacity);
  EXPECT_TRUE(is_safe_text(r.context_view()));
}

TEST(SafeText, KeepsValidTextAndReplacesEveryBadByte) {
  const std::string valid = "market_scanner " + kEAcute + kEuro + kRocket;
  EXPECT_EQ(safe_text(valid), valid);
  EXPECT_EQ(safe_text("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(safe_text("line\nforged"), "line\xEF\xBF\xBD" "forged") << "no control characters in a log line";
  EXPECT_EQ(safe_text("\xC3"), "\xEF\xBF\xBD") << "a lead byte without its continuation";
  EXPECT_FALSE(is_safe_text("\xC0\xAF")) << "overlong";
  EXPECT_FALSE(is_safe_text("\xED\xA0\x80")) << "surrogate";
  EXPECT_FALSE(is_safe_text("\xF4\x90\x80\x80")) << "above U+10FFFF";
  EXPECT_FALSE(is_safe_text("\xC2\x85")) << "C1 control";
}

TEST(SafeText, AnyBytesBecomeTextNlohmannAndPrometheusAccept) {
  const std::uint64_t seed = test::test_seed();
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string safe = safe_text(bytes);
    ASSERT_TRUE(is_safe_text(safe)) << "seed " << seed;
    ASSERT_NO_THROW((void)nlohmann::json(safe).dump()) << "seed " << seed;
  }
}

TEST(SafeText, AlertBodiesWithInvalidUtf8DoNotThrow) {
  // The crash of issue 12 item 1: nlohmann's default dump() throws type_error 316 on the
  // alert thread, which has no handler: std::terminate.
  Alert a;
  a.key = "recovery/bad\xC3";
  a.text = "ALERT api_\xE2\x82 (HIGH): \xFF";
  std::string body;
  ASSERT_NO_THROW(body = slack_alert_body(a, "host", 0, 0));
  EXPECT_TRUE(is_safe_text(nlohmann::json::parse(body).at("text").get<std::string>()));
  ASSERT_NO_THROW(body = generic_alert_body(a, "host", 0, 0));
  EXPECT_NO_THROW(EXPECT_TRUE(nlohmann::json::parse(body).is_object()));
}

TEST(SafeText, EngineOutputIsSafeWhateverTheNamesAndContextsHold) {
  EngineRig rig;
  // A hostile writer: names and context bytes straight into shared memory.
  NameTable names(rig.segment().names(), rig.segment().geometry().name_capacity);
  const NameId type = names.intern(NameKind::ErrorType, "bad\xFF\ntype");
  const NameId component = names.intern(NameKind::Component, "comp\xC3");
  const NameId bot = names.intern(NameKind::Bot, "bot\xE2\x82\n");
  ASSERT_NE(type, kNoName);
  ASSERT_EQ(rig.w().error(type, Severity::High, "ctx \xE2\x82\xFF\x01"), RecordResult::Recorded);
  ASSERT_EQ(rig.w().call_outcome(component, false, 0.1), RecordResult::Recorded);
  rig.pump(rig.at(kSecond));
  // A CRITICAL bot raises an alert whose text names the bot (what crashed the alert thread).
  Record scan{};
  scan.kind = RecordKind::ScanTime;
  scan.value = 95.0;
  scan.timestamp = rig.engine().calibration().to_ticks(rig.at(2 * kSecond));
  scan.bot_id = bot;
  rig.engine().on_record(scan, RecordSource{}, rig.at(2 * kSecond));
  rig.engine().tick(rig.at(3 * kSecond));
  const std::vector<Alert> alerts = rig.engine().take_alerts();
  ASSERT_FALSE(alerts.empty());
  for (const Alert& a : alerts) {
    EXPECT_TRUE(is_safe_text(a.text)) << a.text;
    EXPECT_TRUE(is_safe_text(a.key)) << a.key;
    EXPECT_NO_THROW((void)slack_alert_body(a, "host", 0, 0).size());
  }
  for (const DecisionEvent& d : rig.engine().take_decisions()) EXPECT_TRUE(is_safe_text(d.subject)) << d.subject;
  const std::string report = rig.engine().report_json(rig.at(3 * kSecond));
  EXPECT_TRUE(is_safe_text(report));
  const nlohmann::json j = nlohmann::json::parse(report);
  const nlohmann::json& recent = j.at("error_statistics").at("recent_errors");
  ASSERT_EQ(recent.size(), 1U);
  EXPECT_TRUE(is_safe_text(recent[0].at("message").get<std::string>()));
  EXPECT_TRUE(j.at("bots").contains("bot\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
}

}  // namespace
}  // namespace telering::reader
