"""ctypes binding of libtelering.so (the C ABI in telering/telering_writer.h).

Finds the library (TELERING_LIB, next to the package, the build tree, the system), declares
every function's argument and result types once, and wraps one attached writer in
:class:`Writer`. Standard library only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import json
import os
import threading
from typing import Dict, List, Optional

__all__ = [
    "Status", "Severity", "Action", "Breaker", "Health", "NameKind",
    "TeleringError", "Writer", "find_library", "load_library",
]


class Status:
    OK = 0
    RECORDED_SHARED = 1
    DROPPED = 2
    NO_NAME = 3
    PENDING = 4
    E_INVALID_ARGUMENT = -1
    E_ATTACH = -2
    E_REJECTED = -3
    E_NO_MEMORY = -4
    E_INTERNAL = -5


class Severity:
    LOW, MEDIUM, HIGH, CRITICAL = 1, 2, 3, 4


class Action:
    NONE, RETRY, BACKOFF, RESET, ALERT, SHUTDOWN = range(6)
    NAMES = ("NONE", "RETRY", "BACKOFF", "RESET", "ALERT", "SHUTDOWN")


class Breaker:
    CLOSED, OPEN, HALF_OPEN, FORCED_OPEN, DISABLED = range(5)
    NAMES = ("CLOSED", "OPEN", "HALF_OPEN", "FORCED_OPEN", "DISABLED")


class Health:
    UNKNOWN, HEALTHY, WARNING, CRITICAL = range(4)
    NAMES = ("UNKNOWN", "HEALTHY", "WARNING", "CRITICAL")


class NameKind:
    BOT, COMPONENT, ERROR_TYPE, WARNING_TYPE, ENDPOINT, METRIC, RATE_GROUP = range(1, 8)


class TeleringError(OSError):
    """A failed telering call: .status is the C status code, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class _Options(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("segment", ctypes.c_char_p),
        ("bot", ctypes.c_char_p),
        ("mode", ctypes.c_uint32),
        ("sample_memory", ctypes.c_int),
        ("memory_interval_ms", ctypes.c_uint32),
        ("lane_count", ctypes.c_uint32),
        ("lane_capacity", ctypes.c_uint32),
        ("mpsc_capacity", ctypes.c_uint32),
        ("name_capacity", ctypes.c_uint32),
    ]


class _Decision(ctypes.Structure):
    _fields_ = [
        ("breaker_state", ctypes.c_int),
        ("health", ctypes.c_int),
        ("last_action", ctypes.c_int),
        ("retry_permits", ctypes.c_uint32),
        ("backoff_until_ns", ctypes.c_uint64),
        ("reset_epoch", ctypes.c_uint64),
        ("decision_seq", ctypes.c_uint64),
        ("consistent", ctypes.c_int),
    ]


class _Stats(ctypes.Structure):
    _fields_ = [("lanes_claimed", ctypes.c_uint64), ("dropped", ctypes.c_uint64)]


_LIB_NAMES = ("libtelering.so", "libtelering.so.0")


def _candidates() -> List[str]:
    here = os.path.dirname(os.path.abspath(__file__))
    places: List[str] = []
    # Next to the package: bundled in it, beside it, or the installed layout
    # <prefix>/lib/python3/dist-packages/telering -> <prefix>/lib.
    for d in (here, os.path.dirname(here), os.path.normpath(os.path.join(here, "..", "..", ".."))):
        places += [os.path.join(d, n) for n in _LIB_NAMES]
    # The build tree of this checkout: writer/python/telering -> <repo>/build*/writer/.
    repo = os.path.normpath(os.path.join(here, "..", "..", ".."))
    places += sorted(glob.glob(os.path.join(repo, "build*", "writer", "libtelering.so")))
    return places


def find_library() -> str:
    """Path of libtelering.so: $TELERING_LIB, else next to the package, else a build
    directory of this checkout, else the system's (ctypes.util.find_library)."""
    env = os.environ.get("TELERING_LIB")
    if env:
        if os.path.isdir(env):
            env = os.path.join(env, "libtelering.so")
        if not os.path.exists(env):
            raise OSError(f"TELERING_LIB={env!r} does not exist")
        return env
    for path in _candidates():
        if os.path.exists(path):
            return path
    system = ctypes.util.find_library("telering")
    if system:
        return system
    raise OSError("libtelering.so not found: set TELERING_LIB to its path, or build it "
                  "(cmake --build <dir> --target telering_writer_shared), or install telering")


_lib: Optional[ctypes.CDLL] = None
_lib_lock = threading.Lock()


def load_library(path: Optional[str] = None) -> ctypes.CDLL:
    """Loads libtelering.so once and declares every function's types."""
    global _lib
    with _lib_lock:
        if _lib is not None and path is None:
            return _lib
        path = path or find_library()
        lib = ctypes.CDLL(path)
        _declare(lib)
        # A second handle on the same library whose functions have no argtypes: ctypes then
        # converts int, bytes, None and ctypes instances in C, without a from_param call per
        # argument — 2-3x cheaper for the hot calls that take only those (see _Hot).
        lib._telering_raw = ctypes.CDLL(path)
        _lib = lib
        return lib


def _declare(lib: ctypes.CDLL) -> None:
    c = ctypes
    W, S, D, I, U16, U32, U64 = c.c_void_p, c.c_char_p, c.c_double, c.c_int, c.c_uint16, c.c_uint32, c.c_uint64
    sig = {
        "telering_last_error": (S, []),
        "telering_strerror": (S, [I]),
        "telering_writer_options_init": (None, [c.POINTER(_Options)]),
        "telering_attach": (I, [c.POINTER(_Options), c.POINTER(W)]),
        "telering_detach": (None, [W]),
        "telering_intern": (U16, [W, I, S]),
        "telering_bot_id": (U16, [W]),
        "telering_scan_time": (I, [W, D]),
        "telering_api_call": (I, [W, D, S]),
        "telering_api_call_id": (I, [W, D, U16]),
        "telering_memory": (I, [W]),
        "telering_memory_bytes": (I, [W, D]),
        "telering_error": (I, [W, S, I, S, S]),
        "telering_error_id": (I, [W, U16, I, S, U16]),
        "telering_warning": (I, [W, S, S]),
        "telering_warning_id": (I, [W, U16, S]),
        "telering_call_outcome": (I, [W, S, I, D]),
        "telering_call_outcome_id": (I, [W, U16, I, D]),
        "telering_counter": (I, [W, S, D]),
        "telering_counter_id": (I, [W, U16, D]),
        "telering_gauge": (I, [W, S, D]),
        "telering_gauge_id": (I, [W, U16, D]),
        "telering_heartbeat": (I, [W]),
        "telering_breaker_open": (I, [W, S]),
        "telering_breaker_open_id": (I, [W, U16]),
        "telering_breaker_state_of": (I, [W, S]),
        "telering_breaker_state_id": (I, [W, U16]),
        "telering_in_backoff": (I, [W, S]),
        "telering_in_backoff_id": (I, [W, U16]),
        "telering_backoff_until_ns": (U64, [W, S]),
        "telering_reset_epoch": (U64, [W, S]),
        "telering_global_reset_epoch": (U64, [W]),
        "telering_shutdown_requested": (I, [W]),
        "telering_reader_alive": (I, [W, U32]),
        "telering_overall_health": (I, [W]),
        "telering_decision_of": (I, [W, I, S, c.POINTER(_Decision)]),
        "telering_monotonic_ns": (U64, []),
        "telering_open_circuit_breaker": (I, [W, S, U32]),
        "telering_close_circuit_breaker": (I, [W, S, U32]),
        "telering_register_recovery_strategy": (I, [W, S, I, I, U32, D, U32]),
        "telering_should_trigger_recovery": (I, [W, S]),
        "telering_request_report": (I, [W, U32]),
        "telering_run_full_health_check": (c.c_int64, [W, c.c_char_p, c.c_size_t]),
        "telering_writer_stats_of": (I, [W, c.POINTER(_Stats)]),
        "telering_version": (S, []),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes


def _b(text: Optional[str]) -> Optional[bytes]:
    if text is None:
        return None
    return text.encode("utf-8", "replace") if isinstance(text, str) else bytes(text)


class Writer:
    """One attached telering writer (telering_attach). Thread-safe: every Python thread
    records into its own lane. Recording methods return the C status (0 = recorded,
    2 = dropped because the lane was full, ...) and never raise."""

    def __init__(self, segment: str = "telering", bot: str = "python-bot", *, sample_memory: bool = True,
                 memory_interval_ms: int = 1000, mode: int = 0, lane_count: int = 0, lane_capacity: int = 0,
                 library: Optional[str] = None):
        lib = load_library(library)
        self._lib = lib
        self.segment = segment
        self.bot = bot
        opts = _Options()
        lib.telering_writer_options_init(ctypes.byref(opts))
        opts.segment = _b(segment)
        opts.bot = _b(bot)
        opts.sample_memory = 1 if sample_memory else 0
        opts.memory_interval_ms = memory_interval_ms
        opts.mode = mode
        opts.lane_count = lane_count
        opts.lane_capacity = lane_capacity
        handle = ctypes.c_void_p()
        status = lib.telering_attach(ctypes.byref(opts), ctypes.byref(handle))
        if status != Status.OK:
            raise TeleringError(status, f"telering: cannot attach to segment {segment!r} as bot {bot!r}: "
                                        f"{lib.telering_last_error().decode('utf-8', 'replace')}")
        self._h = handle
        self._ids: Dict[tuple, int] = {}
        self._report_buf = ctypes.create_string_buffer(64 * 1024)
        self._report_lock = threading.Lock()
        # Hot-path functions bound once (one attribute lookup less per call). Those taking
        # only the handle, small ints (< 2**31, e.g. name ids) and bytes/None use the raw
        # (argtypes-free) handle; callers must pass exactly those types — never str.
        raw = lib._telering_raw
        self._scan_time = lib.telering_scan_time
        self._api_call_id = lib.telering_api_call_id
        self._error_id = raw.telering_error_id
        self._warning_id = raw.telering_warning_id
        self._heartbeat = raw.telering_heartbeat
        self._memory = raw.telering_memory
        self._breaker_open = raw.telering_breaker_open
        self._breaker_open_id = raw.telering_breaker_open_id
        self._in_backoff = raw.telering_in_backoff

    # -- lifetime --------------------------------------------------------------------------
    def detach(self) -> None:
        """Releases the lanes of this writer. No call may follow, from any thread."""
        if self._h:
            self._lib.telering_detach(self._h)
            self._h = None

    @property
    def attached(self) -> bool:
        return bool(self._h)

    # -- names -----------------------------------------------------------------------------
    def intern(self, kind: int, name: str) -> int:
        key = (kind, name)
        nid = self._ids.get(key)
        if nid is None:
            nid = self._lib.telering_intern(self._h, kind, _b(name))
            if nid:
                self._ids[key] = nid
        return nid

    # -- recording -------------------------------------------------------------------------
    def scan_time(self, seconds: float) -> int:
        return self._scan_time(self._h, seconds)

    def api_call(self, seconds: float, endpoint: Optional[str] = None) -> int:
        nid = self.intern(NameKind.ENDPOINT, endpoint) if endpoint else 0
        return self._api_call_id(self._h, seconds, nid)

    def memory(self) -> int:
        return self._memory(self._h)

    def memory_bytes(self, nbytes: float) -> int:
        return self._lib.telering_memory_bytes(self._h, nbytes)

    def error(self, error_type: str, severity: int = Severity.MEDIUM, context: Optional[str] = None,
              component: Optional[str] = None) -> int:
        tid = self._ids.get((NameKind.ERROR_TYPE, error_type)) or self.intern(NameKind.ERROR_TYPE, error_type)
        if not tid:
            return Status.NO_NAME
        cid = self.intern(NameKind.COMPONENT, component) if component else 0
        if severity.__class__ is not int or not 1 <= severity <= 4:
            return Status.E_INVALID_ARGUMENT
        return self._error_id(self._h, tid, severity, _b(context), cid)

    def warning(self, warning_type: str, context: Optional[str] = None) -> int:
        wid = self._ids.get((NameKind.WARNING_TYPE, warning_type)) or self.intern(NameKind.WARNING_TYPE, warning_type)
        if not wid:
            return Status.NO_NAME
        return self._warning_id(self._h, wid, _b(context))

    def call_outcome(self, component: str, success: bool, seconds: float = 0.0) -> int:
        return self._lib.telering_call_outcome_id(self._h, self.intern(NameKind.COMPONENT, component),
                                                  1 if success else 0, seconds)

    def counter(self, metric: str, increment: float = 1.0) -> int:
        return self._lib.telering_counter_id(self._h, self.intern(NameKind.METRIC, metric), increment)

    def gauge(self, metric: str, value: float) -> int:
        return self._lib.telering_gauge_id(self._h, self.intern(NameKind.METRIC, metric), value)

    def heartbeat(self) -> int:
        return self._heartbeat(self._h)

    # -- decisions -------------------------------------------------------------------------
    def breaker_open(self, component: str) -> bool:
        nid = self._ids.get((NameKind.COMPONENT, component))
        if nid is not None:  # interned by this process: by id, no string lookup in C
            return self._breaker_open_id(self._h, nid) != 0
        return self._breaker_open(self._h, _b(component)) != 0

    def breaker_state(self, component: str) -> str:
        return Breaker.NAMES[self._lib.telering_breaker_state_of(self._h, _b(component))]

    def in_backoff(self, error_type: str) -> bool:
        return self._in_backoff(self._h, _b(error_type)) != 0

    def backoff_until_ns(self, error_type: str) -> int:
        """CLOCK_MONOTONIC ns (time.monotonic_ns()) until which to back off; 0 = none."""
        return self._lib.telering_backoff_until_ns(self._h, _b(error_type))

    def backoff_remaining(self, error_type: str) -> float:
        """Seconds of the reader's backoff for this error type still to wait (0.0 = none)."""
        until = self.backoff_until_ns(error_type)
        if not until:
            return 0.0
        return max(0.0, (until - self._lib.telering_monotonic_ns()) / 1e9)

    def reset_epoch(self, name: str) -> int:
        return self._lib.telering_reset_epoch(self._h, _b(name))

    def global_reset_epoch(self) -> int:
        return self._lib.telering_global_reset_epoch(self._h)

    def shutdown_requested(self) -> bool:
        return bool(self._lib.telering_shutdown_requested(self._h))

    def reader_alive(self, max_age_ms: int = 0) -> bool:
        return bool(self._lib.telering_reader_alive(self._h, max_age_ms))

    def overall_health(self) -> str:
        return Health.NAMES[self._lib.telering_overall_health(self._h)]

    def decision(self, kind: int, name: str) -> Optional[dict]:
        """The board entry of a name as a dict, or None if the name was never interned."""
        d = _Decision()
        status = self._lib.telering_decision_of(self._h, kind, _b(name), ctypes.byref(d))
        if status != Status.OK:
            return None
        return {
            "breaker_state": Breaker.NAMES[d.breaker_state],
            "health": Health.NAMES[d.health],
            "last_action": Action.NAMES[d.last_action],
            "retry_permits": d.retry_permits,
            "backoff_until_ns": d.backoff_until_ns,
            "reset_epoch": d.reset_epoch,
            "decision_seq": d.decision_seq,
            "consistent": bool(d.consistent),
        }

    def should_trigger_recovery(self, error_type: str) -> bool:
        return bool(self._lib.telering_should_trigger_recovery(self._h, _b(error_type)))

    # -- commands --------------------------------------------------------------------------
    def _command(self, status: int, what: str) -> int:
        if status < 0:
            raise TeleringError(status, f"telering: {what}: {self._lib.telering_last_error().decode('utf-8', 'replace')}")
        return status

    def open_circuit_breaker(self, component: str, wait_ms: int = 2000) -> int:
        """Status.OK once the reader applied it, Status.PENDING when no reader answered in time."""
        return self._command(self._lib.telering_open_circuit_breaker(self._h, _b(component), wait_ms),
                             f"open_circuit_breaker({component!r})")

    def close_circuit_breaker(self, component: str, wait_ms: int = 2000) -> int:
        return self._command(self._lib.telering_close_circuit_breaker(self._h, _b(component), wait_ms),
                             f"close_circuit_breaker({component!r})")

    def register_recovery_strategy(self, error_type: str, severity: int, action: int, max_retries: int = 3,
                                   backoff_seconds: float = 0.0, wait_ms: int = 2000) -> int:
        return self._command(self._lib.telering_register_recovery_strategy(
            self._h, _b(error_type), severity, action, max_retries, backoff_seconds, wait_ms),
            f"register_recovery_strategy({error_type!r})")

    # -- report page -----------------------------------------------------------------------
    def request_report(self, wait_ms: int = 500) -> bool:
        """Asks the reader for a fresh report (including every record this thread made so
        far); True once it is on the page, False when no reader answered within wait_ms."""
        return self._lib.telering_request_report(self._h, wait_ms) == Status.OK

    def report_json(self) -> str:
        """The reader's latest report (JSON text); UNKNOWN with a reason when no reader."""
        with self._report_lock:
            buf = self._report_buf
            n = self._lib.telering_run_full_health_check(self._h, buf, len(buf))
            if n >= len(buf):
                buf = self._report_buf = ctypes.create_string_buffer(int(n) + 1)
                n = self._lib.telering_run_full_health_check(self._h, buf, len(buf))
            if n < 0:
                self._command(int(n), "run_full_health_check")
            return buf.raw[: min(int(n), len(buf) - 1)].decode("utf-8", "replace")

    def report(self) -> dict:
        return json.loads(self.report_json())

    def stats(self) -> dict:
        s = _Stats()
        self._lib.telering_writer_stats_of(self._h, ctypes.byref(s))
        return {"lanes_claimed": s.lanes_claimed, "dropped": s.dropped}

    def monotonic_ns(self) -> int:
        return self._lib.telering_monotonic_ns()
