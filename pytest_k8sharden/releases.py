"""The dated table of Kubernetes release series (shipped: ``posture/releases.yaml``; your own:
``--release-table FILE`` in the same format), parsed and checked; posture/versions.py judges versions by it.

Core layer: settings load the table once at configure time, nothing here touches a cluster.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

import yaml

DEFAULT_MAX_AGE_DAYS: Final = 120


@dataclass(frozen=True)
class Series:
    """One minor release series."""

    latest_patch: tuple[int, int, int]
    released: datetime.date
    """When latest_patch was released."""
    end_of_life: datetime.date


@dataclass(frozen=True)
class ReleaseTable:
    """The release series known on the day the table was compiled."""

    compiled: datetime.date
    """The day the figures were looked up (findings name it: nothing newer can be known to the table)."""
    series: Mapping[tuple[int, int], Series]
    """(major, minor) -> its series."""
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    """Older than this, a version the table would pass is inconclusive (newer patches may exist)."""
    source: str = "the shipped release table"
    """Where the table was read, for findings."""

    def age(self, today: datetime.date) -> int:
        """Days since the table was compiled."""
        return (today - self.compiled).days

    def stale(self, today: datetime.date) -> bool:
        """Older than max_age_days."""
        return self.age(today) > self.max_age_days


class ReleaseTableError(ValueError):
    """A release table file that cannot be used; ``problems`` names each one."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"release table {source}: {'; '.join(problems)}")
        self.problems = problems


_TOP_KEYS: Final = frozenset({"compiled", "max_age_days", "series"})
_SERIES_KEYS: Final = frozenset({"latest_patch", "released", "end_of_life"})
_PATCH = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def _date(value: Any, where: str, problems: list[str]) -> datetime.date | None:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    problems.append(f"{where} must be a date (YYYY-MM-DD), got {value!r}")
    return None


def _one_series(index: int, entry: Any, compiled: datetime.date | None, problems: list[str]) -> Series | None:
    where = f"series[{index}]"
    if not isinstance(entry, Mapping):
        problems.append(f"{where} must be a mapping with {', '.join(sorted(_SERIES_KEYS))}")
        return None
    unknown, missing = set(map(str, entry)) - _SERIES_KEYS, _SERIES_KEYS - set(map(str, entry))
    problems += [f"{where}: unknown key {key!r}" for key in sorted(unknown)]
    problems += [f"{where}: missing {key}" for key in sorted(missing)]
    if missing:
        return None
    patch = _PATCH.match(str(entry["latest_patch"]))
    if patch is None:
        problems.append(f"{where}.latest_patch must be MAJOR.MINOR.PATCH, got {entry['latest_patch']!r}")
    released = _date(entry["released"], f"{where}.released", problems)
    end_of_life = _date(entry["end_of_life"], f"{where}.end_of_life", problems)
    if released and compiled and released > compiled:
        problems.append(f"{where}.released {released} is after the table was compiled ({compiled})")
    if patch is None or released is None or end_of_life is None:
        return None
    major, minor, micro = (int(part) for part in patch.groups())
    return Series((major, minor, micro), released, end_of_life)


def parse_release_table(document: Any, source: str) -> ReleaseTable:
    """A release table from its YAML document (format in ``releases.yaml``); every problem at once."""
    if not isinstance(document, Mapping):
        raise ReleaseTableError(source, ["must be a mapping with compiled, series and optional max_age_days"])
    problems = [f"unknown key {key!r}" for key in sorted(set(map(str, document)) - _TOP_KEYS)]
    compiled = _date(document.get("compiled"), "compiled", problems)
    max_age = document.get("max_age_days", DEFAULT_MAX_AGE_DAYS)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        problems.append(f"max_age_days must be a whole number of days, got {max_age!r}")
    entries = document.get("series")
    if not isinstance(entries, list) or not entries:
        problems.append("series must be a non-empty list")
        entries = []
    series: dict[tuple[int, int], Series] = {}
    for index, entry in enumerate(entries):
        found = _one_series(index, entry, compiled, problems)
        if found is not None and found.latest_patch[:2] in series:
            problems.append(
                f"series[{index}]: minor {'.'.join(map(str, found.latest_patch[:2]))} is listed twice"
            )
        elif found is not None:
            series[found.latest_patch[:2]] = found
    if problems or compiled is None:
        raise ReleaseTableError(source, problems)
    return ReleaseTable(compiled, MappingProxyType(series), int(max_age), source)


def load_release_table(path: Path) -> ReleaseTable:
    """Read a release table file (``--release-table FILE``)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReleaseTableError(str(path), [f"cannot be read: {exc}"]) from None
    return parse_release_table(document, str(path))


RELEASES: Final = parse_release_table(
    yaml.safe_load((Path(__file__).parent / "posture" / "releases.yaml").read_text(encoding="utf-8")),
    "the shipped release table",
)
