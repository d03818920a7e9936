"""Files our kind node image adds to kind's own base files, and the kubeadm settings that go with it."""

from __future__ import annotations

import json
from typing import Final

from pytest_k8sharden.clusters.local.node import KUBELET_EXPECTED_SYSCTLS

IMAGE_REPOSITORY: Final = "k8sharden.local"
"""Every image inside the node is named here: built from the same sources as upstream's, but not theirs."""

GUARD_ENTRYPOINT: Final = "/usr/local/bin/k8sharden-guard"


def guard_script() -> str:
    """Runs before kind's entrypoint: nothing on the node may change a host-wide kernel setting.

    A privileged container sees the host's /proc/sys read-write. The guard makes it read-only except
    net/ (the node's own network namespace) and binds the values kubelet insists on over its six files
    (the local cluster's KUBELET_EXPECTED_SYSCTLS).
    """
    lines = ["#!/bin/sh", "set -eu", "mkdir -p /kind/sysctl"]
    lines += ["mount --bind /proc/sys /proc/sys", "mount -o remount,bind,ro /proc/sys"]
    lines += ["mount --bind /proc/sys/net /proc/sys/net", "mount -o remount,bind,rw /proc/sys/net"]
    for key, value in KUBELET_EXPECTED_SYSCTLS.items():
        fake = "/kind/sysctl/" + key.replace("/", ".")
        lines += [f"echo {value} > {fake}", f"mount --bind {fake} /proc/sys/{key}"]
    lines.append('exec "$@"')
    return "\n".join(lines) + "\n"


MODPROBE_STUB: Final = """#!/bin/sh
echo "k8sharden node: not loading kernel modules (modprobe $*)" >&2
exit 1
"""
"""Replaces /sbin/modprobe: containerd.service runs 'modprobe overlay' and a node never loads modules."""


def bridge_conflist(pod_subnet: str) -> str:
    """A CNI bridge network for a single-node cluster (kind's kindnetd is not built yet)."""
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "k8sharden-bridge",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni0",
                    "isGateway": True,
                    "ipMasq": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": pod_subnet}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        },
        indent=2,
    )


def kubeadm_patches(etcd_tag: str, coredns_tag: str) -> list[str]:
    """kind ``kubeadmConfigPatches`` that make kubeadm use the images inside our node image.

    Also ``failCgroupV1: false``: this machine has cgroup v1, which kubelet refuses by default since 1.35.
    """
    images = {"imageRepository": IMAGE_REPOSITORY, "etcd": {"local": {"imageTag": etcd_tag}}}
    cluster = {"kind": "ClusterConfiguration", **images, "dns": {"imageTag": coredns_tag}}
    return [json.dumps(cluster), json.dumps({"kind": "KubeletConfiguration", "failCgroupV1": False})]
