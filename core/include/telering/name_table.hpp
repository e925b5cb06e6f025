// telering/name_table.hpp — interning names (bots, components, error types, endpoints,
// metrics) into small ids shared by every process attached to a segment.
//
// An open-addressing hash table in shared memory; the id of a name is its slot index, so
// the decision board can be indexed by it. Slot 0 is never used: id 0 means "no name".
// Interning is lock-free: a new name is claimed by CAS state empty -> writing on the first
// empty slot of its probe sequence, its text written, then state -> ready with release.
// Two processes interning the same name race for the same first empty slot, so a name gets
// one id. A claimant that dies mid-write leaves a slot in `writing`: lookups wait for it a
// bounded time (kWritingWait) and then probe past it.
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

#include "telering/layout.hpp"

namespace telering {

using NameId = std::uint16_t;
inline constexpr NameId kNoName = 0;

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

  NameTable(NameEntry* entries, std::uint32_t capacity) noexcept : entries_(entries), mask_(capacity - 1) {}

  // Returns the id of (kind, text), or kNoName if absent. Never blocks, allocates or throws.
  // Names longer than kMaxNameLength are looked up by their first kMaxNameLength bytes.
  [[nodiscard]] NameId find(NameKind kind, std::string_view text) const noexcept {
    text = clip(text);
    const std::uint32_t h = name_hash(kind, text);
    std::uint32_t i = first_slot(h);
    for (std::uint32_t probe = 0; probe < mask_; ++probe, i = next_slot(i)) {
      // Pairs with the release store that published the entry.
      const std::uint32_t state = entries_[i].state.load(std::memory_order_acquire);
      if (state == kNameEmpty) return kNoName;
      if (state == kNameReady && matches(entries_[i], kind, text, h)) return static_cast<NameId>(i);
      // A slot being written may hold our name: find() does not wait (it never blocks);
      // intern() waits for it.
    }
    return kNoName;
  }

  // Returns the id of (kind, text), adding it if absent; kNoName if the table is full or
  // the text is empty. May wait (bounded) for a concurrent claimant of a slot on its path.
  [[nodiscard]] NameId intern(NameKind kind, std::string_view text) noexcept {
    text = clip(text);
    if (text.empty()) return kNoName;
    const std::uint32_t h = name_hash(kind, text);
    std::uint32_t i = first_slot(h);
    for (std::uint32_t probe = 0; probe < mask_; ++probe, i = next_slot(i)) {
      NameEntry& e = entries_[i];
      std::uint32_t state = e.state.load(std::memory_order_acquire);
      if (state == kNameEmpty) {
        // Claims the slot; acquire so that a lost race reads the winner's state below.
        if (e.state.compare_exchange_strong(state, kNameWriting, std::memory_order_acquire)) {
          e.kind = kind;
          e.length = static_cast<std::uint8_t>(text.size());
          e.hash = h;
          std::memcpy(e.text, text.data(), text.size());
          // Publishes the entry (pairs with the acquire loads in find/intern/read).
          e.state.store(kNameReady, std::memory_order_release);
          return static_cast<NameId>(i);
        }
      }
      if (state == kNameWriting) state = wait_while_writing(e);
      if (state == kNameReady && matches(e, kind, text, h)) return static_cast<NameId>(i);
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
    if (e.state.load(std::memory_order_acquire) != kNameReady) return false;
    const auto kind = static_cast<std::uint8_t>(e.kind);
    const std::uint8_t length = e.length;
    if (kind == 0 || kind > kMaxNameKind || length == 0 || length > kMaxNameLength) return false;
    out.kind = static_cast<NameKind>(kind);
    out.text.assign(e.text, length);
    return true;
  }

  [[nodiscard]] std::uint32_t capacity() const noexcept { return mask_ + 1; }

 private:
  static std::string_view clip(std::string_view t) noexcept {
    return t.size() > kMaxNameLength ? t.substr(0, kMaxNameLength) : t;
  }
  std::uint32_t first_slot(std::uint32_t h) const noexcept {
    const std::uint32_t i = h & mask_;
    return i == 0 ? 1 : i;
  }
  std::uint32_t next_slot(std::uint32_t i) const noexcept {
    i = (i + 1) & mask_;
    return i == 0 ? 1 : i;
  }
  static bool matches(const NameEntry& e, NameKind kind, std::string_view text, std::uint32_t h) noexcept {
    return e.hash == h && e.kind == kind && e.length == text.size() && std::memcmp(e.text, text.data(), text.size()) == 0;
  }
  static std::uint32_t wait_while_writing(const NameEntry& e) noexcept {
    const auto deadline = std::chrono::steady_clock::now() + kWritingWait;
    std::uint32_t state = e.state.load(std::memory_order_acquire);
    while (state == kNameWriting && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
      state = e.state.load(std::memory_order_acquire);
    }
    return state;
  }

  NameEntry* entries_;
  std::uint32_t mask_;
};

}  // namespace telering
