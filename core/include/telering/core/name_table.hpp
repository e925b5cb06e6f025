// telering/core/name_table.hpp — interning names (bots, components, error types, endpoints,
// metrics) into small ids shared by every process attached to a segment.
//
// An open-addressing hash table in shared memory; the id of a name is its slot index, so
// the decision board can be indexed by it. Slot 0 is never used: id 0 means "no name".
// Interning is lock-free: a new name is claimed by CAS of the entry's tag empty -> (writing,
// kind, hash) on the first empty slot of its probe sequence, its text written, then
// published by CAS -> (ready, kind, hash) with release. Two processes interning the same
// name race for the same first empty slot, so a name gets one id.
//
// A claimant that stalls or dies mid-write: an interner of the same name (same kind and
// hash in the tag — no other interner ever waits on it) waits kWritingWait and then abandons
// the slot by CAS writing -> abandoned, and goes on probing. The stalled claimant's publish
// CAS then fails and it starts over, finding the name where the other interner put it: a
// name never gets two ids, and a dead claimant delays only interners of its own name, once.
//
// Lookup is on the recording path when a bot passes a name as a string: a hash of the name
// and usually one probe. Interning a new name may spin (bounded) and is meant for set-up.
#pragma once

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>

#include "telering/core/layout.hpp"
#include "telering/core/utf8_clip.hpp"

namespace telering {

using NameId = std::uint16_t;
inline constexpr NameId kNoName = 0;

namespace detail {
// Test hook: called by intern() between writing an entry and publishing it, so a test can
// stall a claimant there deterministically. nullptr (never set) in production.
inline void (*g_intern_pause)() = nullptr;
}  // namespace detail

// FNV-1a over the kind byte and the text.
[[nodiscard]] constexpr std::uint32_t name_hash(NameKind kind, std::string_view text) noexcept {
  std::uint32_t h = 2166136261u;
  h = (h ^ static_cast<std::uint8_t>(kind)) * 16777619u;
  for (char c : text) h = (h ^ static_cast<std::uint8_t>(c)) * 16777619u;
  return h;
}

// The text of a bot's own breaker on a component (NameKind::BotBreaker): "<component id>@<bot
// id>". Both sides derive it from ids (no allocation), so it always fits kMaxNameLength.
struct BotBreakerName {
  char text[12] = {};  // "65535@65535"
  std::size_t size = 0;
  [[nodiscard]] std::string_view view() const noexcept { return {text, size}; }
};
[[nodiscard]] inline BotBreakerName bot_breaker_name(NameId component, NameId bot) noexcept {
  BotBreakerName n;
  char* end = std::to_chars(n.text, n.text + 5, component).ptr;
  *end++ = '@';
  end = std::to_chars(end, end + 5, bot).ptr;
  n.size = static_cast<std::size_t>(end - n.text);
  return n;
}

class NameTable {
 public:
  static constexpr std::chrono::milliseconds kWritingWait{200};

  NameTable(NameEntry* entries, std::uint32_t capacity, std::chrono::milliseconds writing_wait = kWritingWait) noexcept
      : entries_(entries), mask_(capacity - 1), writing_wait_(writing_wait) {}

  // Returns the id of (kind, text), or kNoName if absent. Never blocks, allocates or throws.
  // Names longer than kMaxNameLength are looked up by their first kMaxNameLength bytes, cut
  // back to a character boundary.
  [[nodiscard]] NameId find(NameKind kind, std::string_view text) const noexcept {
    text = clip(text);
    const std::uint32_t h = name_hash(kind, text);
    const std::uint64_t ready = name_tag(kNameReady, kind, h);
    std::uint32_t i = first_slot(h);
    for (std::uint32_t probe = 0; probe < mask_; ++probe, i = next_slot(i)) {
      // Pairs with the release CAS that published the entry.
      const std::uint64_t tag = entries_[i].tag.load(std::memory_order_acquire);
      if (tag == 0) return kNoName;
      if (tag == ready && matches(entries_[i], text)) return static_cast<NameId>(i);
      // An entry being written may be ours: find() does not wait (it never blocks).
    }
    return kNoName;
  }

  // Returns the id of (kind, text), adding it if absent; kNoName if the table is full or
  // the text is empty. May wait (bounded) for a concurrent claimant of the same name.
  [[nodiscard]] NameId intern(NameKind kind, std::string_view text) noexcept {
    text = clip(text);
    if (text.empty()) return kNoName;
    const std::uint32_t h = name_hash(kind, text);
    const std::uint64_t writing = name_tag(kNameWriting, kind, h);
    const std::uint64_t ready = name_tag(kNameReady, kind, h);
    // Starts over when our own claim was abandoned while we wrote (we were stalled).
    for (int attempt = 0; attempt < 4; ++attempt) {
      std::uint32_t i = first_slot(h);
      bool abandoned = false;
      for (std::uint32_t probe = 0; probe < mask_ && !abandoned; ++probe, i = next_slot(i)) {
        NameEntry& e = entries_[i];
        std::uint64_t tag = e.tag.load(std::memory_order_acquire);
        if (tag == 0) {
          // Claims the slot; acquire so that a lost race reads the winner's tag below.
          if (e.tag.compare_exchange_strong(tag, writing, std::memory_order_acquire)) {
            e.length = static_cast<std::uint8_t>(text.size());
            std::memcpy(e.text, text.data(), text.size());
            if (detail::g_intern_pause) detail::g_intern_pause();
            // Publishes the entry (pairs with the acquire loads in find/intern/read); fails
            // only if an interner of the same name gave up on us.
            std::uint64_t expected = writing;
            if (e.tag.compare_exchange_strong(expected, ready, std::memory_order_release, std::memory_order_acquire))
              return static_cast<NameId>(i);
            abandoned = true;
            continue;
          }
        }
        if (tag == writing) tag = wait_while_writing(e, writing);
        if (tag == ready && matches(e, text)) return static_cast<NameId>(i);
      }
      if (!abandoned) return kNoName;  // probed the whole table: full
    }
    return kNoName;
  }

  struct Name {
    NameKind kind{};
    std::string text;
  };

  // Copies an entry out for the reader, validating it (shared memory is untrusted).
  // Returns false for an id that is not a ready, well-formed entry.
  [[nodiscard]] bool read(NameId id, Name& out) const {
    if (id == kNoName || id > mask_) return false;
    const NameEntry& e = entries_[id];
    const std::uint64_t tag = e.tag.load(std::memory_order_acquire);
    if (tag_state(tag) != kNameReady) return false;
    const std::uint8_t kind = tag_kind(tag);
    const std::uint8_t length = e.length;
    if (kind == 0 || kind > kMaxNameKind || length == 0 || length > kMaxNameLength) return false;
    out.kind = static_cast<NameKind>(kind);
    out.text.assign(e.text, length);
    return true;
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return mask_ + 1; }

 private:
  // On a character boundary (utf8_clip.hpp): a cut name stays valid UTF-8.
  static std::string_view clip(std::string_view t) noexcept { return utf8_clip(t, kMaxNameLength); }
  std::uint32_t first_slot(std::uint32_t h) const noexcept {
    const std::uint32_t i = h & mask_;
    return i == 0 ? 1 : i;
  }
  std::uint32_t next_slot(std::uint32_t i) const noexcept {
    i = (i + 1) & mask_;
    return i == 0 ? 1 : i;
  }
  // Kind and hash were compared in the tag.
  static bool matches(const NameEntry& e, std::string_view text) noexcept {
    return e.length == text.size() && std::memcmp(e.text, text.data(), text.size()) == 0;
  }
  // Waits (bounded) for a claimant of the same name; if it does not publish in time, abandons
  // its slot. Returns the tag to go on with (ready: compare; anything else: probe on).
  std::uint64_t wait_while_writing(NameEntry& e, std::uint64_t writing) const noexcept {
    const auto deadline = std::chrono::steady_clock::now() + writing_wait_;
    std::uint64_t tag = e.tag.load(std::memory_order_acquire);
    while (tag == writing && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
      tag = e.tag.load(std::memory_order_acquire);
    }
    if (tag != writing) return tag;
    const std::uint64_t abandoned = (writing & ~std::uint64_t{0xFF}) | kNameAbandoned;
    e.tag.compare_exchange_strong(tag, abandoned, std::memory_order_acq_rel, std::memory_order_acquire);
    return tag == writing ? abandoned : tag;  // the CAS leaves the current tag in `tag` when it fails
  }

  NameEntry* entries_;
  std::uint32_t mask_;
  std::chrono::milliseconds writing_wait_;
};

}  // namespace telering
