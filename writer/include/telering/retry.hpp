// telering/retry.hpp — the seed's RetryWithBackoff, steered by the reader's decisions.
//
// retry_with_backoff(w, "api_connection", {.max_retries = 3, .backoff_base = 2.0}, fn) calls
// fn; when it throws, the failure is recorded (an Error of that type, and a failed
// call_outcome for the component if one is named) and fn is called again after a delay,
// up to max_retries times, then the last exception is rethrown. The delay is the seed's
// backoff_base ** attempt seconds (1, 2, 4, ...; or any BackoffPolicy, with a cap and
// jitter), and never shorter than the reader's backoff-until for the error type: one bot's
// errors make every bot on the host back off. While the component's breaker is OPEN, fn is
// not called at all and BreakerOpenError is thrown. Success records a successful outcome.
// Each retry takes a token from the host's retry budget (the reader refills it so retries
// stay a small fraction of requests); when none is left the last failure is rethrown at once
// and counted in the metric "retry_budget_exhausted".
//
// Not for the recording hot path: it sleeps. Sleeping is injectable for tests.
#pragma once

#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>

#include "telering/core/backoff.hpp"
#include "telering/core/clock.hpp"
#include "telering/writer.hpp"

namespace telering {

class BreakerOpenError : public std::runtime_error {
 public:
  explicit BreakerOpenError(std::string_view component)
      : std::runtime_error("circuit breaker '" + std::string(component) + "' is open") {}
};

struct RetryOptions {
  std::uint32_t max_retries = 3;  // the seed's max_retries: calls after the first one
  double backoff_base = 2.0;      // the seed's backoff_base: delay = base ** attempt seconds
  std::optional<BackoffPolicy> policy;     // overrides max_retries/backoff_base when set
  std::string_view component;              // breaker to honour and feed; empty = none
  Severity severity = Severity::Medium;    // of the recorded errors
  bool honour_board = true;                // wait out the reader's backoff-until, skip open breakers, spend the retry budget
  std::uint64_t seed = 0x7E1E51A6ULL;      // jitter
  std::function<void(std::chrono::nanoseconds)> sleep;  // default: std::this_thread::sleep_for
};

namespace detail {
inline std::string_view what_of(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "non-standard exception";
  }
}
}  // namespace detail

template <typename Fn>
auto retry_with_backoff(Writer& w, std::string_view error_type, RetryOptions options, Fn&& fn) -> std::invoke_result_t<Fn&> {
  BackoffPolicy policy = options.policy ? *options.policy : BackoffPolicy::seed_compatible(options.max_retries, options.backoff_base);
  Backoff backoff(policy, options.seed);
  const NameId type_id = w.error_type(error_type);
  const NameId component_id = options.component.empty() ? kNoName : w.component(options.component);
  auto sleep = options.sleep ? options.sleep : [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); };
  RetryBudget budget = w.retry_budget();
  bool retrying = false;
  for (;;) {
    if (options.honour_board && component_id != kNoName && w.breaker_open(component_id))
      throw BreakerOpenError(options.component);
    const std::uint64_t started = monotonic_ns();
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<Fn&>>) {
        fn();
        if (component_id != kNoName) w.call_outcome(component_id, true, static_cast<double>(monotonic_ns() - started) / 1e9, retrying);
        return;
      } else {
        auto result = fn();
        if (component_id != kNoName) w.call_outcome(component_id, true, static_cast<double>(monotonic_ns() - started) / 1e9, retrying);
        return result;
      }
    } catch (const BreakerOpenError&) {
      throw;
    } catch (...) {
      const std::exception_ptr failure = std::current_exception();
      if (component_id != kNoName) w.call_outcome(component_id, false, static_cast<double>(monotonic_ns() - started) / 1e9, retrying);
      w.error(type_id, options.severity, detail::what_of(failure), component_id);
      const std::optional<std::uint64_t> delay = backoff.next_delay_ns();
      if (!delay) std::rethrow_exception(failure);
      if (options.honour_board && budget.try_take() == Acquire::Refused) {
        w.counter("retry_budget_exhausted");
        std::rethrow_exception(failure);
      }
      retrying = true;
      std::uint64_t wait = *delay;
      if (options.honour_board) {
        const std::uint64_t until = w.backoff_until(error_type);
        const std::uint64_t now = monotonic_ns();
        if (until > now && until - now > wait) wait = until - now;
      }
      sleep(std::chrono::nanoseconds(wait));
    }
  }
}

}  // namespace telering
