"""Opening exec streams into pods (gateway layer): the one place ``kubernetes.stream`` is used.

The client's ``stream()`` swaps its API client's ``call_api`` for the websocket one during the call, so
concurrent calls on one shared client race (a probe then sees the plain REST answer, "Handshake status
200 OK"): every stream is opened on an API client of its own. The swap also bypasses the gate the
typed clients send through, so the opening handshake is sent through ``Kube.send`` (QPS cap, logged
retries, our errors); a stream once open is never re-sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kubernetes import client
from kubernetes.stream import stream
from kubernetes.stream.ws_client import ERROR_CHANNEL

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

__all__ = ["ERROR_CHANNEL", "open_exec"]


def open_exec(
    kube: Kube, namespace: str, pod: str, command: Sequence[str], *, stdin: bool = False, binary: bool = False
) -> Any:
    """An open exec stream (kubernetes WSClient) running ``command`` in the pod's first container."""
    core = kube.isolated(client.CoreV1Api)
    return kube.send(
        "GET",
        f"/api/v1/namespaces/{namespace}/pods/{pod}/exec",
        lambda: stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=list(command),
            stderr=True,
            stdin=stdin,
            stdout=True,
            tty=False,
            binary=binary,
            _preload_content=False,
        ),
    )
