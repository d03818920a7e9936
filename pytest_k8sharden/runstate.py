"""Per-session state kept in config.stash, and the plain functions the plugin's hooks call."""

from __future__ import annotations

import sys
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import pytest

from pytest_k8sharden import __version__
from pytest_k8sharden.catalog import SEVERITIES, Catalog, classify
from pytest_k8sharden.clusters import ClusterUnavailable, SharedCluster, make_provider, open_cluster, share
from pytest_k8sharden.evidence.bundle import CheckResult, ClusterSummary, RunInfo, write_bundle
from pytest_k8sharden.evidence.html import html_extra
from pytest_k8sharden.evidence.observation import utc_now
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.sarif import write_sarif
from pytest_k8sharden.evidence.table import insert_cells, latest_result, row_cells
from pytest_k8sharden.evidence.verdict import Inconclusive, Outcome, Phase, verdict
from pytest_k8sharden.kube import KubeError, KubeForbidden, KubeUnreachable
from pytest_k8sharden.ownership import sweep
from pytest_k8sharden.redact import redact_text

if TYPE_CHECKING:
    from pytest_k8sharden.clusters import Cluster, ClusterAccess, ClusterProvider
    from pytest_k8sharden.evidence.disposition import Disposition
    from pytest_k8sharden.kube import Kube
    from pytest_k8sharden.settings import Settings

INCONCLUSIVE_ERRORS: tuple[type[BaseException], ...] = (Inconclusive, KubeForbidden, KubeUnreachable)
"""Exceptions that mean "the check could not look": reported as inconclusive, never as passed."""

_MESSAGE_LIMIT = 1000
RESULT_ATTRIBUTE = "k8sharden_result"
"""Attribute of a check's teardown report: its unsettled CheckResult as plain data (it travels from xdist
workers to the controller with the report)."""
UNAVAILABLE_OUTPUT = "k8sharden_unavailable"
"""xdist workeroutput: why a worker could not use the cluster (the controller ends the run with it)."""
EXCUSED_ATTRIBUTE = "k8sharden_excused"
"""Attribute of a failed report of a check whose failure does not fail the run (known, below severity)."""


@final
@dataclass(frozen=True)
class CheckMeta:
    """What a test's marks say about the check it is."""

    check: str | None
    title: str
    controls: tuple[str, ...]
    severity: str | None
    shipped: bool = False
    """A check of the shipped suites: it ends with evidence.conclude, and anything else is an error."""


def check_meta(
    catalog: Catalog,
    control_ids: Sequence[str],
    severities: Sequence[str],
    fallback_title: str,
    shipped: bool = False,
) -> CheckMeta:
    """Resolve a test's `control` and `severity` marks against the catalog. Raises ValueError."""
    classified = classify(catalog, control_ids)
    unknown = [level for level in severities if level not in SEVERITIES]
    if unknown or len(severities) > 1:
        raise ValueError(
            f"severity must be one of {', '.join(SEVERITIES)} and given once, got {list(severities)}"
        )
    check = classified.check
    severity = severities[0] if severities else (check.severity if check else None)
    title = check.title if check else fallback_title
    return CheckMeta(check.id if check else None, title, classified.controls, severity, shipped)


def _message(text: str) -> str:
    return redact_text(text.strip())[:_MESSAGE_LIMIT]


NO_VERDICT = "the check ended without a verdict (a shipped check must end with evidence.conclude)"
USER_FAILURES: tuple[type[BaseException], ...] = (AssertionError, pytest.fail.Exception)
"""How a user's own check may fail besides evidence.conclude: a plain assert or pytest.fail."""


def _crash_text(report: pytest.TestReport) -> str:
    longrepr: Any = report.longrepr
    crash = getattr(longrepr, "reprcrash", None)
    return str(crash.message if crash is not None else longrepr or "")


def judge_phase(
    report: pytest.TestReport,
    excinfo: pytest.ExceptionInfo[BaseException] | None,
    evidence: Evidence,
    shipped: bool,
) -> Phase:
    """One phase's verdict, from values: the finding the check concluded, the exception's type, the skip.

    A failed or inconclusive finding counts only through the exception `conclude` raised for it; could-not-
    look errors (Inconclusive, Forbidden, unreachable) are inconclusive; a user's own check may fail with a
    plain assert; every other exception is an error (never a finding), and so is a shipped check that
    returns without concluding.
    """
    when = report.when
    if report.skipped:
        longrepr: Any = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else longrepr or ""
        return Phase(when, Outcome.SKIPPED, _message(str(reason)))
    finding = evidence.finding
    if excinfo is None:
        if when != "call":
            return Phase(when, Outcome.PASSED)
        if finding is not None:
            return Phase(when, finding.outcome, _message(finding.message))
        return Phase(when, Outcome.ERROR, NO_VERDICT) if shipped else Phase(when, Outcome.PASSED)
    if finding is not None and evidence.ended_the_check(excinfo.value):
        return Phase(when, finding.outcome, _message(finding.message))
    if excinfo.errisinstance(INCONCLUSIVE_ERRORS):
        reason = excinfo.value.reason if isinstance(excinfo.value, Inconclusive) else str(excinfo.value)
        return Phase(when, Outcome.INCONCLUSIVE, _message(reason))
    if when == "call" and not shipped and excinfo.errisinstance(USER_FAILURES):
        return Phase(when, Outcome.FAILED, _message(_crash_text(report)))
    return Phase(when, Outcome.ERROR, _message(_crash_text(report)))


def could_not_look_briefly(item: pytest.Item) -> Generator[None, None, None]:
    """A hook wrapper's body (``yield from``): lets a check's could-not-look error through without its
    traceback and cause.

    Its report becomes the one-line inconclusive message anyway, while pytest would first read and parse
    the source of every frame of the traceback and its causes for a report nobody sees. Frames in the
    kubernetes client's modules (tens of thousands of lines each) made that minutes of CPU in a run where
    many checks could not look (69 inconclusive checks: 136 s of a run whose checks took 1 s).
    """
    try:
        return (yield)
    except INCONCLUSIVE_ERRORS as error:
        if META_KEY not in item.stash:
            raise
        raise error.with_traceback(None) from None


def scrub_report(report: pytest.TestReport, phase: Phase) -> None:
    """Mark an inconclusive phase, or a check's own error, on its report; redact failure text and captured
    output of a check."""
    if phase.outcome is Outcome.INCONCLUSIVE:
        report.longrepr = f"inconclusive: {phase.message}"
        report.k8sharden_inconclusive = phase.message  # type: ignore[attr-defined]
    elif phase.outcome is Outcome.ERROR and phase.when == "call":
        report.k8sharden_error = phase.message  # type: ignore[attr-defined]
        if report.passed:  # a shipped check that returned without a verdict
            report.outcome = "failed"
            report.longrepr = phase.message
    if report.failed:
        text = str(report.longrepr)
        if redact_text(text) != text:  # keep pytest's rich failure report unless it carries a secret
            report.longrepr = redact_text(text)
    report.sections = [(title, redact_text(content)) for title, content in report.sections]


def check_result(nodeid: str, meta: CheckMeta, phases: Sequence[Phase], evidence: Evidence) -> CheckResult:
    """The verdict of one check from its phases so far (before waivers and the baseline)."""
    outcome, message = verdict(phases)
    return CheckResult(
        nodeid, meta.check, meta.title, meta.controls, meta.severity, outcome, message,
        evidence.observations, evidence.subjects,
    )  # fmt: skip


def waive_report(report: pytest.TestReport, result: CheckResult) -> None:
    """Report a failure a valid waiver covers as waived (a skip with the waiver's reason for JUnit)."""
    assert result.waiver is not None
    waiver = result.waiver.waiver
    reason = f"waived: {waiver.reason} (owner {waiver.owner}, expires {waiver.expires})"
    path, line, _ = report.location
    report.outcome = "skipped"
    report.longrepr = (path, (line or 0) + 1, redact_text(reason))
    report.k8sharden_waived = reason  # type: ignore[attr-defined]


def junit_properties(meta: CheckMeta) -> list[tuple[str, str]]:
    """JUnit properties of a check: its check id, each control id, its severity."""
    properties = [("k8sharden.check", meta.check)] if meta.check else []
    properties += [("k8sharden.control", ident) for ident in meta.controls]
    return properties + ([("k8sharden.severity", meta.severity)] if meta.severity else [])


def junit_verdict(result: CheckResult) -> list[tuple[str, str]]:
    """JUnit properties of a check's final verdict: outcome, baseline state, waiver."""
    properties = [("k8sharden.verdict", str(result.outcome))]
    if result.baseline is not None:
        properties.append(("k8sharden.baseline", result.baseline))
    if result.waiver is not None:
        state = "expired" if result.waiver.expired else "applied"
        properties.append((f"k8sharden.waiver.{state}", redact_text(result.waiver.waiver.reason)))
    return properties


def audit_lines(results: Sequence[CheckResult], disposition: Disposition) -> list[str]:
    """Terminal lines on waivers, the baseline and failures that do not fail the run."""
    lines = []
    for result in results:
        if result.waiver is None:
            continue
        waiver = result.waiver.waiver
        if result.waiver.expired:
            lines.append(
                f"EXPIRED WAIVER {result.nodeid} - the waiver on line {waiver.line} expired on "
                f"{waiver.expires} and no longer applies: the failure stands"
            )
        else:
            lines.append(
                f"WAIVED {result.nodeid} - {waiver.reason} (owner {waiver.owner}, until {waiver.expires})"
            )
    failed = [result for result in results if result.outcome is Outcome.FAILED]
    baseline = disposition.gate.baseline
    if baseline is not None:
        known = sum(result.baseline == "known" for result in failed)
        lines.append(
            f"k8sharden: {len(failed) - known} new and {known} known failures (baseline {baseline.source})"
        )
    excused = [result.nodeid for result in failed if not disposition.blocks(result)]
    if excused:
        gate = disposition.gate
        lines.append(
            f"k8sharden: {len(excused)} failed checks do not fail the run "
            f"(--fail-on={gate.fail_on} --fail-severity={gate.fail_severity}): {', '.join(excused)}"
        )
    return lines


def is_worker(config: pytest.Config) -> bool:
    """Whether this process is a pytest-xdist worker."""
    return hasattr(config, "workerinput")


def stop_worker(session: pytest.Session, message: str) -> bool:
    """End an xdist worker's session before its first test, leaving `message` for the controller to end the
    run with (a worker's usage error would read as a crash); True: the worker's test loop is done."""
    session.shouldstop = message
    session.config.workeroutput[UNAVAILABLE_OUTPUT] = message  # type: ignore[attr-defined]
    return True


def _progress(config: pytest.Config, message: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"k8sharden: {message}")
    else:
        print(f"k8sharden: {message}", file=sys.stderr)


def _acquire(provider: ClusterProvider, name: str) -> ClusterAccess:
    try:
        return provider.acquire()
    except ClusterUnavailable:
        raise
    except Exception as exc:  # a provider's own error ends the session with one line, not a traceback
        raise ClusterUnavailable(
            f"the {name} cluster could not be acquired: {type(exc).__name__}: {exc}"
        ) from exc


@final
class RunState:
    """Settings, catalog, the cluster once opened, and the results of one session."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        catalog: Catalog,
        disposition: Disposition,
        sarif: Path | None = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.catalog = catalog
        self.disposition = disposition
        self.sarif = sarif
        """--sarif, relative to the directory pytest was invoked from."""
        self.started: datetime = utc_now()
        self.results: list[CheckResult] = []
        self.excused_failures = 0
        """Failed pytest reports of checks whose failure does not fail the run (known, below severity)."""
        self.evidence_file: Path | None = None
        self.shared_cluster: Mapping[str, str | None] | None = None
        """In a pytest-xdist worker: the cluster the controller acquired (see clusters.share)."""
        self.cluster_seen: tuple[ClusterSummary, str] | None = None
        """The cluster this session looked at and who the scanner was there (from a worker's too)."""
        self._provider: ClusterProvider | None = None
        self._opened: tuple[Cluster, Kube] | None = None
        self._failure: ClusterUnavailable | None = None

    @property
    def evidence_dir(self) -> Path:
        """--evidence-dir, relative to the directory pytest was invoked from."""
        return self.config.invocation_params.dir / self.settings.evidence_dir

    def open(self) -> tuple[Cluster, Kube]:
        """Acquire the cluster and check it answers (once per session; a failure is remembered)."""
        if self._opened is not None:
            return self._opened
        if self._failure is not None:
            raise self._failure
        try:
            self._provider = (
                make_provider(self.settings, lambda message: _progress(self.config, message))
                if self.shared_cluster is None
                else SharedCluster(self.shared_cluster)
            )
            self._opened = open_cluster(_acquire(self._provider, self.settings.cluster))
        except ClusterUnavailable as exc:
            self._failure = exc
            self.release()
            raise
        cluster = self._opened[0]
        nodes = tuple(node.name for node in cluster.nodes or ())
        summary = ClusterSummary(cluster.provider, cluster.profile, cluster.server, cluster.version, nodes)
        self.cluster_seen = summary, cluster.identity.describe()
        if self.shared_cluster is None:  # the controller swept the cluster it shares before workers started
            self._sweep(self._opened[1])
        return self._opened

    def share(self) -> dict[str, str | None] | None:
        """How an xdist worker reaches the cluster this process opened (None: not opened)."""
        return None if self._opened is None else share(self._opened[0].access)

    def _sweep(self, kube: Kube) -> None:
        """Delete what crashed runs left behind (never under --read-only); report, never fail, on refusal."""
        age = self.settings.sweep_older_than
        if age is None or self.settings.read_only:
            return
        try:
            swept = sweep(kube, age, utc_now())
        except KubeError as exc:
            _progress(self.config, f"could not sweep leftovers of earlier runs: {exc}")
            return
        if swept:
            names = ", ".join(item.describe() for item in swept)
            _progress(self.config, f"swept {len(swept)} leftovers of earlier runs: {names}")

    def run_info(self) -> RunInfo:
        """What evidence.json says about this run."""
        summary, identity = self.cluster_seen or (None, None)
        return RunInfo(self.started, utc_now(), __version__, identity, summary)

    def mark_report(self, report: pytest.TestReport, unsettled: CheckResult) -> None:
        """Settle a check's verdict so far and mark its report: waived, excused, evidence for the HTML at the
        call phase (or a failed setup), the verdict for JUnit and for pytest_runtest_logreport at teardown."""
        result = self.disposition.settle(unsettled)
        if report.failed and result.outcome is Outcome.WAIVED:
            waive_report(report, result)
        elif report.failed and not self.disposition.blocks(result):
            setattr(report, EXCUSED_ATTRIBUTE, True)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            report.extras = [*getattr(report, "extras", []), html_extra(result, self.catalog)]  # type: ignore[attr-defined]
        if report.when == "teardown":
            setattr(report, RESULT_ATTRIBUTE, unsettled.to_dict())
            report.user_properties.extend(junit_verdict(result))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Count excused failures and keep each check's verdict, settled here, from its teardown report
        (in a parallel session the controller sees every worker's reports here)."""
        if getattr(report, EXCUSED_ATTRIBUTE, False):
            self.excused_failures += 1
        data = getattr(report, RESULT_ATTRIBUTE, None)
        if data is not None:
            self.results.append(self.disposition.settle(CheckResult.from_dict(data)))

    @pytest.hookimpl(optionalhook=True)  # pytest-html may be disabled (-p no:html)
    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        """The check's own columns in the HTML results table, from its settled verdict (pytest-html builds
        a check's rows after this plugin has kept the verdict from the teardown report)."""
        insert_cells(cells, row_cells(latest_result(self.results, report.nodeid)))

    def write_evidence(self) -> None:
        """Write the SARIF log (if asked), then evidence.json and manifest.sha256 (if any check ran)."""
        run = self.run_info()
        if self.sarif is not None:
            write_sarif(self.config.invocation_params.dir / self.sarif, run, self.results, self.catalog)
        if self.results:
            self.evidence_file = write_bundle(self.evidence_dir, run, self.results)

    def release(self) -> None:
        """Close the clients and give the cluster back to its provider."""
        opened, provider = self._opened, self._provider
        self._opened, self._provider = None, None
        if opened is not None:
            opened[1].close()
        if provider is not None:
            provider.release()


STATE_KEY = pytest.StashKey[RunState]()
"""config.stash: the session's RunState."""
META_KEY = pytest.StashKey[CheckMeta]()
"""item.stash: what the item's marks say about its check (only for checks)."""
PHASES_KEY = pytest.StashKey[list[Phase]]()
"""item.stash: the phases of the check seen so far."""
EVIDENCE_KEY = pytest.StashKey[Evidence]()
"""item.stash: the check's Evidence recorder, created by the `evidence` fixture."""
