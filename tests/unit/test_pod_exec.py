"""Exit codes from an exec stream's status message, including streams cut off before they sent one."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from pytest_k8sharden.probes.pods import exit_code, image_never_comes

FAILED_WITH_1 = {
    "status": "Failure",
    "reason": "NonZeroExitCode",
    "details": {"causes": [{"reason": "ExitCode", "message": "1"}]},
}
NOT_STARTED = {"status": "Failure", "reason": "InternalError", "message": 'exec: "nc": not found'}


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


def _pod(name: str, reason: str | None, message: str | None = None) -> client.V1Pod:
    waiting = client.V1ContainerStateWaiting(reason=reason, message=message) if reason else None
    state = client.V1ContainerState(waiting=waiting)
    container = client.V1ContainerStatus(
        name="probe", image="i", image_id="", ready=False, restart_count=0, state=state
    )
    status = client.V1PodStatus(phase="Pending", container_statuses=[container])
    return client.V1Pod(metadata=client.V1ObjectMeta(name=name), status=status)


@pytest.mark.parametrize(
    ("reason", "unpullable"),
    [
        ("ImagePullBackOff", True),
        ("ErrImageNeverPull", True),
        ("InvalidImageName", True),
        ("ErrImagePull", False),  # the first failed pull: the kubelet tries again
        ("ContainerCreating", False),
        (None, False),
    ],
)
def test_a_pod_whose_image_will_not_come_ends_the_wait(reason: str | None, unpullable: bool) -> None:
    pods = [_pod("attacker", reason, "Back-off pulling image"), _pod("ready", None), _pod("not-ours", reason)]
    found = image_never_comes(pods, ["attacker", "ready"])
    assert found == ([f"attacker ({reason}: Back-off pulling image)"] if unpullable else [])
