"""The plugin end to end on small fake suites (no cluster): waivers, baseline, gating, SARIF, JUnit, HTML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_suites import SUITE

from pytest_k8sharden import cli
from pytest_k8sharden.evidence.bundle import verify_manifest


def _waivers(path: Path, *, expired_on: date) -> Path:
    future = date.today() + timedelta(days=30)
    path.write_text(
        "waivers:\n"
        "  - id: NETPOL-DEFAULT-DENY-EGRESS\n"
        "    scope: {namespace: legacy}\n"
        "    reason: perimeter firewall filters egress (SEC-123)\n"
        "    owner: platform@example.com\n"
        f"    expires: {future.isoformat()}\n"
        "  - id: CIS-1.2.1\n"
        "    reason: lab cluster\n"
        "    owner: lab@example.com\n"
        f"    expires: {expired_on.isoformat()}\n"
    )
    return path


def _evidence(pytester: pytest.Pytester, directory: str = "out") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((pytester.path / directory / "evidence.json").read_text())
    return document


def _by_test(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["nodeid"].split("::")[-1]: result for result in document["results"]}


def test_waived_failure_shows_as_waived_and_expired_waiver_no_longer_applies(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    waivers = _waivers(pytester.path / "waivers.yaml", expired_on=date.today() - timedelta(days=1))
    # Started by the `pytest` script (not `python -m pytest`), the in-process run warns that it cannot
    # rewrite the already imported, editable-installed plugin; that harness warning would change the
    # summary line matched below.
    result = pytester.runpytest(
        "--evidence-dir=out", f"--waivers={waivers}", "-p", "no:randomly", "-rA",
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "test_suite.py WFF.*",
            "WAIVED test_suite.py::test_egress - perimeter firewall filters egress (SEC-123) "
            "(owner platform@example.com, until *)",
            "EXPIRED WAIVER test_suite.py::test_anon_auth - the waiver on line 7 expired on * and no longer "
            "applies: the failure stands",
            "*2 failed, 1 passed, 1 waived in *",
        ]
    )
    results = _by_test(_evidence(pytester))
    egress, anon = results["test_egress"], results["test_anon_auth"]
    assert egress["outcome"] == "waived" and egress["subjects"] == ["Namespace/legacy"]
    assert egress["waiver"]["reason"] == "perimeter firewall filters egress (SEC-123)"
    assert egress["waiver"]["scope"] == {"namespace": "legacy"} and egress["waiver"]["expired"] is False
    assert anon["outcome"] == "failed" and anon["waiver"]["expired"] is True
    assert "waiver" not in results["test_kubelet"]


def test_only_waived_failures_let_the_run_pass(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    waivers = _waivers(pytester.path / "waivers.yaml", expired_on=date.today())
    result = pytester.runpytest("--evidence-dir=out", f"--waivers={waivers}", "-k", "egress or anon_auth")
    assert result.ret == pytest.ExitCode.OK, "a waiver applies through its expiry day"
    assert {r["outcome"] for r in _evidence(pytester)["results"]} == {"waived"}


def test_malformed_waivers_file_is_a_usage_error_naming_the_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    (pytester.path / "w.yaml").write_text(
        "waivers:\n  - id: KUBELET-ANON\n    reason: r\n    owner: o\n    expires: next week\n"
    )
    result = pytester.runpytest("--waivers=w.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*k8sharden: invalid waivers:", "*w.yaml:5: 'expires' must be a date YYYY-MM-DD, got 'next week'"]
    )
    assert pytester.runpytest("--waivers=absent.yaml").ret == pytest.ExitCode.USAGE_ERROR


def test_baseline_marks_failures_new_or_known_and_fail_on_new_gates_on_regressions(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    first = pytester.runpytest("--evidence-dir=old", "-k", "kubelet or readonly")
    assert first.ret == pytest.ExitCode.TESTS_FAILED
    known_only = pytester.runpytest(
        "--evidence-dir=out", "--baseline=old/evidence.json", "--fail-on=new", "-k", "kubelet or readonly"
    )
    assert known_only.ret == pytest.ExitCode.OK, "a known failure does not fail the run with --fail-on=new"
    known_only.stdout.fnmatch_lines(["k8sharden: 0 new and 1 known failures (baseline old/evidence.json)"])
    assert _by_test(_evidence(pytester))["test_kubelet"]["baseline"] == "known"
    assert "baseline" not in _by_test(_evidence(pytester))["test_readonly_port"]
    regression = pytester.runpytest("--evidence-dir=out", "--baseline=old/evidence.json", "--fail-on=new")
    assert regression.ret == pytest.ExitCode.TESTS_FAILED
    results = _by_test(_evidence(pytester))
    assert (results["test_anon_auth"]["baseline"], results["test_kubelet"]["baseline"]) == ("new", "known")
    any_failure = pytester.runpytest("--evidence-dir=out", "--baseline=old/evidence.json", "-k", "kubelet")
    assert any_failure.ret == pytest.ExitCode.TESTS_FAILED, "--fail-on=any (default) gates on known failures"
    bad = pytester.runpytest("--baseline=test_suite.py")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_fail_severity_ignores_lesser_failures_but_never_inconclusive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_suite=SUITE,
        test_blind="""
import pytest

@pytest.mark.control("ETCD-PEER-CERT")
@pytest.mark.severity("low")
def test_blind(evidence):
    evidence.inconclusive("etcd peer port unreachable")
""",
    )
    medium = pytester.runpytest("--fail-severity=high", "-k", "anon_auth")
    assert medium.ret == pytest.ExitCode.OK, "API-ANON-AUTH is medium, below --fail-severity=high"
    medium.stdout.fnmatch_lines(["k8sharden: 1 failed checks do not fail the run (--fail-on=any "
                                 "--fail-severity=high): test_suite.py::test_anon_auth"])  # fmt: skip
    assert pytester.runpytest("--fail-severity=high", "-k", "kubelet").ret == pytest.ExitCode.TESTS_FAILED
    blind = pytester.runpytest("--fail-severity=critical", "-k", "blind")
    assert blind.ret == pytest.ExitCode.TESTS_FAILED, "an inconclusive check always fails the run"
    plain = pytester.makepyfile(test_plain="def test_plain():\n    assert False\n")
    mixed = pytester.runpytest(
        "--fail-severity=high", "-k", "anon_auth or plain", str(plain), "test_suite.py"
    )
    assert mixed.ret == pytest.ExitCode.TESTS_FAILED, "a failing test that is no check still fails the run"
    assert pytester.runpytest("--fail-severity=severe").ret == pytest.ExitCode.USAGE_ERROR


def test_sarif_junit_and_html_land_in_the_verified_bundle(
    pytester: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    waivers = _waivers(pytester.path / "waivers.yaml", expired_on=date.today() - timedelta(days=1))
    pytester.runpytest(
        "--evidence-dir=out", f"--waivers={waivers}", "--sarif=out/results.sarif",
        "--junitxml=out/junit.xml", "--html=out/report.html", "--self-contained-html",
    )  # fmt: skip
    assert verify_manifest(pytester.path / "out").clean
    manifest = (pytester.path / "out" / "manifest.sha256").read_text()
    for name in ("evidence.json", "results.sarif", "junit.xml", "report.html"):
        assert f"  {name}\n" in manifest

    sarif = json.loads((pytester.path / "out" / "results.sarif").read_text())
    assert sarif["version"] == "2.1.0" and sarif["$schema"].endswith("sarif-2.1.0.json")
    (run,) = sarif["runs"]
    rules = {rule["id"]: rule for rule in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"NETPOL-DEFAULT-DENY-EGRESS", "API-ANON-AUTH", "KUBELET-ANON"}
    assert rules["KUBELET-ANON"]["properties"]["security-severity"] == "9.5"
    assert "CIS-4.2.1" in rules["KUBELET-ANON"]["properties"]["tags"]
    results = {result["ruleId"]: result for result in run["results"]}
    assert results["KUBELET-ANON"]["level"] == "error" and results["API-ANON-AUTH"]["level"] == "warning"
    assert results["NETPOL-DEFAULT-DENY-EGRESS"]["suppressions"][0]["kind"] == "external"
    assert "SEC-123" in results["NETPOL-DEFAULT-DENY-EGRESS"]["suppressions"][0]["justification"]
    assert "suppressions" not in results["API-ANON-AUTH"], "an expired waiver suppresses nothing"
    assert all(run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])

    cases = {
        case.get("name"): case for case in ET.parse(pytester.path / "out" / "junit.xml").iter("testcase")
    }
    properties = [(p.get("name"), p.get("value")) for p in cases["test_kubelet"].iter("property")]
    assert properties == [
        ("k8sharden.check", "KUBELET-ANON"), ("k8sharden.control", "CIS-4.2.1"),
        ("k8sharden.control", "NSA-CISA:worker-nodes"), ("k8sharden.control", "NSA-CISA:authentication"),
        ("k8sharden.severity", "critical"), ("k8sharden.verdict", "failed"),
    ]  # fmt: skip
    waived = cases["test_egress"]
    skipped = waived.find("skipped")
    assert skipped is not None and "SEC-123" in str(skipped.get("message"))
    assert ("k8sharden.verdict", "waived") in [
        (p.get("name"), p.get("value")) for p in waived.iter("property")
    ]

    html = (pytester.path / "out" / "report.html").read_text()
    assert 'id="k8sh-summary"' in html and 'id="k8sh-run"' in html
    assert "CIS Kubernetes Benchmark" in html and "NSA/CISA Kubernetes Hardening Guidance" in html
    assert "Ensure that the --anonymous-auth argument is set to false (kubelet)" in html  # control titles
    assert "no cluster was opened" in html

    (pytester.path / "out" / "results.sarif").write_text("{}")
    assert cli.main(["evidence", "verify", str(pytester.path / "out")]) == 1
    assert "changed: results.sarif" in capsys.readouterr().out


def test_runs_with_pytest_html_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest("-p", "no:html", "--evidence-dir=out", "-k", "readonly")
    assert result.ret == pytest.ExitCode.OK, "\n".join(result.outlines + result.errlines)
