"""Evidence rendered for pytest-html: readable, escaped, redacted.

Per check: verdict (with waiver and baseline), controls with their titles, severity, the objects a
failure is about, and each observation (HTTP request and response, TLS details, reachability grids in
monospace, objects). At the top of the report: the run's metadata and a summary per framework control.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from pytest_html import extras

from pytest_k8sharden.catalog import Catalog
from pytest_k8sharden.evidence.bundle import CheckResult
from pytest_k8sharden.evidence.grids import render_grids
from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.summary import count_outcomes
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.redact import redact, redact_text

SUMMARY_OUTCOMES = (Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.WAIVED, Outcome.ERROR)


def _text(value: object) -> str:
    return escape(redact_text(str(value)))


def _row(label: str, cell_html: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{cell_html}</td></tr>"


def _value(key: str, value: Any) -> str:
    if key == "grids":
        return render_grids(value)
    if isinstance(value, Mapping):
        return _table(value)
    if isinstance(value, list | tuple) and all(not isinstance(item, Mapping | list) for item in value):
        return _text(", ".join(map(str, value)))
    if isinstance(value, list | tuple):
        return "".join(_value(key, item) for item in value)
    if isinstance(value, str) and "\n" in value:
        return f"<pre>{_text(value)}</pre>"
    return _text(value if isinstance(value, str) else json.dumps(value))


def _table(mapping: Mapping[str, Any]) -> str:
    rows = "".join(
        _row(str(key), _value(str(key), value)) for key, value in mapping.items() if value not in (None, "")
    )
    return f"<table>{rows}</table>"


def render_observation(observation: Observation) -> str:
    """One observation: its summary line, where from and when, then what came back."""
    data = redact(observation.to_dict())
    details = data.pop("details", {}) or {}
    head = f"<div><b>{_text(data.pop('kind'))}</b> {_text(data.pop('summary'))}</div>"
    return f'<div class="observation">{head}{_table({**data, **details})}</div>'


def _verdict(result: CheckResult) -> str:
    text = f'<span class="{escape(str(result.outcome))}">{escape(str(result.outcome))}</span>'
    if result.message:
        text += f": {_text(result.message)}"
    if result.waiver is not None:
        waiver = result.waiver.waiver
        state = "EXPIRED waiver (no longer applies)" if result.waiver.expired else "waived"
        text += (
            f"<br>{state}: {_text(waiver.reason)} (owner {_text(waiver.owner)}, "
            f"expires {waiver.expires.isoformat()}, waiver on line {waiver.line})"
        )
    if result.baseline is not None:
        text += f"<br>baseline: {escape(result.baseline)} failure"
        if result.new_subjects:
            text += f" (not failing before: {_text(', '.join(result.new_subjects))})"
    return text


def _control(ident: str, catalog: Catalog) -> str:
    control = catalog.controls.get(ident)
    return _text(f"{ident}: {control.title}" if control else ident)


def render_result(result: CheckResult, catalog: Catalog) -> str:
    """HTML for one check: verdict, check and controls, then each observation. Everything is escaped."""
    head = [
        _row("verdict", _verdict(result)),
        _row("check", _text(" - ".join(part for part in (result.check, result.title) if part))),
        _row("controls", "<br>".join(_control(ident, catalog) for ident in result.controls) or "none"),
        _row("severity", _text(result.severity or "unspecified")),
    ]
    if result.subjects:
        head.append(_row("objects", _text(", ".join(result.subjects))))
    observations = (
        "".join(render_observation(item) for item in result.evidence) or "<p>No observation recorded.</p>"
    )
    return f'<div class="k8sh k8sh-evidence"><table>{"".join(head)}</table>{observations}</div>'


def html_extra(result: CheckResult, catalog: Catalog) -> dict[str, Any]:
    """A pytest-html extra carrying `result`'s evidence."""
    extra: dict[str, Any] = extras.html(render_result(result, catalog))
    return extra


def _section_key(section: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"[./ ]+", section))


def _bar(results: Sequence[CheckResult]) -> str:
    """A bar of passed / failed (and errors) / inconclusive / other checks, in proportion to their counts."""
    counts = count_outcomes(results)
    parts = (
        ("passed", counts[Outcome.PASSED]),
        ("failed", counts[Outcome.FAILED] + counts[Outcome.ERROR]),
        ("inconclusive", counts[Outcome.INCONCLUSIVE]),
        ("other", counts[Outcome.WAIVED] + counts[Outcome.SKIPPED]),
    )
    total = sum(count for _, count in parts) or 1
    spans = "".join(
        f'<span class="b-{name}" style="width:{100 * count / total:.1f}%" title="{count} {name}"></span>'
        for name, count in parts
        if count
    )
    return f'<div class="k8sh-bar">{spans}</div>'


def _counts(results: Sequence[CheckResult]) -> str:
    counts = count_outcomes(results)
    cells = []
    for outcome in SUMMARY_OUTCOMES:
        css = str(outcome) if counts[outcome] else "zero"
        cells.append(f'<td class="{css}">{counts[outcome]}</td>')
    return "".join(cells) + f"<td>{_bar(results)}</td>"


def render_summary(results: Sequence[CheckResult], catalog: Catalog) -> str:
    """Per framework, per control: how many checks giving evidence for it passed, failed, ..."""
    header = "".join(f"<th>{escape(str(outcome))}</th>" for outcome in SUMMARY_OUTCOMES)
    rows = [f'<tr><th colspan="2">all checks</th>{_counts(results)}</tr>']
    for ident, framework in catalog.frameworks.items():
        controls = sorted(
            {c for result in results for c in result.controls if c in catalog.controls}
            & {c.id for c in catalog.controls.values() if c.framework == ident},
            key=lambda c: _section_key(catalog.controls[c].section),
        )
        if not controls:
            continue
        covering = [result for result in results if set(result.controls) & set(controls)]
        rows.append(f'<tr><th colspan="2">{_text(framework.title)} {_text(framework.version)}</th>'
                    f"{_counts(covering)}</tr>")  # fmt: skip
        for control in controls:
            entry = catalog.controls[control]
            checks = [result for result in results if control in result.controls]
            rows.append(
                f"<tr><td>{_text(entry.section)}</td><td>{_text(entry.title)}</td>{_counts(checks)}</tr>"
            )
    table = f'<table><tr><th colspan="2">control</th>{header}<th>checks</th></tr>{"".join(rows)}</table>'
    return f'<div class="k8sh" id="k8sh-summary"><h2>Summary by framework</h2>{table}</div>'
