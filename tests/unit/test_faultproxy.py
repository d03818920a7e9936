"""The fault proxy of the API-fault tests: its decisions, and its forwarding to a real local HTTPS server."""

from __future__ import annotations

import base64
import json
import logging
import socket
import socketserver
import ssl
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
import yaml
from fake_apiserver import VERSION, FakeApi
from faultproxy import FaultPlan, FaultProxy, Shares, parse_head

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.kube import KubeSettings, connect

FAST = KubeSettings(backoff=0.01, max_backoff=0.05, attempts=3)


def test_decisions_follow_the_shares() -> None:
    shares = Shares(reset=0.1, error=0.1, throttle=0.05, delay=0.1, seed=7)
    plan = FaultPlan(shares)
    kinds = Counter(plan.decide(f"key {n}")[0].kind for n in range(20000))
    for kind, share in {"reset": 0.1, "500": 0.1, "429": 0.05, "delay": 0.1, "forward": 0.65}.items():
        assert abs(kinds[kind] / 20000 - share) < 0.015, (kind, kinds)


def test_same_seed_same_decisions() -> None:
    shares = Shares(reset=0.2, error=0.2, throttle=0.1, delay=0.2, seed=3)
    first, second = FaultPlan(shares), FaultPlan(shares)
    assert [first.decide(str(n)) for n in range(500)] == [second.decide(str(n)) for n in range(500)]


def test_delays_are_drawn_from_the_range() -> None:
    plan = FaultPlan(Shares(delay=1.0, delay_s=(0.5, 2.0)))
    delays = [plan.decide(str(n))[0].delay_s for n in range(500)]
    assert all(0.5 <= d <= 2.0 for d in delays) and max(delays) - min(delays) > 1


def test_faults_of_one_request_key_are_capped() -> None:
    plan = FaultPlan(Shares(reset=1.0, max_per_key=3))
    decided = [plan.decide("cert GET /api")[0].kind for _ in range(6)]
    assert decided == ["reset", "reset", "reset", "forward", "forward", "forward"]
    assert plan.decide("token GET /api")[0].kind == "reset", "each client, method and target has its own cap"


def test_spared_requests_are_reported() -> None:
    plan = FaultPlan(Shares(error=1.0, max_per_key=1))
    assert [plan.decide("k")[1] for _ in range(3)] == [False, True, True]


@pytest.mark.parametrize(("reset", "error"), [(-0.1, 0.0), (0.6, 0.5)])
def test_impossible_shares_are_refused(reset: float, error: float) -> None:
    with pytest.raises(ValueError, match="fault shares"):
        Shares(reset=reset, error=error)


def test_forwarded_head_closes_the_connection_unless_upgraded() -> None:
    plain = parse_head(b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\r\n")
    assert plain.forwarded() == b"GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    upgrade = b"GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    assert parse_head(upgrade).forwarded() == upgrade
    with pytest.raises(ValueError, match="not an HTTP"):
        parse_head(b"\x16\x03\x01 garbage\r\n\r\n")


# ----------------------------------------------------------------------------- forwarding, for real


@pytest.fixture
def via_proxy(
    tmp_path: Path, kubeconfig: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[FaultProxy, Path]]:
    """A proxy in front of the fake API server with the test's shares, and a kubeconfig through it."""
    shares: Shares = request.param
    with FaultProxy(kubeconfig, shares) as proxy:
        yield proxy, proxy.write_kubeconfig(tmp_path / "proxied")


def _version_through(kubeconfig: Path) -> str:
    return connect(ClusterAccess("existing", None, kubeconfig, None), FAST).server_version()


def _seen(api: FakeApi, path: str) -> int:
    return sum(1 for seen in api.state.seen if seen.path == path)


@pytest.mark.parametrize("via_proxy", [Shares()], indirect=True)
def test_clean_requests_pass_through_with_the_clients_token(
    via_proxy: tuple[FaultProxy, Path], fake_api: FakeApi
) -> None:
    proxy, kubeconfig = via_proxy
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["proxy-url"] == proxy.url
    kube = connect(ClusterAccess("existing", None, kubeconfig, None), FAST)
    assert kube.server_version() == "v1.36.3"
    assert kube.whoami().username.startswith("system:serviceaccount:")
    assert proxy.counts() == {"tunnels": 2, "requests": 2, "forward": 2}
    assert [who for _, who in proxy.arrivals()] == ["token", "token"]


@pytest.mark.parametrize(
    ("via_proxy", "fault"),
    [(Shares(error=1.0, max_per_key=2), "500"), (Shares(reset=1.0, max_per_key=2), "reset")],
    indirect=["via_proxy"],
)
def test_faults_are_answered_by_the_proxy_and_retried_by_the_gate(
    via_proxy: tuple[FaultProxy, Path], fake_api: FakeApi, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, kubeconfig = via_proxy
    caplog.set_level(logging.WARNING, logger="pytest_k8sharden.kube")
    assert _version_through(kubeconfig) == "v1.36.3"
    assert proxy.counts() == {"tunnels": 3, "requests": 3, fault: 2, "forward": 1, "spared": 1}
    assert _seen(fake_api, "/version") == 1, "a fault is injected before anything is forwarded"
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    expected = "500 Internal Server Error: injected by the fault proxy" if fault == "500" else "unreachable"
    assert len(retries) == 2 and all(expected in line for line in retries), retries


@pytest.mark.parametrize("via_proxy", [Shares(throttle=1.0, max_per_key=1)], indirect=True)
def test_429_says_retry_after_one_second(via_proxy: tuple[FaultProxy, Path], fake_api: FakeApi) -> None:
    proxy, kubeconfig = via_proxy
    started = time.monotonic()
    assert _version_through(kubeconfig) == "v1.36.3"
    assert time.monotonic() - started >= 1.0
    assert proxy.counts()["429"] == 1


@pytest.mark.parametrize("via_proxy", [Shares(delay=1.0, delay_s=(0.4, 0.4))], indirect=True)
def test_delayed_requests_are_forwarded_late(via_proxy: tuple[FaultProxy, Path], fake_api: FakeApi) -> None:
    proxy, kubeconfig = via_proxy
    started = time.monotonic()
    assert _version_through(kubeconfig) == "v1.36.3"
    assert time.monotonic() - started >= 0.4
    assert proxy.counts() == {"tunnels": 1, "requests": 1, "delay": 1}


class _Echo(socketserver.StreamRequestHandler):
    """Answers a plain request with the client certificate's CN and the Connection header it saw;
    answers an upgrade with 101 and then echoes every byte."""

    def handle(self) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += self.rfile.read(1)
        request = parse_head(head)
        if request.upgrade:
            self.wfile.write(
                b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
            )
            while data := self.connection.recv(4096):
                self.connection.sendall(data)
            return
        peer = self.connection.getpeercert()
        subject = dict(item[0] for item in peer["subject"]) if peer else {}
        body = json.dumps(
            {**VERSION, "gitVersion": f"{subject.get('commonName')} {request.header('Connection')}"}
        )
        answer = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.wfile.write((answer + body).encode())


@pytest.fixture
def echo_kubeconfig(tmp_path: Path) -> Iterator[Path]:
    """A TLS server asking for client certificates, and a kubeconfig with a client certificate for it."""
    ca = trustme.CA()
    client = ca.issue_cert("scanner.invalid", common_name="k8sharden-admin")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_OPTIONAL
    ca.configure_trust(context)
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    document = {
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": f"https://127.0.0.1:{server.server_address[1]}",
                    "certificate-authority-data": b64(ca.cert_pem.bytes()),
                },
            }
        ],
        "users": [
            {
                "name": "u",
                "user": {
                    "client-certificate-data": b64(client.cert_chain_pems[0].bytes()),
                    "client-key-data": b64(client.private_key_pem.bytes()),
                },
            }
        ],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    path = tmp_path / "echo-kubeconfig"
    path.write_text(yaml.safe_dump(document))
    yield path
    server.shutdown()
    server.server_close()


def test_the_client_certificate_is_presented_upstream_and_connections_close(
    echo_kubeconfig: Path, tmp_path: Path
) -> None:
    with FaultProxy(echo_kubeconfig, Shares()) as proxy:
        assert _version_through(proxy.write_kubeconfig(tmp_path / "p")) == "k8sharden-admin close"
        assert [who for _, who in proxy.arrivals()] == ["cert"]


def _tunnel(proxy: FaultProxy, target: str) -> socket.socket:
    raw = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    raw.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    context = ssl.create_default_context(cadata=proxy.ca.cert_pem.bytes().decode())
    return context.wrap_socket(raw, server_hostname=proxy.upstream.host)


def test_upgraded_connections_are_piped_both_ways(echo_kubeconfig: Path) -> None:
    with FaultProxy(echo_kubeconfig, Shares()) as proxy:
        target = f"{proxy.upstream.host}:{proxy.upstream.port}"
        with _tunnel(proxy, target) as tls:
            tls.sendall(b"GET /exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
            answer = b""
            while not answer.endswith(b"\r\n\r\n"):
                answer += tls.recv(1)
            assert answer.startswith(b"HTTP/1.1 101")
            for message in (b"one", b"two"):
                tls.sendall(message)
                assert tls.recv(16) == message
        assert proxy.counts()["upgrades"] == 1


def test_tunnels_to_anywhere_but_the_api_server_are_refused(echo_kubeconfig: Path) -> None:
    with FaultProxy(echo_kubeconfig, Shares()) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as raw:
            raw.sendall(b"CONNECT 198.18.0.1:10250 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert raw.recv(4096).startswith(b"HTTP/1.1 403")
        assert proxy.counts() == {"refused tunnels": 1}


def test_a_reset_gives_no_answer(echo_kubeconfig: Path) -> None:
    with FaultProxy(echo_kubeconfig, Shares(reset=1.0)) as proxy:
        with _tunnel(proxy, f"{proxy.upstream.host}:{proxy.upstream.port}") as tls:
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                answer = tls.recv(4096)  # through TLS, a reset may read as an end of stream
            except (ConnectionResetError, ssl.SSLError):
                answer = b""
            assert answer == b""
        assert proxy.counts()["reset"] == 1
