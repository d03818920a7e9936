"""The `existing` provider: a cluster someone else runs, reached by kubeconfig or in-cluster config."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import final

from pytest_k8sharden.clusters.base import ClusterAccess, ClusterUnavailable

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def resolve_kubeconfig(
    explicit: Path | None, environ: Mapping[str, str], home: Path, token_file: Path = SERVICE_ACCOUNT_TOKEN
) -> Path | None:
    """Which kubeconfig to use: --kubeconfig, else KUBECONFIG (its first existing entry), else
    ~/.kube/config, else None for the in-cluster configuration when running in a pod."""
    if explicit is not None:
        return explicit
    entries = [Path(entry) for entry in environ.get("KUBECONFIG", "").split(os.pathsep) if entry]
    if entries:
        return next((entry for entry in entries if entry.is_file()), entries[0])
    default = home / ".kube" / "config"
    if default.is_file():
        return default
    if environ.get("KUBERNETES_SERVICE_HOST") and token_file.is_file():
        return None
    raise ClusterUnavailable(
        "no kubeconfig found: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run inside a pod"
    )


@final
class ExistingProvider:
    """Uses a running cluster as it is; never creates or deletes it."""

    def __init__(
        self, kubeconfig: Path | None, context: str | None, environ: Mapping[str, str] | None = None
    ) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._environ = os.environ if environ is None else environ

    def acquire(self) -> ClusterAccess:
        """Say which kubeconfig and context to use (validated when the clients are built)."""
        path = resolve_kubeconfig(self._kubeconfig, self._environ, Path.home())
        return ClusterAccess(provider="existing", profile=None, kubeconfig=path, context=self._context)

    def release(self) -> None:
        """Nothing to give back: the cluster is not ours."""
