"""The plugin's settings, validated once from the command line and ini file."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar, final

from pytest_k8sharden.durations import DEFAULT_SWEEP_AGE, parse_age
from pytest_k8sharden.exemptions import BUILT_IN, Exemptions, ExemptionsError, load_exemptions
from pytest_k8sharden.profiles import PROFILE_NAMES
from pytest_k8sharden.releases import RELEASES, ReleaseTable, ReleaseTableError, load_release_table

CLUSTER_PROVIDERS: tuple[str, ...] = ("existing", "kind", "local")
DEFAULT_EVIDENCE_DIR = "k8sharden-evidence"
DEFAULT_PROBE_TIMEOUT = 5.0
DEFAULT_PROFILE = "hardened"
DEFAULT_INGRESS_CERT_DAYS = 30
DEFAULT_PROBE_CONCURRENCY = 8
DEFAULT_ANONYMOUS_ALLOWED_PATHS: tuple[str, ...] = ("/healthz", "/livez", "/readyz", "/version")
"""API server paths an anonymous client may read without that being a finding (health and version)."""
DEFAULT_METADATA_NAMESPACES: tuple[str, ...] = ("default",)
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
"""A namespace's or a Service's name (RFC 1123 label)."""
"""A Kubernetes object name (DNS subdomain), as ValidatingAdmissionPolicy names are."""
UPSTREAM_PROBE_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
"""The probe/server image used when --probe-image is not given (the e2e tests' agnhost)."""


_T = TypeVar("_T")


class SettingsError(ValueError):
    """An option has a value we cannot use; the message names the option."""


@final
@dataclass(frozen=True)
class Settings:
    """What the user asked for (see the options table in README.md)."""

    cluster: str = "existing"
    """Provider: existing, kind or local."""
    profile: str | None = None
    """hardened, default or insecure (kind and local only)."""
    kubeconfig: Path | None = None
    """--kubeconfig; None means KUBECONFIG, ~/.kube/config or in-cluster configuration."""
    context: str | None = None
    """--kube-context; None means the kubeconfig's current-context."""
    keep_cluster: bool = False
    """Leave a kind/local cluster running after the session."""
    evidence_dir: Path = Path(DEFAULT_EVIDENCE_DIR)
    """Where evidence.json and manifest.sha256 are written."""
    read_only: bool = False
    """Create nothing in the cluster: checks marked `active` are skipped."""
    probe_image: str | None = None
    """Image for probe and server pods; None: the provider's own image (local), else UPSTREAM_PROBE_IMAGE."""
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    """Seconds one probe may take."""
    ingress_ca: Path | None = None
    """CA bundle Ingress/Gateway certificates must verify against; None: the provider's, else system roots."""
    ingress_cert_days: int = DEFAULT_INGRESS_CERT_DAYS
    """An Ingress/Gateway certificate expiring within this many days is a finding."""
    ingress_address: tuple[str, int] | None = None
    """(host, HTTPS port) of the ingress controller; None: the address in the Ingress/Gateway status."""
    sweep_older_than: timedelta | None = None
    """At session start, delete namespaces and pods of other runs older than this; None: never."""
    release_table: ReleaseTable = field(default=RELEASES, repr=False)
    """What the version checks judge by: --release-table FILE, else the shipped table."""
    exemptions: Exemptions = field(default=BUILT_IN, repr=False)
    """What the audit leaves out as built in: --exemptions FILE, else the shipped exemptions.yaml."""
    admission_policies: tuple[str, ...] = ()
    """ValidatingAdmissionPolicies whose refusal counts as admission control (besides Pod Security)."""
    probe_concurrency: int = DEFAULT_PROBE_CONCURRENCY
    """Probes one check sends at the same time (1: one after another)."""
    anonymous_allowed_paths: tuple[str, ...] = DEFAULT_ANONYMOUS_ALLOWED_PATHS
    """API server paths an anonymous client may read without that being a finding."""
    workload_namespaces: tuple[str, ...] = ()
    """Namespaces whose workloads' reachability is compared with their NetworkPolicies; (): none."""
    isolation_namespaces: tuple[str, ...] = ()
    """Namespaces the default-deny and isolated-namespace checks cover; (): all but the exempt ones."""
    metadata_namespaces: tuple[str, ...] = DEFAULT_METADATA_NAMESPACES
    """Namespaces from which a fresh pod probes the cloud metadata endpoint (besides a probe namespace)."""
    allowed_node_ports: tuple[str, ...] = ()
    """NodePort Services (``NAMESPACE/NAME``) that are meant to be reachable on every node; (): none."""
    allowed_host_ports: tuple[str, ...] = ()
    """hostPorts (``NAMESPACE/PORT``) that containers of that namespace may bind; (): none."""


def _timeout(value: str | float | None) -> float:
    if value is None or value == "":
        return DEFAULT_PROBE_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"--probe-timeout must be a number of seconds, got {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0 or seconds > 600:
        raise SettingsError(f"--probe-timeout must be more than 0 and at most 600 seconds, got {value!r}")
    return seconds


def _ingress_address(value: str | None) -> tuple[str, int] | None:
    """``HOST[:HTTPS_PORT]`` (an IPv6 host in brackets); the port defaults to 443."""
    if not value:
        return None
    match = re.fullmatch(
        r"\[(?P<v6>[^\]]+)\](?::(?P<p6>\d+))?|(?P<host>[^:\[\]]+)(?::(?P<port>\d+))?", value.strip()
    )
    port = int((match["p6"] or match["port"] or 443) if match else 0)
    if match is None or not 0 < port < 65536:
        raise SettingsError(f"--ingress-address must be HOST or HOST:PORT (port 1-65535), got {value!r}")
    return match["v6"] or match["host"], port


def _cert_days(value: str | int | None) -> int:
    if value is None or value == "":
        return DEFAULT_INGRESS_CERT_DAYS
    if not str(value).isdigit():
        raise SettingsError(f"--ingress-cert-days must be a whole number of days, got {value!r}")
    return int(value)


def _sweep_age(value: str | None) -> timedelta | None:
    text = (value or DEFAULT_SWEEP_AGE).strip()
    if text.lower() in ("never", "off"):
        return None
    try:
        return parse_age(text)
    except ValueError as exc:
        raise SettingsError(f"k8sharden_sweep_older_than: {exc} (or never)") from None


def _loaded(value: str | None, default: _T, load: Callable[[Path], _T]) -> _T:
    """The file ``value`` names read by ``load`` (a malformed one is a SettingsError), else ``default``."""
    if not value:
        return default
    try:
        return load(Path(value).expanduser())
    except (ReleaseTableError, ExemptionsError) as exc:
        raise SettingsError(str(exc)) from None


def _concurrency(value: str | int | None) -> int:
    if value is None or value == "":
        return DEFAULT_PROBE_CONCURRENCY
    if not str(value).isdigit() or int(value) < 1:
        raise SettingsError(f"k8sharden_probe_concurrency must be a whole number >= 1: {value!r}")
    return int(value)


def _listed(items: Sequence[str]) -> tuple[str, ...]:
    """Stripped, without blanks or repeats."""
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


def _admission_policies(names: Sequence[str]) -> tuple[str, ...]:
    policies = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    bad = [name for name in policies if not _OBJECT_NAME.fullmatch(name)]
    if bad:
        raise SettingsError(
            f"--admission-policies must name ValidatingAdmissionPolicies (lowercase DNS names), got "
            f"{', '.join(repr(b) for b in bad)}"
        )
    return policies


def _namespaced(entry: str, valid: Callable[[str], bool]) -> bool:
    namespace, slash, rest = entry.partition("/")
    return bool(slash and _DNS_LABEL.fullmatch(namespace) and valid(rest))


def _allow_list(
    option: str, entries: Sequence[str], second: str, valid: Callable[[str], bool]
) -> tuple[str, ...]:
    """``NAMESPACE/<second>`` entries, stripped and without repeats; a SettingsError names every bad one."""
    listed = _listed(entries)
    bad = [entry for entry in listed if not _namespaced(entry, valid)]
    if bad:
        raise SettingsError(
            f"--{option} takes NAMESPACE/{second} entries, got {', '.join(repr(b) for b in bad)}"
        )
    return listed


def _port(text: str) -> bool:
    return text.isdigit() and 0 < int(text) < 65536


def build_settings(
    *,
    cluster: str | None = None,
    profile: str | None = None,
    kubeconfig: str | None = None,
    context: str | None = None,
    keep_cluster: bool = False,
    evidence_dir: str | None = None,
    read_only: bool = False,
    probe_image: str | None = None,
    probe_timeout: str | float | None = None,
    ingress_ca: str | None = None,
    ingress_cert_days: str | int | None = None,
    ingress_address: str | None = None,
    sweep_older_than: str | None = None,
    release_table: str | None = None,
    exemptions: str | None = None,
    admission_policies: Sequence[str] = (),
    probe_concurrency: str | int | None = None,
    anonymous_allowed_paths: Sequence[str] = (),
    workload_namespaces: Sequence[str] = (),
    isolation_namespaces: Sequence[str] = (),
    metadata_namespaces: Sequence[str] = (),
    allowed_node_ports: Sequence[str] = (),
    allowed_host_ports: Sequence[str] = (),
) -> Settings:
    """Validate raw option values (None or "" means not given) into Settings."""
    provider = cluster or "existing"
    if provider not in CLUSTER_PROVIDERS:
        raise SettingsError(f"--cluster must be one of {', '.join(CLUSTER_PROVIDERS)}, got {provider!r}")
    if profile and provider == "existing":
        raise SettingsError("--cluster-profile applies to --cluster=kind and --cluster=local only")
    if profile and profile not in PROFILE_NAMES:
        raise SettingsError(f"--cluster-profile must be one of {', '.join(PROFILE_NAMES)}, got {profile!r}")
    if probe_image is not None and probe_image != "" and not probe_image.strip():
        raise SettingsError("--probe-image must not be blank")
    return Settings(
        cluster=provider,
        profile=None if provider == "existing" else (profile or DEFAULT_PROFILE),
        kubeconfig=Path(kubeconfig).expanduser() if kubeconfig else None,
        context=context or None,
        keep_cluster=keep_cluster,
        evidence_dir=Path(evidence_dir or DEFAULT_EVIDENCE_DIR).expanduser(),
        read_only=read_only,
        probe_image=probe_image.strip() if probe_image else None,
        probe_timeout=_timeout(probe_timeout),
        ingress_ca=Path(ingress_ca).expanduser() if ingress_ca else None,
        ingress_cert_days=_cert_days(ingress_cert_days),
        ingress_address=_ingress_address(ingress_address),
        sweep_older_than=_sweep_age(sweep_older_than),
        release_table=_loaded(release_table, RELEASES, load_release_table),
        exemptions=_loaded(exemptions, BUILT_IN, load_exemptions),
        admission_policies=_admission_policies(admission_policies),
        probe_concurrency=_concurrency(probe_concurrency),
        anonymous_allowed_paths=tuple(anonymous_allowed_paths) or DEFAULT_ANONYMOUS_ALLOWED_PATHS,
        workload_namespaces=_listed(workload_namespaces),
        isolation_namespaces=_listed(isolation_namespaces),
        metadata_namespaces=_listed(metadata_namespaces) or DEFAULT_METADATA_NAMESPACES,
        allowed_node_ports=_allow_list(
            "allowed-node-ports", allowed_node_ports, "SERVICE", lambda name: bool(_DNS_LABEL.fullmatch(name))
        ),
        allowed_host_ports=_allow_list("allowed-host-ports", allowed_host_ports, "PORT", _port),
    )
