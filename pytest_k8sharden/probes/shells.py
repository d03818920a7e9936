"""Long-lived shells in probe pods: one exec stream per pod, fed one script after another on its stdin.

Opening an exec stream costs a TLS connection to the API server, another from it to the kubelet and a runc
exec: nine at once took 0.6-1.0 s on two cores, about half of a canary round. A prober that probes the same
pods round after round keeps one ``sh`` per pod instead, and each round writes its script and reads up to
the script's end mark. A shell that ended, or did not finish a script in time, is closed and never reused
(a late line of its would otherwise be read as the next script's): the next script opens a new one.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Final, final

from pytest_k8sharden.kubestream import open_exec

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

END_MARK: Final = "k8sh-script-done"


@final
class PodShell:
    """``sh`` running in one pod's first container, reading scripts from its stdin."""

    def __init__(self, kube: Kube, namespace: str, pod: str) -> None:
        self.channel: Any = open_exec(kube, namespace, pod, ["sh"], stdin=True)
        self.scripts = 0

    def run(self, script: str, timeout_s: float) -> tuple[str, bool]:
        """Run `script`; what it printed on stdout, and whether it finished (its end mark came) in time."""
        self.scripts += 1
        end = f"{END_MARK} {self.scripts}"
        self.channel.write_stdin(f"{script}\necho {end}\n")
        said: list[str] = []
        deadline = time.monotonic() + timeout_s
        while self.channel.is_open() and (left := deadline - time.monotonic()) > 0:
            self.channel.update(timeout=min(1.0, left))
            if self.channel.peek_stdout():
                said.append(self.channel.read_stdout())
                text = "".join(said)
                if end in text.splitlines():
                    return text, True
        return "".join(said), False

    def close(self) -> None:
        """End the exec stream (the shell reads the end of its input and exits)."""
        self.channel.close()


@final
class PodShells:
    """A shell per pod, opened on first use and kept until `close`; one that ended or overran is replaced.

    Each pod's shell runs one script at a time: callers run a pod's scripts one after another.
    """

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._shells: dict[tuple[str, str], PodShell] = {}
        self._lock = threading.Lock()

    def run(self, namespace: str, pod: str, script: str, timeout_s: float) -> str:
        """Run `script` in the pod's shell; what it printed on stdout (cut short when it overran)."""
        with self._lock:
            shell = self._shells.pop((namespace, pod), None)
        if shell is None:
            shell = PodShell(self.kube, namespace, pod)
        said, finished = shell.run(script, timeout_s)
        if finished:
            with self._lock:
                self._shells[(namespace, pod)] = shell
        else:
            shell.close()
        return said

    def close(self) -> None:
        """Close every shell."""
        with self._lock:
            shells, self._shells = list(self._shells.values()), {}
        for shell in shells:
            shell.close()
