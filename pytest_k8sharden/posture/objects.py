"""Reading API objects as plain dicts for the pure posture analyses, and recording them as Observations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pytest_k8sharden.evidence.observation import RUNNER, Observation, ObservationKind

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

PlainObject = dict[str, Any]


def plain_items(kube: Kube, list_call: Callable[[], Any]) -> list[PlainObject]:
    """The items of a list call (e.g. ``kube.rbac.list_cluster_role``) as plain API dicts (camelCase keys)."""
    items = list_call().items or []
    serialize: Callable[[Any], PlainObject] = kube.api_client.sanitize_for_serialization
    return [serialize(item) for item in items]


def object_observation(
    target: str, summary: str, details: Mapping[str, Any] | None = None, kind: ObservationKind = "object"
) -> Observation:
    """What the API server showed (kind ``dry-run``: answered) about ``target`` (``Kind/namespace/name``)."""
    return Observation(kind=kind, summary=summary, vantage=RUNNER, target=target, details=dict(details or {}))
