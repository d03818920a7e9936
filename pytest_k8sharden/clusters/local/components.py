"""The upstream components of the local cluster, pinned by the wrapper Go modules beside this file."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pytest_k8sharden.profiles import Profile

GOMODS_DIR: Final = Path(__file__).with_name("gomods")
ARCH: Final = "amd64"


@dataclass(frozen=True)
class ReleaseArtifact:
    """An official release file and the checksum file its project publishes beside it.

    ``members`` maps a path inside a .tar.gz archive to the binary name it provides; empty for a
    plain binary whose name is ``binary``. Both URLs may contain ``{version}`` (``v`` included)
    and ``{bare}`` (without the leading ``v``).
    """

    url: str
    checksum_url: str
    binary: str = ""
    members: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Component:
    """One upstream project built from its Go module (or fetched as its release artifacts)."""

    name: str
    upstream_module: str
    packages: tuple[str, ...]
    binaries: tuple[str, ...]
    cgo: bool = False
    tags: tuple[str, ...] = ()
    version_ldflags: tuple[str, ...] = ()
    version_command: tuple[str, ...] = ("--version",)
    releases: tuple[ReleaseArtifact, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=())
    module_assets: tuple[tuple[str, str], ...] = ()
    """(module directory, cache directory) pairs copied after a build, e.g. Cilium's BPF sources."""
    module: str = ""
    """The wrapper module's directory under gomods/ (default: ``name``); a project pinned at two versions
    has two wrapper modules, and its binaries are cached per version under the one ``name``."""
    gomods: Path = GOMODS_DIR
    """The folder of wrapper modules that holds this component's (another provider keeps its own)."""

    @property
    def module_dir(self) -> Path:
        """The wrapper Go module that pins this component."""
        return self.gomods / (self.module or self.name)

    @property
    def version(self) -> str:
        """The pinned version, read from the wrapper module's go.mod (the one place it is written)."""
        return pinned_version(self.module_dir / "go.mod", self.upstream_module)

    def ldflags(self) -> list[str]:
        """Linker flags that stamp the real version into the binaries, as the upstream builds do."""
        version = self.version
        minor = version.lstrip("v").split(".")[1]
        flags = ["-s", "-w"]
        for template in self.version_ldflags:
            flags += ["-X", template.format(version=version, bare=version.lstrip("v"), minor=minor)]
        return flags


def pinned_version(go_mod: Path, module: str) -> str:
    """Return the version of ``module`` required by ``go_mod``."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod.read_text(), re.M)
    if match is None:
        raise ValueError(f"{go_mod} does not require {module}")
    return match.group(1)


def _kubernetes_version_ldflags() -> tuple[str, ...]:
    flags = []
    for package in ("k8s.io/client-go/pkg/version", "k8s.io/component-base/version"):
        flags += [
            f"{package}.gitVersion={{version}}",
            f"{package}.gitMajor=1",
            f"{package}.gitMinor={{minor}}",
            f"{package}.gitTreeState=clean",
        ]
    return tuple(flags)


_K8S_RELEASE = "https://dl.k8s.io/release/{version}/bin/linux/" + ARCH + "/"
_KUBE_BINARIES = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
_GITHUB = "https://github.com/"

KUBERNETES: Final = Component(
    name="kubernetes",
    upstream_module="k8s.io/kubernetes",
    packages=(
        *(f"k8s.io/kubernetes/cmd/{b}" for b in _KUBE_BINARIES),
        "k8s.io/kubernetes/test/images/agnhost",
    ),
    binaries=(*_KUBE_BINARIES, "agnhost"),
    tags=("selinux", "notest"),
    version_ldflags=_kubernetes_version_ldflags(),
    releases=tuple(
        ReleaseArtifact(url=_K8S_RELEASE + b, checksum_url=_K8S_RELEASE + b + ".sha256", binary=b)
        for b in _KUBE_BINARIES
    ),
)
"""The newest Kubernetes patch release; also the source of the probe and pause images of every profile."""

KUBERNETES_OUTDATED: Final = dataclasses.replace(
    KUBERNETES,
    module="kubernetes-outdated",
    packages=tuple(f"k8s.io/kubernetes/cmd/{b}" for b in _KUBE_BINARIES),
    binaries=_KUBE_BINARIES,
)
"""An older patch of a still supported minor: the insecure profile runs it (a cluster behind on patches)."""
KUBEADM: Final = dataclasses.replace(
    KUBERNETES,
    name="kubeadm",
    module="kubernetes",
    packages=("k8s.io/kubernetes/cmd/kubeadm",),
    binaries=("kubeadm",),
    version_command=("version", "-o", "short"),
    releases=(
        ReleaseArtifact(
            url=_K8S_RELEASE + "kubeadm", checksum_url=_K8S_RELEASE + "kubeadm.sha256", binary="kubeadm"
        ),
    ),
)
"""kubeadm of the newest Kubernetes build, for kind node images (the local cluster runs without it)."""
_ETCD_TGZ = _GITHUB + "etcd-io/etcd/releases/download/{version}/etcd-{version}-linux-" + ARCH + ".tar.gz"
ETCD: Final = Component(
    name="etcd",
    upstream_module="go.etcd.io/etcd/server/v3",
    packages=("k8sharden.local/etcd",),
    binaries=("etcd",),
    releases=(
        ReleaseArtifact(
            url=_ETCD_TGZ,
            checksum_url=_GITHUB + "etcd-io/etcd/releases/download/{version}/SHA256SUMS",
            members=((f"etcd-{{version}}-linux-{ARCH}/etcd", "etcd"),),
        ),
    ),
)

_CONTAINERD_TGZ = (
    _GITHUB + "containerd/containerd/releases/download/{version}/containerd-{bare}-linux-" + ARCH + ".tar.gz"
)
CONTAINERD: Final = Component(
    name="containerd",
    upstream_module="github.com/containerd/containerd/v2",
    packages=tuple(
        f"github.com/containerd/containerd/v2/cmd/{b}"
        for b in ("containerd", "containerd-shim-runc-v2", "ctr")
    ),
    binaries=("containerd", "containerd-shim-runc-v2", "ctr"),
    tags=("no_btrfs", "no_devmapper", "no_zfs"),
    version_ldflags=("github.com/containerd/containerd/v2/version.Version={version}",),
    releases=(
        ReleaseArtifact(
            url=_CONTAINERD_TGZ,
            checksum_url=_CONTAINERD_TGZ + ".sha256sum",
            members=tuple((f"bin/{b}", b) for b in ("containerd", "containerd-shim-runc-v2", "ctr")),
        ),
    ),
)

_RUNC = _GITHUB + "opencontainers/runc/releases/download/{version}/"
RUNC: Final = Component(
    name="runc",
    upstream_module="github.com/opencontainers/runc",
    packages=("github.com/opencontainers/runc",),
    binaries=("runc",),
    cgo=True,
    tags=("seccomp", "urfave_cli_no_docs"),
    releases=(
        ReleaseArtifact(url=_RUNC + "runc." + ARCH, checksum_url=_RUNC + "runc.sha256sum", binary="runc"),
    ),
)

_CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
_CNI_TGZ = (
    _GITHUB
    + "containernetworking/plugins/releases/download/{version}/cni-plugins-linux-"
    + ARCH
    + "-{version}.tgz"
)
CNI_PLUGINS: Final = Component(
    name="cni",
    upstream_module="github.com/containernetworking/plugins",
    packages=(
        "github.com/containernetworking/plugins/plugins/main/bridge",
        "github.com/containernetworking/plugins/plugins/ipam/host-local",
        "github.com/containernetworking/plugins/plugins/main/loopback",
        "github.com/containernetworking/plugins/plugins/meta/portmap",
    ),
    binaries=_CNI_PLUGINS,
    version_command=(),
    releases=(
        ReleaseArtifact(
            url=_CNI_TGZ,
            checksum_url=_CNI_TGZ + ".sha256",
            members=tuple((f"./{p}", p) for p in _CNI_PLUGINS),
        ),
    ),
)

CILIUM: Final = Component(
    name="cilium",
    upstream_module="github.com/cilium/cilium",
    packages=("github.com/cilium/cilium/daemon", "github.com/cilium/cilium/plugins/cilium-cni"),
    binaries=("daemon", "cilium-cni"),
    tags=("osusergo",),
    version_ldflags=("github.com/cilium/cilium/pkg/version.ciliumVersion={bare}",),
    version_command=(),
    module_assets=(("bpf", "lib/bpf"),),
)
"""The NetworkPolicy enforcer of the profiles that enforce policy (chained behind the bridge plugin)."""

_TRAEFIK = _GITHUB + "traefik/traefik/releases/download/{version}/"
TRAEFIK: Final = Component(
    name="traefik",
    upstream_module="github.com/traefik/traefik/v3",
    packages=("github.com/traefik/traefik/v3/cmd/traefik",),
    binaries=("traefik",),
    version_ldflags=("github.com/traefik/traefik/v3/pkg/version.Version={version}",),
    version_command=("version",),
    releases=(
        ReleaseArtifact(
            url=_TRAEFIK + "traefik_{version}_linux_" + ARCH + ".tar.gz",
            checksum_url=_TRAEFIK + "traefik_{version}_checksums.txt",
            members=(("traefik", "traefik"),),
        ),
    ),
)
"""The ingress controller (Ingress and Gateway API providers), run in the node's network namespace."""

ALL_COMPONENTS: Final = (
    ETCD,
    KUBERNETES,
    KUBERNETES_OUTDATED,
    CONTAINERD,
    RUNC,
    CNI_PLUGINS,
    CILIUM,
    TRAEFIK,
)


def cluster_components(kubernetes: Component) -> tuple[Component, ...]:
    """What a cluster running the Kubernetes build ``kubernetes`` needs, that build last.

    KUBERNETES is always among them (the images come from it); where both builds provide a binary, the
    later one, the build the cluster runs, is the one to use.
    """
    others = tuple(c for c in ALL_COMPONENTS if c.name != KUBERNETES.name)
    return (*others, *dict.fromkeys((KUBERNETES, kubernetes)))


def kubernetes_for(profile: Profile) -> Component:
    """The Kubernetes build the local cluster of ``profile`` runs (a patch behind where it asks for one)."""
    return KUBERNETES_OUTDATED if profile.outdated_kubernetes else KUBERNETES
