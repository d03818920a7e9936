"""The kind tests' Docker Engine: privileged containers start (without CAP_SYS_MODULE), the host's firewall
stays as it was."""

from __future__ import annotations

import pytest
from docker_engine import DockerEngine, default_engine, host_firewall, import_busybox_image, running_engine

pytestmark = pytest.mark.cluster

CAP_SYS_MODULE = 16
CAP_SYS_ADMIN = 21


def test_privileged_container_runs_and_nothing_is_left_behind() -> None:
    before = host_firewall()
    engine = DockerEngine(default_engine().name + "-t")
    with running_engine(engine):
        import_busybox_image(engine, "k8sharden/busybox:test")
        shown = engine.docker("run", "--rm", "--privileged", "k8sharden/busybox:test", "sh", "-c",
                              "grep CapEff /proc/self/status; busybox ls /sys/fs/cgroup")  # fmt: skip
        effective = int(shown.split()[1], 16)
        assert effective & (1 << CAP_SYS_ADMIN), f"not privileged: {shown}"
        assert not effective & (1 << CAP_SYS_MODULE), f"may load kernel modules: {shown}"
        assert "memory" in shown.split(), shown
        assert "DOCKER" in engine.network.run(["iptables", "-t", "nat", "-S"]).stdout
        assert host_firewall() == before
    assert not engine.network.exists()
    assert not engine.root.exists()
    assert not engine.cgroups.exists()
    assert host_firewall() == before
