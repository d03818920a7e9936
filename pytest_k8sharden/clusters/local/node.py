"""The node's side of the start sequence: its mount namespace, the metadata stand-in, images and CNI."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.local import binaries, enforcer, files, images, render
from pytest_k8sharden.clusters.local.components import KUBERNETES
from pytest_k8sharden.clusters.local.network import METADATA_ADDRESS, Addresses, NodeNetwork
from pytest_k8sharden.clusters.local.runner import Runner
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import Profile

KUBELET_EXPECTED_SYSCTLS: Final = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
"""What kubelet would otherwise write into the host-wide sysctls: it reads these values instead."""


def start_mount_namespace(runner: Runner, state: ClusterState, network: NodeNetwork) -> Path:
    """A private mount namespace for the node's processes; returns its /proc/<pid>/ns/mnt.

    /proc/sys is read-only in it, except net/ipv4 and net/ipv6 (which belong to the node's network
    namespace): nothing on the node can change a host-wide kernel setting. kubelet reads the values
    it insists on from files bound over its six sysctls. /run is a private tmpfs (Cilium's
    hard-coded /run/cilium, containerd's shim sockets), and a private bpffs holds pinned BPF maps.
    """
    fake_dir = state.root / "node-sysctl"
    fake_dir.mkdir(parents=True, exist_ok=True)
    bpffs = state.root / "bpffs"
    bpffs.mkdir(parents=True, exist_ok=True)
    steps = ["mount --bind /proc/sys /proc/sys", "mount -o remount,bind,ro /proc/sys"]
    for writable in ("/proc/sys/net/ipv4", "/proc/sys/net/ipv6"):
        steps += [f"mount --bind {writable} {writable}", f"mount -o remount,bind,rw {writable}"]
    for key, value in KUBELET_EXPECTED_SYSCTLS.items():
        fake = fake_dir / key.replace("/", ".")
        fake.write_text(value + "\n")
        steps.append(f"mount --bind {fake} /proc/sys/{key}")
    steps += [
        "mount -t tmpfs -o mode=0755 tmpfs /run",
        "mkdir -p /run/cilium",
        f"mount -t bpf bpffs {bpffs}",
    ]
    script = " && ".join([*steps, "exec sleep infinity"])
    runner.run(
        "node-mount-namespace",
        # made from inside the node's network namespace: the writable net/ sysctls are the node's
        [*network.enter(), "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
        cgroup="system",
    )
    holder = next(r for r in runner.supervisor.records() if r.name == "node-mount-namespace")
    return Path(f"/proc/{holder.pid}/ns/mnt")


def start_metadata_standin(
    runner: Runner, state: ClusterState, network: NodeNetwork, profile: Profile, a: Addresses, tools: Path
) -> None:
    """The cloud metadata stand-in on 169.254.169.254 in the node namespace; blocked for pods where the
    profile conceals it (an iptables rule inside the node namespace)."""
    canary = "k8sharden-canary-" + secrets.token_hex(8)
    state.path("metadata-canary").write_text(canary)
    runner.run(
        "metadata-standin",
        [
            *network.enter(),
            sys.executable,  # the interpreter the plugin runs in, with its packages: not PATH's python3
            "-m",
            "pytest_k8sharden.clusters.local.metadata_standin",
            METADATA_ADDRESS,
            "80",
            canary,
        ],
        env={"PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    if profile.metadata_blocked:
        for chain in ("INPUT", "FORWARD"):
            network.run(
                [
                    str(tools / "iptables"),
                    "-I",
                    chain,
                    "-s",
                    a.cluster_cidr,
                    "-d",
                    f"{METADATA_ADDRESS}/32",
                    "-m",
                    "comment",
                    "--comment",
                    "k8sharden: cloud metadata concealment",
                    "-j",
                    "DROP",
                ]
            )


def import_images(
    state: ClusterState, found: dict[str, Path], enter_node: list[str], socket: Path, runner: Runner
) -> dict[str, str]:
    """Import the pause and probe images into containerd; return each tag's digest-pinned name."""
    work = state.root / "images"
    pinned = {}
    module_dir = binaries.module_source_dir(KUBERNETES)
    for spec in (
        images.pause_image(images.PAUSE_IMAGE, module_dir, work),
        images.probe_image(images.PROBE_IMAGE, found["agnhost"]),
    ):
        runner.progress(f"importing image {spec.reference}")
        archive = images.write_oci_archive(
            spec, work / (spec.reference.rsplit("/", 1)[1].replace(":", "_") + ".tar")
        )
        images.import_archive(found["ctr"], socket, archive, enter_node)
        pinned[spec.reference] = images.pinned_reference(archive)
    return pinned


def prepare_cni(
    state: ClusterState, found: dict[str, Path], a: Addresses, network: NodeNetwork, profile: Profile
) -> None:
    """CNI plugins and conflist; the bridge exists up front so the enforcer sees it at its start."""
    plugins = ["bridge", "host-local", "loopback", "portmap"]
    chained = []
    if profile.network_policy_enforced:
        plugins.append("cilium-cni")
        chained.append(enforcer.cni_entry())
    bin_dir = state.root / "cni" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for plugin in plugins:
        link = bin_dir / plugin
        link.unlink(missing_ok=True)
        link.symlink_to(found[plugin])
    files.write_all(render.cni_config(state, a, chained))
    network.add_pod_bridge(render.node_pod_gateway(a))
