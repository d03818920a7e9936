"""The shipped suites against the real local cluster: every check fails on insecure and passes on hardened.

Each profile's suites run once a session (the ``installed_suite_run`` fixture), in a subprocess exactly as
a user runs them after ``pip install`` of the wheel into a fresh virtualenv, from a directory unrelated to
the checkout, reusing the session's kept cluster: hardened through ``k8sharden run`` (in a directory
holding a stray pytest.ini, conftest.py and tests/ folder that must change nothing), insecure through
``pytest --pyargs pytest_k8sharden.suites`` with waivers (a waived check is a failed one a waiver
covers; test_outputs_on_local.py judges the waivers). The tests then read the verdicts from the
evidence.json that run wrote. Hardened's run once more under
``-n 4`` (pytest-xdist) must give every check the serial verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from local_clusters import WORKLOAD_NAMESPACE, Running, ShippedRun, run_shipped_suites

from pytest_k8sharden.evidence.bundle import verify_manifest
from pytest_k8sharden.isolation.scenarios import SCENARIOS
from pytest_k8sharden.ownership import RUN_LABEL
from pytest_k8sharden.profiles import INGRESS_DOMAIN

pytestmark = pytest.mark.cluster

# RBAC escalation paths: on insecure each failure names the seeded CI ServiceAccount's binding (no wildcard).
ESCALATION_PATHS = (
    "RBAC-NODES-PROXY",
    "RBAC-SA-TOKEN-CREATE",
    "RBAC-CSR-APPROVE",
    "RBAC-WEBHOOK-CONFIG-WRITE",
    "RBAC-POD-ATTACH-EPHEMERAL",
)
# check id -> expected outcome on (hardened, insecure)
EXPECTED: dict[str, tuple[str, str]] = {
    "API-ANON-AUTH": ("passed", "failed"),
    "API-ANON-HEALTH-ONLY": ("passed", "failed"),
    "API-ANON-READ": ("passed", "failed"),
    "API-AUTHZ-NOT-ALWAYSALLOW": ("passed", "failed"),
    "API-NO-PLAINTEXT": ("passed", "failed"),
    "API-TLS-PROTOCOL": ("passed", "failed"),
    "API-TLS-CIPHERS": ("passed", "failed"),
    "API-TLS-CERT": ("passed", "failed"),
    "KUBELET-ANON": ("passed", "failed"),
    "KUBELET-AUTHZ-WEBHOOK": ("passed", "failed"),
    "KUBELET-FINE-GRAINED-AUTHZ": ("passed", "failed"),
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
            *ESCALATION_PATHS,
            "PSA-ENFORCE-LABELS",
            "ADMISSION-REJECTS-PRIVILEGED",
            "WORKLOAD-PRIVILEGED",
            "WORKLOAD-HOST-NAMESPACES",
            "WORKLOAD-HOSTPATH",
            "WORKLOAD-CAPABILITIES",
            "WORKLOAD-CAPABILITIES-DROP-ALL",
            "WORKLOAD-RUN-AS-ROOT",
            "WORKLOAD-PRIVILEGE-ESCALATION",
            "WORKLOAD-SECCOMP",
            "WORKLOAD-READONLY-ROOTFS",
            "WORKLOAD-RESOURCE-LIMITS",
            "NAMESPACE-RESOURCE-QUOTA",
            "NAMESPACE-LIMIT-RANGE",
            "WORKLOAD-HOST-PORTS",
            "SERVICE-LOADBALANCER-SOURCE-RANGES",
            "SERVICE-NODEPORT-ALLOWED",
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
            "CONFIG-APISERVER-ETCD-TLS",
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
PROFILES = ("hardened", "insecure")
# Ingress checks on insecure: the sites each must name in its failure, and the valid site it must not.
INGRESS_FAILING_SITES: dict[str, tuple[str, ...]] = {
    "INGRESS-TLS-CONFIGURED": ("plain",),
    "INGRESS-CERT-VALID": ("expired", "wrong-name", "weak-key"),
    "INGRESS-CERT-EXPIRY": ("expired",),
    "INGRESS-CERT-STRENGTH": ("weak-key",),
    "INGRESS-CERT-MATCHES-SECRET": ("wrong-name",),
}
POSTURE_PASSES_SAY: dict[str, str | tuple[str, ...]] = {
    "RBAC-CLUSTER-ADMIN": "ClusterRoleBindings and",
    "WORKLOAD-PRIVILEGED": "namespaces in scope (",
    "SA-AUTOMOUNT-DEFAULT": "ServiceAccounts read; exempt: kube-system",
    "NAMESPACE-RESOURCE-QUOTA": "ResourceQuotas and",
    "DASHBOARD-SKIP-LOGIN": "Deployments read (names, labels and images searched for",
    "ADMISSION-REJECTS-PRIVILEGED": 'Pod Security admission rejected the privileged pod (403): pods "',
    "CONFIG-APISERVER-ANONYMOUS-AUTH": (
        "1 instance(s): process/kube-apiserver) restricts anonymous requests",
        "; anonymous health checks answered on /healthz, /livez, /readyz; every path but",
    ),
    "VERSION-APISERVER-SUPPORTED": "newest known patch 1.37.2 (release table of 2026-11-23)",
}
"""On hardened: what each posture pass must say it examined (every part of a tuple)."""
EXPOSURE_PASSES_SAY = {
    "API-ANON-HEALTH-ONLY": "anonymous health checks answered on /healthz, /livez, /readyz; every path but",
    "KUBELET-FINE-GRAINED-AUTHZ": "answered what nodes/healthz grants",
}
"""On hardened: what an exposure pass must say it saw (health paths and the grant answered, not only 401s)."""
INSECURE_FAILURES_SAY = {
    **dict.fromkeys(
        ESCALATION_PATHS,
        "ClusterRoleBinding/k8sharden-insecure-ci-deployer-escalation -> "
        "ClusterRole/k8sharden-insecure-escalation-paths -> ServiceAccount/k8sharden-insecure/ci-deployer",
    ),
    "WORKLOAD-CAPABILITIES-DROP-ALL": "container agent: drops no capabilities",
    "WORKLOAD-RESOURCE-LIMITS": "container agent: sets no cpu and no memory limit",
    "NAMESPACE-RESOURCE-QUOTA": "Namespace/k8sharden-insecure: has no ResourceQuota",
    "NAMESPACE-LIMIT-RANGE": "Namespace/k8sharden-insecure: has no LimitRange",
    "WORKLOAD-HOST-PORTS": "container agent: binds hostPort 9100/TCP",
    "SERVICE-LOADBALANCER-SOURCE-RANGES": "Service/k8sharden-insecure/legacy-api: LoadBalancer without",
    "SERVICE-NODEPORT-ALLOWED": "Service/k8sharden-insecure/kubernetes-dashboard: NodePort on node port",
    "API-ANON-HEALTH-ONLY": "anonymous clients are authenticated beyond the health paths (no 401): ",
    "KUBELET-FINE-GRAINED-AUTHZ": "granted only nodes/healthz, served unauthorized requests: https://",
    "CONFIG-APISERVER-ETCD-TLS": (
        "--etcd-certfile, --etcd-keyfile, --etcd-cafile not set; --etcd-servers names plaintext http://"
    ),
}
"""On insecure: what each new check's failure must name (the seeded object)."""
SuiteRun = tuple[str, dict[str, dict[str, Any]]]
"""The profile and its results by check id."""
RUNS: dict[str, ShippedRun] = {}
"""Each profile's run (its run id names what it created)."""


@pytest.fixture(scope="module", params=PROFILES)
def suite_run(request: pytest.FixtureRequest, installed_suite_run: Callable[[str], ShippedRun]) -> SuiteRun:
    """The session's run of the shipped suites on the profile's cluster: the profile and results by check."""
    run = RUNS[request.param] = installed_suite_run(request.param)
    return request.param, {r["check"]: r for r in run.results}


@pytest.mark.parametrize("check", sorted(EXPECTED))
def test_check_verdict_matches_the_profile(suite_run: SuiteRun, check: str) -> None:
    profile, results = suite_run
    assert check in results, f"{check} did not run on {profile}: ran {sorted(results)}"
    expected = EXPECTED[check][PROFILES.index(profile)]
    result = results[check]
    outcome = "failed" if result["outcome"] == "waived" and result.get("waiver") else result["outcome"]
    assert outcome == expected, f"{check} on {profile}: {result['outcome']}: {result['message']}"
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
        for check, says in INSECURE_FAILURES_SAY.items():
            assert says in results[check]["message"], f"{check}: {results[check]['message']}"
        for check in ("VERSION-APISERVER-SUPPORTED", "VERSION-KUBELET-SUPPORTED"):
            assert "v1.36.3, behind 1.36.6" in results[check]["message"], results[check]["message"]
    else:  # a pass names what it examined, and how many, in its evidence
        for check, parts in POSTURE_PASSES_SAY.items():
            summaries = [o["summary"] for o in results[check]["evidence"]]
            for part in parts if isinstance(parts, tuple) else (parts,):
                assert any(part in summary for summary in summaries), f"{check}: {summaries}"
        for check, said in EXPOSURE_PASSES_SAY.items():
            assert said in results[check]["message"], f"{check}: {results[check]['message']}"


def test_every_exemption_is_named_with_why(suite_run: SuiteRun) -> None:
    """The built-in exemptions leave nothing out silently: messages name them, evidence says why."""
    _, results = suite_run
    assert "exempt: kube-system" in results["PSA-ENFORCE-LABELS"]["message"]
    assert "exempt: kube-system" in results["WORKLOAD-PRIVILEGED"]["message"]
    default_deny = results["NETPOL-DEFAULT-DENY-INGRESS"]["message"]
    assert all(ns in default_deny for ns in ("kube-system", "kube-public", "kube-node-lease")), default_deny
    admin = results["RBAC-CLUSTER-ADMIN"]
    assert "left out as exempt (built-in" in admin["message"] and "Group/system:masters" in admin["message"]
    left_out = [o["details"]["exempt grants"] for o in admin["evidence"] if "exempt grants" in o["details"]]
    assert left_out and all(why for why in left_out[0].values()), admin["evidence"]
    assert any("Group/system:masters" in grant for grant in left_out[0]), left_out


def test_the_run_printed_no_traceback_and_no_check_errored(suite_run: SuiteRun) -> None:
    profile, results = suite_run
    output = RUNS[profile].output
    assert "Traceback" not in output, output[-5000:]
    assert {check: r["message"] for check, r in results.items() if r["outcome"] == "error"} == {}


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
    assert all(o["details"]["grids"] for o in matrices)
    if profile == "hardened":
        assert len(matrices) == len(SCENARIOS)
    else:  # nothing enforces policy: the first scenario with a policy ends the canary
        assert len(matrices) == 2 and "expected blocked, observed allowed" in canary["message"]
        assert f"the other {len(SCENARIOS) - 2} scenarios were not run" in canary["message"]
        assert "backend" in results["NETPOL-WORKLOADS"]["message"]


def test_metadata_credentials_never_reach_the_evidence(
    suite_run: SuiteRun, local_cluster: Callable[[str], Running]
) -> None:
    profile, results = suite_run
    canary = local_cluster(profile).cluster.state.path("metadata-canary").read_text().strip()
    assert canary and canary not in json.dumps(results)
    if profile == "insecure":
        assert "169.254.169.254" in results["METADATA-BLOCKED"]["message"]


def test_no_probe_pod_namespace_or_grant_is_left_behind(
    suite_run: SuiteRun, local_cluster: Callable[[str], Running]
) -> None:
    profile, _ = suite_run
    kube = local_cluster(profile).kube
    its_own = f"{RUN_LABEL}={RUNS[profile].run_id}"
    found = [
        *(n.metadata for n in kube.core.list_namespace(label_selector=its_own).items),
        *(p.metadata for p in kube.core.list_pod_for_all_namespaces(label_selector=its_own).items),
        *(
            p.metadata
            for p in kube.networking.list_network_policy_for_all_namespaces(label_selector=its_own).items
        ),
        *(r.metadata for r in kube.rbac.list_cluster_role(label_selector=its_own).items),
        *(b.metadata for b in kube.rbac.list_cluster_role_binding(label_selector=its_own).items),
    ]
    left = [f"{meta.namespace or 'namespace'}/{meta.name}" for meta in found if meta]
    assert left == [], f"the suite run left behind on {profile}: {left}"


def test_parallel_run_gives_every_check_the_serial_verdict(suite_run: SuiteRun, tmp_path: Path) -> None:
    """The shipped suites under ``-n 4`` (pytest-xdist) on the same cluster: the serial run's verdicts."""
    profile, serial = suite_run
    if profile != "hardened":
        pytest.skip("one parallel run, on hardened, keeps the CI time in bounds")
    done = run_shipped_suites(profile, tmp_path, f"--workload-namespaces={WORKLOAD_NAMESPACE}", "-n", "4")
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output[-3000:]
    evidence = tmp_path / "evidence.json"
    assert evidence.exists(), f"no evidence.json; pytest said:\n{output[-3000:]}"
    parallel = {r["check"]: r for r in json.loads(evidence.read_text())["results"]}
    assert {check: r["outcome"] for check, r in parallel.items()} == {
        check: r["outcome"] for check, r in serial.items()
    }
    assert [check for check, r in parallel.items() if r["outcome"] == "error"] == []
    assert verify_manifest(tmp_path).clean
