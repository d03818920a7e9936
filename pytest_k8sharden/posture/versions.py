"""Kubernetes versions against a dated table of release series shipped with the plugin.

The table lists, per minor, the newest patch release known when it was compiled (with its release date)
and the end-of-life date, as published on kubernetes.io/releases/<minor>/. A version below the known
patch is behind (at least one newer patch exists); a minor past its end of life, or older than every
minor in the table, is unsupported. A minor newer than the table is inconclusive: the table is too old.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from pytest_k8sharden.evidence.verdict import Finding, Outcome


@dataclass(frozen=True)
class Series:
    """One minor release series."""

    latest_patch: tuple[int, int, int]
    released: datetime.date
    """When latest_patch was released."""
    end_of_life: datetime.date


def _series(patch: str, released: str, end_of_life: str) -> Series:
    major, minor, micro = (int(part) for part in patch.split("."))
    return Series(
        (major, minor, micro), datetime.date.fromisoformat(released), datetime.date.fromisoformat(end_of_life)
    )


RELEASES: Final[Mapping[tuple[int, int], Series]] = MappingProxyType(
    {
        (1, 37): _series("1.37.1", "2026-09-15", "2027-10-28"),
        (1, 36): _series("1.36.4", "2026-08-11", "2027-06-28"),
        (1, 35): _series("1.35.9", "2026-09-15", "2027-02-28"),
        (1, 34): _series("1.34.9", "2026-06-09", "2026-10-27"),
        (1, 33): _series("1.33.10", "2026-03-19", "2026-06-28"),
    }
)
TABLE_DATE: Final = max(series.released for series in RELEASES.values())
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def judge(
    what: str, version: str, today: datetime.date, releases: Mapping[tuple[int, int], Series] = RELEASES
) -> Finding:
    """Whether ``version`` (a gitVersion such as v1.36.3) is a supported minor at its newest known patch."""
    table = f"release table of {max(s.released for s in releases.values())}"
    match = _VERSION.match(version)
    if match is None:
        return Finding(Outcome.INCONCLUSIVE, f"{what} reports no version the {table} can judge: {version!r}")
    major, minor, micro = (int(part) for part in match.groups())
    series = releases.get((major, minor))
    if series is None:
        if (major, minor) > max(releases):
            return Finding(
                Outcome.INCONCLUSIVE, f"{what} runs {version}, newer than every minor in the {table}"
            )
        return Finding(
            Outcome.FAILED, f"{what} runs {version}: {major}.{minor} is end-of-life (older than the {table})"
        )
    if series.end_of_life < today:
        return Finding(
            Outcome.FAILED,
            f"{what} runs {version}: {major}.{minor} reached end of life on {series.end_of_life}",
        )
    latest = ".".join(map(str, series.latest_patch))
    if (major, minor, micro) < series.latest_patch:
        return Finding(
            Outcome.FAILED, f"{what} runs {version}, behind {latest} (released {series.released}; {table})"
        )
    return Finding(
        Outcome.PASSED,
        f"{what} runs {version}: supported until {series.end_of_life}, newest known patch {latest} ({table})",
    )
