"""Small fake suites the plugin's own tests run with pytester: checks that need no cluster."""

from __future__ import annotations

SUITE = """
import pytest
from pytest_k8sharden.evidence import Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome, subject

GRID = ["      a/x  b/y", "a/x   .    X", "b/y   X    ."]

@pytest.mark.control("NETPOL-DEFAULT-DENY-EGRESS")
def test_egress(evidence):
    grids = {"expected": GRID, "observed": GRID}
    evidence.record(Observation(kind="matrix", summary="reachability legacy", vantage="runner",
                                target="Namespace/legacy", details={"grids": grids}))
    evidence.conclude(Finding(Outcome.FAILED, "no default-deny egress in namespace legacy",
                              (subject("Namespace", "legacy"),)))

@pytest.mark.control("API-ANON-AUTH")
def test_anon_auth(evidence):
    evidence.record(Observation(kind="http", summary="GET https://10.0.0.1:6443/api -> 200", vantage="runner",
                                target="https://10.0.0.1:6443/api", details={"status": 200}))
    evidence.conclude(Finding(Outcome.FAILED, "API server served GET /api to an anonymous client"))

@pytest.mark.control("KUBELET-ANON")
def test_kubelet(evidence):
    evidence.conclude(Finding(Outcome.FAILED, "kubelet served GET /pods to an anonymous client"))

@pytest.mark.control("KUBELET-READONLY-PORT")
def test_readonly_port(evidence):
    evidence.conclude(Finding(Outcome.PASSED, "closed"))
"""
"""Three failing checks (one about Namespace/legacy with grids, one with an HTTP observation), one passing."""
