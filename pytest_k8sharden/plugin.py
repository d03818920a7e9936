"""pytest hooks of pytest-k8sharden: options, markers, check validation, verdicts and evidence."""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_k8sharden.catalog import SEVERITIES, CatalogError, load_catalog
from pytest_k8sharden.clusters import ClusterUnavailable
from pytest_k8sharden.evidence.disposition import load_disposition
from pytest_k8sharden.evidence.gate import BaselineError
from pytest_k8sharden.evidence.html import render_summary
from pytest_k8sharden.evidence.overview import REPORT_TITLE, render_overview, report_title
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.table import header_cells, insert_cells
from pytest_k8sharden.evidence.waivers import WaiverError
from pytest_k8sharden.options import add_options, listed_option
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
    could_not_look_briefly,
    is_worker,
    judge_phase,
    junit_properties,
    scrub_report,
    stop_worker,
)
from pytest_k8sharden.settings import (
    SettingsError,
    build_settings,
)
from pytest_k8sharden.shipped import suites_directory
from pytest_k8sharden.signals import install_sigterm_handler, restore_sigterm_handler

pytest_plugins = ("pytest_k8sharden.fixtures", "pytest_k8sharden.parallel")

READ_ONLY_REASON = "--read-only: this check creates resources in the cluster or probes from pods"
CHECK_FIXTURES = frozenset({"cluster", "evidence"})
MARKERS = (
    "cluster: the test needs a live Kubernetes cluster (run the unit tests alone with -m 'not cluster')",
    "control(*ids): the check id and/or control ids (CIS-..., NSA-CISA:...) this check gives evidence for; "
    "ids must be in the controls catalog",
    f"severity(level): severity of a failed check, one of {', '.join(SEVERITIES)} (default: the catalog's)",
    "active: the check creates resources or sends probes from pods (skipped under --read-only)",
)
SUITES_DIR = suites_directory()
"""Where the shipped suites are: their checks must end with a verdict (see CheckMeta.shipped)."""
RESULT_WORDS = (
    ("k8sharden_inconclusive", "Inconclusive"), ("k8sharden_waived", "Waived"), ("k8sharden_error", "Error"),
)  # fmt: skip
"""Report attribute -> the word the HTML results table shows for it."""
STATE_PLUGIN = "k8sharden-runstate"
"""The session's RunState is also a plugin: it collects verdicts from pytest_runtest_logreport."""
SIGTERM_KEY = pytest.StashKey[Any]()
"""config.stash: the SIGTERM handler in place before the session (restored at unconfigure)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The option group of the command-line contract, with ini equivalents where they make sense."""
    add_options(parser)


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
            exemptions=_option(config, "exemptions"),
            admission_policies=listed_option(config, "admission_policies"),
            probe_concurrency=config.getini("k8sharden_probe_concurrency"),
            anonymous_allowed_paths=config.getini("k8sharden_anonymous_allowed_paths"),
            workload_namespaces=listed_option(config, "workload_namespaces"),
            isolation_namespaces=listed_option(config, "isolation_namespaces"),
            metadata_namespaces=listed_option(config, "metadata_namespaces"),
            allowed_node_ports=listed_option(config, "allowed_node_ports"),
            allowed_host_ports=listed_option(config, "allowed_host_ports"),
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
    state = RunState(config, settings, catalog, disposition, sarif)
    config.stash[STATE_KEY] = state
    config.pluginmanager.register(state, STATE_PLUGIN)
    config.stash[SIGTERM_KEY] = install_sigterm_handler()


def pytest_unconfigure(config: pytest.Config) -> None:
    """Make sure the cluster is given back even when the session ended early; restore SIGTERM."""
    restore_sigterm_handler(config.stash.get(SIGTERM_KEY, None))
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.release()
        config.pluginmanager.unregister(state)
        del config.stash[STATE_KEY]


def _meta(state: RunState, item: pytest.Item) -> CheckMeta | None:
    ids = [str(ident) for mark in item.iter_markers("control") for ident in mark.args]
    severities = [str(level) for mark in item.iter_markers("severity") for level in mark.args]
    if not ids and not severities and not CHECK_FIXTURES & set(getattr(item, "fixturenames", ())):
        return None
    doc = getattr(getattr(item, "function", None), "__doc__", None)
    title = doc.strip().splitlines()[0] if doc and doc.strip() else item.name
    return check_meta(state.catalog, ids, severities, title, shipped=item.path.is_relative_to(SUITES_DIR))


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
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    """Before any test runs: acquire the cluster and check it answers, if a selected test needs it."""
    if session.config.option.collectonly or not any(
        "cluster" in getattr(i, "fixturenames", ()) for i in session.items
    ):
        return None
    try:
        session.config.stash[STATE_KEY].open()
    except ClusterUnavailable as exc:
        if is_worker(session.config):
            return stop_worker(session, f"k8sharden: {exc}")
        raise pytest.UsageError(f"k8sharden: {exc}") from None
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A check's fixtures that could not look end it briefly (see could_not_look_briefly)."""
    return (yield from could_not_look_briefly(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """A check that could not look ends briefly (see could_not_look_briefly)."""
    return (yield from could_not_look_briefly(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record each phase of a check, map inconclusive errors, attach evidence to the HTML at call phase and
    the check's verdict to its teardown report (collected from there by RunState, also across xdist)."""
    report = yield
    meta = item.stash.get(META_KEY, None)
    if meta is None:
        return report
    evidence = item.stash.get(EVIDENCE_KEY, Evidence())
    phase = judge_phase(report, call.excinfo, evidence, meta.shipped)
    phases = item.stash.setdefault(PHASES_KEY, [])
    phases.append(phase)
    scrub_report(report, phase)
    item.config.stash[STATE_KEY].mark_report(report, check_result(item.nodeid, meta, phases, evidence))
    return report


def pytest_report_teststatus(
    report: pytest.TestReport,
) -> tuple[str, str, tuple[str, dict[str, bool]]] | None:
    """Show inconclusive checks as such (letter I, word INCONCLUSIVE), and checks that crashed as errors (E,
    ERROR), counted apart from failures."""
    if getattr(report, "k8sharden_error", None) is not None:
        return "error", "E", ("ERROR", {"red": True})
    if getattr(report, "k8sharden_inconclusive", None) is not None:
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    if getattr(report, "k8sharden_waived", None) is not None:
        return "waived", "W", ("WAIVED", {"cyan": True})
    return None


@pytest.hookimpl(optionalhook=True)  # pytest-html may be disabled (-p no:html)
def pytest_html_report_title(report: Any) -> None:
    """Name the page after what it is, not after its file."""
    state = report.config.stash.get(STATE_KEY, None)
    report.title = (
        report_title(state.settings.cluster, state.settings.profile) if state is not None else REPORT_TITLE
    )


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    """Check, title, severity, controls and objects after the Result column."""
    insert_cells(cells, header_cells())


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    """Name inconclusive, waived and erroring checks as such (RunState fills the check's own columns)."""
    for attribute, word in RESULT_WORDS:
        if getattr(report, attribute, None) is not None:
            cells[0] = f'<td class="col-result">{word}</td>'


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], session: pytest.Session) -> None:
    """At the top of the HTML report: the findings first, then the summary by framework."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        baseline = state.disposition.gate.baseline
        prefix.extend([
            render_overview(state.run_info(), state.results, baseline),
            render_summary(state.results, state.catalog),
        ])  # fmt: skip


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
            if not is_worker(session.config):  # an xdist controller writes the one bundle of the run
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
