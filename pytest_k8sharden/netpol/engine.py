"""Decides whether traffic between two endpoints is allowed by a set of NetworkPolicies, and why."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import final

from pytest_k8sharden.netpol.model import (
    Endpoint,
    Pod,
    Protocol,
    check_port,
    check_protocol,
)
from pytest_k8sharden.netpol.policy import Direction, NetworkPolicy


@final
@dataclass(frozen=True)
class RuleRef:
    """One rule of one policy: ``x/allow-web ingress[0]``."""

    policy: str
    direction: Direction
    index: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction.lower()}[{self.index}]"


@final
@dataclass(frozen=True)
class DirectionVerdict:
    """The decision at one end: egress at the source, or ingress at the destination."""

    direction: Direction
    #: The pod whose policies decide (``ns/name``), or None when that end is not a pod.
    subject: str | None
    #: Policies that select the subject for this direction (non-empty means isolated).
    selected_by: tuple[str, ...]
    #: Rules of those policies that allow the traffic.
    allowed_by: tuple[RuleRef, ...]

    @property
    def isolated(self) -> bool:
        """Whether any policy restricts this direction for the subject."""
        return bool(self.selected_by)

    @property
    def allowed(self) -> bool:
        """Unrestricted, or allowed by at least one rule (rules are additive)."""
        return not self.isolated or bool(self.allowed_by)

    def explain(self) -> str:
        """One human sentence on why this end allows or blocks the traffic."""
        name = self.direction.lower()
        if self.subject is None:
            end = "source" if self.direction == "Egress" else "destination"
            return f"{name}: {end} is not a pod, no policy applies"
        if not self.isolated:
            return f"{name}: {self.subject} is selected by no {self.direction} policy"
        policies = ", ".join(self.selected_by)
        if self.allowed_by:
            rules = ", ".join(str(rule) for rule in self.allowed_by)
            return f"{name}: {self.subject} isolated by {policies}; allowed by {rules}"
        return f"{name}: {self.subject} isolated by {policies}; no rule allows it"


@final
@dataclass(frozen=True)
class Verdict:
    """Whether `source` may reach `destination` on `port`/`protocol`, with both ends' reasons."""

    source: str
    destination: str
    port: int
    protocol: Protocol
    egress: DirectionVerdict
    ingress: DirectionVerdict

    @property
    def allowed(self) -> bool:
        """Egress allowed at the source AND ingress allowed at the destination."""
        return self.egress.allowed and self.ingress.allowed

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def reason(self) -> str:
        """Both ends explained, e.g. for evidence or a failure message."""
        outcome = "allowed" if self.allowed else "blocked"
        flow = f"{self.source} -> {self.destination} {self.port}/{self.protocol}"
        return f"{flow} {outcome}: {self.egress.explain()}; {self.ingress.explain()}"


@final
@dataclass(frozen=True)
class PolicyEngine:
    """The NetworkPolicies of a cluster or scenario, ready to answer reachability questions."""

    policies: tuple[NetworkPolicy, ...]

    @classmethod
    def of(cls, policies: Iterable[NetworkPolicy]) -> PolicyEngine:
        """Build an engine from any iterable of policies."""
        return cls(tuple(policies))

    def allowed(self, src: Endpoint, dst: Endpoint, port: int, protocol: str = "TCP") -> Verdict:
        """Decide traffic from `src` to `dst` on `port`/`protocol` (TCP, UDP or SCTP)."""
        check_port(port)
        proto = check_protocol(protocol)
        egress = self._decide("Egress", src, src, dst, port, proto)
        ingress = self._decide("Ingress", dst, src, dst, port, proto)
        return Verdict(src.key, dst.key, port, proto, egress, ingress)

    def selecting(self, pod: Pod, direction: Direction) -> tuple[NetworkPolicy, ...]:
        """Policies that isolate `pod` in `direction`."""
        return tuple(p for p in self.policies if direction in p.policy_types and p.selects(pod))

    def _decide(
        self,
        direction: Direction,
        subject: Endpoint,
        src: Endpoint,
        dst: Endpoint,
        port: int,
        protocol: Protocol,
    ) -> DirectionVerdict:
        if not isinstance(subject, Pod):
            return DirectionVerdict(direction, None, (), ())
        peer = src if direction == "Ingress" else dst
        selecting = self.selecting(subject, direction)
        allowed_by = tuple(
            RuleRef(policy.key, direction, index)
            for policy in selecting
            for index, rule in enumerate(policy.rules(direction))
            if rule.admits(peer, policy.namespace, port, protocol, dst)
        )
        return DirectionVerdict(direction, subject.key, tuple(p.key for p in selecting), allowed_by)
