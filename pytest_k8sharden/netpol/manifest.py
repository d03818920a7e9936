"""NetworkPolicy objects as plain manifests, for the policies the plugin applies or seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def network_policy(
    namespace: str,
    name: str,
    pods: Mapping[str, str],
    types: Sequence[str],
    *,
    ingress: Sequence[Mapping[str, Any]] = (),
    egress: Sequence[Mapping[str, Any]] = (),
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A NetworkPolicy selecting `pods` (empty: every pod) for `types`, with the given rules."""
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": dict(pods)} if pods else {},
        "policyTypes": list(types),
    }
    if ingress:
        spec["ingress"] = [dict(rule) for rule in ingress]
    if egress:
        spec["egress"] = [dict(rule) for rule in egress]
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": metadata, "spec": spec}
