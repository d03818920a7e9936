"""Starting the local cluster's processes under the supervisor, and waiting for what they should do."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from pytest_k8sharden.clusters.local.processes import Supervisor
from pytest_k8sharden.polling import wait_until

Progress = Callable[[str], None]

START_TIMEOUT_S: Final = 120.0
RESTARTED_ON_EXIT: Final = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
"""Components kubelet would restart as static pods: they exit when etcd times out while they start."""
MAX_RESTARTS: Final = 3


class LocalClusterError(RuntimeError):
    """The local cluster could not be brought up or taken down; the message says which step failed."""


class Runner:
    """Starts processes and waits for conditions; every wait fails at once when a process has exited."""

    def __init__(self, supervisor: Supervisor, progress: Progress) -> None:
        self.supervisor = supervisor
        self.progress = progress

    def run(
        self, name: str, argv: list[str], cgroup: str = "control-plane", env: dict[str, str] | None = None
    ) -> None:
        """Start ``name`` in ``cgroup``; raise when it (or any other process) has exited half a second on."""
        self.progress(f"starting {name}")
        self.supervisor.start(name, argv, cgroup=cgroup, env=env)
        time.sleep(0.5)
        self.require_running()

    def wait(self, what: str, condition: Callable[[], bool], timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll ``condition`` until it holds; LocalClusterError after ``timeout_s``."""
        self.progress(f"waiting for {what}")
        started = time.monotonic()

        def ready() -> bool:
            self.require_running()
            return condition()

        if not wait_until(ready, timeout_s, interval_s=0.5):
            raise LocalClusterError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        self.progress(f"{what}: ready after {time.monotonic() - started:.1f} s")

    def require_running(self) -> None:
        """Raise when a process has exited, after restarting a control-plane component up to three times."""
        for record in self.supervisor.records():
            if self.supervisor.alive(record):
                continue
            if record.name not in RESTARTED_ON_EXIT or record.restarts >= MAX_RESTARTS:
                raise self.supervisor.exit_error(record)
            last = self.supervisor.log_tail(record.name, lines=1)
            self.progress(
                f"{record.name} exited ({last[-160:]}); restarting it "
                f"({record.restarts + 1} of {MAX_RESTARTS}), as kubelet restarts a static pod"
            )
            self.supervisor.restart(record)
