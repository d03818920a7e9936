"""Observation: what a probe did, from where, when, and what came back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Literal, final, get_args

ObservationKind = Literal["http", "tls", "connect", "matrix", "object", "dry-run"]
OBSERVATION_KINDS: tuple[str, ...] = get_args(ObservationKind)

RUNNER = "runner"
"""Vantage point of probes sent from the machine where pytest runs (an outsider on the network)."""


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def pod_vantage(namespace: str, pod: str) -> str:
    """Vantage point of probes sent from inside a pod."""
    return f"pod:{namespace}/{pod}"


@dataclass(frozen=True)
class Observation:
    """One thing a probe saw. Probes return these; tests record them with the `evidence` fixture.

    Subclasses (for example `HttpObservation`) add typed fields for what came back; every field is
    written to evidence.json, redacted first.
    """

    kind: ObservationKind
    """What was done: http, tls, connect, matrix, object or dry-run."""
    summary: str
    """One line a person can read, e.g. "GET https://10.0.0.1:10250/pods -> 401"."""
    vantage: str
    """Where it was done from: "runner" or "pod:<namespace>/<name>"."""
    target: str
    """What was probed: a URL, host:port, or an object reference such as "Namespace/default"."""
    details: Mapping[str, Any] = field(default_factory=dict)
    """What came back, as JSON-compatible data (status, headers, an excerpt, a grid ...)."""
    when: datetime = field(default_factory=utc_now)
    """When it was done (UTC)."""

    def __post_init__(self) -> None:
        if self.kind not in OBSERVATION_KINDS:
            raise ValueError(f"unknown observation kind {self.kind!r}; expected one of {OBSERVATION_KINDS}")
        if self.when.tzinfo is None:
            raise ValueError("Observation.when must be timezone-aware")

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form used in evidence.json (kind and summary first)."""
        data: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            data[item.name] = value.value if isinstance(value, Enum) else value
        data["details"] = dict(self.details)
        return data


@final
@dataclass(frozen=True)
class ReadObservation(Observation):
    """An Observation read back from its JSON form; the fields a probe's own subclass added (an HTTP
    status, a TLS version ...) are kept in `extra` and written back in place."""

    extra: Mapping[str, Any] = field(default_factory=dict)
    """The subclass's fields, as its to_dict wrote them."""

    def to_dict(self) -> dict[str, Any]:
        """The same JSON-compatible form the observation had before it was read back."""
        data = super().to_dict()
        del data["extra"]
        return {**data, **self.extra}


def observation_from_dict(data: Mapping[str, Any]) -> ReadObservation:
    """The inverse of `Observation.to_dict` (of any subclass)."""
    own = {item.name for item in dataclasses.fields(Observation)}
    return ReadObservation(
        kind=data["kind"],
        summary=data["summary"],
        vantage=data["vantage"],
        target=data["target"],
        details=dict(data["details"]),
        when=datetime.fromisoformat(data["when"]),
        extra={key: value for key, value in data.items() if key not in own},
    )
