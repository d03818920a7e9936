"""Probe pods: unprivileged pods running the probe image, and commands executed inside them.

A probe pod satisfies the ``restricted`` Pod Security Standard (non-root, no privilege escalation, all
capabilities dropped, RuntimeDefault seccomp), so it runs in any namespace a hardened cluster has.
Nothing here asserts: callers get results and Observations and decide.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from kubernetes import client

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.kube import KubeError
from pytest_k8sharden.kubestream import ERROR_CHANNEL, open_exec
from pytest_k8sharden.ownership import ours
from pytest_k8sharden.polling import wait_until

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

CONNECT_EXIT_OK: Final = 0


class PodNotReady(RuntimeError):
    """A probe pod did not reach Running in time; the message carries its phase and last event reason."""


@dataclass(frozen=True)
class ProbePod:
    """A probe pod that runs, with the address it got."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str] = field(default_factory=dict)
    host_ip: str = ""
    """The address of the node it runs on (``status.hostIP``), empty when unknown."""

    @property
    def vantage(self) -> str:
        """How Observations name this pod as where a probe came from."""
        return f"pod:{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ExecResult:
    """What a command executed in a pod returned."""

    exit_code: int | None
    stdout: str
    stderr: str


def pod_manifest(
    name: str,
    image: str,
    args: Sequence[str],
    labels: Mapping[str, str] | None = None,
    ports: Sequence[int] = (),
    pull_policy: str = "IfNotPresent",
    env: Mapping[str, str] | None = None,
    sysctls: Mapping[str, str] | None = None,
) -> client.V1Pod:
    """A restricted-compliant pod running ``image`` with ``args``: agnhost subcommands for the probe image.

    ``sysctls`` may only name namespaced "safe" sysctls, which the restricted level allows.
    """
    security = client.V1SecurityContext(
        allow_privilege_escalation=False,
        run_as_non_root=True,
        run_as_user=65534,
        capabilities=client.V1Capabilities(drop=["ALL"]),
        seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
    )
    container = client.V1Container(
        name="probe",
        image=image,
        image_pull_policy=pull_policy,
        args=list(args),
        ports=[client.V1ContainerPort(container_port=p, name=f"serve-{p}-tcp") for p in ports],
        env=[client.V1EnvVar(name=k, value=v) for k, v in (env or {}).items()] or None,
        security_context=security,
    )
    pod_security = (
        client.V1PodSecurityContext(sysctls=[client.V1Sysctl(name=k, value=v) for k, v in sysctls.items()])
        if sysctls
        else None
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=ours(labels)),
        spec=client.V1PodSpec(
            containers=[container],
            automount_service_account_token=False,
            security_context=pod_security,
            termination_grace_period_seconds=0,
            restart_policy="Never",
        ),
    )


class PodProber:
    """Starts probe pods in one namespace and runs commands in them."""

    def __init__(self, kube: Kube, namespace: str, image: str, pull_policy: str = "IfNotPresent") -> None:
        self.kube = kube
        self.namespace = namespace
        self.image = image
        self.pull_policy = pull_policy

    def start(
        self,
        name: str,
        args: Sequence[str] = ("pause",),
        labels: Mapping[str, str] | None = None,
        ports: Sequence[int] = (),
    ) -> None:
        """Create a probe pod (returns at once; see ``wait_running``)."""
        manifest = pod_manifest(name, self.image, args, labels, ports, self.pull_policy)
        self.kube.core.create_namespaced_pod(self.namespace, manifest)

    def wait_running(self, names: Sequence[str], timeout_s: float) -> dict[str, ProbePod]:
        """Wait until every named pod is Running and Ready; raise PodNotReady naming the laggards.

        A pod whose image the kubelet cannot pull ends the wait at once (see `image_never_comes`).
        """
        ready: dict[str, ProbePod] = {}

        def all_running() -> bool:
            pods = self.kube.core.list_namespaced_pod(self.namespace).items
            for pod in pods:
                seen = _running_probe_pod(pod)
                if seen is not None and seen.name in names:
                    ready[seen.name] = seen
            missing = [n for n in names if n not in ready]
            unpullable = image_never_comes(pods, missing)
            if unpullable:
                raise PodNotReady(f"the image cannot be pulled: {'; '.join(unpullable)}")
            return not missing

        if not wait_until(all_running, timeout_s, interval_s=0.5):
            missing = [n for n in names if n not in ready]
            raise PodNotReady(f"pods not ready after {timeout_s:.0f} s: {self._describe(missing)}")
        return ready

    def exec(self, pod: str, command: Sequence[str], timeout_s: float = 30.0) -> ExecResult:
        """Run ``command`` in the pod's container and collect its output and exit code."""
        code, stdout, stderr = exec_output(self.kube, self.namespace, pod, command, timeout_s)
        return ExecResult(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def connect(self, source: ProbePod, host: str, port: int, timeout_s: float) -> Observation:
        """TCP connect from ``source`` to host:port with agnhost, as the upstream netpol e2e tests do."""
        command = ["/agnhost", "connect", f"{host}:{port}", f"--timeout={timeout_s:g}s", "--protocol=tcp"]
        result = self.exec(source.name, command, timeout_s=timeout_s + 15)
        connected = result.exit_code == CONNECT_EXIT_OK
        outcome = "connected" if connected else (result.stderr.strip() or result.stdout.strip() or "failed")
        return Observation(
            kind="connect",
            summary=f"TCP {host}:{port} from {source.vantage}: {outcome}",
            vantage=source.vantage,
            target=f"{host}:{port}",
            details={
                "connected": connected,
                "exit_code": result.exit_code,
                "command": command,
                "output": (result.stdout + result.stderr)[-500:],
            },
        )

    def _describe(self, names: Sequence[str]) -> str:
        described = []
        for name in names:
            try:
                status = self.kube.core.read_namespaced_pod(name, self.namespace).status
            except KubeError as error:
                described.append(f"{name} ({error})")
                continue
            if status is None:
                described.append(f"{name} (no status yet)")
                continue
            waiting = [
                s.state.waiting.reason
                for s in (status.container_statuses or [])
                if s.state and s.state.waiting and s.state.waiting.reason
            ]
            reasons = f", {', '.join(waiting)}" if waiting else ""
            described.append(f"{name} (phase {status.phase}{reasons})")
        return "; ".join(described)


def exec_output(
    kube: Kube, namespace: str, pod: str, command: Sequence[str], timeout_s: float
) -> tuple[int | None, bytes, bytes]:
    """Run ``command`` in the pod's first container: its exit code (None when cut off), stdout and stderr,
    as bytes; the stream is closed after `timeout_s` at the latest."""
    stream = open_exec(kube, namespace, pod, command, binary=True)
    stdout, stderr = bytearray(), bytearray()
    deadline = time.monotonic() + timeout_s
    while stream.is_open() and time.monotonic() < deadline:
        stream.update(timeout=1)
        stdout += stream.read_stdout(timeout=0)
        stderr += stream.read_stderr(timeout=0)
    # Reading one channel updates the stream too: the update that saw the close may have brought the
    # other channel's last frames, kept in its buffer after the stream closed.
    stdout += stream.read_stdout(timeout=0)
    stderr += stream.read_stderr(timeout=0)
    stream.close()
    status = stream.read_channel(ERROR_CHANNEL)
    return exit_code(status.decode() if isinstance(status, bytes) else status), bytes(stdout), bytes(stderr)


def exit_code(status: str) -> int | None:
    """The exit code an exec's status message carries; None when the stream ended without one (cut off)."""
    if not status.strip():
        return None
    message = json.loads(status)
    if message.get("status") == "Success":
        return 0
    causes = message.get("details", {}).get("causes", [])
    codes = [c.get("message") for c in causes if c.get("reason") == "ExitCode"]
    return int(codes[0]) if codes and str(codes[0]).isdigit() else None


UNPULLABLE: Final = frozenset({"ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"})
"""Container waiting reasons that mean the image will not come while we wait: the kubelet refuses the
image's name or its pull policy, or has already failed to pull it and backs off before trying again."""


def image_never_comes(pods: Sequence[client.V1Pod], names: Sequence[str]) -> list[str]:
    """``pod (reason: message)`` for each named pod with a container waiting for an image that will not
    come."""
    found = []
    for pod in pods:
        name = pod.metadata.name if pod.metadata else None
        if name not in names:
            continue
        for container in (pod.status and pod.status.container_statuses) or []:
            waiting = container.state and container.state.waiting
            if waiting and waiting.reason in UNPULLABLE:
                found.append(f"{name} ({waiting.reason}: {waiting.message or 'no message'})")
    return found


def _running_probe_pod(pod: client.V1Pod) -> ProbePod | None:
    """The pod as a ProbePod when it is Running, Ready and has an address."""
    meta, status = pod.metadata, pod.status
    if meta is None or not meta.name or not meta.namespace or status is None or not status.pod_ip:
        return None
    if status.phase != "Running":
        return None
    if not any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
        return None
    return ProbePod(meta.namespace, meta.name, status.pod_ip, dict(meta.labels or {}), status.host_ip or "")
