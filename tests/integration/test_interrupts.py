"""Interrupted runs leave nothing behind: SIGINT and SIGTERM at 20 points of runs of the shipped suites.

Each run is a subprocess exactly as a user starts it, against the session's hardened local cluster (as an
existing cluster through its kubeconfig, so concurrent runs never race to bring it up or down). It is
interrupted either a while after it started or a while after the first namespace labelled as ours
appeared; afterwards, and at most after `k8sharden sweep`, nothing labelled as ours remains.
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

import pytest
from local_clusters import Running

from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.ownership import OURS_SELECTOR, RUN_ID_ENV, RUN_LABEL

pytestmark = pytest.mark.cluster

CONCURRENT_RUNS = 10
RUN_TIMEOUT = 600.0
GONE_TIMEOUT = 240.0


@dataclass(frozen=True)
class Point:
    """When to interrupt a run: `delay` seconds after it started, or after our first namespace appeared."""

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


def _ours(kube: Kube, selector: str = OURS_SELECTOR) -> list[str]:
    namespaces = kube.core.list_namespace(label_selector=selector).items
    pods = kube.core.list_pod_for_all_namespaces(label_selector=selector).items
    # list items carry no kind: name them by the list they came from
    named = [("namespace", m) for m in kube.plain(namespaces)] + [("pod", m) for m in kube.plain(pods)]
    return [f"{kind}/{o['metadata'].get('namespace', '')}{o['metadata']['name']}" for kind, o in named]


def _default_sigint() -> None:
    """Ctrl-C as at a terminal: a shell's background job would otherwise inherit SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(point: Point, kube: Kube, kubeconfig: Path, workdir: Path) -> tuple[Point, int, str]:
    """Start a run, interrupt it at `point`, return its exit status and output tail."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", f"--probe-image={PROBE_IMAGE}", f"--evidence-dir={workdir}",
    ]  # fmt: skip
    output = workdir / "output.txt"
    run = f"interrupt-{uuid.uuid4().hex[:8]}"
    environment = {**os.environ, RUN_ID_ENV: run}
    with output.open("wb") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, cwd=workdir, env=environment,
            preexec_fn=_default_sigint,
        )  # fmt: skip
        anchor = time.monotonic()
        while point.after_namespace and process.poll() is None:
            if any(name.startswith("namespace/") for name in _ours(kube, f"{RUN_LABEL}={run}")):
                anchor = time.monotonic()
                break
            time.sleep(0.5)
        while process.poll() is None and time.monotonic() < anchor + point.delay:
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(point.signal)
        status = process.wait(timeout=RUN_TIMEOUT)
    return point, status, output.read_text(errors="replace")[-1500:]


def test_interrupted_runs_leave_nothing_labelled_as_ours(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    running = local_cluster("hardened")
    kube, kubeconfig = running.kube, running.cluster.state.kubeconfig
    assert len(POINTS) == 20
    with ThreadPoolExecutor(max_workers=CONCURRENT_RUNS) as pool:
        runs = list(pool.map(lambda p: _interrupt(p, kube, kubeconfig, tmp_path / str(p)), POINTS))
    interrupted = 0
    for point, status, tail in runs:
        print(f"{point}: exit {status}")
        assert "Traceback" not in tail or "KeyboardInterrupt" in tail, f"{point}:\n{tail}"
        interrupted += status == pytest.ExitCode.INTERRUPTED
    assert interrupted >= len(POINTS) // 2, "most points must land while the run is still going"
    left = _ours(kube)
    print("left right after the runs (deleting):", left)
    swept = subprocess.run(
        [sys.executable, "-m", "pytest_k8sharden.cli", "sweep", "--older-than=0s",
         f"--kubeconfig={kubeconfig}"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    print(swept.stdout)
    deadline = time.monotonic() + GONE_TIMEOUT
    while (left := _ours(kube)) and time.monotonic() < deadline:
        time.sleep(2.0)
    assert left == [], f"still labelled as ours {GONE_TIMEOUT:g}s after the sweep: {left}"
