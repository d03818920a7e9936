"""Interrupted runs leave nothing behind: SIGINT and SIGTERM at 20 points of runs of the shipped suites,
and the sweeper removes what a killed run (SIGKILL: no teardown at all) left.

Each run is a subprocess exactly as a user starts it, against the session's hardened local cluster (as an
existing cluster through its kubeconfig, so concurrent runs never race to bring it up or down), with its own
run id. It is interrupted either a while after it started or a while after its first namespace appeared.
When it has ended, every object of its run must already be deleted or being deleted (its teardown asked for
the deletion); no sweep helps here. Then all of them must be gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from local_clusters import Running

from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.ownership import OURS_SELECTOR, RUN_ID_ENV, RUN_LABEL

pytestmark = pytest.mark.cluster

CONCURRENT_RUNS = 5
RUN_TIMEOUT = 600.0
GONE_TIMEOUT = 240.0


@dataclass(frozen=True)
class Point:
    """When to interrupt a run: `delay` seconds after it started, or after its first namespace appeared."""

    signal: signal.Signals
    after_namespace: bool
    delay: float

    def __str__(self) -> str:
        anchor = "namespace" if self.after_namespace else "start"
        return f"{self.signal.name}-{anchor}+{self.delay:g}s"


POINTS = [
    Point(sig, after_namespace, delay)
    for sig in (signal.SIGINT, signal.SIGTERM)
    for after_namespace, delay in (
        (False, 2.0), (False, 6.0), (False, 12.0),  # collection, start-up, first checks
        (True, 0.0), (True, 1.0), (True, 3.0), (True, 8.0), (True, 15.0), (True, 30.0), (True, 60.0),
    )
]  # fmt: skip


@dataclass(frozen=True)
class Interrupted:
    """How one interrupted run ended and what of its run was still there, not being deleted, right after."""

    point: Point
    status: int
    tail: str
    not_deleted: list[str]


def _ours(kube: Kube, selector: str = OURS_SELECTOR) -> list[dict[str, Any]]:
    """Namespaces and pods labelled as ours, as plain objects with their kind."""
    namespaces = kube.plain(kube.core.list_namespace(label_selector=selector).items)
    pods = kube.plain(kube.core.list_pod_for_all_namespaces(label_selector=selector).items)
    # list items carry no kind: name them by the list they came from
    return [{**o, "kind": "Namespace"} for o in namespaces] + [{**o, "kind": "Pod"} for o in pods]


def _names(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in objects]


def _not_being_deleted(objects: list[dict[str, Any]]) -> list[str]:
    return _names([o for o in objects if not o["metadata"].get("deletionTimestamp")])


def _default_sigint() -> None:
    """Ctrl-C as at a terminal: a shell's background job would otherwise inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(kubeconfig: Path, workdir: Path, run: str) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", f"--probe-image={PROBE_IMAGE}", f"--evidence-dir={workdir}",
    ]  # fmt: skip
    with (workdir / "output.txt").open("wb") as sink:
        return subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env={**os.environ, RUN_ID_ENV: run},
            preexec_fn=_default_sigint,
        )  # fmt: skip


def _wait_for_first_namespace(process: subprocess.Popen[bytes], kube: Kube, run: str) -> bool:
    while process.poll() is None:
        if any(o["kind"] == "Namespace" for o in _ours(kube, f"{RUN_LABEL}={run}")):
            return True
        time.sleep(0.5)
    return False


def _interrupt(point: Point, kube: Kube, kubeconfig: Path, workdir: Path) -> Interrupted:
    """Start a run, interrupt it at `point`, and see what of its run is left when it has ended."""
    run = f"interrupt-{uuid.uuid4().hex[:8]}"
    process = _start(kubeconfig, workdir, run)
    if point.after_namespace:
        _wait_for_first_namespace(process, kube, run)
    anchor = time.monotonic()
    while process.poll() is None and time.monotonic() < anchor + point.delay:
        time.sleep(0.2)
    if process.poll() is None:
        process.send_signal(point.signal)
    status = process.wait(timeout=RUN_TIMEOUT)
    tail = (workdir / "output.txt").read_text(errors="replace")[-1500:]
    return Interrupted(point, status, tail, _not_being_deleted(_ours(kube, f"{RUN_LABEL}={run}")))


def _wait_until_none_is_ours(kube: Kube) -> list[str]:
    deadline = time.monotonic() + GONE_TIMEOUT
    while (left := _names(_ours(kube))) and time.monotonic() < deadline:
        time.sleep(2.0)
    return left


def test_interrupted_runs_delete_everything_they_created(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    running = local_cluster("hardened")
    kube, kubeconfig = running.kube, running.cluster.state.kubeconfig
    assert len(POINTS) == 20
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        runs = list(pool.map(lambda p: _interrupt(p, kube, kubeconfig, tmp_path / str(p)), POINTS))
    for run in runs:
        print(f"{run.point}: exit {run.status}, not being deleted right after: {run.not_deleted}")
    for run in runs:
        assert "Traceback" not in run.tail or "KeyboardInterrupt" in run.tail, f"{run.point}:\n{run.tail}"
        assert run.not_deleted == [], f"{run.point}: teardown left {run.not_deleted}\n{run.tail}"
    interrupted = sum(run.status == pytest.ExitCode.INTERRUPTED for run in runs)
    assert interrupted >= len(POINTS) // 2, "most points must land while the run is still going"
    assert _wait_until_none_is_ours(kube) == []


def test_sweep_removes_what_a_killed_run_left(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    running = local_cluster("hardened")
    kube, kubeconfig = running.kube, running.cluster.state.kubeconfig
    run = f"killed-{uuid.uuid4().hex[:8]}"
    process = _start(kubeconfig, tmp_path, run)
    try:
        assert _wait_for_first_namespace(process, kube, run), "the run ended before creating a namespace"
    finally:
        process.kill()
        process.wait(timeout=60)
    left = _not_being_deleted(_ours(kube, f"{RUN_LABEL}={run}"))
    assert left, "a killed run runs no teardown: its namespace must still be there for the sweeper"
    swept = subprocess.run(
        [sys.executable, "-m", "pytest_k8sharden.cli", "sweep", "--older-than=0s",
         f"--kubeconfig={kubeconfig}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    for name in (n for n in left if n.startswith("Namespace/")):  # pods go with their namespace
        assert f"namespace/{name.split('/')[-1]}" in swept.stdout, (
            f"the sweep does not name {name}:\n{swept.stdout}"
        )
    assert _wait_until_none_is_ours(kube) == []
