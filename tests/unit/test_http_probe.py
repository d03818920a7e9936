"""The HTTP probe, and planted secrets never reaching evidence.json, the HTML report or JUnit."""

from __future__ import annotations

import base64
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.probes.http import HttpProbe, _link_local
from pytest_k8sharden.redact import REDACTED

TOKEN = "planted-bearer-token-7f3a9c"
SECRET_VALUE = base64.b64encode(b"planted-secret-value-42").decode()
SECRET_BODY = json.dumps(
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": SECRET_VALUE}}
).encode()


class _SecretHandler(BaseHTTPRequestHandler):
    received: list[str | None]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.received.append(self.headers.get("Authorization"))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", f"session={TOKEN}")
        self.send_header("Content-Length", str(len(SECRET_BODY)))
        self.end_headers()
        self.wfile.write(SECRET_BODY)


def _serve(context: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[str | None]]]:
    received: list[str | None] = []
    handler = type("Handler", (_SecretHandler,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    scheme = "http"
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def leaky_server() -> Iterator[tuple[str, list[str | None]]]:
    """An HTTP server on loopback that answers with a Secret and a session cookie."""
    yield from _serve()


def test_probe_observes_the_answer_with_credentials_redacted(
    leaky_server: tuple[str, list[str | None]],
) -> None:
    url, received = leaky_server
    seen = HttpProbe(timeout=2).get(f"{url}/api/v1/namespaces/prod/secrets/db", token=TOKEN)
    assert received == [f"Bearer {TOKEN}"], "the probe really sent the token"
    assert seen.status == 200 and seen.answered and seen.error is None
    assert seen.summary == f"GET {url}/api/v1/namespaces/prod/secrets/db -> 200 OK"
    assert seen.details["request_headers"] == {"Authorization": REDACTED}
    assert seen.details["response_headers"]["Set-Cookie"] == REDACTED
    assert json.loads(seen.details["body_excerpt"])["data"] == {"password": REDACTED}
    assert TOKEN not in repr(seen) and SECRET_VALUE not in repr(seen)


def test_probe_reports_a_closed_port() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    seen = HttpProbe(timeout=2).get(f"http://127.0.0.1:{port}/healthz")
    assert seen.status is None and not seen.answered
    assert seen.error == "connection refused" and seen.failure is Failure.REFUSED
    assert seen.summary.endswith("-> no answer (connection refused)")


def test_probe_over_tls_records_the_handshake_and_can_verify(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    for url, _ in _serve(context):
        unverified = HttpProbe(timeout=2).get(url)
        assert unverified.status == 200
        assert unverified.details["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
        assert HttpProbe(timeout=2).get(url, ca=ca_file).status == 200
        other = tmp_path / "other.pem"
        trustme.CA().cert_pem.write_to_path(str(other))
        refused = HttpProbe(timeout=2).get(url, ca=other)
        assert refused.status is None and refused.failure is Failure.CERTIFICATE_NOT_TRUSTED
        assert refused.error is not None and refused.error.startswith("certificate verify failed: ")


def test_link_local_metadata_addresses_are_recognised_without_sending() -> None:
    assert _link_local("169.254.169.254", 80)
    assert not _link_local("127.0.0.1", 80)


def test_planted_secrets_reach_no_output_file(
    pytester: pytest.Pytester, leaky_server: tuple[str, list[str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = leaky_server
    # The check gets the token and the Secret at run time (as from a cluster), not from its source code.
    monkeypatch.setenv("PLANTED_TOKEN", TOKEN)
    monkeypatch.setenv("PLANTED_SECRET", SECRET_BODY.decode())
    pytester.makepyfile(
        f"""
        import os
        import pytest
        from pytest_k8sharden.evidence import Observation

        @pytest.mark.control("API-ANON-READ")
        def test_anonymous_secret_read(http_probe, evidence):
            token, secret = os.environ["PLANTED_TOKEN"], os.environ["PLANTED_SECRET"]
            seen = evidence.record(http_probe.get("{url}/api/v1/secrets", token=token))
            headers = {{"Authorization": "Bearer " + token}}
            details = {{"body": secret, "headers": headers}}
            evidence.record(Observation(kind="object", summary="the Secret", vantage="runner",
                                        target="Secret/prod/db", details=details))
            print("response was", seen.details["body_excerpt"])
            assert seen.status in (401, 403), seen
        """
    )
    result = pytester.runpytest(
        "--evidence-dir=out", "--html=out/report.html", "--self-contained-html", "--junitxml=out/junit.xml"
    )
    result.assert_outcomes(failed=1)
    files = sorted((pytester.path / "out").iterdir())
    assert [f.name for f in files] == ["evidence.json", "junit.xml", "manifest.sha256", "report.html"]
    for file in files:
        text = file.read_text()
        assert TOKEN not in text, file.name
        assert SECRET_VALUE not in text, file.name
    evidence = json.loads((pytester.path / "out" / "evidence.json").read_text())["results"][0]["evidence"]
    assert [item["kind"] for item in evidence] == ["http", "object"]
    assert evidence[0]["status"] == 200
    html = (pytester.path / "out" / "report.html").read_text()
    assert "k8sh-evidence" in html and "api/v1/secrets" in html
    assert TOKEN not in "\n".join(result.outlines)
