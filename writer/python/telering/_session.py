"""The process-wide writer the seed-style singletons use.

telering.attach(segment=..., bot=...) binds it explicitly; otherwise the first use of
get_health_check() / get_error_manager() attaches with $TELERING_SEGMENT (default
"telering") and $TELERING_BOT (default: the script's name).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from typing import Optional

from ._native import Writer

_lock = threading.RLock()
_writer: Optional[Writer] = None
_bound = weakref.WeakSet()  # singletons to re-point when attach() binds another writer


def default_segment() -> str:
    return os.environ.get("TELERING_SEGMENT") or "telering"


def default_bot() -> str:
    bot = os.environ.get("TELERING_BOT")
    if bot:
        return bot
    script = os.path.splitext(os.path.basename(sys.argv[0] if sys.argv and sys.argv[0] else ""))[0]
    return script if script and script not in ("-c", "-m") else "python-bot"


def attach(segment: Optional[str] = None, bot: Optional[str] = None, **options) -> Writer:
    """Attaches this process to a segment (creating it if needed) and binds the
    get_health_check() / get_error_manager() singletons to it. Returns the Writer.
    A previous writer of this process is detached first."""
    global _writer
    with _lock:
        new = Writer(segment or default_segment(), bot or default_bot(), **options)
        old, _writer = _writer, new
        for obj in list(_bound):
            obj._bind(new)
        if old is not None:
            old.detach()
        return new


def detach() -> None:
    """Detaches the process-wide writer. Only when no thread records any more."""
    global _writer
    with _lock:
        if _writer is not None:
            _writer.detach()
            _writer = None


def writer() -> Writer:
    """The process-wide writer, attaching with the environment's defaults on first use."""
    w = _writer
    if w is not None:
        return w
    with _lock:
        if _writer is None:
            attach()
        return _writer


def bind(obj) -> Writer:
    """Registers a singleton to follow later attach() calls and returns the current writer."""
    with _lock:
        _bound.add(obj)
        return writer()
