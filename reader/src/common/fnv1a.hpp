// common/fnv1a.hpp — FNV-1a, 64 bits: the reader's checksum of a state snapshot and
// the seed of a recovery incident's jitter. Not for anything an attacker chooses to collide.
#pragma once

#include <cstdint>
#include <string_view>

namespace telering::reader {

[[nodiscard]] constexpr std::uint64_t fnv1a64(std::string_view s) noexcept {
  std::uint64_t h = 0xCBF29CE484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

}  // namespace telering::reader
