"""Exposure suite, API server: anonymous access, authorization and plaintext listeners, as an attacker.

Every door is tried from the runner and, unless --read-only, from inside a fresh unprivileged pod.
"""

from __future__ import annotations

import datetime
import json
from urllib.parse import urlsplit

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.clusters import Cluster
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.probes.handshake import HandshakeProbe
from pytest_k8sharden.vantage import Knocker


def _api(cluster: Cluster, path: str) -> str:
    return cluster.server.rstrip("/") + path


@pytest.mark.control("API-ANON-AUTH")
def test_api_server_does_not_authenticate_anonymous_clients(
    cluster: Cluster, knock: Knocker, evidence: Evidence
) -> None:
    seen = [o for path in exposure.API_PATHS for o in knock.get(_api(cluster, path))]
    evidence.conclude(exposure.anonymous_authentication(seen))


@pytest.mark.control("API-ANON-HEALTH-ONLY")
def test_anonymous_clients_are_authenticated_on_health_paths_only(
    cluster: Cluster, knock: Knocker, evidence: Evidence
) -> None:
    seen = knock.get_all([_api(cluster, path) for path in exposure.API_PATHS])
    evidence.conclude(exposure.anonymous_health_only(seen))


@pytest.mark.control("API-ANON-READ")
def test_anonymous_clients_cannot_read_cluster_data(
    cluster: Cluster, knock: Knocker, evidence: Evidence, anonymous_allowed_paths: tuple[str, ...]
) -> None:
    seen = [o for path in exposure.API_PATHS for o in knock.get(_api(cluster, path))]
    evidence.conclude(exposure.anonymous_reads(seen, anonymous_allowed_paths))


@pytest.mark.active
@pytest.mark.control("API-AUTHZ-NOT-ALWAYSALLOW")
def test_unbound_service_account_is_refused_secrets_and_pod_creation(
    cluster: Cluster, knock: Knocker, evidence: Evidence, unbound_service_account_token: str
) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "k8sharden-authz-probe"},
        "spec": {"containers": [{"name": "c", "image": "k8sharden.invalid/never-pulled"}]},
    }
    seen = knock.from_runner(_api(cluster, "/api/v1/secrets"), token=unbound_service_account_token)
    seen += knock.from_runner(
        _api(cluster, "/api/v1/namespaces/kube-system/pods?dryRun=All"),
        method="POST",
        token=unbound_service_account_token,
        headers={"Content-Type": "application/json"},
        body=json.dumps(pod).encode(),
    )
    evidence.conclude(
        exposure.must_refuse(seen, "the API server, asked by a ServiceAccount without bindings,")
    )


@pytest.mark.control("API-NO-PLAINTEXT")
def test_no_plaintext_listener_serves_the_api(
    cluster: Cluster, knock: Knocker, evidence: Evidence, control_plane_addresses: list[str]
) -> None:
    api = urlsplit(cluster.server)
    node_addresses = [n.address for n in cluster.nodes or () if n.address]
    hosts = dict.fromkeys([*control_plane_addresses, *node_addresses])
    urls = [f"http://{host}:8080/api" for host in hosts]
    urls.append(f"http://{api.hostname}:{api.port or 443}/api")
    seen = [o for url in urls for o in knock.get(url)]
    evidence.conclude(exposure.plaintext_refused(seen, "the Kubernetes API over plain HTTP"))


def _api_door(cluster: Cluster) -> tuple[str, int]:
    api = urlsplit(cluster.server)
    return api.hostname or "", api.port or 443


@pytest.mark.control("API-TLS-PROTOCOL")
def test_api_server_refuses_tls_1_0_and_1_1(
    cluster: Cluster, handshake_probe: HandshakeProbe, evidence: Evidence
) -> None:
    seen = [evidence.record(o) for o in handshake_probe.protocols(*_api_door(cluster))]
    evidence.conclude(exposure.tls_protocols(seen, "the API server"))


@pytest.mark.control("API-TLS-CIPHERS")
def test_api_server_accepts_no_weak_cipher_suites(
    cluster: Cluster, handshake_probe: HandshakeProbe, evidence: Evidence
) -> None:
    seen = handshake_probe.cipher_suites(*_api_door(cluster))
    for accepted in (o for o in seen if o.accepted):
        evidence.record(accepted)
    evidence.conclude(exposure.tls_cipher_suites(seen, "the API server"))


@pytest.mark.control("API-TLS-CERT")
def test_api_server_certificate_is_valid_strong_and_names_the_server(
    cluster: Cluster, handshake_probe: HandshakeProbe, evidence: Evidence
) -> None:
    host, port = _api_door(cluster)
    seen, facts = handshake_probe.serving_certificate(host, port)
    evidence.record(seen)
    now = datetime.datetime.now(datetime.UTC)
    evidence.conclude(exposure.serving_certificate(facts, host, now, "the API server"))
