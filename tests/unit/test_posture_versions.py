"""Versions against the dated release table, and images pinned by digest."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
import yaml

from pytest_k8sharden import releases
from pytest_k8sharden.clusters.local.components import KUBERNETES, KUBERNETES_OUTDATED
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.posture import podsecurity, versions
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope
from pytest_k8sharden.settings import SettingsError, build_settings

TODAY = datetime.date(2026, 11, 23)
SHIPPED = Path(versions.__file__).with_name("releases.yaml")


@pytest.mark.parametrize(
    ("version", "outcome", "says"),
    [
        ("v1.37.2", Outcome.PASSED, "supported until 2027-10-28"),
        ("v1.36.6+k3s1", Outcome.PASSED, "newest known patch 1.36.6"),
        ("v1.36.3", Outcome.FAILED, "behind 1.36.6 (released 2026-10-28; release table of 2026-11-23)"),
        ("v1.37.1", Outcome.FAILED, "behind 1.37.2"),
        ("v1.34.13", Outcome.FAILED, "reached end of life on 2026-10-27"),
        ("v1.29.4", Outcome.FAILED, "end-of-life (older than the release table of 2026-11-23)"),
        ("v1.38.0", Outcome.INCONCLUSIVE, "newer than every minor"),
        ("unknown", Outcome.INCONCLUSIVE, "no version"),
    ],
)
def test_version_verdicts_name_the_table_date(version: str, outcome: Outcome, says: str) -> None:
    finding = versions.judge("the API server", version, TODAY)
    assert finding.outcome is outcome
    assert says in finding.message


def test_table_is_dated_no_earlier_than_any_release_it_lists() -> None:
    newest = max(series.released for series in releases.RELEASES.series.values())
    assert newest <= releases.RELEASES.compiled == datetime.date(2026, 11, 23)


def test_every_series_is_consistent() -> None:
    for (major, minor), series in releases.RELEASES.series.items():
        assert series.latest_patch[:2] == (major, minor)
        assert series.released <= releases.RELEASES.compiled
    minors = sorted(releases.RELEASES.series)
    assert all(minors[i][1] + 1 == minors[i + 1][1] for i in range(len(minors) - 1)), "a minor is missing"
    ends = [releases.RELEASES.series[m].end_of_life for m in minors]
    assert ends == sorted(ends), "a newer minor cannot reach its end of life first"


def test_a_supported_minor_passes_before_its_end_of_life() -> None:
    assert versions.judge("x", "v1.34.13", datetime.date(2026, 10, 1)).outcome is Outcome.PASSED


def test_the_local_cluster_pins_agree_with_the_table() -> None:
    """hardened runs the newest known patch; insecure's pin is a supported minor behind its newest patch."""
    assert versions.judge("x", KUBERNETES.version, TODAY).outcome is Outcome.PASSED
    behind = versions.judge("x", KUBERNETES_OUTDATED.version, TODAY)
    assert behind.outcome is Outcome.FAILED and "behind" in behind.message


def test_images_by_tag_are_named_and_digests_pass() -> None:
    pods = [
        {"metadata": {"name": "a", "namespace": "n"}, "spec": {"containers": [
            {"name": "tagged", "image": "nginx:1.27"},
            {"name": "pinned", "image": "nginx@sha256:" + "0" * 64},
        ]}},
    ]  # fmt: skip
    running = PodScope(tuple(pods), NamespaceScope((), {}, (), 0), 1)
    flagged, finding = podsecurity.workload_violations(running, "pull by tag", podsecurity.mutable_tag)
    assert flagged == ["pod n/a container tagged: image nginx:1.27 is pulled by tag, not by digest"]
    assert finding.outcome is Outcome.FAILED


@pytest.mark.parametrize(
    ("today", "version", "outcome", "says"),
    [
        (datetime.date(2027, 3, 23), "v1.37.2", Outcome.PASSED, "supported until 2027-10-28"),  # 120 days
        (datetime.date(2027, 3, 24), "v1.37.2", Outcome.INCONCLUSIVE, "is 121 days old (limit 120)"),
        (datetime.date(2027, 6, 1), "v1.36.6", Outcome.INCONCLUSIVE, "--release-table FILE"),
        (datetime.date(2027, 6, 1), "v1.36.3", Outcome.FAILED, "behind 1.36.6"),  # a failure stands
        (datetime.date(2027, 6, 1), "v1.34.13", Outcome.FAILED, "reached end of life"),
    ],
)
def test_a_stale_table_no_longer_passes_versions(
    today: datetime.date, version: str, outcome: Outcome, says: str
) -> None:
    """The old judge passed v1.37.2 until its end of life (2027-10-28), whatever patches shipped since."""
    finding = versions.judge("the API server", version, today)
    assert finding.outcome is outcome, finding.message
    assert says in finding.message


def test_the_limit_comes_from_the_table() -> None:
    table = releases.parse_release_table(
        {**yaml.safe_load(SHIPPED.read_text()), "max_age_days": 7}, "a table of mine"
    )
    assert table.source == "a table of mine"
    stale = versions.judge("x", "v1.37.2", datetime.date(2026, 12, 1), table)
    assert (
        stale.outcome is Outcome.INCONCLUSIVE
        and "a table of mine of 2026-11-23 is 8 days old" in stale.message
    )
    assert versions.judge("x", "v1.37.2", datetime.date(2026, 11, 30), table).outcome is Outcome.PASSED


def test_a_release_table_file_is_read_like_the_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "releases.yaml"
    own.write_text(SHIPPED.read_text().replace("compiled: 2026-11-23", "compiled: 2026-11-30"))
    table = build_settings(release_table=str(own)).release_table
    assert table.compiled == datetime.date(2026, 11, 30) and table.source == str(own)
    assert table.series == releases.RELEASES.series and table.max_age_days == 120
    assert build_settings().release_table is releases.RELEASES


@pytest.mark.parametrize(
    ("document", "problems"),
    [
        ("- 1.37.2", ["must be a mapping with compiled, series and optional max_age_days"]),
        (
            "compiled: soon\nmax_age_days: -1\nseries: []\nextra: 1",
            [
                "unknown key 'extra'",
                "compiled must be a date (YYYY-MM-DD), got 'soon'",
                "max_age_days must be a whole number of days, got -1",
                "series must be a non-empty list",
            ],
        ),
        (
            "compiled: 2026-11-23\nseries:\n"
            "  - {latest_patch: 1.37, released: 2026-12-01, end_of_life: 2027-10-28, note: x}\n"
            "  - {latest_patch: 1.36.6, released: 2026-10-28}\n"
            "  - {latest_patch: 1.35.1, released: 2026-10-28, end_of_life: 2027-02-28}\n"
            "  - {latest_patch: 1.35.2, released: 2026-10-28, end_of_life: 2027-02-28}\n",
            [
                "series[0]: unknown key 'note'",
                "series[0].latest_patch must be MAJOR.MINOR.PATCH, got 1.37",
                "series[0].released 2026-12-01 is after the table was compiled (2026-11-23)",
                "series[1]: missing end_of_life",
                "series[3]: minor 1.35 is listed twice",
            ],
        ),
    ],
)
def test_a_malformed_table_names_every_problem(tmp_path: Path, document: str, problems: list[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(document)
    with pytest.raises(releases.ReleaseTableError) as caught:
        releases.load_release_table(path)
    assert caught.value.problems == problems
    with pytest.raises(SettingsError, match=f"release table {path}: "):
        build_settings(release_table=str(path))
