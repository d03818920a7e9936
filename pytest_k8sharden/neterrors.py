"""Network failures as values: what kind of failure a probe met (from the exception's type), and the short
description messages and evidence show. Neither ever carries the peer's data."""

from __future__ import annotations

import errno
import ssl
from enum import StrEnum
from typing import Final


class Failure(StrEnum):
    """Why a probe got no answer. Probes set it from the exception; verdicts read it, never the text."""

    REFUSED = "refused"
    """The connection was refused: nothing listens there."""
    TIMEOUT = "timeout"
    """No answer within the probe's timeout (dropped packets, a filtering firewall)."""
    UNREACHABLE = "unreachable"
    """No route to the network or host."""
    RESET = "reset"
    """Something took the connection and reset or closed it without an answer."""
    TLS_ALERT = "tls-alert"
    """The TLS handshake or its first read failed: the peer sent an alert or closed the connection."""
    NOT_TLS = "not-tls"
    """A TLS client met a listener that does not speak TLS."""
    CERTIFICATE_NOT_TRUSTED = "certificate-not-trusted"
    """A verifying handshake rejected the certificate (untrusted, expired, wrong host name)."""
    NOT_SENT = "not-sent"
    """The probe did not send the request (e.g. a link-local address from the runner)."""
    OTHER = "other"
    """Any other failure; its description says what happened."""


class ProbeConnectionError(OSError):
    """A connection failure whose kind is already known (e.g. reported by a program in a pod)."""

    def __init__(self, failure: Failure, text: str) -> None:
        super().__init__(_ERRNO.get(failure, 0), text)
        self.failure = failure


_ERRNO: Final = {
    Failure.REFUSED: errno.ECONNREFUSED,
    Failure.TIMEOUT: errno.ETIMEDOUT,
    Failure.UNREACHABLE: errno.ENETUNREACH,
    Failure.RESET: errno.ECONNRESET,
}
_UNREACHABLE: Final = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH})
_RESET: Final = frozenset({errno.ECONNRESET, errno.ENETRESET})
_NOT_TLS: Final = ("wrong version number", "record layer failure", "packet length too long", "http request")
"""OpenSSL's words for a peer whose first bytes are no TLS record (e.g. a plaintext HTTP server)."""


def failure_of(exc: BaseException) -> Failure:
    """The kind of failure ``exc`` is."""
    if isinstance(exc, ProbeConnectionError):
        return exc.failure
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure.CERTIFICATE_NOT_TRUSTED
    if isinstance(exc, ssl.SSLError):
        said = f"{exc.reason or ''} {exc}".lower().replace("_", " ")
        return Failure.NOT_TLS if any(marker in said for marker in _NOT_TLS) else Failure.TLS_ALERT
    if isinstance(exc, ConnectionRefusedError):
        return Failure.REFUSED
    if isinstance(exc, TimeoutError):
        return Failure.TIMEOUT
    if isinstance(exc, ConnectionResetError):  # also http.client's RemoteDisconnected, which has no errno
        return Failure.RESET
    if isinstance(exc, OSError) and exc.errno in _RESET:
        return Failure.RESET
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE:
        return Failure.UNREACHABLE
    return Failure.OTHER


def failure_text(exc: BaseException) -> str:
    """A short description of ``exc`` for messages and evidence."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure: {exc.reason or exc}"
    return os_error_text(exc) or f"{type(exc).__name__}: {exc}"


def os_error_text(exc: BaseException) -> str | None:
    """Describe an OS-level failure: connection refused, timed out, or the OS text; None for others."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return None
