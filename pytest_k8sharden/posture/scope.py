"""What a posture check examined: the scope it read, named in every pass, and the reads that cannot be empty.

A pass says what it read and how many (``none of 31 containers in 12 running pods in 4 of the 6 namespaces
in scope ...``). A scope that is truly empty passes saying so. A read that cannot be whole (the namespace
list lacks ``default`` or ``kube-system``, which every cluster has: the scanner was shown a filtered view)
makes the check inconclusive instead of passing on nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.ownership import is_ours

EXEMPT_NAMESPACES: Final = frozenset({"kube-system"})
ALWAYS_PRESENT_NAMESPACES: Final = ("default", "kube-system")
"""Namespaces the API server creates and keeps: a namespace list without them is not the whole list."""
LISTED: Final = 20
"""Findings name at most this many objects (and say how many more)."""

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name"))


def _in_scope(namespace: Obj) -> bool:
    """Not kube-system and not one of this run's own probe namespaces (see ownership.is_ours)."""
    return _name(namespace) not in EXEMPT_NAMESPACES and not is_ours(_meta(namespace).get("labels"))


def namespaces_in_scope(namespaces: Sequence[Obj]) -> list[Obj]:
    """The namespaces in scope; Inconclusive when the list cannot be the cluster's whole list."""
    names = {_name(ns) for ns in namespaces}
    missing = [name for name in ALWAYS_PRESENT_NAMESPACES if name not in names]
    if missing:
        raise Inconclusive(
            f"the namespace list ({len(namespaces)} read) lacks {' and '.join(missing)}, which every cluster "
            "has: the scanner was shown a partial or filtered view, so no scope can be judged"
        )
    return [ns for ns in namespaces if _in_scope(ns)]


@dataclass(frozen=True)
class Examined:
    """What a check looked at: ``count`` ``noun`` ``where`` (``12 containers in 3 running pods ...``)."""

    count: int
    noun: str
    where: str

    def __str__(self) -> str:
        return f"{self.count} {self.noun} {self.where}"


def listing(flagged: Sequence[str], what: str, examined: Examined) -> Finding:
    """Fail naming the flagged objects (the first 20); else pass naming what was examined, or saying that
    the scope is empty."""
    if flagged:
        more = f" (and {len(flagged) - LISTED} more)" if len(flagged) > LISTED else ""
        shown = "; ".join(flagged[:LISTED])
        return Finding(Outcome.FAILED, f"{len(flagged)} of {examined} {what}: {shown}{more}")
    if examined.count == 0:
        return Finding(Outcome.PASSED, f"the scope is empty: there are no {examined.noun} {examined.where}")
    return Finding(Outcome.PASSED, f"none of {examined} {what}")


@dataclass(frozen=True)
class PodScope:
    """The running pods in scope, and the reads they were taken from."""

    running: tuple[Obj, ...]
    """Pods not finished (phase other than Succeeded/Failed) in namespaces in scope."""
    namespaces_in_scope: int
    pods_read: int

    def namespaces_text(self) -> str:
        """``in 4 of the 6 namespaces in scope (40 pods read; ...)``."""
        spread = len({str(_meta(p).get("namespace")) for p in self.running})
        return (
            f"in {spread} of the {self.namespaces_in_scope} namespaces in scope ({self.pods_read} pods read; "
            "kube-system and the scanner's probe namespaces excluded)"
        )

    def where(self) -> str:
        """``in 12 running pods in 4 of the 6 namespaces in scope (...)``."""
        return f"in {len(self.running)} running pods {self.namespaces_text()}"


def running_pods(pods: Sequence[Obj], namespaces: Sequence[Obj]) -> PodScope:
    """The running pods of the namespaces in scope (Inconclusive when the namespace list is not whole)."""
    scoped = {_name(ns) for ns in namespaces_in_scope(namespaces)}
    running = tuple(
        p
        for p in pods
        if str(_meta(p).get("namespace")) in scoped
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )
    return PodScope(running, len(scoped), len(pods))
