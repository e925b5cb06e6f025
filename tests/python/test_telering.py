"""Tests of the telering Python module (ctypes over libtelering.so), driven through a real
segment and real telering-reader runs.

Environment (set by CTest): TELERING_LIB (libtelering.so), TELERING_READER (telering-reader),
PYTHONPATH containing writer/python. Every test uses its own segment name and removes it
from /dev/shm.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import unittest
import uuid

import telering
from telering import ErrorSeverity, RecoveryAction, RetryWithBackoff, CircuitBreakerOpenError

READER = os.environ.get("TELERING_READER", "telering-reader")


def unique_segment(tag):
    return f"telering-py-{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def remove_segment(name):
    try:
        os.unlink(f"/dev/shm/{name}")
    except FileNotFoundError:
        pass


def reader_once(segment):
    """Runs `telering-reader --once --json` on the segment and returns its report."""
    out = subprocess.run([READER, "--segment", segment, "--once", "--json", "--log-level", "warn"],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return json.loads(out.strip().splitlines()[-1])


class LiveReader:
    """A telering-reader running on the segment for the duration of a `with` block."""

    def __init__(self, segment):
        self.segment = segment

    def __enter__(self):
        self.proc = subprocess.Popen([READER, "--segment", self.segment, "--json", "--log-level", "warn",
                                      "--report-interval", "1h"], stdout=subprocess.DEVNULL)
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_for(predicate, timeout=5.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


class SegmentTest(unittest.TestCase):
    """Each test attaches the process-wide writer to a fresh segment."""

    tag = "t"

    def setUp(self):
        self.segment = unique_segment(self.tag)
        self.addCleanup(remove_segment, self.segment)
        self.writer = telering.attach(segment=self.segment, bot="py-test-bot")
        self.addCleanup(telering.detach)


class LibraryTest(unittest.TestCase):
    def test_finds_library_from_environment_first(self):
        self.assertEqual(telering.find_library(), os.environ["TELERING_LIB"])

    def test_finds_library_in_build_tree_without_environment(self):
        repo = os.path.normpath(os.path.join(os.path.dirname(telering.__file__), "..", "..", ".."))
        if not any(os.path.exists(os.path.join(repo, d, "writer", "libtelering.so"))
                   for d in os.listdir(repo) if d.startswith("build")):
            self.skipTest("no build*/ directory inside the checkout")
        env = dict(os.environ)
        env.pop("TELERING_LIB")
        code = "import telering; print(telering.find_library())"
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
        self.assertTrue(out.strip().endswith("libtelering.so"), out)

    def test_bad_segment_raises_with_message(self):
        with self.assertRaises(telering.TeleringError) as ctx:
            telering.Writer("no/such/dir", "bot")
        self.assertEqual(ctx.exception.status, -2)
        self.assertIn("cannot attach", str(ctx.exception))


class RecordingTest(SegmentTest):
    tag = "rec"

    def test_seed_health_example_records_reach_the_reader(self):
        hc = telering.get_health_check()
        pm = hc.performance_monitor
        self.assertEqual(pm.record_scan_time(25.5), 0)
        self.assertEqual(pm.record_scan_time(30.5), 0)
        self.assertEqual(pm.record_api_call(1.2), 0)
        self.assertEqual(pm.record_api_call(0.8, "orderbook"), 0)
        self.assertEqual(pm.update_memory_usage(), 0)
        pm.record_warning("slow_fill", "2.5 s")
        report = reader_once(self.segment)
        m = report["metrics"]
        self.assertEqual(m["scan_samples"], 2)
        self.assertAlmostEqual(m["avg_scan_time_s"], 28.0)
        self.assertEqual(m["api_samples"], 2)
        self.assertAlmostEqual(m["avg_api_latency_s"], 1.0)
        self.assertEqual(m["warnings_total"], 1)
        # update_memory_usage records this process's RSS (the sampler's latest value).
        with open("/proc/self/statm") as f:
            rss_mb = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
        self.assertGreater(m["memory_mb"], 1.0)
        self.assertLess(abs(m["memory_mb"] - rss_mb), max(rss_mb, 50.0))
        self.assertIn("py-test-bot", report["bots"])

    def test_error_manager_record_error_counts_type_severity_and_context(self):
        em = telering.get_error_manager()
        err = em.record_error(error_type="api_rate_limit", message="Rate limit exceeded",
                              severity=ErrorSeverity.MEDIUM, context={"endpoint": "/api/v1/market/orderbook"})
        self.assertEqual(err.error_type, "api_rate_limit")
        self.assertIs(err.severity, ErrorSeverity.MEDIUM)
        self.assertEqual(err.status, 0)
        em.record_error("position_not_found", "gone", ErrorSeverity.HIGH)
        stats = reader_once(self.segment)["error_statistics"]
        self.assertEqual(stats["total_errors"], 2)
        self.assertEqual(stats["errors_by_type"], {"api_rate_limit": 1, "position_not_found": 1})
        self.assertEqual(stats["errors_by_severity"]["MEDIUM"], 1)
        self.assertEqual(stats["errors_by_severity"]["HIGH"], 1)
        messages = [e["message"] for e in stats["recent_errors"]]
        self.assertIn("endpoint=/api/v1/market/orderbook", messages)
        self.assertIn("gone", messages)

    def test_seed_integration_pattern_counts_one_error_not_two(self):
        # The seed records an exception with error_manager.record_error AND
        # performance_monitor.record_error(); in telering that is one error.
        em, pm = telering.get_error_manager(), telering.get_health_check().performance_monitor
        try:
            raise ValueError("boom")
        except Exception as e:
            em.record_error("background_scanner_error", str(e), ErrorSeverity.HIGH,
                            {"exception_type": type(e).__name__})
            pm.record_error()
        pm.record_error()  # a bare one on its own is an error of its own
        stats = reader_once(self.segment)["error_statistics"]
        self.assertEqual(stats["total_errors"], 2)
        self.assertEqual(stats["errors_by_type"], {"background_scanner_error": 1, "unspecified_error": 1})

    def test_records_from_many_threads_each_get_a_lane(self):
        pm = telering.get_health_check().performance_monitor
        barrier = threading.Barrier(4)

        def work():
            barrier.wait()
            for _ in range(250):
                pm.record_warning("thread_warning")

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(reader_once(self.segment)["metrics"]["warnings_total"], 1000)
        self.assertEqual(self.writer.stats()["dropped"], 0)

    def test_no_reader_means_unknown_with_reason_never_healthy(self):
        hc, em = telering.get_health_check(), telering.get_error_manager()
        report = hc.run_full_health_check()
        self.assertEqual(report["overall_status"], "UNKNOWN")
        self.assertIn("reader", report["reason"])
        em.record_error("api_rate_limit", "x", ErrorSeverity.LOW)
        stats = em.get_error_statistics()
        self.assertEqual(stats["status"], "UNKNOWN")
        self.assertEqual(stats["source"], "local")
        self.assertEqual(stats["total_errors"], 1)
        self.assertEqual(stats["errors_by_severity"]["LOW"], 1)
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))
        self.assertFalse(em.should_trigger_recovery("api_rate_limit"))
        # open without a reader: queued, not applied, and the bot is not stalled.
        started = time.monotonic()
        self.assertFalse(em.open_circuit_breaker("market_scanner"))
        self.assertLess(time.monotonic() - started, 1.0)
        text = hc.log_health_status()
        self.assertIn("Overall Status: UNKNOWN", text)
        self.assertEqual(self.writer.overall_health(), "UNKNOWN")

    def test_invalid_values_are_refused_not_recorded(self):
        pm = telering.get_health_check().performance_monitor
        self.assertEqual(pm.record_scan_time(-1.0), -1)
        self.assertEqual(pm.record_api_call(float("nan")), -1)
        with self.assertRaises(ValueError):
            telering.get_error_manager().record_error("x", "y", 7)
        self.assertEqual(reader_once(self.segment)["metrics"]["scan_samples"], 0)

    def test_attach_rebinds_singletons(self):
        hc = telering.get_health_check()
        other = unique_segment("rebind")
        self.addCleanup(remove_segment, other)
        telering.attach(segment=other, bot="py-other")
        hc.performance_monitor.record_scan_time(5.0)
        self.assertEqual(reader_once(other)["metrics"]["scan_samples"], 1)
        self.assertEqual(reader_once(self.segment)["metrics"]["scan_samples"], 0)


class LiveReaderTest(SegmentTest):
    tag = "live"

    def setUp(self):
        super().setUp()
        self.reader = LiveReader(self.segment).__enter__()
        self.addCleanup(self.reader.__exit__, None, None, None)
        self.assertTrue(wait_for(self.writer.reader_alive), "reader did not start")

    def report_when(self, predicate, timeout=5.0):
        hc = telering.get_health_check()
        return wait_for(lambda: (lambda r: r if predicate(r) else None)(hc.run_full_health_check()), timeout)

    def test_seed_usage_examples_run_unchanged_except_the_import(self):
        # The seed's three usage examples, verbatim but for the import lines.
        seed = textwrap.dedent("""
            from telering import get_health_check

            # Get health check instance (singleton)
            health_check = get_health_check()

            # Record metrics
            health_check.performance_monitor.record_scan_time(25.5)
            health_check.performance_monitor.record_api_call(1.2)
            health_check.performance_monitor.update_memory_usage()

            # Run health check
            report = health_check.run_full_health_check()
            print(f"Overall Status: {report['overall_status']}")

            # Log health summary
            health_check.log_health_status()

            from telering import get_error_manager, ErrorSeverity

            # Get error manager instance (singleton)
            error_manager = get_error_manager()

            # Record an error
            error = error_manager.record_error(
                error_type='api_rate_limit',
                message='Rate limit exceeded',
                severity=ErrorSeverity.MEDIUM,
                context={'endpoint': '/api/v1/market/orderbook'}
            )

            # Check if recovery should be triggered
            if error_manager.should_trigger_recovery('api_rate_limit'):
                error_manager.attempt_recovery(error)

            # Circuit breaker
            error_manager.open_circuit_breaker('market_scanner')
            if error_manager.is_circuit_breaker_open('market_scanner'):
                print("Market scanner circuit breaker is open")
            error_manager.close_circuit_breaker('market_scanner')

            # Get error statistics
            stats = error_manager.get_error_statistics()
            print(f"Total errors: {stats['total_errors']}")
            print(f"Error rate: {stats['error_rate_per_minute']:.2f}/min")

            from telering import RetryWithBackoff, get_error_manager

            error_manager = get_error_manager()
            retry = RetryWithBackoff(max_retries=3, backoff_base=2.0, error_manager=error_manager)

            class api_client:
                calls = 0
                @staticmethod
                def fetch_data():
                    api_client.calls += 1
                    return {"ok": True}

            @retry
            def fetch_data_from_api():
                # Will automatically retry on failure with exponential backoff
                return api_client.fetch_data()

            print(fetch_data_from_api())

            error_manager.register_recovery_strategy(
                'custom_error_type',
                ErrorSeverity.MEDIUM,
                RecoveryAction.RETRY,
                max_retries=5,
                custom_param='value'
            )
        """)
        seed = seed.replace("from telering import RetryWithBackoff, get_error_manager",
                            "from telering import RetryWithBackoff, get_error_manager, RecoveryAction")
        env = dict(os.environ, TELERING_SEGMENT=self.segment, TELERING_BOT="seed-example")
        # api_rate_limit's built-in BACKOFF is 30 s; attempt_recovery would sleep it out, as
        # the seed's does. The child caps it so the test stays quick.
        prelude = ("import telering.error_recovery as er\n"
                   "_orig = er.ErrorRecoveryManager.attempt_recovery\n"
                   "er.ErrorRecoveryManager.attempt_recovery = lambda self, e, **k: _orig(self, e, max_wait_s=0.2)\n")
        proc = subprocess.run([sys.executable, "-c", prelude + seed], env=env, capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("Overall Status: ", proc.stdout)
        self.assertIn("Market scanner circuit breaker is open", proc.stdout)
        self.assertIn("Total errors: 1", proc.stdout)
        self.assertRegex(proc.stdout, r"Error rate: \d+\.\d\d/min")
        self.assertIn("{'ok': True}", proc.stdout)

    def test_circuit_breaker_commands_round_trip_through_the_reader(self):
        em = telering.get_error_manager()
        self.assertTrue(em.open_circuit_breaker("market_scanner"))
        self.assertTrue(em.is_circuit_breaker_open("market_scanner"))
        self.assertEqual(em.get_circuit_breaker_state("market_scanner"), "OPEN")
        self.assertTrue(em.close_circuit_breaker("market_scanner"))
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))

    def test_registered_strategy_decides_and_attempt_recovery_reads_it(self):
        em = telering.get_error_manager()
        self.assertTrue(em.register_recovery_strategy("py_custom", ErrorSeverity.MEDIUM, RecoveryAction.BACKOFF,
                                                      max_retries=2, backoff_seconds=0.3, note="kept locally"))
        self.assertEqual(em.recovery_strategies["py_custom"]["params"], {"backoff_seconds": 0.3, "note": "kept locally"})
        err = em.record_error("py_custom", "rate limited", ErrorSeverity.MEDIUM)
        self.assertTrue(wait_for(lambda: em.should_trigger_recovery("py_custom")))
        d = em.get_recovery_decision("py_custom")
        self.assertEqual(d["last_action"], "BACKOFF")
        started = time.monotonic()
        self.assertTrue(em.attempt_recovery(err))
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(err.recovery_attempted)
        self.assertIs(err.recovery_action, RecoveryAction.BACKOFF)
        self.assertFalse(em.writer.in_backoff("py_custom"))  # attempt_recovery slept it out

    def test_error_statistics_and_health_come_from_the_reader(self):
        hc, em = telering.get_health_check(), telering.get_error_manager()
        hc.performance_monitor.record_scan_time(95.0)  # CRITICAL scan time (> 90 s)
        em.record_error("api_rate_limit", "x", ErrorSeverity.MEDIUM)
        report = self.report_when(lambda r: r.get("error_statistics", {}).get("total_errors") == 1
                                  and r["metrics"]["scan_samples"] == 1)
        self.assertIsNotNone(report)
        self.assertEqual(report["overall_status"], "CRITICAL")
        self.assertEqual(report["components"]["scan_performance"]["status"], "CRITICAL")
        stats = em.get_error_statistics()
        self.assertEqual(stats["source"], "reader")
        self.assertEqual(stats["total_errors"], 1)
        self.assertGreater(stats["error_rate_per_minute"], 0.0)
        self.assertEqual(wait_for(lambda: self.writer.overall_health() == "CRITICAL"), True)
        with self.assertLogs("telering.health", logging.WARNING) as logs:
            text = hc.log_health_status()
        self.assertIn("BOT HEALTH CHECK SUMMARY", text)
        self.assertIn("❌ scan_performance: CRITICAL", text)
        self.assertIn("Overall Status: CRITICAL", logs.output[0])

    def test_retry_with_backoff_retries_records_and_honours_board_backoff(self):
        em = telering.get_error_manager()
        sleeps = []
        retry = RetryWithBackoff(max_retries=3, backoff_base=2.0, error_manager=em, error_type="api_connection",
                                 sleep=sleeps.append)
        calls = []

        @retry
        def flaky():
            calls.append(1)
            if len(calls) < 3:
                raise ConnectionError("reset by peer")
            return "data"

        self.assertEqual(flaky(), "data")
        self.assertEqual(len(calls), 3)
        self.assertEqual(sleeps, [1.0, 2.0])  # backoff_base ** attempt, like the seed
        report = self.report_when(lambda r: r.get("error_statistics", {}).get("total_errors") == 2)
        self.assertEqual(report["error_statistics"]["errors_by_type"], {"api_connection": 2})

        # The reader's BACKOFF for a type makes the decorator wait at least that long.
        self.assertTrue(em.register_recovery_strategy("board_backoff", ErrorSeverity.MEDIUM, RecoveryAction.BACKOFF,
                                                      backoff_seconds=20.0))
        em.record_error("board_backoff", "first", ErrorSeverity.MEDIUM)
        self.assertTrue(wait_for(lambda: em.writer.in_backoff("board_backoff")))
        sleeps.clear()

        @RetryWithBackoff(max_retries=1, backoff_base=2.0, error_manager=em, error_type="board_backoff",
                          sleep=sleeps.append)
        def always_fails():
            raise TimeoutError("slow")

        with self.assertRaises(TimeoutError):
            always_fails()
        self.assertEqual(len(sleeps), 1)
        self.assertGreater(sleeps[0], 15.0)

    def test_retry_with_backoff_does_not_call_through_an_open_breaker(self):
        em = telering.get_error_manager()
        self.assertTrue(em.open_circuit_breaker("market_scanner"))
        called = []

        @RetryWithBackoff(error_manager=em, component="market_scanner", sleep=lambda s: None)
        def scan():
            called.append(1)

        with self.assertRaises(CircuitBreakerOpenError):
            scan()
        self.assertEqual(called, [])
        self.assertTrue(em.close_circuit_breaker("market_scanner"))
        scan()
        self.assertEqual(called, [1])


class EnvironmentBindingTest(unittest.TestCase):
    def test_singletons_attach_from_environment(self):
        segment = unique_segment("env")
        self.addCleanup(remove_segment, segment)
        code = ("from telering import get_health_check\n"
                "get_health_check().performance_monitor.record_scan_time(7.0)\n")
        env = dict(os.environ, TELERING_SEGMENT=segment, TELERING_BOT="env-bot")
        subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)
        report = reader_once(segment)
        self.assertEqual(report["metrics"]["scan_samples"], 1)
        self.assertIn("env-bot", report["bots"])


if __name__ == "__main__":
    unittest.main()
