"""Our own errors for the Kubernetes API, and the translation of client and transport failures into them."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

from pytest_k8sharden.neterrors import os_error_text
from pytest_k8sharden.redact import redact_text

MESSAGE_LIMIT = 300


class KubeError(Exception):
    """Anything that went wrong talking to the API server. Messages never carry credentials."""

    @property
    def retryable(self) -> bool:
        """Whether sending the same request again may succeed."""
        return False


class KubeConfigError(KubeError):
    """The kubeconfig is missing, malformed, or does not have the requested context."""


class KubeUnreachable(KubeError):
    """No connection to the API server could be made."""

    @property
    def retryable(self) -> bool:
        """Connection failures are transient more often than not."""
        return True


class KubeTLSError(KubeError):
    """The API server's certificate was not accepted (untrusted, expired, wrong host) or TLS failed."""


class KubeApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(
        self, method: str, path: str, status: int, reason: str, message: str, retry_after: float | None
    ):
        text = f"{method} {path}: {status} {reason}".rstrip()
        super().__init__(f"{text}: {message}" if message else text)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """429 Too Many Requests and 5xx are worth another try."""
        return self.status == 429 or self.status >= 500


class KubeUnauthorized(KubeApiError):
    """401: the credentials were rejected."""


class KubeForbidden(KubeApiError):
    """403: authenticated, but not allowed."""


class KubeNotFound(KubeApiError):
    """404."""


class KubeConflict(KubeApiError):
    """409: already exists or changed meanwhile."""


_ERROR_BY_STATUS: dict[int, type[KubeApiError]] = {
    401: KubeUnauthorized,
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent or bad."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def status_message(body: bytes | str | None) -> str:
    """The message of a Kubernetes Status body, cut short; any other body is discarded."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict) or data.get("kind") != "Status":
        return ""
    return redact_text(str(data.get("message", "")))[:MESSAGE_LIMIT]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        todo += [item for item in linked if isinstance(item, BaseException)]


def _certificate_problem(error: ssl.SSLCertVerificationError) -> str:
    known = {
        10: "presented an expired certificate",
        9: "presented a certificate that is not valid yet",
        62: "presented a certificate for another host name",
    }
    return known.get(error.verify_code, f"presented an untrusted certificate ({error.verify_message})")


def _connection_problem(exc: BaseException) -> str:
    for cause in _causes(exc):
        text = os_error_text(cause)
        if text:
            return text
    return redact_text(str(exc).splitlines()[0])[:MESSAGE_LIMIT] if str(exc) else type(exc).__name__


def translate_transport_error(exc: BaseException, server: str) -> KubeError:
    """Our error for a failure below HTTP (TLS or connection), naming the server.

    A connection closed in the middle of TLS (SSLEOFError, e.g. reset by a proxy or load balancer) is a
    lost connection, worth another try, not a TLS failure.
    """
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return KubeTLSError(f"API server {server} {_certificate_problem(cause)}")
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError):
            return KubeTLSError(f"TLS handshake with API server {server} failed: {cause.reason or cause}")
    return KubeUnreachable(f"API server {server} is unreachable: {_connection_problem(exc)}")


def api_error(
    method: str, path: str, status: int, reason: str, body: bytes | str | None, retry_after: str | None
) -> KubeApiError:
    """The typed error for an HTTP error answer (its Status message kept, any other body discarded)."""
    cls = _ERROR_BY_STATUS.get(status, KubeApiError)
    return cls(method, path, status, reason, status_message(body), parse_retry_after(retry_after))
