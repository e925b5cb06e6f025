"""telering for Python bots: the seed's ``bot_health_check`` and ``error_recovery`` APIs,
recording into telering's lock-free shared-memory lanes through a native module.

    from telering import get_health_check, get_error_manager, ErrorSeverity, RetryWithBackoff

replaces the seed's ``from bot_health_check import ...`` / ``from error_recovery import ...``
(``telering.bot_health_check`` and ``telering.error_recovery`` are importable too).

The segment: ``telering.attach(segment=..., bot=...)``, or on the first record the parent
process's (multiprocessing children), else $TELERING_SEGMENT (default "telering") and
$TELERING_BOT (default: the script's name). Run ``telering-reader --segment NAME`` beside
the bot: it keeps the host-wide view and decides. ``python -m telering`` shows a segment.
"""

from ._native import VERSION as __version__
from ._native import TeleringError, Writer
from ._session import attach, detach, set_logger, writer
from .bot_health_check import BotHealthCheck, HealthStatus, PerformanceMonitor, get_health_check
from .error_recovery import (CircuitBreakerOpenError, ErrorRecord, ErrorRecoveryManager, ErrorSeverity,
                             RecoveryAction, RetryWithBackoff, get_error_manager)

__all__ = [
    "attach", "detach", "writer", "set_logger", "Writer", "TeleringError",
    "HealthStatus", "PerformanceMonitor", "BotHealthCheck", "get_health_check",
    "ErrorSeverity", "RecoveryAction", "ErrorRecord", "ErrorRecoveryManager", "RetryWithBackoff",
    "get_error_manager", "CircuitBreakerOpenError",
]
