"""The seed's bot_health_check module (PerformanceMonitor, BotHealthCheck,
get_health_check) on telering: recording pushes a 64-byte record into shared memory
through the C ABI; the reader process keeps the rolling windows and runs the checks, and
run_full_health_check() reads its latest report from the segment.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from typing import Optional

from . import _session
from ._native import Status, Writer

__all__ = ["PerformanceMonitor", "BotHealthCheck", "get_health_check", "format_health_summary"]

logger = logging.getLogger("telering.health")

# A bare performance_monitor.record_error() within this many seconds after
# error_manager.record_error() on the same thread is the same error (the seed records it in
# both places; telering's one Error record feeds both the error rate and the statistics).
_SAME_ERROR_WINDOW_S = 1.0
_recent = threading.local()


def _note_error_recorded() -> None:
    _recent.at = time.monotonic()


def _consume_recent_error() -> bool:
    at = getattr(_recent, "at", None)
    if at is not None and time.monotonic() - at <= _SAME_ERROR_WINDOW_S:
        _recent.at = None
        return True
    return False


class PerformanceMonitor:
    """The seed's PerformanceMonitor. Thread-safe; every call is one C call, no lock."""

    def __init__(self, writer: Optional[Writer] = None):
        self._bind(writer or _session.bind(self))

    def _bind(self, writer: Writer) -> None:
        self._w = writer
        # The hottest call, bound straight to the C function: no Python frame of ours.
        # record_scan_time(duration): records one scan's duration in seconds.
        self.record_scan_time = functools.partial(writer._scan_time, writer._h)
        self._api_call_id, self._h = writer._api_call_id, writer._h

    def record_api_call(self, duration: float, endpoint: Optional[str] = None) -> int:
        """Records an API call's latency in seconds (optionally per endpoint)."""
        if endpoint is None:
            return self._api_call_id(self._h, duration, 0)
        return self._w.api_call(duration, endpoint)

    def update_memory_usage(self) -> int:
        """Records this process's resident set size (sampled by a background thread)."""
        return self._w.memory()

    def record_error(self, error_type: Optional[str] = None, message: Optional[str] = None,
                     severity=None, context=None) -> int:
        """The seed's bare record_error() counts one error. Right after
        error_manager.record_error() on the same thread it is that same error and records
        nothing more; otherwise it records an 'unspecified_error' (or error_type if given)."""
        if error_type is None and _consume_recent_error():
            return Status.OK
        from .error_recovery import get_error_manager
        get_error_manager().record_error(error_type or "unspecified_error", message or "", severity, context)
        _consume_recent_error()
        return Status.OK

    def record_warning(self, warning_type: str = "unspecified_warning", message: Optional[str] = None) -> int:
        return self._w.warning(warning_type, message)

    def get_metrics(self) -> dict:
        """The reader's key metrics (avg scan time, memory MB, errors, warnings, ...)."""
        return get_health_check().run_full_health_check().get("metrics", {})


_ICONS = {"HEALTHY": "✅", "WARNING": "⚠️", "CRITICAL": "❌"}


def format_health_summary(report: dict) -> str:
    """The seed's 'BOT HEALTH CHECK SUMMARY' block from a report dict."""
    eq, dash = "=" * 60, "-" * 60
    lines = [eq, "BOT HEALTH CHECK SUMMARY", eq]
    ts = report.get("timestamp")
    if ts:
        lines.append("Timestamp: " + ts.replace("T", " ")[:19])
    else:
        lines.append("Timestamp: " + time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()))
    lines.append(f"Overall Status: {report.get('overall_status', 'UNKNOWN')}")
    if report.get("reason"):
        lines.append(f"Reason: {report['reason']}")
    lines += ["", "Component Health:", dash]
    for name, c in (report.get("components") or {}).items():
        status = c.get("status", "UNKNOWN")
        lines.append(f"{_ICONS.get(status, '❔')} {name}: {status}")
        lines.append(f"   {c.get('message', '')}")
    m = report.get("metrics") or {}
    lines += ["", "Key Metrics:", dash]
    if m:
        lines.append(f"  Avg Scan Time: {m.get('avg_scan_time_s', 0.0):.2f}s")
        lines.append(f"  Memory Usage: {m.get('memory_mb', 0.0):.1f}MB")
        lines.append(f"  Errors: {m.get('errors', 0)}")
        lines.append(f"  Warnings: {m.get('warnings', 0)}")
    else:
        lines.append("  (no report from a telering-reader)")
    lines.append(eq)
    return "\n".join(lines) + "\n"


class BotHealthCheck:
    """The seed's BotHealthCheck; the checks themselves run in telering-reader."""

    def __init__(self, writer: Optional[Writer] = None):
        self.performance_monitor = PerformanceMonitor(writer)
        self._bind(writer or _session.bind(self))

    def _bind(self, writer: Writer) -> None:
        self._w = writer
        if self.performance_monitor._w is not writer:
            self.performance_monitor._bind(writer)

    @property
    def writer(self) -> Writer:
        return self._w

    def run_full_health_check(self, fresh: bool = True) -> dict:
        """The reader's report: overall_status, components, metrics, timestamp, plus
        error_statistics, bots and breakers. fresh=True (the seed's semantics) asks the
        reader to recompute it first, so it includes what this thread just recorded (a
        round trip of about a millisecond); fresh=False reads the page as it is (at most a
        second old). With no live reader: overall_status UNKNOWN and a reason — never a
        stale HEALTHY."""
        if fresh and self._w.reader_alive():
            self._w.request_report()
        try:
            return json.loads(self._w.report_json())
        except ValueError as e:
            return {"overall_status": "UNKNOWN", "reason": f"unreadable report: {e}"}

    def _component(self, name: str) -> dict:
        report = self.run_full_health_check()
        return (report.get("components") or {}).get(
            name, {"status": "UNKNOWN", "message": report.get("reason", "no data")})

    def check_scan_performance(self) -> dict:
        return self._component("scan_performance")

    def check_memory_usage(self) -> dict:
        return self._component("memory_usage")

    def check_error_rate(self) -> dict:
        return self._component("error_rate")

    def check_api_performance(self) -> dict:
        return self._component("api_performance")

    def get_health_summary(self) -> str:
        return format_health_summary(self.run_full_health_check())

    def log_health_status(self) -> str:
        """Logs the seed's summary block (INFO; WARNING when not HEALTHY) and returns it."""
        report = self.run_full_health_check()
        text = format_health_summary(report)
        level = logging.INFO if report.get("overall_status") == "HEALTHY" else logging.WARNING
        logger.log(level, "\n%s", text)
        return text


_instance: Optional[BotHealthCheck] = None
_instance_lock = threading.Lock()


def get_health_check() -> BotHealthCheck:
    """The process's BotHealthCheck (singleton), bound to the process-wide writer."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = BotHealthCheck()
    return _instance
