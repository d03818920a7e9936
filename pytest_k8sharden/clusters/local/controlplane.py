"""The local cluster's control plane seen from its host: real command lines from /proc, raw etcd reads."""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from pathlib import Path
from typing import Final, final
from urllib.parse import urlsplit

from pytest_k8sharden.access import CONTROL_PLANE_COMPONENTS, parse_flags
from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.clusters.local.processes import Supervisor
from pytest_k8sharden.clusters.local.state import ClusterState

ETCD_TIMEOUT_S: Final = 10.0


def read_cmdline(pid: int) -> tuple[str, ...] | None:
    """The argv of process ``pid`` from /proc/<pid>/cmdline (None when it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0") if part)


@final
class LocalControlPlane:
    """Reads the running control-plane processes recorded in the cluster's state directory (by PID)."""

    def __init__(self, state: ClusterState) -> None:
        self.supervisor = Supervisor(state.root, CgroupTree(state.cgroup_name))
        self.source = f"/proc/<pid>/cmdline of the processes recorded in {state.root / 'pids'}"

    def command_lines(self) -> dict[str, tuple[str, ...]]:
        """component -> argv, for the recorded control-plane processes that still run."""
        found: dict[str, tuple[str, ...]] = {}
        for record in self.supervisor.records():
            if record.name in CONTROL_PLANE_COMPONENTS and self.supervisor.alive(record):
                argv = read_cmdline(record.pid)
                if argv:
                    found[record.name] = argv
        return found

    def etcd_get(self, key: str) -> bytes | None:
        """``key``'s raw value through etcd's v3 JSON gateway, with the API server's etcd client identity.

        The server URL and the certificate files are taken from the running API server's command line.
        """
        apiserver = self.command_lines().get("kube-apiserver")
        if apiserver is None:
            raise RuntimeError("kube-apiserver is not running")
        flags = parse_flags(apiserver)
        url = urlsplit(flags["etcd-servers"].split(",")[0])
        body = json.dumps({"key": base64.b64encode(key.encode()).decode()})
        if url.scheme == "https":
            context = ssl.create_default_context(cafile=flags.get("etcd-cafile"))
            context.load_cert_chain(flags["etcd-certfile"], flags["etcd-keyfile"])
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.hostname or "", url.port, timeout=ETCD_TIMEOUT_S, context=context
            )
        else:
            connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=ETCD_TIMEOUT_S)
        try:
            connection.request("POST", "/v3/kv/range", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = json.loads(response.read())
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(f"etcd answered {response.status}: {str(answer)[:200]}")
        kvs = answer.get("kvs") or []
        return base64.b64decode(kvs[0]["value"]) if kvs else None
