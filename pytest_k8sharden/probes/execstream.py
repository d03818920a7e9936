"""Opening exec streams into pods: the one place ``kubernetes.stream.stream`` is called.

The client's ``stream()`` swaps its API client's request function for the websocket one during the
call, which is not thread-safe: concurrent probes would see the plain REST request ("Handshake status
200 OK"). Opening is therefore serialized; an opened stream is used concurrently as usual.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from kubernetes.stream import stream

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

_OPENING: Final = threading.Lock()


def open_exec(
    kube: Kube, namespace: str, pod: str, command: Sequence[str], *, stdin: bool = False, binary: bool = False
) -> Any:
    """An open exec stream (kubernetes WSClient) running ``command`` in the pod's first container."""
    with _OPENING:
        return stream(
            kube.core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(command),
            stderr=True,
            stdin=stdin,
            stdout=True,
            tty=False,
            binary=binary,
            _preload_content=False,
        )
