"""The HTML report of a real insecure run, as an auditor opens it: the findings on the first screen."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from chromium import Chromium, screenshot_dir
from local_clusters import ShippedRun
from report_page import PAGE_STATE

from pytest_k8sharden.catalog import SEVERITIES

pytestmark = pytest.mark.cluster

FIRST_SCREEN_ROWS = 5
"""At least this many findings are readable without scrolling in a 1400x1000 window."""


def test_insecure_report_shows_the_most_severe_failures_first(
    installed_suite_run: Callable[[str], ShippedRun], chromium_binary: str, request: pytest.FixtureRequest
) -> None:
    run = installed_suite_run("insecure")
    results = json.loads((run.directory / "evidence.json").read_text())["results"]
    failed = [r for r in results if r["outcome"] == "failed"]
    assert len(failed) > 50, f"the insecure run should fail nearly every check: {run.output[-3000:]}"
    with Chromium(chromium_binary, run.directory.parent / "chromium-report") as browser:
        browser.open(run.directory / "report.html")
        browser.wait_for("document.querySelectorAll('.k8sh-evidence table.grid').length > 0")
        state = browser.evaluate(PAGE_STATE)
        first_screen = browser.screenshot(whole_page=False)
        grids = browser.screenshot_of(".k8sh-evidence:has(table.grid)")  # the whole page is too tall
    shots = screenshot_dir(request.config)
    (shots / "insecure-report-first-screen.png").write_bytes(first_screen)
    (shots / "insecure-report-grids.png").write_bytes(grids)

    assert state["title"] == "Kubernetes hardening report: local cluster, insecure profile"
    assert state["headline"].startswith(f"{len(failed)} failed")
    assert "local (insecure profile)" in state["runText"] and "plugin version" in state["runText"]
    assert state["findingsOnScreen"] >= FIRST_SCREEN_ROWS, "the first findings are not on the first screen"
    rows = [row.split("\t") for row in state["findings"]]
    by_check = {r["check"]: r for r in results}
    assert {row[2] for row in rows} >= {r["check"] for r in failed}, "a failed check is not in the findings"
    ranks = [SEVERITIES.index(row[0].lower()) for row in rows]
    assert ranks == sorted(ranks), f"the findings are not ordered by severity: {[row[:3] for row in rows]}"
    assert rows[0][0] == "CRITICAL", rows[0]
    for severity, verdict, check, title, *_ in rows[:FIRST_SCREEN_ROWS]:
        assert verdict == by_check[check]["outcome"].upper() and title == by_check[check]["title"]
        assert severity.lower() == by_check[check]["severity"]
    colours = {cell.rsplit(":", 1)[1] for cell in state["gridCells"]}
    assert len(state["gridCells"]) > 20 and len(colours) >= 2, "the reachability grids did not render"
    assert state["environmentBelowResults"]
