"""The shipped suites against the real local cluster: every check fails on insecure and passes on hardened.

Each profile's suites run once, in a subprocess exactly as a user runs them after ``pip install`` of the
wheel into a fresh virtualenv, from a directory unrelated to the checkout, reusing the session's kept
cluster: hardened through ``k8sharden run`` (in a directory holding a stray pytest.ini, conftest.py and
tests/ folder that must change nothing), insecure through ``pytest --pyargs pytest_k8sharden.suites``.
The tests then read the verdicts from the evidence.json that run wrote.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from local_clusters import Running, run_shipped_suites
from user_install import UserInstall, plant_stray_configuration

from pytest_k8sharden.fixtures import MANAGED_BY, MANAGED_BY_LABEL
from pytest_k8sharden.isolation.scenarios import SCENARIOS
from pytest_k8sharden.profiles import INGRESS_DOMAIN

pytestmark = pytest.mark.cluster

# check id -> expected outcome on (hardened, insecure)
EXPECTED: dict[str, tuple[str, str]] = {
    "API-ANON-AUTH": ("passed", "failed"),
    "API-ANON-READ": ("passed", "failed"),
    "API-AUTHZ-NOT-ALWAYSALLOW": ("passed", "failed"),
    "API-NO-PLAINTEXT": ("passed", "failed"),
    "API-TLS-PROTOCOL": ("passed", "failed"),
    "API-TLS-CIPHERS": ("passed", "failed"),
    "API-TLS-CERT": ("passed", "failed"),
    "KUBELET-ANON": ("passed", "failed"),
    "KUBELET-AUTHZ-WEBHOOK": ("passed", "failed"),
    "KUBELET-READONLY-PORT": ("passed", "failed"),
    "ETCD-CLIENT-CERT": ("passed", "failed"),
    "ETCD-NO-PLAINTEXT": ("passed", "failed"),
    "ETCD-PEER-CERT": ("passed", "failed"),
    "CONTROLLER-MANAGER-ANON": ("passed", "failed"),
    "SCHEDULER-ANON": ("passed", "failed"),
    "INGRESS-TLS-CONFIGURED": ("passed", "failed"),
    "INGRESS-HTTP-REDIRECT": ("passed", "failed"),
    "INGRESS-CERT-VALID": ("passed", "failed"),
    "INGRESS-CERT-EXPIRY": ("passed", "failed"),
    "INGRESS-CERT-STRENGTH": ("passed", "failed"),
    "INGRESS-CERT-MATCHES-SECRET": ("passed", "failed"),
    "INGRESS-TLS-PROTOCOL": ("passed", "failed"),
    "INGRESS-TLS-CIPHERS": ("passed", "failed"),
    "INGRESS-HSTS": ("passed", "failed"),
    # Kubernetes 1.36 and 1.37 have no flag that opens 10251/10252: no profile can fail this check.
    "CONTROL-PLANE-INSECURE-PORTS": ("passed", "passed"),
    "NETPOL-ENFORCED": ("passed", "failed"),
    "NETPOL-WORKLOADS": ("passed", "failed"),
    "NETPOL-DEFAULT-DENY-INGRESS": ("passed", "failed"),
    "NETPOL-DEFAULT-DENY-EGRESS": ("passed", "failed"),
    "METADATA-BLOCKED": ("passed", "failed"),
    "ISOLATED-NAMESPACE-CONTROL-PLANE": ("passed", "failed"),
    **dict.fromkeys(
        [
            "RBAC-ANONYMOUS-BINDINGS",
            "RBAC-AUTHENTICATED-BINDINGS",
            "RBAC-CLUSTER-ADMIN",
            "RBAC-WILDCARDS",
            "RBAC-SECRETS-READERS",
            "RBAC-POD-CREATE-EXEC",
            "RBAC-ESCALATE-BIND-IMPERSONATE",
            "RBAC-DEFAULT-SERVICEACCOUNTS",
            "PSA-ENFORCE-LABELS",
            "ADMISSION-REJECTS-PRIVILEGED",
            "WORKLOAD-PRIVILEGED",
            "WORKLOAD-HOST-NAMESPACES",
            "WORKLOAD-HOSTPATH",
            "WORKLOAD-CAPABILITIES",
            "WORKLOAD-RUN-AS-ROOT",
            "WORKLOAD-PRIVILEGE-ESCALATION",
            "WORKLOAD-SECCOMP",
            "WORKLOAD-READONLY-ROOTFS",
            "CONFIG-APISERVER-ANONYMOUS-AUTH",
            "CONFIG-APISERVER-AUTHORIZATION-MODE",
            "CONFIG-APISERVER-ADMISSION-PLUGINS",
            "CONFIG-APISERVER-AUDIT-LOG",
            "CONFIG-APISERVER-ENCRYPTION-CONFIG",
            "CONFIG-APISERVER-TLS",
            "CONFIG-PROFILING-DISABLED",
            "CONFIG-APISERVER-NO-STATIC-TOKENS",
            "CONFIG-APISERVER-KUBELET-TLS",
            "CONFIG-APISERVER-SA-LOOKUP",
            "CONFIG-ETCD-CLIENT-CERT-AUTH",
            "CONFIG-KUBELET-AUTH",
            "SECRETS-ENCRYPTED-AT-REST",
            "SA-AUTOMOUNT-DEFAULT",
            "SA-AUTOMOUNT-PODS",
            "SA-LEGACY-TOKEN-SECRETS",
            "SECRETS-AS-ENV",
            "DASHBOARD-EXPOSED",
            "DASHBOARD-SKIP-LOGIN",
            "DASHBOARD-ANONYMOUS-DATA",
            "IMAGES-PINNED-BY-DIGEST",
            "VERSION-APISERVER-SUPPORTED",
            "VERSION-KUBELET-SUPPORTED",
        ],
        ("passed", "failed"),
    ),
}
EXPOSURE_CHECKS = ("API-", "KUBELET-", "ETCD-", "CONTROLLER-MANAGER-", "SCHEDULER-", "CONTROL-PLANE-")
WORKLOAD_NAMESPACE = "k8sharden-shop"
"""The namespace of workloads both profiles seed, whose isolation NETPOL-WORKLOADS compares."""
PROFILES = ("hardened", "insecure")
# Ingress checks on insecure: the sites each must name in its failure, and the valid site it must not.
INGRESS_FAILING_SITES: dict[str, tuple[str, ...]] = {
    "INGRESS-TLS-CONFIGURED": ("plain",),
    "INGRESS-CERT-VALID": ("expired", "wrong-name", "weak-key"),
    "INGRESS-CERT-EXPIRY": ("expired",),
    "INGRESS-CERT-STRENGTH": ("weak-key",),
    "INGRESS-CERT-MATCHES-SECRET": ("wrong-name",),
}
POSTURE_PASSES_SAY = {
    "RBAC-CLUSTER-ADMIN": "ClusterRoleBindings and",
    "WORKLOAD-PRIVILEGED": "namespaces in scope (",
    "SA-AUTOMOUNT-DEFAULT": "ServiceAccounts read)",
    "DASHBOARD-SKIP-LOGIN": "Deployments read (names, labels and images searched for",
    "ADMISSION-REJECTS-PRIVILEGED": 'Pod Security admission rejected the privileged pod (403): pods "',
    "CONFIG-APISERVER-ANONYMOUS-AUTH": "1 instance(s): process/kube-apiserver",
    "VERSION-APISERVER-SUPPORTED": "newest known patch 1.37.2 (release table of 2026-11-23)",
}
"""On hardened: what each posture pass must say it examined."""
SuiteRun = tuple[str, dict[str, dict[str, Any]]]
"""The profile and its results by check id."""
STARTED: dict[str, datetime] = {}
"""When each profile's suite run started (what existed before is not that run's to clean up)."""


@pytest.fixture(scope="module", params=PROFILES)
def suite_run(
    request: pytest.FixtureRequest,
    local_cluster: Callable[[str], Running],
    tmp_path_factory: pytest.TempPathFactory,
    user_install: UserInstall,
) -> SuiteRun:
    """Run the shipped suites against the profile's cluster; return the profile and results by check."""
    profile = request.param
    local_cluster(profile)
    evidence_dir = tmp_path_factory.mktemp(f"evidence-{profile}")
    runner: list[str | Path]
    if profile == "hardened":
        plant_stray_configuration(evidence_dir)
        runner = [user_install.k8sharden, "run"]
    else:
        runner = [user_install.python, "-m", "pytest", "--pyargs", "pytest_k8sharden.suites"]
    STARTED[profile] = datetime.now(UTC).replace(microsecond=0)
    done = run_shipped_suites(
        profile, evidence_dir, f"--workload-namespaces={WORKLOAD_NAMESPACE}", runner=runner
    )
    evidence = evidence_dir / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    results = json.loads(evidence.read_text())["results"]
    return profile, {r["check"]: r for r in results}


@pytest.mark.parametrize("check", sorted(EXPECTED))
def test_check_verdict_matches_the_profile(suite_run: SuiteRun, check: str) -> None:
    profile, results = suite_run
    assert check in results, f"{check} did not run on {profile}: ran {sorted(results)}"
    expected = EXPECTED[check][PROFILES.index(profile)]
    result = results[check]
    assert result["outcome"] == expected, f"{check} on {profile}: {result['outcome']}: {result['message']}"
    assert result["evidence"], f"{check} on {profile} recorded no evidence"


def test_failures_name_the_door(suite_run: SuiteRun) -> None:
    profile, results = suite_run
    for check, result in results.items():
        if result["outcome"] == "failed" and check.startswith(EXPOSURE_CHECKS):
            assert "http" in result["message"] or "API server" in result["message"], (
                f"{check} on {profile} fails without naming the door"
            )


def test_ingress_failures_name_the_right_hosts(suite_run: SuiteRun) -> None:
    profile, results = suite_run
    if profile != "insecure":
        pytest.skip("the hosts with planted faults exist on insecure only")
    for check, sites in INGRESS_FAILING_SITES.items():
        message = results[check]["message"]
        for site in sites:
            assert f"https://{site}.{INGRESS_DOMAIN}" in message, f"{check} does not name {site}: {message}"
        assert f"https://app.{INGRESS_DOMAIN}" not in message, f"{check} blames the valid site: {message}"


def test_posture_findings_say_why(suite_run: SuiteRun) -> None:
    profile, results = suite_run
    admission = [o["summary"] for o in results["CONFIG-APISERVER-ADMISSION-PLUGINS"]["evidence"]]
    assert any("AlwaysPullImages is not enabled (informational" in s for s in admission), admission
    if profile == "insecure":
        assert "RBAC lacks Node" in results["CONFIG-APISERVER-AUTHORIZATION-MODE"]["message"]
        for check in ("VERSION-APISERVER-SUPPORTED", "VERSION-KUBELET-SUPPORTED"):
            assert "v1.36.3, behind 1.36.6" in results[check]["message"], results[check]["message"]
    else:  # a pass names what it examined, and how many, in its evidence
        for check, says in POSTURE_PASSES_SAY.items():
            summaries = [o["summary"] for o in results[check]["evidence"]]
            assert any(says in summary for summary in summaries), f"{check}: {summaries}"


def test_every_suite_check_is_covered_here(suite_run: SuiteRun) -> None:
    _, results = suite_run
    assert set(results) <= set(EXPECTED), (
        f"checks without an expected verdict: {set(results) - set(EXPECTED)}"
    )


def test_evidence_holds_no_credentials(suite_run: SuiteRun) -> None:
    _, results = suite_run
    text = json.dumps(results)
    assert "Bearer ey" not in text
    assert "PRIVATE KEY" not in text


def test_canary_evidence_has_a_grid_per_scenario(suite_run: SuiteRun) -> None:
    profile, results = suite_run
    canary = results["NETPOL-ENFORCED"]
    matrices = [o for o in canary["evidence"] if o["kind"] == "matrix"]
    assert len(matrices) == len(SCENARIOS) and all(o["details"]["grids"] for o in matrices)
    if profile == "insecure":
        assert "expected blocked, observed allowed" in canary["message"]
        assert "backend" in results["NETPOL-WORKLOADS"]["message"]


def test_metadata_credentials_never_reach_the_evidence(
    suite_run: SuiteRun, local_cluster: Callable[[str], Running]
) -> None:
    profile, results = suite_run
    canary = local_cluster(profile).cluster.state.path("metadata-canary").read_text().strip()
    assert canary and canary not in json.dumps(results)
    if profile == "insecure":
        assert "169.254.169.254" in results["METADATA-BLOCKED"]["message"]


def test_no_probe_pod_or_namespace_is_left_behind(
    suite_run: SuiteRun, local_cluster: Callable[[str], Running]
) -> None:
    profile, _ = suite_run
    kube = local_cluster(profile).kube
    ours = f"{MANAGED_BY_LABEL}={MANAGED_BY}"
    found = [
        *(n.metadata for n in kube.core.list_namespace(label_selector=ours).items),
        *(p.metadata for p in kube.core.list_pod_for_all_namespaces(label_selector=ours).items),
    ]
    since = STARTED[profile]
    left = [
        f"{meta.namespace or 'namespace'}/{meta.name}"
        for meta in found
        if meta and meta.creation_timestamp and meta.creation_timestamp >= since
    ]
    assert left == [], f"the suite run left behind on {profile}: {left}"
