#!/usr/bin/env python3
"""demo_bot.py — the Python twin of writer/demo/demo_bot.cpp: a simulated futures scanner
written against the seed's API (only the import line differs), with faults on a schedule
so telering-reader has something to decide.

Timeline (seconds, scaled by --duration / 60):
  0–10   normal scans and API calls
  10–18  rate-limit storm: api_rate_limit errors -> the reader's BACKOFF; API calls pause
         while the board says so
  20–28  connection errors inside RetryWithBackoff(component='market_scanner') -> failed
         outcomes; scans are skipped while that breaker is open
  34–44  slow scans (45–110 s simulated): health WARNING then CRITICAL
  44–60  back to normal

  TELERING_SEGMENT=rad-bot python3 demo_bot.py          # beside `telering-reader --segment rad-bot`
  python3 demo_bot.py --with-reader --duration 12       # starts its own reader on a fresh segment

telering is imported from the installed package (pip install writer/python) or from the
build tree (PYTHONPATH=build/python).
"""

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import telering
from telering import (CircuitBreakerOpenError, ErrorSeverity, RetryWithBackoff,
                      get_error_manager, get_health_check)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segment", default=os.environ.get("TELERING_SEGMENT", "telering"))
    ap.add_argument("--bot", default=os.environ.get("TELERING_BOT", "kucoin-futures-py"))
    ap.add_argument("--duration", type=float, default=60.0, help="seconds to run (the schedule scales with it)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quiet", action="store_true", help="print only changes")
    ap.add_argument("--with-reader", action="store_true",
                    help="start telering-reader ($TELERING_READER or PATH) on a fresh segment, check it decided")
    args = ap.parse_args()

    reader = None
    if args.with_reader:
        args.segment = f"telering-demo-py-{os.getpid()}"
        exe = os.environ.get("TELERING_READER") or shutil.which("telering-reader")
        if not exe:
            print("demo_bot.py: --with-reader needs telering-reader on PATH or $TELERING_READER", file=sys.stderr)
            return 2
        reader = subprocess.Popen([exe, "--segment", args.segment, "--log-level", "warn", "--report-interval", "1h"],
                                  stdout=subprocess.DEVNULL)
    try:
        return run(args, reader is not None)
    finally:
        telering.detach()
        if reader is not None:
            reader.send_signal(signal.SIGTERM)
            reader.wait(timeout=10)
            try:
                os.unlink(f"/dev/shm/{args.segment}")
            except FileNotFoundError:
                pass


def run(args, check: bool) -> int:
    telering.attach(segment=args.segment, bot=args.bot)
    health_check = get_health_check()
    error_manager = get_error_manager()
    monitor = health_check.performance_monitor
    w = telering.writer()

    scale = args.duration / 60.0
    storm, conn_errors, slow = (10 * scale, 18 * scale), (20 * scale, 28 * scale), (34 * scale, 44 * scale)
    within = lambda t, phase: phase[0] <= t < phase[1]  # noqa: E731
    rng = random.Random(args.seed)
    start = time.monotonic()

    def say(msg):
        print(f"[demo-bot.py {time.monotonic() - start:5.1f}s] {msg}", flush=True)

    if check:
        for _ in range(500):
            if w.reader_alive():
                break
            time.sleep(0.01)
    say(f"attached to '{args.segment}' as '{args.bot}'; reader {'alive' if w.reader_alive() else 'not running'}")

    retry = RetryWithBackoff(max_retries=3, backoff_base=2.0, error_manager=error_manager,
                             component="market_scanner", max_delay=0.05)
    seen = {"backoff": False, "breaker": "CLOSED", "health": None}
    scans = skipped_backoff = skipped_breaker = tick = 0

    while (t := time.monotonic() - start) < args.duration:
        tick += 1
        backing_off = error_manager.writer.in_backoff("api_rate_limit")
        if backing_off != seen["backoff"]:
            say("reader says BACK OFF api_rate_limit: pausing API calls" if backing_off else "backoff over")
            seen["backoff"] = backing_off
            seen["ever_backed_off"] = seen.get("ever_backed_off", False) or backing_off
        if backing_off:
            skipped_backoff += 1
        elif within(t, storm) and tick % 2 == 0:
            monitor.record_api_call(rng.uniform(1.5, 3.0), "orderbook")
            error_manager.record_error("api_rate_limit", "Rate limit exceeded", ErrorSeverity.MEDIUM,
                                       {"endpoint": "/api/v1/market/orderbook"})
        else:
            monitor.record_api_call(rng.uniform(0.2, 0.9), "orderbook" if tick % 3 else "ticker")

        state = error_manager.host_breaker_state("market_scanner")
        if state != seen["breaker"]:
            say(f"market_scanner breaker {seen['breaker']} -> {state}")
            seen["breaker"] = state
        if tick % 3 == 0:
            @retry
            def scan():
                if within(t, conn_errors):
                    raise ConnectionError("connection reset by peer")
                if within(t, slow):
                    return rng.uniform(45, 70) if t < (slow[0] + slow[1]) / 2 else rng.uniform(95, 110)
                return rng.uniform(20, 28)
            try:
                monitor.record_scan_time(scan())
                scans += 1
            except CircuitBreakerOpenError:
                skipped_breaker += 1
            except ConnectionError:
                monitor.record_error()  # retries exhausted: recorded as scan_error and failed outcomes

        monitor.update_memory_usage()
        if tick % 20 == 0:
            health = w.overall_health()
            if health != seen["health"] or not args.quiet:
                say(f"health {health} | scans {scans}, skipped for backoff {skipped_backoff}, "
                    f"for breaker {skipped_breaker}")
            seen["health"] = health
        if w.shutdown_requested():
            say("reader requested SHUTDOWN: stopping")
            break
        time.sleep(0.1)

    print(health_check.get_health_summary())
    mine = error_manager.get_error_statistics()
    host = error_manager.host_error_statistics()
    say(f"done: {scans} scans, {mine['total_errors']} errors recorded here, {host.get('total_errors', 0)} seen by "
        f"the reader for the host, {w.stats()['dropped']} dropped records")
    if check:
        report = health_check.host_report()
        ok = seen.get("ever_backed_off") and report.get("overall_status") != "UNKNOWN" and host.get("total_errors", 0) > 0
        if not ok:
            print("demo_bot.py: expected a BACKOFF decision and a report from the reader", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
