"""A fault-injecting HTTPS proxy on loopback, for testing the API gateway against a flaky API server.

The scanner's kubeconfig gets ``proxy-url: http://127.0.0.1:PORT``: its clients (REST through urllib3,
exec streams through websocket-client) then open an HTTP CONNECT tunnel here for the API server's
address. The proxy answers the CONNECT, terminates TLS inside the tunnel with a certificate for the API
server's address from a test CA (the kubeconfig trusts that CA instead of the cluster's), reads ONE
request and decides its fate with a seeded random generator:

- ``reset``: the connection is reset (RST) without an answer, before anything was forwarded, so
  sending the request again is always safe;
- ``500`` / ``429``: a Kubernetes Status answer from the proxy itself (429 with ``Retry-After: 1``);
- ``delay``: forwarded after a pause;
- ``forward``: forwarded at once.

A forwarded request goes upstream on a fresh TLS connection with ``Connection: close`` (protocol
upgrades keep ``Connection: Upgrade``), and the bytes are piped both ways until either side closes:
bodies, streamed answers (watches) and upgraded exec websockets pass through unchanged. Upstream, the
proxy authenticates as the client did: the kubeconfig's client certificate when the client presented
it, none otherwise (bearer tokens travel in the request's own header).

Faults are transient by construction: one client, method and target is faulted at most
``max_per_key`` times over the proxy's life; later faults drawn for it are forwarded instead (counted
as ``spared``). Kept below the client's tries, no request can run out of them, even when identical
requests run at the same time (the proxy cannot tell a retry from its twin). Every decision is counted;
nothing is exempted silently.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import socket
import ssl
import struct
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import trustme
import yaml

FAULTS: Final = ("reset", "500", "429", "delay")
"""The faults the proxy injects, in the order their shares are laid out on [0, 1)."""
_CHUNK: Final = 65536
_REASONS: Final = {
    500: ("Internal Server Error", "InternalError"),
    429: ("Too Many Requests", "TooManyRequests"),
}


@dataclass(frozen=True)
class Shares:
    """How often each fault is injected (fractions of requests; their sum must not exceed 1)."""

    reset: float = 0.0
    error: float = 0.0
    """Answered 500 by the proxy."""
    throttle: float = 0.0
    """Answered 429 with Retry-After: 1 by the proxy."""
    delay: float = 0.0
    delay_s: tuple[float, float] = (0.5, 2.0)
    """Range of a delay, seconds (uniform)."""
    seed: int = 0
    max_per_key: int = 3
    """Most faults for one client, method and target (keep it below the client's tries)."""

    def __post_init__(self) -> None:
        shares = (self.reset, self.error, self.throttle, self.delay)
        if min(shares) < 0 or sum(shares) > 1:
            raise ValueError(f"fault shares must be >= 0 and sum to at most 1: {shares}")


@dataclass(frozen=True)
class Decision:
    """What happens to one request: a fault of FAULTS or "forward", and the delay before forwarding."""

    kind: str
    delay_s: float = 0.0


class FaultPlan:
    """Seeded per-request decisions, with a cap on the faults of each request key."""

    def __init__(self, shares: Shares) -> None:
        self.shares = shares
        self._random = random.Random(shares.seed)
        self._faulted: Counter[str] = Counter()

    def decide(self, key: str) -> tuple[Decision, bool]:
        """The decision for the next request with `key`; True when the cap per key spared it a fault."""
        s = self.shares
        draw, delay = self._random.random(), self._random.uniform(*s.delay_s)
        bounds = (s.reset, s.reset + s.error, s.reset + s.error + s.throttle)
        kind = next((fault for fault, bound in zip(FAULTS, bounds, strict=False) if draw < bound), None)
        if kind is None:
            return (Decision("delay", delay) if draw < bounds[-1] + s.delay else Decision("forward")), False
        if self._faulted[key] >= s.max_per_key:
            return Decision("forward"), True
        self._faulted[key] += 1
        return Decision(kind), False


@dataclass(frozen=True)
class Request:
    """The head of one HTTP request: request line, headers in order, and what the proxy needs of them."""

    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    @property
    def upgrade(self) -> bool:
        """A protocol upgrade (the exec websocket)."""
        return self.header("Upgrade") is not None

    def forwarded(self) -> bytes:
        """The head as sent upstream: ``Connection: close`` unless this is an upgrade."""
        hop = {"connection", "keep-alive", "proxy-connection"}
        headers = list(
            self.headers if self.upgrade else [(k, v) for k, v in self.headers if k.lower() not in hop]
        )
        if not self.upgrade:
            headers.append(("Connection", "close"))
        lines = [f"{self.method} {self.target} {self.version}", *(f"{k}: {v}" for k, v in headers)]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(head: bytes) -> Request:
    """Parse a request head (up to and including the blank line); ValueError when it is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise ValueError(f"not an HTTP/1.x request line: {lines[0][:80]!r}")
    headers = tuple((k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:] if line))
    return Request(parts[0], parts[1], parts[2], headers)


def canned(status: int) -> bytes:
    """The proxy's own answer with `status` (a Kubernetes Status body; 429 says Retry-After: 1)."""
    reason, status_reason = _REASONS[status]
    body = (
        f'{{"kind":"Status","apiVersion":"v1","metadata":{{}},"status":"Failure",'
        f'"message":"injected by the fault proxy","reason":"{status_reason}","code":{status}}}'
    ).encode()
    extra = "Retry-After: 1\r\n" if status == 429 else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


@dataclass(frozen=True)
class Upstream:
    """The API server and the scanner's credentials, from the current context of a kubeconfig."""

    host: str
    port: int
    ca_pem: bytes
    cert_pem: bytes | None
    key_pem: bytes | None

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Upstream:
        """Read the current context's server, CA and client certificate (embedded data only)."""
        data = yaml.safe_load(path.read_text())
        context = _named(data, "contexts", data["current-context"])["context"]
        cluster = _named(data, "clusters", context["cluster"])["cluster"]
        user = _named(data, "users", context["user"])["user"]
        url = urlsplit(cluster["server"])

        def decoded(key: str) -> bytes | None:
            return base64.b64decode(user[key]) if key in user else None

        return cls(
            url.hostname or "",
            url.port or 443,
            base64.b64decode(cluster["certificate-authority-data"]),
            decoded("client-certificate-data"),
            decoded("client-key-data"),
        )

    def context(self, with_certificate: bool) -> ssl.SSLContext:
        """A TLS client context trusting the cluster CA, presenting the client certificate if asked."""
        context = ssl.create_default_context(cadata=self.ca_pem.decode())
        if with_certificate and self.cert_pem and self.key_pem:
            with tempfile.NamedTemporaryFile(suffix=".pem") as pem:  # mode 0600, gone once loaded
                pem.write(self.key_pem + b"\n" + self.cert_pem)
                pem.flush()
                context.load_cert_chain(pem.name)
        return context

    def certificate_der(self) -> bytes | None:
        """The client certificate in DER form (to recognise it when the client presents it)."""
        return ssl.PEM_cert_to_DER_cert(self.cert_pem.decode()) if self.cert_pem else None


def _named(data: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(item for item in data[section] if item["name"] == name)


class FaultProxy:
    """The proxy, serving from a thread of its own: ``with FaultProxy(kubeconfig, shares) as proxy``."""

    def __init__(self, kubeconfig: Path, shares: Shares) -> None:
        self.kubeconfig = kubeconfig
        self.upstream = Upstream.from_kubeconfig(kubeconfig)
        self.plan = FaultPlan(shares)
        self.ca = trustme.CA()
        self.port = 0
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._arrivals: list[tuple[datetime, str]] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._serving = self._tls_server_context()
        self._clients = {True: self.upstream.context(True), False: self.upstream.context(False)}

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    @property
    def url(self) -> str:
        """The proxy-url for kubeconfigs."""
        return f"http://127.0.0.1:{self.port}"

    def counts(self) -> dict[str, int]:
        """What the proxy did so far: requests, each fault, spared, forward, upgrades, tunnels ..."""
        with self._lock:
            return dict(self._counts)

    def arrivals(self) -> list[tuple[datetime, str]]:
        """When each request arrived (UTC) and who sent it: cert (the kubeconfig's), token or none."""
        with self._lock:
            return list(self._arrivals)

    def write_kubeconfig(self, path: Path) -> Path:
        """A copy of the kubeconfig that reaches the API server through this proxy (mode 0600)."""
        data = yaml.safe_load(self.kubeconfig.read_text())
        cluster_name = _named(data, "contexts", data["current-context"])["context"]["cluster"]
        cluster = _named(data, "clusters", cluster_name)["cluster"]
        cluster["certificate-authority-data"] = base64.b64encode(self.ca.cert_pem.bytes()).decode()
        cluster["proxy-url"] = self.url
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(data))
        return path

    def _count(self, *keys: str) -> None:
        with self._lock:
            self._counts.update(keys)

    def _tls_server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert(self.upstream.host).configure_cert(context)
        context.verify_mode = ssl.CERT_OPTIONAL
        context.load_verify_locations(cadata=self.upstream.ca_pem.decode())
        return context

    async def _serve(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                await self._tunnel(reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                self._count("broken connections")
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
        except asyncio.CancelledError:
            pass  # the proxy is stopping: end quietly (asyncio logs a cancelled connection task as an error)

    async def _tunnel(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connect = parse_head(await reader.readuntil(b"\r\n\r\n"))
        if connect.method != "CONNECT" or connect.target != f"{self.upstream.host}:{self.upstream.port}":
            self._count("refused tunnels")  # only the API server is ever reached through the proxy
            writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self._count("tunnels")
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.start_tls(self._serving)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return  # the client closed the tunnel without a request (an idle pooled connection)
        request = parse_head(head)
        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        if peer is not None and peer != self.upstream.certificate_der():
            self._count("unknown client certificates")
            writer.write(canned(500))
            return
        who = "cert" if peer else "token" if request.header("Authorization") else "none"
        await self._handle(request, who, reader, writer)

    async def _handle(
        self, request: Request, who: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        with self._lock:
            self._arrivals.append((datetime.now(UTC), who))
        decision, spared = self.plan.decide(f"{who} {request.method} {request.target}")
        self._count("requests", decision.kind, *(["upgrades"] if request.upgrade else []))
        if spared:
            self._count("spared")
        if decision.kind == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if decision.kind in ("500", "429"):
            await _read_body(request, reader)  # unread bytes at close would reset the connection
            writer.write(canned(int(decision.kind)))
            await writer.drain()
            return
        await asyncio.sleep(decision.delay_s)
        await self._forward(request, who == "cert", reader, writer)

    async def _forward(
        self,
        request: Request,
        with_certificate: bool,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self.upstream.host,
                    self.upstream.port,
                    ssl=self._clients[with_certificate],
                    server_hostname=self.upstream.host,
                ),
                timeout=10,
            )
        except (OSError, ssl.SSLError, TimeoutError):
            self._count("upstream failures")
            writer.write(canned(500))
            return
        try:
            up_writer.write(request.forwarded())
            pipes = [
                asyncio.create_task(_pipe(reader, up_writer)),
                asyncio.create_task(_pipe(up_reader, writer)),
            ]
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for pipe in pipes:
                pipe.cancel()
        finally:
            up_writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await up_writer.wait_closed()


async def _read_body(request: Request, reader: asyncio.StreamReader) -> None:
    length = int(request.header("Content-Length") or 0)
    if request.header("Transfer-Encoding"):
        raise ValueError("chunked request bodies are not supported by the fault proxy")
    if length:
        await reader.readexactly(length)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ssl.SSLError):
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
