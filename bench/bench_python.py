#!/usr/bin/env python3
"""bench_python.py — cost of the seed's calls from Python: telering's native module next to
a pure-Python copy of the seed's implementation (threading.Lock + collections.deque +
ErrorRecord with datetime.now() + its logger call), in one run, side by side.

    PYTHONPATH=build/python python3 bench/bench_python.py [--number 20000] [--repeat 35]

Every case is timed with timeit; repetitions are short and interleaved across cases (round
robin), so a noisy moment on a shared machine (these VMs swing by 1.5x within seconds) hits
every case alike. Figures are the median and the minimum per call over the repetitions;
ratios are of medians (< 1: telering is cheaper).

A telering-reader drains the segment during the run (found on PATH, $TELERING_READER or
build*/reader/). It creates the segment with lanes of 65536 records, deep enough to hold a
whole repetition while the reader sleeps between bursts (its idle strategy), so every record
is delivered: telering's figures are the recording path, never the cheaper lane-full drop
path. The number of records dropped is printed and must be 0.

record_error is measured twice: with the logger filtering the seed's line (level ERROR, the
MEDIUM line is a warning) and with the line written (level DEBUG, a StreamHandler with the
usual "%(asctime)s - %(name)s - %(levelname)s - %(message)s" format into /dev/null). The
seed's copy and telering log to identically configured loggers.
"""

from __future__ import annotations

import argparse
import collections
import logging
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
from datetime import datetime
from enum import Enum

HERE = os.path.dirname(os.path.abspath(__file__))
try:
    import telering
except ImportError:  # run from a checkout without PYTHONPATH: the build tree's package
    for build in sorted(os.listdir(os.path.join(HERE, ".."))):
        if build.startswith("build") and os.path.isdir(os.path.join(HERE, "..", build, "python", "telering")):
            sys.path.insert(0, os.path.join(HERE, "..", build, "python"))
            break
    import telering
from telering import ErrorSeverity  # noqa: E402


# ---- The seed's implementation, as bot_health_check.py / error_recovery.py do it ----------
class SeedSeverity(Enum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


class SeedPerformanceMonitor:
    """The seed's PerformanceMonitor recording path: a Lock and a deque per window."""

    def __init__(self, window_size=100):
        self.window_size = window_size
        self.scan_times = collections.deque(maxlen=window_size)
        self.api_call_times = collections.deque(maxlen=window_size)
        self.memory_usage = collections.deque(maxlen=window_size)
        self.error_count = 0
        self.warning_count = 0
        self.last_error_time = None
        self._lock = threading.Lock()

    def record_scan_time(self, duration):
        with self._lock:
            self.scan_times.append(duration)

    def record_api_call(self, duration):
        with self._lock:
            self.api_call_times.append(duration)


class SeedErrorRecord:
    """The seed's ErrorRecord: a plain object stamped with datetime.now()."""

    def __init__(self, error_type, message, severity, context=None):
        self.error_type = error_type
        self.message = message
        self.severity = severity
        self.context = context or {}
        self.timestamp = datetime.now()
        self.recovery_attempted = False
        self.recovery_successful = False


class SeedErrorRecoveryManager:
    """The seed's ErrorRecoveryManager: record_error and is_circuit_breaker_open."""

    def __init__(self, logger):
        self.logger = logger
        self.error_history = collections.deque(maxlen=1000)
        self.error_counts = {}
        self.last_errors = {}
        self._lock = threading.Lock()
        self.recovery_strategies = {}
        self.circuit_breakers = {}
        self.circuit_breaker_timeout = 60

    def record_error(self, error_type, message, severity=None, context=None):
        if severity is None and error_type in self.recovery_strategies:
            severity = self.recovery_strategies[error_type]["severity"]
        elif severity is None:
            severity = SeedSeverity.MEDIUM
        error = SeedErrorRecord(error_type, message, severity, context)
        with self._lock:
            self.error_history.append(error)
            self.error_counts[error_type] = self.error_counts.get(error_type, 0) + 1
            self.last_errors[error_type] = datetime.now()
        if severity == SeedSeverity.CRITICAL:
            self.logger.critical(f"CRITICAL ERROR: {error_type} - {message}")
        elif severity == SeedSeverity.HIGH:
            self.logger.error(f"ERROR: {error_type} - {message}")
        elif severity == SeedSeverity.MEDIUM:
            self.logger.warning(f"WARNING: {error_type} - {message}")
        else:
            self.logger.debug(f"INFO: {error_type} - {message}")
        return error

    def is_circuit_breaker_open(self, component):
        with self._lock:
            if component not in self.circuit_breakers:
                return False
            is_open, open_time = self.circuit_breakers[component]
            if not is_open:
                return False
            time_open = (datetime.now() - open_time).total_seconds()
            if time_open > self.circuit_breaker_timeout:
                del self.circuit_breakers[component]
                return False
            return True


class Empty:
    def noop(self):
        pass


def make_logger(name, written):
    logger = logging.getLogger(name)
    logger.propagate = False
    if written:
        logger.setLevel(logging.DEBUG)
        handler = logging.StreamHandler(open(os.devnull, "w"))
        handler.setFormatter(logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(message)s"))
        logger.addHandler(handler)
    else:
        logger.setLevel(logging.ERROR)
        logger.addHandler(logging.NullHandler())
    return logger


def find_reader():
    exe = os.environ.get("TELERING_READER") or shutil.which("telering-reader")
    if exe:
        return exe
    for build in sorted(os.listdir(os.path.join(HERE, ".."))):
        cand = os.path.join(HERE, "..", build, "reader", "telering-reader")
        if build.startswith("build") and os.path.exists(cand):
            return cand
    return None


def per_call_threads(record, threads, calls):
    """ns per call with `threads` threads each calling record(25.5) `calls` times at once."""
    barrier = threading.Barrier(threads + 1)

    def work():
        barrier.wait()
        for _ in range(calls):
            record(25.5)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in pool:
        t.join()
    return (time.perf_counter() - started) / (threads * calls) * 1e9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--number", type=int, default=20_000, help="calls per repetition (<= 65536)")
    ap.add_argument("--repeat", type=int, default=35)
    args = ap.parse_args()

    segment = f"telering-bench-py-{os.getpid()}"
    reader_exe = find_reader()
    reader = None
    if reader_exe:
        reader = subprocess.Popen([reader_exe, "--segment", segment, "--log-level", "error", "--report-interval", "1h",
                                   "--lanes", "16", "--lane-capacity", "65536"], stdout=subprocess.DEVNULL)
        for _ in range(500):  # the reader creates the segment with its geometry: attach after it
            if os.path.exists(f"/dev/shm/{segment}") or reader.poll() is not None:
                break
            time.sleep(0.01)
    try:
        w = telering.attach(segment=segment, bot="bench-py")
        for _ in range(500):
            if w.reader_alive() or reader is None:
                break
            time.sleep(0.01)
        pm = telering.PerformanceMonitor()
        em_filtered = telering.ErrorRecoveryManager(logger=make_logger("bench.telering.filtered", False))
        em_written = telering.ErrorRecoveryManager(logger=make_logger("bench.telering.written", True))
        seed_pm = SeedPerformanceMonitor()
        seed_filtered = SeedErrorRecoveryManager(make_logger("bench.seed.filtered", False))
        seed_written = SeedErrorRecoveryManager(make_logger("bench.seed.written", True))
        w.intern(telering._native.NAME_COMPONENT, "market_scanner")  # a known, CLOSED breaker
        ctx = {"endpoint": "/api/v1/market/orderbook"}
        globs = dict(pm=pm, emf=em_filtered, emw=em_written, seed_pm=seed_pm, seedf=seed_filtered,
                     seedw=seed_written, ctx=ctx, MEDIUM=ErrorSeverity.MEDIUM, SMEDIUM=SeedSeverity.MEDIUM,
                     empty=Empty(), n=12345)
        cases = [
            ("floor: empty Python method", "empty.noop()"),
            ("floor: C method, no arguments (int.bit_length)", "n.bit_length()"),
            ("seed record_scan_time", "seed_pm.record_scan_time(25.5)"),
            ("telering record_scan_time", "pm.record_scan_time(25.5)"),
            ("seed record_api_call", "seed_pm.record_api_call(1.2)"),
            ("telering record_api_call", "pm.record_api_call(1.2)"),
            ("telering record_api_call(endpoint)", "pm.record_api_call(1.2, 'orderbook')"),
            ("seed is_circuit_breaker_open", "seedf.is_circuit_breaker_open('market_scanner')"),
            ("telering is_circuit_breaker_open", "emf.is_circuit_breaker_open('market_scanner')"),
            ("seed record_error, log filtered",
             "seedf.record_error('api_rate_limit', 'Rate limit exceeded', SMEDIUM, ctx)"),
            ("telering record_error, log filtered",
             "emf.record_error('api_rate_limit', 'Rate limit exceeded', MEDIUM, ctx)"),
            ("seed record_error, log written",
             "seedw.record_error('api_rate_limit', 'Rate limit exceeded', SMEDIUM, ctx)"),
            ("telering record_error, log written",
             "emw.record_error('api_rate_limit', 'Rate limit exceeded', MEDIUM, ctx)"),
        ]
        timers = [(name, timeit.Timer(stmt, globals=globs)) for name, stmt in cases]
        samples = {name: [] for name, _ in cases}
        samples["seed 8 threads record_scan_time"] = []
        samples["telering 8 threads record_scan_time"] = []
        for _ in range(args.repeat):
            for name, timer in timers:
                samples[name].append(timer.timeit(number=args.number) / args.number * 1e9)
            per_thread = max(1, args.number // 8)
            samples["seed 8 threads record_scan_time"].append(per_call_threads(seed_pm.record_scan_time, 8, per_thread))
            samples["telering 8 threads record_scan_time"].append(per_call_threads(pm.record_scan_time, 8, per_thread))
        results = {name: (min(v), statistics.median(v)) for name, v in samples.items()}
        dropped = w.stats()["dropped"]
        print(f"# bench_python.py — {platform.python_implementation()} {platform.python_version()} "
              f"({sys.executable}), {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
        print(f"# {args.repeat} repetitions x {args.number} calls, interleaved; reader "
              f"{'draining' if reader else 'NOT running (drop path)'}; dropped records: {dropped}")
        if dropped:
            print(f"# WARNING: {dropped} records were dropped (lanes full): telering's figures include the drop path")
        print(f"{'case':50s} {'median ns':>10s} {'min ns':>8s}")
        for name, (lo, med) in results.items():
            print(f"{name:50s} {med:10.1f} {lo:8.1f}")

        def ratio(what):
            return results[f"telering {what}"][1] / results[f"seed {what}"][1]

        print()
        print("ratios, median telering / median seed (target):")
        for what, target in (("record_scan_time", "1/3"), ("record_api_call", "1/3"),
                             ("is_circuit_breaker_open", "1/3"), ("record_error, log filtered", "1/2"),
                             ("record_error, log written", "1/2"), ("8 threads record_scan_time", "< 1")):
            print(f"  {what:32s} {ratio(what):5.2f}   ({target})")
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
