"""The one seed applier of every provider: a profile's seeds, server-side applied through the gateway."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.clusters.base import ClusterUnavailable
from pytest_k8sharden.kube import Kube, KubeConflict, KubeError
from pytest_k8sharden.kubeapply import server_side_apply
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.profiles import plain
from pytest_k8sharden.seeds import with_images

SEEDED_WORKLOADS_TIMEOUT_S: Final = 120.0
APPLY_RETRY_PAUSE_S: Final = 2.0


def apply_seeds(
    kube: Kube,
    manifests: Sequence[Mapping[str, Any]],
    what: str,
    images: Mapping[str, str],
    progress: Callable[[str], None],
) -> None:
    """Apply ``manifests`` (each image ``images`` names replaced), then wait until their Deployments are
    Available; a failure is ClusterUnavailable naming ``what``."""
    if not manifests:
        return
    progress(f"applying {len(manifests)} objects: {what}")
    documents = [plain(with_images(manifest, images)) for manifest in manifests]
    try:
        try:
            server_side_apply(kube, documents)
        except KubeConflict:  # once more: an object a controller made meanwhile (a default ServiceAccount)
            time.sleep(APPLY_RETRY_PAUSE_S)  # can make the first create fail with AlreadyExists
            server_side_apply(kube, documents)
        for namespace in sorted({m["metadata"]["namespace"] for m in manifests if m["kind"] == "Deployment"}):
            progress(f"waiting for the Deployments in {namespace}")
            if not wait_until(
                functools.partial(_available, kube, namespace), SEEDED_WORKLOADS_TIMEOUT_S, 1.0
            ):
                waiting = ", ".join(_unavailable(kube, namespace))
                raise ClusterUnavailable(
                    f"Deployments in {namespace} not available after {SEEDED_WORKLOADS_TIMEOUT_S:.0f} s: "
                    f"{waiting}"
                )
    except KubeError as exc:
        raise ClusterUnavailable(f"applying {what} failed: {exc}") from None


def _available(kube: Kube, namespace: str) -> bool:
    return not _unavailable(kube, namespace)


def _unavailable(kube: Kube, namespace: str) -> list[str]:
    """The Deployments of ``namespace`` whose Available condition is not True."""
    waiting = []
    for deployment in kube.apps.list_namespaced_deployment(namespace).items or []:
        conditions = (deployment.status.conditions if deployment.status else None) or []
        if not any(c.type == "Available" and c.status == "True" for c in conditions):
            waiting.append(str(deployment.metadata.name if deployment.metadata else "?"))
    return waiting
