"""HTTP(S) probe from the runner: one request, no redirects followed, what came back as an Observation."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import final
from urllib.parse import urlsplit

from pytest_k8sharden.evidence.observation import RUNNER, Observation
from pytest_k8sharden.neterrors import Failure, ProbeConnectionError, failure_of, failure_text
from pytest_k8sharden.redact import redact

EXCERPT_BYTES = 512


@dataclass(frozen=True)
class HttpObservation(Observation):
    """An HTTP exchange: `status` is None when no response came back, and `error` then says why."""

    status: int | None = None
    """The HTTP status code, None when nothing answered."""
    error: str | None = None
    """Why nothing answered, for a person: connection refused, timed out, TLS failure ..."""
    failure: Failure | None = None
    """Why nothing answered, as a value (None when an answer came back)."""

    @property
    def answered(self) -> bool:
        """Whether an HTTP response came back at all."""
        return self.status is not None


def _link_local(host: str, port: int) -> bool:
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return any(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_link_local for info in infos)


def _cipher(sock: ssl.SSLSocket) -> str | None:
    cipher = sock.cipher()
    return cipher[0] if cipher else None


Connector = Callable[[str, int], socket.socket]
"""Opens a TCP connection to (host, port) from somewhere else, e.g. from inside a pod (probes/tunnel.py)."""


def pinned_connector(address: str, ports: Mapping[int, int], timeout: float) -> Connector:
    """Connect to ``address`` whatever host a URL names (as ``curl --resolve`` does), so that the Host
    header and the TLS SNI name the URL's host; ``ports`` maps a URL's port to the port dialled there.
    Link-local (metadata) addresses are refused."""

    def connect(host: str, port: int) -> socket.socket:
        if _link_local(address, port):
            why = f"not sent: {address} is link-local (metadata addresses are probed from pods only)"
            raise ProbeConnectionError(Failure.NOT_SENT, why)
        return socket.create_connection((address, ports.get(port, port)), timeout=timeout)

    return connect


class _ConnectorHTTPConnection(http.client.HTTPConnection):
    """An HTTP(S) connection whose socket comes from a Connector instead of the runner's network."""

    def __init__(
        self, host: str, port: int, timeout: float, connector: Connector, context: ssl.SSLContext | None
    ) -> None:
        super().__init__(host, port, timeout=timeout)
        self._connector = connector
        self._context = context

    def connect(self) -> None:
        sock = self._connector(self.host, self.port)
        sock.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host) if self._context else sock


@final
class HttpProbe:
    """Sends single HTTP requests with a bounded timeout, from the runner or through a Connector.

    TLS certificates are not verified unless `ca` is given: the probe asks what a door does, not
    whether its certificate is good (that is a TLS check's job). From the runner, link-local
    (metadata) addresses are never contacted; through a pod's Connector they may be.
    """

    def __init__(self, timeout: float, vantage: str = RUNNER, connector: Connector | None = None) -> None:
        self.timeout = timeout
        self.vantage = vantage
        self.connector = connector

    def get(
        self,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        ca: Path | None = None,
    ) -> HttpObservation:
        """GET `url`; `token` None means an anonymous client."""
        return self.request("GET", url, token=token, headers=headers, ca=ca)

    def request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        ca: Path | None = None,
    ) -> HttpObservation:
        """Send one request and observe the answer (status, headers, a short body excerpt)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        details: dict[str, object] = {"method": method, "url": url, "request_headers": sent}
        if self.connector is None and _link_local(host, port):
            return self._observe(
                method,
                url,
                details,
                error="not sent: link-local (metadata) addresses are probed from pods only",
                failure=Failure.NOT_SENT,
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection = self._connection(host, port, https, ca)
        try:
            connection.request(method, path, body=body, headers=sent)
            if isinstance(connection.sock, ssl.SSLSocket):  # before the response may close it
                details["tls"] = {"version": connection.sock.version(), "cipher": _cipher(connection.sock)}
            response = connection.getresponse()
            excerpt = response.read(EXCERPT_BYTES)
        except (OSError, http.client.HTTPException) as exc:
            return self._observe(method, url, details, error=failure_text(exc), failure=failure_of(exc))
        finally:
            connection.close()
        details["response_headers"] = dict(response.getheaders())
        details["body_excerpt"] = excerpt.decode("utf-8", "replace")
        return self._observe(method, url, details, status=response.status, reason=response.reason)

    def _connection(self, host: str, port: int, https: bool, ca: Path | None) -> http.client.HTTPConnection:
        context = None
        if https:
            context = ssl.create_default_context(cafile=str(ca)) if ca else ssl._create_unverified_context()
        if self.connector is not None:
            return _ConnectorHTTPConnection(host, port, self.timeout, self.connector, context)
        if context is None:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)

    def _observe(
        self,
        method: str,
        url: str,
        details: dict[str, object],
        *,
        status: int | None = None,
        reason: str = "",
        error: str | None = None,
        failure: Failure | None = None,
    ) -> HttpObservation:
        outcome = f"{status} {reason}".strip() if status is not None else f"no answer ({error})"
        # Redacted at once, so the token never shows up even in an assertion message about this object.
        return HttpObservation(
            kind="http",
            summary=f"{method} {url} -> {outcome}",
            vantage=self.vantage,
            target=url,
            details=redact(details),
            status=status,
            error=error,
            failure=failure,
        )
