"""kube.py against a real HTTPS server: retries (429 with Retry-After, 5xx), error types, QPS cap."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import trustme
from fake_apiserver import GOOD_TOKEN, FakeApi, status_body, write_kubeconfig
from kubernetes import client

from pytest_k8sharden import __version__
from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.kube import (
    USER_AGENT,
    KubeApiError,
    KubeForbidden,
    KubeNotFound,
    KubeSettings,
    KubeUnauthorized,
    KubeUnreachable,
    RateLimiter,
    connect,
    parse_retry_after,
    retry_wait,
    status_message,
)
from pytest_k8sharden.kubeerrors import translate_transport_error
from pytest_k8sharden.kubestream import open_exec

FAST = KubeSettings(backoff=0.01, max_backoff=0.05, attempts=3)
VERSION = ("GET", "/version")


def _kube(kubeconfig: Path, settings: KubeSettings = FAST):  # type: ignore[no-untyped-def]
    return connect(ClusterAccess("existing", None, kubeconfig, None), settings)


def _versions_seen(api: FakeApi) -> int:
    return sum(1 for seen in api.state.seen if seen.path == "/version")


def test_429_is_retried_honouring_retry_after_and_each_attempt_is_logged(
    fake_api: FakeApi, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    too_many = (429, {"Retry-After": "0.2"}, status_body(429, "TooManyRequests", "slow down"))
    fake_api.state.forced[VERSION] = [too_many, too_many]
    caplog.set_level(logging.DEBUG, logger="pytest_k8sharden.kube")
    started = time.monotonic()
    assert _kube(kubeconfig).server_version() == "v1.36.3"
    assert time.monotonic() - started >= 0.4, "Retry-After (0.2 s) was honoured twice"
    assert _versions_seen(fake_api) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    failure = "GET /version/: 429 Too Many Requests: slow down"
    assert warnings == [
        f"GET /version/: attempt 1/3 failed: {failure}; retrying in 0.2s",
        f"GET /version/: attempt 2/3 failed: {failure}; retrying in 0.2s",
    ]
    assert sum(1 for r in caplog.records if r.getMessage() == "GET /version/") == 3


def test_5xx_is_retried_then_raised(fake_api: FakeApi, kubeconfig: Path) -> None:
    fake_api.state.forced[VERSION] = [(503, {}, b"<html>upstream down</html>")] * 3
    with pytest.raises(KubeApiError) as raised:
        _kube(kubeconfig).server_version()
    assert raised.value.status == 503
    assert str(raised.value) == "GET /version/: 503 Service Unavailable", "a non-Status body is discarded"
    assert _versions_seen(fake_api) == 3


def test_client_errors_are_typed_and_not_retried(fake_api: FakeApi, kubeconfig: Path) -> None:
    kube = _kube(kubeconfig)
    fake_api.state.forced[VERSION] = [(403, {}, status_body(403, "Forbidden", 'cannot get path "/version"'))]
    with pytest.raises(KubeForbidden, match='403 Forbidden: cannot get path "/version"'):
        kube.server_version()
    with pytest.raises(KubeNotFound):
        kube.core.read_namespace("absent")
    assert _versions_seen(fake_api) == 1


def test_rejected_token_is_unauthorized_and_never_echoed(fake_api: FakeApi, kubeconfig: Path) -> None:
    anonymous = _kube(kubeconfig).with_token("wrong-token")
    with pytest.raises(KubeUnauthorized) as raised:
        anonymous.whoami()
    assert "wrong-token" not in str(raised.value)
    assert [s.authorization for s in fake_api.state.seen] == ["Bearer wrong-token"]
    assert _kube(kubeconfig).with_token(GOOD_TOKEN).whoami().username.endswith(":scanner")


def test_whoami_reads_the_self_subject_review(fake_api: FakeApi, kubeconfig: Path) -> None:
    identity = _kube(kubeconfig).whoami()
    assert identity.describe() == (
        "system:serviceaccount:audit:scanner (groups: system:serviceaccounts, system:authenticated)"
    )


def test_rate_limiter_caps_the_request_rate() -> None:
    limiter = RateLimiter(qps=20, burst=2)
    started = time.monotonic()
    waits = [limiter.acquire() for _ in range(6)]
    assert waits[:2] == [0.0, 0.0], "the burst passes at once"
    assert time.monotonic() - started >= 4 / 20 * 0.9


def test_qps_cap_applies_to_api_calls(fake_api: FakeApi, kubeconfig: Path) -> None:
    kube = _kube(kubeconfig, KubeSettings(qps=10, burst=1))
    started = time.monotonic()
    for _ in range(4):
        kube.server_version()
    assert time.monotonic() - started >= 0.3 * 0.9


def test_retry_wait_prefers_retry_after_and_caps_backoff() -> None:
    settings = KubeSettings(backoff=0.5, max_backoff=4, max_retry_after=10)
    assert [retry_wait(settings, attempt, None) for attempt in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    throttled = KubeApiError("GET", "/x", 429, "Too Many Requests", "", retry_after=3)
    assert retry_wait(settings, 1, throttled) == 3
    assert retry_wait(settings, 1, KubeApiError("GET", "/x", 429, "", "", retry_after=600)) == 10


def test_parse_retry_after() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30


def test_status_message_keeps_only_status_objects() -> None:
    assert status_message(status_body(404, "NotFound", "nope")) == "nope"
    assert status_message(b'{"kind": "Pod", "spec": {}}') == ""
    assert status_message(b"<html>proxy error</html>") == ""
    assert "[REDACTED" in status_message(
        status_body(400, "BadRequest", "bad header Authorization: Bearer abc")
    )


EXEC = ("GET", "/api/v1/namespaces/ns/pods/p/exec")


def _open_exec(kubeconfig: Path) -> object:
    return open_exec(_kube(kubeconfig), "ns", "p", ["true"])


def test_exec_handshake_goes_through_the_gate_retried_and_typed(
    fake_api: FakeApi, kubeconfig: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """kubernetes.stream.stream() swaps out the client's call_api: open_exec must re-enter the gate."""
    too_many = (429, {"Retry-After": "0.2"}, status_body(429, "TooManyRequests", "slow down"))
    fake_api.state.forced[EXEC] = [too_many, (500, {}, status_body(500, "InternalError", "etcd hiccup"))]
    caplog.set_level(logging.WARNING, logger="pytest_k8sharden.kube")
    started = time.monotonic()
    with pytest.raises(KubeNotFound):  # the fake server has no exec: its third answer is 404, not retried
        _open_exec(kubeconfig)
    assert time.monotonic() - started >= 0.2, "Retry-After of the refused handshake was honoured"
    assert sum(1 for seen in fake_api.state.seen if (seen.method, seen.path) == EXEC) == 3
    assert [r.getMessage().split(": ", 2)[1] for r in caplog.records] == [
        "attempt 1/3 failed",
        "attempt 2/3 failed",
    ]


def test_exec_refused_as_forbidden_is_not_retried(fake_api: FakeApi, kubeconfig: Path) -> None:
    fake_api.state.forced[EXEC] = [(403, {}, status_body(403, "Forbidden", "cannot create pods/exec"))]
    with pytest.raises(KubeForbidden, match="403 Forbidden: cannot create pods/exec"):
        _open_exec(kubeconfig)
    assert sum(1 for seen in fake_api.state.seen if (seen.method, seen.path) == EXEC) == 1


def test_exec_to_an_unreachable_server_is_unreachable(tmp_path: Path, ca: trustme.CA) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", ca)
    with pytest.raises(KubeUnreachable):
        _open_exec(kubeconfig)


def test_rest_requests_name_the_scanner_in_their_user_agent(fake_api: FakeApi, kubeconfig: Path) -> None:
    kube = _kube(kubeconfig)
    kube.server_version()
    kube.isolated(client.CoreV1Api).list_node()
    assert [seen.user_agent for seen in fake_api.state.seen] == [USER_AGENT, USER_AGENT]
    assert f"pytest-k8sharden/{__version__}" == USER_AGENT


def test_a_connection_closed_mid_tls_is_unreachable_and_retried_not_a_tls_failure() -> None:
    closed = translate_transport_error(
        ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), "https://x"
    )
    assert isinstance(closed, KubeUnreachable) and closed.retryable
    assert str(closed) == "API server https://x is unreachable: eof occurred in violation of protocol"
