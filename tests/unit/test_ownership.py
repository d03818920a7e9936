"""Our labels, the sweeper of crashed runs' leftovers, and SIGTERM turned into an interrupt."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_apiserver import FakeApi

from pytest_k8sharden.durations import parse_age
from pytest_k8sharden.ownership import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RUN_ID,
    RUN_LABEL,
    Owned,
    ours,
    stale,
)
from pytest_k8sharden.probes.pods import pod_manifest
from pytest_k8sharden.signals import Terminated, install_sigterm_handler, restore_sigterm_handler

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_everything_we_create_carries_managed_by_and_the_run_id() -> None:
    metadata = pod_manifest("p", "image", ["pause"], {"role": "x"}).metadata
    assert metadata is not None
    labels = metadata.labels
    assert labels == {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: RUN_ID, "role": "x"}
    assert ours() == {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: RUN_ID}
    assert len(RUN_ID) == 12 and RUN_ID.isalnum()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("30s", 30), ("10m", 600), ("1h", 3600), ("2d", 172800), ("0", 0)]
)
def test_ages(text: str, seconds: float) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1w", "-1h", "soon", "1h30m"])
def test_bad_ages_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="an age must look like"):
        parse_age(text)


def _owned(
    kind: str, name: str, age_minutes: int, run: str | None = "old", namespace: str | None = None
) -> Owned:
    return Owned(kind, namespace, name, run, NOW - timedelta(minutes=age_minutes))


def test_stale_takes_other_runs_older_than_the_threshold() -> None:
    objects = [
        _owned("Namespace", "k8sh-probe-old", 120),
        _owned("Namespace", "k8sh-probe-young", 5),
        _owned("Namespace", "k8sh-probe-mine", 120, run="mine"),
        _owned("Pod", "inside-old", 120, namespace="k8sh-probe-old"),
        _owned("Pod", "visitor", 120, run=None, namespace="default"),
        _owned("NetworkPolicy", "k8sh-control-1-0", 120, namespace="shop"),
        _owned("NetworkPolicy", "k8sh-control-2-0", 120, run="mine", namespace="shop"),
        _owned("NetworkPolicy", "scenario", 120, namespace="k8sh-probe-old"),
        _owned("ClusterRoleBinding", "k8sh-grant-old", 120),
        _owned("ClusterRole", "k8sh-grant-old", 120),
        _owned("ClusterRole", "k8sh-grant-young", 5),
    ]
    chosen = stale(objects, NOW, timedelta(hours=1), keep_run="mine")
    assert [o.describe() for o in chosen] == [
        "namespace/k8sh-probe-old",
        "pod/default/visitor",
        "networkpolicy/shop/k8sh-control-1-0",
        "clusterrolebinding/k8sh-grant-old",
        "clusterrole/k8sh-grant-old",
    ]


def test_session_start_sweeps_old_leftovers_and_spares_young_ones(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    old = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    young = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for name, created in (("k8sh-probe-crashed", old), ("k8sh-probe-running", young), ("seeded", old)):
        labels = {"k8sharden.io/seeded-by": "local-profile"} if name == "seeded" else ours()
        meta = {"name": name, "labels": {**labels, RUN_LABEL: "other"}, "creationTimestamp": created}
        fake_api.state.namespaces[name] = {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}
    pytester.makepyfile("def test_it(cluster):\n    pass\n")
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*swept 1 leftovers of earlier runs: namespace/k8sh-probe-crashed*"])
    assert sorted(fake_api.state.namespaces) == ["k8sh-probe-running", "seeded"]


def test_read_only_never_sweeps(pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi) -> None:
    labels = {**ours(), RUN_LABEL: "other"}
    meta = {"name": "k8sh-probe-crashed", "labels": labels, "creationTimestamp": "2020-01-01T00:00:00Z"}
    fake_api.state.namespaces["k8sh-probe-crashed"] = {"kind": "Namespace", "metadata": meta}
    pytester.makepyfile("def test_it(cluster):\n    pass\n")
    pytester.runpytest(f"--kubeconfig={kubeconfig}", "--read-only").assert_outcomes(passed=1)
    assert "k8sh-probe-crashed" in fake_api.state.namespaces
    assert not [s for s in fake_api.state.seen if s.method == "DELETE"]


def test_bad_sweep_age_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nk8sharden_sweep_older_than = yesterday\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*k8sharden_sweep_older_than: an age must look like*"])


def test_sigterm_becomes_an_interrupt_and_the_handler_is_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    previous = install_sigterm_handler()
    try:
        with pytest.raises(Terminated, match="SIGTERM"):
            signal.raise_signal(signal.SIGTERM)
    finally:
        restore_sigterm_handler(previous)
    assert signal.getsignal(signal.SIGTERM) is before


SLOW_CHECK = """
import time

def test_slow(probe_namespace):
    print("STARTED", probe_namespace, flush=True)
    time.sleep(60)
"""


def test_sigterm_mid_check_still_deletes_the_probe_namespace(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(SLOW_CHECK)
    command = [sys.executable, "-m", "pytest", "-s", "-p", "no:cacheprovider", f"--kubeconfig={kubeconfig}"]
    with pytester.path.joinpath("out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=pytester.path)
    deadline = time.monotonic() + 600  # a loaded machine may take minutes to start pytest
    while not fake_api.state.namespaces and time.monotonic() < deadline:
        time.sleep(0.2)
    assert fake_api.state.namespaces, "the check never created its namespace"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=300) == pytest.ExitCode.INTERRUPTED
    assert fake_api.state.namespaces == {}, "the probe namespace is gone"
    assert "Terminated" in pytester.path.joinpath("out").read_text()
