"""`k8sharden report history`: verdicts across stored runs, failures by severity, tampered bundles refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_k8sharden.cli import main
from pytest_k8sharden.evidence.bundle import CheckResult, ClusterSummary, RunInfo, write_bundle
from pytest_k8sharden.evidence.history import bundle_directories, load_history
from pytest_k8sharden.evidence.verdict import Outcome

CLUSTER = ClusterSummary("existing", None, "https://10.0.0.1:6443", "v1.36.0", ("node-a",))
CHECKS = {"KUBELET-ANON": "critical", "API-ANON-AUTH": "high", "NETPOL-DEFAULT-DENY": "medium"}


def _store(volume: Path, day: int, outcomes: dict[str, Outcome]) -> Path:
    started = datetime(2026, 5, day, 2, 0, tzinfo=UTC)
    results = [
        CheckResult(f"suites/t.py::test_{check.lower()}", check, f"<{check}> title", (), CHECKS[check],
                    outcome, "", ())
        for check, outcome in outcomes.items()
    ]  # fmt: skip
    directory = volume / started.strftime("%Y%m%dT%H%M%SZ")
    write_bundle(directory, RunInfo(started, started, "0.1.0", "scanner", CLUSTER), results)
    return directory


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    """Three nightly runs (the second one tampered with after it was written), out of order on disk."""
    F, P, INC = Outcome.FAILED, Outcome.PASSED, Outcome.INCONCLUSIVE
    volume = tmp_path / "evidence"
    _store(volume, 3, {"KUBELET-ANON": P, "API-ANON-AUTH": P, "NETPOL-DEFAULT-DENY": INC})
    _store(volume, 1, {"KUBELET-ANON": F, "API-ANON-AUTH": F, "NETPOL-DEFAULT-DENY": F})
    tampered = _store(volume, 2, {"KUBELET-ANON": F, "API-ANON-AUTH": P})
    evidence = tampered / "evidence.json"
    evidence.write_text(evidence.read_text().replace('"failed"', '"passed"'))  # hides a failure
    return volume


def test_history_reads_verified_runs_oldest_first_and_refuses_a_tampered_one(volume: Path) -> None:
    history = load_history([volume])
    assert [run.started[:10] for run in history.runs] == ["2026-05-01", "2026-05-03"]
    assert [(Path(r.source).name, r.reason) for r in history.refused] == [
        ("20260502T020000Z", "does not match its manifest (changed evidence.json)")
    ]
    assert [check.check for check in history.checks()] == [
        "KUBELET-ANON",
        "API-ANON-AUTH",
        "NETPOL-DEFAULT-DENY",
    ]
    assert [run.failures_by_severity()["critical"] for run in history.runs] == [1, 0]
    assert history.outcome(history.runs[1], "NETPOL-DEFAULT-DENY") is Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        (["a"], ["a"]),  # one bundle
        (["vol/r1", "vol/r2"], ["vol/r1", "vol/r2"]),  # a volume of bundles
        (["missing"], ["missing"]),  # not there: refused by name when read
    ],
)
def test_bundle_directories(tmp_path: Path, layout: list[str], expected: list[str]) -> None:
    for name in layout:
        if name != "missing":
            (tmp_path / name).mkdir(parents=True)
            (tmp_path / name / "evidence.json").write_text("{}")
    given = [tmp_path / layout[0].split("/")[0]]
    assert bundle_directories(given) == [tmp_path / name for name in expected]


def test_report_history_command_writes_the_page_and_names_the_refused_bundle(
    volume: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "history.html"
    assert main(["report", "history", str(volume), "--out", str(page)]) == 1  # a bundle was refused
    captured = capsys.readouterr()
    assert "refused" in captured.err and "20260502T020000Z" in captured.err
    assert f"{page}: 2 verified runs, 1 refused" in captured.out
    html = page.read_text()
    assert "<script" not in html and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "&lt;KUBELET-ANON&gt; title" in html and "<KUBELET-ANON>" not in html
    refused = re.search(r'<ul id="k8sh-refused">(.*?)</ul>', html)
    assert refused and "20260502T020000Z" in refused.group(1)
    row = re.search(r"<b>KUBELET-ANON</b>.*?</tr>", html)
    assert row and re.findall(r'<td class="(\w+)">(\w+)</td>', row.group(0)) == [
        ("failed", "FAIL"), ("passed", "PASS"),
    ]  # fmt: skip
    assert html.count("<polyline") == 3  # critical, high, medium each failed at least once
    assert 'class="trend-critical"' in html


def test_report_history_of_clean_runs_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _store(tmp_path / "v", 4, {"KUBELET-ANON": Outcome.PASSED})
    assert main(["report", "history", str(run), "-o", str(tmp_path / "h.html")]) == 0
    assert json.loads((run / "evidence.json").read_text())["results"][0]["outcome"] == "passed"
    assert "1 verified runs, 0 refused" in capsys.readouterr().out
