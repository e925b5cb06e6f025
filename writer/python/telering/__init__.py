"""telering for Python bots: the seed's health-check and error-recovery API over telering's
lock-free shared-memory rings (ctypes over libtelering.so; standard library only).

    from telering import get_health_check, get_error_manager, ErrorSeverity, RetryWithBackoff

replaces the seed's ``from bot_health_check import ...`` / ``from error_recovery import ...``
(``telering.bot_health_check`` and ``telering.error_recovery`` are importable too).

The segment comes from ``telering.attach(segment=..., bot=...)`` or, on first use, from
$TELERING_SEGMENT (default "telering") and $TELERING_BOT (default: the script's name).
libtelering.so is found via $TELERING_LIB, next to the package, the build tree, or the system.
Run ``telering-reader --segment NAME`` beside the bot: it does the thinking.
"""

from ._native import TeleringError, Writer, find_library, load_library
from ._session import attach, detach, writer
from .bot_health_check import BotHealthCheck, PerformanceMonitor, format_health_summary, get_health_check
from .error_recovery import (CircuitBreakerOpenError, ErrorRecord, ErrorRecoveryManager, ErrorSeverity,
                             RecoveryAction, RetryWithBackoff, get_error_manager)

__version__ = "0.1.0"

__all__ = [
    "attach", "detach", "writer", "Writer", "TeleringError", "find_library", "load_library",
    "get_health_check", "BotHealthCheck", "PerformanceMonitor", "format_health_summary",
    "get_error_manager", "ErrorRecoveryManager", "ErrorSeverity", "RecoveryAction", "ErrorRecord",
    "RetryWithBackoff", "CircuitBreakerOpenError",
]
