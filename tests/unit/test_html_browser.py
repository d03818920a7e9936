"""The HTML report as a person sees it: opened in headless Chromium; summary and evidence visible."""

from __future__ import annotations

import base64
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from chromium import Chromium, find_chromium, print_to_pdf
from fake_suites import SUITE
from pypdf import PdfReader
from pytest_html import extras as html_extras

# What the page shows: title, the first screen (inside the viewport?), summary, evidence blocks and grids.
PAGE_STATE = """(() => {
  const visible = el => {
    if (!el) return false;
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== 'hidden' && style.display !== 'none';
  };
  const onFirstScreen = el => visible(el) && el.getBoundingClientRect().bottom <= window.innerHeight;
  const top = el => el ? el.getBoundingClientRect().top + window.scrollY : -1;
  const summary = document.getElementById('k8sh-summary');
  const run = document.getElementById('k8sh-run');
  const findings = document.getElementById('k8sh-findings');
  const blocks = [...document.querySelectorAll('.k8sh-evidence')].filter(visible);
  const cells = [...document.querySelectorAll('.k8sh-evidence table.grid td')].filter(visible);
  return {title: document.title, headline: document.querySelector('.k8sh-headline')?.innerText || '',
          findingsOnFirstScreen: onFirstScreen(findings),
          findings: findings ? [...findings.querySelectorAll('tr')].slice(1).map(r => r.innerText) : [],
          summary: visible(summary), summaryText: summary ? summary.innerText : '',
          bars: document.querySelectorAll('#k8sh-summary .k8sh-bar span').length,
          run: visible(run), runText: run ? run.innerText : '',
          environmentBelowResults: top(document.getElementById('environment'))
                                   > top(document.getElementById('results-table')),
          tableHead: [...document.querySelectorAll('#results-table-head th')].map(th => th.innerText),
          evidence: blocks.length, evidenceText: blocks.map(b => b.innerText).join('\\n'),
          gridCells: cells.map(td => [td.className, td.innerText, getComputedStyle(td).backgroundColor]
                               .join(':'))};
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


def test_report_shows_findings_first_then_summary_and_evidence_in_a_browser(
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
    assert state["title"] == "Kubernetes hardening report: existing cluster"
    assert state["headline"] == "3 failed of 4 checks."
    assert state["findingsOnFirstScreen"], "the findings table is not on the first screen"
    assert [row.split("\t")[:3] for row in state["findings"]] == [
        ["CRITICAL", "FAILED", "KUBELET-ANON"],
        ["MEDIUM", "FAILED", "API-ANON-AUTH"],
        ["MEDIUM", "FAILED", "NETPOL-DEFAULT-DENY-EGRESS"],
    ]
    assert "Namespace/legacy\tno default-deny egress in namespace legacy" in state["findings"][2]
    assert state["environmentBelowResults"], "pytest's environment table is still above the results"
    assert state["tableHead"][:6] == ["Result", "Check", "Title", "Severity", "Controls", "Objects"]
    assert state["summary"], "the summary by framework is not visible"
    assert "CIS Kubernetes Benchmark" in state["summaryText"]
    assert "Ensure that the --anonymous-auth argument is set to false (kubelet)" in state["summaryText"]
    assert state["bars"] >= 8, "a bar per framework section is missing"
    assert state["run"] and "plugin version" in state["runText"]
    assert state["evidence"] >= 3, "the failed checks' evidence blocks are not visible"
    assert "KUBELET-ANON - Kubelet refuses anonymous clients on port 10250" in state["evidenceText"]
    assert "GET https://10.0.0.1:6443/api -> 200" in state["evidenceText"]
    allowed, blocked = "allowed:.:rgb(200, 230, 201)", "blocked:X:rgb(255, 205, 210)"
    assert state["gridCells"] == [allowed, blocked, blocked, allowed] * 2, state["gridCells"]
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    shot = _screenshot_dir(request.config) / "report.png"
    shot.write_bytes(png)
    extras.append(html_extras.png(base64.b64encode(png).decode()))


def test_report_prints_to_pdf_with_the_findings_on_its_first_page(
    pytester: pytest.Pytester, chromium_binary: str
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest("--evidence-dir=out", "--html=out/report.html", "--self-contained-html")
    pdf = pytester.path / "report.pdf"
    print_to_pdf(chromium_binary, pytester.path / "out" / "report.html", pdf, pytester.path / "profile")
    first = " ".join(unicodedata.normalize("NFKC", PdfReader(pdf).pages[0].extract_text()).split())
    for text in ("Kubernetes hardening report", "3 failed of 4 checks.", "Findings, most severe first",
                 "CRITICAL FAILED KUBELET-ANON", "NETPOL-DEFAULT-DENY-EGRESS", "plugin version"):  # fmt: skip
        assert text in first, f"{text!r} is not on the PDF's first page: {first}"
    assert "Show all details" not in first, "the page's buttons are printed"
