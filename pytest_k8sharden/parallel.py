"""pytest-xdist support: one run id, one cluster and one evidence bundle for a parallel session.

The controller acquires a kind or local cluster once, before the workers start, and tells them how to
reach it; workers open an existing cluster themselves (lazily, as a serial session does). Every worker
labels what it creates with the controller's run id. Verdicts travel to the controller on the reports
(see RunState.pytest_runtest_logreport), and the cluster a worker saw travels in its workeroutput.
The xdist hooks are optional: the plugin loads without pytest-xdist.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Protocol

import pytest

from pytest_k8sharden.clusters import ClusterUnavailable
from pytest_k8sharden.evidence.bundle import ClusterSummary
from pytest_k8sharden.ownership import RUN_ID, RUN_ID_ENV
from pytest_k8sharden.runstate import STATE_KEY, UNAVAILABLE_OUTPUT, is_worker

SHARED_CLUSTER = "k8sharden_cluster"
"""workerinput: how to reach the cluster the controller acquired (clusters.share)."""
CLUSTER_SEEN = "k8sharden_cluster_seen"
"""workeroutput: the cluster a worker looked at and the scanner's identity there."""


class WorkerNode(Protocol):
    """What these hooks use of xdist's WorkerController (pytest-xdist ships no type information)."""

    config: pytest.Config
    workerinput: dict[str, Any]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """In a worker: use the cluster the controller acquired, if it acquired one."""
    state = config.stash.get(STATE_KEY, None)
    if state is not None and is_worker(config):
        state.shared_cluster = config.workerinput.get(SHARED_CLUSTER)  # type: ignore[attr-defined]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Sequence[object]) -> None:
    """Before the workers start: hand them this run's id; acquire a kind or local cluster once for all."""
    os.environ[RUN_ID_ENV] = RUN_ID  # workers inherit the environment, so their objects carry this run id
    state = config.stash[STATE_KEY]
    if state.settings.cluster == "existing" or config.option.collectonly:
        return
    try:
        state.open()
    except ClusterUnavailable as exc:
        raise pytest.UsageError(f"k8sharden: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: WorkerNode) -> None:
    """Tell a worker how to reach the cluster the controller acquired."""
    shared = node.config.stash[STATE_KEY].share()
    if shared is not None:
        node.workerinput[SHARED_CLUSTER] = shared


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a worker: send the cluster it looked at to the controller, for the run's metadata."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None and state.cluster_seen is not None and is_worker(session.config):
        summary, identity = state.cluster_seen
        workeroutput: dict[str, Any] = session.config.workeroutput  # type: ignore[attr-defined]
        workeroutput[CLUSTER_SEEN] = {"cluster": summary.to_dict(), "identity": identity}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: WorkerNode, error: object | None) -> None:
    """In the controller: end the run when a worker could not use the cluster; else take the cluster the
    worker saw, unless the controller opened it itself."""
    output = getattr(node, "workeroutput", {})
    if UNAVAILABLE_OUTPUT in output:
        raise pytest.UsageError(output[UNAVAILABLE_OUTPUT])
    state = node.config.stash.get(STATE_KEY, None)
    seen = output.get(CLUSTER_SEEN)
    if state is not None and seen is not None and state.cluster_seen is None:
        state.cluster_seen = ClusterSummary.from_dict(seen["cluster"]), seen["identity"]
