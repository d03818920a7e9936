"""The one polling helper and the loops built on it, on real files and threads (no cluster)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pytest_k8sharden.clusters.local import cgroups
from pytest_k8sharden.polling import wait_for_each, wait_until


def test_wait_until_answers_whether_the_condition_came_to_hold() -> None:
    deadline = time.monotonic() + 0.3
    assert wait_until(lambda: time.monotonic() >= deadline, 5.0, interval_s=0.05)
    started = time.monotonic()
    assert not wait_until(lambda: False, 0.2, interval_s=0.05)
    assert 0.2 <= time.monotonic() - started < 2.0


def test_wait_for_each_asks_each_item_until_it_is_done_and_returns_the_rest(tmp_path: Path) -> None:
    files = [tmp_path / name for name in ("a", "b", "c")]
    for path in files:
        path.touch()
    asked: list[str] = []

    def gone(path: Path) -> bool:
        asked.append(path.name)
        return not path.exists()

    files[0].unlink()
    threading.Timer(0.2, files[1].unlink).start()
    assert wait_for_each(files, gone, 0.6, interval_s=0.05) == [files[2]]
    assert asked.count("a") == 1, "an item once done is not asked again"
    assert wait_for_each([], gone, 0.0) == []


def test_a_busy_directory_is_removed_once_it_empties_or_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cgroups._rmdir tries again while rmdir(2) fails (a cgroup the kernel still holds is busy)."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "held").touch()
    threading.Timer(0.3, (busy / "held").unlink).start()
    left: list[Path] = []
    cgroups._rmdir(busy, left)
    assert not busy.exists() and left == []
    cgroups._rmdir(tmp_path / "absent", left)
    assert left == []
    stuck = tmp_path / "stuck"
    stuck.mkdir()
    (stuck / "held").touch()
    monkeypatch.setattr(cgroups, "RMDIR_RETRY_S", 0.3)
    cgroups._rmdir(stuck, left)
    assert left == [stuck]
