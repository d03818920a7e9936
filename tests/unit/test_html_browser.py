"""The HTML report as a person sees it: opened in headless Chromium; summary and evidence visible."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, find_chromium
from fake_suites import SUITE
from pytest_html import extras as html_extras

# What the page shows: is the summary visible, how many evidence blocks and grids are visible, their text.
PAGE_STATE = """(() => {
  const visible = el => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
  };
  const summary = document.getElementById('k8sh-summary');
  const run = document.getElementById('k8sh-run');
  const blocks = [...document.querySelectorAll('.k8sh-evidence')].filter(visible);
  const grids = [...document.querySelectorAll('.k8sh-evidence pre')].filter(visible);
  return {summary: visible(summary), summaryText: summary ? summary.innerText : '',
          run: visible(run), runText: run ? run.innerText : '',
          evidence: blocks.length, evidenceText: blocks.map(b => b.innerText).join('\\n'),
          grids: grids.map(g => getComputedStyle(g).fontFamily + '|' + g.innerText)};
})()"""


@pytest.fixture(scope="module")
def chromium_binary() -> str:
    """Debian's chromium; scripts/test (as root) installs it with scripts/install-test-deps."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed: run scripts/install-test-deps (as root)")
    return binary


def _screenshot_dir(config: pytest.Config) -> Path:
    directory = config.rootpath / "build" / "test" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def test_report_shows_summary_and_evidence_in_a_browser(
    pytester: pytest.Pytester, chromium_binary: str, extras: list[Any], request: pytest.FixtureRequest
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--evidence-dir=out", "--html=out/report.html", "--self-contained-html")
    report = pytester.path / "out" / "report.html"
    with Chromium(chromium_binary, pytester.path / "chromium-profile") as browser:
        browser.open(report)
        browser.wait_for("document.querySelectorAll('.k8sh-evidence').length > 0")
        state = browser.evaluate(PAGE_STATE)
        png = browser.screenshot()
    assert state["summary"], "the summary by framework is not visible"
    assert "CIS Kubernetes Benchmark" in state["summaryText"]
    assert "Ensure that the --anonymous-auth argument is set to false (kubelet)" in state["summaryText"]
    assert state["run"] and "plugin version" in state["runText"]
    assert state["evidence"] >= 3, "the failed checks' evidence blocks are not visible"
    assert "KUBELET-ANON - Kubelet refuses anonymous clients on port 10250" in state["evidenceText"]
    assert "GET https://10.0.0.1:6443/api -> 200" in state["evidenceText"]
    assert any("monospace" in grid and "a/x   .    X" in grid for grid in state["grids"]), state["grids"]
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    shot = _screenshot_dir(request.config) / "report.png"
    shot.write_bytes(png)
    extras.append(html_extras.png(base64.b64encode(png).decode()))
