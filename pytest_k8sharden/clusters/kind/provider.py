"""The ``--cluster=kind`` provider: a kind cluster ``k8sharden-<profile>`` rendered from the profile."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from pytest_k8sharden.clusters.base import ClusterAccess, ClusterUnavailable
from pytest_k8sharden.clusters.downloads import DownloadError, cache_root
from pytest_k8sharden.clusters.kind.binary import ensure_kind
from pytest_k8sharden.clusters.kind.config import cluster_name, dump, write_files
from pytest_k8sharden.clusters.seeding import apply_seeds
from pytest_k8sharden.kube import Kube, KubeError, connect
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.profiles import get_profile
from pytest_k8sharden.seeds import SEED_IMAGE
from pytest_k8sharden.settings import UPSTREAM_PROBE_IMAGE

if TYPE_CHECKING:
    from kubernetes.client import V1Node

Progress = Callable[[str], None]

READY_TIMEOUT_S: Final = 300.0
CREATE_TIMEOUT_S: Final = 900.0
PROGRESS_EVERY_S: Final = 10.0
KIND_MESSAGE_LIMIT: Final = 2000


def _not_ready(nodes: Sequence[V1Node]) -> list[str]:
    """The names of the nodes whose Ready condition is not True."""
    waiting = []
    for node in nodes:
        conditions = (node.status.conditions if node.status else None) or []
        if not any(c.type == "Ready" and c.status == "True" for c in conditions):
            waiting.append(str(node.metadata.name if node.metadata else "?"))
    return waiting


@final
class KindProvider:
    """Creates (or reuses) the profile's kind cluster for the session and deletes it unless kept.

    The kubeconfig goes to a private temporary file; the user's ~/.kube/config is never read or written.
    """

    def __init__(
        self,
        profile: str,
        keep: bool,
        progress: Progress,
        load_probe_image: bool = True,
        ready_timeout: float = READY_TIMEOUT_S,
    ) -> None:
        self.profile = get_profile(profile)
        self.name = cluster_name(profile)
        self.keep = keep
        self.progress = progress
        self.load_probe_image = load_probe_image
        self.ready_timeout = ready_timeout
        self.files_dir = cache_root() / "kind" / "files" / profile
        """The profile's files (audit policy, encryption key...) the node mounts; they live as long as it
        (``<files>/<profile>/`` as config.write_files lays them out; one kind cluster per profile)."""
        self._kind: Path | None = None
        self._workdir: Path | None = None
        self._ours = False
        """A cluster was created or taken over by acquire(): release() deletes it unless kept."""

    # ----------------------------------------------------------------------------------- kind CLI
    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        assert self._kind is not None
        return subprocess.run(
            [str(self._kind), *args], capture_output=True, text=True, timeout=timeout, check=False
        )

    def _clusters(self) -> list[str]:
        listed = self._run("get", "clusters")
        if listed.returncode != 0:
            raise ClusterUnavailable(f"kind get clusters failed: {_kind_message(listed)}")
        return listed.stdout.split()

    # ------------------------------------------------------------------------------------ acquire
    def acquire(self) -> ClusterAccess:
        """Create the cluster (or reuse a kept one), wait for its nodes, and say how to reach it."""
        try:
            self._kind = ensure_kind(self.progress)
        except DownloadError as exc:
            raise ClusterUnavailable(f"no kind executable: {exc}") from None
        self._workdir = Path(tempfile.mkdtemp(prefix="k8sharden-kind-"))  # release() removes it
        kubeconfig = self._workdir / "kubeconfig"
        if self.name in self._clusters():
            self.progress(f"reusing kind cluster {self.name}")
            exported = self._run("export", "kubeconfig", "--name", self.name, "--kubeconfig", str(kubeconfig))
            if exported.returncode != 0:
                raise ClusterUnavailable(f"kind export kubeconfig failed: {_kind_message(exported)}")
        else:
            self._create(kubeconfig)
        self._ours = True
        kubeconfig.chmod(0o600)
        probe = self._probe_image()
        probe_image = self._load(*probe) if probe and self.load_probe_image else None
        access = ClusterAccess("kind", self.profile.name, kubeconfig, None, probe_image)
        self._settle(access, self._seed_image(probe))
        return access

    def _create(self, kubeconfig: Path) -> None:
        assert self._workdir is not None
        write_files(self.profile, self.files_dir.parent)
        config = self._workdir / "config.yaml"
        config.write_text(dump(self.profile, self.files_dir.parent))
        self.progress(f"creating kind cluster {self.name} (profile {self.profile.name})")
        started = time.monotonic()
        created = self._run(
            "create", "cluster", "--name", self.name, "--config", str(config),
            "--kubeconfig", str(kubeconfig), "--wait", "0s", timeout=CREATE_TIMEOUT_S,
        )  # fmt: skip
        if created.returncode != 0:
            self.progress(f"kind create cluster {self.name} failed; deleting what it left")
            self._delete()
            raise ClusterUnavailable(f"kind create cluster {self.name} failed: {_kind_message(created)}")
        self.progress(f"created kind cluster {self.name} in {time.monotonic() - started:.0f} s")

    def _probe_image(self) -> tuple[str, Path] | None:
        """The local probe image (its reference and OCI archive), when its binaries are at hand."""
        assert self._workdir is not None
        try:
            from pytest_k8sharden.clusters.local import binaries, images
            from pytest_k8sharden.clusters.local.components import KUBERNETES
        except ImportError as exc:
            self.progress(f"no local probe image ({exc}); the nodes pull the upstream one")
            return None
        try:
            agnhost = binaries.ensure(KUBERNETES, lambda _: None, sources=("path", "cache")).paths["agnhost"]
            spec = images.probe_image(images.PROBE_IMAGE, agnhost)
            return spec.reference, images.write_oci_archive(spec, self._workdir / "probe.tar")
        except (DownloadError, images.ImageError) as exc:
            self.progress(f"no local probe image ({exc}); the nodes pull the upstream one")
            return None

    def _load(self, reference: str, archive: Path) -> str:
        """Load the probe image's archive into the nodes."""
        self.progress(f"loading {reference} into {self.name}")
        loaded = self._run("load", "image-archive", str(archive), "--name", self.name, timeout=600.0)
        if loaded.returncode != 0:
            raise ClusterUnavailable(f"kind load image-archive failed: {_kind_message(loaded)}")
        return reference

    def _seed_image(self, probe: tuple[str, Path] | None) -> str:
        """The image the seeded workloads run: the local probe image (by digest where the profile pins
        images), as the local cluster seeds them; the upstream one without it."""
        if probe is None:
            return UPSTREAM_PROBE_IMAGE
        reference, archive = probe
        if not self.profile.images_by_digest:
            return reference
        from pytest_k8sharden.clusters.local.images import pinned_reference

        return pinned_reference(archive)

    def _settle(self, access: ClusterAccess, seed_image: str) -> None:
        """Apply the profile's cluster RBAC seeds, wait for the nodes to be Ready, then apply the rest."""
        try:
            kube = connect(access)
        except KubeError as exc:
            raise ClusterUnavailable(str(exc)) from None
        profile, images = self.profile, {SEED_IMAGE: seed_image}
        try:
            apply_seeds(kube, profile.access_seeds, f"the {profile.name} profile's cluster RBAC seeds",
                        images, self.progress)  # fmt: skip
            self._wait_for_nodes(kube)
            apply_seeds(
                kube, profile.workload_seeds, f"the {profile.name} profile seeds", images, self.progress
            )
        finally:
            kube.close()

    def _wait_for_nodes(self, kube: Kube) -> None:
        started = time.monotonic()
        next_report = started + PROGRESS_EVERY_S
        nodes: list[Any] = []
        waiting: list[str] = []

        def all_ready() -> bool:
            nonlocal nodes, waiting, next_report
            try:
                nodes = kube.core.list_node().items or []
                waiting = _not_ready(nodes)
            except KubeError as exc:
                nodes, waiting = [], [f"API server: {exc}"]
            if nodes and not waiting:
                return True
            if time.monotonic() >= next_report:
                self.progress(f"waiting for nodes of {self.name}: {', '.join(waiting) or 'none yet'}")
                next_report += PROGRESS_EVERY_S
            return False

        if not wait_until(all_ready, self.ready_timeout, interval_s=1.0):
            raise ClusterUnavailable(
                f"kind cluster {self.name}: nodes not Ready after {self.ready_timeout:.0f} s "
                f"(waiting for: {', '.join(waiting) or 'any node to register'})"
            )
        self.progress(f"{len(nodes)} node(s) Ready after {time.monotonic() - started:.0f} s")

    # ------------------------------------------------------------------------------------ release
    def release(self) -> None:
        """Delete the cluster, unless --keep-cluster asked to leave it for the next run (also after a
        failed acquire(): a cluster that was created but never became Ready is deleted too)."""
        try:
            if self.keep:
                self.progress(f"keeping kind cluster {self.name} (--keep-cluster); `kind delete cluster "
                              f"--name {self.name}` removes it")  # fmt: skip
            elif self._ours:
                self._delete()
        finally:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)

    def _delete(self) -> None:
        assert self._workdir is not None
        # --kubeconfig: kind removes the cluster's entry from that file, not from ~/.kube/config
        deleted = self._run(
            "delete", "cluster", "--name", self.name, "--kubeconfig", str(self._workdir / "kubeconfig")
        )
        if deleted.returncode != 0:
            self.progress(f"kind delete cluster {self.name} failed: {_kind_message(deleted)}")
        shutil.rmtree(self.files_dir, ignore_errors=True)


def _kind_message(result: subprocess.CompletedProcess[str]) -> str:
    """kind's own words (stderr, else stdout), cut short."""
    text = result.stderr.strip() or result.stdout.strip() or f"exit status {result.returncode}"
    return text[-KIND_MESSAGE_LIMIT:]
