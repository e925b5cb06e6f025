// common/safe_text.hpp — shared-memory text made safe for JSON, Prometheus labels
// and log lines.
//
// Every name and context the reader reads from a segment is untrusted bytes: a hostile or
// buggy writer can put anything there. Where such text leaves the reader it must be valid
// UTF-8 (nlohmann's dump() throws on anything else and Prometheus refuses the whole page)
// and hold no control characters (a '\n' in a name would forge a log line). safe_text()
// is the one place that guarantees both: the Engine applies it when it first resolves a
// name and when it keeps a context, so everything built from those (reports, labels,
// alerts, decisions, logs) is safe; to_json_text() (health_report_format.hpp) is the second
// line of defence for JSON.
//
// Invariant: the result is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) without C0 controls or DEL; each byte that breaks that becomes U+FFFD.
// Valid printable text comes back unchanged.
#pragma once

#include <string>
#include <string_view>

namespace telering::reader {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid, printable UTF-8 character at the start of `s`, or 0 if it is not one.
[[nodiscard]] constexpr std::size_t utf8_char_length(std::string_view s) noexcept {
  if (s.empty()) return 0;
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  if (c < 0x20 || c == 0x7F) return 0;  // control characters
  if (c < 0x80) return 1;
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;               // no overlong 3-byte forms
  else if (c == 0xED) n = 3, hi = 0x9F;               // no surrogates
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;               // no overlong 4-byte forms
  else if (c == 0xF4) n = 4, hi = 0x8F;               // nothing above U+10FFFF
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else return 0;
  if (s.size() < n || b(1) < lo || b(1) > hi) return 0;
  for (std::size_t i = 2; i < n; ++i)
    if ((b(i) & 0xC0) != 0x80) return 0;
  if (n == 2 && c == 0xC2 && b(1) < 0xA0) return 0;  // C1 controls (U+0080..U+009F)
  return n;
}

[[nodiscard]] inline bool is_safe_text(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_char_length(s.substr(i));
    if (n == 0) return false;
    i += n;
  }
  return true;
}

[[nodiscard]] inline std::string safe_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_char_length(s.substr(i));
    if (n == 0) {
      out += kReplacementCharacter;
      ++i;
    } else {
      out.append(s.data() + i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace telering::reader
