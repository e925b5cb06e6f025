// telering-demo-bot: a simulated KuCoin futures scanner that uses the writer library the way a
// real bot would, and injects faults on a schedule so the reader has something to decide.
//
// Timeline (seconds since start, scaled by --duration / 60):
//   0–10   normal scans (20–28 s simulated), API calls, memory growing slowly
//   10–18  rate-limit storm: orderbook calls fail with api_rate_limit -> the reader's BACKOFF;
//          the bot skips API calls while w.in_backoff("api_rate_limit")
//   20–28  connection errors (--connection-errors-at moves them): market_scanner calls fail
//          -> this bot's own breaker opens (the demo config's scope is "host"); once a quorum
//          of 2 bots fails, the host-wide breaker opens for every bot; the bot skips scans
//          while w.breaker_open("market_scanner") and, when it is HALF_OPEN, probes only if it
//          got one of the host-wide probe permits
//   34–44  slow scans (45–110 s simulated): health WARNING then CRITICAL
//   44–60  back to normal: health returns to HEALTHY
// Every API call first takes a slot from the host-wide "kucoin_public" rate limiter, which
// the reader configures and shrinks after rate-limit errors; several bots share it.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include "telering/core/clock.hpp"
#include "telering/retry.hpp"
#include "telering/writer.hpp"

namespace {

struct Phase {
  double start, end;
  [[nodiscard]] bool contains(double t) const noexcept { return t >= start && t < end; }
};

std::string_view to_text(telering::BreakerState s) {
  switch (s) {
    case telering::BreakerState::Closed: return "CLOSED";
    case telering::BreakerState::Open: return "OPEN";
    case telering::BreakerState::HalfOpen: return "HALF_OPEN";
    case telering::BreakerState::ForcedOpen: return "FORCED_OPEN";
    case telering::BreakerState::Disabled: return "DISABLED";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"telering-demo-bot: a simulated futures scanner that records into telering and injects faults"};
  std::string segment = "telering";
  std::string bot = "kucoin-futures-1";
  double duration = 60.0;
  std::uint64_t seed = 42;
  bool quiet = false;
  double connection_errors_at = 20.0;
  app.add_option("--segment", segment, "segment name")->capture_default_str();
  app.add_option("--bot", bot, "bot instance name")->capture_default_str();
  app.add_option("--duration", duration, "seconds to run (the fault schedule scales with it)")->capture_default_str()->check(CLI::Range(6.0, 86400.0));
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_flag("--quiet", quiet, "print only phase changes");
  app.add_option("--connection-errors-at", connection_errors_at,
                 "second of the 60 s schedule at which 8 s of connection errors start")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 52.0));
  CLI11_PARSE(app, argc, argv);

  const double scale = duration / 60.0;
  const Phase rate_limit_storm{10 * scale, 18 * scale};
  const Phase connection_errors{connection_errors_at * scale, (connection_errors_at + 8) * scale};
  const Phase slow_scans{34 * scale, 44 * scale};

  telering::WriterOptions options;
  options.segment = segment;
  options.bot = bot;
  telering::Writer w = [&] {
    try {
      return telering::Writer::attach(options);
    } catch (const telering::SegmentError& e) {
      std::fprintf(stderr, "telering-demo-bot: %s\n", e.what());
      std::exit(1);
    }
  }();
  const telering::NameId scanner = w.component("market_scanner");
  const telering::NameId orderbook = w.endpoint("orderbook");
  const telering::NameId ticker = w.endpoint("ticker");
  const telering::NameId rate_limit = w.error_type("api_rate_limit");
  // The host's shared request budget for KuCoin's public endpoints ([[rate_limits]] in the
  // reader's config): every bot on the host draws from the same bucket.
  telering::RateLimiter quota = w.rate_limiter("kucoin_public");

  std::mt19937_64 rng(seed);
  auto uniform = [&](double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); };
  double memory_mb = 210.0;
  std::uint64_t scans = 0, skipped_backoff = 0, skipped_breaker = 0, skipped_quota = 0;
  bool was_backing_off = false;
  telering::BreakerState last_breaker = telering::BreakerState::Closed;
  telering::BreakerState last_own = telering::BreakerState::Closed;
  bool was_probing = false;
  std::string last_health;
  const std::uint64_t start = telering::monotonic_ns();
  auto elapsed = [&] { return static_cast<double>(telering::monotonic_ns() - start) / 1e9; };
  auto say = [&](const char* fmt, auto... args) {
    std::printf("[%s %5.1fs] ", bot.c_str(), elapsed());
    std::printf(fmt, args...);
    std::printf("\n");
    std::fflush(stdout);
  };
  say("attached to segment '%s' as bot '%s'; reader %s", segment.c_str(), bot.c_str(),
      w.reader_alive() ? "alive" : "not running (records wait in the rings)");

  std::uint64_t tick = 0;
  while (elapsed() < duration) {
    const double t = elapsed();
    ++tick;

    // API calls, unless the reader asked every bot to back off.
    if (!quota.configured()) quota = w.rate_limiter("kucoin_public");  // the reader may start after us
    const bool backing_off = w.in_backoff(rate_limit);
    if (backing_off != was_backing_off) {
      if (backing_off) say("reader says BACK OFF api_rate_limit: pausing API calls");
      else say("backoff over: API calls resume");
      was_backing_off = backing_off;
    }
    if (backing_off) {
      ++skipped_backoff;
    } else if (quota.try_acquire() == telering::Acquire::Refused) {
      ++skipped_quota;  // over the host's shared quota: wait for the next slot
    } else if (rate_limit_storm.contains(t) && tick % 2 == 0) {
      w.api_call(uniform(1.5, 3.0), orderbook);
      w.error(rate_limit, telering::Severity::Medium, "endpoint=/api/v1/market/orderbook");
    } else {
      w.api_call(uniform(0.2, 0.9), tick % 3 ? orderbook : ticker);
    }

    // A scan, unless the market_scanner breaker is open: the host-wide one, or this bot's own.
    const telering::BreakerState breaker = w.board().breaker_state(scanner);
    if (breaker != last_breaker) {
      say("market_scanner host-wide breaker %s -> %s", std::string(to_text(last_breaker)).c_str(), std::string(to_text(breaker)).c_str());
      last_breaker = breaker;
    }
    if (w.board().flags(scanner) & telering::kEntryPerBotBreakers) {
      const telering::BreakerState own = w.board().breaker_state(w.own_breaker(scanner));
      if (own != last_own) {
        say("market_scanner breaker of this bot %s -> %s", std::string(to_text(last_own)).c_str(), std::string(to_text(own)).c_str());
        last_own = own;
      }
    }
    const bool blocked = w.breaker_open(scanner);
    const bool probing = !blocked && (breaker == telering::BreakerState::HalfOpen || last_own == telering::BreakerState::HalfOpen);
    if (probing && !was_probing) say("got a half-open probe permit for market_scanner: probing");
    was_probing = probing;
    if (blocked) {
      ++skipped_breaker;
    } else if (tick % 3 == 0 || probing) {
      telering::RetryOptions retry;
      retry.component = "market_scanner";
      retry.severity = telering::Severity::High;
      retry.policy = telering::BackoffPolicy{0.05, 2.0, 0.5, telering::BackoffPolicy::Jitter::Full, 2, 2.0};
      try {
        const double scan_seconds = telering::retry_with_backoff(w, "api_connection", retry, [&] {
          if (connection_errors.contains(t)) throw std::runtime_error("connection reset by peer");
          return slow_scans.contains(t) ? (t < slow_scans.start + (slow_scans.end - slow_scans.start) / 2 ? uniform(45, 70) : uniform(95, 110))
                                        : uniform(20, 28);
        });
        w.scan_time(scan_seconds);
        ++scans;
      } catch (const telering::BreakerOpenError&) {
        ++skipped_breaker;
      } catch (const std::exception&) {
        // Retries exhausted: already recorded as errors and failed outcomes.
      }
    }

    memory_mb += uniform(0.0, 0.6);
    w.memory_bytes(memory_mb * 1024 * 1024);
    w.heartbeat();

    if (tick % 20 == 0) {
      const telering::HealthStatus h = w.overall_health();
      const char* names[] = {"UNKNOWN", "HEALTHY", "WARNING", "CRITICAL"};
      const std::string health = names[static_cast<int>(h) & 3];
      if (health != last_health || !quiet)
        say("health %s | scans %llu, API calls held back: backoff %llu, shared quota %llu; scans skipped for breaker %llu",
            health.c_str(), static_cast<unsigned long long>(scans), static_cast<unsigned long long>(skipped_backoff),
            static_cast<unsigned long long>(skipped_quota), static_cast<unsigned long long>(skipped_breaker));
      last_health = health;
    }
    if (w.shutdown_requested()) {
      say("reader requested SHUTDOWN: stopping");
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const telering::WriterStats s = w.stats();
  say("done: %llu scans, %llu dropped records", static_cast<unsigned long long>(scans), static_cast<unsigned long long>(s.dropped));
  return 0;
}
