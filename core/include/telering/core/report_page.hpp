// telering/core/report_page.hpp — the reader's latest health report, readable without HTTP.
//
// The reader publishes its report (JSON: the health check and the error statistics) into
// the segment at least every second and on every status change; bots, telering-stat and the
// Python module read it here.
//
// Memory ordering: a seqlock. The reader (the only writer) makes seq odd, copies the payload
// with release 8-byte atomic stores, stores the length, and makes seq even with release.
// A reader loads seq with acquire, copies with acquire loads, then re-checks seq; an odd
// or changed seq means "retry". Payload words are atomics so TSan sees no race.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "telering/core/layout.hpp"

namespace telering {

class ReportPage {
 public:
  ReportPage(ReportPageHeader* header, std::byte* payload, std::uint32_t capacity) noexcept
      : header_(header), words_(reinterpret_cast<std::atomic<std::uint64_t>*>(payload)), capacity_(capacity) {}

  [[nodiscard]] std::uint32_t capacity() const noexcept { return capacity_; }

  // Reader process only. Returns false (publishes nothing) if text does not fit.
  bool publish(std::string_view text, HealthStatus overall, std::uint64_t now_ns) noexcept {
    if (text.size() > capacity_) return false;
    // Makes seq odd (see the ordering note at the top). One publisher: no contention. The
    // parity comes from the value: a publisher killed mid-copy left it odd, and we start
    // from that odd value instead of flipping it to even for the life of the segment.
    const std::uint64_t s = header_->seq.load(std::memory_order_relaxed) | 1U;
    header_->seq.exchange(s, std::memory_order_acquire);
    const std::size_t words = (text.size() + 7) / 8;
    for (std::size_t w = 0; w < words; ++w) {
      std::uint64_t v = 0;
      std::memcpy(&v, text.data() + w * 8, std::min<std::size_t>(8, text.size() - w * 8));
      words_[w].store(v, std::memory_order_release);
    }
    header_->length.store(text.size(), std::memory_order_release);
    header_->published_mono_ns.store(now_ns, std::memory_order_release);
    header_->overall_health.store(static_cast<std::uint32_t>(overall), std::memory_order_release);
    // Ends the update (pairs with the acquire load of seq in read()).
    header_->seq.store(s + 1, std::memory_order_release);
    return true;
  }

  // Reader process, when it takes the segment over: a predecessor killed mid-publish left
  // seq odd over a half-copied payload. The page is emptied (read() says "not published")
  // and seq made even, rather than letting the torn text be read as a report.
  void normalise() noexcept {
    const std::uint64_t s = header_->seq.load(std::memory_order_relaxed);
    if ((s & 1U) == 0) return;
    header_->length.store(0, std::memory_order_release);
    header_->published_mono_ns.store(0, std::memory_order_release);
    header_->overall_health.store(static_cast<std::uint32_t>(HealthStatus::Unknown), std::memory_order_release);
    header_->seq.store(s + 1, std::memory_order_release);  // pairs with the acquire load in read()
  }

  struct Snapshot {
    std::string text;
    std::uint64_t published_mono_ns = 0;
    HealthStatus overall = HealthStatus::Unknown;
    std::uint64_t seq = 0;
  };

  // Any process. False when nothing was ever published (or the page was emptied by
  // normalise()) or no consistent copy was had
  // within a bounded number of attempts (the reader kept publishing, or the page is corrupt).
  [[nodiscard]] bool read(Snapshot& out) const {
    for (int attempt = 0; attempt < 100; ++attempt) {
      // Pairs with the release store that ends a publish.
      const std::uint64_t s1 = header_->seq.load(std::memory_order_acquire);
      if (s1 == 0) return false;
      if (s1 & 1U) continue;
      const std::uint64_t length = header_->length.load(std::memory_order_acquire);
      if (length > capacity_) continue;  // torn or corrupt: re-check seq
      if (length == 0 && header_->seq.load(std::memory_order_relaxed) == s1) return false;  // emptied
      out.text.resize(length);
      const std::size_t words = (length + 7) / 8;
      for (std::size_t w = 0; w < words; ++w) {
        // Acquire per word keeps the re-check of seq below after every payload load.
        const std::uint64_t v = words_[w].load(std::memory_order_acquire);
        std::memcpy(out.text.data() + w * 8, &v, std::min<std::size_t>(8, length - w * 8));
      }
      out.published_mono_ns = header_->published_mono_ns.load(std::memory_order_acquire);
      out.overall = static_cast<HealthStatus>(header_->overall_health.load(std::memory_order_acquire) & 3U);
      if (header_->seq.load(std::memory_order_relaxed) == s1) {
        out.seq = s1;
        return true;
      }
    }
    return false;
  }

 private:
  ReportPageHeader* header_;
  std::atomic<std::uint64_t>* words_;
  std::uint32_t capacity_;
};

}  // namespace telering
