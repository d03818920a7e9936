"""The node's network namespace: a veth pair to the host, no default route, everything in 198.18.0.0/15.

Every address the cluster uses comes from the benchmarking range, so nothing is ever routed toward a real
network: the /30 of the veth pair, the service range and the pod range of cluster "slot" N. The node
namespace gets no default route (a pod's packet to any other address is "network unreachable"), the
metadata address lives on the node namespace's ``lo``, and every firewall rule is made inside it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

METADATA_ADDRESS: Final = "169.254.169.254"
POD_BRIDGE: Final = "cni0"
POD_BRIDGE_MAC: Final = "02:6b:38:73:00:01"
"""The pod bridge's own, fixed MAC (locally administered). A bridge without one takes the lowest MAC of
its ports: deleting the pod that owns it changes the gateway's MAC under every other pod, which keeps
sending to the old one and cannot leave the pod network for about 50 s, until its ARP entry expires."""
MAX_SLOTS: Final = 16
NETNS_DIR: Final = Path("/run/netns")


class NetworkError(RuntimeError):
    """A step of building or removing the node's network failed."""


@dataclass(frozen=True)
class Addresses:
    """Every address and range of the cluster in slot ``slot``."""

    slot: int

    @property
    def host(self) -> str:
        """The host end of the veth pair: the API server and etcd listen here."""
        return f"198.18.{self.slot}.1"

    @property
    def node(self) -> str:
        """The node end of the veth pair: the node's InternalIP (kubelet, ingress)."""
        return f"198.18.{self.slot}.2"

    @property
    def loopback(self) -> str:
        """A loopback address of this slot, for components that must not listen on the network."""
        return f"127.18.{self.slot}.1"

    @property
    def link_prefix(self) -> int:
        """Prefix length of the veth pair's network."""
        return 30

    @property
    def service_cidr(self) -> str:
        """The Service ClusterIP range."""
        return f"198.18.{64 + 4 * self.slot}.0/22"

    @property
    def kubernetes_service_ip(self) -> str:
        """The ClusterIP of the ``kubernetes`` Service (first address of the range)."""
        return str(ipaddress.ip_network(self.service_cidr).network_address + 1)

    @property
    def cluster_cidr(self) -> str:
        """The pod range of the cluster (the node gets its first /24)."""
        return f"198.19.{16 * self.slot}.0/20"


@dataclass(frozen=True)
class VethNamespace:
    """A network namespace of ours joined to the host by a veth pair (``eth0`` inside), no default route.

    Only the pair's own network is routed between the two ends, so nothing inside can reach past the host.
    """

    netns: str
    host_link: str
    host_address: str
    inside_address: str
    prefix: int = 30

    @property
    def netns_path(self) -> Path:
        """The bind-mounted namespace file that ``nsenter --net`` takes."""
        return NETNS_DIR / self.netns

    def exists(self) -> bool:
        """Whether the namespace is present."""
        return self.netns_path.exists()

    def create(self) -> None:
        """Build namespace, veth pair and addresses, ``lo`` up (idempotent: an old one is removed first)."""
        self.destroy()
        _ip("netns", "add", self.netns)
        _ip("link", "add", self.host_link, "type", "veth", "peer", "name", "eth0", "netns", self.netns)
        _ip("addr", "add", f"{self.host_address}/{self.prefix}", "dev", self.host_link)
        _ip("link", "set", self.host_link, "up")
        inside = ("-n", self.netns)
        _ip(*inside, "addr", "add", f"{self.inside_address}/{self.prefix}", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        _ip(*inside, "link", "set", "lo", "up")

    def destroy(self) -> None:
        """Remove the namespace and the veth pair; host routes through the pair vanish with the link."""
        if _link_exists(self.host_link):
            _ip("link", "del", self.host_link)
        if self.exists():
            _ip("netns", "del", self.netns)

    def enter(self, mount_namespace: Path | None = None) -> list[str]:
        """Command prefix that runs a program inside the namespace (and, if given, a mount namespace).

        ``nsenter --net``, not ``ip netns exec``: the latter remounts /sys and hides the cgroup hierarchies.
        """
        prefix = ["nsenter", f"--net={self.netns_path}"]
        if mount_namespace is not None:
            prefix.append(f"--mount={mount_namespace}")
        return [*prefix, "--"]

    def run(self, command: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the namespace."""
        return _run([*self.enter(), *command], check=check)

    def set_sysctl(self, key: str, value: str) -> None:
        """Set a per-namespace sysctl inside this namespace only (never the host's)."""
        path = "/proc/sys/" + key.replace(".", "/")
        self.run(["sh", "-c", f"echo {value} > {path}"])


@dataclass(frozen=True)
class NodeNetwork:
    """Names of the namespace and veth pair of one cluster."""

    cluster: str
    addresses: Addresses

    @property
    def veth(self) -> VethNamespace:
        """The node namespace and its veth pair to the host."""
        a = self.addresses
        return VethNamespace(
            f"k8sh-{_short_id(self.cluster)}", f"k8sh{_short_id(self.cluster)}", a.host, a.node, a.link_prefix
        )

    @property
    def netns(self) -> str:
        """The node's network namespace, as ``ip netns`` names it."""
        return self.veth.netns

    @property
    def host_link(self) -> str:
        """The host end of the veth pair (<= 15 characters)."""
        return self.veth.host_link

    @property
    def netns_path(self) -> Path:
        """The bind-mounted namespace file that ``nsenter --net`` takes."""
        return self.veth.netns_path

    def exists(self) -> bool:
        """Whether the node namespace is present."""
        return self.veth.exists()

    def create(self) -> None:
        """Build namespace, veth pair, addresses, host routes and the metadata address (idempotent)."""
        a = self.addresses
        self.veth.create()
        _ip("-n", self.netns, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", "lo")
        for cidr in (a.cluster_cidr, a.service_cidr):
            _ip("route", "replace", cidr, "via", a.node, "dev", self.host_link)

    def add_pod_bridge(self, gateway: str) -> None:
        """The pod bridge with its fixed MAC and the pods' gateway address, up (before the CNI plugin)."""
        inside = ("-n", self.netns)
        _ip(*inside, "link", "add", POD_BRIDGE, "address", POD_BRIDGE_MAC, "type", "bridge")
        _ip(*inside, "addr", "add", gateway, "dev", POD_BRIDGE)
        _ip(*inside, "link", "set", POD_BRIDGE, "up")

    def destroy(self) -> None:
        """Remove the namespace and the veth pair; the host routes through it vanish with the link."""
        self.veth.destroy()

    def enter(self, mount_namespace: Path | None = None) -> list[str]:
        """Command prefix that runs a program inside the node namespace (and its mount namespace)."""
        return self.veth.enter(mount_namespace)

    def run(self, command: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a short command inside the node namespace."""
        return self.veth.run(command, check)

    def set_sysctl(self, key: str, value: str) -> None:
        """Set a per-namespace sysctl inside the node namespace only (never the host's)."""
        self.veth.set_sysctl(key, value)


def _short_id(cluster: str) -> str:
    return hashlib.sha256(cluster.encode()).hexdigest()[:6]


def _link_exists(link: str) -> bool:
    return _run(["ip", "link", "show", link], check=False).returncode == 0


def _ip(*arguments: str) -> None:
    _run(["ip", *arguments])


def _run(command: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=60, check=False)
    if check and done.returncode != 0:
        raise NetworkError(f"{' '.join(command)} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done
