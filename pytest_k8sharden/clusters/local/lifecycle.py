"""``k8sharden local up|down|status``: bringing the embedded real cluster up, taking it down, reporting it.

One implementation serves the command line and the pytest provider. ``up`` is idempotent (a healthy
cluster of the same profile is reused; the remains of a crashed one are cleaned up first) and ``down``
stops every process by PID, kills whatever is left in the cluster's cgroup tree, removes the network
namespace and deletes the state directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from pytest_k8sharden.clusters.local import binaries, enforcer, images, ingress, pki, render
from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.clusters.local.components import (
    ALL_COMPONENTS,
    CILIUM,
    KUBERNETES,
    cluster_components,
)
from pytest_k8sharden.clusters.local.network import METADATA_ADDRESS, Addresses, NetworkError, NodeNetwork
from pytest_k8sharden.clusters.local.processes import ProcessError, Supervisor
from pytest_k8sharden.clusters.local.state import ClusterInfo, ClusterState, free_slot, slot_lock
from pytest_k8sharden.profiles import Profile, get_profile, plain

Progress = Callable[[str], None]

REQUIRED_TOOLS = ("ip", "nsenter", "unshare", "iptables", "mount", "gcc")
# What kubelet would otherwise write into the host-wide sysctls: it reads these values instead.
KUBELET_EXPECTED_SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}
START_TIMEOUT_S = 120.0
RESTARTED_ON_EXIT = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
"""Components kubelet would restart as static pods: they exit when etcd times out while they start."""
MAX_RESTARTS = 3
SEEDED_WORKLOADS_TIMEOUT_S = 120
APPLY_RETRY_PAUSE_S = 2.0


class LocalClusterError(RuntimeError):
    """The local cluster could not be brought up or taken down; the message says which step failed."""


class LocalCluster:
    """One named local cluster: its state directory, network, cgroup tree and processes."""

    def __init__(self, name: str, progress: Progress = print) -> None:
        self.state = ClusterState.for_name(name)
        self.name = name
        self.progress = progress
        self.cgroups = CgroupTree(self.state.cgroup_name)
        self.supervisor = Supervisor(self.state.root, self.cgroups)

    def network(self, info: ClusterInfo) -> NodeNetwork:
        """The node network of this cluster."""
        return NodeNetwork(self.name, Addresses(info.slot))

    # ----------------------------------------------------------------------------------------- up
    def up(self, profile_name: str) -> Path:
        """Bring the cluster up with ``profile_name`` (or reuse it); return the admin kubeconfig path."""
        profile = get_profile(profile_name)
        _require_root_and_tools()
        components = cluster_components(profile.kubernetes)
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
        certs = render.issue_certificates(self.state, a, self.name, profile.serving_certificate_days)
        render.write_kubeconfig(
            self.state.kubeconfig, f"https://{a.host}:6443", certs.ca.cert, certs.admin, "admin"
        )
        mount_ns = self._start_node_mount_namespace(network)
        enter_node = network.enter(mount_ns)

        self._run("etcd", render.etcd_argv(found["etcd"], profile, self.state, a, certs))
        self._run(
            "kube-apiserver", render.apiserver_argv(found["kube-apiserver"], profile, self.state, a, certs)
        )
        self._wait_for_apiserver(a, certs)
        self._apply(
            found["kubectl"], profile.access_seeds, f"the {profile.name} profile's cluster RBAC seeds"
        )
        self._run(
            "kube-controller-manager",
            render.controller_manager_argv(found["kube-controller-manager"], profile, self.state, a, certs),
        )
        self._run(
            "kube-scheduler", render.scheduler_argv(found["kube-scheduler"], profile, self.state, a, certs)
        )

        tools = enforcer.tools_dir(self.state)
        node_env = {"PATH": _path_with(tools, found["containerd"].parent, found["runc"].parent)}
        if profile.network_policy_enforced:
            node_env["CILIUM_SOCK"] = str(enforcer.socket_path(self.state))
        self._start_metadata_standin(network, profile, a, tools)
        self.cgroups.create("shims")
        self._run(
            "containerd",
            [
                *enter_node,
                str(found["containerd"]),
                "--config",
                str(render.containerd_config(self.state, found["runc"], self.state.cgroup_name)),
            ],
            cgroup="system",
            env=node_env,
        )
        socket = self.state.root / "containerd" / "containerd.sock"
        self._wait("containerd socket", socket.exists)
        pinned = self._import_images(found, enter_node, socket)
        self._prepare_cni(found, a, network, profile)
        self.cgroups.create("pods")
        self._run(
            "kubelet",
            [*enter_node, *render.kubelet_argv(found["kubelet"], profile, self.state, a, certs, self.name)],
            cgroup="system",
            env=node_env,
        )
        self._run(
            "kube-proxy",
            [*enter_node, *render.kube_proxy_argv(found["kube-proxy"], self.state, a, certs, self.name)],
            cgroup="system",
            env=node_env,
        )
        self._wait_for_node(found["kubectl"], a)
        if profile.network_policy_enforced:
            self._start_enforcer(found, enter_node, node_env, a)
        seeded: Sequence[Mapping[str, Any]] = profile.workload_seeds
        if profile.images_by_digest:
            seeded = [render.pin_images(m, pinned) for m in seeded]
        self._apply(found["kubectl"], seeded, f"the {profile.name} profile seeds")
        self._start_ingress(found, enter_node, profile, a, pinned)
        if profile.plaintext_api_proxy:
            self._run(
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

    def _start_enforcer(
        self, found: dict[str, Path], enter_node: list[str], node_env: dict[str, str], a: Addresses
    ) -> None:
        """Cilium's CRDs, then its agent; pods only start once it answers (cilium-cni waits for it)."""
        module_dir = binaries.module_source_dir(CILIUM)
        for directory in enforcer.CRD_DIRECTORIES:
            applied = self.kubectl(
                found["kubectl"], "apply", "--server-side", "-f", str(module_dir / directory)
            )
            if applied.returncode != 0:
                raise LocalClusterError(f"applying Cilium's CRDs failed: {applied.stderr.strip()}")
        established = self.kubectl(
            found["kubectl"], "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"
        )
        if established.returncode != 0:
            raise LocalClusterError(f"Cilium's CRDs were not established: {established.stderr.strip()}")
        lib_dir = binaries.component_cache(CILIUM) / "lib"
        self._run(
            "cilium-agent",
            [
                *enter_node,
                *enforcer.agent_argv(found["daemon"], lib_dir, self.state, render.node_pod_cidr(a)),
            ],
            cgroup="system",
            env={**node_env, "K8S_NODE_NAME": self.name},
        )
        self._wait("the NetworkPolicy enforcer (cilium-agent)", lambda: enforcer.agent_ready(self.state))

    def _run(
        self, name: str, argv: list[str], cgroup: str = "control-plane", env: dict[str, str] | None = None
    ) -> None:
        self.progress(f"starting {name}")
        self.supervisor.start(name, argv, cgroup=cgroup, env=env)
        time.sleep(0.5)
        self._require_running()

    def _wait(self, what: str, condition: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> None:
        self.progress(f"waiting for {what}")
        started = time.monotonic()
        while not condition():
            self._require_running()
            if time.monotonic() - started > timeout_s:
                raise LocalClusterError(f"timed out after {timeout_s:.0f} s waiting for {what}")
            time.sleep(0.5)
        self.progress(f"{what}: ready after {time.monotonic() - started:.1f} s")

    def _require_running(self) -> None:
        """Raise when a process has exited, after restarting a control-plane component up to three times."""
        for record in self.supervisor.records():
            if self.supervisor.alive(record):
                continue
            if record.name not in RESTARTED_ON_EXIT or record.restarts >= MAX_RESTARTS:
                raise self.supervisor.exit_error(record)
            last = self.supervisor.log_tail(record.name, lines=1)
            self.progress(
                f"{record.name} exited ({last[-160:]}); restarting it "
                f"({record.restarts + 1} of {MAX_RESTARTS}), as kubelet restarts a static pod"
            )
            self.supervisor.restart(record)

    def _start_node_mount_namespace(self, network: NodeNetwork) -> Path:
        """A private mount namespace for the node's processes.

        /proc/sys is read-only in it, except net/ipv4 and net/ipv6 (which belong to the node's network
        namespace): nothing on the node can change a host-wide kernel setting. kubelet reads the values
        it insists on from files bound over its six sysctls. /run is a private tmpfs (Cilium's
        hard-coded /run/cilium, containerd's shim sockets), and a private bpffs holds pinned BPF maps.
        """
        fake_dir = self.state.root / "node-sysctl"
        fake_dir.mkdir(parents=True, exist_ok=True)
        bpffs = self.state.root / "bpffs"
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
        self._run(
            "node-mount-namespace",
            # made from inside the node's network namespace: the writable net/ sysctls are the node's
            [*network.enter(), "unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
            cgroup="system",
        )
        holder = next(r for r in self.supervisor.records() if r.name == "node-mount-namespace")
        return Path(f"/proc/{holder.pid}/ns/mnt")

    def _start_metadata_standin(
        self, network: NodeNetwork, profile: Profile, a: Addresses, tools: Path
    ) -> None:
        canary = "k8sharden-canary-" + secrets.token_hex(8)
        self.state.path("metadata-canary").write_text(canary)
        self._run(
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
            env={"PYTHONPATH": _package_parent()},
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

    def _import_images(self, found: dict[str, Path], enter_node: list[str], socket: Path) -> dict[str, str]:
        """Import the images; return each tag's digest-pinned name."""
        work = self.state.root / "images"
        pinned = {}
        module_dir = binaries.module_source_dir(KUBERNETES)
        for spec in (
            images.pause_image(images.PAUSE_IMAGE, module_dir, work),
            images.probe_image(images.PROBE_IMAGE, found["agnhost"]),
        ):
            self.progress(f"importing image {spec.reference}")
            archive = images.write_oci_archive(
                spec, work / (spec.reference.rsplit("/", 1)[1].replace(":", "_") + ".tar")
            )
            images.import_archive(found["ctr"], socket, archive, enter_node)
            pinned[spec.reference] = images.pinned_reference(archive)
        return pinned

    def _prepare_cni(
        self, found: dict[str, Path], a: Addresses, network: NodeNetwork, profile: Profile
    ) -> None:
        """CNI plugins and conflist; the bridge exists up front so the enforcer sees it at its start."""
        plugins = ["bridge", "host-local", "loopback", "portmap"]
        chained = []
        if profile.network_policy_enforced:
            plugins.append("cilium-cni")
            chained.append(enforcer.cni_entry())
        bin_dir = self.state.root / "cni" / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for plugin in plugins:
            link = bin_dir / plugin
            link.unlink(missing_ok=True)
            link.symlink_to(found[plugin])
        render.cni_config(self.state, a, chained)
        network.add_pod_bridge(render.node_pod_gateway(a))

    def _https_get(self, url: str, certs: render.Certificates) -> int:
        context = ssl.create_default_context(cafile=str(certs.ca.cert))
        context.load_cert_chain(str(certs.admin.cert), str(certs.admin.key))
        try:
            with urllib.request.urlopen(url, context=context, timeout=5) as response:
                return int(response.status)
        except OSError:
            return 0

    def _wait_for_apiserver(self, a: Addresses, certs: render.Certificates) -> None:
        self._wait(
            "kube-apiserver /readyz", lambda: self._https_get(f"https://{a.host}:6443/readyz", certs) == 200
        )

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

    def _wait_for_node(self, kubectl: Path, a: Addresses) -> None:
        def node_ready() -> bool:
            shown = self.kubectl(
                kubectl,
                "get",
                "node",
                self.name,
                "-o",
                "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
            )
            return shown.stdout.strip() == "True"

        def pod_cidr() -> str:
            return self.kubectl(
                kubectl, "get", "node", self.name, "-o", "jsonpath={.spec.podCIDR}"
            ).stdout.strip()

        self._wait(f"node {self.name} Ready", node_ready)
        self._wait("the node's pod CIDR", lambda: bool(pod_cidr()))
        cidr = pod_cidr()
        if cidr != render.node_pod_cidr(a):
            raise LocalClusterError(
                f"node got pod CIDR {cidr!r}, the CNI config uses {render.node_pod_cidr(a)}"
            )
        self._wait(
            "default ServiceAccount",
            lambda: self.kubectl(kubectl, "get", "serviceaccount", "default").returncode == 0,
        )

    def _apply(self, kubectl: Path, manifests: Sequence[Mapping[str, Any]], what: str) -> None:
        """kubectl apply ``manifests``, then wait until their Deployments are Available."""
        if not manifests:
            return
        self.progress(f"applying {len(manifests)} objects: {what}")
        documents = yaml.safe_dump_all([plain(m) for m in manifests])
        applied = self.kubectl(kubectl, "apply", "-f", "-", stdin=documents)
        if applied.returncode != 0:  # once more: an object made by a controller meanwhile (a default
            time.sleep(APPLY_RETRY_PAUSE_S)  # ServiceAccount) fails the first create with AlreadyExists
            applied = self.kubectl(kubectl, "apply", "-f", "-", stdin=documents)
        if applied.returncode != 0:
            raise LocalClusterError(f"applying {what} failed: {applied.stderr.strip()}")
        workloads = sorted({m["metadata"]["namespace"] for m in manifests if m["kind"] == "Deployment"})
        for namespace in workloads:
            self.progress(f"waiting for the Deployments in {namespace}")
            waited = self.kubectl(
                kubectl, "wait", "deployment", "--all", "-n", namespace,
                "--for=condition=Available", f"--timeout={SEEDED_WORKLOADS_TIMEOUT_S}s",
            )  # fmt: skip
            if waited.returncode != 0:
                raise LocalClusterError(f"Deployments in {namespace} not available: {waited.stderr.strip()}")

    def _start_ingress(
        self,
        found: dict[str, Path],
        enter_node: list[str],
        profile: Profile,
        a: Addresses,
        pinned: dict[str, str],
    ) -> None:
        """Traefik with its own identity after its objects; ready when every Ingress shows its address."""
        kubectl = found["kubectl"]
        directory = ingress.config_dir(self.state)
        ca = pki.CertificateAuthority(self.state.root / "pki", "ca", f"{self.name}-ca")
        kubeconfig = render.write_kubeconfig(
            directory / "kubeconfig",
            f"https://{a.host}:6443",
            ca.paths.cert,
            ca.issue(ingress.client_identity()),
            ingress.USER,
        )
        sites = ingress.objects(self.state, profile.ingress, images.PROBE_IMAGE)
        if profile.images_by_digest:
            sites = [render.pin_images(m, pinned) for m in sites]
        self._apply(kubectl, sites, "the ingress sites")
        config = ingress.write_config(self.state, profile.ingress, a)
        self._run(
            "traefik",
            [*enter_node, *ingress.argv(found["traefik"], config)],
            cgroup="system",
            env={"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": ""},
        )

        def published() -> bool:
            shown = self.kubectl(
                kubectl,
                "-n",
                ingress.NAMESPACE,
                "get",
                "ingress",
                "-o",
                "jsonpath={.items[*].status.loadBalancer.ingress[*].ip}",
            )
            return shown.stdout.split() == [a.node] * len(profile.ingress.sites)

        self._wait("Traefik to publish the node address in every Ingress's status", published)

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


def build(progress: Progress = print) -> list[binaries.Binaries]:
    """Make every binary of every profile available (PATH, cache, release or Go build), per component."""
    with _one_error_type():
        return [binaries.ensure(component, progress) for component in ALL_COMPONENTS]


@contextlib.contextmanager
def _one_error_type() -> Iterator[None]:
    """Every failure of a lifecycle step surfaces as LocalClusterError with its one-line message."""
    try:
        yield
    except (binaries.BinaryError, ProcessError, NetworkError, images.ImageError, ValueError) as exc:
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


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[3])


__all__ = ["LocalCluster", "LocalClusterError", "ProcessError", "down", "status", "up"]
