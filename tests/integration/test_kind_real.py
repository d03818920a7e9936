"""The real kind: a cluster from our own node image, in the test engine's network namespace."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from docker_engine import DockerEngine, default_engine, host_firewall, running_engine

from pytest_k8sharden.clusters.kind.binary import ensure_kind
from pytest_k8sharden.clusters.kind.nodeimage import Docker, build_node_image, kind_config_patches
from pytest_k8sharden.clusters.local.node import KUBELET_EXPECTED_SYSCTLS

pytestmark = pytest.mark.cluster

CLUSTER = "k8sharden-real"
READY_TIMEOUT_S = 300


def test_kind_creates_a_cluster_from_our_node_image(tmp_path: Path) -> None:
    before = host_firewall()
    sysctls = host_sysctls()
    engine = DockerEngine(default_engine().name + "-kind")
    with running_engine(engine):
        enter = engine.network.enter()
        tag = build_node_image(Docker((*enter, "docker"), engine.environ()), print)
        config = tmp_path / "kind.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "kind": "Cluster",
                    "apiVersion": "kind.x-k8s.io/v1alpha4",
                    "networking": {"disableDefaultCNI": True},
                    "kubeadmConfigPatches": kind_config_patches(),
                    "nodes": [{"role": "control-plane"}],
                }
            )
        )
        kubeconfig = tmp_path / "kubeconfig"
        kind = [*enter, str(ensure_kind(print))]
        created = subprocess.run(
            [*kind, "create", "cluster", "--name", CLUSTER, "--image", tag, "--config", str(config),
             "--kubeconfig", str(kubeconfig), "--wait", "0s"],
            env=engine.environ(), capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        kubectl = [*enter, "docker", "exec", f"{CLUSTER}-control-plane", "kubectl",
                   "--kubeconfig=/etc/kubernetes/admin.conf"]  # fmt: skip
        deadline = time.monotonic() + READY_TIMEOUT_S
        waiting = not_ready(kubectl, engine.environ())
        while waiting and time.monotonic() < deadline:
            time.sleep(5)
            waiting = not_ready(kubectl, engine.environ())
        assert not waiting, f"not Ready after {READY_TIMEOUT_S} s: {waiting}"
        assert host_firewall() == before
        assert host_sysctls() == sysctls  # kubelet in the node read the guard's files instead
    assert not engine.network.exists()
    assert host_firewall() == before


def host_sysctls() -> dict[str, str]:
    """The host-wide settings kubelet writes when it can."""
    return {key: Path("/proc/sys", key).read_text() for key in KUBELET_EXPECTED_SYSCTLS}


def not_ready(kubectl: list[str], env: dict[str, str]) -> list[str]:
    """Nodes and kube-system pods (control plane, kube-proxy, CoreDNS) whose Ready condition is not True."""
    shown = subprocess.run([*kubectl, "get", "nodes,pods", "-n", "kube-system", "-o", "json"], env=env,
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    if shown.returncode != 0:
        return [f"kubectl: {shown.stderr.strip()}"]
    items = json.loads(shown.stdout)["items"]
    if not any(i["kind"] == "Node" for i in items) or not any(i["kind"] == "Pod" for i in items):
        return [f"{len(items)} objects: no node or no pod yet"]
    return [
        f"{i['kind']}/{i['metadata']['name']}"
        for i in items
        if not any(c["type"] == "Ready" and c["status"] == "True" for c in i["status"].get("conditions", []))
    ]
