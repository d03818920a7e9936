"""The API load of a run, read from the API server's audit log (JSON lines, one event per stage)."""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

UNAUTHENTICATED: Final = ""
"""The user of a request whose credentials were refused (the audit event names none)."""
PROBE_SERVICE_ACCOUNTS: Final = "system:serviceaccount:k8sh-probe-"
"""Prefix of the service accounts of the scanner's probe namespaces."""


@dataclass(frozen=True)
class Request:
    """One API request, as its audit events describe it."""

    audit_id: str
    user: str
    user_agent: str
    verb: str
    received: datetime


@dataclass(frozen=True)
class Load:
    """The requests of some users within a time window."""

    requests: int
    peak_per_second: int
    per_second: dict[int, int]
    """Seconds since the window's start -> requests received in that second."""
    by_user: dict[str, int]
    by_verb: dict[str, int]


def requests(lines: Iterable[str]) -> list[Request]:
    """Every request of the log once (by audit ID, whichever stages were logged); other lines are skipped."""
    seen: dict[str, Request] = {}
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by rotation or by a write in progress
        if not isinstance(event, dict) or event.get("kind") != "Event" or event.get("auditID") in seen:
            continue
        seen[event["auditID"]] = Request(
            audit_id=event["auditID"],
            user=event.get("user", {}).get("username", ""),
            user_agent=event.get("userAgent", ""),
            verb=event.get("verb", ""),
            received=datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")),
        )
    return list(seen.values())


def load(
    found: Iterable[Request],
    users: Iterable[str],
    start: datetime,
    end: datetime,
    agents: Collection[str] | None = None,
) -> Load:
    """The requests of `users` received in [start, end], bucketed per second since `start`; with `agents`,
    only those whose User-Agent is one of them (other clients may share the scanner's identity)."""
    wanted = set(users)
    chosen = [
        r
        for r in found
        if r.user in wanted and start <= r.received <= end and (agents is None or r.user_agent in agents)
    ]
    per_second = Counter(int((r.received - start).total_seconds()) for r in chosen)
    return Load(
        requests=len(chosen),
        peak_per_second=max(per_second.values(), default=0),
        per_second=dict(sorted(per_second.items())),
        by_user=dict(Counter(r.user for r in chosen).most_common()),
        by_verb=dict(Counter(r.verb for r in chosen).most_common()),
    )


def users_in(found: Iterable[Request], start: datetime, end: datetime) -> dict[str, int]:
    """Requests per user in [start, end], most first: what else talked to the API server meanwhile."""
    return dict(Counter(r.user for r in found if start <= r.received <= end).most_common())


def scanner_users(users: Iterable[str], admin: str) -> list[str]:
    """Which of `users` are the scanner: its admin client, anonymous and refused knocks, probe pods."""
    ours = {admin, "system:anonymous", UNAUTHENTICATED}
    return [user for user in users if user in ours or user.startswith(PROBE_SERVICE_ACCOUNTS)]


def busiest_second(received: Iterable[datetime]) -> int:
    """The most requests received within any one second (a sliding window, not calendar seconds)."""
    ordered = sorted(received)
    most, first = 0, 0
    for last, moment in enumerate(ordered):
        while (moment - ordered[first]).total_seconds() >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def kubeconfig_user(kubeconfig: Path) -> str:
    """The common name of the kubeconfig's client certificate: the user the API server audits."""
    user = yaml.safe_load(kubeconfig.read_text())["users"][0]["user"]
    certificate = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    return str(certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
