"""The audit-log reading of the benchmarks: requests counted once, by user, bucketed per second."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from benchmarks.audit import busiest_second, load, requests, scanner_users, users_in


def _event(audit_id: str, user: str, at: str, stage: str = "ResponseComplete", verb: str = "get") -> str:
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "auditID": audit_id,
            "stage": stage,
            "verb": verb,
            "user": {"username": user, "groups": ["system:authenticated"]},
            "userAgent": "OpenAPI-Generator/35.0.0/python",
            "requestReceivedTimestamp": at,
        }
    )


LOG = [
    _event("a", "k8sharden-admin", "2026-11-23T16:00:00.100000Z", stage="ResponseStarted", verb="watch"),
    _event("a", "k8sharden-admin", "2026-11-23T16:00:00.100000Z", verb="watch"),
    _event("b", "k8sharden-admin", "2026-11-23T16:00:00.900000Z", verb="create"),
    _event("c", "k8sharden-admin", "2026-11-23T16:00:02.500000Z"),
    _event("d", "system:node:node", "2026-11-23T16:00:00.500000Z"),
    _event("e", "k8sharden-admin", "2026-11-23T16:00:09.000000Z"),
    '{"kind":"Event","auditID":"f","requestRecei',
    "",
]
START = datetime(2026, 11, 23, 16, 0, 0, tzinfo=UTC)
END = datetime(2026, 11, 23, 16, 0, 5, tzinfo=UTC)


def test_each_request_counts_once_whatever_stages_were_logged() -> None:
    found = requests(LOG)
    assert sorted(r.audit_id for r in found) == ["a", "b", "c", "d", "e"]


def test_load_keeps_the_users_and_window_and_buckets_per_second() -> None:
    measured = load(requests(LOG), ["k8sharden-admin"], START, END)
    assert measured.requests == 3
    assert measured.per_second == {0: 2, 2: 1}
    assert measured.peak_per_second == 2
    assert measured.by_verb == {"watch": 1, "create": 1, "get": 1}


def test_no_requests_mean_no_peak() -> None:
    measured = load(requests(LOG), ["nobody"], START, END)
    assert (measured.requests, measured.peak_per_second, measured.per_second) == (0, 0, {})


def test_users_in_window_show_the_background() -> None:
    assert users_in(requests(LOG), START, END) == {"k8sharden-admin": 3, "system:node:node": 1}


def test_the_scanner_is_its_admin_its_anonymous_knocks_and_its_probe_pods() -> None:
    users = [
        "k8sharden-admin", "", "system:anonymous", "system:serviceaccount:k8sh-probe-1a2b:k8sharden-unbound",
        "system:node:node", "system:serviceaccount:kube-system:namespace-controller",
    ]  # fmt: skip
    assert scanner_users(users, "k8sharden-admin") == users[:4]


def test_busiest_second_slides_across_calendar_seconds() -> None:
    at = [datetime(2026, 11, 23, 16, 0, 0, microsecond, tzinfo=UTC) for microsecond in (600000, 900000)]
    at += [datetime(2026, 11, 23, 16, 0, 1, microsecond, tzinfo=UTC) for microsecond in (100000, 500000)]
    at.append(datetime(2026, 11, 23, 16, 0, 1, 600000, tzinfo=UTC))  # exactly 1 s after the first
    assert busiest_second(at) == 4, "0.6-1.5 s holds four; calendar seconds would say two and three"
    assert busiest_second([]) == 0


def test_load_can_keep_only_the_scanners_user_agents() -> None:
    assert (
        load(requests(LOG), ["k8sharden-admin"], START, END, agents=("pytest-k8sharden/0.1.0", "")).requests
        == 0
    )
    assert (
        load(
            requests(LOG), ["k8sharden-admin"], START, END, agents=("OpenAPI-Generator/35.0.0/python",)
        ).requests
        == 3
    )
