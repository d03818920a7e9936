"""Expected vs observed reachability matrices: observed tables from probe results, evidence, verdicts."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, final

import yaml

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.netpol import Reachability, TruthTable
from pytest_k8sharden.netpol.reachability import PortSpec
from pytest_k8sharden.probes.matrix import REFUSED, ConnectResult, Expectation, Settled

MISMATCHES_NAMED: Final = 4


Heard = Callable[[ConnectResult], bool]
"""Whether a control, at the same time, reached the destination of a result that did not connect."""


def observed_value(
    result: ConnectResult, refused_is_blocked: bool = True, heard: Heard | None = None
) -> bool | None:
    """Allowed (some attempt connected), blocked (a connect error), or None: no result, an ambiguous
    refusal, or (with `heard`) a timeout no control stands behind.

    A connection in any attempt is proof: a later timeout does not make the pair blocked. A refused
    connection reached the destination's network stack. For the canary, whose servers all listen, it
    means blocked (as upstream counts it: some enforcers reject instead of dropping); for workloads, whose
    declared ports may have no listener, ``refused_is_blocked=False`` leaves it unknown. A timeout is
    blocked only where `heard` says a control reached that destination (the canary, whose baseline
    scenario is its control, passes None).
    """
    if result.ever_connected:
        return True
    if not result.probed or (result.outcome == REFUSED and not refused_is_blocked):
        return None
    if heard is not None and result.outcome != REFUSED and not heard(result):
        return None
    return False


def observed_tables(
    expected: Mapping[PortSpec, TruthTable],
    results: Sequence[ConnectResult],
    refused_is_blocked: bool = True,
    heard: Heard | None = None,
) -> dict[PortSpec, TruthTable]:
    """Observed tables shaped like `expected` (TCP ports); pairs without a usable result stay unknown."""
    tables: dict[PortSpec, TruthTable] = {}
    for spec, table in expected.items():
        values = {
            (r.source, r.destination): observed_value(r, refused_is_blocked, heard)
            for r in results
            if (r.port, "TCP") == spec
        }
        tables[spec] = TruthTable(table.froms, table.tos).updated(values)
    return tables


def expectation(expected: Mapping[PortSpec, TruthTable], refused_is_blocked: bool = True) -> Expectation:
    """Whether a probe result matches `expected`; None for loopback pairs and unknown values (not retried)."""

    def matches(result: ConnectResult) -> bool | None:
        table = expected.get((result.port, "TCP"))
        if table is None or result.source == result.destination:
            return None
        want = table.get(result.source, result.destination)
        seen = observed_value(result, refused_is_blocked)
        return None if want is None or seen is None else want == seen

    return matches


@final
@dataclass(frozen=True)
class MatrixOutcome:
    """One compared matrix: what was declared, expected vs observed per port, and the probes' results."""

    name: str
    summary: str
    policies: tuple[Mapping[str, Any], ...]
    reachability: Mapping[PortSpec, Reachability]
    results: tuple[ConnectResult, ...]
    settled: Settled | None = None
    """How the matrix settled, when it was probed in rounds until it stood still."""
    connect_timeout_s: float | None = None
    """How long a silent connect was waited for before it counted as blocked, when the caller chose it."""

    @property
    def wrong(self) -> int:
        """Pairs whose observation contradicts the expectation, over all ports."""
        return sum(r.summary().wrong for r in self.reachability.values())

    @property
    def unknown(self) -> int:
        """Pairs without an observation or expectation, over all ports (loopback excluded)."""
        return sum(r.summary().unknown for r in self.reachability.values())

    def mismatches(self) -> list[str]:
        """Every contradicting pair as ``x/a -> y/b 80/TCP: expected blocked, observed allowed``."""
        return [
            f"{m.source} -> {m.destination} {port}/{protocol}: {str(m).split(': ', 1)[1]}"
            for (port, protocol), reach in self.reachability.items()
            for m in reach.mismatches()
        ]

    @property
    def unsettled(self) -> bool:
        """Probed in rounds, and the rounds never agreed before the deadline."""
        return self.settled is not None and not self.settled.converged

    @property
    def held(self) -> bool:
        """Every pair observed and as expected, in rounds that settled."""
        return not (self.wrong or self.unknown or self.unsettled)

    @property
    def denied(self) -> int:
        """Pairs the policies block, over all ports (loopback excluded)."""
        return sum(len(r.observed_where_denied()) for r in self.reachability.values())

    @property
    def enforced_nothing(self) -> bool:
        """The policies deny some pairs, and every one of them was seen connecting: no denial held."""
        seen = [v for r in self.reachability.values() for v in r.observed_where_denied()]
        return bool(seen) and all(v is True for v in seen)

    def unknown_pairs(self) -> list[str]:
        """Every pair without an observation or expectation, as ``x/a -> y/b 80/TCP (TIMEOUT)``."""
        outcomes = {(r.source, r.destination, r.port): r.outcome for r in self.results}
        found = []
        for (port, protocol), reach in self.reachability.items():
            diff = reach.compare()
            found += [
                f"{src} -> {dst} {port}/{protocol} ({outcomes.get((src, dst, port), '?')})"
                for src, dst in diff.pairs()
                if src != dst and diff.get(src, dst) is None
            ]
        return found

    def describe(self) -> str:
        """``name: N of M pairs differ (first few)`` or ``name: as declared``, and how it settled."""
        if self.wrong:
            named = self.mismatches()
            more = f" and {len(named) - MISMATCHES_NAMED} more" if len(named) > MISMATCHES_NAMED else ""
            found = f"{self.wrong} pairs differ ({'; '.join(named[:MISMATCHES_NAMED])}{more})"
        elif self.unknown:
            found = f"{self.unknown} pairs could not be probed"
        else:
            found = "as declared"
        return f"{self.name}: {found}{self._settling()}"

    def _settling(self) -> str:
        waited = "" if self.connect_timeout_s is None else f", connect timeout {self.connect_timeout_s:g} s"
        if self.settled is None:
            return f" ({waited[2:]})" if waited else ""
        rounds, after = self.settled.rounds, f"{self.settled.settled_after_s:.0f} s"
        if not self.settled.converged:
            return f" (did not settle in {rounds} rounds, {after}{waited})"
        if self.wrong:
            return f" (still so after {after}, {rounds} rounds{waited}: the policy had time to take effect)"
        return f" (settled after {after}, {rounds} rounds{waited})"


def compare(
    name: str,
    summary: str,
    policies: Sequence[Mapping[str, Any]],
    expected: Mapping[PortSpec, TruthTable],
    results: Sequence[ConnectResult],
    refused_is_blocked: bool = True,
    settled: Settled | None = None,
    heard: Heard | None = None,
    connect_timeout_s: float | None = None,
) -> MatrixOutcome:
    """Compare probe results with the expected tables, port by port."""
    observed = observed_tables(expected, results, refused_is_blocked, heard)
    return MatrixOutcome(
        name,
        summary,
        tuple(policies),
        {spec: Reachability(expected[spec], observed[spec]) for spec in expected},
        tuple(results),
        settled,
        connect_timeout_s,
    )


def matrix_observation(outcome: MatrixOutcome, vantage: str, target: str) -> Observation:
    """The evidence of one matrix: grids as lines (readable in the HTML), policies as YAML lines, retries."""
    grids = {
        f"{port}/{protocol}": reach.render().splitlines()
        for (port, protocol), reach in outcome.reachability.items()
    }
    retried = {  # a settled matrix's rounds are in its settling record instead
        f"{r.source} -> {r.destination} {r.port}/TCP": [*r.history, r.outcome]
        for r in outcome.results
        if r.attempts > 1 and outcome.settled is None
    }
    policies = yaml.safe_dump_all([dict(p) for p in outcome.policies], sort_keys=False).splitlines()
    details: dict[str, Any] = {
        "scenario": outcome.name,
        "declared": outcome.summary,
        "policies": policies if outcome.policies else [],
        "grids": grids,
        "probes": len(outcome.results),
        "attempts": retried,
    }
    if outcome.connect_timeout_s is not None:
        details["connect_timeout_s"] = outcome.connect_timeout_s
    if outcome.settled is not None:
        details["settling"] = {
            "rounds": outcome.settled.rounds,
            "converged": outcome.settled.converged,
            "enforcement_took_s": round(outcome.settled.settled_after_s, 1),
            "changed": {pair: list(seen) for pair, seen in outcome.settled.settling.items()},
        }
    return Observation(
        kind="matrix",
        summary=outcome.describe(),
        vantage=vantage,
        target=target,
        details=details,
    )


def ends_the_canary(outcome: MatrixOutcome, baseline: str) -> bool:
    """Whether no later scenario can change the canary's verdict: the `baseline` scenario did not hold (no
    scenario can be judged then), or a scenario's policies blocked none of the pairs they deny (the cluster
    does not enforce NetworkPolicy at all: the check has failed)."""
    if outcome.name == baseline:
        return not outcome.held
    return outcome.enforced_nothing


def canary_finding(outcomes: Sequence[MatrixOutcome], baseline: str, planned: int) -> Finding:
    """Failed when a scenario's matrix contradicts the engine; inconclusive if the canary cannot look, a
    matrix never settled (a connection where policy denies fails even then) or fewer than the `planned`
    scenarios ran without a failure.

    The `baseline` scenario (no policy) must match first: if the pods cannot reach each other without
    any policy, nothing the other scenarios show can be blamed on policy.
    """
    first = next((o for o in outcomes if o.name == baseline), None)
    if first is None:
        return Finding(Outcome.INCONCLUSIVE, f"the baseline scenario {baseline} did not run")
    not_run = planned - len(outcomes)
    if not first.held:
        return Finding(
            Outcome.INCONCLUSIVE,
            "without any NetworkPolicy the canary pods do not reach each other as expected: "
            + first.describe()
            + (f" (the other {not_run} scenarios were not run)" if not_run else ""),
        )
    failed = [o for o in outcomes if o.wrong]
    if failed:
        described = [o.describe() for o in failed]
        if not_run:
            last = outcomes[-1]
            described.append(
                f"the other {not_run} scenarios were not run: {last.name} blocked none of the "
                f"{last.denied} pairs its policies deny, so the cluster enforces no NetworkPolicy"
            )
        return Finding(
            Outcome.FAILED,
            f"NetworkPolicies are not enforced as declared in {len(failed)} of {len(outcomes)} scenarios "
            "run: " + " | ".join(described),
        )
    unknown = [o for o in outcomes if o.unknown or o.unsettled]
    if unknown:
        return Finding(Outcome.INCONCLUSIVE, " | ".join(o.describe() for o in unknown))
    if not_run:
        return Finding(Outcome.INCONCLUSIVE, f"only {len(outcomes)} of {planned} scenarios ran")
    return Finding(
        Outcome.PASSED,
        f"every scenario matched the declared policies: {', '.join(o.name for o in outcomes)}",
    )
