"""What the network isolation checks read from the API: live namespaces and the NetworkPolicies."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from kubernetes import client

from pytest_k8sharden.isolation.workloads import Door
from pytest_k8sharden.kube import KubeError, KubeNotFound
from pytest_k8sharden.netpol import Namespace, NetworkPolicy, parse_network_policy_list

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

KUBELET_PORT: Final = 10250


def live_namespaces(kube: Kube) -> dict[str, dict[str, str]]:
    """Every namespace that is not being deleted, with its labels."""
    live: dict[str, dict[str, str]] = {}
    for namespace in kube.core.list_namespace().items:
        meta, status = namespace.metadata, namespace.status
        if meta is None or not meta.name or meta.deletion_timestamp is not None:
            continue
        if status is not None and status.phase == "Terminating":
            continue
        live[meta.name] = dict(meta.labels or {})
    return live


def network_policies(kube: Kube, namespaces: Sequence[str] | None = None) -> tuple[NetworkPolicy, ...]:
    """The NetworkPolicies of `namespaces` (None: of every namespace), parsed strictly.

    Raises PolicyParseError naming every field the engine cannot read.
    """
    if namespaces is None:
        listed = [kube.networking.list_network_policy_for_all_namespaces()]
    else:
        listed = [kube.networking.list_namespaced_network_policy(ns) for ns in namespaces]
    items = [kube.plain(item) for found in listed for item in found.items]
    return parse_network_policy_list({"items": items})


def raw_network_policies(kube: Kube, namespaces: Sequence[str]) -> list[dict[str, Any]]:
    """The NetworkPolicies of `namespaces` as plain objects (for the evidence), without status noise."""
    listed = [kube.networking.list_namespaced_network_policy(ns).items for ns in namespaces]
    items = [kube.plain(policy) for policies in listed for policy in policies]
    for item in items:
        item.get("metadata", {}).pop("managedFields", None)
    return items


@contextlib.contextmanager
def applied_policies(kube: Kube, manifests: Sequence[Mapping[str, Any]]) -> Iterator[None]:
    """The NetworkPolicy `manifests`, live in their namespaces until the block ends (deleted on any exit)."""
    created: list[tuple[str, str]] = []
    try:
        for manifest in manifests:
            meta = manifest["metadata"]
            created.append((meta["namespace"], meta["name"]))  # before the call: it may reach the server
            body: Any = dict(manifest)  # the client sends plain dicts as they are
            kube.networking.create_namespaced_network_policy(meta["namespace"], body)
        yield
    finally:
        for namespace, name in created:
            with contextlib.suppress(KubeNotFound):
                kube.networking.delete_namespaced_network_policy(name, namespace)


def model_namespaces(live: Mapping[str, Mapping[str, str]]) -> dict[str, Namespace]:
    """Live namespaces as the policy engine sees them."""
    return {name: Namespace(name, labels) for name, labels in live.items()}


def control_plane_doors(kube: Kube) -> tuple[Door, ...]:
    """The API server's endpoints and every node's kubelet port, as the API reports them.

    Endpoints the scanner may not list are left out; the caller reports when nothing is left.
    """
    doors: list[Door] = []
    try:
        slices = kube.api(client.DiscoveryV1Api).list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=kubernetes"
        )
        for found in slices.items:
            ports = [p.port for p in found.ports or [] if p.port and (p.protocol or "TCP") == "TCP"]
            addresses = [a for e in found.endpoints or [] for a in e.addresses or []]
            doors += [Door("api-server", address, port) for address in addresses for port in ports]
    except KubeError:
        pass
    try:
        for node in kube.core.list_node().items:
            status = node.status
            if status is None:
                continue
            endpoint = status.daemon_endpoints.kubelet_endpoint if status.daemon_endpoints else None
            port = endpoint.port if endpoint and endpoint.port else KUBELET_PORT
            internal = [a.address for a in status.addresses or [] if a.type == "InternalIP"]
            doors += [Door("kubelet", address, port) for address in internal]
    except KubeError:
        pass
    return tuple(dict.fromkeys(doors))
