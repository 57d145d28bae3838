"""The library's log events on Python's ``logging`` (docs/OPERATIONS.md "Logs"): logger
``switchboard``, levels mapped (error → ERROR, warn → WARNING, info → INFO, debug and trace →
DEBUG). A daemon thread drains the core's bounded log queue; the core's level follows the
logger's effective level, read each time an ``Endpoint`` is created."""

import atexit
import logging
import threading
from typing import Dict, Optional

from . import _native

logger = logging.getLogger("switchboard")

# The core's levels (1 = error ... 5 = trace) as logging's.
_LEVELS: Dict[int, int] = {
    1: logging.ERROR,
    2: logging.WARNING,
    3: logging.INFO,
    4: logging.DEBUG,
    5: logging.DEBUG,
}

_started: Optional[threading.Thread] = None
_lock = threading.Lock()
# Set at exit: the thread stops before the interpreter finalizes (a daemon thread coming back
# from the native wait during finalization would be killed inside the extension).
_stop = threading.Event()


def _core_level(level: int) -> int:
    """The most verbose core level the logger's ``level`` lets through."""
    if level <= logging.NOTSET:
        return 5
    if level <= logging.DEBUG:
        return 4
    if level <= logging.INFO:
        return 3
    if level <= logging.WARNING:
        return 2
    return 1


def _drain() -> None:
    reported = 0
    while not _stop.is_set():
        events, dropped = _native.take_logs(100)
        if dropped > reported:
            logger.warning("%d library log events dropped: the log thread did not keep up", dropped - reported)
            reported = dropped
        for level, target, line, fields in events:
            logger.log(
                _LEVELS.get(level, logging.ERROR),
                "%s",
                line,
                extra={"switchboard_target": target, "switchboard_fields": dict(fields)},
            )


def sync_level() -> None:
    """Passes the ``switchboard`` logger's effective level to the core and starts the log
    thread once."""
    global _started
    _native.set_log_level(_core_level(logger.getEffectiveLevel()))
    with _lock:
        if _started is None:
            _started = threading.Thread(target=_drain, name="switchboard-logs", daemon=True)
            _started.start()
            atexit.register(_stop_thread)


def _stop_thread() -> None:
    _stop.set()
    if _started is not None:
        _started.join(timeout=1.0)
