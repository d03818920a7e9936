"""What a posture check examined: the scope it read, named in every pass, and the reads that cannot be empty.

A pass says what it read and how many (``none of 31 containers in 12 running pods in 4 of the 6 namespaces
in scope ...``). A scope that is truly empty passes saying so. A read that cannot be whole (the namespace
list lacks ``default`` or ``kube-system``, which every cluster has: the scanner was shown a filtered view)
makes the check inconclusive instead of passing on nothing. Every namespace left out (exempt by
``exemptions.Exemptions``, or this run's own) is named in the message and, with why, in the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.exemptions import Exemptions, left_out
from pytest_k8sharden.ownership import is_ours

ALWAYS_PRESENT_NAMESPACES: Final = ("default", "kube-system")
"""Namespaces the API server creates and keeps: a namespace list without them is not the whole list."""
LISTED: Final = 20
"""Findings name at most this many objects (and say how many more)."""

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name"))


@dataclass(frozen=True)
class NamespaceScope:
    """The namespaces in scope, and every namespace of the read left out, by name."""

    namespaces: tuple[Obj, ...]
    """In scope: neither exempt (Exemptions.namespaces) nor this run's own (ownership.is_ours)."""
    exempt: Mapping[str, str]
    """Namespaces of the read left out as exempt -> why."""
    own: tuple[str, ...]
    """This run's own probe namespaces, left out."""
    read: int
    """How many namespaces were read."""

    def left_out(self) -> str:
        """``exempt: kube-system; this run's own: k8sh-probe-1`` (or ``nothing left out``)."""
        return left_out(self.exempt, self.own)

    def details(self) -> dict[str, Any]:
        """Evidence details: every namespace left out, by name, exempt ones with why."""
        return {"exempt namespaces": dict(self.exempt), "the scanner's own namespaces": list(self.own)}


def namespaces_in_scope(namespaces: Sequence[Obj], exemptions: Exemptions) -> NamespaceScope:
    """The namespaces in scope; Inconclusive when the list cannot be the cluster's whole list."""
    names = {_name(ns) for ns in namespaces}
    missing = [name for name in ALWAYS_PRESENT_NAMESPACES if name not in names]
    if missing:
        raise Inconclusive(
            f"the namespace list ({len(namespaces)} read) lacks {' and '.join(missing)}, which every cluster "
            "has: the scanner was shown a partial or filtered view, so no scope can be judged"
        )
    exempt = {_name(ns): why for ns in namespaces if (why := exemptions.namespace(_name(ns)))}
    own = tuple(
        _name(ns) for ns in namespaces if _name(ns) not in exempt and is_ours(_meta(ns).get("labels"))
    )
    scoped = tuple(ns for ns in namespaces if _name(ns) not in exempt and _name(ns) not in own)
    return NamespaceScope(scoped, exempt, own, len(namespaces))


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
    namespaces: NamespaceScope
    pods_read: int

    def namespaces_text(self) -> str:
        """``in 4 of the 6 namespaces in scope (40 pods read; exempt: kube-system; ...)``."""
        spread = len({str(_meta(p).get("namespace")) for p in self.running})
        in_scope = len(self.namespaces.namespaces)
        return (
            f"in {spread} of the {in_scope} namespaces in scope ({self.pods_read} pods read; "
            f"{self.namespaces.left_out()})"
        )

    def where(self) -> str:
        """``in 12 running pods in 4 of the 6 namespaces in scope (...)``."""
        return f"in {len(self.running)} running pods {self.namespaces_text()}"

    def details(self) -> dict[str, Any]:
        """Evidence details: how many running pods are in scope, and every namespace left out."""
        return {"running pods in scope": len(self.running), **self.namespaces.details()}


def running_pods(pods: Sequence[Obj], namespaces: NamespaceScope) -> PodScope:
    """The running pods of the namespaces in scope."""
    scoped = {_name(ns) for ns in namespaces.namespaces}
    running = tuple(
        p
        for p in pods
        if str(_meta(p).get("namespace")) in scoped
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    )
    return PodScope(running, namespaces, len(pods))
