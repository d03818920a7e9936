"""deploy/: the CronJob runs as the ServiceAccount of the RBAC files, locked down, with its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"


def _documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_cronjob_runs_read_only_as_the_deployed_service_account() -> None:
    (account,) = [d for d in _documents("rbac-read-only.yaml") if d["kind"] == "ServiceAccount"]
    cronjob = next(d for d in _documents("cronjob.yaml") if d["kind"] == "CronJob")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert cronjob["metadata"]["namespace"] == account["metadata"]["namespace"]
    (container,) = pod["containers"]
    assert container["command"][:2] == ["k8sharden", "periodic"] and "--read-only" in container["args"]
    (evidence,) = [m for m in container["volumeMounts"] if m["name"] == "evidence"]
    assert container["command"][2:] == ["--root", evidence["mountPath"]]
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_cronjob_pod_is_locked_down() -> None:
    cronjob = next(d for d in _documents("cronjob.yaml") if d["kind"] == "CronJob")
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    mounted = {m["name"] for m in container["volumeMounts"]}
    assert mounted == {v["name"] for v in pod["volumes"]}


def test_active_role_is_bound_to_the_same_service_account() -> None:
    (account,) = [d for d in _documents("rbac-read-only.yaml") if d["kind"] == "ServiceAccount"]
    (binding,) = [d for d in _documents("rbac-active.yaml") if d["kind"] == "ClusterRoleBinding"]
    (subject,) = binding["subjects"]
    assert (subject["name"], subject["namespace"]) == (
        account["metadata"]["name"],
        account["metadata"]["namespace"],
    )


def test_no_role_grants_wildcards_and_secrets_are_only_read() -> None:
    """Secrets are read by two read-only checks (legacy token Secrets by type, and the certificate an
    Ingress references, of which only the fingerprint is kept): get and list, nothing more, and only
    in the read-only role."""
    for name in ("rbac-read-only.yaml", "rbac-active.yaml"):
        for document in _documents(name):
            for rule in document.get("rules", []):
                assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], (name, rule)
                if "secrets" in rule["resources"]:
                    assert name == "rbac-read-only.yaml" and sorted(rule["verbs"]) == ["get", "list"], rule
                    assert rule["resources"] == ["secrets"], rule
