"""A kind node image built here, with no registry: a Debian base from debootstrap, kind's own base files
(from the pinned kind module), our binaries, and every image the cluster starts already inside containerd.

kind's node-image contract, as kind v0.33.0 reads it: ``/kind/version`` (the Kubernetes version),
``kubeadm``, ``kubelet`` and ``kubectl`` on PATH, containerd at /run/containerd/containerd.sock run by
systemd (``/sbin/init``) behind kind's ``/usr/local/bin/entrypoint``, ``/etc/containerd/cri-base.json``,
and optionally ``/kind/manifests/default-cni.yaml`` and ``default-storage.yaml``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.debian import DEBIAN_SUITE, RootfsError, debootstrap, run
from pytest_k8sharden.clusters.downloads import cache_root
from pytest_k8sharden.clusters.kind import nodefiles
from pytest_k8sharden.clusters.kind.binary import KIND
from pytest_k8sharden.clusters.local import images
from pytest_k8sharden.clusters.local.binaries import Progress, ensure_all, module_source_dir
from pytest_k8sharden.clusters.local.components import (
    CNI_PLUGINS,
    CONTAINERD,
    ETCD,
    KUBEADM,
    KUBERNETES,
    RUNC,
    Component,
)
from pytest_k8sharden.polling import wait_until

COREDNS: Final = Component(
    name="coredns",
    upstream_module="github.com/coredns/coredns",
    packages=("k8sharden.local/coredns",),
    binaries=("coredns",),
    version_command=("-version",),
    gomods=KIND.gomods,
)
"""CoreDNS at the version kubeadm of the newest Kubernetes build deploys, without the cloud DNS backends,
etcd, nomad, geoip and trace plugins (gomods/coredns/main.go): their SDKs were most of a 10-minute build."""
BASE_PACKAGES: Final = (
    "systemd", "systemd-sysv", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux",
    "mount", "libseccomp2", "pigz", "ca-certificates", "procps", "jq", "bash",
)  # fmt: skip
"""kind's base image packages (images/base/Dockerfile) that Debian has, without kmod (no module loading)."""
UNWANTED: Final = (
    "lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
    "lib/systemd/system/multi-user.target.wants/*",
    "etc/systemd/system/*.wants/*",
    "lib/systemd/system/local-fs.target.wants/*",
    "lib/systemd/system/sockets.target.wants/*udev*",
    "lib/systemd/system/sockets.target.wants/*initctl*",
    "lib/systemd/system/basic.target.wants/*",
)
"""Units kind's base image removes from the boot (images/base/Dockerfile)."""
KIND_ENTRYPOINT: Final = "/usr/local/bin/entrypoint"
POD_SUBNET: Final = "10.244.0.0/24"
"""The node's pod range: the first /24 of kind's default podSubnet (single node)."""


class NodeImageError(RootfsError):
    """The node image could not be built (the message says which step and why)."""


@dataclass(frozen=True)
class Docker:
    """The docker CLI as the user runs it (``prefix``, e.g. ``nsenter --net=... docker``)."""

    prefix: tuple[str, ...] = ("docker",)
    env: Mapping[str, str] | None = None

    def __call__(self, *arguments: str, check: bool = True) -> str:
        """Run ``docker arguments``; return stdout (raise with stderr when ``check`` and it fails)."""
        done = subprocess.run(
            [*self.prefix, *arguments],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            check=False,
        )
        if check and done.returncode != 0:
            raise NodeImageError(f"docker {' '.join(arguments)} failed: {done.stderr.decode().strip()}")
        return done.stdout.decode()

    def succeeds(self, *arguments: str) -> bool:
        """Whether ``docker arguments`` exits 0 (``image inspect`` of a missing image prints ``[]``)."""
        done = subprocess.run([*self.prefix, *arguments], capture_output=True, env=self.env, check=False)
        return done.returncode == 0


def node_image_tag(kubernetes: Component = KUBERNETES) -> str:
    """``k8sharden.local/kind-node:<Kubernetes version>``."""
    return f"{nodefiles.IMAGE_REPOSITORY}/kind-node:{kubernetes.version}"


def build_node_image(docker: Docker, progress: Progress, rebuild: bool = False) -> str:
    """The node image of the newest Kubernetes build, from the cache unless ``rebuild``; returns its tag."""
    tag = node_image_tag()
    if not rebuild and docker.succeeds("image", "inspect", tag):
        progress(f"{tag}: already built")
        return tag
    started = time.monotonic()
    found = ensure_all(
        progress, components=(CONTAINERD, RUNC, CNI_PLUGINS, ETCD, COREDNS, KUBEADM, KUBERNETES)
    )
    base = base_image(docker, progress)
    work = cache_root() / "kind-node" / KUBERNETES.version
    archives = inner_image_archives(found, work / "images", docker, base)
    container = docker("run", "-d", "--privileged", "--entrypoint=sleep", base, "infinity").strip()
    try:
        _install_binaries(docker, container, found)
        _write_node_files(docker, container, work)
        _import_images(docker, container, archives, progress)
        entrypoint = json.dumps([nodefiles.GUARD_ENTRYPOINT, KIND_ENTRYPOINT, "/sbin/init"])
        docker("commit", "--change", f"ENTRYPOINT {entrypoint}", container, tag)
    finally:
        docker("rm", "-f", "-v", container, check=False)
    progress(f"{tag}: built in {time.monotonic() - started:.0f} s")
    return tag


def kind_config_patches() -> list[str]:
    """The kubeadmConfigPatches a kind config needs to run our node image."""
    return nodefiles.kubeadm_patches(ETCD.version, COREDNS.version)


def base_image(docker: Docker, progress: Progress) -> str:
    """``k8sharden.local/kind-base:<suite>``: debootstrap, then kind's base files (cached as a tarball)."""
    tag = f"{nodefiles.IMAGE_REPOSITORY}/kind-base:{DEBIAN_SUITE}"
    if docker.succeeds("image", "inspect", tag):
        return tag
    archive = cache_root() / "kind-node" / f"base-{DEBIAN_SUITE}.tar"
    if not archive.is_file():
        started = time.monotonic()
        progress(f"debootstrap {DEBIAN_SUITE} with {', '.join(BASE_PACKAGES)}")
        archive.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=archive.parent) as t:
            rootfs = Path(t) / "rootfs"
            debootstrap(rootfs, BASE_PACKAGES, "the node image's Debian base")
            prepare_base_rootfs(rootfs)
            run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", f"{archive}.part", "."])
            Path(f"{archive}.part").rename(archive)
        progress(f"base root filesystem in {time.monotonic() - started:.0f} s: {archive}")
    docker(
        "import",
        "--change", "ENV container=docker",
        "--change", f'ENTRYPOINT ["{KIND_ENTRYPOINT}", "/sbin/init"]',
        str(archive), tag,
    )  # fmt: skip
    return tag


def prepare_base_rootfs(rootfs: Path) -> None:
    """What kind's images/base/Dockerfile does after installing packages, plus our guard and modprobe stub."""
    files = module_source_dir(KIND) / "images" / "base" / "files"
    shutil.copytree(files, rootfs, dirs_exist_ok=True)
    executables = ("usr/local/bin", "kind/bin")  # the module cache is read-only: set every mode
    for source in files.rglob("*"):
        relative = source.relative_to(files)
        executable = source.is_dir() or str(relative.parent) in executables
        (rootfs / relative).chmod(0o755 if executable else 0o644)
    for wants in UNWANTED:
        for link in rootfs.glob(wants):
            link.unlink()
    with (rootfs / "etc/systemd/journald.conf").open("a") as journald:
        journald.write("ReadKMsg=no\n")
    stubs = {"/sbin/modprobe": nodefiles.MODPROBE_STUB, "/usr/sbin/modprobe": nodefiles.MODPROBE_STUB}
    for name, text in {nodefiles.GUARD_ENTRYPOINT: nodefiles.guard_script(), **stubs}.items():
        target = rootfs / name.lstrip("/")
        if target.is_symlink():
            target.unlink()
        target.write_text(text)
        target.chmod(0o755)
    (rootfs / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    run(["chroot", str(rootfs), "systemctl", "enable", "kubelet.service", "containerd.service",
          "undo-mount-hacks.service"])  # fmt: skip
    run(["chroot", str(rootfs), "systemctl", "mask", "systemd-binfmt.service"])


def inner_image_references() -> dict[str, str]:
    """Binary -> the image reference that kubeadm (given kind_config_patches) and containerd ask for."""
    repo, version = nodefiles.IMAGE_REPOSITORY, KUBERNETES.version
    control_plane = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
    references = {name: f"{repo}/{name}:{version}" for name in control_plane}
    references["etcd"] = f"{repo}/etcd:{ETCD.version}"
    references["coredns"] = f"{repo}/coredns:{COREDNS.version}"
    references["pause"] = images.PAUSE_IMAGE
    return references


def inner_image_archives(found: Mapping[str, Path], directory: Path, docker: Docker, base: str) -> list[Path]:
    """Image archives of every image the cluster starts (inner_image_references)."""
    references = inner_image_references()
    specs = [
        images.ImageSpec(references[name], {f"bin/{name}": found[name]}, {}, (f"/bin/{name}",))
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
    ]
    specs.append(images.ImageSpec(references["coredns"], {"coredns": found["coredns"]}, {}, ("/coredns",)))
    specs.append(images.pause_image(references["pause"], module_source_dir(KUBERNETES), directory / "pause"))
    archives = [images.write_oci_archive(s, directory / f"{s.reference.split('/')[-1]}.tar") for s in specs]
    archives.append(
        _kube_proxy_archive(found["kube-proxy"], references["kube-proxy"], directory, docker, base)
    )
    return archives


def _kube_proxy_archive(kube_proxy: Path, tag: str, directory: Path, docker: Docker, base: str) -> Path:
    """kube-proxy needs iptables and nft: our Debian base with kube-proxy in /usr/local/bin."""
    container = docker("create", "--entrypoint=/usr/local/bin/kube-proxy", base).strip()
    try:
        docker("cp", str(kube_proxy), f"{container}:/usr/local/bin/kube-proxy")
        docker("commit", container, tag)
    finally:
        docker("rm", "-f", container, check=False)
    target = directory / "kube-proxy.tar"
    docker("save", "-o", str(target), tag)
    return target


def _install_binaries(docker: Docker, container: str, found: Mapping[str, Path]) -> None:
    places = {"/usr/bin": ("kubeadm", "kubelet", "kubectl"), "/usr/local/sbin": ("runc",),
              "/usr/local/bin": ("containerd", "containerd-shim-runc-v2", "ctr"),
              "/opt/cni/bin": ("bridge", "host-local", "loopback", "portmap")}  # fmt: skip
    for directory, names in places.items():
        docker("exec", container, "mkdir", "-p", directory)
        for name in names:
            docker("cp", str(found[name]), f"{container}:{directory}/{name}")


def _write_node_files(docker: Docker, container: str, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    spec = json.loads(docker("exec", container, "ctr", "oci", "spec"))
    spec.setdefault("hooks", {}).setdefault("createContainer", []).append(
        {"path": "/kind/bin/mount-product-files.sh"}
    )
    spec["process"].pop("rlimits", None)
    config = docker("exec", container, "cat", "/etc/containerd/config.toml")
    config = config.replace(
        'sandbox_image = "registry.k8s.io/pause:3.10"', f'sandbox_image = "{images.PAUSE_IMAGE}"'
    )
    # Without CAP_SYS_RESOURCE (missing from some machines' bounding sets) runc cannot lower a pod's
    # oom_score_adj ("nsexec: failed to update /proc/self/oom_score_adj: Permission denied"): containerd
    # then clamps it to its own, as kind does for rootless nodes.
    config = config.replace("restrict_oom_score_adj = false", "restrict_oom_score_adj = true")
    contents = {
        "/etc/containerd/cri-base.json": json.dumps(spec, indent=2),
        "/etc/containerd/config.toml": config,
        "/etc/cni/net.d/10-k8sharden-bridge.conflist": nodefiles.bridge_conflist(POD_SUBNET),
        "/kind/version": KUBERNETES.version,
    }
    for path, text in contents.items():
        local = work / Path(path).name
        local.write_text(text)
        docker("exec", container, "mkdir", "-p", str(Path(path).parent))
        docker("cp", str(local), f"{container}:{path}")


def _import_images(docker: Docker, container: str, archives: Sequence[Path], progress: Progress) -> None:
    """Start containerd inside the build container, import every archive into k8s.io, stop it again."""
    docker(
        "exec",
        "-d",
        container,
        "sh",
        "-c",
        "containerd >/tmp/containerd.log 2>&1 & echo $! >/tmp/containerd.pid",
    )
    if not wait_until(lambda: docker.succeeds("exec", container, "ctr", "version"), 60, interval_s=1.0):
        raise NodeImageError("containerd in the build container did not start: " + docker(
            "exec", container, "cat", "/tmp/containerd.log", check=False))  # fmt: skip
    docker("exec", container, "mkdir", "-p", "/kind/images")
    for archive in archives:
        docker("cp", str(archive), f"{container}:/kind/images/{archive.name}")
        docker(
            "exec",
            container,
            "ctr",
            "-n",
            "k8s.io",
            "images",
            "import",
            "--no-unpack",
            f"/kind/images/{archive.name}",
        )
        progress(f"  imported {archive.name}")
    docker(
        "exec",
        container,
        "sh",
        "-c",
        'kill "$(cat /tmp/containerd.pid)"; rm -rf /kind/images /tmp/containerd.*',
    )
    time.sleep(2)
