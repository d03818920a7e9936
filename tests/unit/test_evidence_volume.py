"""The periodic job's volume: runs by UTC start, and ``latest`` moves only to a verified bundle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_k8sharden.evidence.bundle import EVIDENCE_FILE, write_manifest
from pytest_k8sharden.evidence.volume import (
    LATEST,
    VolumeError,
    check_run_name,
    latest_bundle,
    new_run,
    publish,
)


def _bundle(root: Path, hour: int) -> Path:
    run = new_run(root, datetime(2026, 12, 2, hour, 17, 0, tzinfo=UTC))
    (run / EVIDENCE_FILE).write_text('{"results": []}')
    write_manifest(run)
    return run


def test_a_verified_run_becomes_latest_and_the_baseline_of_the_next(tmp_path: Path) -> None:
    assert latest_bundle(tmp_path) is None
    first = _bundle(tmp_path, 3)
    assert first.name == "20261202T031700Z"
    publish(tmp_path, first)
    assert latest_bundle(tmp_path) == first
    second = _bundle(tmp_path, 4)
    publish(tmp_path, second)
    assert latest_bundle(tmp_path) == second
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, second.name, LATEST]


def test_a_tampered_or_unfinished_run_never_becomes_latest(tmp_path: Path) -> None:
    good = _bundle(tmp_path, 3)
    publish(tmp_path, good)
    tampered = _bundle(tmp_path, 4)
    (tampered / EVIDENCE_FILE).write_text('{"results": ["edited"]}')
    with pytest.raises(
        VolumeError, match=r"^20261202T041700Z is not published as latest: changed: evidence\.json$"
    ):
        publish(tmp_path, tampered)
    crashed = new_run(tmp_path, datetime(2026, 12, 2, 5, 17, 0, tzinfo=UTC))
    with pytest.raises(VolumeError, match="cannot read"):
        publish(tmp_path, crashed)
    assert latest_bundle(tmp_path) == good


def test_a_run_is_named_latest_or_by_its_start() -> None:
    check_run_name(LATEST)
    check_run_name("20261202T031700Z")
    for wrong in ("../etc", "20261202T031700Z/../x", "latest2"):
        with pytest.raises(VolumeError, match="neither latest nor a run's UTC start"):
            check_run_name(wrong)
