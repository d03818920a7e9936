"""Server-side apply of plain manifests through the gateway, under the field manager ``pytest-k8sharden``.

Server-side apply (not kubectl's client-side apply) keeps no ``last-applied-configuration`` annotation,
so a Secret's values are stored once, where the API server protects them, and nowhere in plaintext.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from pytest_k8sharden.kube import Kube
from pytest_k8sharden.kubeerrors import KubeError

FIELD_MANAGER: Final = "pytest-k8sharden"


def server_side_apply(
    kube: Kube, manifests: Iterable[Mapping[str, Any]], field_manager: str = FIELD_MANAGER
) -> None:
    """Apply each manifest in order, taking over the fields it sets (``kubectl apply --server-side
    --force-conflicts``). Requests go through ``kube``'s gate; failures are KubeError subclasses."""
    # the discovery cache lives as long as this call: nothing is left in the shared temporary directory
    with tempfile.TemporaryDirectory(prefix="k8sharden-discovery-") as directory:
        dynamic = DynamicClient(kube.api_client, cache_file=str(Path(directory) / "discovery.json"))
        for manifest in manifests:
            api_version, kind = manifest["apiVersion"], manifest["kind"]
            try:
                resource = dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                raise KubeError(f"the API server serves no {kind} in {api_version}") from None
            dynamic.server_side_apply(
                resource, body=dict(manifest), field_manager=field_manager, force_conflicts=True
            )
