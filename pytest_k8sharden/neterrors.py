"""Short descriptions of network failures for messages and evidence; they never carry the peer's data."""

from __future__ import annotations


def os_error_text(exc: BaseException) -> str | None:
    """Describe an OS-level failure: connection refused, timed out, or the OS text; None for others."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return None
