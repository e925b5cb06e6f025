#!/usr/bin/env python3
"""bench_python.py — cost of one record from Python: telering (ctypes over libtelering.so)
next to the seed's pure-Python approach (threading.Lock + collections.deque(maxlen=100)),
in the same run, with timeit repetitions.

    TELERING_LIB=build/writer/libtelering.so TELERING_READER=build/reader/telering-reader \
        PYTHONPATH=writer/python python3 bench/bench_python.py [--number 200000] [--repeat 7]

A telering-reader drains the segment during the run (started here when found), so the
telering figures are the recording path, not the cheaper lane-full drop path; drops are
reported. Figures: per-call ns, min and median over the repetitions (interleaved across cases).
"""

import argparse
import collections
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import timeit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "writer", "python"))
import telering  # noqa: E402
from telering import ErrorSeverity  # noqa: E402


# ---- The seed's pure-Python approach (bot_health_check.py / error_recovery.py style) --------
class SeedPerformanceMonitor:
    def __init__(self):
        self.lock = threading.Lock()
        self.scan_times = collections.deque(maxlen=100)
        self.api_latencies = collections.deque(maxlen=100)
        self.memory_samples = collections.deque(maxlen=100)
        self.error_count = 0

    def record_scan_time(self, duration):
        with self.lock:
            self.scan_times.append(duration)

    def record_api_call(self, duration):
        with self.lock:
            self.api_latencies.append(duration)

    def record_error(self):
        with self.lock:
            self.error_count += 1


class SeedErrorRecord:
    __slots__ = ("error_type", "message", "severity", "context", "timestamp")

    def __init__(self, error_type, message, severity, context):
        self.error_type, self.message, self.severity, self.context = error_type, message, severity, context
        self.timestamp = time.time()


class SeedErrorManager:
    def __init__(self):
        self.lock = threading.Lock()
        self.error_history = collections.deque(maxlen=1000)
        self.error_counts = collections.defaultdict(int)

    def record_error(self, error_type, message, severity, context=None):
        with self.lock:
            error = SeedErrorRecord(error_type, message, severity, context or {})
            self.error_history.append(error)
            self.error_counts[error_type] += 1
            return error


def find_reader():
    exe = os.environ.get("TELERING_READER") or shutil.which("telering-reader")
    if exe:
        return exe
    here = os.path.dirname(os.path.abspath(__file__))
    for build in sorted(os.listdir(os.path.join(here, ".."))):
        cand = os.path.join(here, "..", build, "reader", "telering-reader")
        if build.startswith("build") and os.path.exists(cand):
            return cand
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=200_000, help="calls per repetition")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()

    segment = f"telering-bench-py-{os.getpid()}"
    reader_exe = find_reader()
    reader = None
    if reader_exe:
        reader = subprocess.Popen([reader_exe, "--segment", segment, "--log-level", "warn", "--report-interval", "1h"],
                                  stdout=subprocess.DEVNULL)
    try:
        w = telering.attach(segment=segment, bot="bench-py")
        for _ in range(500):
            if w.reader_alive() or reader is None:
                break
            time.sleep(0.01)
        hc, em = telering.get_health_check(), telering.get_error_manager()
        pm = hc.performance_monitor
        seed_pm, seed_em = SeedPerformanceMonitor(), SeedErrorManager()
        lib = w._lib
        ctx = {"endpoint": "/api/v1/market/orderbook"}
        globs = dict(pm=pm, em=em, w=w, seed_pm=seed_pm, seed_em=seed_em, lib=lib, ctx=ctx,
                     MEDIUM=ErrorSeverity.MEDIUM, noop=lambda: None)
        pm.record_api_call(0.1, "orderbook")  # intern once, off the measured loop

        cases = [
            ("floor: empty Python call", "noop()"),
            ("floor: ctypes call, no args (telering_monotonic_ns)", "lib.telering_monotonic_ns()"),
            ("seed  record_scan_time (Lock + deque)", "seed_pm.record_scan_time(25.5)"),
            ("telering record_scan_time", "pm.record_scan_time(25.5)"),
            ("seed  record_api_call (Lock + deque)", "seed_pm.record_api_call(1.2)"),
            ("telering record_api_call", "pm.record_api_call(1.2)"),
            ("telering record_api_call('orderbook')", "pm.record_api_call(1.2, 'orderbook')"),
            ("seed  error_manager.record_error", "seed_em.record_error('api_rate_limit', 'Rate limit exceeded', MEDIUM, ctx)"),
            ("telering error_manager.record_error", "em.record_error('api_rate_limit', 'Rate limit exceeded', MEDIUM, ctx)"),
            ("telering Writer.error (no ErrorRecord)", "w.error('api_rate_limit', 2, 'endpoint=/api/v1/market/orderbook')"),
            ("seed  is_circuit_breaker_open (dict under Lock)", None),
            ("telering is_circuit_breaker_open", "em.is_circuit_breaker_open('market_scanner')"),
        ]
        breakers = {"market_scanner": False}
        lock = threading.Lock()

        def seed_breaker_open(name):
            with lock:
                return breakers.get(name, False)
        globs["seed_breaker_open"] = seed_breaker_open
        cases[10] = (cases[10][0], "seed_breaker_open('market_scanner')")

        # Repetitions are interleaved across cases (round robin) so that a noisy moment on a
        # shared machine hits every case alike rather than one case's whole run.
        timers = [(name, timeit.Timer(stmt, globals=globs)) for name, stmt in cases]
        samples = {name: [] for name, _ in cases}
        for _ in range(args.repeat):
            for name, timer in timers:
                samples[name].append(timer.timeit(number=args.number) / args.number * 1e9)
        results = {name: (min(v), statistics.median(v)) for name, v in samples.items()}
        dropped = w.stats()["dropped"]
        print(f"# bench_python.py — {platform.python_implementation()} {platform.python_version()}, "
              f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
        print(f"# {args.repeat} repetitions x {args.number} calls; reader "
              f"{'draining' if reader else 'NOT running (drop path)'}; dropped records: {dropped}")
        print(f"{'case':55s} {'min ns':>8s} {'median ns':>10s}")
        for name, (lo, med) in results.items():
            print(f"{name:55s} {lo:8.1f} {med:10.1f}")

        def ratio(a, b):
            return results[a][1] / results[b][1]
        print()
        print("ratios (median telering / median seed; < 1 means telering is cheaper):")
        print(f"  record_scan_time      {ratio('telering record_scan_time', 'seed  record_scan_time (Lock + deque)'):.2f}x")
        print(f"  record_api_call       {ratio('telering record_api_call', 'seed  record_api_call (Lock + deque)'):.2f}x")
        print(f"  record_error          {ratio('telering error_manager.record_error', 'seed  error_manager.record_error'):.2f}x")
        print(f"  is_circuit_breaker_open {ratio('telering is_circuit_breaker_open', 'seed  is_circuit_breaker_open (dict under Lock)'):.2f}x")
        print(f"  ctypes floor share of record_scan_time: "
              f"{results['floor: ctypes call, no args (telering_monotonic_ns)'][1] / results['telering record_scan_time'][1]:.0%}")
    finally:
        telering.detach()
        if reader is not None:
            reader.send_signal(signal.SIGTERM)
            reader.wait(timeout=10)
        try:
            os.unlink(f"/dev/shm/{segment}")
        except FileNotFoundError:
            pass


if __name__ == "__main__":
    main()
