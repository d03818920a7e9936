"""Workloads and policies the local cluster's profiles seed, as plain manifests.

The shop (namespace ``k8sharden-shop``: frontend, backend, db) declares its isolation with
NetworkPolicies on every profile; only the profiles with an enforcer make them true, so the
network isolation suite finds the gap between declared and real isolation on ``insecure``.
Seeded objects are the cluster's own workloads, not the scanner's: they do not carry the
``app.kubernetes.io/managed-by: pytest-k8sharden`` label (checks leave objects with that label out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.clusters.local.images import PROBE_IMAGE

SHOP_NAMESPACE: Final = "k8sharden-shop"
SEEDED_LABEL: Final = {"k8sharden.io/seeded-by": "local-profile"}
SHOP_TIERS: Final = {"frontend": 8080, "backend": 8081, "db": 5432}
"""Each tier of the shop and the TCP port it serves (declared as container port ``serve``)."""

Manifest = Mapping[str, Any]


def _namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(SEEDED_LABEL)}}


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


def network_policy(
    namespace: str,
    name: str,
    pods: Mapping[str, str],
    types: Sequence[str],
    ingress: Sequence[Manifest] = (),
    egress: Sequence[Manifest] = (),
) -> Manifest:
    """A NetworkPolicy selecting `pods` (empty: every pod) for `types`, with the given rules."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(pods)} if pods else {},
        "policyTypes": list(types),
    }
    if ingress:
        spec["ingress"] = [dict(rule) for rule in ingress]
    if egress:
        spec["egress"] = [dict(rule) for rule in egress]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(SEEDED_LABEL)},
        "spec": spec,
    }


def default_deny(namespace: str) -> Manifest:
    """Deny all ingress and egress to every pod of `namespace` (CIS 5.3.2)."""
    return network_policy(namespace, "default-deny", {}, ["Ingress", "Egress"])


def _from_tier(tier: str, port: int) -> Manifest:
    return {"from": [{"podSelector": {"matchLabels": {"tier": tier}}}], "ports": [{"port": port}]}


def shop(image: str = PROBE_IMAGE) -> tuple[Manifest, ...]:
    """The shop: default deny, egress within the namespace, frontend open to the namespace, then a chain."""
    ns = SHOP_NAMESPACE
    backend, db = SHOP_TIERS["backend"], SHOP_TIERS["db"]
    return (
        _namespace(ns),
        *(_deployment(ns, tier, port, image) for tier, port in SHOP_TIERS.items()),
        default_deny(ns),
        network_policy(ns, "egress-within-namespace", {}, ["Egress"], egress=[{"to": [{"podSelector": {}}]}]),
        network_policy(
            ns, "frontend", {"tier": "frontend"}, ["Ingress"], ingress=[{"from": [{"podSelector": {}}]}]
        ),
        network_policy(
            ns, "backend", {"tier": "backend"}, ["Ingress"], ingress=[_from_tier("frontend", backend)]
        ),
        network_policy(ns, "db", {"tier": "db"}, ["Ingress"], ingress=[_from_tier("backend", db)]),
    )
