"""Kubernetes versions against a dated table of release series shipped with the plugin.

The table lists, per minor, the newest patch release known when it was compiled (with its release date)
and the end-of-life date. A version below the known patch is behind (at least one newer patch exists); a
minor past its end of life, or older than every minor in the table, is unsupported. A minor newer than the
table is inconclusive: the table is too old.

Where each figure of the table compiled on 2026-11-23 comes from:

- newest patch and its date: the Go module proxy (proxy.golang.org). ``go list -m -versions k8s.io/api``
  lists the published tags; each ``v0.X.Y`` mirrors the Kubernetes release ``v1.X.Y`` (the staging
  repositories are tagged with every release), and ``go list -m -json k8s.io/api@v0.X.Y`` gives its
  ``Time`` (UTC date taken; the k8s.io/kubernetes tag itself can be a day earlier, e.g. v1.37.2 on
  2026-10-27). The proxy knows no release newer than v1.37.2.
- end of life: the "End Of Life Date" published on https://kubernetes.io/releases/<minor>/ (the patch
  support period of about 14 months after a minor's .0 release, per the Kubernetes yearly support KEP).
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


@dataclass(frozen=True)
class ReleaseTable:
    """The release series known on the day the table was compiled."""

    compiled: datetime.date
    """The day the figures were looked up (findings name it: nothing newer can be known to the table)."""
    series: Mapping[tuple[int, int], Series]
    """(major, minor) -> its series."""


def _series(patch: str, released: str, end_of_life: str) -> Series:
    major, minor, micro = (int(part) for part in patch.split("."))
    return Series(
        (major, minor, micro), datetime.date.fromisoformat(released), datetime.date.fromisoformat(end_of_life)
    )


RELEASES: Final = ReleaseTable(
    compiled=datetime.date(2026, 11, 23),
    series=MappingProxyType(
        {
            (1, 37): _series("1.37.2", "2026-10-28", "2027-10-28"),
            (1, 36): _series("1.36.6", "2026-10-28", "2027-06-28"),
            (1, 35): _series("1.35.10", "2026-10-28", "2027-02-28"),
            (1, 34): _series("1.34.13", "2026-10-28", "2026-10-27"),
            (1, 33): _series("1.33.13", "2026-06-12", "2026-06-28"),
        }
    ),
)
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def judge(what: str, version: str, today: datetime.date, releases: ReleaseTable = RELEASES) -> Finding:
    """Whether ``version`` (a gitVersion such as v1.36.3) is a supported minor at its newest known patch."""
    table = f"release table of {releases.compiled}"
    match = _VERSION.match(version)
    if match is None:
        return Finding(Outcome.INCONCLUSIVE, f"{what} reports no version the {table} can judge: {version!r}")
    major, minor, micro = (int(part) for part in match.groups())
    series = releases.series.get((major, minor))
    if series is None:
        if (major, minor) > max(releases.series):
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
