"""Default-deny coverage (CIS 5.3.2): which namespaces in scope isolate every pod in a direction.

A namespace denies a direction by default when one of its policies selects every pod (empty
podSelector) for that direction, and no such policy allows everything back (a rule with no peers
and no ports). Pure functions over parsed policies; the suite lists namespaces and policies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, final

from pytest_k8sharden.evidence.observation import RUNNER, Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome, subject
from pytest_k8sharden.netpol import Direction, LabelSelector, NetworkPolicy
from pytest_k8sharden.ownership import is_ours

SYSTEM_NAMESPACES: Final = ("kube-system", "kube-public", "kube-node-lease")
"""Left out of the default scope: the cluster's own namespaces."""
NAMESPACES_NAMED: Final = 10


def _selects_every_pod(selector: LabelSelector) -> bool:
    return not selector.match_labels and not selector.match_expressions


@final
@dataclass(frozen=True)
class Coverage:
    """How one namespace stands for one direction."""

    namespace: str
    direction: Direction
    denying: tuple[str, ...]
    """Policies that isolate every pod of the namespace for the direction."""
    reopening: tuple[str, ...]
    """Policies selecting every pod with a rule that allows every peer on every port."""
    policies: tuple[str, ...]
    """Every policy of the namespace."""

    @property
    def denies_by_default(self) -> bool:
        """Every pod is isolated and no rule opens the direction to everyone again."""
        return bool(self.denying) and not self.reopening

    def describe(self) -> str:
        """One line on the namespace, e.g. ``default: no policy isolates every pod for ingress``."""
        name = self.direction.lower()
        if self.reopening:
            return f"{self.namespace}: {', '.join(self.reopening)} allows all {name} to every pod"
        if not self.denying:
            others = f" (policies: {', '.join(self.policies)})" if self.policies else " (no policies)"
            return f"{self.namespace}: no policy isolates every pod for {name}{others}"
        return f"{self.namespace}: every pod isolated for {name} by {', '.join(self.denying)}"


def coverage(namespace: str, policies: Iterable[NetworkPolicy], direction: Direction) -> Coverage:
    """How `namespace` (whose policies may be among `policies`) stands for `direction`."""
    own = [p for p in policies if p.namespace == namespace]
    everyone = [p for p in own if _selects_every_pod(p.pod_selector) and direction in p.policy_types]
    reopening = [p for p in everyone if any(not r.peers and not r.ports for r in p.rules(direction))]
    return Coverage(
        namespace,
        direction,
        tuple(p.name for p in everyone),
        tuple(p.name for p in reopening),
        tuple(p.name for p in own),
    )


def in_scope(namespaces: Mapping[str, Mapping[str, str]], configured: Sequence[str]) -> tuple[str, ...]:
    """Namespaces to check: `configured` if given, else all but the system ones and this run's own.

    `namespaces` maps each live (not terminating) namespace to its labels.
    """
    if configured:
        return tuple(configured)
    return tuple(
        name for name, labels in namespaces.items() if name not in SYSTEM_NAMESPACES and not is_ours(labels)
    )


def coverage_observation(item: Coverage) -> Observation:
    """Evidence for one namespace and direction."""
    return Observation(
        kind="object",
        summary=item.describe(),
        vantage=RUNNER,
        target=f"Namespace/{item.namespace}",
        details={
            "direction": item.direction,
            "default_deny": item.denies_by_default,
            "isolating_every_pod": list(item.denying),
            "allowing_everything": list(item.reopening),
            "policies": list(item.policies),
        },
    )


def default_deny_finding(items: Sequence[Coverage], missing: Sequence[str], direction: Direction) -> Finding:
    """Failed when a namespace in scope lacks default deny (naming them as subjects, for scoped waivers);
    inconclusive when there was nothing to check."""
    name = direction.lower()
    gaps = [c for c in items if not c.denies_by_default]
    if gaps:
        listed = "; ".join(c.describe() for c in gaps[:NAMESPACES_NAMED])
        more = f"; and {len(gaps) - NAMESPACES_NAMED} more" if len(gaps) > NAMESPACES_NAMED else ""
        return Finding(
            Outcome.FAILED,
            f"{len(gaps)} of {len(items)} namespaces in scope do not deny {name} by default: {listed}{more}",
            tuple(subject("Namespace", c.namespace) for c in gaps),
        )
    absent = f" (configured but absent: {', '.join(missing)})" if missing else ""
    if not items:
        return Finding(Outcome.INCONCLUSIVE, f"no namespace in scope to check{absent}")
    return Finding(
        Outcome.PASSED,
        f"every namespace in scope denies {name} by default: {', '.join(c.namespace for c in items)}{absent}",
    )
