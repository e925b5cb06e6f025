// The payload the cross-process and stress tests record, shared by the helper writer
// executable and the tests that check what a consumer receives.
//
// Every record carries its producer's sequence number twice: in Record::value (a double,
// exact below 2^53) and in the inline context as text, "w<writer>/t<thread>/s<seq>".
// A consumer that finds the two disagreeing, or a context it cannot parse, has seen a torn
// record (half of one write and half of another), which a correct ring never exposes.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "telering/core/record.hpp"

namespace telering::test {

// Room for the longest text (10 + 10 + 20 digits + 5). Texts longer than kContextCapacity
// would be truncated by Record::set_context and then refused by consistent_payload; the
// tests keep writer and thread indexes small and sequences below 10^15, so they fit.
inline constexpr std::size_t kSeqContextBuffer = 64;

struct SeqPayload {
  std::uint32_t writer = 0;  // writer process (or producer group) index
  std::uint32_t thread = 0;  // thread index within the writer
  std::uint64_t seq = 0;     // per-thread sequence: one per record attempt, dropped or not
};

// Writes the context text into buf (kSeqContextBuffer bytes); returns its length.
// No allocation: the helper calls it on its recording loop.
[[nodiscard]] inline std::size_t format_seq_context(char* buf, const SeqPayload& p) noexcept {
  char* out = buf;
  char* const end = buf + kSeqContextBuffer;
  bool ok = true;
  auto put = [&](char c) {
    if (out == end) ok = false;
    else *out++ = c;
  };
  auto put_number = [&](std::uint64_t v) {
    const auto r = std::to_chars(out, end, v);
    if (r.ec != std::errc{}) ok = false;
    else out = r.ptr;
  };
  put('w');
  put_number(p.writer);
  put('/');
  put('t');
  put_number(p.thread);
  put('/');
  put('s');
  put_number(p.seq);
  return ok ? static_cast<std::size_t>(out - buf) : 0;  // cannot happen within the buffer
}

[[nodiscard]] inline std::optional<SeqPayload> parse_seq_context(std::string_view text) noexcept {
  SeqPayload p;
  const char* it = text.data();
  const char* const end = text.data() + text.size();
  auto expect = [&](char c) {
    if (it == end || *it != c) return false;
    ++it;
    return true;
  };
  auto number = [&](auto& value) {
    const auto r = std::from_chars(it, end, value);
    if (r.ec != std::errc{} || r.ptr == it) return false;
    it = r.ptr;
    return true;
  };
  if (!expect('w') || !number(p.writer) || !expect('/') || !expect('t') || !number(p.thread) || !expect('/') ||
      !expect('s') || !number(p.seq) || it != end)
    return std::nullopt;
  return p;
}

// The payload of a record if it is self-consistent (context parses and names the same
// sequence number as value), or nullopt for a torn or foreign record.
[[nodiscard]] inline std::optional<SeqPayload> consistent_payload(const Record& r) noexcept {
  if ((r.flags & kFlagContextTruncated) != 0) return std::nullopt;
  const auto p = parse_seq_context(r.context_view());
  if (!p) return std::nullopt;
  if (!(r.value >= 0.0) || static_cast<double>(p->seq) != r.value) return std::nullopt;
  return p;
}

}  // namespace telering::test
