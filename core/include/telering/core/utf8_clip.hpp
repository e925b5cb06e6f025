// telering/core/utf8_clip.hpp — cutting text to a byte budget without splitting a character.
//
// Names (52 bytes) and record contexts (34 bytes) are stored in fixed fields of shared
// memory. Cut blindly, a multibyte UTF-8 character at the edge leaves a lead byte without
// its continuation bytes: invalid UTF-8 that every later consumer (JSON, Prometheus labels,
// logs) has to cope with. Cutting before that character keeps honest text valid.
//
// Invariant: for valid UTF-8 input the result is valid UTF-8 and a prefix of the input of
// at most max_bytes bytes. For invalid input it is still a prefix of at most max_bytes bytes
// (the reader treats shared-memory text as untrusted anyway: reader/safe_text.hpp).
// Never allocates, never throws; usable on the recording path.
#pragma once

#include <cstddef>
#include <string_view>

namespace telering {

[[nodiscard]] constexpr bool is_utf8_continuation(char c) noexcept {
  return (static_cast<unsigned char>(c) & 0xC0U) == 0x80U;
}

[[nodiscard]] constexpr std::string_view utf8_clip(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  // text[cut] is the first byte left out; if it continues a character, that character
  // started at or before cut - 1 and is left out whole. A character is at most 4 bytes, so
  // at most 3 continuation bytes are stepped over (more means invalid input: cut anyway).
  for (int step = 0; step < 3 && cut > 0 && is_utf8_continuation(text[cut]); ++step) --cut;
  if (is_utf8_continuation(text[cut]) && cut > 0) return text.substr(0, max_bytes);
  return text.substr(0, cut);
}

}  // namespace telering
