"""The audit outputs of the shipped suites on the insecure local cluster: no planted secret in any of
them, and waivers applied to real findings within their scope.

They are the session's shared insecure run (the ``installed_suite_run`` fixture), which runs after the
``planted`` Secrets (tests/planted.py) with waivers and every output: the evidence.json, the HTML report,
the SARIF log, the JUnit XML, the log file and pytest's own output must all keep the planted values out.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from local_clusters import Running, ShippedRun
from planted import NAMESPACE

pytestmark = pytest.mark.cluster

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")
_ESCAPED_STRING_DATA_REDACTED = re.compile(r'\\+"stringData\\+": \\+"\[REDACTED\]')
"""stringData at least one escape deep (inside the annotation), redacted: the excerpt held the field."""


@pytest.fixture(scope="module")
def insecure_run(installed_suite_run: Callable[[str], ShippedRun]) -> ShippedRun:
    """The session's run of the shipped suites on the insecure cluster, with every output and waivers."""
    return installed_suite_run("insecure")


def _results_by_check(run: ShippedRun) -> dict[str, dict[str, Any]]:
    return {r["check"]: r for r in run.results}


def test_planted_secrets_appear_in_no_output_file(planted: dict[str, str], insecure_run: ShippedRun) -> None:
    directory = insecure_run.directory
    outputs = {path.name: path.read_text(errors="replace") for path in directory.iterdir() if path.is_file()}
    assert {"evidence.json", "report.html", "junit.xml", "results.sarif"} <= set(outputs), (
        f"missing outputs: {sorted(outputs)}\n{insecure_run.output[-5000:]}"
    )
    assert NAMESPACE in outputs["evidence.json"], "the suites never saw the planted Secrets: nothing proven"
    assert NAMESPACE in outputs["report.html"], "the HTML report does not show the response that held them"
    assert _ESCAPED_STRING_DATA_REDACTED.search(outputs["evidence.json"]), (
        "no excerpt showed the applied Secret's escaped stringData: the client-side apply proves nothing"
    )
    log = insecure_run.log.read_text(errors="replace")
    assert "DEBUG" in log, "the log file was not written at DEBUG level"
    outputs["the DEBUG log"], outputs["pytest's output"] = log, insecure_run.output
    for where, text in outputs.items():
        for what, value in planted.items():
            assert value not in text, f"the planted {what} appears in {where}"
        assert not _JWT.search(text), f"a JSON Web Token appears in {where}"


def test_a_namespace_labelled_like_ours_by_someone_else_is_audited(insecure_run: ShippedRun) -> None:
    results = _results_by_check(insecure_run)
    psa, egress = results["PSA-ENFORCE-LABELS"], results["NETPOL-DEFAULT-DENY-EGRESS"]
    assert f"Namespace/{NAMESPACE} has no pod-security" in psa["message"], psa["message"]
    assert f"Namespace/{NAMESPACE}" in egress.get("subjects", []), egress


def test_waivers_apply_to_real_findings_within_their_scope(insecure_run: ShippedRun) -> None:
    results = _results_by_check(insecure_run)
    ingress, egress = results["NETPOL-DEFAULT-DENY-INGRESS"], results["NETPOL-DEFAULT-DENY-EGRESS"]
    assert ingress["outcome"] == "waived"
    assert ingress["waiver"]["reason"] == "accepted on the insecure lab profile"
    # Namespaces other than default lack default deny too: the scoped waiver must not hide them.
    assert "Namespace/default" in egress["subjects"] and len(egress["subjects"]) > 1, egress
    assert egress["outcome"] == "failed" and "waiver" not in egress
    assert "WAIVED" in insecure_run.output and insecure_run.returncode == pytest.ExitCode.TESTS_FAILED


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
