"""Evidence rendered for pytest-html: readable, escaped, redacted."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from pytest_html import extras

from pytest_k8sharden.evidence.bundle import CheckResult
from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.redact import redact, redact_text

_STYLE = (
    "<style>.k8sh-evidence table{border-collapse:collapse;margin:4px 0}"
    ".k8sh-evidence td,.k8sh-evidence th{border:1px solid #ccc;padding:2px 6px;text-align:left;"
    "vertical-align:top}"
    ".k8sh-evidence pre{margin:0;white-space:pre-wrap}</style>"
)


def _row(label: str, value: str) -> str:
    return f"<tr><th>{escape(label)}</th><td>{escape(redact_text(value))}</td></tr>"


def _observation(observation: Observation) -> str:
    data = redact(observation.to_dict())
    details = data.pop("details", {})
    rows = "".join(
        _row(key, value if isinstance(value, str) else json.dumps(value))
        for key, value in data.items()
        if value is not None
    )
    body = escape(json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True)) if details else ""
    pre = f"<tr><th>details</th><td><pre>{body}</pre></td></tr>" if body else ""
    return f"<table>{rows}{pre}</table>"


def render_result(result: CheckResult) -> str:
    """HTML for one check: verdict, check and controls, then each observation. Everything is escaped."""
    head = [
        _row("verdict", str(result.outcome) + (f": {result.message}" if result.message else "")),
        _row("check", " - ".join(part for part in (result.check, result.title) if part)),
        _row("controls", ", ".join(result.controls) or "none"),
        _row("severity", result.severity or "unspecified"),
    ]
    observations = (
        "".join(_observation(item) for item in result.evidence) or "<p>No observation recorded.</p>"
    )
    return f'{_STYLE}<div class="k8sh-evidence"><table>{"".join(head)}</table>{observations}</div>'


def html_extra(result: CheckResult) -> dict[str, Any]:
    """A pytest-html extra carrying `result`'s evidence."""
    extra: dict[str, Any] = extras.html(render_result(result))
    return extra
