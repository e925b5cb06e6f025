"""telering's own names: the reader's host view, where the reader is stricter than the seed's
rules, error content in the segment, the attach options, and `python -m telering`."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import time
import unittest

import telering
from telering import ErrorRecoveryManager, ErrorSeverity, RecoveryAction, _native

from support import LiveReader, SegmentTest, reader_once, remove_segment, run_child, unique_segment, wait_for


class LiveReaderTest(SegmentTest):
    tag = "live"

    def setUp(self):
        super().setUp()
        self.reader = LiveReader(self.segment).__enter__()
        self.addCleanup(self.reader.__exit__, None, None, None)
        self.assertTrue(wait_for(self.writer.reader_alive), "reader did not start")

    def test_host_report_and_host_error_statistics_see_every_bot(self):
        hc, em = telering.get_health_check(), telering.get_error_manager()
        hc.performance_monitor.record_scan_time(95.0)
        em.record_error("api_rate_limit", "x", ErrorSeverity.MEDIUM)
        proc = run_child("""
            import telering
            telering.get_error_manager().record_error("api_connection", "other bot", telering.ErrorSeverity.HIGH)
        """, {"TELERING_SEGMENT": self.segment, "TELERING_BOT": "other-bot"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        stats = wait_for(lambda: (lambda s: s if s.get("total_errors") == 2 else None)(em.host_error_statistics()))
        self.assertEqual(stats["errors_by_type"], {"api_rate_limit": 1, "api_connection": 1})
        report = hc.host_report()
        self.assertEqual(report["components"]["scan_performance"]["status"], "CRITICAL")
        self.assertEqual(em.get_error_statistics()["total_errors"], 1)  # the seed's call: this instance's

    def test_a_breaker_the_reader_opened_is_open_for_the_seeds_call(self):
        em = ErrorRecoveryManager()
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))
        self.assertTrue(em.open_host_circuit_breaker("market_scanner"))
        self.assertEqual(em.host_breaker_state("market_scanner"), "OPEN")
        self.assertTrue(em.is_circuit_breaker_open("market_scanner"))
        self.assertEqual(em.circuit_breakers, {})  # not this instance's own
        self.assertTrue(em.close_host_circuit_breaker("market_scanner"))
        self.assertFalse(em.is_circuit_breaker_open("market_scanner"))

    def test_a_backoff_the_reader_set_triggers_recovery_and_lengthens_the_wait(self):
        em = ErrorRecoveryManager()
        em.register_recovery_strategy("board_backoff", ErrorSeverity.MEDIUM, RecoveryAction.BACKOFF, backoff_seconds=0.4)
        e = em.record_error("board_backoff", "first")
        self.assertTrue(wait_for(lambda: em.writer.in_backoff("board_backoff")))
        self.assertEqual(em.get_recovery_decision("board_backoff")["last_action"], "BACKOFF")
        self.assertTrue(em.should_trigger_recovery("board_backoff"))  # one error, but the reader's backoff holds
        em.recovery_strategies["board_backoff"]["params"]["backoff_seconds"] = 0.0
        started = time.monotonic()
        self.assertTrue(em.attempt_recovery(e))
        self.assertGreater(time.monotonic() - started, 0.1)  # slept out the reader's backoff
        self.assertFalse(em.writer.in_backoff("board_backoff"))

    def test_message_and_context_both_reach_the_readers_history_with_the_cut_flagged(self):
        em = ErrorRecoveryManager()
        em.record_error("api_rate_limit", "Rate limit exceeded", ErrorSeverity.MEDIUM,
                        {"endpoint": "/api/v1/market/orderbook"})
        em.record_error("short", "oops", ErrorSeverity.LOW, {"n": 1})
        em.record_error("utf8", "é" * 40, ErrorSeverity.LOW)
        stats = wait_for(lambda: (lambda s: s if s.get("total_errors") == 3 else None)(em.host_error_statistics()))
        messages = {e["error_type"]: e["message"] for e in stats["recent_errors"]}
        self.assertEqual(messages["api_rate_limit"], "Rate limit exceeded endpoint=/api/…")
        self.assertEqual(messages["short"], "oops n=1")
        self.assertEqual(messages["utf8"], "é" * 17 + "…")  # cut on a character boundary
        full = em.error_history[0]
        self.assertEqual((full.message, full.context), ("Rate limit exceeded", {"endpoint": "/api/v1/market/orderbook"}))

    def test_asyncio_code_calls_the_api_from_coroutines(self):
        em, pm = ErrorRecoveryManager(), telering.PerformanceMonitor()

        async def scan(i):
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            pm.record_scan_time(time.perf_counter() - started)      # never blocks
            if i % 2:
                em.record_error("api_connection", f"task {i}")        # never blocks
            return em.is_circuit_breaker_open("market_scanner")       # one load

        async def main():
            results = await asyncio.gather(*(scan(i) for i in range(20)))
            # Commands to the reader wait for its answer (up to 2 s): off the event loop.
            applied = await asyncio.to_thread(em.open_host_circuit_breaker, "market_scanner")
            return results, applied, em.is_circuit_breaker_open("market_scanner")

        results, applied, open_after = asyncio.run(main())
        self.assertEqual(results, [False] * 20)
        self.assertTrue(applied and open_after)
        self.assertEqual(em.error_counts, {"api_connection": 10})
        self.assertEqual(len(pm.scan_times), 20)


class NoReaderTest(SegmentTest):
    tag = "noreader"

    def test_missing_reader_is_logged_once_with_the_command_that_starts_one(self):
        segment = unique_segment("lonely")
        self.addCleanup(remove_segment, segment)
        with self.assertLogs("telering", logging.WARNING) as logs:
            telering.attach(segment=segment, bot="b")
            telering.attach(segment=segment, bot="b")
        self.assertEqual(len(logs.output), 1)
        self.assertIn(f"telering-reader --segment {segment}", logs.output[0])

    def test_host_views_say_unknown_without_a_reader(self):
        report = telering.get_health_check().host_report()
        self.assertEqual(report["overall_status"], "UNKNOWN")
        self.assertIn("reader", report["reason"])
        self.assertEqual(self.writer.overall_health(), "UNKNOWN")
        started = time.monotonic()
        self.assertFalse(ErrorRecoveryManager().open_host_circuit_breaker("market_scanner"))  # queued, no stall
        self.assertLess(time.monotonic() - started, 1.0)

    def test_a_full_name_table_is_logged_clearly_and_recording_goes_on(self):
        segment = unique_segment("tiny")
        self.addCleanup(remove_segment, segment)
        w = telering.Writer(segment, "tiny-bot", name_capacity=16, sample_memory=False)
        self.addCleanup(w.detach)
        em = ErrorRecoveryManager(writer=w)
        with self.assertLogs("telering", logging.ERROR) as logs:
            records = [em.record_error(f"type_{i}", "m") for i in range(40)]
        self.assertEqual(len(logs.output), 1)
        self.assertIn("name table of segment", logs.output[0])
        self.assertIn("name_capacity", logs.output[0])
        self.assertEqual(records[-1].status, _native.NO_NAME)
        self.assertEqual(len(em.error_history), 40)
        self.assertGreater(w.stats()["name_table_full"], 0)


class AttachOptionsTest(unittest.TestCase):
    def test_group_and_mode_reach_the_segment(self):
        segment, refused = unique_segment("group"), unique_segment("nogroup")
        self.addCleanup(remove_segment, segment)
        self.addCleanup(remove_segment, refused)
        with self.assertRaisesRegex(telering.TeleringError, "unknown group 'no-such-group-xyz'"):
            telering.Writer(refused, "b", mode=0o660, group="no-such-group-xyz")
        w = telering.Writer(segment, "b", mode=0o640, group="root", sample_memory=False)
        self.addCleanup(w.detach)
        st = os.stat(f"/dev/shm/{segment}")
        self.assertEqual(st.st_mode & 0o777, 0o640)
        self.assertEqual(st.st_gid, 0)
        self.assertEqual(w.options["group"], "root")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to give the segment to another user")
    def test_trust_other_owner_attaches_to_another_users_segment(self):
        segment = unique_segment("owner")
        self.addCleanup(remove_segment, segment)
        telering.Writer(segment, "b", sample_memory=False).detach()
        os.chown(f"/dev/shm/{segment}", 12345, -1)
        with self.assertRaisesRegex(telering.TeleringError, "owned by uid 12345"):
            telering.Writer(segment, "b")
        w = telering.Writer(segment, "b", trust_other_owner=True, sample_memory=False)
        self.assertTrue(w.attached)
        w.detach()

    def test_options_are_telering_writer_options(self):
        with self.assertRaisesRegex(ValueError, "mode"):
            telering.Writer(unique_segment("mode"), "b", mode=0o1777)
        with self.assertRaises(TypeError):
            telering.Writer(unique_segment("kw"), "b", no_such_option=1)


class MainModuleTest(SegmentTest):
    tag = "main"

    def test_python_m_telering_prints_segment_reader_and_lanes(self):
        telering.get_health_check().performance_monitor.record_scan_time(1.0)
        out = subprocess.run([sys.executable, "-m", "telering", self.segment], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(f"segment  /dev/shm/{self.segment}", out.stdout)
        self.assertIn(f"start one with  telering-reader --segment {self.segment}", out.stdout)
        self.assertIn(f"{os.getpid():>8}", out.stdout)  # this process's lane
        with LiveReader(self.segment):
            self.assertTrue(wait_for(self.writer.reader_alive))
            out = subprocess.run([sys.executable, "-m", "telering", self.segment], capture_output=True, text=True,
                                 timeout=30)
        self.assertRegex(out.stdout, r"reader   pid \d+, heartbeat [\d.]+ s ago: alive")
        missing = subprocess.run([sys.executable, "-m", "telering", unique_segment("none")], capture_output=True,
                                 text=True, timeout=30)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("does not exist", missing.stderr)


class DocstringTest(unittest.TestCase):
    def test_every_public_name_has_a_docstring(self):
        import inspect
        import telering.bot_health_check as hc
        import telering.error_recovery as er
        missing = []
        for module in (telering, hc, er, _native):
            for name in getattr(module, "__all__", dir(module)):
                if name.startswith("_") or name.isupper():
                    continue
                obj = getattr(module, name)
                if not (inspect.isclass(obj) or callable(obj)):
                    continue
                if not inspect.getdoc(obj):
                    missing.append(f"{module.__name__}.{name}")
                if inspect.isclass(obj):
                    for attr, member in vars(obj).items():
                        if not attr.startswith("_") and callable(member) and not inspect.getdoc(member):
                            missing.append(f"{module.__name__}.{name}.{attr}")
        self.assertEqual(missing, [])


if __name__ == "__main__":
    unittest.main()
