"""A real HTTPS server on loopback that answers the few Kubernetes API paths the plugin's start-up needs."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
import yaml

GOOD_TOKEN = "good-token-0123456789"
USERNAME = "system:serviceaccount:audit:scanner"
VERSION = {
    "major": "1",
    "minor": "36",
    "emulationMajor": "1",
    "emulationMinor": "36",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "35",
    "gitVersion": "v1.36.3",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_NODE_INFO_STRINGS = (
    "architecture",
    "bootID",
    "containerRuntimeVersion",
    "kernelVersion",
    "kubeProxyVersion",
    "machineID",
    "operatingSystem",
    "osImage",
    "systemUUID",
)


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    path: str
    authorization: str | None
    user_agent: str | None = None


@dataclass
class FakeApiState:
    """What the server answers and what it saw; tests change `forced` to inject errors."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)
    forced: dict[tuple[str, str], list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    """(method, path) -> responses to give (status, headers, body), consumed one per request."""
    seen: list[Seen] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


EMPTY_LISTS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/apis/networking.k8s.io/v1/networkpolicies"): ("NetworkPolicyList", "networking.k8s.io/v1"),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles"): (
        "ClusterRoleList",
        "rbac.authorization.k8s.io/v1",
    ),
    ("GET", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"): (
        "ClusterRoleBindingList",
        "rbac.authorization.k8s.io/v1",
    ),
}
"""Lists the fake always answers empty: (method, path) -> (kind, apiVersion)."""


def status_body(code: int, reason: str, message: str) -> bytes:
    """A Kubernetes Status object."""
    status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason}
    return json.dumps({**status, "code": code}).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    query: dict[str, list[str]]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        state = self.server.state
        path = self.path.split("?")[0].rstrip("/") or "/"
        self.query = parse_qs(urlsplit(self.path).query)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"null") if length else None
        with state.lock:
            state.seen.append(
                Seen(method, path, self.headers.get("Authorization"), self.headers.get("User-Agent"))
            )
            forced = state.forced.get((method, path))
            if forced:
                code, headers, data = forced.pop(0)
                self._send(code, data, headers)
                return
        verified_client = isinstance(self.connection, ssl.SSLSocket) and self.connection.getpeercert()
        if self.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}" and not verified_client:
            self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
            return
        self._route(method, path, body)

    def _route(self, method: str, path: str, body: Any) -> None:
        state = self.server.state
        if (method, path) == ("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews"):
            info = {"username": USERNAME, "groups": ["system:serviceaccounts", "system:authenticated"]}
            review = {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "SelfSubjectReview",
                "status": {"userInfo": info},
            }
            self._send(201, review)
        elif (method, path) == ("GET", "/version"):
            self._send(200, VERSION)
        elif (method, path) == ("GET", "/api/v1/nodes"):
            self._send(200, {"kind": "NodeList", "apiVersion": "v1", "metadata": {}, "items": state.nodes})
        elif (method, path) == ("GET", "/api/v1/namespaces"):
            items = [ns for ns in state.namespaces.values() if self._selected(ns)]
            self._send(200, {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": items})
        elif (method, path) == ("GET", "/api/v1/pods"):
            self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []})
        elif (method, path) in EMPTY_LISTS:
            kind, api_version = EMPTY_LISTS[method, path]
            self._send(200, {"kind": kind, "apiVersion": api_version, "metadata": {}, "items": []})
        elif (method, path) == ("POST", "/api/v1/namespaces"):
            body.setdefault("apiVersion", "v1")
            body.setdefault("kind", "Namespace")
            body["metadata"].setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            state.namespaces[body["metadata"]["name"]] = body
            self._send(201, body)
        elif path.startswith("/api/v1/namespaces/") and method in ("GET", "DELETE"):
            name = path.rsplit("/", 1)[1]
            namespace = state.namespaces.pop(name, None) if method == "DELETE" else state.namespaces.get(name)
            if namespace is None:
                self._send(404, status_body(404, "NotFound", f'namespaces "{name}" not found'))
            else:
                self._send(200, namespace)
        else:
            self._send(404, status_body(404, "NotFound", "the server could not find the requested resource"))

    def _selected(self, item: dict[str, Any]) -> bool:
        """Whether `item` matches the request's equality-based labelSelector (k=v,k2=v2)."""
        labels = item["metadata"].get("labels") or {}
        wanted = [term.split("=", 1) for term in self.query.get("labelSelector", [""])[0].split(",") if term]
        return all(labels.get(key) == value for key, value in wanted)

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext, state: FakeApiState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.state = state


@dataclass(frozen=True)
class FakeApi:
    """A running fake API server."""

    url: str
    state: FakeApiState


@contextmanager
def serve(cert: trustme.LeafCert, client_ca: trustme.CA | None = None) -> Iterator[FakeApi]:
    """Serve the fake API over HTTPS with `cert` on 127.0.0.1 until the block ends; with `client_ca`, only
    to clients presenting a certificate it issued."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    if client_ca is not None:
        client_ca.configure_trust(context)
        context.verify_mode = ssl.CERT_REQUIRED
    state = FakeApiState(
        nodes=[
            {
                "metadata": {"name": "node-1"},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "198.18.0.2"}],
                    "nodeInfo": {
                        "kubeletVersion": "v1.36.3",
                        **dict.fromkeys(_NODE_INFO_STRINGS, "x"),
                    },
                },
            }
        ]
    )
    server = _Server(context, state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FakeApi(f"https://127.0.0.1:{server.server_address[1]}", state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def write_kubeconfig(
    path: Path,
    server: str,
    ca: trustme.CA,
    token: str = GOOD_TOKEN,
    context: str = "test",
    client_cert: trustme.LeafCert | None = None,
) -> Path:
    """A kubeconfig for `server` trusting `ca` and authenticating with `token`, or with `client_cert`
    (inline, as ``client-certificate-data`` and ``client-key-data``)."""
    ca_data = base64.b64encode(ca.cert_pem.bytes()).decode()
    user: dict[str, str] = {"token": token}
    if client_cert is not None:
        user = {
            "client-certificate-data": base64.b64encode(client_cert.cert_chain_pems[0].bytes()).decode(),
            "client-key-data": base64.b64encode(client_cert.private_key_pem.bytes()).decode(),
        }
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server, "certificate-authority-data": ca_data}}],
        "users": [{"name": "scanner", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "scanner"}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path
