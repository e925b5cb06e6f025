"""The seed's error_recovery module (ErrorSeverity, RecoveryAction, ErrorRecoveryManager,
RetryWithBackoff, get_error_manager) on telering.

record_error() pushes one record into shared memory; telering-reader applies the recovery
strategies and circuit breakers for every bot on the host and publishes its decisions on
the segment's decision board, which the methods here read (one atomic load each).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from enum import Enum
from typing import Any, Callable, Dict, Optional, Tuple, Type

from . import _session
from ._native import Action, NameKind, Status, Writer
from .bot_health_check import _note_error_recorded

__all__ = ["ErrorSeverity", "RecoveryAction", "ErrorRecord", "ErrorRecoveryManager", "RetryWithBackoff",
           "CircuitBreakerOpenError", "get_error_manager"]

logger = logging.getLogger("telering.recovery")


class ErrorSeverity(Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def level(self) -> int:
        return _SEVERITY_LEVEL[self]


_SEVERITY_LEVEL = {ErrorSeverity.LOW: 1, ErrorSeverity.MEDIUM: 2, ErrorSeverity.HIGH: 3, ErrorSeverity.CRITICAL: 4}
_SEVERITY_OF_LEVEL = {level: sev for sev, level in _SEVERITY_LEVEL.items()}
for _sev, _level in _SEVERITY_LEVEL.items():
    _sev._telering_level = _level  # plain attribute: cheaper than hashing an Enum member
_time = time.time


class RecoveryAction(Enum):
    RETRY = "retry"
    BACKOFF = "backoff"
    RESET = "reset"
    ALERT = "alert"
    SHUTDOWN = "shutdown"

    @property
    def code(self) -> int:
        return _ACTION_CODE[self]


_ACTION_CODE = {RecoveryAction.RETRY: Action.RETRY, RecoveryAction.BACKOFF: Action.BACKOFF,
                RecoveryAction.RESET: Action.RESET, RecoveryAction.ALERT: Action.ALERT,
                RecoveryAction.SHUTDOWN: Action.SHUTDOWN}
_ACTION_BY_NAME = {a.name: a for a in RecoveryAction}


def _severity_level(severity) -> int:
    if severity is None:
        return 2
    if isinstance(severity, ErrorSeverity):
        return _SEVERITY_LEVEL[severity]
    if isinstance(severity, str):
        return _SEVERITY_LEVEL[ErrorSeverity[severity.upper()]]
    level = int(severity)
    if not 1 <= level <= 4:
        raise ValueError(f"severity must be LOW..CRITICAL (1..4), not {severity!r}")
    return level


def _context_text(context) -> Optional[str]:
    if not context:
        return None
    if isinstance(context, dict):
        if len(context) == 1:
            for k, v in context.items():
                return f"{k}={v}"
        return " ".join(f"{k}={v}" for k, v in context.items())
    return str(context)


class CircuitBreakerOpenError(RuntimeError):
    """Raised by RetryWithBackoff when the component's circuit breaker is open."""

    def __init__(self, component: str):
        super().__init__(f"circuit breaker '{component}' is open")
        self.component = component


class ErrorRecord:
    """What record_error() returns (the seed's error object). Built on every record_error(),
    so only what differs per error is set per instance; the recovery fields default here."""

    status: int = Status.OK                   # the C status of the record (0 recorded, 2 dropped, ...)
    recovery_attempted: bool = False
    recovery_action: Optional[RecoveryAction] = None
    recovery_successful: bool = False

    def __init__(self, error_type: str, message: str, severity: "ErrorSeverity", context: Optional[Dict[str, Any]] = None,
                 status: int = Status.OK):
        self.error_type = error_type
        self.message = message
        self.severity = severity
        self.context = context if context is not None else {}
        self.timestamp = _time()
        if status:
            self.status = status

    def __repr__(self) -> str:
        return (f"ErrorRecord(error_type={self.error_type!r}, message={self.message!r}, "
                f"severity={self.severity}, context={self.context!r}, status={self.status})")


class ErrorRecoveryManager:
    """The seed's ErrorRecoveryManager. Recording is one C call; decisions are read from
    the board; breakers and strategies are commands the reader applies."""

    def __init__(self, writer: Optional[Writer] = None, command_wait_s: float = 2.0):
        self.command_wait_s = command_wait_s
        self.max_retries = 3
        self.backoff_base = 2.0
        self.circuit_breaker_timeout = 60  # the reader's breaker wait (set in its config)
        self.recovery_strategies: Dict[str, dict] = {}
        self._local_lock = threading.Lock()
        self._local_by_type: Dict[str, int] = {}
        self._local_by_severity: Dict[int, int] = {}
        self._local_started = time.monotonic()
        self._bind(writer or _session.bind(self))

    def _bind(self, writer: Writer) -> None:
        self._w = writer
        with self._local_lock:  # the local fallback counts belong to one segment
            self._local_by_type.clear()
            self._local_by_severity.clear()
            self._local_started = time.monotonic()

    @property
    def writer(self) -> Writer:
        return self._w

    # -- recording -------------------------------------------------------------------------
    def record_error(self, error_type: str, message: str = "", severity=ErrorSeverity.MEDIUM,
                     context: Optional[Dict[str, Any]] = None, component: Optional[str] = None) -> ErrorRecord:
        """Records an error. The record carries the context (or the message when there is no
        context), truncated to 34 bytes with a flag; the full text stays in the returned
        ErrorRecord."""
        level = getattr(severity, "_telering_level", None) or _severity_level(severity)
        text = _context_text(context) or message
        status = self._w.error(error_type, level, text, component)
        # Local counts, only for get_error_statistics() without a reader. No lock: under the
        # GIL a lost increment needs two threads to interleave right here, and these counts
        # are a fallback for "no reader", not the statistics.
        by_type, by_sev = self._local_by_type, self._local_by_severity
        by_type[error_type] = by_type.get(error_type, 0) + 1
        by_sev[level] = by_sev.get(level, 0) + 1
        _note_error_recorded()
        return ErrorRecord(error_type, message, _SEVERITY_OF_LEVEL[level], context, status)

    # -- decisions -------------------------------------------------------------------------
    def should_trigger_recovery(self, error_type: str) -> bool:
        """True while the reader's latest decision for this error type is in force."""
        return self._w.should_trigger_recovery(error_type)

    def get_recovery_decision(self, error_type: str) -> Optional[dict]:
        return self._w.decision(NameKind.ERROR_TYPE, error_type)

    def attempt_recovery(self, error: ErrorRecord, wait_backoff: bool = True, max_wait_s: Optional[float] = None) -> bool:
        """Carries out the reader's decision for error.error_type: RETRY → True while
        retries are granted; BACKOFF → sleeps out the board's backoff (capped by max_wait_s)
        then True; RESET → True; ALERT → logs CRITICAL, False; SHUTDOWN → logs, False.
        No decision → False."""
        d = self._w.decision(NameKind.ERROR_TYPE, error.error_type)
        action = _ACTION_BY_NAME.get(d["last_action"]) if d else None
        error.recovery_attempted = True
        error.recovery_action = action
        ok = False
        if action is RecoveryAction.RETRY:
            ok = d["retry_permits"] > 0 or self._w.in_backoff(error.error_type)
            if ok and wait_backoff:
                self._sleep_backoff(error.error_type, max_wait_s)
        elif action is RecoveryAction.BACKOFF:
            if wait_backoff:
                self._sleep_backoff(error.error_type, max_wait_s)
            ok = True
        elif action is RecoveryAction.RESET:
            logger.info("recovery: RESET for %s (reset epoch %d)", error.error_type, d["reset_epoch"])
            ok = True
        elif action is RecoveryAction.ALERT:
            logger.critical("recovery: ALERT for %s: %s", error.error_type, error.message)
        elif action is RecoveryAction.SHUTDOWN:
            logger.critical("recovery: SHUTDOWN requested for %s: %s", error.error_type, error.message)
        error.recovery_successful = ok
        return ok

    def _sleep_backoff(self, error_type: str, max_wait_s: Optional[float]) -> None:
        wait = self._w.backoff_remaining(error_type)
        if max_wait_s is not None:
            wait = min(wait, max_wait_s)
        if wait > 0:
            logger.info("recovery: backing off %s for %.1fs (reader's decision)", error_type, wait)
            time.sleep(wait)

    # -- circuit breakers ------------------------------------------------------------------
    def _wait_ms(self) -> int:
        # Without a live reader, do not stall the bot: queue the command and return.
        return int(self.command_wait_s * 1000) if self._w.reader_alive() else 0

    def open_circuit_breaker(self, component: str) -> bool:
        """Asks the reader to open the breaker. True once applied; False if no reader
        answered (the command stays queued and is applied when a reader drains it)."""
        status = self._w.open_circuit_breaker(component, self._wait_ms())
        if status == Status.OK:
            logger.warning("circuit breaker opened for %s", component)
        return status == Status.OK

    def close_circuit_breaker(self, component: str) -> bool:
        status = self._w.close_circuit_breaker(component, self._wait_ms())
        if status == Status.OK:
            logger.info("circuit breaker closed for %s", component)
        return status == Status.OK

    def is_circuit_breaker_open(self, component: str) -> bool:
        """One atomic load: OPEN or FORCED_OPEN on the board."""
        return self._w.breaker_open(component)

    def get_circuit_breaker_state(self, component: str) -> str:
        return self._w.breaker_state(component)

    # -- strategies ------------------------------------------------------------------------
    def register_recovery_strategy(self, error_type: str, severity=ErrorSeverity.MEDIUM,
                                   action: RecoveryAction = RecoveryAction.RETRY, max_retries: int = 3,
                                   **params) -> bool:
        """Registers a strategy with the reader. backoff_seconds= (or backoff_time=) sets
        BACKOFF's wait; other params are kept here (the reader takes custom params from its
        config file). True once the reader applied it, False when no reader answered."""
        backoff = float(params.get("backoff_seconds", params.get("backoff_time", 0.0)) or 0.0)
        status = self._w.register_recovery_strategy(error_type, _severity_level(severity), action.code,
                                                    max_retries, backoff, self._wait_ms())
        self.recovery_strategies[error_type] = {"severity": severity, "action": action, "max_retries": max_retries,
                                                "params": dict(params), "applied": status == Status.OK}
        return status == Status.OK

    # -- reports ---------------------------------------------------------------------------
    def get_error_statistics(self) -> dict:
        """The reader's error statistics (total_errors, errors_by_type, errors_by_severity,
        error_rate_per_minute, recent_errors) for every bot on the segment. With no live
        reader: status UNKNOWN with the reason, and the counts of this process only
        (source 'local')."""
        if self._w.reader_alive():
            self._w.request_report()
        report = self._w.report()
        stats = report.get("error_statistics")
        if stats is not None:
            stats = dict(stats)
            stats.setdefault("status", report.get("overall_status", "UNKNOWN"))
            stats["source"] = "reader"
            return stats
        with self._local_lock:
            by_type = dict(self._local_by_type)
            by_sev = {s.name: self._local_by_severity.get(_SEVERITY_LEVEL[s], 0) for s in ErrorSeverity}
        total = sum(by_type.values())
        minutes = max((time.monotonic() - self._local_started) / 60.0, 1e-9)
        return {"status": "UNKNOWN", "reason": report.get("reason", "no reader"), "source": "local",
                "total_errors": total, "errors_by_type": by_type, "errors_by_severity": by_sev,
                "error_rate_per_minute": total / minutes, "recent_errors": []}

    def run_full_health_check(self) -> dict:
        from .bot_health_check import get_health_check
        return get_health_check().run_full_health_check()


_instance: Optional[ErrorRecoveryManager] = None
_instance_lock = threading.Lock()


def get_error_manager() -> ErrorRecoveryManager:
    """The process's ErrorRecoveryManager (singleton), bound to the process-wide writer."""
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = ErrorRecoveryManager()
    return _instance


class RetryWithBackoff:
    """The seed's decorator: calls the function, and on an exception records it (an error
    of error_type, default the function's name, and a failed outcome for `component`),
    sleeps backoff_base ** attempt seconds — never less than the reader's backoff for the
    error type, so one bot's errors make every bot back off — and calls again, up to
    max_retries times; then re-raises. While the component's breaker is open the function
    is not called: CircuitBreakerOpenError is raised."""

    def __init__(self, max_retries: int = 3, backoff_base: float = 2.0,
                 error_manager: Optional[ErrorRecoveryManager] = None, *, error_type: Optional[str] = None,
                 component: Optional[str] = None, severity=ErrorSeverity.MEDIUM,
                 exceptions: Tuple[Type[BaseException], ...] = (Exception,), honour_board: bool = True,
                 max_delay: Optional[float] = None, sleep: Callable[[float], None] = time.sleep):
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.error_manager = error_manager
        self.error_type = error_type
        self.component = component
        self.severity = severity
        self.exceptions = exceptions
        self.honour_board = honour_board
        self.max_delay = max_delay
        self.sleep = sleep

    def __call__(self, func: Callable) -> Callable:
        error_type = self.error_type or func.__name__

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            em = self.error_manager or get_error_manager()
            w = em.writer
            for attempt in range(self.max_retries + 1):
                if self.honour_board and self.component and w.breaker_open(self.component):
                    raise CircuitBreakerOpenError(self.component)
                started = time.monotonic()
                try:
                    result = func(*args, **kwargs)
                except self.exceptions as e:
                    if self.component:
                        w.call_outcome(self.component, False, time.monotonic() - started)
                    em.record_error(error_type, str(e), self.severity,
                                    {"exception_type": type(e).__name__}, component=self.component)
                    if attempt >= self.max_retries:
                        raise
                    delay = self.backoff_base ** attempt
                    if self.honour_board:
                        delay = max(delay, w.backoff_remaining(error_type))
                    if self.max_delay is not None:
                        delay = min(delay, self.max_delay)
                    logger.debug("retry %d/%d of %s in %.2fs: %s", attempt + 1, self.max_retries, func.__name__, delay, e)
                    self.sleep(delay)
                else:
                    if self.component:
                        w.call_outcome(self.component, True, time.monotonic() - started)
                    return result
            raise AssertionError("unreachable")

        return wrapper
