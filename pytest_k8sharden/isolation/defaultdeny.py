"""Default-deny coverage (CIS 5.3.2): which namespaces in scope isolate every pod in a direction.

A namespace denies a direction by default when one of its policies selects every pod (empty
podSelector) for that direction, and no such policy allows everything back (a rule with no peers
and no ports). Pure functions over parsed policies; the suite lists namespaces and policies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, final

from pytest_k8sharden.evidence.observation import RUNNER, Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome, subject
from pytest_k8sharden.exemptions import Exemptions, left_out
from pytest_k8sharden.netpol import Direction, LabelSelector, NetworkPolicy
from pytest_k8sharden.ownership import is_ours

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


@final
@dataclass(frozen=True)
class IsolationScope:
    """The namespaces the default-deny and isolation checks cover, and each one left out, by name."""

    namespaces: tuple[str, ...]
    """In scope and live."""
    missing: tuple[str, ...] = ()
    """Named by --isolation-namespaces but not live."""
    exempt: Mapping[str, str] = field(default_factory=dict)
    """Live namespaces left out as exempt -> why (none when --isolation-namespaces names the scope)."""
    own: tuple[str, ...] = ()
    """This run's own probe namespaces, left out."""
    configured: bool = False
    """--isolation-namespaces named the scope."""

    def left_out(self) -> str:
        """``exempt: kube-system, ...; this run's own: ...``, or that the scope was named."""
        return "scope named by --isolation-namespaces" if self.configured else left_out(self.exempt, self.own)

    def observation(self) -> Observation:
        """Evidence naming every namespace left out, exempt ones with why."""
        return Observation(
            kind="object",
            summary=f"namespaces in scope: {', '.join(self.namespaces) or 'none'} ({self.left_out()})",
            vantage=RUNNER,
            target="v1/namespaces",
            details={
                "in scope": list(self.namespaces),
                "configured but absent": list(self.missing),
                "exempt namespaces": dict(self.exempt),
                "the scanner's own namespaces": list(self.own),
            },
        )


def in_scope(
    namespaces: Mapping[str, Mapping[str, str]], configured: Sequence[str], exemptions: Exemptions
) -> IsolationScope:
    """Namespaces to check: `configured` if given, else all but the exempt ones and this run's own.

    `namespaces` maps each live (not terminating) namespace to its labels.
    """
    if configured:
        live = tuple(n for n in configured if n in namespaces)
        return IsolationScope(live, tuple(n for n in configured if n not in namespaces), configured=True)
    exempt = {name: why for name in namespaces if (why := exemptions.default_deny_namespace(name))}
    own = tuple(name for name, labels in namespaces.items() if name not in exempt and is_ours(labels))
    return IsolationScope(tuple(n for n in namespaces if n not in exempt and n not in own), (), exempt, own)


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


def default_deny_finding(items: Sequence[Coverage], scope: IsolationScope, direction: Direction) -> Finding:
    """Failed when a namespace in scope lacks default deny (naming them as subjects, for scoped waivers);
    inconclusive when there was nothing to check. Every message names what the scope left out."""
    name = direction.lower()
    gaps = [c for c in items if not c.denies_by_default]
    absent = f"; configured but absent: {', '.join(scope.missing)}" if scope.missing else ""
    left_out = f" ({scope.left_out()}{absent})"
    if gaps:
        listed = "; ".join(c.describe() for c in gaps[:NAMESPACES_NAMED])
        more = f"; and {len(gaps) - NAMESPACES_NAMED} more" if len(gaps) > NAMESPACES_NAMED else ""
        return Finding(
            Outcome.FAILED,
            f"{len(gaps)} of {len(items)} namespaces in scope{left_out} do not deny {name} by default: "
            f"{listed}{more}",
            tuple(subject("Namespace", c.namespace) for c in gaps),
        )
    if not items:
        return Finding(Outcome.INCONCLUSIVE, f"no namespace in scope to check{left_out}")
    return Finding(
        Outcome.PASSED,
        f"every namespace in scope denies {name} by default: {', '.join(c.namespace for c in items)}"
        f"{left_out}",
    )
