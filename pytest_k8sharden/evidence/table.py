"""The results table by check: check id, title, severity, controls and objects beside pytest's columns.

pytest-html sorts a column by the text of its cells; the severity cell starts with an HTML comment holding
its rank, so critical sorts before low. The node id stays in pytest-html's own "Test" column.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pytest_k8sharden.evidence.bundle import CheckResult
from pytest_k8sharden.evidence.overview import objects_named, severity_badge
from pytest_k8sharden.evidence.summary import severity_rank
from pytest_k8sharden.redact import redact_text

COLUMNS = (("check", "Check"), ("title", "Title"), ("severity", "Severity"), ("controls", "Controls"),
           ("objects", "Objects"))  # fmt: skip
"""(column type, heading) of the columns added after pytest-html's Result column."""
INSERT_AT = 1


def header_cells() -> list[str]:
    """The added headings; every one sortable except controls and objects."""
    return [
        f'<th class="sortable" data-column-type="{kind}">{heading}</th>'
        if kind not in ("controls", "objects")
        else f"<th>{heading}</th>"
        for kind, heading in COLUMNS
    ]


def _text(value: object) -> str:
    return escape(redact_text(str(value)))


def row_cells(result: CheckResult | None) -> list[str]:
    """The added cells of one row: empty for a test that is not a check (or whose verdict is not known)."""
    if result is None:
        return [f'<td class="col-{kind}"></td>' for kind, _ in COLUMNS]
    values = (
        f"<b>{_text(result.check or '')}</b>",
        _text(result.title),
        f"<!--{severity_rank(result.severity)}-->{severity_badge(result.severity)}",
        _text(" ".join(result.controls)),
        objects_named(result.subjects),
    )
    return [f'<td class="col-{kind}">{value}</td>' for (kind, _), value in zip(COLUMNS, values, strict=True)]


def insert_cells(cells: list[str], added: Sequence[str]) -> None:
    """Put the added cells (or headings) right after the Result column, in place."""
    cells[INSERT_AT:INSERT_AT] = list(added)


def latest_result(results: Sequence[CheckResult], nodeid: str) -> CheckResult | None:
    """The settled result of the check with this node id (the last one recorded)."""
    return next((result for result in reversed(results) if result.nodeid == nodeid), None)
