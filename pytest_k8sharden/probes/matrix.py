"""Reachability matrices from pods: one script per source pod probes all of its targets at the same time.

Each source runs a busybox ``sh`` script (in an exec of its own, or in the pod's long-lived shell: see
shells.py) that starts busybox ``nc`` for every target in the background (connect, then exit at once) and
prints one result line per target, so a whole matrix takes about one connect timeout instead of one
timeout per blocked pair. busybox ``nc`` starts in about a millisecond where ``agnhost connect`` (a 64 MB
Go binary) takes some 50 ms of CPU, which made 162 of them per round the main cost of a matrix; nc's
answers are read into agnhost connect's words (``TIMEOUT``, ``REFUSED``, ``OTHER: ...``), and an answer
it is not known to give is no result, never a blocked pair. A timeout of a fraction of a second, which nc
cannot keep, runs agnhost connect as before. Pairs whose result differs from an expectation are probed
again, a bounded number of times, and every attempt is kept; a connection is never probed away. A matrix
under a policy just applied is probed in whole rounds until it stands still.
"""

from __future__ import annotations

import re
import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final, final

from kubernetes import client

from pytest_k8sharden.probes.pods import PodProber, ProbePod, pod_manifest
from pytest_k8sharden.probes.shells import PodShells

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

RESULT_MARK: Final = "k8sh-connect"
SHORT_CONNECT_TIMEOUT_S: Final = 1.0
"""The brief connect timeout tried first, kept only where every answer it gave was as expected (upstream's
NetworkPolicy e2e tests wait 1 s)."""
EXEC_MARGIN_S: Final = 60.0
"""How much longer than the probe timeout one source's exec may take (process start, API round trips)."""
CONNECTED: Final = "connected"
TIMEOUT: Final = "TIMEOUT"
REFUSED: Final = "REFUSED"
NO_RESULT: Final = "no result"
_AGNHOST_OTHER: Final = "OTHER: "
_NC_TIMED_OUT: Final = "nc: timed out"
_NC_CANNOT_CONNECT: Final = re.compile(r"nc: can't connect to remote host \([^)]*\): (?P<why>.+)")
UNPRIVILEGED_PORTS_SYSCTL: Final = "net.ipv4.ip_unprivileged_port_start"


@final
@dataclass(frozen=True)
class Target:
    """One destination of a source pod: its table key (``y/b``), address and TCP port."""

    key: str
    host: str
    port: int

    def __post_init__(self) -> None:
        if not self.key or any(c.isspace() for c in self.key):
            raise ValueError(f"a target key must be one word (it heads an output line): {self.key!r}")


@final
@dataclass(frozen=True)
class Source:
    """A pod that probes: its table key and where it runs."""

    key: str
    namespace: str
    pod: str

    @classmethod
    def of(cls, pod: ProbePod) -> Source:
        """A running probe pod as a source, keyed ``namespace/name``."""
        return cls(f"{pod.namespace}/{pod.name}", pod.namespace, pod.name)


@final
@dataclass(frozen=True)
class ConnectResult:
    """What one TCP connect from `source` to `destination`:`port` did, over every attempt.

    `outcome` is ``connected``, ``TIMEOUT``, ``REFUSED``, ``OTHER: <why the connect failed>``, or
    ``no result`` when the source printed no line for the target (the exec failed or was cut short) or a
    line the probe is not known to print (``no result (what it said)``).
    """

    source: str
    destination: str
    port: int
    outcome: str
    history: tuple[str, ...] = ()
    """Outcomes of earlier attempts, oldest first (empty when probed once)."""

    @property
    def connected(self) -> bool:
        """The connection was established."""
        return self.outcome == CONNECTED

    @property
    def ever_connected(self) -> bool:
        """Some attempt connected: proof that the pair is reachable, whatever later attempts saw."""
        return CONNECTED in (*self.history, self.outcome)

    @property
    def probed(self) -> bool:
        """A result came back (connected or a connect error), as opposed to no result at all."""
        return not self.outcome.startswith(NO_RESULT)

    @property
    def attempts(self) -> int:
        """How many times the pair was probed."""
        return len(self.history) + 1

    @property
    def pair(self) -> tuple[str, str, int]:
        """(source, destination, port)."""
        return self.source, self.destination, self.port


Plan = Mapping[Source, Sequence[Target]]
"""Which targets each source probes."""


NC_SELF_TEST: Final = (
    'case "$(busybox nc -w 1 127.0.0.1 1 -e true </dev/null 2>&1)" in '
    '*"can\'t connect to remote host (127.0.0.1): Connection refused"*) nc=1 ;; *) nc= ;; esac'
)
"""Sets ``nc`` where the image's busybox nc connects with ``-e`` and words a refusal as expected (a port
nobody serves on the pod's own loopback); elsewhere (another busybox build, no busybox) the script uses
``agnhost connect``, as upstream's agnhost image always can."""


def probe_script(targets: Sequence[Target], timeout_s: float) -> str:
    """The ``sh`` script probing every target at once; one ``k8sh-connect KEY PORT RC TEXT`` line each.

    busybox ``nc -e true`` runs ``true`` on the connected socket, so it exits as soon as the connection
    stands. Its ``-w`` keeps whole seconds only: a timeout it cannot keep exactly goes to ``agnhost
    connect`` (never a longer wait than asked, which would vouch for probes that waited less), and so does
    every probe of an image whose busybox nc fails NC_SELF_TEST.
    """
    agnhost = f'/agnhost connect "$2:$3" --timeout={timeout_s:g}s --protocol=tcp'
    lines = ["set -f"]
    connect = agnhost
    if timeout_s >= 1 and timeout_s == int(timeout_s):
        nc = f'busybox nc -w {int(timeout_s)} "$2" "$3" -e true </dev/null'
        connect = f'if [ "$nc" ]; then {nc}; else {agnhost}; fi'
        lines.append(NC_SELF_TEST)
    lines.append(f'p() {{ out=$({connect} 2>&1); rc=$?; echo "{RESULT_MARK} $1 $3 $rc" $out; }}')
    lines += [f"p {shlex.quote(t.key)} {shlex.quote(t.host)} {t.port} &" for t in targets]
    lines.append("wait")
    return "\n".join(lines)


def _outcome(code: str, text: str) -> str:
    """An exit code and message of busybox nc or agnhost connect in agnhost connect's words (``TIMEOUT``,
    ``REFUSED``, ``OTHER: ...``); anything else is no result."""
    said = text.strip()
    if code == "0":
        return CONNECTED
    if said in (TIMEOUT, REFUSED) or said.startswith(_AGNHOST_OTHER):
        return said
    if said == _NC_TIMED_OUT:
        return TIMEOUT
    failed = _NC_CANNOT_CONNECT.fullmatch(said)
    if failed is not None:
        why = failed["why"]
        return REFUSED if why == "Connection refused" else f"{_AGNHOST_OTHER}{why}"
    return f"{NO_RESULT} ({said or f'exit {code}'})"


def parse_probe_output(source: str, targets: Sequence[Target], output: str) -> tuple[ConnectResult, ...]:
    """One result per target, in the order of `targets`, from what ``probe_script`` printed."""
    seen: dict[tuple[str, int], str] = {}
    for line in output.splitlines():
        fields = line.split(maxsplit=4)
        if len(fields) < 4 or fields[0] != RESULT_MARK or not fields[2].isdigit():
            continue
        seen[(fields[1], int(fields[2]))] = _outcome(fields[3], fields[4] if len(fields) > 4 else "")
    return tuple(ConnectResult(source, t.key, t.port, seen.get((t.key, t.port), NO_RESULT)) for t in targets)


ProbeFn = Callable[[Plan], Sequence[ConnectResult]]
Expectation = Callable[[ConnectResult], bool | None]
"""Whether a result is as expected; None: not compared (never retried)."""


def probe_until_expected(
    probe: ProbeFn, plan: Plan, expected: Expectation, attempts: int, pause_s: float = 1.0
) -> tuple[ConnectResult, ...]:
    """Probe `plan`; re-probe pairs without a result, or not as expected and not connected, up to
    `attempts` in all.

    A connection is proof and is never probed again (a later timeout cannot erase it); a pair that did
    not connect counts as expected as soon as one attempt is. Each result keeps its earlier outcomes.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    results = {r.pair: r for r in probe(plan)}
    for _ in range(attempts - 1):
        again = {
            pair for pair, r in results.items() if not r.probed or (not r.connected and expected(r) is False)
        }
        if not again:
            break
        time.sleep(pause_s)
        retry = {
            source: [t for t in targets if (source.key, t.key, t.port) in again]
            for source, targets in plan.items()
        }
        for fresh in probe({s: t for s, t in retry.items() if t}):
            earlier = results[fresh.pair]
            results[fresh.pair] = replace(fresh, history=(*earlier.history, earlier.outcome))
    order = [(s.key, t.key, t.port) for s, targets in plan.items() for t in targets]
    return tuple(results[pair] for pair in order)


def probe_briefly_first(
    brief: ProbeFn, full: ProbeFn, plan: Plan, expected: Expectation, attempts: int, pause_s: float = 1.0
) -> tuple[tuple[ConnectResult, ...], bool]:
    """Probe `plan` once with `brief` (a short connect timeout): if every pair came back, connected or as
    `expected`, that is the answer. Otherwise probe_until_expected with `full` (the whole plan, up to
    `attempts`), each result keeping the brief outcome first in its history, so a connection seen then still
    counts. Returns the results and whether the brief round was the answer.

    A timeout then proves as much as before: it stands only where every control knock of the round (which
    `expected` names) got through within the same brief wait.
    """
    first = tuple(brief(plan))
    if all(r.probed and (r.connected or expected(r) is not False) for r in first):
        return first, True
    earlier = {r.pair: r for r in first}
    again = probe_until_expected(full, plan, expected, attempts, pause_s)
    return tuple(
        replace(r, history=(*earlier[r.pair].history, earlier[r.pair].outcome, *r.history)) for r in again
    ), False


@final
@dataclass(frozen=True)
class Settled:
    """A matrix probed in whole rounds until it stood still (or the time ran out)."""

    results: tuple[ConnectResult, ...]
    """The last round, each result with its outcomes in the stable rounds before it (its history)."""
    rounds: int
    """How many rounds were probed in all."""
    settled_after_s: float
    """Seconds from the first round to the first of the rounds judged: how long enforcement took."""
    converged: bool
    """Whether the rounds judged agreed on every pair."""
    settling: Mapping[str, tuple[str, ...]]
    """Pairs whose outcome changed from round to round: every outcome, oldest first."""


def probe_until_stable(
    probe: ProbeFn,
    plan: Plan,
    expected: Expectation,
    deadline_s: float,
    stable_rounds: int = 2,
    pause_s: float = 1.0,
    clock: Callable[[], float] = time.monotonic,
) -> Settled:
    """Probe the whole of `plan` round after round until `stable_rounds` consecutive rounds agree on every
    pair and match `expected`, or `deadline_s` has passed; judge on those last rounds only.

    For a policy just applied: earlier rounds show it taking effect (kept in `settling`), not violations.
    A matrix that stands still but differs from `expected` is probed on until the deadline (the policy
    may still be on its way), then judged as it stands: `converged` says whether its last rounds agreed.
    The rounds judged never include the first, probed as the policy was applied: on a slow machine the
    deadline may pass after `stable_rounds` rounds, and one more is probed then.
    """
    if stable_rounds < 1:
        raise ValueError(f"stable_rounds must be at least 1, not {stable_rounds}")
    started = clock()
    rounds: list[tuple[ConnectResult, ...]] = []
    starts: list[float] = []
    while True:
        starts.append(clock() - started)
        rounds.append(tuple(probe(plan)))
        window = rounds[-stable_rounds:]
        converged = len(window) == stable_rounds and all(_outcomes(r) == _outcomes(window[0]) for r in window)
        as_expected = all(expected(r) is not False for r in window[-1])
        past_first = len(rounds) > stable_rounds
        if (converged and as_expected) or (past_first and clock() - started >= deadline_s):
            break
        time.sleep(pause_s)
    last = [
        replace(result, history=tuple(earlier[i].outcome for earlier in window[:-1]))
        for i, result in enumerate(window[-1])
    ]
    changed = {
        f"{r.source} -> {r.destination} {r.port}/TCP": tuple(found[i].outcome for found in rounds)
        for i, r in enumerate(rounds[-1])
        if len({found[i].outcome for found in rounds}) > 1
    }
    return Settled(tuple(last), len(rounds), starts[-len(window)], converged, changed)


def _outcomes(results: Sequence[ConnectResult]) -> list[tuple[tuple[str, str, int], bool, bool]]:
    """What a round says about each pair: connected or not, and whether a result came back at all."""
    return [(r.pair, r.connected, r.probed) for r in results]


@final
class MatrixProber:
    """Runs a probe plan: one script per source pod, all sources at the same time.

    With `shells`, each source's script runs in that pod's long-lived shell (for plans probed round after
    round); without, in an exec of its own.
    """

    def __init__(
        self, kube: Kube, timeout_s: float, concurrency: int = 16, shells: PodShells | None = None
    ) -> None:
        self.kube = kube
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self.shells = shells

    def probe(self, plan: Plan) -> tuple[ConnectResult, ...]:
        """Every source's targets, probed concurrently; results in plan order."""
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(plan)))) as pool:
            done = pool.map(lambda item: self._from(*item), plan.items())
            return tuple(result for results in done for result in results)

    def _from(self, source: Source, targets: Sequence[Target]) -> tuple[ConnectResult, ...]:
        script = probe_script(targets, self.timeout_s)
        limit = self.timeout_s + EXEC_MARGIN_S
        if self.shells is not None:
            said = self.shells.run(source.namespace, source.pod, script, limit)
        else:
            said = (
                PodProber(self.kube, source.namespace, image="")
                .exec(source.pod, ["sh", "-c", script], limit)
                .stdout
            )
        return parse_probe_output(source.key, targets, said)


def server_manifest(
    name: str, image: str, ports: Sequence[int], labels: Mapping[str, str], pull_policy: str = "IfNotPresent"
) -> client.V1Pod:
    """A restricted-compliant probe pod that also serves TCP on `ports` (agnhost porter).

    Binding ports below 1024 as non-root needs no capability: the pod sets the namespaced, "safe"
    sysctl ``net.ipv4.ip_unprivileged_port_start=0`` (allowed by the baseline and restricted levels).
    """
    return pod_manifest(
        name,
        image,
        ["porter"],
        labels,
        ports,
        pull_policy,
        env={f"SERVE_PORT_{p}": f"{p}" for p in ports},
        sysctls={UNPRIVILEGED_PORTS_SYSCTL: "0"},
    )
