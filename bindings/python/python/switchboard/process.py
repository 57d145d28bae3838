"""Process plumbing for servers run by a supervisor or a test runner."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import Callable

__all__ = ["on_stdin_eof"]


def on_stdin_eof(callback: Callable[[], None]) -> bool:
    """Calls ``callback`` on the running loop once stdin reaches end of file, so a child
    process cannot outlive the runner that holds its stdin. Watches only a pipe, socket or
    terminal (stdin redirected from ``/dev/null`` or a file would end at once); returns
    whether it watches. Input read from stdin is discarded. Unix loops only (``add_reader``)."""
    try:
        fd = sys.stdin.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        return False
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd)):
        return False
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        if not data:
            loop.remove_reader(fd)
            callback()

    loop.add_reader(fd, readable)
    return True
