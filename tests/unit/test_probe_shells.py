"""Long-lived probe shells: a script's output ends at its own end mark; an overrunning shell is replaced."""

from __future__ import annotations

from typing import cast

import pytest

from pytest_k8sharden.kube import Kube
from pytest_k8sharden.probes import shells
from pytest_k8sharden.probes.shells import END_MARK, PodShells


class Channel:
    """An exec stream whose shell prints `answers[n]` for its n-th script (None: nothing, ever)."""

    def __init__(self, answers: list[str | None]) -> None:
        self.answers = answers
        self.pending = ""
        self.scripts: list[str] = []
        self.closed = False

    def write_stdin(self, data: str) -> None:
        self.scripts.append(data)
        answer = self.answers[len(self.scripts) - 1]
        if answer is not None:
            self.pending += f"{answer}\n{END_MARK} {len(self.scripts)}\n"

    def is_open(self) -> bool:
        return not self.closed

    def update(self, timeout: float) -> None:
        pass

    def peek_stdout(self) -> bool:
        return bool(self.pending)

    def read_stdout(self) -> str:
        said, self.pending = self.pending, ""
        return said

    def close(self) -> None:
        self.closed = True


def test_a_shell_is_kept_for_the_next_script_and_replaced_once_it_overran(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = [Channel(["first", None]), Channel(["third"])]
    monkeypatch.setattr(shells, "open_exec", lambda *args, **kwargs: opened.pop(0))
    pool = PodShells(cast(Kube, None))
    assert pool.run("ns", "a", "echo first", 1.0).splitlines()[0] == "first"
    kept = pool._shells[("ns", "a")].channel
    assert pool.run("ns", "a", "sleep 99", 0.01) == "", "no end mark in time: nothing it said is kept"
    assert kept.closed and kept.scripts[1].endswith(f"echo {END_MARK} 2\n")
    assert pool.run("ns", "a", "echo third", 1.0).startswith("third"), "a new shell after an overrun"
    pool.close()
    assert not opened
