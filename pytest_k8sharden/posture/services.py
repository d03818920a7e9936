"""Exposure by configuration: LoadBalancer Services open to every source, NodePort Services and hostPorts.

Pure functions over plain API dicts. Services and pods of the namespaces in scope (``posture.scope``) are
judged; NodePort Services and hostPorts pass only when the allow-list options name them
(``--allowed-node-ports NAMESPACE/SERVICE``, ``--allowed-host-ports NAMESPACE/PORT``; both empty by
default). Each finding names ``Service/namespace/name`` or ``pod namespace/name container c``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding
from pytest_k8sharden.posture.podsecurity import Container
from pytest_k8sharden.posture.scope import Examined, NamespaceScope, listing

Obj = Mapping[str, Any]
SOURCE_RANGES_ANNOTATION: Final = "service.beta.kubernetes.io/load-balancer-source-ranges"
"""The legacy annotation cloud providers read when ``spec.loadBalancerSourceRanges`` is empty."""
EVERYWHERE: Final = frozenset({"0.0.0.0/0", "::/0"})


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(service: Obj) -> str:
    return f"{_meta(service).get('namespace')}/{_meta(service).get('name')}"


def source_ranges(service: Obj) -> list[str]:
    """The sources a LoadBalancer admits: ``spec.loadBalancerSourceRanges``, else the legacy annotation (as
    k8s.io/cloud-provider's service helper reads them); empty: every source."""
    ranges = [str(r).strip() for r in (service.get("spec") or {}).get("loadBalancerSourceRanges") or ()]
    if not ranges:
        annotation = str((_meta(service).get("annotations") or {}).get(SOURCE_RANGES_ANNOTATION) or "")
        ranges = [r.strip() for r in annotation.split(",")]
    return [r for r in ranges if r]


def open_load_balancer(service: Obj) -> str | None:
    """SERVICE-LOADBALANCER-SOURCE-RANGES: a LoadBalancer Service that admits every source."""
    if (service.get("spec") or {}).get("type") != "LoadBalancer":
        return None
    ranges = source_ranges(service)
    if not ranges:
        return "LoadBalancer without loadBalancerSourceRanges (open to every source)"
    everywhere = [r for r in ranges if r in EVERYWHERE]
    return f"LoadBalancer admits {', '.join(everywhere)}" if everywhere else None


def unlisted_node_port(allowed: Collection[str]) -> Callable[[Obj], str | None]:
    """SERVICE-NODEPORT-ALLOWED: a NodePort Service that ``allowed`` (``NAMESPACE/NAME``) does not name."""

    def judge(service: Obj) -> str | None:
        spec = service.get("spec") or {}
        if spec.get("type") != "NodePort" or _key(service) in allowed:
            return None
        ports = ", ".join(str(p["nodePort"]) for p in spec.get("ports") or () if p.get("nodePort"))
        return f"NodePort on node port(s) {ports or '(none allocated yet)'}, not in --allowed-node-ports"

    return judge


def services_exposed(
    services: Sequence[Obj],
    scope: NamespaceScope,
    what: str,
    judge: Callable[[Obj], str | None],
    allowed: Collection[str] | None = None,
) -> tuple[list[str], Finding]:
    """Every Service of the namespaces in scope judged by ``judge``: fail naming each; a pass says how many
    Services of how many namespaces were examined, what was left out and (``allowed``) what is allowed."""
    scoped = {str(_meta(ns).get("name")) for ns in scope.namespaces}
    judged = [s for s in services if str(_meta(s).get("namespace")) in scoped]
    flagged = [f"Service/{_key(s)}: {why}" for s in judged if (why := judge(s))]
    read = f"{len(services)} Services read; {scope.left_out()}"
    listed = "" if allowed is None else f"; allowed: {', '.join(allowed) or 'none'}"
    where = f"in the {len(scoped)} namespaces in scope ({read}{listed})"
    return flagged, listing(flagged, what, Examined(len(judged), "Services", where))


def unlisted_host_ports(allowed: Collection[str]) -> Callable[[Container], str | None]:
    """WORKLOAD-HOST-PORTS: a container's hostPorts that ``allowed`` (``NAMESPACE/PORT``) does not name."""

    def judge(c: Container) -> str | None:
        namespace = c.pod.split("/", 1)[0]
        ports = [p for p in c.spec.get("ports") or () if p.get("hostPort")]
        unlisted = [p for p in ports if f"{namespace}/{p['hostPort']}" not in allowed]
        shown = ", ".join(f"{p['hostPort']}/{p.get('protocol', 'TCP')}" for p in unlisted)
        return f"binds hostPort {shown}, not in --allowed-host-ports" if unlisted else None

    return judge
