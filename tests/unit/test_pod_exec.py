"""Exec streams: all of their output, and exit codes from the status message, including streams cut off
before they sent one."""

from __future__ import annotations

import json
from typing import cast

import pytest
from kubernetes import client
from kubernetes.stream.ws_client import ERROR_CHANNEL, STDERR_CHANNEL, STDOUT_CHANNEL

from pytest_k8sharden.kube import Kube
from pytest_k8sharden.probes import pods
from pytest_k8sharden.probes.pods import exec_output, exit_code, image_never_comes

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


CLOSE = -1
"""A key of a batch of frames: the close came after them."""


class Stream:
    """A binary exec stream as the client's WSClient behaves: each update takes the next batch of frames
    off the wire into per-channel buffers, all that had arrived, the close included; peeking or reading a
    channel updates first, unless reading a channel that holds data."""

    def __init__(self, batches: list[dict[int, bytes]]) -> None:
        self.batches = batches
        self.channels: dict[int, bytes] = {}
        self.open = True

    def is_open(self) -> bool:
        return self.open

    def update(self, timeout: float = 0) -> None:
        if not self.open or not self.batches:
            return
        for channel, data in self.batches.pop(0).items():
            if channel == CLOSE:
                self.open = False
            else:
                self.channels[channel] = self.channels.get(channel, b"") + data

    def peek_channel(self, channel: int, timeout: float = 0) -> bytes:
        self.update(timeout)
        return self.channels.get(channel, b"")

    def read_channel(self, channel: int, timeout: float = 0) -> bytes:
        if channel not in self.channels:
            self.update(timeout)
        return self.channels.pop(channel, b"")

    def peek_stdout(self, timeout: float = 0) -> bytes:
        return self.peek_channel(STDOUT_CHANNEL, timeout)

    def read_stdout(self, timeout: float = 0) -> bytes:
        return self.read_channel(STDOUT_CHANNEL, timeout)

    def peek_stderr(self, timeout: float = 0) -> bytes:
        return self.peek_channel(STDERR_CHANNEL, timeout)

    def read_stderr(self, timeout: float = 0) -> bytes:
        return self.read_channel(STDERR_CHANNEL, timeout)

    def close(self) -> None:
        self.open = False


SUCCESS = json.dumps({"status": "Success"}).encode()
LAST = {STDOUT_CHANNEL: b"last", ERROR_CHANNEL: SUCCESS, CLOSE: b""}


@pytest.mark.parametrize(
    "batches",
    [[{STDOUT_CHANNEL: b"first "}, {}, LAST], [{STDOUT_CHANNEL: b"first "}, LAST]],
    ids=["close-while-peeking-stderr", "close-while-reading-stderr"],
)
def test_the_last_frames_that_come_with_the_close_are_kept(
    monkeypatch: pytest.MonkeyPatch, batches: list[dict[int, bytes]]
) -> None:
    """A tar through exec had lost its end: the update made while looking at stderr brought stdout's
    last frames, the status and the close, and the loop ended without reading them."""
    monkeypatch.setattr(pods, "open_exec", lambda *args, **kwargs: Stream(batches))
    assert exec_output(cast(Kube, None), "ns", "pod", ["tar"], 5) == (0, b"first last", b"")


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
