"""PodProber.exec when the exec stream ends without a status: the exit code is unknown, not a crash."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_k8sharden.probes import pods
from pytest_k8sharden.probes.pods import PodProber


class _Stream:
    """A finished exec stream whose status channel held `status` (None: nothing came)."""

    def __init__(self, status: dict[str, Any] | None) -> None:
        self.status = status

    def is_open(self) -> bool:
        return False

    def close(self) -> None:
        pass

    @property
    def returncode(self) -> int:
        if self.status["status"] == "Success":  # type: ignore[index]  # as the client does
            return 0
        return int(self.status["details"]["causes"][0]["message"])  # type: ignore[index]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"status": "Success"}, 0),
        ({"status": "Failure", "details": {"causes": [{"message": "3"}]}}, 3),
        (None, None),
    ],
)
def test_exit_code_comes_from_the_status_or_is_unknown(
    monkeypatch: pytest.MonkeyPatch, status: dict[str, Any] | None, expected: int | None
) -> None:
    monkeypatch.setattr(pods, "open_exec", lambda *_: _Stream(status))
    result = PodProber(kube=None, namespace="ns", image="").exec("pod", ["true"])  # type: ignore[arg-type]
    assert result.exit_code == expected
