"""TruthTable: from -> to -> allowed (or unknown), rendered and parsed as upstream-style grids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, final

ALLOWED: Final = "."
BLOCKED: Final = "X"
UNKNOWN: Final = "?"
_CORNER: Final = "-"
_MARKS: Final[Mapping[str, bool | None]] = {
    ALLOWED: True,
    BLOCKED: False,
    UNKNOWN: None,
}

Pair = tuple[str, str]


def _mark(value: bool | None) -> str:
    if value is None:
        return UNKNOWN
    return ALLOWED if value else BLOCKED


def _unique(items: tuple[str, ...], what: str) -> None:
    if len(set(items)) != len(items):
        raise ValueError(f"duplicate {what} in {items!r}")
    if any(not item or item.split() != [item] for item in items):
        raise ValueError(f"{what} must be non-empty and free of whitespace: {items!r}")


@final
@dataclass(frozen=True)
class TruthTable:
    """An ordered from x to grid of booleans; a pair missing from `values` is unknown."""

    froms: tuple[str, ...]
    tos: tuple[str, ...]
    values: Mapping[Pair, bool] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "froms", tuple(self.froms))
        object.__setattr__(self, "tos", tuple(self.tos))
        _unique(self.froms, "froms")
        _unique(self.tos, "tos")
        strays = [pair for pair in self.values if pair[0] not in self.froms or pair[1] not in self.tos]
        if strays:
            raise ValueError(f"values outside the table: {strays!r}")
        object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    @classmethod
    def build(
        cls,
        froms: Iterable[str],
        tos: Iterable[str],
        decide: Callable[[str, str], bool | None],
    ) -> TruthTable:
        """A table whose every cell is `decide(from, to)` (None leaves it unknown)."""
        froms, tos = tuple(froms), tuple(tos)
        cells = {(f, t): decide(f, t) for f in froms for t in tos}
        return cls(
            froms,
            tos,
            {pair: value for pair, value in cells.items() if value is not None},
        )

    def get(self, source: str, destination: str) -> bool | None:
        """The value for one pair, None if unknown; KeyError if the pair is not in the table."""
        if source not in self.froms or destination not in self.tos:
            raise KeyError((source, destination))
        return self.values.get((source, destination))

    def pairs(self) -> Iterator[Pair]:
        """Every (from, to) pair in row-major order."""
        return ((f, t) for f in self.froms for t in self.tos)

    @property
    def complete(self) -> bool:
        """Whether every pair has a value."""
        return len(self.values) == len(self.froms) * len(self.tos)

    def updated(self, changes: Mapping[Pair, bool | None]) -> TruthTable:
        """A copy with some pairs set (None makes a pair unknown)."""
        merged: dict[Pair, bool | None] = {**self.values, **changes}
        return TruthTable(self.froms, self.tos, {p: v for p, v in merged.items() if v is not None})

    def compare(self, other: TruthTable) -> TruthTable:
        """Pairwise equality with `other` (same froms and tos); unknown where either side is."""
        if (self.froms, self.tos) != (other.froms, other.tos):
            raise ValueError(
                "cannot compare tables with different headers: "
                f"{self.froms}x{self.tos} vs {other.froms}x{other.tos}"
            )

        def same(source: str, destination: str) -> bool | None:
            mine, theirs = self.get(source, destination), other.get(source, destination)
            return None if mine is None or theirs is None else mine == theirs

        return TruthTable.build(self.froms, self.tos, same)

    def render(self, indent: str = "") -> str:
        """The grid: a header row of destinations, one row per source, `.`/`X`/`?` cells."""
        rows = [[_CORNER, *self.tos]]
        rows += [[f, *(_mark(self.values.get((f, t))) for t in self.tos)] for f in self.froms]
        widths = [max(len(row[column]) for row in rows) for column in range(len(self.tos) + 1)]
        return "\n".join(
            indent + " ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        )

    def __str__(self) -> str:
        return self.render()

    @classmethod
    def parse(cls, text: str) -> TruthTable:
        """Read a grid as `render` writes it (any whitespace between cells, blank lines skipped)."""
        lines = [line.split() for line in text.strip().splitlines() if line.strip()]
        if not lines or lines[0][0] != _CORNER:
            raise ValueError(f"a grid starts with a header row beginning with {_CORNER!r}")
        tos = tuple(lines[0][1:])
        values: dict[Pair, bool] = {}
        for number, (source, *marks) in enumerate(lines[1:], start=2):
            if len(marks) != len(tos) or any(mark not in _MARKS for mark in marks):
                raise ValueError(f"grid line {number}: expected {len(tos)} cells of . X ?, got {marks!r}")
            for destination, mark in zip(tos, marks, strict=True):
                value = _MARKS[mark]
                if value is not None:
                    values[(source, destination)] = value
        return cls(tuple(row[0] for row in lines[1:]), tos, values)
