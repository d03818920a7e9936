"""Reachability grids (expected, observed, diff) as coloured HTML tables that keep their `.`/`X`/`?` marks.

The grids arrive as text lines, the way the NetworkPolicy engine renders them (a header row of
destinations, optionally led by `-`, then one row per source); any other line is kept as a caption or a
note. Every name and line is escaped and redacted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import final

from pytest_k8sharden.redact import redact_text

CORNER = "-"
MARK_CLASSES = {".": "allowed", "X": "blocked", "?": "unknown"}
DIFF_CLASSES = {".": "agree", "X": "differ", "?": "unknown"}
MARK_TITLES = {"allowed": "allowed", "blocked": "blocked", "unknown": "unknown", "agree": "agrees",
               "differ": "differs from expected"}  # fmt: skip


@final
@dataclass(frozen=True)
class Grid:
    """One parsed grid: its caption, destinations, and rows of (source, marks)."""

    caption: str
    destinations: tuple[str, ...]
    rows: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def is_diff(self) -> bool:
        """A diff grid: `X` marks a disagreement, not a blocked connection."""
        return self.caption.lower().startswith("diff")


def _grid_rows(tokens: Sequence[list[str]], start: int, width: int) -> int:
    end = start
    while (
        end < len(tokens)
        and len(tokens[end]) == width + 1
        and all(t in MARK_CLASSES for t in tokens[end][1:])
    ):
        end += 1
    return end


def parse_grids(lines: Sequence[str], caption: str = "") -> list[Grid | str]:
    """Grids and the other non-blank lines, in order; a line ending with ':' captions the grid after it."""
    tokens = [line.split() for line in lines]
    parsed: list[Grid | str] = []
    index = 0
    while index < len(tokens):
        header = tokens[index]
        destinations = tuple(header[1:] if header[:1] == [CORNER] else header)
        end = _grid_rows(tokens, index + 1, len(destinations))
        if destinations and end > index + 1:
            rows = tuple((row[0], tuple(row[1:])) for row in tokens[index + 1 : end])
            parsed.append(Grid(caption, destinations, rows))
            caption, index = "", end
            continue
        line = lines[index].strip()
        if line.endswith(":"):
            caption = line[:-1]
        elif line:
            parsed.append(line)
        index += 1
    return parsed


def _text(value: object) -> str:
    return escape(redact_text(str(value)))


def render_grid(grid: Grid) -> str:
    """One grid as a table: sources down, destinations across, each cell coloured and still marked."""
    classes = DIFF_CLASSES if grid.is_diff else MARK_CLASSES
    head = "".join(f"<th>{_text(name)}</th>" for name in grid.destinations)
    body = "".join(
        f"<tr><th>{_text(source)}</th>"
        + "".join(
            f'<td class="{classes[mark]}" title="{MARK_TITLES[classes[mark]]}">{escape(mark)}</td>'
            for mark in marks
        )
        + "</tr>"
        for source, marks in grid.rows
    )
    caption = f'<div class="k8sh-grid-caption">{_text(grid.caption)}</div>' if grid.caption else ""
    return f'<div>{caption}<table class="grid"><tr><th>from \\ to</th>{head}</tr>{body}</table></div>'


def render_grids(value: object) -> str:
    """The `grids` detail of a matrix observation (label -> lines, or a list of line lists) as tables."""
    items = (
        value.items() if isinstance(value, Mapping) else enumerate(value if isinstance(value, list) else [])
    )
    blocks = []
    for label, lines in items:
        text_lines = [str(line) for line in lines] if isinstance(lines, list) else str(lines).splitlines()
        parts = parse_grids(text_lines, label if isinstance(label, str) else "")
        title = f'<div class="k8sh-grid-caption">{_text(label)}</div>' if isinstance(label, str) else ""
        notes = "".join(f"<div>{_text(part)}</div>" for part in parts if isinstance(part, str))
        tables = "".join(render_grid(part) for part in parts if isinstance(part, Grid))
        if isinstance(label, str) and len([p for p in parts if isinstance(p, Grid)]) == 1:
            title = ""  # the single grid carries the label as its caption
        blocks.append(f'<div>{title}{notes}<div class="grid-set">{tables}</div></div>')
    return f'<div class="grid-set">{"".join(blocks)}</div>'
