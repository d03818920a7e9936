"""The plugin's command-line options and ini settings: the command-line contract, one --help group."""

from __future__ import annotations

import pytest

from pytest_k8sharden.catalog import SEVERITIES
from pytest_k8sharden.evidence.gate import FAIL_ON
from pytest_k8sharden.profiles import PROFILE_NAMES
from pytest_k8sharden.settings import (
    CLUSTER_PROVIDERS,
    DEFAULT_EVIDENCE_DIR,
    DEFAULT_INGRESS_CERT_DAYS,
    DEFAULT_PROBE_TIMEOUT,
    UPSTREAM_PROBE_IMAGE,
)

NAMESPACE_OPTIONS = {
    "workload": "namespaces whose workloads' observed reachability is compared with their NetworkPolicies "
    "(NETPOL-WORKLOADS is skipped when none are given)",
    "isolation": "namespaces the default-deny and isolated-namespace checks cover (default: every namespace "
    "but the exempt ones, see --exemptions, and pytest-k8sharden's own)",
    "metadata": "namespaces from which a fresh pod probes the cloud metadata endpoint, besides a fresh "
    "probe namespace (default: default)",
}
"""The ``--<name>-namespaces`` options and what they choose."""


def add_options(parser: pytest.Parser) -> None:
    """The option group of the command-line contract, with ini equivalents where they make sense."""
    group = parser.getgroup("k8sharden", "pytest-k8sharden: Kubernetes security conformance")
    group.addoption(
        "--cluster",
        dest="k8sharden_cluster",
        metavar="PROVIDER",
        choices=CLUSTER_PROVIDERS,
        help="how to obtain the cluster: existing (kubeconfig or in-cluster; default), kind, or local "
        "(the embedded real cluster). ini: k8sharden_cluster",
    )
    group.addoption(
        "--cluster-profile",
        dest="k8sharden_cluster_profile",
        metavar="PROFILE",
        choices=PROFILE_NAMES,
        help=f"profile of a kind/local cluster: {', '.join(PROFILE_NAMES)} (default: hardened). "
        "ini: k8sharden_cluster_profile",
    )
    group.addoption(
        "--kubeconfig",
        dest="k8sharden_kubeconfig",
        metavar="PATH",
        help="kubeconfig of an existing cluster (default: $KUBECONFIG, ~/.kube/config, or the "
        "in-cluster configuration inside a pod)",
    )
    group.addoption(
        "--kube-context",
        dest="k8sharden_kube_context",
        metavar="CONTEXT",
        help="kubeconfig context to use (default: its current-context)",
    )
    group.addoption(
        "--keep-cluster",
        dest="k8sharden_keep_cluster",
        action="store_true",
        default=False,
        help="leave a kind/local cluster running after the session; the next run reuses it",
    )
    group.addoption(
        "--evidence-dir",
        dest="k8sharden_evidence_dir",
        metavar="DIR",
        help=f"where evidence.json and manifest.sha256 are written (default: ./{DEFAULT_EVIDENCE_DIR}). "
        "ini: k8sharden_evidence_dir",
    )
    group.addoption(
        "--read-only",
        dest="k8sharden_read_only",
        action="store_true",
        default=False,
        help="create nothing in the cluster: checks marked 'active' are skipped. ini: k8sharden_read_only",
    )
    group.addoption(
        "--probe-image",
        dest="k8sharden_probe_image",
        metavar="IMAGE",
        help="image of probe and server pods (default: the local cluster's own image with --cluster=local, "
        f"else {UPSTREAM_PROBE_IMAGE}). ini: k8sharden_probe_image",
    )
    group.addoption(
        "--probe-timeout",
        dest="k8sharden_probe_timeout",
        metavar="SECONDS",
        help=f"seconds one probe may take (default: {DEFAULT_PROBE_TIMEOUT:g}). ini: k8sharden_probe_timeout",
    )
    group.addoption(
        "--ingress-ca",
        dest="k8sharden_ingress_ca",
        metavar="PEM",
        help="CA bundle that Ingress/Gateway certificates must verify against (default: the local cluster's "
        "ingress CA with --cluster=local, else the system roots). ini: k8sharden_ingress_ca",
    )
    group.addoption(
        "--ingress-cert-days",
        dest="k8sharden_ingress_cert_days",
        metavar="DAYS",
        help=f"an Ingress/Gateway certificate expiring within DAYS is a finding (default: "
        f"{DEFAULT_INGRESS_CERT_DAYS}). ini: k8sharden_ingress_cert_days",
    )
    group.addoption(
        "--release-table",
        dest="k8sharden_release_table",
        metavar="FILE",
        help="YAML release table the version checks judge by (format: the shipped posture/releases.yaml); "
        "default: the shipped table. ini: k8sharden_release_table",
    )
    group.addoption(
        "--exemptions",
        dest="k8sharden_exemptions",
        metavar="FILE",
        help="YAML file of what the audit leaves out as built in (namespaces, RBAC groups and users, "
        "ServiceAccount namespaces, each with why); it replaces the shipped exemptions.yaml. "
        "ini: k8sharden_exemptions",
    )
    group.addoption(
        "--admission-policies",
        dest="k8sharden_admission_policies",
        metavar="NAME[,NAME...]",
        help="ValidatingAdmissionPolicies that are your admission control: their refusal of a privileged pod "
        "counts for ADMISSION-REJECTS-PRIVILEGED like Pod Security's (default: Pod Security only). "
        "ini: k8sharden_admission_policies (one per line)",
    )
    group.addoption(
        "--ingress-address",
        dest="k8sharden_ingress_address",
        metavar="HOST[:PORT]",
        help="where the ingress controller answers HTTPS (plain HTTP: port 80 of HOST); default: the address "
        "in each Ingress/Gateway status",
    )
    group.addoption(
        "--allowed-node-ports",
        dest="k8sharden_allowed_node_ports",
        metavar="NS/SERVICE[,...]",
        help="NodePort Services meant to be reachable on every node (SERVICE-NODEPORT-ALLOWED flags every "
        "other; default: none). ini: k8sharden_allowed_node_ports (one per line)",
    )
    group.addoption(
        "--allowed-host-ports",
        dest="k8sharden_allowed_host_ports",
        metavar="NS/PORT[,...]",
        help="hostPorts the containers of a namespace may bind (WORKLOAD-HOST-PORTS flags every other; "
        "default: none). ini: k8sharden_allowed_host_ports (one per line)",
    )
    for option, purpose in NAMESPACE_OPTIONS.items():
        group.addoption(
            f"--{option}-namespaces",
            dest=f"k8sharden_{option}_namespaces",
            metavar="NS[,NS...]",
            help=f"{purpose}. ini: k8sharden_{option}_namespaces (one per line)",
        )
    group.addoption(
        "--waivers",
        dest="k8sharden_waivers",
        metavar="FILE",
        help="YAML file of accepted failures (check or control id, optional scope, reason, owner, "
        "expires): a matching failure is reported as waived; an expired waiver no longer applies. "
        "ini: k8sharden_waivers",
    )
    group.addoption(
        "--baseline",
        dest="k8sharden_baseline",
        metavar="EVIDENCE_JSON",
        help="evidence.json of an earlier run: every failure is marked new or known",
    )
    group.addoption(
        "--fail-on",
        dest="k8sharden_fail_on",
        metavar="WHICH",
        choices=FAIL_ON,
        help="which failed checks fail the run: any (default) or new (not failing in --baseline). "
        "Inconclusive and erroring checks always do. ini: k8sharden_fail_on",
    )
    group.addoption(
        "--fail-severity",
        dest="k8sharden_fail_severity",
        metavar="LEVEL",
        choices=SEVERITIES,
        help=f"least severity of a failed check that fails the run: {', '.join(SEVERITIES)} (default: info, "
        "every failure). ini: k8sharden_fail_severity",
    )
    group.addoption(
        "--sarif",
        dest="k8sharden_sarif",
        metavar="PATH",
        help="also write a SARIF 2.1.0 log of failed, waived and inconclusive checks to PATH",
    )
    parser.addini("k8sharden_waivers", "default for --waivers", default="")
    parser.addini("k8sharden_fail_on", "default for --fail-on", default="")
    parser.addini("k8sharden_fail_severity", "default for --fail-severity", default="")
    parser.addini("k8sharden_cluster", "default for --cluster", default="")
    parser.addini("k8sharden_cluster_profile", "default for --cluster-profile", default="")
    parser.addini("k8sharden_evidence_dir", "default for --evidence-dir", default="")
    parser.addini("k8sharden_read_only", "default for --read-only", type="bool", default=False)
    parser.addini("k8sharden_probe_image", "default for --probe-image", default="")
    parser.addini("k8sharden_probe_timeout", "default for --probe-timeout", default="")
    parser.addini("k8sharden_ingress_ca", "default for --ingress-ca", default="")
    parser.addini("k8sharden_ingress_cert_days", "default for --ingress-cert-days", default="")
    parser.addini("k8sharden_release_table", "default for --release-table", default="")
    parser.addini("k8sharden_exemptions", "default for --exemptions", default="")
    parser.addini(
        "k8sharden_admission_policies", "default for --admission-policies", type="linelist", default=[]
    )
    parser.addini(
        "k8sharden_probe_concurrency",
        "probes one check sends at the same time (default: 8; 1 sends them one after another)",
        default="",
    )
    parser.addini(
        "k8sharden_sweep_older_than",
        "at session start, delete namespaces, pods, NetworkPolicies, ClusterRoles and bindings left by other "
        "runs of pytest-k8sharden older than this (30s, 10m, 1h, 2d; never: do not sweep; default: 1h; never "
        "under --read-only)",
        default="",
    )
    parser.addini(
        "k8sharden_anonymous_allowed_paths",
        "API server paths an anonymous client may read without a finding (default: /healthz /livez /readyz "
        "/version)",
        type="linelist",
        default=[],
    )
    for option in ("allowed_node_ports", "allowed_host_ports"):
        flag = option.replace("_", "-")
        parser.addini(f"k8sharden_{option}", f"default for --{flag}", type="linelist", default=[])
    for option in NAMESPACE_OPTIONS:
        name = f"k8sharden_{option}_namespaces"
        parser.addini(name, f"default for --{option}-namespaces", type="linelist", default=[])
    parser.addini(
        "k8sharden_catalog",
        "extra controls catalog files (same format as controls.yaml)",
        type="paths",
        default=[],
    )


def listed_option(config: pytest.Config, name: str) -> tuple[str, ...]:
    """``--<name> A,B`` (comma-separated), else the ini linelist ``k8sharden_<name>``, as given (``name`` as
    in the dest, e.g. ``isolation_namespaces``); build_settings cleans and validates it."""
    given = config.getoption(f"k8sharden_{name}")
    listed: list[str] = given.split(",") if given else config.getini(f"k8sharden_{name}")
    return tuple(listed)
