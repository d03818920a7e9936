"""The report's first screen: which cluster, when, who scanned, the counts, and the findings by severity.

Also the page's own style sheet (screen and print): pytest-html's environment table moves below the
results, and the page prints to PDF with colours and words intact.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from pytest_k8sharden.evidence.bundle import CheckResult, RunInfo
from pytest_k8sharden.evidence.gate import Baseline
from pytest_k8sharden.evidence.summary import (
    FINDING_OUTCOMES,
    SEVERITY_ROWS,
    UNSPECIFIED,
    BaselineChanges,
    baseline_changes,
    count_by_severity,
    count_outcomes,
    findings,
    reason_line,
)
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.redact import redact_text

OBJECTS_SHOWN = 4
"""How many objects a finding's row names before "and N more"."""
FINDING_COLUMNS = ("severity", "verdict", "check", "title", "objects", "reason")
COUNTED_OUTCOMES = (
    Outcome.FAILED, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.WAIVED, Outcome.PASSED, Outcome.SKIPPED,
)  # fmt: skip
REPORT_TITLE = "Kubernetes hardening report"
PAGE_STYLE = """<style>
body{display:flex;flex-direction:column;color:#222}
body>*{order:1}
#results-table{order:2}
#environment-header,#environment{order:3}
footer{order:4}
.summary__data{flex:1 1 auto}
#results-table{color:#222}
.failed .col-result,.error .col-result{font-weight:bold}
.inconclusive .col-result{color:#a15c00;font-weight:bold}.waived .col-result{color:#555;font-weight:bold}
.k8sh{color:#222;font-size:13px}
.k8sh h2{margin:10px 0 4px}
.k8sh table{border-collapse:collapse;margin:4px 0}
.k8sh td,.k8sh th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.k8sh pre{margin:0;white-space:pre-wrap;font-family:monospace}
.k8sh .observation{margin:6px 0;padding:4px;border-left:3px solid #888}
.k8sh .failed,.k8sh .error,.verdict.failed,.verdict.error{color:#b00020;font-weight:bold}
.k8sh .passed,.verdict.passed{color:#1b5e20;font-weight:bold}
.k8sh .inconclusive,.verdict.inconclusive{color:#a15c00;font-weight:bold}
.k8sh .waived,.k8sh .skipped,.verdict.waived,.verdict.skipped{color:#555;font-weight:bold}
.k8sh .zero{color:#bbb;font-weight:normal}
.k8sh-headline{font-size:18px;font-weight:bold;margin:6px 0}
.k8sh-facts th{background:#f3f3f3;white-space:nowrap}
.k8sh-counts{display:flex;flex-wrap:wrap;gap:6px;margin:6px 0}
.k8sh-count{border:2px solid currentColor;border-radius:4px;padding:2px 8px;font-size:14px}
.k8sh-count b{font-size:18px;margin-right:4px}
.sev{display:inline-block;min-width:62px;padding:0 4px;border-radius:3px;color:#fff;font-weight:bold;
  text-align:center;text-transform:uppercase;font-size:11px}
.sev-critical{background:#7b0016}.sev-high{background:#c62828}.sev-medium{background:#e07b00}
.sev-low{background:#5d7b9d}.sev-info,.sev-unspecified{background:#777}
#k8sh-findings td.reason{max-width:60ch}#k8sh-findings td.check,.col-check{white-space:nowrap}
.k8sh-bar{display:flex;width:180px;height:12px;border:1px solid #999;background:#eee}
.k8sh-bar span{display:block;height:100%}
.k8sh-bar .b-passed{background:#2e7d32}.k8sh-bar .b-failed{background:#c62828}
.k8sh-bar .b-inconclusive{background:#f0a030}.k8sh-bar .b-other{background:#9e9e9e}
table.grid td,table.grid th{text-align:center !important;font-family:monospace;min-width:2.2em;
  padding:1px 4px}
table.grid td.allowed{background:#c8e6c9}table.grid td.blocked{background:#ffcdd2}
table.grid td.unknown{background:#fff3c4}table.grid td.agree{background:#eeeeee}
table.grid td.differ{background:#c62828;color:#fff;font-weight:bold}
.k8sh-grid-caption{font-weight:bold;margin-top:6px}
.grid-set{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start;max-width:95vw}
.k8sh-evidence td{overflow-wrap:anywhere}
@page{size:A4 landscape;margin:10mm}
@media print{
  *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
  body{min-width:0;font-size:10px}
  .controls,.filter,.summary__reload,.summary__spacer,.collapse,#environment-header,#environment,
  footer,.logwrapper,.media{display:none !important}
  #k8sh-findings tr,.k8sh-evidence table tr{break-inside:avoid}
  #k8sh-summary{break-before:page}
  #results-table{break-before:page}
  .k8sh{font-size:10px}
}
</style>"""


def report_title(cluster: str, profile: str | None) -> str:
    """The page's title: what it is and which kind of cluster it looked at."""
    return f"{REPORT_TITLE}: {cluster} cluster" + (f", {profile} profile" if profile else "")


def _text(value: object) -> str:
    return escape(redact_text(str(value)))


def severity_badge(severity: str | None) -> str:
    """A coloured label with the word in it, so it reads in black and white too."""
    level = severity or UNSPECIFIED
    return f'<span class="sev sev-{escape(level)}">{escape(level)}</span>'


def verdict_word(outcome: Outcome) -> str:
    """The verdict as a coloured word."""
    return f'<span class="verdict {escape(str(outcome))}">{escape(str(outcome).upper())}</span>'


def objects_named(subjects: Sequence[str], shown: int = OBJECTS_SHOWN) -> str:
    """The first objects a result names, then how many more."""
    text = ", ".join(subjects[:shown])
    if len(subjects) > shown:
        text += f" and {len(subjects) - shown} more"
    return _text(text)


def _moment(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _css(outcome: Outcome, count: int) -> str:
    return escape(str(outcome)) if count else "zero"


def _facts(run: RunInfo) -> str:
    cluster = run.cluster
    where = "no cluster was opened"
    if cluster is not None:
        where = cluster.provider + (f" ({cluster.profile} profile)" if cluster.profile else "")
    rows = (
        ("cluster", where),
        ("API server", cluster.server if cluster else ""),
        ("Kubernetes version", cluster.version if cluster else ""),
        ("nodes", ", ".join(cluster.nodes) if cluster else ""),
        ("scanned", f"{_moment(run.started)} to {_moment(run.finished)}"),
        ("scanner identity", run.identity or "unknown"),
        ("plugin version", run.plugin_version),
    )  # fmt: skip
    body = "".join(
        f"<tr><th>{escape(label)}</th><td>{_text(value)}</td></tr>" for label, value in rows if value
    )
    return f'<table class="k8sh-facts" id="k8sh-run">{body}</table>'


def headline(results: Sequence[CheckResult]) -> str:
    """One sentence: how many checks failed (or could not look) out of how many."""
    counts = count_outcomes(results)
    parts = [f"{counts[outcome]} {outcome}" for outcome in FINDING_OUTCOMES if counts[outcome]]
    if not parts:
        return f"All {len(results)} checks passed or were waived or skipped."
    return f"{', '.join(parts)} of {len(results)} checks."


def _counts(results: Sequence[CheckResult]) -> str:
    counts = count_outcomes(results)
    badges = "".join(
        f'<span class="k8sh-count {_css(o, counts[o])}"><b>{counts[o]}</b>{escape(str(o))}</span>'
        for o in COUNTED_OUTCOMES
    )
    return f'<div class="k8sh-counts" id="k8sh-counts">{badges}</div>'


def _severity_table(results: Sequence[CheckResult]) -> str:
    table = count_by_severity(results)
    head = "".join(f"<th>{escape(str(outcome))}</th>" for outcome in FINDING_OUTCOMES)
    rows = []
    for severity in SEVERITY_ROWS:
        counts = table[severity]
        if severity == UNSPECIFIED and not any(counts.values()):
            continue
        cells = "".join(f'<td class="{_css(o, n)}">{n}</td>' for o, n in counts.items())
        rows.append(f"<tr><th>{severity_badge(severity)}</th>{cells}</tr>")
    return f'<table id="k8sh-severity"><tr><th>severity</th>{head}</tr>{"".join(rows)}</table>'


def _findings_table(results: Sequence[CheckResult]) -> str:
    found = findings(results)
    if not found:
        return '<p id="k8sh-findings">No check failed, crashed or was inconclusive.</p>'
    named = any(r.subjects for r in found)  # no empty objects column when no finding names an object
    rows = "".join(
        f"<tr><td>{severity_badge(r.severity)}</td><td>{verdict_word(r.outcome)}</td>"
        f'<td class="check"><b>{_text(r.check or r.nodeid)}</b></td><td>{_text(r.title)}</td>'
        + (f"<td>{objects_named(r.subjects)}</td>" if named else "")
        + f'<td class="reason">{_text(reason_line(r.message))}</td></tr>'
        for r in found
    )
    head = "".join(f"<th>{name}</th>" for name in FINDING_COLUMNS if named or name != "objects")
    return f'<table id="k8sh-findings"><tr>{head}</tr>{rows}</table>'


def _changes(changes: BaselineChanges, source: str) -> str:
    def line(label: str, items: Sequence[CheckResult]) -> str:
        names = ", ".join(r.check or r.nodeid for r in items) or "none"
        return f"<tr><th>{escape(label)}</th><td><b>{len(items)}</b></td><td>{_text(names)}</td></tr>"

    rows = line("new", changes.new) + line("unchanged", changes.unchanged) + line("fixed", changes.fixed)
    return f'<h2>Against the baseline {_text(source)}</h2><table id="k8sh-baseline">{rows}</table>'


def render_overview(run: RunInfo, results: Sequence[CheckResult], baseline: Baseline | None) -> str:
    """The first screen: headline, cluster facts, counts by verdict and severity, the findings table, and
    (with a baseline) what is new, unchanged and fixed. Everything from a cluster is escaped and redacted."""
    parts = [
        PAGE_STYLE,
        '<div class="k8sh" id="k8sh-overview">',
        f'<div class="k8sh-headline">{escape(headline(results))}</div>',
        '<div class="grid-set">',
        _facts(run),
        _severity_table(results),
        "</div>",
        _counts(results),
        "<h2>Findings, most severe first</h2>",
        _findings_table(results),
    ]
    if baseline is not None:
        parts.append(_changes(baseline_changes(results, baseline), baseline.source))
    return "".join([*parts, "</div>"])
