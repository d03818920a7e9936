"""TCP connections made from inside a pod: ``nc HOST PORT`` under exec, bridged to a local socket.

The pod is the vantage point: the packets to HOST:PORT leave the pod, not the runner. The runner gets
an ordinary connected socket, so the same HTTP and TLS probes (http.client, ssl) run unchanged over it.
The exec stream carries raw bytes both ways (the client's ``binary`` websocket mode).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import TYPE_CHECKING, Any, Final

from pytest_k8sharden.kubestream import open_exec
from pytest_k8sharden.neterrors import Failure, ProbeConnectionError

if TYPE_CHECKING:
    from pytest_k8sharden.probes.pods import PodProber

_CHUNK: Final = 65536
_CONNECTED: Final = "k8sharden-tunnel-connected"


class TunnelError(ProbeConnectionError):
    """The connection from the pod failed; ``failure`` says how (refused, timed out, unreachable ...)."""


class PodTunnel:
    """Opens TCP connections from one pod's container (which must have ``nc``, as the probe image does)."""

    def __init__(self, prober: PodProber, pod: str, timeout: float) -> None:
        self.prober = prober
        self.pod = pod
        self.timeout = timeout

    def connect(self, host: str, port: int) -> socket.socket:
        """A local socket whose peer is HOST:PORT as seen from the pod; raises TunnelError on failure.

        One exec: ``agnhost connect`` tells refused / timed out / connected apart (busybox nc cannot say
        when it has connected), a marker on stderr says it did, then ``nc`` carries the bytes.
        """
        wait = max(1, round(self.timeout))
        script = (
            f"/agnhost connect {host}:{port} --timeout={self.timeout:g}s"
            f" && echo {_CONNECTED} >&2 && exec nc -w {wait} {host} {port}"
        )
        channel = open_exec(
            self.prober.kube, self.prober.namespace, self.pod, ["sh", "-c", script], stdin=True, binary=True
        )
        _await_connection(channel, self.timeout + 10)
        ours, theirs = socket.socketpair()
        threading.Thread(target=_pump, args=(channel, theirs), daemon=True).start()
        return ours


def _await_connection(channel: Any, timeout: float) -> None:
    """Read stderr until the connected marker; raise TunnelError with agnhost's verdict otherwise."""
    deadline = time.monotonic() + timeout
    said = b""
    while channel.is_open() and time.monotonic() < deadline:
        channel.update(timeout=0.1)
        if channel.peek_stderr():
            said += channel.read_stderr()
            if _CONNECTED.encode() in said:
                return
    channel.close()
    message = said.decode(errors="replace").strip() or "timed out"
    raise TunnelError(*_failure(message))


def _pump(channel: Any, local: socket.socket) -> None:
    """Move bytes between the exec stream and the local socket until either side closes."""
    local.setblocking(False)
    try:
        while channel.is_open():
            channel.update(timeout=0.05)
            if channel.peek_stdout():
                local.setblocking(True)
                local.sendall(channel.read_stdout())
                local.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                data = local.recv(_CHUNK)
                if not data:
                    break
                channel.write_stdin(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(Exception):
            channel.close()
        local.close()


_AGNHOST_SAYS: Final = (
    ("refused", Failure.REFUSED, "connection refused"),
    ("timed out", Failure.TIMEOUT, "timed out"),
    ("timeout", Failure.TIMEOUT, "timed out"),
    ("unreachable", Failure.UNREACHABLE, "network is unreachable"),
    ("reset", Failure.RESET, None),
    ("closed connection", Failure.RESET, None),
)
"""Words in agnhost's (or nc's) error line, the failure they mean, and its description (None: theirs)."""


def _failure(message: str) -> tuple[Failure, str]:
    """The failure agnhost's error line reports: the pod's program speaks only text."""
    lowered = message.lower()
    for marker, failure, text in _AGNHOST_SAYS:
        if marker in lowered:
            return failure, text or message
    return Failure.OTHER, message or "connection failed"
