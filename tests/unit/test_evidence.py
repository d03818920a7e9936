"""Evidence model: Observations, verdicts, the recorder, evidence.json, the manifest and the HTML extras."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _pytest._code.code
import pytest

from pytest_k8sharden.catalog import load_catalog
from pytest_k8sharden.evidence import Evidence, Inconclusive, Observation, Outcome
from pytest_k8sharden.evidence.bundle import (
    SCHEMA,
    CheckResult,
    ClusterSummary,
    ManifestError,
    RunInfo,
    verify_manifest,
    write_bundle,
)
from pytest_k8sharden.evidence.html import render_result, render_summary
from pytest_k8sharden.evidence.verdict import Finding, Phase, verdict
from pytest_k8sharden.kube import KubeForbidden
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.redact import REDACTED
from pytest_k8sharden.runstate import NO_VERDICT, judge_phase

PASSED, FAILED, INCONCLUSIVE = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE
SKIPPED, ERROR = Outcome.SKIPPED, Outcome.ERROR

WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

CHECKS = """
import pytest
from pytest_k8sharden.evidence import Inconclusive
from pytest_k8sharden.kube import KubeForbidden

@pytest.fixture
def unreachable_pod():
    raise Inconclusive("probe pod never became ready")

@pytest.fixture
def broken():
    raise RuntimeError("fixture bug")

@pytest.mark.control("KUBELET-ANON")
def test_passes(evidence):
    pass

@pytest.mark.control("API-ANON-READ")
def test_fails(evidence):
    assert False, "anonymous client read /api/v1/secrets"

@pytest.mark.control("API-ANON-AUTH")
def test_cannot_look(evidence):
    evidence.inconclusive("API server unreachable from the runner")

@pytest.mark.control("RBAC-WILDCARDS")
def test_forbidden(evidence):
    raise KubeForbidden("GET", "/apis/rbac.authorization.k8s.io/v1/clusterroles", 403, "Forbidden", "", None)

@pytest.mark.control("NETPOL-ENFORCED")
def test_setup_cannot_look(unreachable_pod):
    pass

@pytest.mark.control("WORKLOAD-SECCOMP")
def test_errors(broken):
    pass

@pytest.mark.active
@pytest.mark.control("ADMISSION-REJECTS-PRIVILEGED")
def test_active():
    pass

def test_not_a_check():
    pass
"""


def _observation(**changes: object) -> Observation:
    fields: dict[str, object] = {
        "kind": "http",
        "summary": "GET https://10.0.0.1:10250/pods -> 401 Unauthorized",
        "vantage": "runner",
        "target": "https://10.0.0.1:10250/pods",
        "details": {"status": 401},
        "when": WHEN,
    }
    return Observation(**{**fields, **changes})  # type: ignore[arg-type]


def _result(*evidence: Observation, outcome: Outcome = Outcome.FAILED) -> CheckResult:
    return CheckResult(
        "suites/test_kubelet.py::test_x", "KUBELET-ANON", "Kubelet refuses anonymous clients",
        ("CIS-4.2.1",), "critical", outcome, "kubelet answered 200", evidence,
    )  # fmt: skip


def test_observation_validates_kind_and_time() -> None:
    with pytest.raises(ValueError, match="unknown observation kind 'ping'"):
        _observation(kind="ping")
    with pytest.raises(ValueError, match="timezone-aware"):
        _observation(when=datetime(2026, 1, 1))


def test_observation_serialises_every_field() -> None:
    assert _observation().to_dict() == {
        "kind": "http",
        "summary": "GET https://10.0.0.1:10250/pods -> 401 Unauthorized",
        "vantage": "runner",
        "target": "https://10.0.0.1:10250/pods",
        "details": {"status": 401},
        "when": "2026-01-02T03:04:05+00:00",
    }
    http = HttpObservation(
        kind="http", summary="s", vantage="runner", target="t", status=None, error="timed out"
    )
    assert http.to_dict()["status"] is None and http.to_dict()["error"] == "timed out"


def test_check_result_survives_its_json_form_with_every_observation_field() -> None:
    http = HttpObservation(kind="http", summary="s", vantage="runner", target="t", status=401, error=None)
    result = CheckResult(
        "suites/test_x.py::test_y", "KUBELET-ANON", "title", ("CIS-4.2.1",), "high", Outcome.FAILED, "why",
        (_observation(), http), ("Namespace/legacy",),
    )  # fmt: skip
    data = json.loads(json.dumps(result.to_dict()))
    assert CheckResult.from_dict(data).to_dict() == result.to_dict()
    summary = ClusterSummary("local", "hardened", "https://198.18.0.1:6443", "v1.36.3", ("node-1",))
    assert ClusterSummary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary
    settled = dataclasses.replace(result, baseline="new")
    with pytest.raises(ValueError, match="settled"):
        CheckResult.from_dict(settled.to_dict())


@pytest.mark.parametrize(
    ("phases", "expected"),
    [
        (
            [Phase("setup", PASSED), Phase("call", PASSED, "3 doors"), Phase("teardown", PASSED)],
            (PASSED, "3 doors"),
        ),
        ([Phase("setup", PASSED), Phase("call", FAILED, "boom")], (FAILED, "boom")),
        ([Phase("setup", ERROR, "fixture")], (ERROR, "fixture")),
        ([Phase("setup", SKIPPED, "read-only")], (SKIPPED, "read-only")),
        ([Phase("setup", INCONCLUSIVE, "no pod")], (INCONCLUSIVE, "no pod")),
        # a crash is never hidden behind could-not-look, and keeps the failure it followed
        ([Phase("call", INCONCLUSIVE, "x"), Phase("teardown", ERROR, "crash")], (ERROR, "crash")),
        (
            [Phase("call", FAILED, "violation"), Phase("teardown", ERROR, "crash")],
            (ERROR, "crash (after the check had failed: violation)"),
        ),
        # an observed violation is not erased by a teardown that could not look
        (
            [Phase("call", FAILED, "violation"), Phase("teardown", INCONCLUSIVE, "slow")],
            (FAILED, "violation"),
        ),
    ],
)
def test_verdict(phases: list[Phase], expected: tuple[Outcome, str]) -> None:
    assert verdict(phases) == expected


def _report(when: str, outcome: str, longrepr: object = None) -> pytest.TestReport:
    return pytest.TestReport("suites/test_x.py::test_y", ("x.py", 1, "y"), {}, outcome, longrepr, when)  # type: ignore[arg-type]


def _raised(error: BaseException) -> pytest.ExceptionInfo[BaseException]:
    try:
        raise error
    except BaseException as raised:  # raised, so it has a traceback as in a real check
        return pytest.ExceptionInfo.from_exception(raised)


def _concluded(finding: Finding) -> tuple[Evidence, pytest.ExceptionInfo[BaseException] | None]:
    evidence = Evidence()
    try:
        evidence.conclude(finding)
    except (AssertionError, Inconclusive) as raised:
        return evidence, _raised(raised)
    return evidence, None


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped", "own"])
@pytest.mark.parametrize(
    ("case", "shipped_outcome", "own_outcome"),
    [
        ("a KeyError in the check", ERROR, ERROR),
        ("a plain assert", ERROR, FAILED),
        ("pytest.fail", ERROR, FAILED),
        ("a failed finding", FAILED, FAILED),
        ("an inconclusive finding", INCONCLUSIVE, INCONCLUSIVE),
        ("a passed finding", PASSED, PASSED),
        ("returned without a finding", ERROR, PASSED),
        ("Forbidden for the scanner", INCONCLUSIVE, INCONCLUSIVE),
        ("an assert after a passed finding", ERROR, FAILED),
    ],
)
def test_a_phase_is_judged_from_values_never_from_text(
    case: str, shipped_outcome: Outcome, own_outcome: Outcome, shipped: bool
) -> None:
    evidence, excinfo = Evidence(), None
    if case == "a KeyError in the check":
        excinfo = _raised(KeyError("items"))
    elif case == "a plain assert":
        excinfo = _raised(AssertionError("refused every request"))  # reads like a verdict; is not one
    elif case == "pytest.fail":
        excinfo = _raised(pytest.fail.Exception("no"))
    elif case == "a failed finding":
        evidence, excinfo = _concluded(Finding(FAILED, "kubelet served /pods"))
    elif case == "an inconclusive finding":
        evidence, excinfo = _concluded(Finding(INCONCLUSIVE, "no answer"))
    elif case in ("a passed finding", "an assert after a passed finding"):
        evidence, excinfo = _concluded(Finding(PASSED, "3 doors"))
        if case == "an assert after a passed finding":
            excinfo = _raised(AssertionError("later"))
    elif case == "Forbidden for the scanner":
        excinfo = _raised(KubeForbidden("GET", "/api/v1/pods", 403, "Forbidden", "", None))
    report = _report("call", "passed" if excinfo is None else "failed", None if excinfo is None else case)
    phase = judge_phase(report, excinfo, evidence, shipped)
    assert phase.outcome is (shipped_outcome if shipped else own_outcome), case


def test_a_shipped_check_without_a_verdict_says_so() -> None:
    phase = judge_phase(_report("call", "passed"), None, Evidence(), shipped=True)
    assert phase == Phase("call", ERROR, NO_VERDICT)


def test_fixture_phases_are_judged_too() -> None:
    inconclusive = _raised(Inconclusive("the probe pod could not start"))
    setup = judge_phase(_report("setup", "failed", "x"), inconclusive, Evidence(), shipped=True)
    assert setup == Phase("setup", INCONCLUSIVE, "the probe pod could not start")
    crash = judge_phase(
        _report("teardown", "failed", "OSError: gone"), _raised(OSError("gone")), Evidence(), False
    )
    assert crash == Phase("teardown", ERROR, "OSError: gone")
    skipped = judge_phase(
        _report("setup", "skipped", ("x.py", 1, "Skipped: read-only")), None, Evidence(), True
    )
    assert skipped == Phase("setup", SKIPPED, "Skipped: read-only")


def test_recorder_redacts_before_storing_and_declares_inconclusive() -> None:
    evidence = Evidence()
    stored = evidence.record(_observation(details={"headers": {"Authorization": "Bearer abc"}}))
    assert stored.details == {"headers": {"Authorization": REDACTED}}
    assert evidence.observations == (stored,)
    with pytest.raises(Inconclusive, match="forbidden"):
        evidence.inconclusive("forbidden to list nodes")


def test_bundle_and_manifest_detect_changed_missing_and_extra_files(tmp_path: Path) -> None:
    (tmp_path / "report.html").write_text("<html/>")
    run = RunInfo(WHEN, WHEN, "0.1.0", "scanner", None)
    path = write_bundle(tmp_path, run, [_result(_observation())])
    assert json.loads(path.read_text())["schema"] == SCHEMA
    assert (tmp_path / "manifest.sha256").read_text().count("\n") == 2
    assert verify_manifest(tmp_path).clean
    (tmp_path / "report.html").write_text("<html>edited</html>")
    path.unlink()
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "late.txt").write_text("x")
    diff = verify_manifest(tmp_path)
    assert (diff.changed, diff.missing, diff.extra) == (
        ("report.html",),
        ("evidence.json",),
        ("sub/late.txt",),
    )


def test_malformed_manifest_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.sha256").write_text("not a digest line\n")
    with pytest.raises(ManifestError, match=r"manifest.sha256:1: not a"):
        verify_manifest(tmp_path)
    with pytest.raises(ManifestError, match="cannot read"):
        verify_manifest(tmp_path / "absent")


def test_html_extra_is_escaped_and_readable() -> None:
    hostile = _observation(
        summary="<script>alert(1)</script>", details={"body": "<img src=x onerror=alert(2)>"}
    )
    rendered = render_result(_result(hostile), load_catalog())
    assert "<script>alert" not in rendered and "<img src" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "KUBELET-ANON - Kubelet refuses anonymous clients" in rendered
    assert "failed</span>: kubelet answered 200" in rendered


def test_evidence_json_follows_the_schema(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("--evidence-dir=out", "--read-only")
    counts = result.parseoutcomes()
    assert {k: v for k, v in counts.items() if k != "warnings"} == {
        "passed": 2,
        "failed": 1,
        "inconclusive": 3,
        "errors": 1,
        "skipped": 1,
    }
    document = json.loads((pytester.path / "out" / "evidence.json").read_text())
    assert set(document) == {"schema", "run", "results"}
    assert document["schema"] == "pytest-k8sharden/evidence/v1"
    assert set(document["run"]) == {"started", "finished", "plugin_version", "identity", "cluster"}
    assert datetime.fromisoformat(document["run"]["finished"]) >= datetime.fromisoformat(
        document["run"]["started"]
    )
    outcomes = {r["nodeid"].split("::")[1]: r["outcome"] for r in document["results"]}
    assert outcomes == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_cannot_look": "inconclusive",
        "test_forbidden": "inconclusive",
        "test_setup_cannot_look": "inconclusive",
        "test_errors": "error",
        "test_active": "skipped",
    }
    for entry in document["results"]:
        assert set(entry) == {
            "nodeid",
            "check",
            "title",
            "controls",
            "severity",
            "outcome",
            "message",
            "evidence",
        }
    failed = next(r for r in document["results"] if r["outcome"] == "failed")
    assert failed["check"] == "API-ANON-READ" and failed["severity"] == "critical"
    assert failed["controls"] == ["CIS-1.2.1", "NSA-CISA:authentication", "NSA-CISA:rbac"]
    assert "anonymous client read /api/v1/secrets" in failed["message"]
    assert verify_manifest(pytester.path / "out").clean


def test_inconclusive_is_shown_as_such_and_never_passes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest("-k", "cannot_look or forbidden or passes", "-p", "no:randomly")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, "an inconclusive check must not let the run pass"
    result.stdout.fnmatch_lines(
        [
            "test_checks.py .III*",
            "*= inconclusive checks (could not look; not passed) =*",
            "INCONCLUSIVE test_checks.py::test_cannot_look - API server unreachable from the runner",
            "INCONCLUSIVE test_checks.py::test_forbidden - GET /apis/rbac.*/clusterroles: 403 Forbidden",
            "INCONCLUSIVE test_checks.py::test_setup_cannot_look - probe pod never became ready",
            "*= 1 passed, 4 deselected, *3 inconclusive in *",
        ]
    )
    verbose = pytester.runpytest("-v", "-k", "cannot_look")
    verbose.stdout.fnmatch_lines(["test_checks.py::test_cannot_look INCONCLUSIVE*"])


DEEP_API_CLIENT = """
from pytest_k8sharden.kube import KubeForbidden

def list_pods():
    raise ConnectionError("the API client's own failure, deep in its code")

def forbidden():
    try:
        list_pods()
    except ConnectionError as exc:
        raise KubeForbidden("GET", "/api/v1/pods", 403, "Forbidden", "", None) from exc
"""
CHECKS_FORBIDDEN_DEEP_DOWN = """
import pytest
from deep import forbidden

@pytest.fixture
def pods():
    forbidden()

@pytest.mark.control("WORKLOAD-SECCOMP")
def test_setup_forbidden(pods):
    pass

@pytest.mark.control("RBAC-WILDCARDS")
def test_call_forbidden(evidence):
    forbidden()

def test_not_a_check():
    forbidden()
"""


def test_could_not_look_is_reported_without_reading_the_source_of_its_traceback(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest would parse every frame's file for a report the inconclusive message replaces anyway."""
    pytester.makepyfile(deep=DEEP_API_CLIENT, test_checks=CHECKS_FORBIDDEN_DEEP_DOWN)
    read: list[str] = []
    getsource = _pytest._code.code.TracebackEntry.getsource

    def recording(entry: Any, *args: Any, **kwargs: Any) -> Any:
        read.append(Path(entry.path).name)
        return getsource(entry, *args, **kwargs)

    monkeypatch.setattr(_pytest._code.code.TracebackEntry, "getsource", recording)
    checks = pytester.runpytest_inprocess("-p", "no:randomly", "-k", "forbidden")
    checks.stdout.fnmatch_lines(
        [
            "INCONCLUSIVE test_checks.py::test_setup_forbidden - GET /api/v1/pods: 403 Forbidden*",
            "INCONCLUSIVE test_checks.py::test_call_forbidden - GET /api/v1/pods: 403 Forbidden*",
            "*2 inconclusive in *",
        ]
    )
    assert not {"deep.py", "test_checks.py"} & set(read), read
    pytester.runpytest_inprocess("-p", "no:randomly", "-k", "not_a_check").assert_outcomes(failed=1)
    assert "deep.py" in read, "a test that is no check keeps pytest's full report"


def test_no_evidence_is_written_without_checks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    pytester.runpytest().assert_outcomes(passed=1)
    assert not (pytester.path / "k8sharden-evidence").exists()


def test_html_renders_requests_grids_and_the_summary_by_framework() -> None:
    catalog = load_catalog()
    http = _observation(
        details={"method": "GET", "response_headers": {"Server": "kubelet"}, "body_excerpt": "a\nb"}
    )
    grid = _observation(kind="matrix", details={"grids": {"observed": ["   a  b", "a  .  X"]}})
    rendered = render_result(_result(http, grid), catalog)
    assert "<tr><th>Server</th><td>kubelet</td></tr>" in rendered  # headers as a table
    assert "<pre>a\nb</pre>" in rendered
    assert '<div class="k8sh-grid-caption">observed</div><table class="grid">' in rendered
    assert '<td class="allowed" title="allowed">.</td><td class="blocked" title="blocked">X' in rendered
    assert "CIS-4.2.1: Ensure that the --anonymous-auth argument is set to false (kubelet)" in rendered

    def result(check: str, outcome: Outcome) -> CheckResult:
        entry = catalog.checks[check]
        return CheckResult(
            f"t.py::{check}", check, entry.title, entry.controls, entry.severity, outcome, "", ()
        )

    summary = render_summary(
        [
            result("KUBELET-ANON", Outcome.PASSED),
            result("API-ANON-AUTH", Outcome.FAILED),
            result("API-ANON-READ", Outcome.WAIVED),
            result("KUBELET-READONLY-PORT", Outcome.INCONCLUSIVE),
        ],
        catalog,
    )
    cells = re.findall(r"<tr><td>([^<]*)</td><td>[^<]*</td>((?:<td[^>]*>\d+</td>)+)<td><div class", summary)
    counts = {section: [int(n) for n in re.findall(r">(\d+)<", row)] for section, row in cells}
    # columns: passed, failed, inconclusive, waived, error
    assert counts["1.2.1"] == [0, 1, 0, 1, 0] and counts["4.2.1"] == [1, 0, 0, 0, 0]
    assert counts["4.2.4"] == [0, 0, 1, 0, 0]
    assert counts["Authentication and authorization / Authentication"] == [1, 1, 0, 1, 0]
    assert summary.index("CIS Kubernetes Benchmark") < summary.index("1.2.1") < summary.index("4.2.1")
