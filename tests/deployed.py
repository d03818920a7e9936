"""deploy/'s manifests on a local cluster under test: apply and remove them, a token kubeconfig of the
scanner's ServiceAccount, and what the API server's audit log saw it do."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.kube import Kube, KubeNotFound
from pytest_k8sharden.polling import wait_until

DEPLOY = Path(__file__).parents[1] / "deploy"
NAMESPACE, ACCOUNT = "k8sharden", "k8sharden-scanner"
USERNAME = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
Grant = tuple[str, str, str, str | None]
"""(API group, resource, verb, namespace or None for cluster-wide)."""


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def create(kube: Kube, document: Any) -> None:
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


def delete(kube: Kube, document: dict[str, Any]) -> None:
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


def granted(documents: list[dict[str, Any]]) -> set[Grant]:
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


def token_kubeconfig(running: Running, token: str, target: Path) -> Path:
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


def audit_events(running: Running, since: datetime) -> list[dict[str, Any]]:
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


@contextlib.contextmanager
def read_only_identity_applied(running: Running) -> Iterator[str]:
    """rbac-read-only.yaml applied (and removed afterwards, also when interrupted); yields an hour's token
    of its ServiceAccount."""
    applied = documents("rbac-read-only.yaml")
    try:
        for document in applied:
            create(running.kube, document)
        issued = running.kube.core.create_namespaced_service_account_token(
            ACCOUNT, NAMESPACE, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(
                audiences=[], expiration_seconds=3600))
        )  # fmt: skip
        assert issued.status is not None
        yield str(issued.status.token)
    finally:
        for document in reversed(applied):
            delete(running.kube, document)
        assert wait_until(lambda: _gone(running.kube, NAMESPACE), 180), f"namespace {NAMESPACE} is not gone"


def _gone(kube: Kube, namespace: str) -> bool:
    try:
        kube.core.read_namespace(namespace)
    except KubeNotFound:
        return True
    return False


def read_only_run_outside(kubeconfig: Path, directory: Path) -> dict[str, Any]:
    """The shipped suites with ``--read-only`` through ``kubeconfig`` from this machine, in ``directory``;
    returns its evidence.json."""
    evidence = directory / "evidence"
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", "--read-only", f"--evidence-dir={evidence}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=directory)
    document = evidence / "evidence.json"
    assert document.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    run: dict[str, Any] = json.loads(document.read_text())
    return run


def refused(events: list[dict[str, Any]]) -> list[str]:
    """The requests of audit ``events`` that were refused (403)."""
    return [
        f"{e['verb']} {e['requestURI']}" for e in events if e.get("responseStatus", {}).get("code") == 403
    ]


def writes(events: list[dict[str, Any]]) -> list[str]:
    """The requests of audit ``events`` that change something (a SelfSubjectReview changes nothing)."""
    return [
        f"{e['verb']} {e['requestURI']}"
        for e in events
        if e["verb"] not in ("get", "list", "watch")
        and e.get("objectRef", {}).get("resource") != "selfsubjectreviews"
    ]
