"""The seed's bot_health_check and error_recovery APIs, name by name, with the seed's
meaning: each instance's views are its own; every record also reaches the segment."""

from __future__ import annotations

import inspect
import logging
import math
import threading
import time
import unittest
from collections import deque
from datetime import datetime, timedelta
from enum import Enum

import telering
from telering import (BotHealthCheck, ErrorRecord, ErrorRecoveryManager, ErrorSeverity, HealthStatus,
                      PerformanceMonitor, RecoveryAction, RetryWithBackoff)
from telering import bot_health_check, error_recovery

from support import SegmentTest, reader_once


class HealthCheckNamesTest(SegmentTest):
    tag = "hc"

    def test_health_status_is_the_seeds_string_constants(self):
        self.assertEqual((HealthStatus.HEALTHY, HealthStatus.WARNING, HealthStatus.CRITICAL, HealthStatus.UNKNOWN),
                         ("HEALTHY", "WARNING", "CRITICAL", "UNKNOWN"))
        self.assertIs(bot_health_check.HealthStatus, HealthStatus)

    def test_performance_monitor_keeps_the_last_window_size_values(self):
        pm = PerformanceMonitor(window_size=3)
        for d in (1.0, 2.0, 3.0, 4.0):
            pm.record_scan_time(d)
        pm.record_api_call(0.5)
        pm.record_api_call(duration=1.5)
        self.assertIsInstance(pm.scan_times, deque)
        self.assertEqual(list(pm.scan_times), [2.0, 3.0, 4.0])
        self.assertEqual(pm.scan_times.maxlen, 3)
        self.assertEqual(list(pm.api_call_times), [0.5, 1.5])
        self.assertEqual(pm.window_size, 3)

    def test_get_metrics_has_the_seeds_keys_and_values(self):
        pm = PerformanceMonitor()
        self.assertEqual(pm.get_metrics(), {
            "avg_scan_time": 0, "max_scan_time": 0, "min_scan_time": 0, "avg_api_call_time": 0, "avg_memory_mb": 0,
            "current_memory_mb": 0, "error_count": 0, "warning_count": 0, "last_error_time": None})
        pm.record_scan_time(10.0)
        pm.record_scan_time(20.0)
        pm.record_api_call(1.0)
        pm.update_memory_usage()
        pm.record_error()
        pm.record_warning()
        m = pm.get_metrics()
        self.assertEqual((m["avg_scan_time"], m["max_scan_time"], m["min_scan_time"]), (15.0, 20.0, 10.0))
        self.assertEqual(m["avg_api_call_time"], 1.0)
        with open("/proc/self/statm") as f:
            rss_mb = int(f.read().split()[1]) * 4096 / 1048576
        self.assertGreater(m["current_memory_mb"], 1.0)
        self.assertLess(abs(m["current_memory_mb"] - rss_mb), max(rss_mb, 64.0))
        self.assertEqual((m["error_count"], m["warning_count"]), (1, 1))
        self.assertIsInstance(m["last_error_time"], datetime)
        self.assertLess(abs((datetime.now() - m["last_error_time"]).total_seconds()), 5)
        self.assertEqual((pm.error_count, pm.warning_count), (1, 1))
        self.assertEqual(len(pm.memory_usage), 1)

    def test_every_record_also_reaches_the_segment(self):
        pm = telering.get_health_check().performance_monitor
        pm.record_scan_time(25.5)
        pm.record_scan_time(30.5)
        pm.record_api_call(1.2)
        pm.record_api_call(0.8, "orderbook")
        pm.update_memory_usage()
        pm.record_warning()
        m = reader_once(self.segment)["metrics"]
        self.assertEqual(m["scan_samples"], 2)
        self.assertAlmostEqual(m["avg_scan_time_s"], 28.0)
        self.assertEqual(m["api_samples"], 2)
        self.assertEqual(m["warnings_total"], 1)
        self.assertGreater(m["memory_mb"], 1.0)

    def test_the_seeds_double_recording_of_an_exception_is_one_error_in_the_segment(self):
        em, pm = ErrorRecoveryManager(), PerformanceMonitor()
        try:
            raise ValueError("boom")
        except Exception as e:
            em.record_error("background_scanner_error", str(e), ErrorSeverity.HIGH, {"exception_type": type(e).__name__})
            pm.record_error()
        pm.record_error()  # a bare one on its own is an error of its own
        self.assertEqual(pm.error_count, 2)
        self.assertEqual(em.error_counts, {"background_scanner_error": 1})
        stats = reader_once(self.segment)["error_statistics"]
        self.assertEqual(stats["total_errors"], 2)
        self.assertEqual(stats["errors_by_type"], {"background_scanner_error": 1, "unspecified_error": 1})

    def test_bot_health_check_attributes_and_thresholds(self):
        hc = BotHealthCheck()
        self.assertIsInstance(hc.performance_monitor, PerformanceMonitor)
        self.assertEqual((hc.max_scan_time, hc.max_memory_mb, hc.max_error_rate), (30.0, 1024, 0.05))
        self.assertIsInstance(hc.health_history, deque)
        self.assertEqual(hc.health_history.maxlen, 100)

    def test_checks_follow_the_seeds_rules_and_thresholds_take_effect(self):
        hc = BotHealthCheck()
        self.assertEqual(hc.check_scan_performance({"avg_scan_time": 10, "max_scan_time": 20})[0], "HEALTHY")
        self.assertEqual(hc.check_scan_performance({"avg_scan_time": 31, "max_scan_time": 40})[0], "WARNING")
        self.assertEqual(hc.check_scan_performance({"avg_scan_time": 10, "max_scan_time": 91}),
                         ("CRITICAL", "Scan time critically slow: max=91.0s (threshold=90.0s)"))
        hc.max_scan_time = 5.0
        self.assertEqual(hc.check_scan_performance({"avg_scan_time": 6, "max_scan_time": 6})[0], "WARNING")
        self.assertEqual(hc.check_memory_usage({"current_memory_mb": 800})[0], "HEALTHY")
        self.assertEqual(hc.check_memory_usage({"current_memory_mb": 900}),
                         ("WARNING", "Memory usage high: 900.0MB (threshold=1024MB)"))
        self.assertEqual(hc.check_memory_usage({"current_memory_mb": 1100})[0], "CRITICAL")
        hc.max_memory_mb = 100
        self.assertEqual(hc.check_memory_usage({"current_memory_mb": 90})[0], "WARNING")
        recent = datetime.now() - timedelta(seconds=10)
        self.assertEqual(hc.check_error_rate({"error_count": 1, "last_error_time": recent})[0], "WARNING")
        old = datetime.now() - timedelta(seconds=120)
        self.assertEqual(hc.check_error_rate({"error_count": 11, "last_error_time": old}),
                         ("CRITICAL", "High error count: 11 errors"))
        self.assertEqual(hc.check_error_rate({"error_count": 6})[0], "WARNING")
        self.assertEqual(hc.check_error_rate({"error_count": 5}), ("HEALTHY", "Error rate normal: 5 errors"))
        self.assertEqual(hc.check_api_performance({"avg_api_call_time": 1.0})[0], "HEALTHY")
        self.assertEqual(hc.check_api_performance({"avg_api_call_time": 2.5})[0], "WARNING")
        self.assertEqual(hc.check_api_performance({"avg_api_call_time": 5.5}),
                         ("CRITICAL", "API calls critically slow: avg=5.50s"))

    def test_run_full_health_check_report_and_history(self):
        hc = BotHealthCheck()
        hc.performance_monitor.record_scan_time(95.0)
        report = hc.run_full_health_check()
        self.assertEqual(set(report), {"timestamp", "overall_status", "checks", "metrics"})
        self.assertIsInstance(report["timestamp"], datetime)
        self.assertEqual(report["overall_status"], "CRITICAL")
        self.assertEqual(set(report["checks"]), {"scan_performance", "memory_usage", "error_rate", "api_performance"})
        self.assertEqual(report["checks"]["scan_performance"][0], "CRITICAL")
        self.assertEqual(report["metrics"]["max_scan_time"], 95.0)
        self.assertIs(hc.health_history[-1], report)
        for _ in range(120):
            hc.run_full_health_check()
        self.assertEqual(len(hc.health_history), 100)

    def test_summary_text_and_log_health_status(self):
        hc = BotHealthCheck()
        hc.performance_monitor.record_scan_time(24.5)
        text = hc.get_health_summary()
        self.assertIn("BOT HEALTH CHECK SUMMARY", text)
        self.assertRegex(text, r"Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
        self.assertIn(datetime.now().strftime("%Y-%m-%d %H:"), text)  # local time, as the seed's
        self.assertIn("✅ scan_performance: HEALTHY\n   Scan performance good: avg=24.5s", text)
        self.assertIn("  Avg Scan Time: 24.50s", text)
        bot_logger = logging.getLogger("my.bot")
        telering.set_logger(bot_logger)
        self.addCleanup(telering.set_logger, None)
        hc2 = BotHealthCheck()
        with self.assertLogs("my.bot", logging.INFO) as logs:
            hc2.log_health_status()
        self.assertIn("BOT HEALTH CHECK SUMMARY", logs.output[0])

    def test_summary_is_the_seeds_block_line_for_line(self):
        # The text comes from the reader's formatter (_native.format_health_summary); the
        # seed's own code, below, is the reference.
        hc = BotHealthCheck()
        hc.performance_monitor.record_scan_time(95.0)
        hc.performance_monitor.record_api_call(3.0)
        text = hc.get_health_summary()
        report = hc.health_history[-1]
        icons = {"HEALTHY": "✅", "WARNING": "⚠️"}
        lines = ["=" * 60, "BOT HEALTH CHECK SUMMARY", "=" * 60,
                 f"Timestamp: {report['timestamp'].strftime('%Y-%m-%d %H:%M:%S')}",
                 f"Overall Status: {report['overall_status']}", "", "Component Health:", "-" * 60]
        for component, (status, message) in report["checks"].items():
            lines.append(f"{icons.get(status, '❌')} {component}: {status}")
            lines.append(f"   {message}")
        metrics = report["metrics"]
        lines.extend(["", "Key Metrics:", "-" * 60, f"  Avg Scan Time: {metrics['avg_scan_time']:.2f}s",
                      f"  Memory Usage: {metrics['current_memory_mb']:.1f}MB", f"  Errors: {metrics['error_count']}",
                      f"  Warnings: {metrics['warning_count']}", "=" * 60])
        self.assertEqual(text, "\n".join(lines))

    def test_get_health_check_is_a_singleton(self):
        self.assertIs(telering.get_health_check(), telering.get_health_check())
        self.assertIs(bot_health_check.get_health_check(), telering.get_health_check())


class PerInstanceViewTest(SegmentTest):
    """One bot's errors never make another instance's seed calls report them."""

    tag = "view"

    def test_another_instances_errors_do_not_appear_in_this_instances_views(self):
        noisy, quiet = ErrorRecoveryManager(), ErrorRecoveryManager()
        noisy_hc, quiet_hc = BotHealthCheck(), BotHealthCheck()
        for i in range(20):
            noisy.record_error("api_connection", f"reset {i}", ErrorSeverity.HIGH)
            noisy_hc.performance_monitor.record_error()
        self.assertEqual(noisy.get_error_statistics()["total_errors"], 20)
        self.assertEqual(quiet.get_error_statistics()["total_errors"], 0)
        self.assertEqual(quiet.error_counts, {})
        noisy_report, quiet_report = noisy_hc.run_full_health_check(), quiet_hc.run_full_health_check()
        self.assertEqual(noisy_report["metrics"]["error_count"], 20)
        self.assertEqual(noisy_report["overall_status"], "WARNING")  # the seed's rule: an error in the last minute
        self.assertEqual(quiet_report["metrics"]["error_count"], 0)
        self.assertEqual(quiet_report["overall_status"], "HEALTHY")
        # The host view has its own name and sees them all.
        self.assertEqual(reader_once(self.segment)["error_statistics"]["total_errors"], 20)


class ErrorRecoveryNamesTest(SegmentTest):
    tag = "er"

    def test_enums_are_the_seeds(self):
        self.assertTrue(issubclass(ErrorSeverity, Enum))
        self.assertEqual([(s.name, s.value) for s in ErrorSeverity],
                         [("LOW", 1), ("MEDIUM", 2), ("HIGH", 3), ("CRITICAL", 4)])
        self.assertEqual([(a.name, a.value) for a in RecoveryAction],
                         [("RETRY", "retry"), ("BACKOFF", "backoff"), ("RESET", "reset"), ("ALERT", "alert"),
                          ("SHUTDOWN", "shutdown")])

    def test_error_record_fields(self):
        r = ErrorRecord("x", "boom", ErrorSeverity.LOW)
        self.assertEqual((r.error_type, r.message, r.severity, r.context), ("x", "boom", ErrorSeverity.LOW, {}))
        self.assertIsInstance(r.timestamp, datetime)
        self.assertFalse(r.recovery_attempted)
        self.assertFalse(r.recovery_successful)
        r.recovery_attempted = True
        r.custom = 1
        self.assertTrue(r.recovery_attempted)
        self.assertEqual(r.custom, 1)

    def test_manager_attributes_and_builtin_strategies(self):
        em = ErrorRecoveryManager(max_retries=4, backoff_base=3.0)
        self.assertEqual((em.max_retries, em.backoff_base, em.circuit_breaker_timeout), (4, 3.0, 60))
        self.assertIsInstance(em.error_history, deque)
        self.assertEqual(em.error_history.maxlen, 1000)
        self.assertEqual((em.error_counts, em.last_errors, em.circuit_breakers), ({}, {}, {}))
        self.assertEqual(em.recovery_strategies["api_rate_limit"],
                         {"severity": ErrorSeverity.MEDIUM, "action": RecoveryAction.BACKOFF,
                          "params": {"backoff_seconds": 30}})
        self.assertEqual(em.recovery_strategies["api_connection"]["params"], {"max_retries": 5})
        self.assertEqual({k: v["action"] for k, v in em.recovery_strategies.items()},
                         {"api_rate_limit": RecoveryAction.BACKOFF, "api_connection": RecoveryAction.RETRY,
                          "insufficient_balance": RecoveryAction.ALERT, "position_not_found": RecoveryAction.RESET,
                          "critical_system_error": RecoveryAction.ALERT})
        em.register_recovery_strategy("custom_error_type", ErrorSeverity.MEDIUM, RecoveryAction.RETRY, max_retries=5,
                                      custom_param="value")
        self.assertEqual(em.recovery_strategies["custom_error_type"]["params"],
                         {"max_retries": 5, "custom_param": "value"})

    def test_record_error_keeps_history_counts_and_last_times(self):
        em = ErrorRecoveryManager()
        ctx = {"endpoint": "/api/v1/market/orderbook"}
        e = em.record_error(error_type="api_rate_limit", message="Rate limit exceeded",
                            severity=ErrorSeverity.MEDIUM, context=ctx)
        self.assertIsInstance(e, ErrorRecord)
        self.assertIs(e.context, ctx)
        self.assertIs(em.error_history[-1], e)
        em.record_error("api_rate_limit", "again")
        self.assertEqual(em.error_counts, {"api_rate_limit": 2})
        self.assertIsInstance(em.last_errors["api_rate_limit"], datetime)

    def test_default_severity_is_the_registered_one_else_medium(self):
        em = ErrorRecoveryManager()
        self.assertIs(em.record_error("position_not_found", "gone").severity, ErrorSeverity.HIGH)
        self.assertIs(em.record_error("critical_system_error", "x").severity, ErrorSeverity.CRITICAL)
        self.assertIs(em.record_error("never_registered", "x").severity, ErrorSeverity.MEDIUM)

    def test_errors_are_logged_at_the_seeds_levels(self):
        em = ErrorRecoveryManager(logger=logging.getLogger("seed.levels"))
        with self.assertLogs("seed.levels", logging.DEBUG) as logs:
            em.record_error("a", "m1", ErrorSeverity.CRITICAL)
            em.record_error("b", "m2", ErrorSeverity.HIGH)
            em.record_error("c", "m3", ErrorSeverity.MEDIUM)
            em.record_error("d", "m4", ErrorSeverity.LOW)
        self.assertEqual(logs.output, ["CRITICAL:seed.levels:CRITICAL ERROR: a - m1", "ERROR:seed.levels:ERROR: b - m2",
                                       "WARNING:seed.levels:WARNING: c - m3", "DEBUG:seed.levels:INFO: d - m4"])

    def test_the_log_record_is_the_one_logging_builds(self):
        logger = logging.getLogger("seed.record")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logger.addHandler(handler)
        em = ErrorRecoveryManager(logger=logger)
        line = inspect.currentframe().f_lineno + 1
        em.record_error("api_rate_limit", "Rate limit exceeded", ErrorSeverity.MEDIUM, {"n": 1})
        logger.warning("WARNING: api_rate_limit - Rate limit exceeded")
        ours, theirs = vars(records[0]), vars(records[1])
        self.assertEqual(list(ours), list(theirs))  # the same attributes, in the same order
        for key in ours:
            if key not in ("created", "msecs", "relativeCreated", "lineno"):
                self.assertEqual(ours[key], theirs[key], key)
        self.assertEqual(ours["lineno"], line)
        self.assertEqual(ours["pathname"], __file__)
        self.assertEqual(ours["funcName"], "test_the_log_record_is_the_one_logging_builds")
        self.assertLess(abs(ours["created"] - theirs["created"]), 1.0)
        self.assertEqual(ours["msecs"], int((ours["created"] - int(ours["created"])) * 1000) + 0.0)
        self.assertEqual(records[0].getMessage(), "WARNING: api_rate_limit - Rate limit exceeded")
        formatter = logging.Formatter("%(asctime)s - %(name)s - %(levelname)s - %(module)s:%(lineno)d - %(message)s")
        self.assertTrue(formatter.format(records[0]).endswith(
            f"- seed.record - WARNING - test_seed_api:{line} - WARNING: api_rate_limit - Rate limit exceeded"))

    def test_the_log_line_reaches_the_handlers_logging_would_call(self):
        parent, child = logging.getLogger("walk"), logging.getLogger("walk.child")
        parent.propagate = False
        child.setLevel(logging.DEBUG)
        seen = []

        def handler(name, level):
            h = logging.Handler(level)
            h.emit = lambda record: seen.append((name, record.getMessage()))
            return h

        child.addHandler(handler("child-debug", logging.DEBUG))
        child.addHandler(handler("child-error", logging.ERROR))
        parent.addHandler(handler("parent-warning", logging.WARNING))
        self.addCleanup(lambda: [lg.handlers.clear() for lg in (parent, child)])
        em = ErrorRecoveryManager(logger=child)
        em.record_error("t", "medium", ErrorSeverity.MEDIUM)
        self.assertEqual(seen, [("child-debug", "WARNING: t - medium"), ("parent-warning", "WARNING: t - medium")])
        seen.clear()
        child.propagate = False
        em.record_error("t", "high", ErrorSeverity.HIGH)
        self.assertEqual(seen, [("child-debug", "ERROR: t - high"), ("child-error", "ERROR: t - high")])
        seen.clear()
        child.addFilter(lambda record: "drop" not in record.getMessage())
        em.record_error("t", "drop me", ErrorSeverity.HIGH)
        em.record_error("t", "keep me", ErrorSeverity.LOW)
        self.assertEqual(seen, [("child-debug", "INFO: t - keep me")])
        seen.clear()
        child.disabled = True
        em.record_error("t", "disabled", ErrorSeverity.CRITICAL)
        child.disabled = False
        self.assertEqual(seen, [])
        lonely = logging.getLogger("walk.lonely")
        lonely.propagate = False
        lonely.setLevel(logging.DEBUG)
        last_resort = logging.lastResort
        caught = []
        logging.lastResort = handler("last-resort", logging.WARNING)
        logging.lastResort.emit = lambda record: caught.append(record.getMessage())
        self.addCleanup(setattr, logging, "lastResort", last_resort)
        ErrorRecoveryManager(logger=lonely).record_error("t", "nobody", ErrorSeverity.HIGH)
        self.assertEqual(caught, ["ERROR: t - nobody"])

    def test_log_level_changes_take_effect_at_once(self):
        logger = logging.getLogger("seed.filter")
        logger.propagate = False
        lines = []
        handler = logging.Handler()
        handler.emit = lambda record: lines.append(record.getMessage())
        logger.addHandler(handler)
        logger.setLevel(logging.ERROR)
        em = ErrorRecoveryManager(logger=logger)
        em.record_error("c", "filtered", ErrorSeverity.MEDIUM)  # the logger caches WARNING as disabled
        em.record_error("c", "filtered", ErrorSeverity.MEDIUM)
        logger.setLevel(logging.DEBUG)
        em.record_error("c", "written", ErrorSeverity.MEDIUM)
        logging.disable(logging.CRITICAL)
        self.addCleanup(logging.disable, logging.NOTSET)
        em.record_error("c", "disabled", ErrorSeverity.MEDIUM)
        self.assertEqual(lines, ["WARNING: c - written"])

    def test_should_trigger_recovery_needs_three_errors_within_the_window(self):
        em = ErrorRecoveryManager()
        self.assertFalse(em.should_trigger_recovery("api_connection"))
        em.record_error("api_connection", "1")
        em.record_error("api_connection", "2")
        self.assertFalse(em.should_trigger_recovery("api_connection"))
        em.record_error("api_connection", "3")
        self.assertTrue(em.should_trigger_recovery("api_connection"))
        em._last_error_wall["api_connection"] -= 120
        self.assertFalse(em.should_trigger_recovery("api_connection"))
        self.assertTrue(em.should_trigger_recovery("api_connection", time_window=300))

    def test_attempt_recovery_returns_the_seeds_results(self):
        em = ErrorRecoveryManager(backoff_base=0.01)
        em.register_recovery_strategy("fast_backoff", ErrorSeverity.MEDIUM, RecoveryAction.BACKOFF,
                                      backoff_seconds=0.01)
        e = em.record_error("fast_backoff", "x")
        self.assertTrue(em.attempt_recovery(e))
        self.assertTrue(e.recovery_attempted and e.recovery_successful)
        self.assertTrue(em.attempt_recovery(em.record_error("api_connection", "x", context={"retry_count": 0})))
        self.assertFalse(em.attempt_recovery(em.record_error("api_connection", "x", context={"retry_count": 5})))
        self.assertTrue(em.attempt_recovery(em.record_error("position_not_found", "x")))
        self.assertTrue(em.attempt_recovery(em.record_error("insufficient_balance", "x")))
        em.register_recovery_strategy("fatal", ErrorSeverity.CRITICAL, RecoveryAction.SHUTDOWN)
        self.assertTrue(em.attempt_recovery(em.record_error("fatal", "x")))
        unknown = em.record_error("no_strategy", "x")
        self.assertFalse(em.attempt_recovery(unknown))
        self.assertFalse(unknown.recovery_attempted)

    def test_circuit_breakers_are_this_instances_and_close_after_the_timeout(self):
        em, other = ErrorRecoveryManager(), ErrorRecoveryManager()
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))
        em.open_circuit_breaker("market_scanner")
        self.assertTrue(em.is_circuit_breaker_open("market_scanner"))
        self.assertFalse(other.is_circuit_breaker_open("market_scanner"))
        self.assertEqual(em.get_error_statistics()["circuit_breakers_open"], 1)
        em.close_circuit_breaker("market_scanner")
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))
        em.circuit_breaker_timeout = 0.05
        em.open_circuit_breaker("market_scanner")
        time.sleep(0.1)
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))
        self.assertEqual(em.circuit_breakers, {})

    def test_error_statistics_report_and_clear_old_errors(self):
        em = ErrorRecoveryManager()
        em.record_error("a", "1", ErrorSeverity.LOW)
        em.record_error("a", "2", ErrorSeverity.HIGH)
        em.record_error("b", "3", ErrorSeverity.HIGH)
        stats = em.get_error_statistics()
        self.assertEqual(set(stats), {"total_errors", "error_rate_per_minute", "errors_by_type", "errors_by_severity",
                                      "circuit_breakers_open"})
        self.assertEqual(stats["total_errors"], 3)
        self.assertEqual(stats["error_rate_per_minute"], 3.0)  # a span under a minute counts as one
        self.assertEqual(stats["errors_by_type"], {"a": 2, "b": 1})
        self.assertEqual(stats["errors_by_severity"], {"LOW": 1, "MEDIUM": 0, "HIGH": 2, "CRITICAL": 0})
        report = em.get_error_report()
        self.assertIn("ERROR RECOVERY REPORT", report)
        self.assertIn("Total Errors: 3", report)
        self.assertIn("  a: 2\n  b: 1", report)
        old = em.error_history[0]
        old.timestamp = datetime.now() - timedelta(hours=30)
        em.clear_old_errors(age_hours=24)
        self.assertEqual(len(em.error_history), 2)
        self.assertNotIn(old, em.error_history)

    def test_get_error_manager_is_a_singleton(self):
        self.assertIs(telering.get_error_manager(), error_recovery.get_error_manager())


class RetryWithBackoffTest(SegmentTest):
    tag = "retry"

    def test_calls_max_retries_times_in_all_and_records_the_last_failure(self):
        em = ErrorRecoveryManager()
        sleeps, calls = [], []
        retry = RetryWithBackoff(max_retries=3, backoff_base=2.0, error_manager=em, sleep=sleeps.append)

        @retry
        def fetch():
            calls.append(1)
            raise ConnectionError("reset by peer")

        with self.assertRaises(ConnectionError):
            fetch()
        self.assertEqual(len(calls), 3)
        self.assertEqual(sleeps, [1.0, 2.0])
        self.assertEqual(em.error_counts, {"fetch_error": 1})
        last = em.error_history[-1]
        self.assertIs(last.severity, ErrorSeverity.HIGH)
        self.assertEqual(last.context, {"function": "fetch", "attempt": 3})
        self.assertEqual(last.message, "reset by peer")

    def test_returns_on_success(self):
        calls = []

        @RetryWithBackoff(max_retries=3, backoff_base=2.0, sleep=lambda s: None)
        def flaky():
            calls.append(1)
            if len(calls) < 2:
                raise TimeoutError("slow")
            return "data"

        self.assertEqual(flaky(), "data")
        self.assertEqual(len(calls), 2)

    def test_component_breaker_stops_calls(self):
        em = ErrorRecoveryManager()
        em.open_circuit_breaker("market_scanner")
        called = []

        @RetryWithBackoff(error_manager=em, component="market_scanner", sleep=lambda s: None)
        def scan():
            called.append(1)

        with self.assertRaises(telering.CircuitBreakerOpenError):
            scan()
        self.assertEqual(called, [])


class BadArgumentsTest(SegmentTest):
    tag = "args"

    def test_bad_durations_raise_type_or_value_errors_with_a_message(self):
        pm = PerformanceMonitor()
        with self.assertRaisesRegex(TypeError, "duration must be a number of seconds, not NoneType"):
            pm.record_scan_time(None)
        with self.assertRaisesRegex(TypeError, "not str"):
            pm.record_api_call("1.5")
        for bad in (-1.0, math.nan, math.inf):
            with self.assertRaisesRegex(ValueError, "finite number of seconds >= 0"):
                pm.record_scan_time(bad)
        with self.assertRaises(TypeError):
            pm.record_scan_time(seconds=1.0)
        pm.record_scan_time(duration=1)  # ints and the seed's keyword are fine
        pm.record_api_call(duration=True)
        self.assertEqual(list(pm.scan_times), [1.0])
        self.assertEqual(reader_once(self.segment)["metrics"]["scan_samples"], 1)

    def test_bad_error_arguments(self):
        em = ErrorRecoveryManager()
        with self.assertRaisesRegex(ValueError, "LOW..CRITICAL"):
            em.record_error("x", "y", 7)
        with self.assertRaisesRegex(TypeError, "error_type must be a str"):
            em.record_error(None, "y")
        with self.assertRaisesRegex(TypeError, "severity must be an ErrorSeverity"):
            em.record_error("x", "y", 2.5)
        with self.assertRaises(TypeError):
            em.record_error("x")
        self.assertIs(em.record_error("x", None).message, None)  # the seed's f-string takes any message


class ThreadsTest(SegmentTest):
    tag = "threads"

    def test_threads_record_exactly_into_their_own_lanes(self):
        pm = PerformanceMonitor()
        barrier = threading.Barrier(8)

        def work():
            barrier.wait()
            for _ in range(250):
                pm.record_scan_time(1.0)
                pm.record_warning()

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(reader_once(self.segment)["metrics"]["warnings_total"], 2000)
        self.assertEqual(pm.warning_count, 2000)
        self.assertEqual(len(pm.scan_times), 100)
        self.assertEqual(self.writer.stats()["dropped"], 0)


if __name__ == "__main__":
    unittest.main()
