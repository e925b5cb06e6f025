// evaluate/fleet_limits_reader.hpp — the reader's side of the host-wide limits (the writer's
// side: telering/core/fleet_limits_writer.hpp): it configures the shared rate buckets,
// stretches a bucket while the exchange answers with rate-limit errors, and refills the retry
// budget from what every bot on the host did.
//
// Retry budget: over the last `window`, retries may be at most `ratio` of requests, with a
// floor of `min_retries` (so a quiet host can still retry). Requests are the CallOutcome
// records; retries are those flagged kFlagRetry (retry_with_backoff flags them). Every
// `refill_interval` the reader stores tokens = max(min_retries, ratio * requests) - retries,
// never below 0. Writers take tokens with a CAS; the reader's store replaces what is left.
//
// Deterministic: every method takes the monotonic time from its caller.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "aggregate/rolling_window.hpp"
#include "telering/core/fleet_limits_writer.hpp"
#include "telering/core/name_table.hpp"
#include "telering/core/record.hpp"
#include "telering/core/segment.hpp"

namespace telering::reader {

struct RateLimitConfig {
  std::string group;                       // the name bots pass to Writer::rate_limiter
  std::uint64_t requests = 0;              // per period
  std::chrono::milliseconds period{1000};
  std::uint64_t burst = 1;
  std::string shrink_on_error = "api_rate_limit";  // this error type stretches the bucket...
  double shrink_factor = 2.0;              // ...to interval * factor...
  std::chrono::milliseconds shrink_window{0};      // ...for this long (0 = one period)
};

struct RetryBudgetConfig {
  bool enabled = true;
  double ratio = 0.10;                     // retries allowed per request
  std::uint32_t min_retries = 10;          // per window, whatever the traffic
  std::uint32_t window_seconds = 10;
  std::chrono::milliseconds refill_interval{1000};
};

struct FleetLimitsStats {
  std::uint64_t requests_in_window = 0;
  std::uint64_t retries_in_window = 0;
  std::int64_t tokens_published = 0;
  std::uint64_t refills = 0;
  std::uint64_t stretches = 0;             // bucket stretched after a rate-limit error
  std::uint64_t buckets_configured = 0;
  std::uint64_t buckets_refused = 0;       // more groups than kRateBuckets
  std::uint64_t buckets_cleared = 0;       // buckets of groups no longer configured, freed
};

class FleetLimits {
 public:
  // Configures a bucket per group and frees every bucket of a group no longer configured
  // (a previous config's or a previous reader's): its bots run unlimited, not frozen at a
  // rate nobody maintains. `clock` converts deadlines to ticks and must outlive this.
  FleetLimits(const Segment& segment, const TickClock& clock, std::vector<RateLimitConfig> rate_limits,
              RetryBudgetConfig retry_budget);

  // Counts requests and retries; stretches a bucket on its rate-limit error.
  void on_record(const Record& r, std::uint64_t now_ns) noexcept;
  // Refills the retry budget and ends stretches whose window has passed.
  void tick(std::uint64_t now_ns) noexcept;

  [[nodiscard]] const FleetLimitsStats& stats() const noexcept { return stats_; }

 private:
  struct Bucket {
    RateLimitConfig config;
    RateBucket* shared = nullptr;
    NameId shrink_error = kNoName;
    std::uint64_t stretched_until_ns = 0;
  };

  const Segment* segment_;
  const TickClock* clock_;
  RetryBudgetConfig budget_;
  std::vector<Bucket> buckets_;
  RateWindow requests_;
  RateWindow retries_;
  std::uint64_t next_refill_ns_ = 0;
  FleetLimitsStats stats_;
};

}  // namespace telering::reader
