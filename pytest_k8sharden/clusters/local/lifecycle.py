"""``k8sharden local up|down|status``: bringing the embedded real cluster up, taking it down, reporting it.

One implementation serves the command line and the pytest provider. ``up`` is idempotent (a healthy
cluster of the same profile is reused; the remains of a crashed one are cleaned up first) and ``down``
stops every process by PID, kills whatever is left in the cluster's cgroup tree, removes the network
namespace and deletes the state directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_k8sharden.clusters.base import ClusterAccess, ClusterUnavailable
from pytest_k8sharden.clusters.local import addons, binaries, enforcer, files, images, node, render
from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.clusters.local.components import (
    ALL_COMPONENTS,
    CONTAINERD,
    cluster_components,
    kubernetes_for,
)
from pytest_k8sharden.clusters.local.network import Addresses, NetworkError, NodeNetwork
from pytest_k8sharden.clusters.local.processes import ProcessError, Supervisor
from pytest_k8sharden.clusters.local.runner import MAX_RESTARTS, LocalClusterError, Progress, Runner
from pytest_k8sharden.clusters.local.state import ClusterInfo, ClusterState, free_slot, slot_lock
from pytest_k8sharden.clusters.seeding import apply_seeds
from pytest_k8sharden.kube import Kube, KubeError, connect
from pytest_k8sharden.profiles import Profile, get_profile
from pytest_k8sharden.seeds import SEED_IMAGE

if TYPE_CHECKING:
    from kubernetes.client import V1Node

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "iptables", "mount", "gcc")


class LocalCluster:
    """One named local cluster: its state directory, network, cgroup tree and processes."""

    def __init__(self, name: str, progress: Progress = print) -> None:
        self.state = ClusterState.for_name(name)
        self.name = name
        self.progress = progress
        self.cgroups = CgroupTree(self.state.cgroup_name)
        self.supervisor = Supervisor(self.state.root, self.cgroups)
        self.runner = Runner(self.supervisor, progress)

    def network(self, info: ClusterInfo) -> NodeNetwork:
        """The node network of this cluster."""
        return NodeNetwork(self.name, Addresses(info.slot))

    # ----------------------------------------------------------------------------------------- up
    def up(self, profile_name: str) -> Path:
        """Bring the cluster up with ``profile_name`` (or reuse it); return the admin kubeconfig path."""
        profile = get_profile(profile_name)
        _require_root_and_tools()
        components = cluster_components(kubernetes_for(profile))
        versions = {c.name: c.version for c in components}  # Kubernetes: the build the cluster runs (last)
        existing = self.state.load_info()
        if existing is not None:
            if existing.profile == profile.name and existing.versions == versions and self.healthy():
                self.progress(f"cluster {self.name} ({profile.name}) is already up; reusing it")
                return self.state.kubeconfig
            self.progress(f"cleaning up the remains of cluster {self.name}")
            self.down()
        started = time.monotonic()
        found = binaries.ensure_all(self.progress, components=components)
        with slot_lock():
            info = ClusterInfo(self.name, profile.name, free_slot(self.name), versions)
            self.state.save_info(info)
        try:
            self._start(profile, info, found)
        except BaseException:
            kept = self.down(keep_logs=True)
            self.progress(f"bringing up {self.name} failed; its logs are kept in {kept}")
            raise
        self.state.ready_marker.write_text(profile.name)
        self.progress(f"cluster {self.name} ({profile.name}) is up in {time.monotonic() - started:.0f} s")
        return self.state.kubeconfig

    def _start(self, profile: Profile, info: ClusterInfo, found: dict[str, Path]) -> None:
        a = Addresses(info.slot)
        network = self.network(info)
        self.progress(f"creating network namespace {network.netns} ({a.host} <-> {a.node})")
        network.create()
        network.set_sysctl("net.ipv4.ip_forward", "1")
        network.set_sysctl("net.bridge.bridge-nf-call-iptables", "1")
        certs = files.issue_certificates(self.state, a, self.name, profile.serving_certificate_days)
        files.write_kubeconfig(
            self.state.kubeconfig, render.api_server_url(a), certs.ca.cert, certs.admin, "admin"
        )
        files.write_component_kubeconfigs(self.state, a, certs)
        files.write_secrets(self.state, profile)
        enter_node = network.enter(node.start_mount_namespace(self.runner, self.state, network))

        run = self.runner.run
        run("etcd", files.written(render.etcd(found["etcd"], profile, self.state, a, certs)))
        run(
            "kube-apiserver",
            files.written(render.apiserver(found["kube-apiserver"], profile, self.state, a, certs)),
        )
        self.runner.wait(
            "kube-apiserver /readyz", lambda: _https_get(f"{render.api_server_url(a)}/readyz", certs) == 200
        )
        with contextlib.closing(
            connect(ClusterAccess("local", profile.name, self.state.kubeconfig, None))
        ) as kube:
            self._start_on_apiserver(kube, profile, a, network, enter_node, certs, found)

    def _start_on_apiserver(
        self,
        kube: Kube,
        profile: Profile,
        a: Addresses,
        network: NodeNetwork,
        enter_node: list[str],
        certs: render.Certificates,
        found: dict[str, Path],
    ) -> None:
        """The rest of the start sequence, once the API server answers (``kube`` is its admin client)."""
        run, what = self.runner.run, f"the {profile.name} profile"
        apply_seeds(kube, profile.access_seeds, f"{what}'s cluster RBAC seeds", {}, self.progress)
        controller_manager = render.controller_manager(
            found["kube-controller-manager"], profile, self.state, a, certs
        )
        run("kube-controller-manager", files.written(controller_manager))
        run(
            "kube-scheduler", files.written(render.scheduler(found["kube-scheduler"], profile, self.state, a))
        )

        tools = enforcer.tools_dir(self.state)
        node_env = {"PATH": _path_with(tools, found["containerd"].parent, found["runc"].parent)}
        if profile.network_policy_enforced:
            node_env["CILIUM_SOCK"] = str(enforcer.socket_path(self.state))
        node.start_metadata_standin(self.runner, self.state, network, profile, a, tools)
        self.cgroups.create("shims")
        containerd = files.written(render.containerd(found["containerd"], self.state, found["runc"]))
        run("containerd", [*enter_node, *containerd], cgroup="system", env=node_env)
        socket = self.state.root / "containerd" / "containerd.sock"
        self.runner.wait("containerd socket", socket.exists)
        pinned = node.import_images(self.state, found, enter_node, socket, self.runner)
        node.prepare_cni(self.state, found, a, network, profile)
        self.cgroups.create("pods")
        kubelet = render.kubelet(found["kubelet"], profile, self.state, a, certs, self.name)
        run("kubelet", [*enter_node, *files.written(kubelet)], cgroup="system", env=node_env)
        kube_proxy = render.kube_proxy(found["kube-proxy"], self.state, a, self.name)
        run("kube-proxy", [*enter_node, *files.written(kube_proxy)], cgroup="system", env=node_env)
        self._wait_for_node(kube, a)
        if profile.network_policy_enforced:
            addons.start_enforcer(
                self.runner, self.state, self._admin_kubectl(found), found, enter_node, node_env, self.name, a
            )
        seed_image = pinned[images.PROBE_IMAGE] if profile.images_by_digest else images.PROBE_IMAGE
        apply_seeds(kube, profile.workload_seeds, f"{what} seeds", {SEED_IMAGE: seed_image}, self.progress)
        addons.start_ingress(
            self.runner, self.state, kube, found, enter_node, profile, a, {SEED_IMAGE: seed_image}
        )
        if profile.plaintext_api_proxy:
            run(
                "kubectl-proxy",
                [
                    str(found["kubectl"]),
                    f"--kubeconfig={self.state.kubeconfig}",
                    "proxy",
                    f"--address={a.host}",
                    "--port=8080",
                    "--accept-hosts=.*",
                ],
            )

    def _admin_kubectl(self, found: dict[str, Path]) -> addons.Kubectl:
        return functools.partial(self.kubectl, found["kubectl"])

    def kubectl(
        self, kubectl: Path, *arguments: str, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run our pinned kubectl against this cluster as admin."""
        return subprocess.run(
            [str(kubectl), f"--kubeconfig={self.state.kubeconfig}", *arguments],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def import_image(self, archive: Path) -> str:
        """Import an OCI image archive into this running cluster's containerd (namespace k8s.io, the one
        kubelet uses); return the image's digest-pinned name."""
        socket = self.state.root / "containerd" / "containerd.sock"
        if not self.healthy() or not socket.exists():
            raise LocalClusterError(f"cluster {self.name} is not up")
        found = binaries.ensure_all(self.progress, components=(CONTAINERD,))
        images.import_archive(found["ctr"], socket, archive, [])
        return images.pinned_reference(archive)

    def _wait_for_node(self, kube: Kube, a: Addresses) -> None:
        """The node Ready with the pod CIDR the CNI config uses, and the default ServiceAccount made."""

        def read_node() -> V1Node | None:
            try:
                return kube.core.read_node(self.name)
            except KubeError:  # not registered yet, or the API server restarting
                return None

        def node_ready() -> bool:
            seen = read_node()
            conditions = (seen.status.conditions if seen and seen.status else None) or []
            return any(c.type == "Ready" and c.status == "True" for c in conditions)

        def pod_cidr() -> str:
            seen = read_node()
            return str(seen.spec.pod_cidr or "") if seen and seen.spec else ""

        def default_service_account() -> bool:
            try:
                kube.core.read_namespaced_service_account("default", "default")
            except KubeError:
                return False
            return True

        self.runner.wait(f"node {self.name} Ready", node_ready)
        self.runner.wait("the node's pod CIDR", lambda: bool(pod_cidr()))
        cidr = pod_cidr()
        if cidr != render.node_pod_cidr(a):
            raise LocalClusterError(
                f"node got pod CIDR {cidr!r}, the CNI config uses {render.node_pod_cidr(a)}"
            )
        self.runner.wait("default ServiceAccount", default_service_account)

    # --------------------------------------------------------------------------------------- down
    def down(self, keep_logs: bool = False) -> Path | None:
        """Stop everything, remove netns, cgroups and the state directory; return where logs were kept."""
        info = self.state.load_info()
        records = self.supervisor.records()
        if records:
            self.progress("stopping " + ", ".join(f"{r.name} (pid {r.pid})" for r in records))
            self.supervisor.stop(records)
        if self.cgroups.exists():
            self.cgroups.kill_all()
            left = self.cgroups.remove()
            if left:
                raise LocalClusterError(f"could not remove cgroups {', '.join(map(str, left))}")
        if info is not None:
            self.progress("removing the node network namespace")
            self.network(info).destroy()
        failed_logs = self.state.root.parent / "failed-logs" / self.name
        shutil.rmtree(failed_logs, ignore_errors=True)
        kept: Path | None = None
        if keep_logs and (self.state.root / "logs").exists():
            failed_logs.parent.mkdir(parents=True, exist_ok=True)
            kept = Path(shutil.move(self.state.root / "logs", failed_logs))
        if self.state.root.exists():
            shutil.rmtree(self.state.root)
        with contextlib.suppress(OSError):  # only when empty: other clusters' logs stay
            failed_logs.parent.rmdir()
        self.progress(f"cluster {self.name} is down")
        return kept

    # ------------------------------------------------------------------------------------- status
    def healthy(self) -> bool:
        """Whether every recorded process still runs."""
        records = self.supervisor.records()
        ready = self.state.ready_marker.exists()
        return ready and bool(records) and all(self.supervisor.alive(r) for r in records)

    def status(self) -> str:
        """A human-readable account of the cluster: profile, addresses, versions, processes."""
        info = self.state.load_info()
        if info is None:
            return f"cluster {self.name}: not created (state directory {self.state.root})"
        a = Addresses(info.slot)
        lines = [
            f"cluster {self.name}: profile {info.profile}, {'healthy' if self.healthy() else 'NOT healthy'}",
            f"  state      {self.state.root}",
            f"  kubeconfig {self.state.kubeconfig}",
            f"  API server https://{a.host}:6443   node {a.node}",
            f"  pods       {a.cluster_cidr}   services {a.service_cidr}",
            "  versions   " + ", ".join(f"{k} {v}" for k, v in info.versions.items()),
        ]
        for record in self.supervisor.records():
            state = "running" if self.supervisor.alive(record) else "DEAD"
            lines.append(f"  {record.name:<24} pid {record.pid:<8} {state}")
        return "\n".join(lines)


def up(profile: str, name: str, progress: Progress = print) -> Path:
    """Bring cluster ``name`` up with ``profile``; return its admin kubeconfig path."""
    with _one_error_type():
        return LocalCluster(name, progress).up(profile)


def down(name: str, progress: Progress = print) -> None:
    """Take cluster ``name`` down and remove every trace of it."""
    with _one_error_type():
        _require_root_and_tools()
        LocalCluster(name, progress).down()


def import_image(name: str, archive: Path, progress: Progress = print) -> str:
    """Import an OCI image archive into running cluster ``name``; return its digest-pinned name."""
    with _one_error_type():
        return LocalCluster(name, progress).import_image(archive)


def build(progress: Progress = print) -> list[binaries.Binaries]:
    """Make every binary of every profile available (PATH, cache, release or Go build), per component."""
    with _one_error_type():
        return [binaries.ensure(component, progress) for component in ALL_COMPONENTS]


@contextlib.contextmanager
def _one_error_type() -> Iterator[None]:
    """Every failure of a lifecycle step surfaces as LocalClusterError with its one-line message."""
    try:
        yield
    except (
        binaries.BinaryError,
        ProcessError,
        NetworkError,
        images.ImageError,
        ClusterUnavailable,
        KubeError,
        ValueError,
    ) as exc:
        raise LocalClusterError(str(exc)) from exc


def status(name: str) -> str:
    """A human-readable status of cluster ``name``."""
    return LocalCluster(name).status()


def _require_root_and_tools() -> None:
    if os.geteuid() != 0:
        raise LocalClusterError("the local cluster needs root (network namespaces, cgroups, mounts)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise LocalClusterError(
            f"missing tools on PATH: {', '.join(missing)} (see scripts/install-local-deps)"
        )


def _path_with(*directories: Path) -> str:
    return os.pathsep.join(
        [*(str(d) for d in directories), os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")]
    )


def _https_get(url: str, certs: render.Certificates) -> int:
    """The status of an HTTPS GET as admin; 0 when there is no answer."""
    context = ssl.create_default_context(cafile=str(certs.ca.cert))
    context.load_cert_chain(str(certs.admin.cert), str(certs.admin.key))
    try:
        with urllib.request.urlopen(url, context=context, timeout=5) as response:
            return int(response.status)
    except OSError:
        return 0


__all__ = ["MAX_RESTARTS", "LocalCluster", "LocalClusterError", "ProcessError", "down", "status", "up"]
