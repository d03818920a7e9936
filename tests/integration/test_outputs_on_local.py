"""The audit outputs of the shipped suites on the insecure local cluster: no planted secret in any of
them, and waivers applied to real findings within their scope.

On the insecure local cluster anonymous clients read /api/v1/secrets, so the exposure suites really
receive the planted Secret (its name is in the evidence) and must redact its values everywhere: the
evidence.json, the HTML report, the SARIF log, the JUnit XML, the log file and pytest's own output. A
second Secret is applied with client-side ``kubectl apply``: kubectl keeps its manifest, stringData in
plaintext, in the ``last-applied-configuration`` annotation, which the cut-off SecretList excerpt shows as
escaped JSON.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from local_clusters import Running, run_shipped_suites

from pytest_k8sharden.clusters.local import binaries
from pytest_k8sharden.ownership import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL
from pytest_k8sharden.profiles import get_profile

pytestmark = pytest.mark.cluster

NAMESPACE = "a-k8sh-planted"
"""Sorted before every other namespace, so the planted Secrets lead the anonymous SecretList excerpt."""
SECRET_NAME = "k8sh-planted-credentials"
APPLIED_NAME = "a"
"""Sorted first in its namespace, and short: its annotation's stringData falls inside the 512-byte excerpt."""
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
_ESCAPED_STRING_DATA_REDACTED = re.compile(r'\\+"stringData\\+": \\+"\[REDACTED\]')
"""stringData at least one escape deep (inside the annotation), redacted: the excerpt held the field."""


LABELLED_LIKE_OURS = {MANAGED_BY_LABEL: MANAGED_BY, "k8sharden.io/probe": "true", RUN_LABEL: "someone-else"}
"""Labels anyone who may label a namespace can set: they take nothing out of the audit."""


def _encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _apply_client_side(running: Running, password: str) -> None:
    """``kubectl apply`` (client-side: kubectl writes the last-applied-configuration annotation)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": APPLIED_NAME, "namespace": NAMESPACE},
        "stringData": {"p": password},
    }
    kubectl = binaries.ensure(get_profile(running.profile).kubernetes, print).paths["kubectl"]
    done = running.cluster.kubectl(kubectl, "apply", "-f", "-", stdin=json.dumps(manifest))
    assert done.returncode == 0, done.stderr
    applied = running.kube.core.read_namespaced_secret(APPLIED_NAME, NAMESPACE)
    assert applied.metadata is not None
    annotations = applied.metadata.annotations or {}
    assert password in annotations["kubectl.kubernetes.io/last-applied-configuration"], "not client-side"


@pytest.fixture(scope="module")
def planted(local_cluster: Callable[[str], Running]) -> Iterator[dict[str, str]]:
    """A Secret with a password and a real ServiceAccount token (insecure cluster): what must not leak. Its
    namespace is labelled like the scanner's own by someone else: it must still be audited."""
    running = local_cluster("insecure")
    core = running.kube.core
    meta = client.V1ObjectMeta(name=NAMESPACE, labels=LABELLED_LIKE_OURS)
    core.create_namespace(client.V1Namespace(metadata=meta))
    try:
        core.create_namespaced_service_account(
            NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="planted"))
        )
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        issued = core.create_namespaced_service_account_token("planted", NAMESPACE, request)
        assert issued.status is not None and issued.status.token
        token = str(issued.status.token)
        password = f"k8sh-planted-{secrets.token_hex(12)}"
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=SECRET_NAME),
                string_data={"password": password, "token": token},
            ),
        )
        applied_password = f"k8sh-applied-{secrets.token_hex(6)}"
        _apply_client_side(running, applied_password)
        kubeconfig = yaml.safe_load(running.cluster.state.kubeconfig.read_text())
        key = kubeconfig["users"][0]["user"]["client-key-data"]
        key_body = base64.b64decode(key).decode().splitlines()[1]  # the first line of the PEM's body
        yield {
            "password": password,
            "password (base64)": _encoded(password),
            "client-side-applied password": applied_password,
            "client-side-applied password (base64)": _encoded(applied_password),
            "token": token,
            "token signature": token.rsplit(".", 1)[-1],
            "token (base64)": _encoded(token)[:60],
            "scanner client key": key,
            "scanner client key (PEM)": key_body,
        }
    finally:
        core.delete_namespace(NAMESPACE)


WAIVERS = """\
waivers:
  - id: NETPOL-DEFAULT-DENY-INGRESS
    reason: accepted on the insecure lab profile
    owner: lab@example.com
    expires: 2999-12-31
  - id: NETPOL-DEFAULT-DENY-EGRESS
    scope: {namespace: default}
    reason: only default is accepted; every other namespace must deny egress
    owner: lab@example.com
    expires: 2999-12-31
"""


@pytest.fixture(scope="module")
def insecure_run(
    planted: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The shipped suites against the insecure cluster with every output, the log file and waivers."""
    directory = tmp_path_factory.mktemp("insecure-outputs")
    (directory / "waivers.yaml").write_text(WAIVERS)
    done = run_shipped_suites(
        "insecure", directory, "-rA", f"--waivers={directory}/waivers.yaml",
        f"--html={directory}/report.html", "--self-contained-html", f"--junitxml={directory}/junit.xml",
        f"--sarif={directory}/results.sarif", f"--log-file={directory}/pytest.log", "--log-file-level=DEBUG",
    )  # fmt: skip
    return directory, done


def _results_by_check(directory: Path) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in json.loads((directory / "evidence.json").read_text())["results"]}


def test_planted_secrets_appear_in_no_output_file(
    planted: dict[str, str], insecure_run: tuple[Path, subprocess.CompletedProcess[str]]
) -> None:
    directory, done = insecure_run
    outputs = {path.name: path.read_text(errors="replace") for path in directory.iterdir() if path.is_file()}
    assert {"evidence.json", "report.html", "junit.xml", "results.sarif", "pytest.log"} <= set(outputs), (
        f"missing outputs: {sorted(outputs)}\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    )
    assert NAMESPACE in outputs["evidence.json"], "the suites never saw the planted Secrets: nothing proven"
    assert NAMESPACE in outputs["report.html"], "the HTML report does not show the response that held them"
    assert _ESCAPED_STRING_DATA_REDACTED.search(outputs["evidence.json"]), (
        "no excerpt showed the applied Secret's escaped stringData: the client-side apply proves nothing"
    )
    outputs["pytest stdout"], outputs["pytest stderr"] = done.stdout, done.stderr
    for where, text in outputs.items():
        for what, value in planted.items():
            assert value not in text, f"the planted {what} appears in {where}"
        assert not _JWT.search(text), f"a JSON Web Token appears in {where}"


def test_a_namespace_labelled_like_ours_by_someone_else_is_audited(
    insecure_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = insecure_run
    results = _results_by_check(directory)
    psa, egress = results["PSA-ENFORCE-LABELS"], results["NETPOL-DEFAULT-DENY-EGRESS"]
    assert f"Namespace/{NAMESPACE} has no pod-security" in psa["message"], psa["message"]
    assert f"Namespace/{NAMESPACE}" in egress.get("subjects", []), egress


def test_waivers_apply_to_real_findings_within_their_scope(
    insecure_run: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, done = insecure_run
    results = _results_by_check(directory)
    ingress, egress = results["NETPOL-DEFAULT-DENY-INGRESS"], results["NETPOL-DEFAULT-DENY-EGRESS"]
    assert ingress["outcome"] == "waived"
    assert ingress["waiver"]["reason"] == "accepted on the insecure lab profile"
    # Namespaces other than default lack default deny too: the scoped waiver must not hide them.
    assert "Namespace/default" in egress["subjects"] and len(egress["subjects"]) > 1, egress
    assert egress["outcome"] == "failed" and "waiver" not in egress
    assert "WAIVED" in done.stdout and done.returncode == pytest.ExitCode.TESTS_FAILED


CRASHING_CHECK = """
import pytest


@pytest.mark.control("NETPOL-DEFAULT-DENY-INGRESS")
def test_default_deny_everywhere(kube, evidence):
    namespaces = kube.core.list_namespace().items  # a real read, then a programming error
    assert namespaces
    {}["policies"]
"""
WAIVE_THE_CHECK = """
waivers:
  - id: NETPOL-DEFAULT-DENY-INGRESS
    reason: covers failures, never a crash
    owner: lab@example.com
    expires: 2999-12-31
"""


def test_a_check_that_crashes_is_an_error_no_waiver_or_gate_excuses(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    local_cluster("insecure")
    (tmp_path / "test_acme.py").write_text(CRASHING_CHECK)
    (tmp_path / "waivers.yaml").write_text(WAIVE_THE_CHECK)
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "test_acme.py", "--cluster=local",
        "--cluster-profile=insecure", "--keep-cluster", f"--evidence-dir={tmp_path}",
        "--waivers=waivers.yaml", "--fail-severity=critical", "-rA",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    [result] = json.loads((tmp_path / "evidence.json").read_text())["results"]
    assert result["outcome"] == "error", result
    assert "KeyError" in result["message"] and "waiver" not in result, result
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:]
    assert "ERROR test_acme.py::test_default_deny_everywhere" in done.stdout, done.stdout[-3000:]
