"""The report's summaries as plain values and their HTML: counts, findings by severity, baseline, grids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pytest_k8sharden.evidence.bundle import CheckResult, ClusterSummary, RunInfo
from pytest_k8sharden.evidence.gate import Baseline
from pytest_k8sharden.evidence.grids import Grid, parse_grids, render_grids
from pytest_k8sharden.evidence.overview import headline, render_overview
from pytest_k8sharden.evidence.summary import (
    baseline_changes,
    count_by_severity,
    count_outcomes,
    findings,
    reason_line,
)
from pytest_k8sharden.evidence.table import header_cells, insert_cells, latest_result, row_cells
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.redact import REDACTED

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _result(
    check: str | None, severity: str | None, outcome: Outcome, message: str = "", **extra: object
) -> CheckResult:
    fields: dict[str, object] = {
        "nodeid": f"suites/t.py::test_{(check or 'x').lower()}", "check": check, "title": f"{check} title",
        "controls": (), "severity": severity, "outcome": outcome, "message": message, "evidence": (),
    }  # fmt: skip
    return CheckResult(**{**fields, **extra})  # type: ignore[arg-type]


MIXED = [
    _result("LOW-FAIL", "low", Outcome.FAILED),
    _result("CRIT-INC", "critical", Outcome.INCONCLUSIVE),
    _result("CRIT-FAIL", "critical", Outcome.FAILED),
    _result("NONE-FAIL", None, Outcome.FAILED),
    _result("HIGH-ERR", "high", Outcome.ERROR),
    _result("HIGH-PASS", "high", Outcome.PASSED),
    _result("CRIT-WAIVED", "critical", Outcome.WAIVED),
    _result("MED-SKIP", "medium", Outcome.SKIPPED),
    _result("CRIT-ERR", "critical", Outcome.ERROR),
]


def test_findings_are_failed_erroring_and_inconclusive_checks_most_severe_first() -> None:
    assert [r.check for r in findings(MIXED)] == [
        "CRIT-FAIL", "CRIT-ERR", "CRIT-INC", "HIGH-ERR", "LOW-FAIL", "NONE-FAIL",
    ]  # fmt: skip


def test_counts_by_verdict_and_by_severity() -> None:
    assert count_outcomes(MIXED) == {
        Outcome.PASSED: 1, Outcome.FAILED: 3, Outcome.INCONCLUSIVE: 1, Outcome.WAIVED: 1,
        Outcome.SKIPPED: 1, Outcome.ERROR: 2,
    }  # fmt: skip
    table = count_by_severity(MIXED)
    assert table["critical"] == {Outcome.FAILED: 1, Outcome.ERROR: 1, Outcome.INCONCLUSIVE: 1}
    assert table["high"] == {Outcome.FAILED: 0, Outcome.ERROR: 1, Outcome.INCONCLUSIVE: 0}
    assert table["medium"] == {Outcome.FAILED: 0, Outcome.ERROR: 0, Outcome.INCONCLUSIVE: 0}
    assert table["unspecified"][Outcome.FAILED] == 1
    assert list(table) == ["critical", "high", "medium", "low", "info", "unspecified"]


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], "All 0 checks passed or were waived or skipped."),
        ([_result("A", "low", Outcome.PASSED), _result("B", "low", Outcome.WAIVED)],
         "All 2 checks passed or were waived or skipped."),
        (MIXED, "3 failed, 2 error, 1 inconclusive of 9 checks."),
    ],
)  # fmt: skip
def test_headline(results: list[CheckResult], expected: str) -> None:
    assert headline(results) == expected


@pytest.mark.parametrize(
    ("message", "limit", "expected"),
    [
        ("", 20, ""),
        ("one line", 20, "one line"),
        ("\n  first  \nsecond", 20, "first"),
        ("0123456789abcdefghijKLMN", 10, "012345678\u2026"),
    ],
)
def test_reason_line_is_the_first_line_cut_short(message: str, limit: int, expected: str) -> None:
    assert reason_line(message, limit) == expected


def test_baseline_changes_new_unchanged_fixed() -> None:
    results = [
        _result("NEW", "high", Outcome.FAILED, baseline="new"),
        _result("KNOWN", "high", Outcome.FAILED, baseline="known"),
        _result("FIXED", "high", Outcome.PASSED),
        _result("STILL-INC", "high", Outcome.INCONCLUSIVE),  # failed before, could not look now: not fixed
        _result("CLEAN", "high", Outcome.PASSED),
    ]
    baseline = Baseline(
        "base.json",
        {("KNOWN", "test_known"): frozenset(), ("FIXED", "test_fixed"): frozenset(),
         ("STILL-INC", "test_still-inc"): frozenset()},
    )  # fmt: skip
    changes = baseline_changes(results, baseline)
    assert [r.check for r in changes.new] == ["NEW"]
    assert [r.check for r in changes.unchanged] == ["KNOWN"]
    assert [r.check for r in changes.fixed] == ["FIXED"]


def test_overview_escapes_and_redacts_what_came_from_the_cluster() -> None:
    token = "abc.def-secret-ghi"
    cluster = ClusterSummary("existing", None, "https://10.0.0.1:6443", "v1.36.0", ("<b>node</b>",))
    run = RunInfo(WHEN, WHEN, "0.1.0", "system:serviceaccount:<x>", cluster)
    evil = _result("EVIL", "high", Outcome.FAILED, f"<script>alert(1)</script> Authorization: Bearer {token}",
                   subjects=("Pod/ns/<img src=x>",))  # fmt: skip
    html = render_overview(run, [evil], Baseline("<base>.json", {}))
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert token not in html and REDACTED in html
    assert "&lt;b&gt;node&lt;/b&gt;" in html and "Pod/ns/&lt;img src=x&gt;" in html
    assert "&lt;base&gt;.json" in html and "system:serviceaccount:&lt;x&gt;" in html


REACHABILITY = """reachability: correct 0, wrong 2, unknown 0

expected:
  -   a/x b/y
  a/x .   X
  b/y X   .

diff (. agree, X differ, ? not compared):
  -   a/x b/y
  a/x ?   X
  b/y .   .""".splitlines()


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (REACHABILITY, [
            "reachability: correct 0, wrong 2, unknown 0",
            Grid("expected", ("a/x", "b/y"), (("a/x", (".", "X")), ("b/y", ("X", ".")))),
            Grid("diff (. agree, X differ, ? not compared)", ("a/x", "b/y"),
                 (("a/x", ("?", "X")), ("b/y", (".", ".")))),
        ]),
        (["      a/x  b/y", "a/x   .    X"], [Grid("", ("a/x", "b/y"), (("a/x", (".", "X")),))]),
        (["a b", "not a grid row"], ["a b", "not a grid row"]),
        (["a b", "x . Z"], ["a b", "x . Z"]),  # Z is not a mark
    ],
)  # fmt: skip
def test_parse_grids(lines: list[str], expected: list[object]) -> None:
    assert parse_grids(lines) == expected


def test_grids_render_as_coloured_tables_keeping_their_marks() -> None:
    html = render_grids({"80/TCP": REACHABILITY, "<evil>": ["   a", "a  ."]})
    assert '<td class="allowed" title="allowed">.</td><td class="blocked" title="blocked">X</td>' in html
    assert (
        '<td class="unknown" title="unknown">?</td><td class="differ" title="differs from expected">X</td>'
        in html
    )
    assert '<td class="agree" title="agrees">.</td>' in html
    assert "&lt;evil&gt;" in html and "<evil>" not in html


def test_results_table_columns_for_checks_and_other_tests() -> None:
    cells = ['<td class="col-result">Failed</td>', '<td class="col-testId">t.py::test_x</td>']
    result = _result("KUBELET-ANON", "critical", Outcome.FAILED, controls=("CIS-4.2.1",),
                     subjects=("Node/a", "Node/b", "Node/c", "Node/d", "Node/e"))  # fmt: skip
    insert_cells(cells, row_cells(result))
    assert cells[1:6] == [
        '<td class="col-check"><b>KUBELET-ANON</b></td>',
        '<td class="col-title">KUBELET-ANON title</td>',
        '<td class="col-severity"><!--0--><span class="sev sev-critical">critical</span></td>',
        '<td class="col-controls">CIS-4.2.1</td>',
        '<td class="col-objects">Node/a, Node/b, Node/c, Node/d and 1 more</td>',
    ]
    assert cells[6] == '<td class="col-testId">t.py::test_x</td>'
    assert row_cells(None) == [f'<td class="col-{kind}"></td>' for kind in
                               ("check", "title", "severity", "controls", "objects")]  # fmt: skip
    assert len(header_cells()) == 5


def test_latest_result_is_the_last_recorded_for_the_node_id() -> None:
    first = _result("A", "low", Outcome.PASSED)
    second = _result("A", "low", Outcome.ERROR)
    assert latest_result([first, _result("B", "low", Outcome.PASSED), second], first.nodeid) is second
    assert latest_result([first], "other") is None


@pytest.mark.parametrize(
    ("subjects", "head"),
    [
        ((), "<th>severity</th><th>verdict</th><th>check</th><th>title</th><th>reason</th>"),
        (("Namespace/legacy",),
         "<th>severity</th><th>verdict</th><th>check</th><th>title</th><th>objects</th><th>reason</th>"),
    ],
)  # fmt: skip
def test_findings_table_has_an_objects_column_only_when_a_finding_names_objects(
    subjects: tuple[str, ...], head: str
) -> None:
    run = RunInfo(WHEN, WHEN, "0.1.0", None, None)
    html = render_overview(run, [_result("A", "high", Outcome.FAILED, subjects=subjects)], None)
    assert f'<table id="k8sh-findings"><tr>{head}</tr>' in html
