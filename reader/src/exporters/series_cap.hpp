// exporters/series_cap.hpp — one bound on the number of series of every metric family.
//
// Label values come from the segment's name table, which writers fill: without a bound, one
// hostile or buggy writer that invents names (17,065 bots were seen) makes every scrape
// megabytes long and the reader's memory grow with it. Every family of the MetricsCollector
// goes through a SeriesCap, whichever way its series are made:
//
//  - record-built (keyed): series made per drained record (histograms, error counters),
//    found again by a small integer key. Past the cap, new keys share one series whose
//    labels all say "other", so the family's totals stay right.
//  - collect-built (add + sweep): series rebuilt from the Engine's state at every
//    collect(). Past the cap, further label sets are left out of that snapshot. sweep()
//    removes the series nobody asked for since the last sweep, so a pruned bot's gauges go
//    away and free their place.
//
// Either way each refusal is counted (dropped()), and the collector exports the counts as
// telering_metrics_dropped_series_total{family}: for a collect-built family, once per label
// set per snapshot. Invariant: a family never holds more than cap + 1 series ("other").
// Thread safety: the drain-loop thread only, like the registry it writes.
#pragma once

#include <prometheus/family.h>
#include <prometheus/labels.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>

namespace telering::reader {

inline constexpr std::size_t kMaxSeriesPerFamily = 2000;

template <typename Metric>
class SeriesCap {
 public:
  explicit SeriesCap(prometheus::Family<Metric>& family, std::size_t cap = kMaxSeriesPerFamily)
      : family_(&family), cap_(cap) {}

  // Record-built series of `key`; make_labels() is called only when a series is made.
  template <typename MakeLabels, typename... Args>
  Metric& keyed(std::uint64_t key, MakeLabels&& make_labels, const Args&... args) {
    if (const auto it = by_key_.find(key); it != by_key_.end()) return *it->second;
    Metric* m = nullptr;
    if (series_ < cap_) {
      m = &family_->Add(make_labels(), args...);
      ++series_;
    } else {
      if (!other_) {
        prometheus::Labels other = make_labels();
        for (auto& [name, value] : other) value = "other";
        other_ = &family_->Add(other, args...);
      }
      m = other_;
      ++dropped_;
    }
    // Keys folded into "other" are remembered (and so counted once) up to a bound; past it
    // they are counted again on each record rather than held in memory without limit.
    if (m != other_ || by_key_.size() < 4 * cap_) by_key_.emplace(key, m);
    return *m;
  }

  // Collect-built series of `labels` for this snapshot, or nullptr when the family is full.
  template <typename... Args>
  Metric* add(const prometheus::Labels& labels, const Args&... args) {
    if (const auto it = current_.find(labels); it != current_.end()) {
      it->second.round = round_;
      return it->second.metric;
    }
    if (series_ >= cap_) {
      ++dropped_;
      return nullptr;
    }
    Metric* m = &family_->Add(labels, args...);
    ++series_;
    current_.emplace(labels, Current{m, round_});
    return m;
  }

  // After a collect(): removes the collect-built series not added since the last sweep.
  void sweep() {
    for (auto it = current_.begin(); it != current_.end();) {
      if (it->second.round != round_) {
        family_->Remove(it->second.metric);
        --series_;
        it = current_.erase(it);
      } else {
        ++it;
      }
    }
    ++round_;
  }

  [[nodiscard]] const std::string& name() const { return family_->GetName(); }
  [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }
  [[nodiscard]] std::size_t series() const noexcept { return series_ + (other_ ? 1 : 0); }

 private:
  struct Current {
    Metric* metric;
    std::uint64_t round;
  };
  prometheus::Family<Metric>* family_;
  std::size_t cap_;
  std::size_t series_ = 0;  // own series (not "other")
  Metric* other_ = nullptr;
  std::uint64_t dropped_ = 0;
  std::unordered_map<std::uint64_t, Metric*> by_key_;
  std::map<prometheus::Labels, Current> current_;
  std::uint64_t round_ = 0;
};

}  // namespace telering::reader
