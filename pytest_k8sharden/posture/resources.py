"""Resource policies against exhaustion: ResourceQuotas and LimitRanges per namespace, container limits.

Pure functions over plain API dicts. A namespace passes when its unscoped ResourceQuotas together bound CPU
and memory, and when its LimitRanges give containers a default or maximum CPU and memory limit; a container
passes when it (or its pod, with pod-level resources) sets a CPU and a memory limit. Each finding names the
namespace or ``pod namespace/name container c``; a pass says how many it examined and what was left out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding
from pytest_k8sharden.posture.podsecurity import Container
from pytest_k8sharden.posture.scope import Examined, NamespaceScope, listing

Obj = Mapping[str, Any]
BOUNDED: Final = (
    ("CPU", frozenset({"cpu", "requests.cpu", "limits.cpu"})),
    ("memory", frozenset({"memory", "requests.memory", "limits.memory"})),
)
"""What a ResourceQuota's ``hard`` must name to bound each resource."""
LIMITED: Final = ("cpu", "memory")
"""The resources a container's limits (or a LimitRange's default or max) must name."""
Gap = Callable[[Sequence[Obj]], "str | None"]
"""Given a namespace's objects of one kind, what they leave open, or None."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _names(objects: Iterable[Obj]) -> str:
    return ", ".join(str(_meta(o).get("name")) for o in objects)


def _scoped(quota: Obj) -> bool:
    spec = quota.get("spec") or {}
    return bool(spec.get("scopes") or spec.get("scopeSelector"))


def quota_gap(quotas: Sequence[Obj]) -> str | None:
    """NAMESPACE-RESOURCE-QUOTA: what a namespace's ResourceQuotas leave unbounded for every pod, or None.
    A quota with ``scopes`` or a ``scopeSelector`` counts only some pods (BestEffort, a priority class ...),
    so only unscoped ones bound the namespace."""
    if not quotas:
        return "has no ResourceQuota"
    hard = {str(key) for q in quotas if not _scoped(q) for key in (q.get("spec") or {}).get("hard") or {}}
    missing = [resource for resource, keys in BOUNDED if not keys & hard]
    if not missing:
        return None
    scoped = [q for q in quotas if _scoped(q)]
    note = f" (scoped, counting only some pods: {_names(scoped)})" if scoped else ""
    return f"its ResourceQuota(s) {_names(quotas)} bound no {' and no '.join(missing)} for every pod{note}"


def limit_range_gap(ranges: Sequence[Obj]) -> str | None:
    """NAMESPACE-LIMIT-RANGE: the limits a namespace's LimitRanges leave containers without, or None (a
    ``Container`` item's ``default`` or ``max``; the API server sets the default limit to the max when only
    the max is given)."""
    if not ranges:
        return "has no LimitRange"
    items = [
        i for r in ranges for i in (r.get("spec") or {}).get("limits") or () if i.get("type") == "Container"
    ]
    capped = {str(name) for item in items for key in ("default", "max") for name in item.get(key) or {}}
    missing = [resource for resource in LIMITED if resource not in capped]
    if not missing:
        return None
    missed = " or ".join(missing)
    return f"its LimitRange(s) {_names(ranges)} give containers no default or maximum {missed} limit"


def namespaces_lacking(
    kind: str,
    objects: Sequence[Obj],
    scope: NamespaceScope,
    what: str,
    gap: Gap,
) -> tuple[list[str], Finding]:
    """Every namespace in scope judged by ``gap`` over its ``kind`` objects: fail naming each namespace and
    its gap; a pass says how many namespaces and objects were read and what was left out."""
    by_namespace: defaultdict[str, list[Obj]] = defaultdict(list)
    for obj in objects:
        by_namespace[str(_meta(obj).get("namespace"))].append(obj)
    flagged = [
        f"Namespace/{name}: {why}"
        for ns in scope.namespaces
        if (why := gap(by_namespace[name := str(_meta(ns).get("name"))]))
    ]
    where = f"({len(objects)} {kind}s and {scope.read} namespaces read; {scope.left_out()})"
    return flagged, listing(flagged, what, Examined(len(scope.namespaces), "namespaces in scope", where))


def without_limits(c: Container) -> str | None:
    """WORKLOAD-RESOURCE-LIMITS: no CPU or no memory limit, neither the container's nor its pod's. An
    ephemeral container can set none; the pod's cgroup bounds it when every other container has limits."""
    if c.ephemeral:
        return None
    own = (c.spec.get("resources") or {}).get("limits") or {}
    pod = (c.pod_spec.get("resources") or {}).get("limits") or {}
    missing = [resource for resource in LIMITED if resource not in own and resource not in pod]
    return f"sets no {' and no '.join(missing)} limit" if missing else None
