"""Exit codes from an exec stream's status message, including streams cut off before they sent one."""

from __future__ import annotations

import json

import pytest

from pytest_k8sharden.probes.pods import exit_code

FAILED_WITH_1 = {
    "status": "Failure",
    "reason": "NonZeroExitCode",
    "details": {"causes": [{"reason": "ExitCode", "message": "1"}]},
}
NOT_STARTED = {"status": "Failure", "reason": "InternalError", "message": "exec: \"nc\": not found"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (json.dumps({"metadata": {}, "status": "Success"}), 0),
        (json.dumps(FAILED_WITH_1), 1),
        (json.dumps(NOT_STARTED), None),
        ("", None),
        ("  \n", None),
    ],
    ids=["success", "exit-1", "no-exit-code", "cut-off", "blank"],
)
def test_exit_code(status: str, code: int | None) -> None:
    assert exit_code(status) == code
