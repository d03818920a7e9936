"""Kubernetes versions against a dated table of release series (shipped: ``releases.yaml`` beside this module;
your own: ``--release-table FILE`` in the same format).

The table lists, per minor, the newest patch release known when it was compiled (with its release date)
and the end-of-life date. A version below the known patch is behind (at least one newer patch exists); a
minor past its end of life, or older than every minor in the table, is unsupported. A minor newer than the
table is inconclusive: the table is too old. So is a version the table would pass once the table is older
than its ``max_age_days``: patches released since are unknown to it. Where the shipped figures come from is
written in ``releases.yaml``.
"""

from __future__ import annotations

import datetime
import re
from typing import Final

from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.releases import RELEASES, ReleaseTable

_VERSION: Final = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


def judge(what: str, version: str, today: datetime.date, releases: ReleaseTable = RELEASES) -> Finding:
    """Whether ``version`` (a gitVersion such as v1.36.3) is a supported minor at its newest known patch.

    A pass from a table older than its max_age_days is inconclusive instead; failures stand.
    """
    finding = _against_table(what, version, today, releases)
    if finding.outcome is Outcome.PASSED and releases.stale(today):
        return Finding(
            Outcome.INCONCLUSIVE,
            f"{what} runs {version}, but {releases.source} of {releases.compiled} is {releases.age(today)} "
            f"days old (limit {releases.max_age_days}): patches released since are unknown to it. Refresh "
            "it: pass --release-table FILE with current figures (format: pytest_k8sharden/posture/"
            "releases.yaml, README 'Release table')",
        )
    return finding


def _against_table(what: str, version: str, today: datetime.date, releases: ReleaseTable) -> Finding:
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
