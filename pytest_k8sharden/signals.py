"""SIGTERM ends a session like Ctrl-C does, so fixtures' finalizers delete what the run created."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM; pytest treats it as an interrupt and tears fixtures down."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"terminated by signal {signal.Signals(signum).name}")


def install_sigterm_handler() -> Any:
    """Turn SIGTERM into Terminated; return the previous handler (None when not in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def restore_sigterm_handler(previous: Any) -> None:
    """Put back what install_sigterm_handler replaced."""
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)
