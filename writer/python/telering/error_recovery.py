"""The seed's ``error_recovery`` module on telering: ErrorSeverity, RecoveryAction,
ErrorRecord, ErrorRecoveryManager, RetryWithBackoff and get_error_manager, with the seed's
names, rules and meaning.

An instance's views (error_history, error_counts, last_errors, circuit_breakers,
get_error_statistics) are its own, as in the seed. Every error also goes to the segment,
where telering-reader sees every bot of the host and decides; where its decision is
stricter — a breaker it opened, a backoff it set — is_circuit_breaker_open,
should_trigger_recovery and attempt_recovery say so. The host-wide views have names of
their own (host_error_statistics, open_host_circuit_breaker, get_recovery_decision, ...).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Callable, Dict, Optional, Tuple, Type

from . import _native
from ._native import ErrorRecord, Writer

__all__ = ["ErrorSeverity", "RecoveryAction", "ErrorRecord", "ErrorRecoveryManager", "RetryWithBackoff",
           "get_error_manager"]

logging.getLogger("telering").addHandler(logging.NullHandler())
_default_logger: logging.Logger = logging.getLogger("telering.error_recovery")


def _set_default_logger(bot_logger: Optional[logging.Logger]) -> None:
    global _default_logger
    _default_logger = bot_logger or logging.getLogger("telering.error_recovery")
    if _instance is not None:
        _instance.logger = _default_logger


class ErrorSeverity(Enum):
    """Error severity levels (the seed's values; the C ABI's telering_severity)."""

    LOW = _native.SEVERITY_LOW
    MEDIUM = _native.SEVERITY_MEDIUM
    HIGH = _native.SEVERITY_HIGH
    CRITICAL = _native.SEVERITY_CRITICAL


class RecoveryAction(Enum):
    """Recovery action types (the seed's values), named by the native module, which takes
    them from the C++ enum's one definition (telering/core/layout.hpp)."""

    RETRY = _native.RECOVERY_ACTION_NAMES[_native.ACTION_RETRY]
    BACKOFF = _native.RECOVERY_ACTION_NAMES[_native.ACTION_BACKOFF]
    RESET = _native.RECOVERY_ACTION_NAMES[_native.ACTION_RESET]
    ALERT = _native.RECOVERY_ACTION_NAMES[_native.ACTION_ALERT]
    SHUTDOWN = _native.RECOVERY_ACTION_NAMES[_native.ACTION_SHUTDOWN]


_native._set_severities(ErrorSeverity)
# Each action's value in the C header: the index of its name.
_ACTION_CODE = {action: _native.RECOVERY_ACTION_NAMES.index(action.value) for action in RecoveryAction}


class ErrorRecoveryManager(_native.ErrorRecoveryManager):
    """The seed's ErrorRecoveryManager: records errors with their severity and context,
    keeps this instance's history (1000), counts and last times, its strategies (the five
    built-ins pre-registered) and the circuit breakers it opened (closed after
    circuit_breaker_timeout seconds). record_error and is_circuit_breaker_open are native;
    every error also goes to the segment for the reader."""

    # No per-instance __dict__: the native methods are then found without a dict check.
    __slots__ = ("max_retries", "backoff_base", "circuit_breaker_timeout", "_lock", "_send_strategies")

    def __init__(self, max_retries: int = 3, backoff_base: float = 2.0, *, writer: Optional[Writer] = None,
                 logger: Optional[logging.Logger] = None) -> None:
        super().__init__(writer=writer)
        self.logger = logger or _default_logger
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self._lock = threading.Lock()
        self._send_strategies = False  # the reader has the built-ins already
        self._register_default_strategies()
        self._send_strategies = True
        self.circuit_breaker_timeout = 60

    def _register_default_strategies(self) -> None:
        self.register_recovery_strategy("api_rate_limit", ErrorSeverity.MEDIUM, RecoveryAction.BACKOFF,
                                        backoff_seconds=30)
        self.register_recovery_strategy("api_connection", ErrorSeverity.HIGH, RecoveryAction.RETRY, max_retries=5)
        self.register_recovery_strategy("insufficient_balance", ErrorSeverity.MEDIUM, RecoveryAction.ALERT)
        self.register_recovery_strategy("position_not_found", ErrorSeverity.HIGH, RecoveryAction.RESET)
        self.register_recovery_strategy("critical_system_error", ErrorSeverity.CRITICAL, RecoveryAction.ALERT)

    def register_recovery_strategy(self, error_type: str, severity: ErrorSeverity, action: RecoveryAction,
                                   **params: Any) -> None:
        """Registers a strategy ({'severity', 'action', 'params'}) for an error type, and
        sends it to the reader (max_retries and backoff_seconds are the reader's; other
        params are kept here). Waits for the reader's acknowledgement only while one is
        alive (up to 2 s)."""
        if not isinstance(severity, ErrorSeverity):
            raise TypeError(f"severity must be an ErrorSeverity, not {severity!r}")
        if not isinstance(action, RecoveryAction):
            raise TypeError(f"action must be a RecoveryAction, not {action!r}")
        self.recovery_strategies[error_type] = {"severity": severity, "action": action, "params": params}
        if not self._send_strategies:
            return
        w = self.writer or _writer()
        status = w.register_recovery_strategy(
            error_type, severity.value, _ACTION_CODE[action], max_retries=int(params.get("max_retries", self.max_retries)),
            backoff_seconds=float(params.get("backoff_seconds", 0.0)), wait_ms=2000 if w.reader_alive() else 0)
        if status == _native.PENDING and w.reader_alive():
            self.logger.warning(f"telering: the reader did not acknowledge the strategy for {error_type} in 2 s")

    @property
    def last_errors(self) -> Dict[str, datetime]:
        """error type -> datetime of its last error in this instance (a copy)."""
        walls = dict(self._last_error_wall)  # one atomic copy: other threads may be recording
        return {t: datetime.fromtimestamp(wall) for t, wall in walls.items()}

    def should_trigger_recovery(self, error_type: str, time_window: int = 60) -> bool:
        """True when this instance saw at least 3 errors of the type and the last within
        time_window seconds (the seed's rule), or while the reader holds a backoff for it."""
        wall = self._last_error_wall.get(error_type)
        if wall is not None and time.time() - wall <= time_window and self.error_counts.get(error_type, 0) >= 3:
            return True
        w = self.writer
        return bool(w is not None and w.attached and w.in_backoff(error_type))

    def attempt_recovery(self, error: ErrorRecord) -> bool:
        """Carries out the registered strategy for error.error_type, with the seed's
        results: RETRY sleeps backoff_base ** context['retry_count'] and succeeds until
        max_retries; BACKOFF sleeps params['backoff_seconds'] (30) — never less than the
        reader's backoff for the type — and succeeds; RESET, ALERT and SHUTDOWN log and
        succeed; no strategy: False."""
        error_type = error.error_type
        strategy = self.recovery_strategies.get(error_type)
        if strategy is None:
            self.logger.warning(f"No recovery strategy for error type: {error_type}")
            return False
        action, params = strategy["action"], strategy["params"]
        self.logger.info(f"Attempting recovery for {error_type} using {action.value}")
        error.recovery_attempted = True
        try:
            handler = {RecoveryAction.RETRY: self._handle_retry, RecoveryAction.BACKOFF: self._handle_backoff,
                       RecoveryAction.RESET: self._handle_reset, RecoveryAction.ALERT: self._handle_alert,
                       RecoveryAction.SHUTDOWN: self._handle_shutdown}.get(action)
            if handler is None:
                self.logger.warning(f"Unknown recovery action: {action}")
                return False
            return handler(error, params)
        except Exception as e:  # the seed's: a failing recovery is logged and reported, not raised
            self.logger.error(f"Recovery attempt failed: {e}")
            return False

    def _board_backoff(self, error_type: str) -> float:
        w = self.writer
        return w.backoff_remaining(error_type) if w is not None and w.attached else 0.0

    def _handle_retry(self, error: ErrorRecord, params: Dict[str, Any]) -> bool:
        max_retries = params.get("max_retries", self.max_retries)
        retry_count = error.context.get("retry_count", 0)
        if retry_count >= max_retries:
            self.logger.warning(f"Max retries ({max_retries}) exceeded for {error.error_type}")
            return False
        backoff_time = max(self.backoff_base ** retry_count, self._board_backoff(error.error_type))
        self.logger.info(f"Retry {retry_count + 1}/{max_retries} after {backoff_time:.1f}s")
        time.sleep(backoff_time)
        error.recovery_successful = True
        return True

    def _handle_backoff(self, error: ErrorRecord, params: Dict[str, Any]) -> bool:
        backoff_seconds = max(params.get("backoff_seconds", 30), self._board_backoff(error.error_type))
        self.logger.info(f"Backing off for {backoff_seconds}s")
        time.sleep(backoff_seconds)
        error.recovery_successful = True
        return True

    def _handle_reset(self, error: ErrorRecord, params: Dict[str, Any]) -> bool:
        self.logger.info(f"Resetting component due to {error.error_type}")
        error.recovery_successful = True
        return True

    def _handle_alert(self, error: ErrorRecord, params: Dict[str, Any]) -> bool:
        self.logger.warning(f"ALERT: {error.error_type} - {error.message}")
        error.recovery_successful = True
        return True

    def _handle_shutdown(self, error: ErrorRecord, params: Dict[str, Any]) -> bool:
        self.logger.critical(f"SHUTDOWN TRIGGERED: {error.error_type} - {error.message}")
        self.logger.critical("Graceful shutdown should be initiated by the calling code")
        error.recovery_successful = True
        return True

    def open_circuit_breaker(self, component: str) -> None:
        """Opens this instance's breaker for a component (until close_circuit_breaker or
        circuit_breaker_timeout seconds). Host-wide: open_host_circuit_breaker."""
        with self._lock:
            self.circuit_breakers[component] = (True, datetime.now())
        self.logger.warning(f"Circuit breaker OPENED for {component}")

    def close_circuit_breaker(self, component: str) -> None:
        """Closes this instance's breaker for a component."""
        with self._lock:
            closed = self.circuit_breakers.pop(component, None) is not None
        if closed:
            self.logger.info(f"Circuit breaker CLOSED for {component}")

    def _local_breaker_open(self, component: str) -> bool:
        # Called by the native is_circuit_breaker_open for a breaker this instance opened.
        with self._lock:
            entry = self.circuit_breakers.get(component)
            if entry is None:
                return False
            is_open, open_time = entry
            if not is_open:
                return False
            time_open = (datetime.now() - open_time).total_seconds()
            if time_open <= self.circuit_breaker_timeout:
                return True
            del self.circuit_breakers[component]
        self.logger.info(f"Circuit breaker auto-closed for {component} after {time_open:.0f}s")
        return False

    def get_error_statistics(self) -> Dict[str, Any]:
        """This instance's statistics: total_errors, error_rate_per_minute (over the
        history's span, at least a minute), errors_by_type, errors_by_severity (by name),
        circuit_breakers_open. Host-wide: host_error_statistics()."""
        with self._lock:
            history = list(self.error_history)
            breakers_open = len(self.circuit_breakers)
        type_counts: Dict[str, int] = {}
        severity_counts = {s: 0 for s in ErrorSeverity}
        for error in history:
            type_counts[error.error_type] = type_counts.get(error.error_type, 0) + 1
            severity_counts[error.severity] += 1
        if history:
            span_minutes = (history[-1].wall_time - history[0].wall_time) / 60
            error_rate = len(history) / max(span_minutes, 1)
        else:
            error_rate = 0.0
        return {"total_errors": len(history), "error_rate_per_minute": error_rate, "errors_by_type": type_counts,
                "errors_by_severity": {s.name: n for s, n in severity_counts.items()},
                "circuit_breakers_open": breakers_open}

    def get_error_report(self) -> str:
        """The seed's 'ERROR RECOVERY REPORT' text of get_error_statistics()."""
        stats = self.get_error_statistics()
        lines = ["=" * 60, "ERROR RECOVERY REPORT", "=" * 60, f"Total Errors: {stats['total_errors']}",
                 f"Error Rate: {stats['error_rate_per_minute']:.2f} per minute",
                 f"Circuit Breakers Open: {stats['circuit_breakers_open']}", "", "Errors by Type:", "-" * 60]
        for error_type, count in sorted(stats["errors_by_type"].items(), key=lambda x: x[1], reverse=True):
            lines.append(f"  {error_type}: {count}")
        lines.extend(["", "Errors by Severity:", "-" * 60])
        for severity, count in stats["errors_by_severity"].items():
            if count > 0:
                lines.append(f"  {severity}: {count}")
        lines.append("=" * 60)
        return "\n".join(lines)

    def clear_old_errors(self, age_hours: int = 24) -> None:
        """Drops errors older than age_hours from error_history."""
        cutoff = (datetime.now() - timedelta(hours=age_hours)).timestamp()
        history = self.error_history
        with self._lock:
            # One remove() per old record: each is atomic, so records other threads append
            # meanwhile (record_error takes no Python lock) are never lost.
            for error in [e for e in list(history) if e.wall_time <= cutoff]:
                history.remove(error)
        self.logger.info(f"Cleared errors older than {age_hours} hours")

    # -- telering's host-wide views and commands (names of their own) ------------------------
    def host_error_statistics(self) -> Dict[str, Any]:
        """The reader's error statistics for every bot on the segment (total_errors,
        errors_by_type, errors_by_severity, error_rate_per_minute, recent_errors with the
        recorded text, '…' where it was cut); {'status': 'UNKNOWN', 'reason': ...} without
        a live reader."""
        from .bot_health_check import get_health_check
        report = get_health_check().host_report()
        stats = report.get("error_statistics")
        if stats is None:
            return {"status": report.get("overall_status", "UNKNOWN"), "reason": report.get("reason", "no report")}
        return dict(stats)

    def open_host_circuit_breaker(self, component: str) -> bool:
        """Asks the reader to open the host-wide breaker (every bot's calls stop); True once
        applied, False when no reader answered in 2 s (the command stays queued)."""
        w = self.writer or _writer()
        return w.open_circuit_breaker(component, wait_ms=2000 if w.reader_alive() else 0) == _native.OK

    def close_host_circuit_breaker(self, component: str) -> bool:
        """Asks the reader to close the host-wide breaker; as open_host_circuit_breaker."""
        w = self.writer or _writer()
        return w.close_circuit_breaker(component, wait_ms=2000 if w.reader_alive() else 0) == _native.OK

    def host_breaker_state(self, component: str) -> str:
        """The reader's breaker state for the component: CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED."""
        return (self.writer or _writer()).breaker_state(component)

    def get_recovery_decision(self, error_type: str) -> Optional[Dict[str, Any]]:
        """The reader's latest decision for an error type (its board entry), or None."""
        return (self.writer or _writer()).decision(_native.NAME_ERROR_TYPE, error_type)


def _writer() -> Writer:
    from ._session import writer
    return writer()


_instance: Optional[ErrorRecoveryManager] = None
_instance_lock = threading.Lock()


def get_error_manager() -> ErrorRecoveryManager:
    """The process's ErrorRecoveryManager (created on first call); it records into the
    process-wide writer (telering.attach, or the defaults on first record)."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = ErrorRecoveryManager()
    return _instance


class RetryWithBackoff:
    """The seed's decorator: calls the function up to max_retries times in all, waiting
    backoff_base ** attempt seconds between tries; when the last try fails it records one
    '<function>_error' of severity HIGH with {'function', 'attempt'} in error_manager (if
    given) and re-raises. telering's extras, all optional: component= (no call while its
    breaker is open: CircuitBreakerOpenError; outcomes recorded for the reader),
    honour_board= (wait at least the reader's backoff for that error type), max_delay=,
    sleep=."""

    def __init__(self, max_retries: int = 3, backoff_base: float = 2.0,
                 error_manager: Optional[ErrorRecoveryManager] = None, *, component: Optional[str] = None,
                 honour_board: bool = True, max_delay: Optional[float] = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.error_manager = error_manager
        self.component = component
        self.honour_board = honour_board
        self.max_delay = max_delay
        self.sleep = sleep
        self.logger = error_manager.logger if error_manager is not None else _default_logger

    def __call__(self, func: Callable) -> Callable:
        """Wraps func."""
        error_type = f"{func.__name__}_error"

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            em = self.error_manager
            for attempt in range(self.max_retries):
                if self.component is not None and (em or get_error_manager()).is_circuit_breaker_open(self.component):
                    raise CircuitBreakerOpenError(self.component)
                started = time.monotonic()
                try:
                    result = func(*args, **kwargs)
                except Exception as e:
                    self._outcome(False, started)
                    if attempt == self.max_retries - 1:
                        if em is not None:
                            em.record_error(error_type, str(e), ErrorSeverity.HIGH,
                                            {"function": func.__name__, "attempt": attempt + 1})
                        raise
                    backoff_time = self.backoff_base ** attempt
                    if self.honour_board:
                        backoff_time = max(backoff_time, _board_backoff(em, error_type))
                    if self.max_delay is not None:
                        backoff_time = min(backoff_time, self.max_delay)
                    self.logger.warning(f"{func.__name__} failed (attempt {attempt + 1}/{self.max_retries}): {e}. "
                                        f"Retrying in {backoff_time:.1f}s...")
                    self.sleep(backoff_time)
                else:
                    self._outcome(True, started)
                    return result
            return None

        return wrapper

    def _outcome(self, success: bool, started: float) -> None:
        if self.component is None:
            return
        w = (self.error_manager.writer if self.error_manager is not None else None) or _writer()
        w.call_outcome(self.component, success, time.monotonic() - started)


def _board_backoff(em: Optional[ErrorRecoveryManager], error_type: str) -> float:
    w = em.writer if em is not None else _native._get_current()
    return w.backoff_remaining(error_type) if w is not None and w.attached else 0.0


class CircuitBreakerOpenError(RuntimeError):
    """Raised by RetryWithBackoff(component=...) while that component's breaker is open."""

    def __init__(self, component: str) -> None:
        super().__init__(f"circuit breaker '{component}' is open")
        self.component = component
