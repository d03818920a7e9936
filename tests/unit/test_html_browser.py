"""The HTML report as a person sees it: opened in headless Chromium; summary and evidence visible."""

from __future__ import annotations

import base64
import unicodedata
from typing import Any

import pytest
from chromium import Chromium, print_to_pdf, screenshot_dir
from fake_suites import SUITE
from pypdf import PdfReader
from pytest_html import extras as html_extras
from report_page import PAGE_STATE


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
    shot = screenshot_dir(request.config) / "report.png"
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
