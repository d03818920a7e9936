"""The history page: every check's verdict across runs, and a trend line of failures by severity.

One self-contained HTML file (inline CSS and SVG, no script). Everything read from a bundle is escaped
and redacted.
"""

from __future__ import annotations

from html import escape

from pytest_k8sharden.evidence.history import History, StoredRun
from pytest_k8sharden.evidence.overview import PAGE_STYLE, severity_badge
from pytest_k8sharden.evidence.summary import SEVERITY_ROWS
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.redact import redact_text

TITLE = "Kubernetes hardening history"
SEVERITY_COLOURS = {"critical": "#7b0016", "high": "#c62828", "medium": "#e07b00", "low": "#5d7b9d",
                    "info": "#777777", "unspecified": "#777777"}  # fmt: skip
SHORT = {Outcome.PASSED: "PASS", Outcome.FAILED: "FAIL", Outcome.INCONCLUSIVE: "INCONCL.",
         Outcome.ERROR: "ERROR", Outcome.WAIVED: "WAIVED", Outcome.SKIPPED: "SKIP"}  # fmt: skip
WIDTH, HEIGHT, MARGIN = 640, 220, 36


def _text(value: object) -> str:
    return escape(redact_text(str(value)))


def _x(index: int, count: int) -> float:
    inner = WIDTH - 2 * MARGIN
    return MARGIN + (inner / 2 if count == 1 else inner * index / (count - 1))


def _y(value: int, top: int) -> float:
    return HEIGHT - MARGIN - (HEIGHT - 2 * MARGIN) * value / max(top, 1)


def render_trend(runs: tuple[StoredRun, ...]) -> str:
    """An SVG line per severity that ever failed: failures in each run, oldest on the left."""
    counts = [run.failures_by_severity() for run in runs]
    top = max((n for row in counts for n in row.values()), default=0)
    axes = (
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" y2="{HEIGHT - MARGIN}" '
        'stroke="#555"/>'
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="#555"/>'
        f'<text x="{MARGIN - 6}" y="{MARGIN + 4}" text-anchor="end">{top}</text>'
        f'<text x="{MARGIN - 6}" y="{HEIGHT - MARGIN + 4}" text-anchor="end">0</text>'
    )
    ticks = "".join(
        f'<text x="{_x(i, len(runs)):.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{i + 1}</text>'
        for i in range(len(runs))
    )
    lines = []
    for severity in SEVERITY_ROWS:
        series = [row[severity] for row in counts]
        if not any(series):
            continue
        colour = SEVERITY_COLOURS[severity]
        points = [(_x(i, len(runs)), _y(n, top)) for i, n in enumerate(series)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        dots = "".join(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>run {i + 1}: {n} {severity} '
            f"failed</title></circle>"
            for i, ((x, y), n) in enumerate(zip(points, series, strict=True))
        )
        lines.append(
            f'<g class="trend-{severity}"><polyline points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="2"/>{dots}</g>'
        )
    legend = " ".join(severity_badge(s) for s in SEVERITY_ROWS if any(row[s] for row in counts))
    svg = (
        f'<svg id="k8sh-trend" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-size="11" role="img" aria-label="failed checks by severity per '
        f'run">{axes}{ticks}{"".join(lines)}</svg>'
    )
    return (
        f"<div>{svg}<div>failed checks per run (runs numbered below): {legend or 'none failed'}</div></div>"
    )


def _cell(outcome: Outcome | None) -> str:
    if outcome is None:
        return '<td class="zero">not run</td>'
    return f'<td class="{escape(str(outcome))}">{SHORT[outcome]}</td>'


def render_matrix(history: History) -> str:
    """A row per check, a column per run: the verdict as a coloured word."""
    runs = history.runs
    head = "".join(
        f'<th title="{_text(run.source)}">{i + 1}<br>{_text(run.started[:16])}</th>'
        for i, run in enumerate(runs)
    )
    rows = "".join(
        f"<tr><td>{severity_badge(check.severity)}</td><td><b>{_text(check.check)}</b></td>"
        f"<td>{_text(check.title)}</td>"
        f"{''.join(_cell(history.outcome(run, check.check)) for run in runs)}</tr>"
        for check in history.checks()
    )
    return (
        f'<table id="k8sh-history"><tr><th>severity</th><th>check</th><th>title</th>{head}</tr>{rows}</table>'
    )


def _runs(history: History) -> str:
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{_text(run.started)}</td><td>{_text(run.cluster)}</td>"
        f"<td>{_text(run.source)}</td><td>{sum(v.outcome is Outcome.FAILED for v in run.verdicts)} failed of "
        f"{len(run.verdicts)}</td></tr>"
        for i, run in enumerate(history.runs)
    )
    head = "".join(f"<th>{name}</th>" for name in ("run", "started", "cluster", "bundle", "verdicts"))
    return f'<table id="k8sh-runs"><tr>{head}</tr>{rows}</table>'


def _refused(history: History) -> str:
    if not history.refused:
        return ""
    items = "".join(f"<li><b>{_text(r.source)}</b>: {_text(r.reason)}</li>" for r in history.refused)
    return f'<h2 class="failed">Refused bundles (not read)</h2><ul id="k8sh-refused">{items}</ul>'


def render_history(history: History) -> str:
    """The whole page."""
    body = (
        f"{_refused(history)}<h2>Failed checks by severity</h2>{render_trend(history.runs)}"
        f"<h2>Runs (verified against their manifests)</h2>{_runs(history)}"
        f"<h2>Every check across runs</h2>{render_matrix(history)}"
        if history.runs
        else f"{_refused(history)}<p>No verified run to show.</p>"
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"/><title>{TITLE}</title>{PAGE_STYLE}</head>'
        f'<body><div class="k8sh"><h1>{TITLE}</h1>{body}</div></body></html>\n'
    )
