"""deploy/ end to end on the hardened local cluster: the scanner image built here (no registry), imported
into the node's containerd, rbac-read-only.yaml and cronjob.yaml applied, and a Job made from the CronJob
as ``kubectl create job --from=cronjob/...`` makes it.

The pod runs under the namespace's ``restricted`` Pod Security level with the in-cluster configuration
(no kubeconfig: the mounted ServiceAccount token), writes its bundle to the PVC of cronjob.yaml, and its
exit status is the one its findings call for. The audit log shows the scanner wrote nothing and was
refused nothing, and the verdicts equal those of the same identity's run from outside the cluster.

On the insecure profile the same runs, except what it cannot show: its API server keeps no audit log, and
its seeds bind system:anonymous already (so the planted binding is not new there).

The PVC is bound to a statically provisioned hostPath PersistentVolume made here (the local cluster has no
dynamic provisioner yet); the pod itself only names the PVC, as on any cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from deployed import (
    NAMESPACE,
    USERNAME,
    audit_events,
    documents,
    read_only_identity_applied,
    read_only_run_outside,
    refused,
    token_kubeconfig,
    writes,
)
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.clusters.scanner import build_scanner_image
from pytest_k8sharden.evidence.bundle import verify_manifest
from pytest_k8sharden.evidence.volume import LATEST
from pytest_k8sharden.kube import KubeNotFound
from pytest_k8sharden.kubeapply import server_side_apply
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.profiles import get_profile

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).parents[2]
CRONJOB, CLAIM, VOLUME = "k8sharden-scan", "k8sharden-evidence", "k8sharden-evidence-test"
SCANNER_UID = 65532
FAILING = ("failed", "inconclusive", "error")
"""Outcomes that fail the run (pytest's exit status 1) with the CronJob's default options."""


@dataclass(frozen=True)
class Deployed:
    """deploy/ applied to a running cluster, with its scanner image and the volume's host directory."""

    running: Running
    token: str
    volume: Path
    """What the pod sees as /evidence."""
    audited: bool
    """Whether the profile's API server writes an audit log (insecure: no)."""


def _static_volume(path: Path) -> dict[str, Any]:
    """A hostPath PersistentVolume reserved for cronjob.yaml's claim (no provisioner on the local cluster)."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": VOLUME, "labels": {"app.kubernetes.io/name": "pytest-k8sharden"}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "claimRef": {"namespace": NAMESPACE, "name": CLAIM},
            "hostPath": {"path": str(path), "type": "Directory"},
        },
    }


def _with_image(document: dict[str, Any], image: str) -> dict[str, Any]:
    if document["kind"] == "CronJob":
        (container,) = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        container["image"] = image
    return document


@pytest.fixture(scope="module", params=["hardened", "insecure"])
def deployed(
    request: pytest.FixtureRequest,
    local_cluster: Callable[[str], Running],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    """The image built and imported, deploy/ applied; everything removed afterwards, also when interrupted."""
    running = local_cluster(request.param)
    image = build_scanner_image(ROOT, print)
    pinned = running.cluster.import_image(image.archive)  # by digest, as cronjob.yaml asks
    volume = tmp_path_factory.mktemp("evidence-volume")
    os.chown(volume, SCANNER_UID, SCANNER_UID)
    with read_only_identity_applied(running) as token:
        try:
            manifests = [
                _static_volume(volume),
                *(_with_image(d, pinned) for d in documents("cronjob.yaml")),
            ]
            server_side_apply(running.kube, manifests)
            yield Deployed(running, token, volume, get_profile(request.param).audit_policy is not None)
        finally:
            with contextlib.suppress(KubeNotFound):  # the namespace (with the CronJob, Jobs, PVC) goes after
                running.kube.core.delete_persistent_volume(VOLUME)


def _job_from_cronjob(deployed: Deployed, name: str) -> datetime:
    """``kubectl create job --from=cronjob/k8sharden-scan NAME``: the CronJob's job template, as read back."""
    batch = deployed.running.kube.api(client.BatchV1Api)
    cronjob = deployed.running.kube.plain(batch.read_namespaced_cron_job(CRONJOB, NAMESPACE))
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual"},
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": CRONJOB,
                    "uid": cronjob["metadata"]["uid"],
                }
            ],
        },
        "spec": cronjob["spec"]["jobTemplate"]["spec"],
    }
    started = datetime.now(UTC).replace(microsecond=0)
    server_side_apply(deployed.running.kube, [job])
    return started


def _finished_pod(deployed: Deployed, job: str, timeout_s: float = 900) -> dict[str, Any]:
    """The Job's pod (plain JSON) once its container has terminated."""
    kube = deployed.running.kube

    def terminated() -> dict[str, Any] | None:
        listed = kube.plain(kube.core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={job}"))
        for pod in listed["items"]:
            if any("terminated" in s["state"] for s in pod["status"].get("containerStatuses", [])):
                return dict(pod)
        return None

    assert wait_until(lambda: terminated() is not None, timeout_s, interval_s=5.0), f"job {job} never ended"
    pod = terminated()
    assert pod is not None
    return pod


def _exit_code(pod: dict[str, Any]) -> int:
    (status,) = pod["status"]["containerStatuses"]
    return int(status["state"]["terminated"]["exitCode"])


def _runs(volume: Path) -> list[Path]:
    return sorted(p for p in volume.iterdir() if p.is_dir() and not p.is_symlink())


def _verdicts(run: dict[str, Any]) -> dict[str, str]:
    """Test (module file name and function, the same whatever the rootdir) -> outcome."""
    verdicts = {}
    for result in run["results"]:
        path, test = result["nodeid"].split("::", 1)
        verdicts[f"{Path(path).name}::{test}"] = result["outcome"]
    return verdicts


def _result(run: dict[str, Any], check: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in run["results"] if r["check"] == check]
    assert len(found) == 1, f"{len(found)} results of {check}"
    return found[0]


@dataclass(frozen=True)
class JobRun:
    """One Job made from the CronJob, once its pod ended."""

    bundle: Path
    evidence: dict[str, Any]
    exit_code: int
    log: str
    audit: list[dict[str, Any]] | None
    """The scanner's requests while it ran (None: the API server keeps no audit log)."""


def _run_job(deployed: Deployed, name: str) -> JobRun:
    before = set(_runs(deployed.volume))
    started = _job_from_cronjob(deployed, name)
    pod = _finished_pod(deployed, name)
    log = deployed.running.kube.core.read_namespaced_pod_log(pod["metadata"]["name"], NAMESPACE)
    time.sleep(2)  # the audit log is written after the response
    events = audit_events(deployed.running, started) if deployed.audited else None
    (bundle,) = set(_runs(deployed.volume)) - before
    evidence = bundle / "evidence.json"
    assert evidence.is_file(), f"no evidence.json in {bundle}; the pod said:\n{log[-4000:]}"
    return JobRun(bundle, json.loads(evidence.read_text()), _exit_code(pod), log, events)


@pytest.fixture(scope="module")
def first_run(deployed: Deployed) -> JobRun:
    """The first Job's run (nothing to compare with yet)."""
    return _run_job(deployed, "scan-first")


def test_a_job_from_the_cronjob_scans_from_inside_as_the_read_only_identity(
    deployed: Deployed, first_run: JobRun, tmp_path: Path
) -> None:
    assert verify_manifest(first_run.bundle).clean, f"{first_run.bundle} does not match its manifest"
    assert (deployed.volume / LATEST).resolve() == first_run.bundle.resolve()
    run = first_run.evidence["run"]
    assert run["identity"].startswith(USERNAME), run["identity"]
    in_cluster = f"https://{deployed.running.addresses.kubernetes_service_ip}:443"  # the `kubernetes` Service
    assert (run["cluster"]["provider"], run["cluster"]["server"]) == ("existing", in_cluster), run["cluster"]
    inside = _verdicts(first_run.evidence)
    expected_exit = 1 if any(o in FAILING for o in inside.values()) else 0
    assert first_run.exit_code == expected_exit, first_run.log[-4000:]

    kubeconfig = token_kubeconfig(deployed.running, deployed.token, tmp_path / "kubeconfig")
    outside = _verdicts(read_only_run_outside(kubeconfig, tmp_path))
    differing = {n: (o, outside.get(n)) for n, o in inside.items() if o != outside.get(n)}
    assert differing == {} and inside.keys() == outside.keys(), differing


def test_the_in_cluster_run_wrote_nothing_and_was_refused_nothing(
    deployed: Deployed, first_run: JobRun
) -> None:
    if first_run.audit is None:
        pytest.skip(f"the {deployed.running.profile} profile's API server writes no audit log")
    assert first_run.audit, "the audit log shows no request of the scanner"
    assert refused(first_run.audit) == [], (
        f"requests of the in-cluster run refused: {refused(first_run.audit)}"
    )
    assert writes(first_run.audit) == [], f"the in-cluster run changed the cluster: {writes(first_run.audit)}"


PLANTED = "k8sharden-test-anonymous-reader"
"""A ClusterRole bound to system:anonymous: RBAC-ANONYMOUS-BINDINGS fails (new) once it exists."""


@contextlib.contextmanager
def _anonymous_binding(deployed: Deployed) -> Iterator[None]:
    rbac = deployed.running.kube.rbac
    group = "rbac.authorization.k8s.io"
    role = {"apiVersion": f"{group}/v1", "kind": "ClusterRole", "metadata": {"name": PLANTED},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}  # fmt: skip
    binding = {
        "apiVersion": f"{group}/v1", "kind": "ClusterRoleBinding", "metadata": {"name": PLANTED},
        "roleRef": {"apiGroup": group, "kind": "ClusterRole", "name": PLANTED},
        "subjects": [{"apiGroup": group, "kind": "User", "name": "system:anonymous"}],
    }  # fmt: skip
    try:
        server_side_apply(deployed.running.kube, [role, binding])
        yield
    finally:
        with contextlib.suppress(KubeNotFound):
            rbac.delete_cluster_role_binding(PLANTED)
        with contextlib.suppress(KubeNotFound):
            rbac.delete_cluster_role(PLANTED)


def test_the_next_job_marks_a_planted_finding_new_and_an_unchanged_one_known(
    deployed: Deployed, first_run: JobRun
) -> None:
    """RBAC-NODES-PROXY fails in both runs (the scanner's own `get nodes/proxy`); the planted anonymous
    binding fails only in the second."""
    if deployed.running.profile != "hardened":
        pytest.skip(
            "the insecure profile's seeds bind system:anonymous already: the planted binding is not new"
        )
    assert _result(first_run.evidence, "RBAC-NODES-PROXY")["outcome"] == "failed"
    assert _result(first_run.evidence, "RBAC-ANONYMOUS-BINDINGS")["outcome"] == "passed"
    with _anonymous_binding(deployed):
        second = _run_job(deployed, "scan-second")
    assert (deployed.volume / LATEST).resolve() == second.bundle.resolve()
    planted = _result(second.evidence, "RBAC-ANONYMOUS-BINDINGS")
    assert (planted["outcome"], planted.get("baseline")) == ("failed", "new"), planted
    assert PLANTED in planted["message"], planted["message"]
    unchanged = _result(second.evidence, "RBAC-NODES-PROXY")
    assert (unchanged["outcome"], unchanged.get("baseline")) == ("failed", "known"), unchanged
    known = sum(r.get("baseline") == "known" for r in second.evidence["results"])
    new = sum(r.get("baseline") == "new" for r in second.evidence["results"])
    assert f"k8sharden: {new} new and {known} known failures (baseline " in second.log, second.log[-3000:]
    assert second.exit_code == 1


def _fetch(deployed: Deployed, which: str, target: Path) -> subprocess.CompletedProcess[str]:
    kubeconfig = deployed.running.cluster.state.kubeconfig
    command = [sys.executable, "-m", "pytest_k8sharden.cli", "evidence", "fetch",
               f"--kubeconfig={kubeconfig}", f"--run={which}", str(target)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_evidence_fetch_brings_a_run_back_verified_and_catches_a_tampered_file(
    deployed: Deployed, first_run: JobRun, tmp_path: Path
) -> None:
    fetched = _fetch(deployed, LATEST, tmp_path / "clean")
    latest = (deployed.volume / LATEST).resolve()
    assert fetched.returncode == 0, fetched.stderr
    copied = tmp_path / "clean" / latest.name
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in latest.iterdir())
    assert (copied / "evidence.json").read_bytes() == (latest / "evidence.json").read_bytes()

    report = first_run.bundle / "report.html"
    original = report.read_bytes()
    try:
        report.write_bytes(original.replace(b"failed", b"passed"))
        tampered = _fetch(deployed, first_run.bundle.name, tmp_path / "tampered")
    finally:
        report.write_bytes(original)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    assert "changed: report.html" in tampered.stdout
    pods = deployed.running.kube.plain(deployed.running.kube.core.list_namespaced_pod(NAMESPACE))["items"]
    readers = [p["metadata"]["name"] for p in pods if "reader" in p["metadata"]["name"]]
    assert readers == [], f"reader pods left: {readers}"
