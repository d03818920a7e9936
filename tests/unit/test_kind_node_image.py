"""Our kind node image: the images kubeadm asks for are the ones inside, and the node cannot change a
host-wide kernel setting."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_k8sharden.clusters.debian import RootfsError
from pytest_k8sharden.clusters.downloads import CACHE_ENV
from pytest_k8sharden.clusters.kind import nodefiles
from pytest_k8sharden.clusters.kind.nodeimage import (
    Docker,
    base_image,
    inner_image_references,
    kind_config_patches,
)
from pytest_k8sharden.clusters.local.binaries import component_cache
from pytest_k8sharden.clusters.local.components import KUBEADM, KUBERNETES
from pytest_k8sharden.clusters.local.node import KUBELET_EXPECTED_SYSCTLS


def test_kubeadm_asks_for_exactly_the_images_inside(tmp_path: Path) -> None:
    kubeadm = component_cache(KUBEADM) / "bin" / "kubeadm"
    if not kubeadm.is_file():
        pytest.skip(f"no kubeadm built in {kubeadm.parent} (k8sharden kind build-node-image builds it)")
    patch = json.loads(kind_config_patches()[0])
    config = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kubernetesVersion": KUBERNETES.version, **patch}
    (tmp_path / "kubeadm.yaml").write_text(yaml.safe_dump(config))
    listed = subprocess.run(
        [str(kubeadm), "config", "images", "list", "--config", str(tmp_path / "kubeadm.yaml")],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    assert set(listed) == set(inner_image_references().values())


def test_kubelet_may_not_refuse_cgroup_v1() -> None:
    assert json.loads(kind_config_patches()[1]) == {"kind": "KubeletConfiguration", "failCgroupV1": False}


GUARD = nodefiles.guard_script().splitlines()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("mount -o remount,bind,ro /proc/sys", "mount -o remount,bind,rw /proc/sys/net"),
        ("mount -o remount,bind,ro /proc/sys", 'exec "$@"'),
        *[
            (f"mount --bind /kind/sysctl/{key.replace('/', '.')} /proc/sys/{key}", 'exec "$@"')
            for key in KUBELET_EXPECTED_SYSCTLS
        ],
    ],
)
def test_the_guard_seals_proc_sys_before_the_node_boots(before: str, after: str) -> None:
    assert GUARD.index(before) < GUARD.index(after)


def test_the_guard_gives_kubelet_the_values_it_would_otherwise_write() -> None:
    for key, value in KUBELET_EXPECTED_SYSCTLS.items():
        assert f"echo {value} > /kind/sysctl/{key.replace('/', '.')}" in GUARD


def test_pods_get_a_default_route_through_the_bridge() -> None:
    """CoreDNS reached no Service ('network is unreachable') when the pod network had no default route."""
    bridge = json.loads(nodefiles.bridge_conflist("10.244.0.0/24"))["plugins"][0]
    assert bridge["isGateway"] is True
    assert {"dst": "0.0.0.0/0"} in bridge["ipam"]["routes"]


def test_a_missing_debootstrap_is_one_line_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No base image yet, no cached base, no debootstrap on PATH: the error says what to install."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RootfsError, match=r"^debootstrap not found: .*apt-get install debootstrap\)$"):
        base_image(Docker(("/bin/false",)), print)
