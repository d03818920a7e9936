"""Objects the profiles apply after the local cluster is up: the posture each profile stands for.

``insecure`` seeds the misconfigurations the posture suites must find (a namespace without Pod Security,
a privileged workload reading a Secret from its environment, a legacy token Secret, a dashboard with
skip-login exposed by NodePort, over-broad RBAC bindings); ``hardened`` labels its namespaces with Pod
Security enforcement and stops default ServiceAccounts from mounting their tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from pytest_k8sharden.clusters.local.images import PROBE_IMAGE

MANAGED: Final = MappingProxyType({"app.kubernetes.io/managed-by": "pytest-k8sharden"})
ENFORCE: Final = "pod-security.kubernetes.io/enforce"
INSECURE_NAMESPACE: Final = "k8sharden-insecure"
HARDENED_NAMESPACES: Final = ("default", "kube-public", "kube-node-lease")
DASHBOARD_PORT: Final = 9090


def binding(name: str, role: str, subject: Mapping[str, str], namespace: str | None = None) -> dict[str, Any]:
    """A ClusterRoleBinding of ClusterRole ``role`` (a RoleBinding in ``namespace`` when given)."""
    metadata: dict[str, Any] = {"name": name, "labels": dict(MANAGED)}
    if namespace:
        metadata["namespace"] = namespace
    group = {} if subject.get("kind") == "ServiceAccount" else {"apiGroup": "rbac.authorization.k8s.io"}
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [dict(subject, **group)],
    }


def _namespace(name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def _deployment(name: str, labels: Mapping[str, str], pod_spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": INSECURE_NAMESPACE, "labels": {**MANAGED, **labels}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": dict(pod_spec)},
        },
    }


_PRIVILEGED_AGENT = _deployment(
    "privileged-agent",
    {"app": "privileged-agent"},
    {
        "hostPID": True,
        "hostIPC": True,
        "hostNetwork": True,
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "agent",
                "image": PROBE_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "args": ["pause"],
                "securityContext": {
                    "privileged": True,
                    "runAsUser": 0,
                    "allowPrivilegeEscalation": True,
                    "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]},
                },
                "env": [
                    {
                        "name": "DB_PASSWORD",
                        "valueFrom": {"secretKeyRef": {"name": "app-credentials", "key": "password"}},
                    }
                ],
                "volumeMounts": [{"name": "host-etc", "mountPath": "/host/etc", "readOnly": True}],
            }
        ],
        "volumes": [{"name": "host-etc", "hostPath": {"path": "/etc"}}],
    },
)
_DASHBOARD_LABELS: Final = {"k8s-app": "kubernetes-dashboard"}
_DASHBOARD = _deployment(
    "kubernetes-dashboard",
    _DASHBOARD_LABELS,
    {
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "kubernetes-dashboard",
                "image": PROBE_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                # The probe image's HTTP server stands in for the dashboard; the arguments are the
                # dashboard's own (the shell passes them on as positional parameters, unused).
                "command": [
                    "/bin/sh",
                    "-c",
                    f"exec /agnhost netexec --http-port={DASHBOARD_PORT}",
                    "dashboard",
                ],
                "args": ["--enable-skip-login", "--enable-insecure-login"],
                "ports": [{"containerPort": DASHBOARD_PORT}],
            }
        ],
    },
)

INSECURE_SEEDS: Final = (
    binding(
        "k8sharden-insecure-anonymous-admin", "cluster-admin", {"kind": "User", "name": "system:anonymous"}
    ),
    binding(
        "k8sharden-insecure-serviceaccounts-admin",
        "cluster-admin",
        {"kind": "Group", "name": "system:serviceaccounts"},
    ),
    binding(
        "k8sharden-insecure-authenticated-edit", "edit", {"kind": "Group", "name": "system:authenticated"}
    ),
    binding(
        "k8sharden-insecure-default-sa-edit",
        "edit",
        {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
        namespace="default",
    ),
    _namespace(INSECURE_NAMESPACE, {**MANAGED, ENFORCE: "privileged"}),
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "app-credentials", "namespace": INSECURE_NAMESPACE},
        "stringData": {"password": "k8sharden-canary-plaintext"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/service-account-token",
        "metadata": {
            "name": "default-legacy-token",
            "namespace": INSECURE_NAMESPACE,
            "annotations": {"kubernetes.io/service-account.name": "default"},
        },
    },
    _PRIVILEGED_AGENT,
    _DASHBOARD,
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "kubernetes-dashboard",
            "namespace": INSECURE_NAMESPACE,
            "labels": dict(MANAGED),
        },
        "spec": {
            "type": "NodePort",
            "selector": dict(_DASHBOARD_LABELS),
            "ports": [{"port": DASHBOARD_PORT, "targetPort": DASHBOARD_PORT}],
        },
    },
)
HARDENED_SEEDS: Final = tuple(
    document
    for name in HARDENED_NAMESPACES
    for document in (
        _namespace(name, {ENFORCE: "restricted", f"{ENFORCE}-version": "latest"}),
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": "default", "namespace": name},
            "automountServiceAccountToken": False,
        },
    )
)
