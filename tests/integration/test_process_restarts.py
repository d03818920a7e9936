"""A control-plane component that exits while the cluster starts is restarted, as kubelet restarts a static
pod, at most three times; any other process that exits ends the start at once.

Real processes in a real cgroup tree (root), no cluster: the components are small shell scripts standing
in under the components' names, since what is tested is the supervision, not the component.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_k8sharden.clusters.local.lifecycle import MAX_RESTARTS, LocalCluster
from pytest_k8sharden.clusters.local.processes import ProcessError

pytestmark = pytest.mark.cluster

ETCD_TIMEOUT = 'echo "command failed" err="etcdserver: request timed out"; exit 1'


@pytest.fixture
def supervised() -> Iterator[tuple[LocalCluster, list[str]]]:
    """A local cluster object that only supervises processes, with its progress lines; torn down after."""
    said: list[str] = []
    cluster = LocalCluster(f"k8sh-restart-{uuid.uuid4().hex[:6]}", progress=said.append)
    yield cluster, said
    cluster.down()
    assert not cluster.state.root.exists()
    assert not cluster.cgroups.exists()


def _running_after_restarts(local: LocalCluster, name: str, restarts: int) -> bool:
    return any(
        r.name == name and r.restarts == restarts and local.supervisor.alive(r)
        for r in local.supervisor.records()
    )


def test_a_component_that_exits_once_is_restarted_and_the_start_goes_on(
    supervised: tuple[LocalCluster, list[str]], tmp_path: Path
) -> None:
    local, said = supervised
    first_time = tmp_path / "started-before"
    script = f"if [ -e {first_time} ]; then exec sleep 60; fi; touch {first_time}; {ETCD_TIMEOUT}"
    local.supervisor.start("kube-controller-manager", ["sh", "-c", script])
    local.runner.wait(
        "the second start", lambda: _running_after_restarts(local, "kube-controller-manager", 1), 20
    )
    restarts = [line for line in said if "restarting it" in line]
    assert len(restarts) == 1, said
    assert "etcdserver: request timed out" in restarts[0]
    assert f"(1 of {MAX_RESTARTS})" in restarts[0]


def test_a_component_that_keeps_exiting_ends_the_start_after_three_restarts(
    supervised: tuple[LocalCluster, list[str]],
) -> None:
    local, said = supervised
    local.supervisor.start("kube-scheduler", ["sh", "-c", ETCD_TIMEOUT])
    with pytest.raises(ProcessError, match="kube-scheduler exited"):
        local.runner.wait("something that never comes", lambda: False, timeout_s=60)
    assert len([line for line in said if "restarting it" in line]) == MAX_RESTARTS


def test_a_node_process_that_exits_is_not_restarted(supervised: tuple[LocalCluster, list[str]]) -> None:
    local, said = supervised
    local.supervisor.start("kubelet", ["sh", "-c", ETCD_TIMEOUT], cgroup="system")
    with pytest.raises(ProcessError, match="kubelet exited"):
        local.runner.wait("something that never comes", lambda: False, timeout_s=60)
    assert not [line for line in said if "restarting it" in line]
