"""Getting a bundle out of the periodic job's volume through the API, verified on arrival.

A short-lived reader pod (the CronJob's own image, restricted Pod Security level, the claim mounted
read-only, no ServiceAccount token) streams the run's directory as a tar through exec; the pod is deleted
afterwards, whatever happened. Nothing on the volume is changed.
"""

from __future__ import annotations

import io
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubernetes import client

from pytest_k8sharden.evidence.bundle import ManifestDiff, verify_manifest
from pytest_k8sharden.evidence.volume import LATEST, RUN_NAME, VolumeError, check_run_name
from pytest_k8sharden.kube import Kube, KubeNotFound
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.probes.pods import exec_output, pod_manifest

MOUNT: Final = "/evidence"
READER_LIFETIME_S: Final = 600
SCANNER_UID: Final = 65532
"""The CronJob's user, who owns the files on the volume."""


@dataclass(frozen=True)
class Volume:
    """Where the periodic job keeps its evidence."""

    namespace: str = "k8sharden"
    claim: str = "k8sharden-evidence"
    cronjob: str = "k8sharden-scan"
    """Whose image the reader pod runs."""


@dataclass(frozen=True)
class Fetched:
    """A run copied to this machine, and how it compares with its manifest."""

    directory: Path
    diff: ManifestDiff


def fetch_run(kube: Kube, volume: Volume, which: str, target: Path, timeout_s: float = 120) -> Fetched:
    """Copy run ``which`` (``latest`` or its UTC start) from the volume to ``target/<run>/``, then verify."""
    check_run_name(which)
    name = f"k8sharden-evidence-reader-{uuid.uuid4().hex[:8]}"
    kube.core.create_namespaced_pod(volume.namespace, _reader_pod(kube, volume, name))
    try:
        if not wait_until(
            lambda: _phase(kube, volume.namespace, name) == "Running", timeout_s, interval_s=1.0
        ):
            raise VolumeError(f"reader pod {volume.namespace}/{name} not running after {timeout_s:.0f} s")
        run = which
        if which == LATEST:
            run = _exec(kube, volume.namespace, name, ["readlink", f"{MOUNT}/{LATEST}"]).decode().strip()
            if not RUN_NAME.match(run):
                raise VolumeError(f"{LATEST} on the volume points to {run!r}, not to a run")
        archive = _exec(kube, volume.namespace, name, ["tar", "-C", f"{MOUNT}/{run}", "-cf", "-", "."])
    finally:
        kube.core.delete_namespaced_pod(name, volume.namespace, grace_period_seconds=0)
        wait_until(lambda: _phase(kube, volume.namespace, name) is None, timeout_s, interval_s=1.0)
    directory = target / run
    directory.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(directory, filter="data")
    return Fetched(directory, verify_manifest(directory))


def _reader_pod(kube: Kube, volume: Volume, name: str) -> Any:
    """The reader pod as plain JSON: the probe pods' restricted settings, the CronJob's image, its user."""
    cronjob = kube.plain(
        kube.api(client.BatchV1Api).read_namespaced_cron_job(volume.cronjob, volume.namespace)
    )
    image = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    pod = kube.plain(pod_manifest(name, image, (), {"app.kubernetes.io/name": "pytest-k8sharden"}))
    (container,) = pod["spec"]["containers"]
    container["command"] = ["sleep", str(READER_LIFETIME_S)]
    container["securityContext"].update(runAsUser=SCANNER_UID, readOnlyRootFilesystem=True)
    container["volumeMounts"] = [{"name": "evidence", "mountPath": MOUNT, "readOnly": True}]
    pod["spec"]["volumes"] = [
        {"name": "evidence", "persistentVolumeClaim": {"claimName": volume.claim, "readOnly": True}}
    ]
    pod["spec"]["activeDeadlineSeconds"] = READER_LIFETIME_S
    return pod


def _phase(kube: Kube, namespace: str, name: str) -> str | None:
    try:
        pod = kube.core.read_namespaced_pod(name, namespace)
    except KubeNotFound:
        return None
    return str(pod.status.phase) if pod.status else ""


def _exec(kube: Kube, namespace: str, pod: str, command: list[str], timeout_s: float = 120) -> bytes:
    """stdout of ``command`` in the reader pod; VolumeError when it fails."""
    code, stdout, stderr = exec_output(kube, namespace, pod, command, timeout_s)
    if code != 0:
        said = stderr.decode(errors="replace").strip()[-500:]
        raise VolumeError(f"{' '.join(command)} in the reader pod failed (exit {code}): {said}")
    return stdout
