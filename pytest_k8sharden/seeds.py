"""Workloads and policies the local cluster's profiles seed, as plain manifests.

The shop (namespace ``k8sharden-shop``: frontend, backend, db) declares its isolation with
NetworkPolicies on every profile; only the profiles with an enforcer make them true, so the
network isolation suite finds the gap between declared and real isolation on ``insecure``.
Seeded objects are the cluster's own workloads, not the scanner's: they do not carry the
``app.kubernetes.io/managed-by: pytest-k8sharden`` label (checks leave objects with that label out).

The posture seeds (below) give the posture suites what to find: ``insecure_posture`` its
misconfigurations, ``hardened_posture`` Pod Security enforcement and no automounted default tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from pytest_k8sharden.netpol.manifest import network_policy

SEED_IMAGE: Final = "k8sharden.seed/probe"
"""The image every seeded workload names: a stand-in that each provider replaces with the probe image it
made available (``with_images``), so the seeds carry no provider's image or version."""
SHOP_NAMESPACE: Final = "k8sharden-shop"
SEEDED_LABEL: Final = {"k8sharden.io/seeded-by": "local-profile"}
SHOP_TIERS: Final = {"frontend": 8080, "backend": 8081, "db": 5432}
"""Each tier of the shop and the TCP port it serves (declared as container port ``serve``)."""

Manifest = Mapping[str, Any]


def _namespace(name: str, labels: Mapping[str, str] | None = None) -> Manifest:
    metadata = {"name": name, "labels": {**SEEDED_LABEL, **(labels or {})}}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def container_resources() -> dict[str, Any]:
    """What every seeded workload of the cluster's own (the shop, the ingress backend) asks for and is held
    to."""
    return {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}


def resource_policies(namespace: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A ResourceQuota bounding the namespace's CPU, memory and pods, and a LimitRange giving every container
    a default limit (and a small default request, so defaults never crowd the node)."""
    hard = {
        "requests.cpu": "2",
        "requests.memory": "2Gi",
        "limits.cpu": "8",
        "limits.memory": "8Gi",
        "pods": "50",
    }
    container = {
        "type": "Container",
        "default": {"cpu": "500m", "memory": "256Mi"},
        "defaultRequest": {"cpu": "10m", "memory": "16Mi"},
    }
    metadata = {"name": "k8sharden-resources", "namespace": namespace, "labels": dict(SEEDED_LABEL)}
    return (
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": metadata, "spec": {"hard": hard}},
        {"apiVersion": "v1", "kind": "LimitRange", "metadata": metadata, "spec": {"limits": [container]}},
    )


def _deployment(namespace: str, tier: str, port: int, image: str) -> Manifest:
    labels = {"app": "shop", "tier": tier}
    security = {
        "allowPrivilegeEscalation": False,
        "runAsNonRoot": True,
        "runAsUser": 65534,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = {
        "name": tier,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["porter"],
        "env": [{"name": f"SERVE_PORT_{port}", "value": tier}],
        "ports": [{"name": "serve", "containerPort": port, "protocol": "TCP"}],
        "securityContext": security,
        "resources": container_resources(),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": tier, "namespace": namespace, "labels": {**SEEDED_LABEL, **labels}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 0,
                    "containers": [container],
                },
            },
        },
    }


def _seeded_policy(
    namespace: str,
    name: str,
    pods: Mapping[str, str],
    types: Sequence[str],
    ingress: Sequence[Manifest] = (),
    egress: Sequence[Manifest] = (),
) -> Manifest:
    return network_policy(namespace, name, pods, types, ingress=ingress, egress=egress, labels=SEEDED_LABEL)


def default_deny(namespace: str) -> Manifest:
    """Deny all ingress and egress to every pod of `namespace` (CIS 5.3.2)."""
    return _seeded_policy(namespace, "default-deny", {}, ["Ingress", "Egress"])


def _from_tier(tier: str, port: int) -> Manifest:
    return {"from": [{"podSelector": {"matchLabels": {"tier": tier}}}], "ports": [{"port": port}]}


def shop(image: str = SEED_IMAGE, namespace_labels: Mapping[str, str] | None = None) -> tuple[Manifest, ...]:
    """The shop: default deny, egress within the namespace, frontend open to the namespace, then a chain."""
    ns = SHOP_NAMESPACE
    backend, db = SHOP_TIERS["backend"], SHOP_TIERS["db"]
    return (
        _namespace(ns, namespace_labels),
        *(_deployment(ns, tier, port, image) for tier, port in SHOP_TIERS.items()),
        default_deny(ns),
        _seeded_policy(ns, "egress-within-namespace", {}, ["Egress"], egress=[{"to": [{"podSelector": {}}]}]),
        _seeded_policy(
            ns, "frontend", {"tier": "frontend"}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]
        ),
        _seeded_policy(
            ns, "backend", {"tier": "backend"}, ["Ingress"], ingress=[_from_tier("frontend", backend)]
        ),
        _seeded_policy(ns, "db", {"tier": "db"}, ["Ingress"], ingress=[_from_tier("backend", db)]),
    )


# ---- Posture (issue 7): what the posture suites must find on insecure and see fixed on hardened.
MANAGED: Final = MappingProxyType({"app.kubernetes.io/managed-by": "pytest-k8sharden"})
ENFORCE: Final = "pod-security.kubernetes.io/enforce"
ENFORCE_RESTRICTED: Final = MappingProxyType({ENFORCE: "restricted", f"{ENFORCE}-version": "latest"})
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


def _workload(name: str, labels: Mapping[str, str], pod_spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": INSECURE_NAMESPACE, "labels": {**SEEDED_LABEL, **labels}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {"metadata": {"labels": dict(labels)}, "spec": dict(pod_spec)},
        },
    }


_PRIVILEGED_AGENT = _workload(
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
                "image": SEED_IMAGE,
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
                "ports": [{"name": "metrics", "containerPort": 9100, "hostPort": 9100}],
            }
        ],
        "volumes": [{"name": "host-etc", "hostPath": {"path": "/etc"}}],
    },
)
_DASHBOARD_LABELS: Final = {"k8s-app": "kubernetes-dashboard"}
_DASHBOARD = _workload(
    "kubernetes-dashboard",
    _DASHBOARD_LABELS,
    {
        "terminationGracePeriodSeconds": 0,
        "containers": [
            {
                "name": "kubernetes-dashboard",
                "image": SEED_IMAGE,
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


CI_DEPLOYER: Final = "ci-deployer"
"""The insecure profile's ServiceAccount that holds every RBAC escalation path (no wildcard among them)."""
_ESCALATION_ROLE: Final = "k8sharden-insecure-escalation-paths"
_ESCALATION_PATHS: Final[Manifest] = {
    "apiVersion": "rbac.authorization.k8s.io/v1",
    "kind": "ClusterRole",
    "metadata": {"name": _ESCALATION_ROLE, "labels": dict(MANAGED)},
    "rules": [
        {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]},
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["certificatesigningrequests/approval"],
            "verbs": ["update"],
        },
        {
            "apiGroups": ["certificates.k8s.io"],
            "resources": ["signers"],
            "resourceNames": ["kubernetes.io/kube-apiserver-client"],
            "verbs": ["approve"],
        },
        {
            "apiGroups": ["admissionregistration.k8s.io"],
            "resources": ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
            "verbs": ["create", "update", "patch", "delete"],
        },
        {"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch"]},
    ],
}


def insecure_posture() -> tuple[Manifest, ...]:
    """Over-broad bindings (the legacy system:node binding of every node among them, and a CI ServiceAccount
    holding the RBAC escalation paths: nodes/proxy, token creation, CSR approval, webhook configurations,
    attach and ephemeral containers), a namespace enforcing privileged with a privileged workload reading a
    Secret from its environment and binding a hostPort, a legacy token Secret, a dashboard started with
    skip-login behind a NodePort, and a LoadBalancer Service open to every source."""
    return (
        binding(
            "k8sharden-insecure-anonymous-admin",
            "cluster-admin",
            {"kind": "User", "name": "system:anonymous"},
        ),
        binding(
            "k8sharden-insecure-serviceaccounts-admin",
            "cluster-admin",
            {"kind": "Group", "name": "system:serviceaccounts"},
        ),
        binding(
            "k8sharden-insecure-authenticated-edit", "edit", {"kind": "Group", "name": "system:authenticated"}
        ),
        # What the Node authorizer replaced: every kubelet may read every Secret, ConfigMap and pod
        # (the profile authorizes with RBAC alone; without this binding no kubelet could register).
        binding(
            "k8sharden-insecure-legacy-system-node", "system:node", {"kind": "Group", "name": "system:nodes"}
        ),
        binding(
            "k8sharden-insecure-default-sa-edit",
            "edit",
            {"kind": "ServiceAccount", "name": "default", "namespace": "default"},
            namespace="default",
        ),
        _ESCALATION_PATHS,
        binding(
            "k8sharden-insecure-ci-deployer-escalation",
            _ESCALATION_ROLE,
            {"kind": "ServiceAccount", "name": CI_DEPLOYER, "namespace": INSECURE_NAMESPACE},
        ),
        _namespace(INSECURE_NAMESPACE, {ENFORCE: "privileged"}),
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": CI_DEPLOYER, "namespace": INSECURE_NAMESPACE},
            "automountServiceAccountToken": False,
        },
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
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "legacy-api", "namespace": INSECURE_NAMESPACE},
            "spec": {
                "type": "LoadBalancer",
                "selector": {"app": "legacy-api"},
                "ports": [{"port": 443, "targetPort": 8443}],
            },
        },
    )


def hardened_posture() -> tuple[Manifest, ...]:
    """Pod Security enforcement on the stock namespaces; no default ServiceAccount mounts its token; a
    ResourceQuota and a LimitRange in the stock namespaces and the shop's."""
    return (
        *(_namespace(name, ENFORCE_RESTRICTED) for name in HARDENED_NAMESPACES),
        *(policy for name in (*HARDENED_NAMESPACES, SHOP_NAMESPACE) for policy in resource_policies(name)),
        *(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name},
                "automountServiceAccountToken": False,
            }
            for name in (*HARDENED_NAMESPACES, SHOP_NAMESPACE)
        ),
    )


def with_images(document: Any, images: Mapping[str, str]) -> Any:
    """``document`` (plain data) with every ``image`` that ``images`` names replaced by what it maps to."""
    if isinstance(document, Mapping):
        return {
            key: images.get(value, value)
            if key == "image" and isinstance(value, str)
            else with_images(value, images)
            for key, value in document.items()
        }
    if isinstance(document, (list, tuple)):
        return [with_images(item, images) for item in document]
    return document
