#include "evaluate/fleet_limits_reader.hpp"
#include "common/safe_text.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace telering::reader {

namespace {
std::uint64_t to_ns(std::chrono::milliseconds d) { return static_cast<std::uint64_t>(std::chrono::nanoseconds(d).count()); }
// A budget stays valid this long past two refill intervals: the writers' "no reader" threshold.
constexpr std::uint64_t kBudgetGraceNs = 2'000'000'000;
}  // namespace

FleetLimits::FleetLimits(const Segment& segment, const TickClock& clock, std::vector<RateLimitConfig> rate_limits,
                         RetryBudgetConfig retry_budget)
    : segment_(&segment),
      clock_(&clock),
      budget_(retry_budget),
      requests_(std::max<std::uint32_t>(1, retry_budget.window_seconds)),
      retries_(std::max<std::uint32_t>(1, retry_budget.window_seconds)) {
  NameTable names(segment.names(), segment.geometry().name_capacity);
  for (RateLimitConfig& c : rate_limits) {
    const NameId group = names.intern(NameKind::RateGroup, c.group);
    if (!configure_rate_bucket(segment.rate_buckets(), group, c.requests, to_ns(c.period), c.burst, clock.calibration())) {
      ++stats_.buckets_refused;
      spdlog::error("rate limit '{}' not configured: every one of the {} shared buckets is taken", c.group, kRateBuckets);
      continue;
    }
    ++stats_.buckets_configured;
    Bucket b;
    b.shared = find_rate_bucket(segment.rate_buckets(), group);
    b.shrink_error = c.shrink_on_error.empty() ? kNoName : names.intern(NameKind::ErrorType, c.shrink_on_error);
    if (c.shrink_window.count() == 0) c.shrink_window = c.period;
    b.config = std::move(c);
    buckets_.push_back(std::move(b));
  }
  for (std::uint32_t i = 0; i < kRateBuckets; ++i) {
    RateBucket& shared = segment.rate_buckets()[i];
    const NameId group = static_cast<NameId>(shared.name_id.load(std::memory_order_relaxed));
    if (group == kNoName || std::any_of(buckets_.begin(), buckets_.end(), [&](const Bucket& b) { return b.shared == &shared; }))
      continue;
    release_rate_bucket(shared);
    ++stats_.buckets_cleared;
    NameTable::Name name;
    spdlog::info("rate limit '{}' is no longer configured: its shared bucket is freed (bots are not limited by it)",
                 names.read(group, name) ? safe_text(name.text) : "#" + std::to_string(group));
  }
  FleetHeader& fleet = segment.fleet();
  if (!budget_.enabled) fleet.retry_budget_enabled.store(0, std::memory_order_relaxed);
}

void FleetLimits::on_record(const Record& r, std::uint64_t now_ns) noexcept {
  if (r.kind == RecordKind::CallOutcome) {
    requests_.add(now_ns);
    if (r.flags & kFlagRetry) retries_.add(now_ns);
    return;
  }
  if (r.kind != RecordKind::Error) return;
  for (Bucket& b : buckets_) {
    if (b.shrink_error != r.name_id) continue;
    const auto base = b.shared->base_interval_ticks.load(std::memory_order_relaxed);
    const auto stretched = static_cast<std::uint64_t>(std::ceil(static_cast<double>(base) * b.config.shrink_factor));
    b.shared->interval_ticks.store(stretched, std::memory_order_relaxed);
    b.shared->shrunk_until_ticks.store(clock_->calibration().to_ticks(now_ns + to_ns(b.config.shrink_window)),
                                       std::memory_order_relaxed);
    if (b.shared->shrunk.exchange(1, std::memory_order_relaxed) == 0) {
      ++stats_.stretches;
      spdlog::info("rate limit '{}': {} from the exchange, slowing every bot to 1/{:.1f} of the rate for {} ms", b.config.group,
                   b.config.shrink_on_error, b.config.shrink_factor, b.config.shrink_window.count());
    }
    b.stretched_until_ns = now_ns + to_ns(b.config.shrink_window);
  }
}

void FleetLimits::tick(std::uint64_t now_ns) noexcept {
  for (Bucket& b : buckets_) {
    if (b.stretched_until_ns != 0 && now_ns >= b.stretched_until_ns) {
      b.shared->interval_ticks.store(b.shared->base_interval_ticks.load(std::memory_order_relaxed), std::memory_order_relaxed);
      b.shared->shrunk.store(0, std::memory_order_relaxed);
      b.stretched_until_ns = 0;
      spdlog::info("rate limit '{}': back to the configured rate", b.config.group);
    }
  }
  if (!budget_.enabled || now_ns < next_refill_ns_) return;
  next_refill_ns_ = now_ns + to_ns(budget_.refill_interval);
  const std::uint64_t requests = requests_.count(now_ns);
  const std::uint64_t retries = retries_.count(now_ns);
  const double allowed = std::max(static_cast<double>(budget_.min_retries), budget_.ratio * static_cast<double>(requests));
  const auto tokens = std::max<std::int64_t>(0, static_cast<std::int64_t>(allowed) - static_cast<std::int64_t>(retries));
  FleetHeader& fleet = segment_->fleet();
  fleet.retry_tokens.store(tokens, std::memory_order_relaxed);
  // Writers stop honouring this budget after this instant unless it is refilled again: a
  // dead reader's last budget must not refuse retries for ever (RetryBudget::try_take).
  fleet.retry_budget_valid_until_ns.store(now_ns + 2 * to_ns(budget_.refill_interval) + kBudgetGraceNs, std::memory_order_relaxed);
  fleet.retry_budget_enabled.store(1, std::memory_order_relaxed);
  fleet.retry_refill_seq.fetch_add(1, std::memory_order_relaxed);
  stats_.requests_in_window = requests;
  stats_.retries_in_window = retries;
  stats_.tokens_published = tokens;
  ++stats_.refills;
}

}  // namespace telering::reader
