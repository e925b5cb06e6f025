"""The process-wide writer that the seed's classes record into.

``telering.attach(segment=..., bot=...)`` binds it explicitly. Otherwise the first record
attaches with the parent process's segment and bot name (a ``multiprocessing`` child
started with spawn or forkserver inherits them) or ``$TELERING_SEGMENT`` (default
``telering``) and ``$TELERING_BOT`` (default: the script's name).

After ``telering.detach()`` every record raises :class:`TeleringError` until ``attach()``
is called again: a detached bot never records silently into another segment.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, Dict, Optional

from . import _native
from ._native import TeleringError, Writer

__all__ = ["attach", "detach", "writer", "set_logger", "default_segment", "default_bot"]

logger = logging.getLogger("telering")

_lock = threading.RLock()
_state = "unattached"            # "unattached" -> "attached" <-> "detached"
_warned_no_reader: set = set()   # segments whose missing reader was logged
_INHERIT_KEY = "telering"        # key in multiprocessing's per-process config


def default_segment() -> str:
    """The segment a first record attaches to: the parent's, else $TELERING_SEGMENT, else "telering"."""
    inherited = _inherited()
    return (inherited or {}).get("segment") or os.environ.get("TELERING_SEGMENT") or "telering"


def default_bot() -> str:
    """The bot name a first record attaches with: the parent's, else $TELERING_BOT, else the script's name."""
    inherited = _inherited()
    if inherited and inherited.get("bot"):
        return inherited["bot"]
    bot = os.environ.get("TELERING_BOT")
    if bot:
        return bot
    script = os.path.splitext(os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else ""))[0]
    return script if script and script not in ("-c", "-m") else "python-bot"


def _inherited() -> Optional[Dict[str, Any]]:
    # multiprocessing copies its current process's _config into every Process it creates and
    # pickles it to spawn and forkserver children: the attach options ride along with it.
    mp = sys.modules.get("multiprocessing.process")
    if mp is None:
        return None
    return mp.current_process()._config.get(_INHERIT_KEY)


def _publish(options: Dict[str, Any]) -> None:
    import multiprocessing.process as mp
    mp.current_process()._config[_INHERIT_KEY] = dict(options)


def attach(segment: Optional[str] = None, bot: Optional[str] = None, **options: Any) -> Writer:
    """Attaches this process to a segment (creating it if needed) and makes it the one the
    seed's classes record into; returns the Writer. A previous process-wide writer is
    detached (a call in flight on another thread finishes first). Options are Writer's:
    mode, group, trust_other_owner, sample_memory, memory_interval_ms and the geometry.
    multiprocessing children created afterwards (fork, spawn or forkserver) inherit them."""
    global _state
    with _lock:
        inherited = _inherited() or {}
        if segment is None and bot is None and not options and inherited:
            options = {k: v for k, v in inherited.items() if k not in ("segment", "bot")}
        new = Writer(segment or default_segment(), bot or default_bot(), **options)
        old = _native._get_current()
        _native._set_current(new)
        _state = "attached"
        _publish(new.options)
        if old is not None and old is not new:
            old.detach()
        _warn_if_no_reader(new)
        return new


def detach() -> None:
    """Detaches the process-wide writer. Records made afterwards raise TeleringError until
    attach() is called again; a call in flight on another thread finishes first."""
    global _state
    with _lock:
        old = _native._get_current()
        _native._set_current(None)
        if old is not None:
            old.detach()
        _state = "detached"


def writer() -> Writer:
    """The process-wide Writer, attaching with the defaults on first use."""
    current = _native._get_current()
    if current is not None and current.attached:
        return current
    _resolve()
    return _native._get_current()


def _resolve() -> None:
    # Called by the native module when a record needs the process-wide writer and has none.
    with _lock:
        current = _native._get_current()
        if current is not None and current.attached:
            return
        if _state == "detached":
            raise _detached_error()
        attach()


def _detached_error() -> TeleringError:
    e = TeleringError("telering: detached (telering.detach() was called): call telering.attach() to record again")
    e.status = _native.E_INVALID_ARGUMENT
    return e


def _warn_if_no_reader(w: Writer) -> None:
    if w.segment in _warned_no_reader or w.reader_alive():
        return
    _warned_no_reader.add(w.segment)
    logger.warning("telering: no telering-reader is serving segment %r; records wait in the segment until one "
                   "starts: telering-reader --segment %s", w.segment, w.segment)


def set_logger(bot_logger: Optional[logging.Logger]) -> None:
    """Sends the seed's log lines (errors, health summaries, recovery) to the bot's own
    logger, for instances created afterwards and the singletons; None restores the
    package loggers (telering.*, which have a NullHandler)."""
    from . import bot_health_check, error_recovery
    bot_health_check._set_default_logger(bot_logger)
    error_recovery._set_default_logger(bot_logger)


def _after_fork_in_child() -> None:
    # Calls in flight on other threads of the parent do not exist in the child.
    current = _native._get_current()
    if current is not None:
        current._after_fork_child()


_native._set_resolver(_resolve)
os.register_at_fork(after_in_child=_after_fork_in_child)
