"""No false pass: when the probes cannot run, the suites' checks are inconclusive or error, never passed.

Each case runs every shipped suite in a subprocess against the session's hardened local cluster, whose
checks pass on a clean run (test_suites_on_local.py), with one way of making the probes unable to look:
an identity with no rights at all, a probe image that cannot start, a probe timeout too short for any
answer, or an API server address nobody answers at. A check may still pass where what it needs was not
taken away (a TLS handshake needs no rights; reading RBAC needs no probe pod); each case says which.
"""

from __future__ import annotations

import base64
import json
import socket
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
RIGHTS_FREE_CHECKS = frozenset(
    {"API-TLS-PROTOCOL", "API-TLS-CIPHERS", "API-TLS-CERT", "VERSION-APISERVER-SUPPORTED"}
)
"""TLS handshakes with the API server from the runner, and GET /version (which every identity may read):
they need no rights, only the address."""
POD_FREE_ISOLATION_CHECKS = frozenset({"NETPOL-DEFAULT-DENY-INGRESS", "NETPOL-DEFAULT-DENY-EGRESS"})
"""Isolation checks that only read NetworkPolicies through the API: they need no probe pod."""
ISOLATION_SUITE = "test_network_isolation.py"
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
    done = _run(kubeconfig, workdir, *options)
    evidence = workdir / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stdout + done.stderr
    return {r["check"]: r for r in json.loads(evidence.read_text())["results"]}


def _run(kubeconfig: Path, workdir: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={kubeconfig}", f"--evidence-dir={workdir}", "--workload-namespaces=k8sharden-shop",
        *options,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False, cwd=workdir)


def _passed(results: dict[str, dict[str, Any]], exempt: frozenset[str] = frozenset()) -> list[str]:
    passed = {c: r for c, r in results.items() if r["outcome"] == "passed"}
    return [f"{c}: {r['message']}" for c, r in passed.items() if c not in exempt]


def _heard_nothing(observation: dict[str, Any]) -> bool:
    """The observation is a probe that got no answer within the timeout."""
    details = observation.get("details") or {}
    return (
        "timed out" in str(observation.get("error") or "")
        or details.get("outcome") == "TIMEOUT"
        or "TIMEOUT" in str(details.get("output", ""))
    )


def test_forbidden_scanner_passes_nothing_that_needs_rights(
    no_rights_kubeconfig: Path, tmp_path: Path
) -> None:
    results = _run_suites(no_rights_kubeconfig, tmp_path, f"--probe-image={PROBE_IMAGE}")
    assert len(results) >= 60
    assert _passed(results, RIGHTS_FREE_CHECKS) == []
    assert {r["outcome"] for c, r in results.items() if c not in RIGHTS_FREE_CHECKS} <= {
        *COULD_NOT_LOOK,
        "skipped",
    }


def test_probe_image_that_cannot_start_passes_no_check_that_probes_from_pods(
    hardened: Running, tmp_path: Path
) -> None:
    results = _run_suites(hardened.cluster.state.kubeconfig, tmp_path, f"--probe-image={MISSING_IMAGE}")
    from_pods = {
        c: r
        for c, r in results.items()
        if ISOLATION_SUITE in r["nodeid"] and c not in POD_FREE_ISOLATION_CHECKS
    }
    assert from_pods and all(r["outcome"] in COULD_NOT_LOOK for r in from_pods.values()), from_pods
    assert any("could not start" in r["message"] for r in from_pods.values())
    for check, result in results.items():
        pod_seen = [o for o in result["evidence"] if str(o.get("vantage", "")).startswith("pod:")]
        assert result["outcome"] != "passed" or not pod_seen, f"{check} passed on a pod that never ran"


def test_probe_timeout_too_short_for_any_answer_passes_nothing_that_needs_one(
    hardened: Running, tmp_path: Path
) -> None:
    results = _run_suites(
        hardened.cluster.state.kubeconfig, tmp_path, f"--probe-image={PROBE_IMAGE}", "--probe-timeout=0.0001"
    )
    # A door that times out is not a door that refused: a pass needs at least one real answer or API read.
    for check, result in results.items():
        if result["outcome"] == "passed":
            heard = [o for o in result["evidence"] if not _heard_nothing(o)]
            assert heard, f"{check} passed on timeouts alone: {result['message']}"
    for check in ("METADATA-BLOCKED", "ISOLATED-NAMESPACE-CONTROL-PLANE"):
        assert results[check]["outcome"] in COULD_NOT_LOOK, results[check]


def test_api_server_nobody_answers_at_passes_nothing(hardened: Running, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    document = yaml.safe_load(hardened.cluster.state.kubeconfig.read_text())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(document))
    done = _run(kubeconfig, tmp_path, f"--probe-image={PROBE_IMAGE}")
    output = done.stdout + done.stderr
    assert done.returncode not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output[-3000:]
    assert f"https://127.0.0.1:{port} is unreachable" in output
    assert "Traceback" not in output
    evidence = tmp_path / "evidence.json"
    if evidence.exists():
        assert [r for r in json.loads(evidence.read_text())["results"] if r["outcome"] == "passed"] == []
