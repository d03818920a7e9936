"""deploy/rbac-read-only.yaml against a real API server: exactly what a --read-only run needs.

The ServiceAccount and its roles are applied to the hardened local cluster (whose API server writes an
audit log of every request at Metadata level), the shipped suites run with ``--read-only`` as that
identity through a token kubeconfig, and the audit log then says what the run asked for: nothing may
have been refused, and every rule of the roles must have been used.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.kube import Kube, KubeNotFound

pytestmark = pytest.mark.cluster

DEPLOY = Path(__file__).parents[2] / "deploy"
NAMESPACE, ACCOUNT = "k8sharden", "k8sharden-scanner"
USERNAME = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
Grant = tuple[str, str, str, str | None]
"""(API group, resource, verb, namespace or None for cluster-wide)."""


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def _create(kube: Kube, document: Any) -> None:
    namespace = document["metadata"].get("namespace")
    create: dict[str, Callable[[], object]] = {
        "Namespace": lambda: kube.core.create_namespace(document),
        "ServiceAccount": lambda: kube.core.create_namespaced_service_account(namespace, document),
        "ClusterRole": lambda: kube.rbac.create_cluster_role(document),
        "ClusterRoleBinding": lambda: kube.rbac.create_cluster_role_binding(document),
        "Role": lambda: kube.rbac.create_namespaced_role(namespace, document),
        "RoleBinding": lambda: kube.rbac.create_namespaced_role_binding(namespace, document),
    }
    create[document["kind"]]()


def _delete(kube: Kube, document: dict[str, Any]) -> None:
    name, namespace = document["metadata"]["name"], document["metadata"].get("namespace")
    delete: dict[str, Callable[[], object]] = {
        "Namespace": lambda: kube.core.delete_namespace(name),
        "ServiceAccount": lambda: kube.core.delete_namespaced_service_account(name, namespace),
        "ClusterRole": lambda: kube.rbac.delete_cluster_role(name),
        "ClusterRoleBinding": lambda: kube.rbac.delete_cluster_role_binding(name),
        "Role": lambda: kube.rbac.delete_namespaced_role(name, namespace),
        "RoleBinding": lambda: kube.rbac.delete_namespaced_role_binding(name, namespace),
    }
    with contextlib.suppress(KubeNotFound):
        delete[document["kind"]]()


def _granted(documents: list[dict[str, Any]]) -> set[Grant]:
    grants: set[Grant] = set()
    for document in documents:
        if document["kind"] in ("ClusterRole", "Role"):
            namespace = document["metadata"].get("namespace")
            for rule in document["rules"]:
                grants |= {
                    (group, resource, verb, namespace)
                    for group in rule["apiGroups"]
                    for resource in rule["resources"]
                    for verb in rule["verbs"]
                }
    return grants


def _token_kubeconfig(running: Running, token: str, target: Path) -> Path:
    admin = yaml.safe_load(running.cluster.state.kubeconfig.read_text())
    cluster = admin["clusters"][0]
    target.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": ACCOUNT, "user": {"token": token}}],
                "contexts": [{"name": ACCOUNT, "context": {"cluster": cluster["name"], "user": ACCOUNT}}],
                "current-context": ACCOUNT,
            }
        )
    )
    target.chmod(0o600)
    return target


def _audit_events(running: Running, since: datetime) -> list[dict[str, Any]]:
    events = []
    for line in running.cluster.state.path("audit", "audit.log").read_text().splitlines():
        event = json.loads(line)
        received = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if (
            event["user"].get("username") == USERNAME
            and event["stage"] == "ResponseComplete"
            and received >= since
        ):
            events.append(event)
    return events


@pytest.fixture(scope="module")
def read_only_identity(local_cluster: Callable[[str], Running]) -> Iterator[tuple[Running, str]]:
    """deploy/rbac-read-only.yaml applied to the hardened cluster, and a token of its ServiceAccount."""
    running = local_cluster("hardened")
    documents = _documents("rbac-read-only.yaml")
    for document in documents:
        _create(running.kube, document)
    try:
        issued = running.kube.core.create_namespaced_service_account_token(
            ACCOUNT, NAMESPACE, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
                audiences=[], expiration_seconds=3600))
        )  # fmt: skip
        assert issued.status is not None
        yield running, str(issued.status.token)
    finally:
        for document in reversed(documents):
            _delete(running.kube, document)


def test_read_only_run_as_the_deployed_identity_is_never_refused_and_uses_every_rule(
    read_only_identity: tuple[Running, str], tmp_path: Path
) -> None:
    running, token = read_only_identity
    kubeconfig = _token_kubeconfig(running, token, tmp_path / "kubeconfig")
    evidence_dir = tmp_path / "evidence"
    started = datetime.now(UTC).replace(microsecond=0)
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", "--read-only", f"--evidence-dir={evidence_dir}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    evidence = evidence_dir / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    run = json.loads(evidence.read_text())
    assert run["run"]["identity"].startswith(USERNAME)
    for result in run["results"]:
        assert result["outcome"] != "error", f"{result['check']}: {result['message']}"
        assert "Forbidden" not in result["message"] and "403" not in result["message"], result

    time.sleep(2)  # the audit log is written after the response
    events = _audit_events(running, started)
    assert events, "the audit log shows no request of the scanner"
    refused = [
        f"{e['verb']} {e['requestURI']}" for e in events if e.get("responseStatus", {}).get("code") == 403
    ]
    assert refused == [], f"requests of the read-only run refused: {refused}"
    writes = [
        f"{e['verb']} {e['requestURI']}"
        for e in events
        if e["verb"] not in ("get", "list", "watch")
        and e.get("objectRef", {}).get("resource") != "selfsubjectreviews"
    ]
    assert writes == [], f"the read-only run changed the cluster: {writes}"

    used: set[Grant] = set()
    for event in events:
        ref = event.get("objectRef")
        if ref:
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            used.add((ref.get("apiGroup", ""), resource, event["verb"], ref.get("namespace")))
    granted = _granted(_documents("rbac-read-only.yaml"))
    unused = {
        grant
        for grant in granted
        if not any(u[:3] == grant[:3] and (grant[3] is None or u[3] == grant[3]) for u in used)
    }
    assert unused == set(), f"the read-only roles grant what the run never used: {sorted(unused)}"
