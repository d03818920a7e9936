"""The NetworkPolicy enforcer of the local cluster: Cilium's agent, chained behind the CNI bridge plugin.

kube-router, Calico, weave, Antrea and kube-network-policies are not on the module proxy this project
builds from; Cilium is. It runs as a plain process in the node's network and mount namespaces, with
``cni-chaining-mode=generic-veth`` behind bridge + host-local, so profiles without enforcement keep the
very same pod network without it. Safety: the agent would write two host-wide sysctls
(kernel.unprivileged_bpf_disabled, kernel.timer_migration): the node's mount namespace makes /proc/sys
read-only (but for net/ipv4 and net/ipv6, which are per network namespace); socket load-balancing and
kube-proxy replacement stay off, so nothing attaches to the host's cgroup2 root.
"""

from __future__ import annotations

import http.client
import shutil
import socket
from pathlib import Path
from typing import Any, Final

from pytest_k8sharden.clusters.local.network import POD_BRIDGE
from pytest_k8sharden.clusters.local.state import ClusterState

CRD_DIRECTORIES: Final = (
    "pkg/k8s/apis/cilium.io/client/crds/v2",
    "pkg/k8s/apis/cilium.io/client/crds/v2alpha1",
)
ROUTER_ADDRESS: Final = "169.254.0.10"
"""cilium_host's address: link-local, so host-local never hands it to a pod (and not the metadata address)."""
LEGACY_IPTABLES: Final = {
    "iptables": "iptables-legacy",
    "iptables-save": "iptables-legacy-save",
    "iptables-restore": "iptables-legacy-restore",
    "ip6tables": "ip6tables-legacy",
    "ip6tables-save": "ip6tables-legacy-save",
    "ip6tables-restore": "ip6tables-legacy-restore",
}
"""One iptables backend for every node process (Cilium, kube-proxy, kubelet, CNI plugins, our rules)."""
CLANG_CANDIDATES: Final = ("clang-19", "clang")


def cni_entry() -> dict[str, Any]:
    """The conflist entry that chains cilium-cni after the bridge plugin."""
    return {"type": "cilium-cni", "chaining-mode": "generic-veth"}


def socket_path(state: ClusterState) -> Path:
    """The agent's API socket, in the state directory so the harness can ask it whether it is ready."""
    return state.root / "cilium" / "cilium.sock"


def tools_dir(state: ClusterState) -> Path:
    """A PATH directory for node processes: iptables is iptables-legacy everywhere, clang is clang-19."""
    directory = state.root / "tools"
    directory.mkdir(parents=True, exist_ok=True)
    links = {name: shutil.which(legacy) for name, legacy in LEGACY_IPTABLES.items()}
    links["clang"] = next(
        (found for candidate in CLANG_CANDIDATES if (found := shutil.which(candidate))), None
    )
    for name, target in links.items():
        if target is None:
            continue
        link = directory / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    return directory


def agent_argv(agent: Path, lib_dir: Path, state: ClusterState, pod_cidr: str) -> list[str]:
    """cilium-agent as a chained NetworkPolicy enforcer (settings of upstream's Helm chart for chaining)."""
    settings = {
        "k8s-kubeconfig-path": str(state.kubeconfig),
        "cluster-name": "default",
        "identity-allocation-mode": "crd",
        "ipam": "delegated-plugin",
        "local-router-ipv4": ROUTER_ADDRESS,
        "enable-ipv4": "true",
        "enable-ipv6": "false",
        "cni-chaining-mode": "generic-veth",
        "enable-local-node-route": "false",
        "enable-host-legacy-routing": "true",
        "routing-mode": "native",
        "ipv4-native-routing-cidr": pod_cidr,
        "enable-ipv4-masquerade": "false",
        "kube-proxy-replacement": "false",
        "bpf-lb-sock": "false",
        "enable-policy": "default",
        "policy-cidr-match-mode": "nodes",
        "enable-l7-proxy": "false",
        "enable-health-checking": "false",
        "enable-endpoint-health-checking": "false",
        "enable-hubble": "false",
        "enable-gops": "false",
        "agent-health-port": "0",
        "bpf-root": str(state.root / "bpffs"),
        "cgroup-root": "/sys/fs/cgroup/unified",
        "state-dir": str(state.root / "cilium" / "state"),
        "lib-dir": str(lib_dir),
        "socket-path": str(socket_path(state)),
        "devices": f"eth0,{POD_BRIDGE}",
        "cni-exclusive": "false",
        "write-cni-conf-when-ready": "",
        "bpf-map-dynamic-size-ratio": "0",
        "bpf-ct-global-tcp-max": "65536",
        "bpf-ct-global-any-max": "32768",
        "bpf-nat-global-max": "65536",
        "bpf-policy-map-max": "16384",
    }
    return [str(agent), *(f"--{key}={value}" for key, value in settings.items())]


def agent_ready(state: ClusterState) -> bool:
    """Whether the agent's API answers /v1/healthz on its socket."""
    path = socket_path(state)
    if not path.exists():
        return False
    connection = _UnixHTTPConnection(str(path))
    try:
        connection.request("GET", "/v1/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


class _UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over the agent's unix socket."""

    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=5)
        self._path = path

    def connect(self) -> None:
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.settimeout(5)
        unix.connect(self._path)
        self.sock = unix
