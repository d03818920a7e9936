"""Reading API objects as plain dicts for the pure posture analyses, and recording them as Observations."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_k8sharden.evidence.observation import RUNNER, Observation, ObservationKind
from pytest_k8sharden.evidence.verdict import Inconclusive

if TYPE_CHECKING:
    from pytest_k8sharden.evidence.recorder import Evidence
    from pytest_k8sharden.evidence.verdict import Finding
    from pytest_k8sharden.kube import Kube

PlainObject = dict[str, Any]


def plain_items(kube: Kube, list_call: Callable[[], Any]) -> list[PlainObject]:
    """The items of a list call (e.g. ``kube.rbac.list_cluster_role``) as plain API dicts (camelCase keys).

    Inconclusive when the server says the list is partial (a continue token or remaining items): a check
    must not pass on the first page of a list.
    """
    listed = list_call()
    meta = listed.metadata
    if meta is not None and (meta._continue or meta.remaining_item_count):
        more = f"{meta.remaining_item_count} more items" if meta.remaining_item_count else "a continue token"
        raise Inconclusive(
            f"the API server returned only part of a list ({len(listed.items or [])} items and {more}): "
            "nothing can be judged on a partial read"
        )
    items = listed.items or []
    serialize: Callable[[Any], PlainObject] = kube.api_client.sanitize_for_serialization
    return [serialize(item) for item in items]


def object_observation(
    target: str, summary: str, details: Mapping[str, Any] | None = None, kind: ObservationKind = "object"
) -> Observation:
    """What the API server showed (kind ``dry-run``: answered) about ``target`` (``Kind/namespace/name``)."""
    return Observation(kind=kind, summary=summary, vantage=RUNNER, target=target, details=dict(details or {}))


def conclude_listing(
    evidence: Evidence,
    target: str,
    flagged: Sequence[str],
    finding: Finding,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Record one Observation per flagged object (named by the text before its first colon) and a summary
    of what was read from ``target``; then conclude with ``finding``."""
    for line in flagged:
        evidence.record(object_observation(line.split(":", 1)[0], line))
    evidence.record(object_observation(target, finding.message, details))
    evidence.conclude(finding)
