// breaker.cpp — CircuitBreaker transitions; the rules are stated in breaker.hpp.
#include "evaluate/breaker.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "telering/backoff.hpp"  // detail::backoff_seconds_to_ns / backoff_add_saturating

namespace telering::reader {
namespace {

constexpr std::uint64_t kNsPerSecond = 1'000'000'000ULL;

[[nodiscard]] double percent(std::uint32_t part, std::uint32_t whole) noexcept {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

[[noreturn]] void bad_config(const char* field, double value, const char* accepted) {
  throw std::invalid_argument(std::string("breaker config: ") + field + " = " + std::to_string(value) +
                              " is out of range; accepted: " + accepted);
}

}  // namespace

std::string_view to_string(BreakerState s) noexcept {
  switch (s) {
    case BreakerState::Closed: return "CLOSED";
    case BreakerState::Open: return "OPEN";
    case BreakerState::HalfOpen: return "HALF_OPEN";
    case BreakerState::ForcedOpen: return "FORCED_OPEN";
    case BreakerState::Disabled: return "DISABLED";
  }
  return "INVALID";
}

std::string_view to_string(BreakerRule r) noexcept {
  switch (r) {
    case BreakerRule::FailureRate: return "failure_rate";
    case BreakerRule::SlowCallRate: return "slow_call_rate";
    case BreakerRule::ConsecutiveFailures: return "consecutive_failures";
    case BreakerRule::Timeout: return "timeout";
    case BreakerRule::ProbeSucceeded: return "probe_succeeded";
    case BreakerRule::ProbeFailed: return "probe_failed";
    case BreakerRule::Manual: return "manual";
    case BreakerRule::Forced: return "forced";
    case BreakerRule::Disabled: return "disabled";
    case BreakerRule::Reset: return "reset";
    case BreakerRule::Quorum: return "quorum";
    case BreakerRule::Takeover: return "takeover";
  }
  return "invalid";
}

void BreakerConfig::validate() const {
  // A window of a million calls (or ~11.5 days of seconds) bounds the memory a config can ask for.
  constexpr std::uint32_t kMaxWindow = 1'000'000;
  if (sliding_window_size == 0 || sliding_window_size > kMaxWindow)
    bad_config("sliding_window_size", sliding_window_size, "1..1000000");
  if (minimum_number_of_calls == 0) bad_config("minimum_number_of_calls", 0, ">= 1");
  if (!(failure_rate_threshold > 0.0 && failure_rate_threshold <= 100.0))
    bad_config("failure_rate_threshold", failure_rate_threshold, "(0, 100] percent");
  if (!(slow_call_duration_threshold > 0.0 && std::isfinite(slow_call_duration_threshold)))
    bad_config("slow_call_duration_threshold", slow_call_duration_threshold, "> 0 seconds");
  if (!(slow_call_rate_threshold > 0.0 && slow_call_rate_threshold <= 100.0))
    bad_config("slow_call_rate_threshold", slow_call_rate_threshold, "(0, 100] percent (100 = off)");
  if (!(wait_duration_in_open >= 0.0 && std::isfinite(wait_duration_in_open)))
    bad_config("wait_duration_in_open", wait_duration_in_open, ">= 0 seconds, finite");
  if (!(wait_duration_multiplier >= 1.0 && std::isfinite(wait_duration_multiplier)))
    bad_config("wait_duration_multiplier", wait_duration_multiplier, ">= 1, finite");
  if (!(max_wait_duration_in_open >= 0.0 && std::isfinite(max_wait_duration_in_open)))
    bad_config("max_wait_duration_in_open", max_wait_duration_in_open, ">= 0 seconds (0 = no cap)");
  if (permitted_calls_in_half_open == 0) bad_config("permitted_calls_in_half_open", 0, ">= 1");
  if (!(max_wait_in_half_open >= 0.0 && std::isfinite(max_wait_in_half_open)))
    bad_config("max_wait_in_half_open", max_wait_in_half_open, ">= 0 seconds (0 = no limit)");
  if (quorum == 0) bad_config("quorum", 0, ">= 1");
  if (!(quorum_fraction >= 0.0 && quorum_fraction <= 1.0)) bad_config("quorum_fraction", quorum_fraction, "[0, 1]");
  if (!(quorum_window > 0.0 && quorum_window <= 86400.0)) bad_config("quorum_window", quorum_window, "(0, 86400] seconds");
  if (!(probe_lease > 0.0 && probe_lease <= 86400.0)) bad_config("probe_lease", probe_lease, "(0, 86400] seconds");
}

CircuitBreaker::CircuitBreaker(const BreakerConfig& config) : config_(config) {
  config_.validate();
  allocate_window();
}

// All window memory is allocated here (construction or reconfigure), once: nothing grows
// with traffic or time.
void CircuitBreaker::allocate_window() {
  // resilience4j: a count-based window can never hold more calls than its size, so a larger
  // minimum would switch the rate rules off; clamp it instead.
  minimum_calls_ = config_.sliding_window_type == BreakerConfig::WindowType::CountBased
                       ? std::min(config_.minimum_number_of_calls, config_.sliding_window_size)
                       : config_.minimum_number_of_calls;
  ring_.clear();
  buckets_.clear();
  if (config_.sliding_window_type == BreakerConfig::WindowType::CountBased)
    ring_.assign(config_.sliding_window_size, 0);
  else
    buckets_.assign(config_.sliding_window_size, Bucket{});
  ring_next_ = 0;
  newest_second_ = 0;
  calls_ = failures_ = slow_ = 0;
}

std::vector<std::uint8_t> CircuitBreaker::window_calls() const {
  std::vector<std::uint8_t> out;
  if (ring_.empty()) return out;
  out.reserve(calls_);
  // The ring fills from slot 0, so until it is full the oldest call is slot 0; once full,
  // the oldest is the slot the next call overwrites.
  const std::size_t start = calls_ == ring_.size() ? ring_next_ : 0;
  for (std::size_t i = 0; i < calls_; ++i) out.push_back(ring_[(start + i) % ring_.size()]);
  return out;
}

std::vector<CircuitBreaker::Bucket> CircuitBreaker::window_buckets() const {
  std::vector<Bucket> out;
  for (const Bucket& b : buckets_)
    if (b.calls != 0) out.push_back(b);
  return out;
}

void CircuitBreaker::load_window(const std::vector<std::uint8_t>& calls, const std::vector<Bucket>& buckets,
                                 std::uint64_t newest_second) noexcept {
  if (!ring_.empty()) {
    const std::size_t keep = std::min(calls.size(), ring_.size());
    for (std::size_t i = calls.size() - keep; i < calls.size(); ++i) {
      ring_[ring_next_] = static_cast<std::uint8_t>(calls[i] & (kCallFailed | kCallSlow));
      ring_next_ = (ring_next_ + 1) % ring_.size();
      ++calls_;
      failures_ += (calls[i] & kCallFailed) ? 1 : 0;
      slow_ += (calls[i] & kCallSlow) ? 1 : 0;
    }
  } else if (!buckets_.empty()) {
    newest_second_ = newest_second;
    const std::uint64_t size = buckets_.size();
    for (const Bucket& b : buckets) {
      // Only seconds inside [newest - size + 1, newest] belong to the window.
      if (b.second > newest_second || newest_second - b.second >= size) continue;
      Bucket& slot = buckets_[b.second % size];
      slot = b;
      calls_ += b.calls;
      failures_ += b.failures;
      slow_ += b.slow;
    }
  }
}

void CircuitBreaker::reconfigure(const BreakerConfig& config) {
  config.validate();  // before anything changes
  const bool same_type = config.sliding_window_type == config_.sliding_window_type;
  const std::vector<std::uint8_t> calls = window_calls();
  const std::vector<Bucket> buckets = window_buckets();
  const std::uint64_t newest = newest_second_;
  config_ = config;
  allocate_window();
  if (same_type) load_window(calls, buckets, newest);
}

void CircuitBreaker::clear_window() noexcept {
  std::fill(ring_.begin(), ring_.end(), std::uint8_t{0});
  ring_next_ = 0;
  std::fill(buckets_.begin(), buckets_.end(), Bucket{});
  newest_second_ = 0;
  calls_ = failures_ = slow_ = 0;
  consecutive_failures_ = 0;
}

// Drops buckets that fell out of [now_second - size + 1, now_second]. Time that goes
// backwards (a replay glitch) is treated as the newest second seen: never un-forgets.
void CircuitBreaker::advance_time_window(std::uint64_t now_ns) noexcept {
  if (buckets_.empty()) return;
  const std::uint64_t now_second = now_ns / kNsPerSecond;
  if (now_second <= newest_second_) return;
  const std::uint64_t size = buckets_.size();
  const std::uint64_t gap = now_second - newest_second_;
  const std::uint64_t to_clear = std::min(gap, size);
  for (std::uint64_t i = 1; i <= to_clear; ++i) {
    Bucket& b = buckets_[(newest_second_ + i) % size];
    calls_ -= b.calls;
    failures_ -= b.failures;
    slow_ -= b.slow;
    b = Bucket{newest_second_ + i, 0, 0, 0};
  }
  newest_second_ = now_second;
}

void CircuitBreaker::record(bool failed, bool slow, std::uint64_t now_ns) noexcept {
  if (!ring_.empty()) {
    std::uint8_t& slot = ring_[ring_next_];
    if (calls_ == ring_.size()) {  // full: the oldest call leaves as this one enters
      failures_ -= (slot & kCallFailed) ? 1 : 0;
      slow_ -= (slot & kCallSlow) ? 1 : 0;
    } else {
      ++calls_;
    }
    slot = static_cast<std::uint8_t>((failed ? kCallFailed : 0) | (slow ? kCallSlow : 0));
    ring_next_ = (ring_next_ + 1) % ring_.size();
  } else {
    advance_time_window(now_ns);
    Bucket& b = buckets_[newest_second_ % buckets_.size()];
    b.second = newest_second_;
    ++b.calls;
    ++calls_;
    if (failed) ++b.failures;
    if (slow) ++b.slow;
  }
  failures_ += failed ? 1 : 0;
  slow_ += slow ? 1 : 0;
  consecutive_failures_ = failed ? consecutive_failures_ + 1 : 0;
}

double CircuitBreaker::window_failure_rate() const noexcept { return percent(failures_, calls_); }
double CircuitBreaker::window_slow_rate() const noexcept { return percent(slow_, calls_); }

std::uint64_t CircuitBreaker::wait_ns_for_trip(std::uint64_t trip_number) const noexcept {
  double wait = config_.wait_duration_in_open;
  // Repeated multiplication (not pow) for bit-identical replays; stops once at the cap or
  // past 2^64 ns, so the loop is short whatever trip_number is.
  const double cap = config_.max_wait_duration_in_open > 0.0 ? std::max(config_.max_wait_duration_in_open, wait)
                                                              : 0x1.0p64 / 1e9;
  for (std::uint64_t i = 1; i < trip_number && wait < cap && config_.wait_duration_multiplier > 1.0; ++i)
    wait *= config_.wait_duration_multiplier;
  return telering::detail::backoff_seconds_to_ns(std::min(wait, cap));
}

std::uint64_t CircuitBreaker::next_wait_ns() const noexcept { return wait_ns_for_trip(trips_since_closed_ + 1); }

BreakerTransition CircuitBreaker::transition(BreakerState to, BreakerRule rule, std::uint64_t now_ns,
                                             double failure_rate, double slow_rate) noexcept {
  BreakerTransition t{state_, to, rule, now_ns, failure_rate, slow_rate};
  state_ = to;
  ++transitions_;
  last_ = t;
  return t;
}

void CircuitBreaker::enter_open(std::uint64_t now_ns, std::uint64_t wait_ns) noexcept {
  open_until_ns_ = telering::detail::backoff_add_saturating(now_ns, wait_ns);
  probe_calls_ = probe_failures_ = probe_slow_ = 0;
}

// Every way into CLOSED starts from an empty window: the calls that tripped the breaker
// must not trip it again the moment it closes.
void CircuitBreaker::enter_closed() noexcept {
  clear_window();
  open_until_ns_ = 0;
  probe_calls_ = probe_failures_ = probe_slow_ = 0;
  trips_since_closed_ = 0;
}

void CircuitBreaker::enter_half_open(std::uint64_t now_ns) noexcept {
  open_until_ns_ = 0;
  half_open_since_ns_ = now_ns;
  probe_calls_ = probe_failures_ = probe_slow_ = 0;
}

std::optional<BreakerTransition> CircuitBreaker::maybe_half_open(std::uint64_t now_ns) noexcept {
  if (state_ != BreakerState::Open || now_ns < open_until_ns_) return std::nullopt;
  enter_half_open(now_ns);
  return transition(BreakerState::HalfOpen, BreakerRule::Timeout, now_ns, window_failure_rate(), window_slow_rate());
}

std::optional<BreakerTransition> CircuitBreaker::on_outcome(bool success, double duration_seconds,
                                                            std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  ++outcomes_;
  // NaN compares false, so a NaN or negative duration is "not slow".
  const bool slow = duration_seconds > config_.slow_call_duration_threshold;
  const bool failed = !success;
  std::optional<BreakerTransition> result = maybe_half_open(now_ns);

  switch (state_) {
    case BreakerState::Closed: {
      record(failed, slow, now_ns);
      const double fr = window_failure_rate();
      const double sr = window_slow_rate();
      std::optional<BreakerRule> rule;
      if (calls_ >= minimum_calls_ && fr >= config_.failure_rate_threshold)
        rule = BreakerRule::FailureRate;
      else if (calls_ >= minimum_calls_ && slow_rule_on() && sr >= config_.slow_call_rate_threshold)
        rule = BreakerRule::SlowCallRate;
      else if (config_.consecutive_failures_threshold > 0 &&
               consecutive_failures_ >= config_.consecutive_failures_threshold)
        rule = BreakerRule::ConsecutiveFailures;
      if (rule) {
        ++trips_;
        ++trips_since_closed_;
        enter_open(now_ns, wait_ns_for_trip(trips_since_closed_));
        result = transition(BreakerState::Open, *rule, now_ns, fr, sr);
      }
      break;
    }
    case BreakerState::HalfOpen: {
      // Invariant: probe_calls_ < permitted here, because the last permitted probe always
      // leaves HALF_OPEN; outcomes arriving after it land in the new state.
      ++probe_calls_;
      probe_failures_ += failed ? 1 : 0;
      probe_slow_ += slow ? 1 : 0;
      if (probe_calls_ < config_.permitted_calls_in_half_open) break;
      const double fr = percent(probe_failures_, probe_calls_);
      const double sr = percent(probe_slow_, probe_calls_);
      if (fr >= config_.failure_rate_threshold || (slow_rule_on() && sr >= config_.slow_call_rate_threshold)) {
        ++trips_;
        ++trips_since_closed_;
        enter_open(now_ns, wait_ns_for_trip(trips_since_closed_));
        result = transition(BreakerState::Open, BreakerRule::ProbeFailed, now_ns, fr, sr);
      } else {
        enter_closed();
        result = transition(BreakerState::Closed, BreakerRule::ProbeSucceeded, now_ns, fr, sr);
      }
      break;
    }
    case BreakerState::Open:
    case BreakerState::ForcedOpen:
    case BreakerState::Disabled:
      ++not_permitted_;
      break;
  }
  return result;
}

std::optional<BreakerTransition> CircuitBreaker::tick(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (state_ == BreakerState::Closed) {
    advance_time_window(now_ns);
    return std::nullopt;
  }
  if (state_ == BreakerState::HalfOpen && config_.max_wait_in_half_open > 0.0) {
    const std::uint64_t deadline = telering::detail::backoff_add_saturating(
        half_open_since_ns_, telering::detail::backoff_seconds_to_ns(config_.max_wait_in_half_open));
    if (now_ns >= deadline) {
      const double fr = percent(probe_failures_, probe_calls_);
      const double sr = percent(probe_slow_, probe_calls_);
      ++trips_;
      ++trips_since_closed_;
      enter_open(now_ns, wait_ns_for_trip(trips_since_closed_));
      return transition(BreakerState::Open, BreakerRule::Timeout, now_ns, fr, sr);
    }
    return std::nullopt;
  }
  return maybe_half_open(now_ns);
}

std::optional<BreakerTransition> CircuitBreaker::open(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  // Re-opening an OPEN breaker restarts its wait (the seed's open_circuit_breaker sets a
  // fresh timeout every call), which is a state change worth recording.
  enter_open(now_ns, wait_ns_for_trip(1));
  return transition(BreakerState::Open, BreakerRule::Manual, now_ns, window_failure_rate(), window_slow_rate());
}

std::optional<BreakerTransition> CircuitBreaker::trip(std::uint64_t now_ns, BreakerRule rule) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (state_ != BreakerState::Closed && state_ != BreakerState::HalfOpen) return std::nullopt;
  const double failure_rate = window_failure_rate();
  const double slow_rate = window_slow_rate();
  ++trips_;
  ++trips_since_closed_;
  enter_open(now_ns, wait_ns_for_trip(trips_since_closed_));
  return transition(BreakerState::Open, rule, now_ns, failure_rate, slow_rate);
}

BreakerTransition CircuitBreaker::adopt_open(std::uint64_t now_ns, std::uint64_t open_until_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  ++trips_;
  ++trips_since_closed_;
  enter_open(now_ns, 0);
  open_until_ns_ = open_until_ns;
  return transition(BreakerState::Open, BreakerRule::Takeover, now_ns, window_failure_rate(), window_slow_rate());
}

std::optional<BreakerTransition> CircuitBreaker::close(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (state_ == BreakerState::Closed) return std::nullopt;
  enter_closed();
  return transition(BreakerState::Closed, BreakerRule::Manual, now_ns, 0.0, 0.0);
}

std::optional<BreakerTransition> CircuitBreaker::force_open(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (state_ == BreakerState::ForcedOpen) return std::nullopt;
  open_until_ns_ = 0;
  return transition(BreakerState::ForcedOpen, BreakerRule::Forced, now_ns, window_failure_rate(), window_slow_rate());
}

std::optional<BreakerTransition> CircuitBreaker::disable(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  if (state_ == BreakerState::Disabled) return std::nullopt;
  open_until_ns_ = 0;
  return transition(BreakerState::Disabled, BreakerRule::Disabled, now_ns, window_failure_rate(), window_slow_rate());
}

BreakerTransition CircuitBreaker::reset(std::uint64_t now_ns) noexcept {
  last_now_ns_ = std::max(last_now_ns_, now_ns);
  enter_closed();
  trips_ = 0;
  not_permitted_ = 0;
  return transition(BreakerState::Closed, BreakerRule::Reset, now_ns, 0.0, 0.0);
}

bool CircuitBreaker::is_open(std::uint64_t now_ns) const noexcept {
  return state_ == BreakerState::ForcedOpen || (state_ == BreakerState::Open && now_ns < open_until_ns_);
}

BreakerMetrics CircuitBreaker::metrics() const noexcept {
  BreakerMetrics m;
  m.state = state_;
  m.calls_in_window = calls_;
  m.outcomes = outcomes_;
  m.failed_calls_in_window = failures_;
  m.slow_calls_in_window = slow_;
  m.failure_rate = window_failure_rate();
  m.slow_call_rate = window_slow_rate();
  m.consecutive_failures = consecutive_failures_;
  m.probe_calls = probe_calls_;
  m.probe_failures = probe_failures_;
  m.trips = trips_;
  m.not_permitted_calls = not_permitted_;
  m.transitions = transitions_;
  m.open_until_ns = open_until_ns_;
  return m;
}

}  // namespace telering::reader
