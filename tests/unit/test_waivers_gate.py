"""Waivers (parsing with line numbers, matching, expiry), the baseline and the gate, as plain functions."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from pytest_k8sharden.catalog import load_catalog
from pytest_k8sharden.evidence.bundle import CheckResult, RunInfo, write_bundle
from pytest_k8sharden.evidence.disposition import Disposition
from pytest_k8sharden.evidence.gate import Baseline, BaselineError, Gate, failure_key, load_baseline
from pytest_k8sharden.evidence.verdict import Outcome, subject
from pytest_k8sharden.evidence.waivers import (
    Waiver,
    WaiverError,
    WaiverMatch,
    matching_waiver,
    parse_waivers,
)

TODAY = date(2026, 6, 1)
KNOWN = load_catalog().knows

VALID = """\
waivers:
  - id: NETPOL-DEFAULT-DENY-EGRESS
    scope: {namespace: legacy}
    reason: egress filtered at the perimeter until SEC-123
    owner: platform@example.com
    expires: 2026-12-31
  - id: CIS-1.2.1
    reason: lab cluster
    owner: lab@example.com
    expires: "2026-01-31"
"""


def _failed(
    check: str | None = "NETPOL-DEFAULT-DENY-EGRESS", *subjects: str, severity: str = "medium"
) -> CheckResult:
    controls = load_catalog().checks[check].controls if check else ("CIS-5.3.2",)
    return CheckResult(
        f"suites/test_netpol.py::test_{(check or 'own').lower()}", check, "title", controls, severity,
        Outcome.FAILED, "namespaces without default deny: legacy", (), subjects,
    )  # fmt: skip


def test_a_valid_file_parses_with_lines_scope_and_dates() -> None:
    scoped, lab = parse_waivers(VALID, "waivers.yaml", KNOWN)
    assert scoped == Waiver(
        "NETPOL-DEFAULT-DENY-EGRESS", "egress filtered at the perimeter until SEC-123",
        "platform@example.com", date(2026, 12, 31), "legacy", None, 2,
    )  # fmt: skip
    assert (lab.id, lab.expires, lab.scoped, lab.line) == ("CIS-1.2.1", date(2026, 1, 31), False, 7)
    assert parse_waivers("", "empty.yaml", KNOWN) == ()


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        ("waivers: [1, 2\n", ["w.yaml:2: not valid YAML"]),
        ("waiver: []\n", ["w.yaml:1: unknown key 'waiver' in the waivers file"]),
        ("waivers: {}\n", ["w.yaml:1: 'waivers' must be a list"]),
        (
            "waivers:\n  - id: NOPE\n    reason: r\n    owner: o\n    expires: 2026-13-01\n    color: red\n",
            [
                "w.yaml:6: unknown key 'color' in a waiver",
                "w.yaml:5: 'expires' must be a date YYYY-MM-DD, got '2026-13-01'",
                "w.yaml:2: unknown check or control id 'NOPE'",
            ],
        ),
        (
            "waivers:\n  - id: CIS-1.2.1\n    owner: o\n    expires: 2026-01-01\n"
            "    scope: {object: Deployment/ns/web}\n",
            ["w.yaml:2: 'reason' must be a non-empty string", "w.yaml:5: 'object' must be 'Kind/name'"],
        ),
    ],
)
def test_malformed_files_name_every_problem_with_its_line(text: str, problems: list[str]) -> None:
    with pytest.raises(WaiverError) as raised:
        parse_waivers(text, "w.yaml", KNOWN)
    assert len(raised.value.problems) == len(problems), raised.value.problems
    for problem in problems:
        assert any(found.startswith(problem) for found in raised.value.problems), raised.value.problems


def test_scoped_waiver_needs_every_subject_in_scope() -> None:
    scoped, _ = parse_waivers(VALID, "w.yaml", KNOWN)
    ids = ("NETPOL-DEFAULT-DENY-EGRESS",)
    assert matching_waiver([scoped], ids, [subject("Namespace", "legacy")], TODAY) is not None
    assert matching_waiver([scoped], ids, [subject("Pod", "web", "legacy")], TODAY) is not None
    mixed = [subject("Namespace", "legacy"), subject("Namespace", "payments")]
    assert matching_waiver([scoped], ids, mixed, TODAY) is None
    assert matching_waiver([scoped], ids, [], TODAY) is None, (
        "a scoped waiver never covers an unnamed failure"
    )
    by_object = Waiver("X", "r", "o", TODAY, "legacy", "Pod/web")
    assert by_object.covers("Pod/legacy/web") and not by_object.covers("Pod/legacy/db")


def test_control_id_waiver_and_expiry() -> None:
    _, lab = parse_waivers(VALID, "w.yaml", KNOWN)
    ids = ("API-ANON-AUTH", "CIS-1.2.1", "NSA-CISA:authentication")
    assert matching_waiver([lab], ids, [], date(2026, 1, 31)) == WaiverMatch(lab, expired=False)
    assert matching_waiver([lab], ids, [], date(2026, 2, 1)) == WaiverMatch(lab, expired=True)
    assert matching_waiver([lab], ("KUBELET-ANON", "CIS-4.2.1"), [], TODAY) is None


def test_disposition_waives_marks_baseline_and_gates() -> None:
    waivers = parse_waivers(VALID, "w.yaml", KNOWN)
    known = _failed("KUBELET-ANON", severity="critical")
    baseline = Baseline("old.json", {failure_key(known.nodeid, known.check): frozenset()})
    disposition = Disposition(waivers, Gate("new", "high", baseline), TODAY)
    waived = disposition.settle(_failed("NETPOL-DEFAULT-DENY-EGRESS", subject("Namespace", "legacy")))
    assert waived.outcome is Outcome.WAIVED and waived.waiver is not None and not waived.waiver.expired
    assert not disposition.blocks(waived)
    expired = disposition.settle(_failed("API-ANON-AUTH", severity="critical"))
    assert expired.outcome is Outcome.FAILED and expired.waiver is not None and expired.waiver.expired
    assert expired.baseline == "new" and disposition.blocks(expired)
    settled_known = disposition.settle(known)
    assert settled_known.baseline == "known" and not disposition.blocks(settled_known)
    low = disposition.settle(_failed("NETPOL-DEFAULT-DENY-INGRESS", severity="medium"))
    assert low.baseline == "new" and not disposition.blocks(low), "medium is below --fail-severity=high"
    unrated = disposition.settle(dataclasses.replace(_failed(None), severity=None))
    assert disposition.blocks(unrated), "a failure without severity always fails the run"
    for outcome in (Outcome.INCONCLUSIVE, Outcome.ERROR):
        result = CheckResult("n::t", None, "t", (), "info", outcome, "", ())
        assert disposition.settle(result) is result and disposition.blocks(result)


LEGACY, SHOP, NEW = (subject("Namespace", name) for name in ("legacy", "shop", "new-team"))


@pytest.mark.parametrize(
    ("before", "now", "state", "new_subjects"),
    [
        pytest.param(None, (LEGACY,), "new", (LEGACY,), id="check did not fail before"),
        pytest.param((LEGACY, SHOP), (SHOP,), "known", (), id="same objects, or fewer"),
        pytest.param((LEGACY,), (LEGACY, NEW), "new", (NEW,), id="a new object inside a failing check"),
        pytest.param((), (LEGACY,), "known", (), id="baseline named no objects: the check is all we know"),
        pytest.param((LEGACY,), (), "known", (), id="failure names no objects now"),
    ],
)
def test_baseline_knows_a_failure_only_for_the_objects_that_failed_before(
    tmp_path: Path,
    before: tuple[str, ...] | None,
    now: tuple[str, ...],
    state: str,
    new_subjects: tuple[str, ...],
) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    old = [] if before is None else [_failed("NETPOL-DEFAULT-DENY-INGRESS", *before)]
    baseline = load_baseline(write_bundle(tmp_path, RunInfo(when, when, "0.1.0", None, None), old))
    settled = Disposition(gate=Gate("new", baseline=baseline)).settle(
        _failed("NETPOL-DEFAULT-DENY-INGRESS", *now)
    )
    assert (settled.baseline, settled.new_subjects) == (state, new_subjects)
    assert Disposition(gate=Gate("new", baseline=baseline)).blocks(settled) is (state == "new")
    assert settled.to_dict().get("new_subjects", []) == list(new_subjects)


def test_gate_refuses_unknown_levels() -> None:
    with pytest.raises(ValueError, match="--fail-on must be one of any, new"):
        Gate("some")
    with pytest.raises(ValueError, match="--fail-severity must be one of critical"):
        Gate("any", "severe")


def test_baseline_reads_failures_of_an_evidence_json(tmp_path: Path) -> None:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    passed = CheckResult("a.py::test_p", "KUBELET-ANON", "t", (), "high", Outcome.PASSED, "", ())
    failed = _failed("API-ANON-READ")
    path = write_bundle(tmp_path, RunInfo(when, when, "0.1.0", None, None), [passed, failed])
    baseline = load_baseline(path)
    # Recognised by check id and test name, wherever the test file was collected from.
    assert (
        baseline.judge("other/path/test_netpol.py::test_api-anon-read", "API-ANON-READ", ()).state == "known"
    )
    assert baseline.judge("a.py::test_p", "KUBELET-ANON", ()).state == "new"
    (tmp_path / "bad.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(BaselineError, match=r"not an evidence\.json"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(BaselineError, match="not JSON"):
        load_baseline(tmp_path / "broken.json")
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "absent.json")


def test_a_check_split_out_of_a_parametrized_test_stays_known(tmp_path: Path) -> None:
    """Issue 22 gave each check of a test parametrized over checks its own test: a baseline written
    before still knows their failures (and still tells node-parametrized failures apart)."""
    when = datetime(2026, 1, 1, tzinfo=UTC)
    old = "suites/test_posture_control_plane.py::test_control_plane_runs_with_hardened_flags"
    per_node = "suites/test_kubelet.py::test_kubelet_config[node-a]"
    before = [
        dataclasses.replace(_failed("CONFIG-PROFILING-DISABLED", "process/kube-scheduler"),
                            nodeid=f"{old}[CONFIG-PROFILING-DISABLED]"),
        dataclasses.replace(_failed("CONFIG-KUBELET-AUTH"), nodeid=per_node),
    ]  # fmt: skip
    baseline = load_baseline(write_bundle(tmp_path, RunInfo(when, when, "0.1.0", None, None), before))
    split = "suites/test_posture_control_plane.py::test_control_plane_components_run_with_profiling_off"
    assert baseline.judge(split, "CONFIG-PROFILING-DISABLED", ["process/kube-scheduler"]).state == "known"
    assert baseline.judge(split, "CONFIG-PROFILING-DISABLED", ["process/kube-apiserver"]).state == "new"
    assert baseline.judge(per_node.replace("node-a", "node-b"), "CONFIG-KUBELET-AUTH", ()).state == "new"
    assert baseline.judge(split, "CONFIG-APISERVER-TLS", ()).state == "new"
