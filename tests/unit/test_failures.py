"""Failure kinds from real failures: sockets and TLS servers on loopback, as the probes meet them."""

from __future__ import annotations

import errno
import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import trustme

from pytest_k8sharden.exposure import Answer, classify
from pytest_k8sharden.neterrors import Failure, failure_of, failure_text
from pytest_k8sharden.probes.handshake import HandshakeProbe
from pytest_k8sharden.probes.http import HttpProbe, pinned_connector
from pytest_k8sharden.probes.tunnel import TunnelError, _failure

Handler = Callable[[socket.socket], None]


@contextmanager
def serving(handle: Handler) -> Iterator[int]:
    """A TCP listener on loopback that hands each connection to ``handle``; yields its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection, suppress(OSError):
                handle(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        listener.close()


def closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as placeholder:
        return int(placeholder.getsockname()[1])


def silent(connection: socket.socket) -> None:
    """Take the connection and never answer (until the client gives up)."""
    connection.settimeout(5)
    while connection.recv(4096):
        pass


def reset_after_request(connection: socket.socket) -> None:
    """Read the request, then reset the connection (SO_LINGER 0 sends RST on close)."""
    connection.recv(4096)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def close_after_request(connection: socket.socket) -> None:
    """Read the request, then close without an answer."""
    connection.recv(4096)


def plaintext_http(connection: socket.socket) -> None:
    """Answer whatever comes with a plaintext HTTP 400, as an HTTP server does to a TLS ClientHello."""
    connection.recv(4096)
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def tls_server(ca: trustme.CA, client_certificate: bool) -> Handler:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    if client_certificate:
        ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED

    def handle(connection: socket.socket) -> None:
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(4096)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    return handle


def test_a_closed_port_is_refused() -> None:
    port = closed_port()
    seen = HttpProbe(timeout=2).get(f"http://127.0.0.1:{port}/")
    assert (seen.failure, seen.error, classify(seen)) == (
        Failure.REFUSED,
        "connection refused",
        Answer.CLOSED,
    )
    handshake = HandshakeProbe(timeout=2).handshake("127.0.0.1", port)
    assert (handshake.failure, handshake.error) == (Failure.REFUSED, "connection refused")


def test_a_listener_that_never_answers_is_a_timeout() -> None:
    with serving(silent) as port:
        seen = HttpProbe(timeout=0.3).get(f"http://127.0.0.1:{port}/")
        handshake = HandshakeProbe(timeout=0.3).handshake("127.0.0.1", port)
    assert (seen.failure, seen.error, classify(seen)) == (Failure.TIMEOUT, "timed out", Answer.UNREACHABLE)
    assert (handshake.failure, handshake.error) == (Failure.TIMEOUT, "timed out")


@pytest.mark.parametrize("handle", [reset_after_request, close_after_request])
def test_a_reset_or_a_close_without_an_answer_is_a_reset(handle: Handler) -> None:
    with serving(handle) as port:
        seen = HttpProbe(timeout=2).get(f"http://127.0.0.1:{port}/")
    assert seen.failure is Failure.RESET and classify(seen) is Answer.DROPPED, seen.error


def test_a_plaintext_listener_is_not_tls() -> None:
    with serving(plaintext_http) as port:
        seen = HttpProbe(timeout=2).get(f"https://127.0.0.1:{port}/")
        handshake = HandshakeProbe(timeout=2).handshake("127.0.0.1", port)
    assert seen.failure is Failure.NOT_TLS and classify(seen) is Answer.NOT_TLS, seen.error
    assert seen.error is not None and seen.error.startswith("TLS failure: ")
    assert handshake.failure is Failure.NOT_TLS, handshake.error


def test_a_server_demanding_a_client_certificate_sends_a_tls_alert(ca: trustme.CA) -> None:
    with serving(tls_server(ca, client_certificate=True)) as port:
        seen = HttpProbe(timeout=2).get(f"https://127.0.0.1:{port}/")
    assert seen.failure is Failure.TLS_ALERT and classify(seen) is Answer.TLS_REFUSED, seen.error
    assert seen.error is not None and seen.error.startswith("TLS failure: ")


def test_an_unknown_issuer_is_a_certificate_not_trusted(ca: trustme.CA, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with serving(tls_server(ca, client_certificate=False)) as port:
        verified = HandshakeProbe(timeout=2).verify("127.0.0.1", port, ca=other)
        seen = HttpProbe(timeout=2).get(f"https://127.0.0.1:{port}/", ca=other)
    assert verified.failure is Failure.CERTIFICATE_NOT_TRUSTED
    assert verified.error == "certificate verify failed: unable to get local issuer certificate"
    assert seen.failure is Failure.CERTIFICATE_NOT_TRUSTED and classify(seen) is Answer.TLS_REFUSED


def test_link_local_addresses_are_not_sent_from_the_runner() -> None:
    seen = HttpProbe(timeout=2).get("http://169.254.169.254/latest/meta-data/")
    assert seen.failure is Failure.NOT_SENT and classify(seen) is Answer.UNREACHABLE
    pinned = HttpProbe(timeout=2, connector=pinned_connector("169.254.169.254", {}, 2))
    through = pinned.get("http://metadata.example.test/")
    assert through.failure is Failure.NOT_SENT
    assert (
        through.error
        == "not sent: 169.254.169.254 is link-local (metadata addresses are probed from pods only)"
    )


@pytest.mark.parametrize("code", [errno.ENETUNREACH, errno.EHOSTUNREACH])
def test_no_route_is_unreachable(code: int) -> None:
    """As connect(2) raises it (the runner must not send packets off this machine to provoke one)."""
    error = OSError(code, os.strerror(code))
    assert failure_of(error) is Failure.UNREACHABLE
    assert failure_text(error) == os.strerror(code).lower()


@pytest.mark.parametrize(
    ("said", "failure", "text"),
    [
        ("REFUSED", Failure.REFUSED, "connection refused"),
        ("TIMEOUT", Failure.TIMEOUT, "timed out"),
        ("dial tcp 10.0.0.1:80: i/o timeout", Failure.TIMEOUT, "timed out"),
        (
            "dial tcp 10.0.0.1:80: connect: network is unreachable",
            Failure.UNREACHABLE,
            "network is unreachable",
        ),
        ("nc: read: Connection reset by peer", Failure.RESET, "nc: read: connection reset by peer"),
        ("OTHER: no such host", Failure.OTHER, "other: no such host"),
    ],
)
def test_what_agnhost_says_in_the_pod_is_a_failure_kind(said: str, failure: Failure, text: str) -> None:
    error = TunnelError(*_failure(said))
    assert (failure_of(error), failure_text(error)) == (failure, text)


def test_failure_kinds_reach_the_evidence_as_plain_strings() -> None:
    seen = HttpProbe(timeout=2).get(f"http://127.0.0.1:{closed_port()}/")
    data = seen.to_dict()
    assert data["failure"] == "refused" and type(data["failure"]) is str
    assert data["error"] == "connection refused"
