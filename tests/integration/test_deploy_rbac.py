"""deploy/rbac-read-only.yaml against a real API server: exactly what a --read-only run needs.

The ServiceAccount and its roles are applied to the hardened local cluster (whose API server writes an
audit log of every request at Metadata level), the shipped suites run with ``--read-only`` as that
identity through a token kubeconfig, and the audit log then says what the run asked for: nothing may
have been refused, and every rule of the roles must have been used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deployed import (
    USERNAME,
    Grant,
    audit_events,
    documents,
    granted,
    read_only_identity_applied,
    read_only_run_outside,
    refused,
    token_kubeconfig,
    writes,
)
from local_clusters import Running

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def read_only_identity(local_cluster: Callable[[str], Running]) -> Iterator[tuple[Running, str]]:
    """deploy/rbac-read-only.yaml applied to the hardened cluster, and a token of its ServiceAccount."""
    running = local_cluster("hardened")
    with read_only_identity_applied(running) as token:
        yield running, token


def test_read_only_run_as_the_deployed_identity_is_never_refused_and_uses_every_rule(
    read_only_identity: tuple[Running, str], tmp_path: Path
) -> None:
    running, token = read_only_identity
    kubeconfig = token_kubeconfig(running, token, tmp_path / "kubeconfig")
    started = datetime.now(UTC).replace(microsecond=0)
    run = read_only_run_outside(kubeconfig, tmp_path)
    assert run["run"]["identity"].startswith(USERNAME)
    for result in run["results"]:
        assert result["outcome"] != "error", f"{result['check']}: {result['message']}"
        assert "Forbidden" not in result["message"] and "403" not in result["message"], result

    time.sleep(2)  # the audit log is written after the response
    events = audit_events(running, started)
    assert events, "the audit log shows no request of the scanner"
    assert refused(events) == [], f"requests of the read-only run refused: {refused(events)}"
    assert writes(events) == [], f"the read-only run changed the cluster: {writes(events)}"

    used: set[Grant] = set()
    for event in events:
        ref = event.get("objectRef")
        if ref:
            resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            used.add((ref.get("apiGroup", ""), resource, event["verb"], ref.get("namespace")))
    unused = {
        grant
        for grant in granted(documents("rbac-read-only.yaml"))
        if not any(u[:3] == grant[:3] and (grant[3] is None or u[3] == grant[3]) for u in used)
    }
    assert unused == set(), f"the read-only roles grant what the run never used: {sorted(unused)}"
