"""The shipped suites against a flaky API server: verdicts hold, retries show, the QPS cap holds.

The hardened local cluster's suites run twice in a subprocess (``--cluster=local``, as a user runs them):
once clean, once with the scanner's API clients going through the fault proxy (tests/faultproxy.py),
which resets, answers 500 or 429, or delays a share of their requests. Every check must reach the same
outcome both times, within a hang guard. The API server's audit log (the hardened profile writes one)
and the proxy's own arrival times show that the client never exceeded its QPS cap.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from faultproxy import FAULTS, FaultProxy, Shares
from local_clusters import WORKLOAD_NAMESPACE, Running, ShippedRun, run_shipped_suites

from benchmarks import audit
from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.kube import USER_AGENT, KubeSettings, connect

pytestmark = pytest.mark.cluster

PROFILE = "hardened"
SETTINGS = KubeSettings()
"""The settings the suites run with (the defaults): their QPS cap and retry budget are what is tested."""
SHARES = Shares(
    reset=0.10,
    error=0.10,
    throttle=0.05,
    delay=0.10,
    delay_s=(0.5, 2.0),
    seed=10,
    max_per_key=SETTINGS.attempts - 1,
)
"""Faults within the retry budget of every request: the claim is surviving these, not outages."""
HANG_GUARD_S = 1800
"""Seconds the faulty run may take at most (the clean one takes 5-10 minutes on a busy machine)."""
RETRY = "; retrying in "


@dataclass(frozen=True)
class SuiteRun:
    """One run of the shipped suites: outcomes and messages by check, its wall time, window and retry log
    lines."""

    outcomes: dict[str, str]
    messages: dict[str, str]
    wall_s: float
    started: datetime
    ended: datetime
    retries: list[str]

    @classmethod
    def of(
        cls,
        results: list[dict[str, Any]],
        wall_s: float,
        started: datetime,
        ended: datetime,
        retries: list[str],
    ) -> SuiteRun:
        """A run from its evidence.json results."""
        outcomes = {r["check"]: r["outcome"] for r in results}
        return cls(outcomes, {r["check"]: r["message"] for r in results}, wall_s, started, ended, retries)


def _run(running: Running, directory: Path, *options: str, timeout: float) -> SuiteRun:
    directory.mkdir()
    log = directory / "k8sharden.log"
    path = [str(Path(__file__).parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}  # tests/: the proxied_local plugin
    started, clock = datetime.now(UTC), time.monotonic()
    done = run_shipped_suites(
        running.profile,
        directory,
        f"--workload-namespaces={WORKLOAD_NAMESPACE}",
        *("-o", f"log_file={log}", "-o", "log_file_level=WARNING"),
        *options,
        env=env,
        timeout=timeout,
    )
    wall, ended = time.monotonic() - clock, datetime.now(UTC)
    evidence = directory / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    results = json.loads(evidence.read_text())["results"]
    return SuiteRun.of(results, wall, started, ended, _retries(log))


def _retries(log: Path) -> list[str]:
    """The retry lines of a run's log file."""
    return [line for line in log.read_text().splitlines() if RETRY in line] if log.exists() else []


@pytest.fixture(scope="module")
def running(local_cluster: Callable[[str], Running]) -> Running:
    """The hardened cluster."""
    return local_cluster(PROFILE)


@pytest.fixture(scope="module")
def clean(running: Running, installed_suite_run: Callable[[str], ShippedRun]) -> SuiteRun:
    """The suites straight to the API server: the session's plain run of the installed suites."""
    run = installed_suite_run(PROFILE)
    return SuiteRun.of(run.results, run.wall_s, run.started, run.ended, _retries(run.log))


@pytest.fixture(scope="module")
def proxied(
    running: Running, clean: SuiteRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[SuiteRun, FaultProxy]]:
    """The suites through the fault proxy (after the clean run, so the two never overlap)."""
    root = tmp_path_factory.mktemp("faults")
    with FaultProxy(running.cluster.state.kubeconfig, SHARES) as proxy:
        kubeconfig = proxy.write_kubeconfig(root / "proxied-kubeconfig")
        run = _run(running, root / "proxied", "-p", "proxied_local", f"--proxied-kubeconfig={kubeconfig}",
                   timeout=HANG_GUARD_S)  # fmt: skip
        print(f"\nclean run {clean.wall_s:.0f} s, faulty run {run.wall_s:.0f} s, proxy: {proxy.counts()}")
        yield run, proxy


def test_every_check_reaches_the_same_outcome_through_faults(
    clean: SuiteRun, proxied: tuple[SuiteRun, FaultProxy]
) -> None:
    faulty, _ = proxied
    assert clean.outcomes, "the clean run ran no check"
    differ = {c: (clean.outcomes.get(c), faulty.outcomes.get(c)) for c in clean.outcomes | faulty.outcomes}
    differ = {c: pair for c, pair in differ.items() if pair[0] != pair[1]}
    said = {c: (clean.messages.get(c), faulty.messages.get(c)) for c in differ}
    assert differ == {}, f"check: (clean, faulty) outcomes differ: {differ}; what each run said: {said}"


def test_faults_of_every_kind_were_injected_and_retried(proxied: tuple[SuiteRun, FaultProxy]) -> None:
    faulty, proxy = proxied
    counts = proxy.counts()
    assert all(counts.get(kind, 0) > 0 for kind in FAULTS), counts
    assert counts.get("upgrades", 0) > 0, f"no exec stream went through the proxy: {counts}"
    failed = sum(counts.get(kind, 0) for kind in ("reset", "500", "429"))
    assert len(faulty.retries) >= failed, (
        f"{failed} requests failed at the proxy but only {len(faulty.retries)} retries were logged"
    )
    for kind, said in (("500", "500 Internal Server Error"), ("429", "429 Too Many Requests"),
                       ("reset", "unreachable")):  # fmt: skip
        assert any(said in line for line in faulty.retries), f"no retry after a {kind} in the log"


def test_the_run_through_faults_ends_within_the_hang_guard(
    clean: SuiteRun, proxied: tuple[SuiteRun, FaultProxy]
) -> None:
    faulty, _ = proxied
    assert faulty.wall_s < HANG_GUARD_S, "the subprocess timeout would have fired first"
    assert faulty.wall_s < max(3 * clean.wall_s, 600), (
        f"clean {clean.wall_s:.0f} s, through faults {faulty.wall_s:.0f} s: more than three times as long"
    )


def _cap() -> int:
    """Most requests a token bucket lets through in any one second: the burst, plus a second's refill."""
    return SETTINGS.burst + int(SETTINGS.qps)


def _scanner_requests(running: Running, run: SuiteRun) -> list[datetime]:
    """When the API server received the scanner's requests during `run`, from its audit log.

    The scanner is the admin kubeconfig's user, but the local cluster's NetworkPolicy enforcer and
    kubectl use that kubeconfig too: the scanner's REST requests carry our User-Agent, its exec
    streams none (the client's websocket sends no User-Agent).
    """
    found = audit.requests(running.cluster.state.path("audit", "audit.log").read_text().splitlines())
    user = audit.kubeconfig_user(running.cluster.state.kubeconfig)
    return [
        r.received
        for r in found
        if r.user == user and r.user_agent in (USER_AGENT, "") and run.started <= r.received <= run.ended
    ]


def test_the_qps_cap_holds_on_the_api_server(running: Running, clean: SuiteRun) -> None:
    received = _scanner_requests(running, clean)
    assert received, "no request of the scanner in the audit log during the clean run"
    peak = audit.busiest_second(received)
    print(f"\nclean run: {len(received)} requests of the scanner, busiest second {peak} (cap {_cap()})")
    assert peak <= _cap()


def test_the_qps_cap_holds_through_faults(running: Running, proxied: tuple[SuiteRun, FaultProxy]) -> None:
    """Counted where the scanner sends (the proxy): its delays may bunch requests up at the API server."""
    faulty, proxy = proxied
    sent = [at for at, who in proxy.arrivals() if who == "cert"]  # retries included: each takes a token
    peak = audit.busiest_second(sent)
    received = _scanner_requests(running, faulty)
    print(
        f"\nfaulty run: {len(sent)} requests (retries included) reached the proxy, busiest second {peak}; "
        f"{len(received)} reached the API server, busiest second there {audit.busiest_second(received)}"
    )
    assert peak <= _cap()
    counts = proxy.counts()
    forwarded = counts.get("forward", 0) + counts.get("delay", 0) - counts.get("upstream failures", 0)
    assert len(received) == forwarded, "every request of the scanner went through the proxy"


def test_a_tight_qps_cap_holds_under_load_on_the_api_server(running: Running) -> None:
    """The suites stay far below the default cap; a tight cap and 8 threads show it is enforced (without
    it, 64 requests from 8 threads reach the server within a second or two)."""
    settings = KubeSettings(qps=5, burst=5)
    kube = connect(ClusterAccess("local", PROFILE, running.cluster.state.kubeconfig, None), settings)
    agent = f"k8sharden-qps-test/{time.time_ns()}"
    kube.api_client.user_agent = agent
    started = datetime.now(UTC)

    def send() -> None:
        for _ in range(8):
            kube.version.get_code()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    kube.close()
    time.sleep(2)  # the audit backend writes in batches
    found = audit.requests(running.cluster.state.path("audit", "audit.log").read_text().splitlines())
    ours = [r.received for r in found if r.user_agent == agent and r.received >= started]
    assert len(ours) == 64
    peak, spread = audit.busiest_second(ours), (max(ours) - min(ours)).total_seconds()
    print(f"\n64 requests at qps=5, burst=5 from 8 threads: {spread:.1f} s, busiest second {peak}")
    assert peak <= settings.burst + settings.qps
