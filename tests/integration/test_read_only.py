"""--read-only creates nothing: the audit log shows no write by the scanner during a run."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from local_clusters import Running

from pytest_k8sharden.evidence.observation import utc_now

pytestmark = pytest.mark.cluster

WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
REVIEWS = frozenset({"selfsubjectreviews", "selfsubjectaccessreviews", "selfsubjectrulesreviews"})
"""Review APIs answer a question and persist nothing (their verb is create): asking who we are is allowed."""


def _events(log: Path, username: str, since: datetime, until: datetime) -> list[dict[str, Any]]:
    events = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        stamp = datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00"))
        if event["user"].get("username") == username and since <= stamp <= until:
            events.append(event)
    return events


def test_read_only_run_sends_no_write_from_the_scanner(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    running = local_cluster("hardened")
    log = running.cluster.state.path("audit", "audit.log")
    username = running.kube.whoami().username
    started = utc_now()
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--pyargs", "pytest_k8sharden.suites",
        f"--kubeconfig={running.cluster.state.kubeconfig}", "--read-only", f"--evidence-dir={tmp_path}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200, check=False, cwd=tmp_path)
    finished = utc_now()
    results = json.loads((tmp_path / "evidence.json").read_text())["results"]
    assert results, done.stdout[-3000:]
    assert {r["outcome"] for r in results} & {"passed", "failed"}, "the read-only run checked something"
    events = _events(log, username, started, finished)
    assert events, f"the audit log {log} shows no request from {username} during the run"
    writes = [
        f"{e['verb']} {e['requestURI']}"
        for e in events
        if e["verb"] in WRITES and e.get("objectRef", {}).get("resource") not in REVIEWS
    ]
    assert writes == [], f"{len(writes)} writes under --read-only: {writes[:20]}"
