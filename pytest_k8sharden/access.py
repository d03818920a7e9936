"""How to reach a cluster: what a provider hands to the gateway (core layer: no client, no provider)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, final

CONTROL_PLANE_COMPONENTS: Final = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
"""The components whose command lines a ControlPlaneView shows."""


def parse_flags(argv: Sequence[str]) -> dict[str, str]:
    """``--name=value`` and ``--name value`` flags of a command line (a bare ``--name`` is "true")."""
    flags: dict[str, str] = {}
    args = list(argv)
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        if not sep:
            following = args[index + 1] if index + 1 < len(args) else ""
            value = following if following and not following.startswith("-") else "true"
        flags[name] = value
    return flags


class ControlPlaneView(Protocol):
    """What a provider sees of the control plane beyond the API server, as an auditor on its host would."""

    source: str
    """Where the command lines come from, for reports (e.g. "/proc/<pid>/cmdline of ...")."""

    def command_lines(self) -> dict[str, tuple[str, ...]]:
        """component name (kube-apiserver, etcd ...) -> the argv of its running process."""
        ...

    def etcd_get(self, key: str) -> bytes | None:
        """The raw value etcd stores under ``key`` (None: no such key), read as the API server's client."""
        ...


@final
@dataclass(frozen=True)
class ClusterAccess:
    """How to reach a cluster a provider acquired."""

    provider: str
    """The provider that acquired it: existing, kind or local."""
    profile: str | None
    """hardened, default or insecure for kind and local; None for existing clusters."""
    kubeconfig: Path | None
    """The kubeconfig file; None means the in-cluster configuration (running inside a pod)."""
    context: str | None
    """The kubeconfig context; None means its current-context."""
    probe_image: str | None = None
    """The probe image the provider made available in the cluster (used when --probe-image is not given)."""
    control_plane: ControlPlaneView | None = None
    """The provider's view of the control-plane processes and etcd; None where it has none (managed)."""
    ingress_ca: Path | None = None
    """The CA the provider's ingress certificates chain to (used when --ingress-ca is not given)."""
