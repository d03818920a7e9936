"""kube-hunter (PyPI) against the local ``insecure`` cluster, and what it sees of the profile's seeds.

kube-hunter runs from its own virtual environment (created on first use) inside the node's network
namespace: there 169.254.169.254 is the harness's metadata stand-in and nothing else is routed, so its
hunters cannot reach a real network or a real metadata service from the host.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VENV = Path(__file__).with_name(".venv-kube-hunter")
REQUIREMENT = "kube-hunter==0.6.8"


@dataclass(frozen=True)
class Seed:
    """A misconfiguration the insecure profile seeds, with the checks and kube-hunter findings naming it."""

    misconfiguration: str
    checks: tuple[str, ...]
    """Our check ids that fail when the seed is there (empty: no shipped check looks at it)."""
    kube_hunter: tuple[str, ...]
    """kube-hunter findings that report it: a vulnerability id (``KHV...``) or, for those without one, its
    name; ``<id or name>@<port>`` only counts a finding at that port (the API server answers on 6443; on
    8080 kube-hunter reaches it through the plaintext proxy, with the proxy's credentials)."""


SEEDS: tuple[Seed, ...] = (
    Seed("API server: anonymous authentication on", ("API-ANON-AUTH",), ("KHV005@6443", "KHV007@6443")),
    Seed(
        "API server: system:anonymous bound to cluster-admin",
        ("API-ANON-READ", "RBAC-ANONYMOUS-BINDINGS"),
        ("KHV007@6443", "Created a namespace@6443", "Created A Pod@6443", "Created a cluster role@6443"),
    ),
    Seed(
        "RBAC: system:serviceaccounts bound to cluster-admin",
        (
            "API-AUTHZ-NOT-ALWAYSALLOW",
            "RBAC-CLUSTER-ADMIN",
            "RBAC-WILDCARDS",
            "RBAC-SECRETS-READERS",
            "RBAC-POD-CREATE-EXEC",
            "RBAC-ESCALATE-BIND-IMPERSONATE",
        ),
        (),
    ),
    Seed("RBAC: system:authenticated bound to edit", ("RBAC-AUTHENTICATED-BINDINGS",), ()),
    Seed(
        "RBAC: a CI ServiceAccount holding nodes/proxy, token creation, CSR approval, webhook "
        "configurations, attach and ephemeral containers",
        (
            "RBAC-NODES-PROXY",
            "RBAC-SA-TOKEN-CREATE",
            "RBAC-CSR-APPROVE",
            "RBAC-WEBHOOK-CONFIG-WRITE",
            "RBAC-POD-ATTACH-EPHEMERAL",
        ),
        (),
    ),
    Seed("RBAC: the default ServiceAccount bound to edit", ("RBAC-DEFAULT-SERVICEACCOUNTS",), ()),
    Seed("API served over plaintext HTTP (kubectl proxy on :8080)", ("API-NO-PLAINTEXT",), ("KHV006",)),
    Seed("API server accepts TLS 1.0", ("API-TLS-PROTOCOL",), ()),
    Seed("API server offers RSA-kex and CBC cipher suites", ("API-TLS-CIPHERS", "CONFIG-APISERVER-TLS"), ()),
    Seed("API serving certificate valid for 7 days only", ("API-TLS-CERT",), ()),
    Seed(
        "kube-apiserver flags CIS 1.2 asks to change (anonymous auth, static token file, "
        "unverified kubelets, no service-account lookup)",
        (
            "CONFIG-APISERVER-ANONYMOUS-AUTH",
            "CONFIG-APISERVER-NO-STATIC-TOKENS",
            "CONFIG-APISERVER-KUBELET-TLS",
            "CONFIG-APISERVER-SA-LOOKUP",
        ),
        (),
    ),
    Seed("API server authorizes without the Node authorizer", ("CONFIG-APISERVER-AUTHORIZATION-MODE",), ()),
    Seed(
        "Kubernetes behind the newest patch release",
        ("VERSION-APISERVER-SUPPORTED", "VERSION-KUBELET-SUPPORTED"),
        (),
    ),
    Seed("kubelet: anonymous authentication on :10250", ("KUBELET-ANON", "CONFIG-KUBELET-AUTH"), ("KHV036",)),
    Seed(
        "kubelet: AlwaysAllow authorization",
        ("KUBELET-AUTHZ-WEBHOOK",),
        (
            *("KHV037", "KHV038", "KHV039", "KHV040", "KHV041", "KHV042", "KHV044", "KHV045", "KHV046"),
            *("KHV051", "KHV043@10250", "KHV052@10250"),
        ),
    ),
    Seed("kubelet: read-only port 10255 open", ("KUBELET-READONLY-PORT",), ("KHV043@10255", "KHV052@10255")),
    Seed(
        "etcd: plaintext client port, no client certificates",
        (
            "ETCD-CLIENT-CERT",
            "ETCD-NO-PLAINTEXT",
            "CONFIG-ETCD-CLIENT-CERT-AUTH",
            "CONFIG-APISERVER-ETCD-TLS",
        ),
        ("KHV031", "KHV032", "KHV033", "KHV034"),
    ),
    Seed("etcd: plaintext peer port", ("ETCD-PEER-CERT",), ()),
    Seed("kube-controller-manager on the network, anonymous /metrics", ("CONTROLLER-MANAGER-ANON",), ()),
    Seed("kube-scheduler on the network, anonymous /metrics", ("SCHEDULER-ANON",), ()),
    Seed(
        "NetworkPolicies declared but not enforced",
        ("NETPOL-ENFORCED", "NETPOL-WORKLOADS", "NETPOL-DEFAULT-DENY-INGRESS", "NETPOL-DEFAULT-DENY-EGRESS"),
        (),
    ),
    Seed("pods reach the cloud metadata endpoint", ("METADATA-BLOCKED",), ("KHV003", "KHV053")),
    Seed(
        "pods of isolated namespaces reach the API server and kubelet",
        ("ISOLATED-NAMESPACE-CONTROL-PLANE",),
        (),
    ),
    Seed("API server, controller-manager and scheduler profiling on", ("CONFIG-PROFILING-DISABLED",), ()),
    Seed("no API audit log", ("CONFIG-APISERVER-AUDIT-LOG",), ()),
    Seed(
        "Secrets stored unencrypted in etcd",
        ("CONFIG-APISERVER-ENCRYPTION-CONFIG", "SECRETS-ENCRYPTED-AT-REST"),
        (),
    ),
    Seed(
        "no Pod Security admission: a namespace enforcing privileged admits a privileged pod",
        ("CONFIG-APISERVER-ADMISSION-PLUGINS", "PSA-ENFORCE-LABELS", "ADMISSION-REJECTS-PRIVILEGED"),
        (),
    ),
    Seed(
        "a privileged workload (host namespaces, hostPath, capabilities added and none dropped, root, "
        "no seccomp)",
        (
            "WORKLOAD-PRIVILEGED",
            "WORKLOAD-HOST-NAMESPACES",
            "WORKLOAD-HOSTPATH",
            "WORKLOAD-CAPABILITIES",
            "WORKLOAD-CAPABILITIES-DROP-ALL",
            "WORKLOAD-RUN-AS-ROOT",
            "WORKLOAD-PRIVILEGE-ESCALATION",
            "WORKLOAD-SECCOMP",
            "WORKLOAD-READONLY-ROOTFS",
        ),
        ("KHV044",),
    ),
    Seed(
        "no ResourceQuota or LimitRange, containers without limits",
        ("NAMESPACE-RESOURCE-QUOTA", "NAMESPACE-LIMIT-RANGE", "WORKLOAD-RESOURCE-LIMITS"),
        (),
    ),
    Seed(
        "a LoadBalancer open to every source, a NodePort dashboard and a hostPort outside any allow-list",
        ("SERVICE-LOADBALANCER-SOURCE-RANGES", "SERVICE-NODEPORT-ALLOWED", "WORKLOAD-HOST-PORTS"),
        (),
    ),
    Seed("a Secret read into an environment variable", ("SECRETS-AS-ENV",), ()),
    Seed("a legacy long-lived service-account token Secret", ("SA-LEGACY-TOKEN-SECRETS",), ()),
    Seed(
        "default ServiceAccounts mount their token into pods",
        ("SA-AUTOMOUNT-DEFAULT", "SA-AUTOMOUNT-PODS"),
        (),
    ),
    Seed(
        "a dashboard started with skip-login behind a NodePort",
        ("DASHBOARD-EXPOSED", "DASHBOARD-SKIP-LOGIN", "DASHBOARD-ANONYMOUS-DATA"),
        ("KHV029",),
    ),
    Seed("images pulled by mutable tag", ("IMAGES-PINNED-BY-DIGEST",), ()),
    Seed(
        "an Ingress host served without TLS, HTTP not redirected",
        ("INGRESS-TLS-CONFIGURED", "INGRESS-HTTP-REDIRECT"),
        (),
    ),
    Seed(
        "ingress certificates: self-signed, expiring, weak key, not the Secret's",
        ("INGRESS-CERT-VALID", "INGRESS-CERT-EXPIRY", "INGRESS-CERT-STRENGTH", "INGRESS-CERT-MATCHES-SECRET"),
        (),
    ),
    Seed(
        "ingress accepts TLS 1.0 and weak cipher suites", ("INGRESS-TLS-PROTOCOL", "INGRESS-TLS-CIPHERS"), ()
    ),
    Seed("ingress sends no HSTS header", ("INGRESS-HSTS",), ()),
)


@dataclass(frozen=True)
class Comparison:
    """One seed: whether kube-hunter's report and our evidence name it."""

    misconfiguration: str
    kube_hunter: tuple[str, ...]
    """What kube-hunter reported for it (``KHV...: name``); empty: nothing."""
    ours: tuple[str, ...]
    """Our checks that failed for it; empty: none."""


def reported(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(vulnerability id, name, location) of every finding of a ``--report json`` report, once each."""
    findings = report.get("vulnerabilities", [])
    return sorted(
        {
            (str(v.get("vid", "")), str(v.get("vulnerability", "")), str(v.get("location", "")))
            for v in findings
        }
    )


def _matches(signature: str, vid: str, name: str, location: str) -> bool:
    wanted, _, port = signature.partition("@")
    return wanted in (vid, name) and (not port or location.endswith(f":{port}"))


def compare(
    report: Mapping[str, Any], outcomes: Mapping[str, str], seeds: Iterable[Seed] = SEEDS
) -> list[Comparison]:
    """For each seed, the kube-hunter findings and our failed checks that report it."""
    findings = reported(report)
    table = []
    for seed in seeds:
        theirs = tuple(
            f"{vid}: {name} ({location})"
            for vid, name, location in findings
            if any(_matches(signature, vid, name, location) for signature in seed.kube_hunter)
        )
        ours = tuple(check for check in seed.checks if outcomes.get(check) == "failed")
        table.append(Comparison(seed.misconfiguration, theirs, ours))
    return table


def ensure_venv() -> Path:
    """kube-hunter's own virtual environment (created and installed on first use); its executable."""
    executable = VENV / "bin" / "kube-hunter"
    if not executable.exists():
        subprocess.run(["python3", "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "--quiet", REQUIREMENT], check=True)
    return executable


def hunt(enter_node: list[str], targets: Iterable[str]) -> tuple[dict[str, Any], float, str]:
    """Run kube-hunter in remote active mode inside the node namespace; its report, wall time and log."""
    command = [
        *enter_node, str(ensure_venv()), "--remote", *targets, "--active", "--report", "json",
        "--log", "WARNING",
    ]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.monotonic() - started
    return json.loads(last_json_line(done.stdout)), round(wall, 2), done.stderr


def last_json_line(stdout: str) -> str:
    """The report: the last line of kube-hunter's standard output that is a JSON object."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError(f"kube-hunter printed no JSON report: {stdout[-1000:]!r}")
    return lines[-1]
