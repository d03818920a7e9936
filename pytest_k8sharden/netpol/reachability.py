"""Expected reachability from the policy engine, and its comparison with what probes observed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import final

from pytest_k8sharden.netpol.engine import PolicyEngine, Verdict
from pytest_k8sharden.netpol.model import Endpoint, Protocol, check_protocol
from pytest_k8sharden.netpol.truthtable import Pair, TruthTable

PortSpec = tuple[int, Protocol]


def expected_verdicts(
    engine: PolicyEngine,
    sources: Sequence[Endpoint],
    port: int,
    protocol: str = "TCP",
    destinations: Sequence[Endpoint] | None = None,
) -> dict[Pair, Verdict]:
    """The engine's verdict for every (source, destination) pair, keyed by their table headers."""
    targets = sources if destinations is None else destinations
    return {
        (src.key, dst.key): engine.allowed(src, dst, port, protocol) for src in sources for dst in targets
    }


def expected_table(
    engine: PolicyEngine,
    sources: Sequence[Endpoint],
    port: int,
    protocol: str = "TCP",
    destinations: Sequence[Endpoint] | None = None,
) -> TruthTable:
    """Expected table for one port: rows are sources, columns destinations (default: sources)."""
    targets = sources if destinations is None else destinations
    verdicts = expected_verdicts(engine, sources, port, protocol, targets)
    return TruthTable(
        tuple(src.key for src in sources),
        tuple(dst.key for dst in targets),
        {pair: verdict.allowed for pair, verdict in verdicts.items()},
    )


def expected_matrix(
    engine: PolicyEngine,
    pods: Sequence[Endpoint],
    ports: Iterable[int | tuple[int, str]],
) -> dict[PortSpec, TruthTable]:
    """Expected all-pairs table among `pods` for each port (a bare number means TCP)."""
    specs = [(p, "TCP") if isinstance(p, int) else p for p in ports]
    return {
        (port, check_protocol(protocol)): expected_table(engine, pods, port, protocol)
        for port, protocol in specs
    }


@final
@dataclass(frozen=True)
class Mismatch:
    """One pair where the observation contradicts the expectation."""

    source: str
    destination: str
    expected: bool
    observed: bool

    def __str__(self) -> str:
        def word(value: bool) -> str:
            return "allowed" if value else "blocked"

        return (
            f"{self.source} -> {self.destination}: expected {word(self.expected)}, "
            f"observed {word(self.observed)}"
        )


@final
@dataclass(frozen=True)
class ReachabilitySummary:
    """Counts over the pairs of a comparison."""

    correct: int
    wrong: int
    unknown: int
    ignored: int

    @property
    def ok(self) -> bool:
        """Every compared pair matched and none is missing an observation or expectation."""
        return self.wrong == 0 and self.unknown == 0


@final
@dataclass(frozen=True)
class Reachability:
    """Expected vs observed reachability for one port/protocol.

    Loopback pairs (a pod to itself) are ignored by default, as upstream does: policy semantics for
    them are undefined and CNIs differ.
    """

    expected: TruthTable
    observed: TruthTable
    ignore_loopback: bool = True

    def _ignored(self, pair: Pair) -> bool:
        return self.ignore_loopback and pair[0] == pair[1]

    def compare(self) -> TruthTable:
        """The diff table: `.` where they agree, `X` where they differ, `?` not compared."""
        diff = self.expected.compare(self.observed)
        return diff.updated({pair: None for pair in diff.pairs() if self._ignored(pair)})

    def summary(self) -> ReachabilitySummary:
        """How many pairs matched, differed, lacked a value, or were ignored as loopback."""
        diff = self.expected.compare(self.observed)
        ignored = sum(1 for pair in diff.pairs() if self._ignored(pair))
        compared = [diff.values.get(pair) for pair in diff.pairs() if not self._ignored(pair)]
        return ReachabilitySummary(
            correct=compared.count(True),
            wrong=compared.count(False),
            unknown=compared.count(None),
            ignored=ignored,
        )

    def observed_where_denied(self) -> list[bool | None]:
        """The observations of every compared pair the expectation blocks (loopback aside)."""
        return [
            self.observed.get(*pair)
            for pair in self.expected.pairs()
            if not self._ignored(pair) and self.expected.get(*pair) is False
        ]

    def mismatches(self) -> tuple[Mismatch, ...]:
        """Every compared pair whose observation contradicts the expectation."""
        found = []
        for pair in self.expected.pairs():
            expected, observed = self.expected.get(*pair), self.observed.get(*pair)
            if self._ignored(pair) or expected is None or observed is None:
                continue
            if expected != observed:
                found.append(Mismatch(pair[0], pair[1], expected, observed))
        return tuple(found)

    def render(self) -> str:
        """Summary line, then the expected, observed and diff grids."""
        s = self.summary()
        head = f"reachability: correct {s.correct}, wrong {s.wrong}, unknown {s.unknown}"
        if s.ignored:
            head += f", ignored loopback {s.ignored}"
        blocks = [
            ("expected", self.expected),
            ("observed", self.observed),
            ("diff (. agree, X differ, ? not compared)", self.compare()),
        ]
        return "\n\n".join([head, *(f"{title}:\n{table.render('  ')}" for title, table in blocks)])
