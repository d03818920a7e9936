"""pytest hooks of pytest-k8sharden: options, markers, check validation, verdicts and evidence."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_k8sharden.catalog import SEVERITIES, CatalogError, load_catalog
from pytest_k8sharden.clusters import ClusterUnavailable
from pytest_k8sharden.evidence.disposition import load_disposition
from pytest_k8sharden.evidence.gate import FAIL_ON, BaselineError
from pytest_k8sharden.evidence.html import html_extra, render_run, render_summary
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.evidence.waivers import WaiverError
from pytest_k8sharden.profiles import PROFILE_NAMES
from pytest_k8sharden.runstate import (
    EVIDENCE_KEY,
    META_KEY,
    PHASES_KEY,
    STATE_KEY,
    CheckMeta,
    RunState,
    audit_lines,
    check_meta,
    check_result,
    junit_properties,
    junit_verdict,
    phase_of,
    scrub_report,
    waive_report,
)
from pytest_k8sharden.settings import (
    CLUSTER_PROVIDERS,
    DEFAULT_EVIDENCE_DIR,
    DEFAULT_INGRESS_CERT_DAYS,
    DEFAULT_PROBE_TIMEOUT,
    UPSTREAM_PROBE_IMAGE,
    SettingsError,
    build_settings,
)
from pytest_k8sharden.signals import install_sigterm_handler, restore_sigterm_handler

pytest_plugins = ("pytest_k8sharden.fixtures",)

READ_ONLY_REASON = "--read-only: this check creates resources in the cluster or probes from pods"
CHECK_FIXTURES = frozenset({"cluster", "evidence"})
NAMESPACE_OPTIONS = {
    "workload": "namespaces whose workloads' observed reachability is compared with their NetworkPolicies "
    "(NETPOL-WORKLOADS is skipped when none are given)",
    "isolation": "namespaces the default-deny and isolated-namespace checks cover (default: every namespace "
    "but kube-system, kube-public, kube-node-lease and pytest-k8sharden's own)",
    "metadata": "namespaces from which a fresh pod probes the cloud metadata endpoint, besides a fresh "
    "probe namespace (default: default)",
}
"""The ``--<name>-namespaces`` options and what they choose."""

MARKERS = (
    "cluster: the test needs a live Kubernetes cluster (run the unit tests alone with -m 'not cluster')",
    "control(*ids): the check id and/or control ids (CIS-..., NSA-CISA:...) this check gives evidence for; "
    "ids must be in the controls catalog",
    f"severity(level): severity of a failed check, one of {', '.join(SEVERITIES)} (default: the catalog's)",
    "active: the check creates resources or sends probes from pods (skipped under --read-only)",
)
SIGTERM_KEY = pytest.StashKey[Any]()
"""config.stash: the SIGTERM handler in place before the session (restored at unconfigure)."""


def pytest_addoption(parser: pytest.Parser) -> None:
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
        "--ingress-address",
        dest="k8sharden_ingress_address",
        metavar="HOST[:PORT]",
        help="where the ingress controller answers HTTPS (plain HTTP: port 80 of HOST); default: the address "
        "in each Ingress/Gateway status",
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
    parser.addini(
        "k8sharden_probe_concurrency",
        "probes one check sends at the same time (default: 8; 1 sends them one after another)",
        default="",
    )
    parser.addini(
        "k8sharden_sweep_older_than",
        "at session start, delete namespaces and pods left by other runs of pytest-k8sharden older than "
        "this (30s, 10m, 1h, 2d; never: do not sweep; default: 1h; never under --read-only)",
        default="",
    )
    parser.addini(
        "k8sharden_anonymous_allowed_paths",
        "API server paths an anonymous client may read without a finding (default: /healthz /livez /readyz "
        "/version)",
        type="linelist",
        default=[],
    )
    for option in NAMESPACE_OPTIONS:
        name = f"k8sharden_{option}_namespaces"
        parser.addini(name, f"default for --{option}-namespaces", type="linelist", default=[])
    parser.addini(
        "k8sharden_catalog",
        "extra controls catalog files (same format as controls.yaml)",
        type="paths",
        default=[],
    )


def _option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(f"k8sharden_{name}")
    return value if value not in (None, "", False) else config.getini(f"k8sharden_{name}")


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def pytest_configure(config: pytest.Config) -> None:
    """Register markers; validate the options and the catalog into the session's RunState."""
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    try:
        settings = build_settings(
            cluster=_option(config, "cluster"),
            profile=_option(config, "cluster_profile"),
            kubeconfig=config.getoption("k8sharden_kubeconfig"),
            context=config.getoption("k8sharden_kube_context"),
            keep_cluster=config.getoption("k8sharden_keep_cluster"),
            evidence_dir=_option(config, "evidence_dir"),
            read_only=bool(_option(config, "read_only")),
            probe_image=_option(config, "probe_image"),
            probe_timeout=_option(config, "probe_timeout"),
            ingress_ca=_option(config, "ingress_ca"),
            ingress_cert_days=_option(config, "ingress_cert_days"),
            ingress_address=config.getoption("k8sharden_ingress_address"),
            sweep_older_than=config.getini("k8sharden_sweep_older_than"),
            release_table=_option(config, "release_table"),
        )
        catalog = load_catalog([Path(path) for path in config.getini("k8sharden_catalog")])
        disposition = load_disposition(
            waivers=_path(_option(config, "waivers")),
            baseline=_path(config.getoption("k8sharden_baseline")),
            fail_on=_option(config, "fail_on"),
            fail_severity=_option(config, "fail_severity"),
            known=catalog.knows,
        )
    except WaiverError as exc:
        raise pytest.UsageError("k8sharden: invalid waivers:\n  " + "\n  ".join(exc.problems)) from None
    except (SettingsError, CatalogError, BaselineError, ValueError) as exc:
        raise pytest.UsageError(f"k8sharden: {exc}") from None
    sarif = _path(config.getoption("k8sharden_sarif"))
    config.stash[STATE_KEY] = RunState(config, settings, catalog, disposition, sarif)
    config.stash[SIGTERM_KEY] = install_sigterm_handler()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Make sure the cluster is given back even when the session ended early; restore SIGTERM."""
    restore_sigterm_handler(config.stash.get(SIGTERM_KEY, None))
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.release()
        del config.stash[STATE_KEY]


def _meta(state: RunState, item: pytest.Item) -> CheckMeta | None:
    ids = [str(ident) for mark in item.iter_markers("control") for ident in mark.args]
    severities = [str(level) for mark in item.iter_markers("severity") for level in mark.args]
    if not ids and not severities and not CHECK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return None
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    title = doc.strip().splitlines()[0] if doc and doc.strip() else item.name
    return check_meta(state.catalog, ids, severities, title)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Validate every check's marks at once (one usage error listing them all); apply --read-only."""
    state = config.stash[STATE_KEY]
    problems = []
    for item in items:
        try:
            meta = _meta(state, item)
        except ValueError as exc:
            problems.append(f"{item.nodeid}: {exc}")
            continue
        if meta is not None:
            item.stash[META_KEY] = meta
            item.user_properties.extend(junit_properties(meta))
        if state.settings.read_only and item.get_closest_marker("active"):
            item.add_marker(pytest.mark.skip(reason=READ_ONLY_REASON))
    if problems:
        raise pytest.UsageError("k8sharden: invalid check marks:\n  " + "\n  ".join(problems))


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    """Before any test runs: acquire the cluster and check it answers, if a selected test needs it."""
    if session.config.option.collectonly or not any(
        "cluster" in getattr(i, "fixturenames", ()) for i in session.items
    ):
        return
    try:
        session.config.stash[STATE_KEY].open()
    except ClusterUnavailable as exc:
        raise pytest.UsageError(f"k8sharden: {exc}") from None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record each phase of a check, map inconclusive errors, attach evidence to the HTML at call phase."""
    report = yield
    meta = item.stash.get(META_KEY, None)
    if meta is None:
        return report
    phase = phase_of(report, call.excinfo)
    phases = item.stash.setdefault(PHASES_KEY, [])
    phases.append(phase)
    scrub_report(report, phase)
    state = item.config.stash[STATE_KEY]
    evidence = item.stash.get(EVIDENCE_KEY, Evidence())
    result = state.disposition.settle(check_result(item.nodeid, meta, phases, evidence))
    if report.failed and result.outcome is Outcome.WAIVED:
        waive_report(report, result)
    elif report.failed and not state.disposition.blocks(result):
        state.excused_failures += 1
    if report.when == "call" or (report.when == "setup" and not report.passed):
        report.extras = [*getattr(report, "extras", []), html_extra(result, state.catalog)]  # type: ignore[attr-defined]
    if report.when == "teardown":
        state.results.append(result)
        report.user_properties.extend(junit_verdict(result))
    return report


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """Show inconclusive checks as such: letter I, word INCONCLUSIVE, counted apart from failures."""
    if getattr(report, "k8sharden_inconclusive", None) is not None:
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    if getattr(report, "k8sharden_waived", None) is not None:
        return "waived", "W", ("WAIVED", {"cyan": True})
    return None


@pytest.hookimpl(optionalhook=True)  # pytest-html may be disabled (-p no:html)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    """Name inconclusive and waived checks as such in the HTML results table."""
    for attribute, word in (("k8sharden_inconclusive", "Inconclusive"), ("k8sharden_waived", "Waived")):
        if getattr(report, attribute, None) is not None:
            cells[0] = f'<td class="col-result">{word}</td>'


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], session: pytest.Session) -> None:
    """At the top of the HTML report: the run's metadata and the summary by framework."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        prefix.extend([render_run(state.run_info()), render_summary(state.results, state.catalog)])


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    """After every other plugin (pytest-html writes its report first): evidence.json, manifest, release."""
    state = session.config.stash.get(STATE_KEY, None)
    failed = session.exitstatus == pytest.ExitCode.TESTS_FAILED
    if state is not None and failed and session.testsfailed == state.excused_failures:
        session.exitstatus = pytest.ExitCode.OK  # every failure is known or below --fail-severity
    result = yield
    if state is not None:
        try:
            state.write_evidence()
        finally:
            state.release()
    return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """List inconclusive checks with their reasons, and say where the evidence went."""
    inconclusive = terminalreporter.stats.get("inconclusive", [])
    if inconclusive:
        terminalreporter.write_sep("=", "inconclusive checks (could not look; not passed)", yellow=True)
        for report in inconclusive:
            terminalreporter.write_line(f"INCONCLUSIVE {report.nodeid} - {report.k8sharden_inconclusive}")
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        for line in audit_lines(state.results, state.disposition):
            terminalreporter.write_line(line)
    if state is not None and state.evidence_file is not None:
        terminalreporter.write_line(
            f"k8sharden: evidence written to {state.evidence_file} and its manifest.sha256"
        )


def pytest_report_header(config: pytest.Config) -> str:
    """One header line with the cluster selection."""
    settings = config.stash[STATE_KEY].settings
    profile = f" profile={settings.profile}" if settings.profile else ""
    read_only = " read-only" if settings.read_only else ""
    return f"k8sharden: cluster={settings.cluster}{profile}{read_only} evidence-dir={settings.evidence_dir}"
