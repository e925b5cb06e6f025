"""The seed's ``bot_health_check`` module on telering: HealthStatus, PerformanceMonitor,
BotHealthCheck and get_health_check, with the seed's names, rules and meaning.

Every record goes to this instance's own windows (what the seed's methods report) and to
the shared-memory segment, where telering-reader keeps the host-wide view of every bot.
The host-wide views have names of their own: :meth:`BotHealthCheck.host_report` and
``telering.writer().overall_health()``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from datetime import datetime
from typing import Any, Deque, Dict, Optional, Tuple

from . import _native
from ._native import Writer

__all__ = ["HealthStatus", "PerformanceMonitor", "BotHealthCheck", "get_health_check"]

logging.getLogger("telering").addHandler(logging.NullHandler())
_default_logger: logging.Logger = logging.getLogger("telering.health")


def _set_default_logger(bot_logger: Optional[logging.Logger]) -> None:
    global _default_logger
    _default_logger = bot_logger or logging.getLogger("telering.health")
    if _instance is not None:
        _instance.logger = _default_logger
        _instance.performance_monitor.logger = _default_logger


class HealthStatus:
    """Health status levels (the seed's string constants), named by the native module, which
    takes them from the C++ enum's one definition (telering/core/layout.hpp)."""

    HEALTHY = _native.HEALTH_STATUS_NAMES[_native.HEALTH_HEALTHY]
    WARNING = _native.HEALTH_STATUS_NAMES[_native.HEALTH_WARNING]
    CRITICAL = _native.HEALTH_STATUS_NAMES[_native.HEALTH_CRITICAL]
    UNKNOWN = _native.HEALTH_STATUS_NAMES[_native.HEALTH_UNKNOWN]


class PerformanceMonitor(_native.PerformanceMonitor):
    """The seed's PerformanceMonitor: rolling windows of the last ``window_size`` scan
    times, API call times and memory samples, and error / warning counts — this
    instance's own. Every record also goes to the segment. Thread-safe: each recording
    method is one native call that holds the GIL throughout (no lock to take)."""

    # No per-instance __dict__: the native methods are then found without a dict check.
    __slots__ = ("logger",)

    def __init__(self, window_size: int = 100, *, writer: Optional[Writer] = None) -> None:
        super().__init__(window_size, writer=writer)
        self.logger = _default_logger

    def get_metrics(self) -> Dict[str, Any]:
        """This instance's metrics, with the seed's keys: avg/max/min_scan_time,
        avg_api_call_time, avg_memory_mb, current_memory_mb, error_count, warning_count,
        last_error_time (a datetime or None)."""
        scans, apis, memory = self._windows()
        return {
            "avg_scan_time": sum(scans) / len(scans) if scans else 0,
            "max_scan_time": max(scans) if scans else 0,
            "min_scan_time": min(scans) if scans else 0,
            "avg_api_call_time": sum(apis) / len(apis) if apis else 0,
            "avg_memory_mb": sum(memory) / len(memory) if memory else 0,
            "current_memory_mb": memory[-1] if memory else 0,
            "error_count": self.error_count,
            "warning_count": self.warning_count,
            "last_error_time": self.last_error_time,
        }


class BotHealthCheck:
    """The seed's BotHealthCheck: checks this instance's PerformanceMonitor against its
    thresholds (max_scan_time = 30.0 s, max_memory_mb = 1024, max_error_rate = 0.05), keeps
    the last 100 reports in health_history, and logs the seed's summary block. The reader's
    host-wide report is :meth:`host_report`."""

    def __init__(self, *, writer: Optional[Writer] = None) -> None:
        self.logger = _default_logger
        self.performance_monitor = PerformanceMonitor(writer=writer)
        self.last_health_check = datetime.now()
        self.health_history: Deque[Dict[str, Any]] = deque(maxlen=100)
        self._lock = threading.Lock()
        self.max_scan_time = 30.0
        self.max_memory_mb = 1024
        self.max_error_rate = 0.05

    def check_scan_performance(self, metrics: Dict[str, Any]) -> Tuple[str, str]:
        """CRITICAL when the slowest scan exceeds 3 x max_scan_time, WARNING when the
        average exceeds max_scan_time, else HEALTHY; with the seed's messages."""
        avg_scan_time = metrics.get("avg_scan_time", 0)
        max_scan_time = metrics.get("max_scan_time", 0)
        if max_scan_time > self.max_scan_time * 3:
            return (HealthStatus.CRITICAL,
                    f"Scan time critically slow: max={max_scan_time:.1f}s (threshold={self.max_scan_time*3}s)")
        if avg_scan_time > self.max_scan_time:
            return (HealthStatus.WARNING,
                    f"Scan time above threshold: avg={avg_scan_time:.1f}s (threshold={self.max_scan_time}s)")
        return HealthStatus.HEALTHY, f"Scan performance good: avg={avg_scan_time:.1f}s"

    def check_memory_usage(self, metrics: Dict[str, Any]) -> Tuple[str, str]:
        """CRITICAL above max_memory_mb, WARNING above 80 % of it, else HEALTHY."""
        current_memory = metrics.get("current_memory_mb", 0)
        if current_memory > self.max_memory_mb:
            return (HealthStatus.CRITICAL,
                    f"Memory usage critical: {current_memory:.1f}MB (threshold={self.max_memory_mb}MB)")
        if current_memory > self.max_memory_mb * 0.8:
            return (HealthStatus.WARNING,
                    f"Memory usage high: {current_memory:.1f}MB (threshold={self.max_memory_mb}MB)")
        return HealthStatus.HEALTHY, f"Memory usage normal: {current_memory:.1f}MB"

    def check_error_rate(self, metrics: Dict[str, Any]) -> Tuple[str, str]:
        """WARNING for an error in the last 60 s; else CRITICAL above 10 errors, WARNING
        above 5, else HEALTHY."""
        error_count = metrics.get("error_count", 0)
        last_error_time = metrics.get("last_error_time")
        if last_error_time:
            time_since_error = (datetime.now() - last_error_time).total_seconds()
            if time_since_error < 60:
                return HealthStatus.WARNING, f"Recent error detected ({time_since_error:.0f}s ago)"
        if error_count > 10:
            return HealthStatus.CRITICAL, f"High error count: {error_count} errors"
        if error_count > 5:
            return HealthStatus.WARNING, f"Elevated error count: {error_count} errors"
        return HealthStatus.HEALTHY, f"Error rate normal: {error_count} errors"

    def check_api_performance(self, metrics: Dict[str, Any]) -> Tuple[str, str]:
        """CRITICAL when the average API call exceeds 5 s, WARNING above 2 s, else HEALTHY."""
        avg_api_time = metrics.get("avg_api_call_time", 0)
        if avg_api_time > 5.0:
            return HealthStatus.CRITICAL, f"API calls critically slow: avg={avg_api_time:.2f}s"
        if avg_api_time > 2.0:
            return HealthStatus.WARNING, f"API calls slower than expected: avg={avg_api_time:.2f}s"
        return HealthStatus.HEALTHY, f"API performance good: avg={avg_api_time:.2f}s"

    def run_full_health_check(self) -> Dict[str, Any]:
        """Samples memory, runs the four checks on this instance's metrics and returns
        {'timestamp': datetime, 'overall_status', 'checks': {name: (status, message)},
        'metrics'}; the report is kept in health_history."""
        with self._lock:
            self.last_health_check = datetime.now()
            self.performance_monitor.update_memory_usage()
            metrics = self.performance_monitor.get_metrics()
            checks = {
                "scan_performance": self.check_scan_performance(metrics),
                "memory_usage": self.check_memory_usage(metrics),
                "error_rate": self.check_error_rate(metrics),
                "api_performance": self.check_api_performance(metrics),
            }
            statuses = [check[0] for check in checks.values()]
            if HealthStatus.CRITICAL in statuses:
                overall = HealthStatus.CRITICAL
            elif HealthStatus.WARNING in statuses:
                overall = HealthStatus.WARNING
            else:
                overall = HealthStatus.HEALTHY
            report = {"timestamp": self.last_health_check, "overall_status": overall, "checks": checks,
                      "metrics": metrics}
            self.health_history.append(report)
            return report

    def get_health_summary(self) -> str:
        """The seed's 'BOT HEALTH CHECK SUMMARY' text for a fresh run_full_health_check()
        (timestamp in local time)."""
        report = self.run_full_health_check()
        metrics = report["metrics"]
        # The reader's formatter (one definition of the block); its last line ends in a
        # newline, the seed's text does not.
        text = _native.format_health_summary(
            report["timestamp"].strftime("%Y-%m-%d %H:%M:%S"), report["overall_status"],
            [(component, status, message) for component, (status, message) in report["checks"].items()],
            metrics["avg_scan_time"], metrics["current_memory_mb"], metrics["error_count"], metrics["warning_count"])
        return text[:-1]

    def log_health_status(self) -> None:
        """Logs get_health_summary() at INFO to this instance's logger (the bot's, when
        given with telering.set_logger)."""
        self.logger.info(f"\n{self.get_health_summary()}")

    # -- telering's host-wide view (names of its own) ----------------------------------------
    def host_report(self, fresh: bool = True) -> Dict[str, Any]:
        """telering-reader's report for the whole host: overall_status, components,
        metrics, error_statistics, bots, breakers. fresh=True asks the reader to recompute
        it first (it then includes what this thread recorded; about a millisecond). With no
        live reader: overall_status UNKNOWN and a reason, never a stale HEALTHY."""
        w = self.performance_monitor.writer or _native._get_current()
        if w is None:
            from ._session import writer
            w = writer()
        if fresh and w.reader_alive():
            w.request_report()
        try:
            return json.loads(w.report_json())
        except ValueError as e:
            return {"overall_status": HealthStatus.UNKNOWN, "reason": f"unreadable report: {e}"}


_instance: Optional[BotHealthCheck] = None
_instance_lock = threading.Lock()


def get_health_check() -> BotHealthCheck:
    """The process's BotHealthCheck (created on first call); it records into the
    process-wide writer (telering.attach, or the defaults on first record)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = BotHealthCheck()
    return _instance
