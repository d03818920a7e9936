"""No false pass: when the probes cannot run, the suites' checks are inconclusive or error, never passed.

Each case runs the shipped suites (exposure and network isolation) in a subprocess against the session's
hardened local cluster, whose checks all pass on a clean run (test_suites_on_local.py), with one way of
making the probes unable to look: an identity with no rights at all, a probe image that cannot start,
or a probe timeout too short for any answer.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.clusters.local.images import PROBE_IMAGE

pytestmark = pytest.mark.cluster

NO_RIGHTS_ACCOUNT = "k8sharden-no-rights"
MISSING_IMAGE = "k8sharden.local/does-not-exist:0"
POD_FREE_CHECKS = frozenset({"NETPOL-DEFAULT-DENY-INGRESS", "NETPOL-DEFAULT-DENY-EGRESS"})
"""Checks that only read NetworkPolicies through the API: a probe pod that cannot start does not stop them."""
COULD_NOT_LOOK = ("inconclusive", "error")


@pytest.fixture(scope="module")
def hardened(local_cluster: Callable[[str], Running]) -> Running:
    return local_cluster("hardened")


@pytest.fixture(scope="module")
def no_rights_kubeconfig(hardened: Running, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A kubeconfig of a fresh ServiceAccount bound to nothing (every request but discovery is Forbidden)."""
    kube = hardened.kube
    meta = client.V1ObjectMeta(name=NO_RIGHTS_ACCOUNT)
    kube.core.create_namespaced_service_account("default", client.V1ServiceAccount(metadata=meta))
    try:
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        token = kube.core.create_namespaced_service_account_token(NO_RIGHTS_ACCOUNT, "default", request)
        ca = Path(str(kube.configuration.ssl_ca_cert)).read_bytes()
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": {
                "server": kube.server, "certificate-authority-data": base64.b64encode(ca).decode()}}],
            "users": [{"name": "no-rights", "user": {"token": token.status and token.status.token}}],
            "contexts": [{"name": "no-rights", "context": {"cluster": "local", "user": "no-rights"}}],
            "current-context": "no-rights",
        }  # fmt: skip
        path = tmp_path_factory.mktemp("no-rights") / "kubeconfig"
        path.write_text(yaml.safe_dump(document))
        yield path
    finally:
        kube.core.delete_namespaced_service_account(NO_RIGHTS_ACCOUNT, "default")


def _run_suites(kubeconfig: Path, workdir: Path, *options: str) -> dict[str, dict[str, Any]]:
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", f"--evidence-dir={workdir}", "--workload-namespaces=k8sharden-shop",
        *options,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False, cwd=workdir)
    evidence = workdir / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stdout + done.stderr
    return {r["check"]: r for r in json.loads(evidence.read_text())["results"]}


def _passed(results: dict[str, dict[str, Any]], exempt: frozenset[str] = frozenset()) -> list[str]:
    passed = {c: r for c, r in results.items() if r["outcome"] == "passed"}
    return [f"{c}: {r['message']}" for c, r in passed.items() if c not in exempt]


def test_forbidden_scanner_passes_nothing(no_rights_kubeconfig: Path, tmp_path: Path) -> None:
    results = _run_suites(no_rights_kubeconfig, tmp_path, f"--probe-image={PROBE_IMAGE}")
    assert len(results) >= 20
    assert _passed(results) == []
    assert {r["outcome"] for r in results.values()} <= {*COULD_NOT_LOOK, "skipped"}


def test_probe_image_that_cannot_start_passes_no_probing_check(hardened: Running, tmp_path: Path) -> None:
    results = _run_suites(hardened.cluster.state.kubeconfig, tmp_path, f"--probe-image={MISSING_IMAGE}")
    assert _passed(results, POD_FREE_CHECKS) == []
    probing = [r for c, r in results.items() if c not in POD_FREE_CHECKS and r["outcome"] != "skipped"]
    assert probing and all(r["outcome"] in COULD_NOT_LOOK for r in probing)
    assert any("could not start" in r["message"] for r in probing)


def test_probe_timeout_too_short_for_any_answer_passes_nothing_that_needs_one(
    hardened: Running, tmp_path: Path
) -> None:
    results = _run_suites(
        hardened.cluster.state.kubeconfig, tmp_path, f"--probe-image={PROBE_IMAGE}", "--probe-timeout=0.0001"
    )
    # A door that times out is not a door that refused: nothing that needs an answer may pass.
    assert _passed(results, POD_FREE_CHECKS) == []
