"""Per-session state kept in config.stash, and the plain functions the plugin's hooks call."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import pytest

from pytest_k8sharden import __version__
from pytest_k8sharden.catalog import SEVERITIES, Catalog, classify
from pytest_k8sharden.clusters import ClusterUnavailable, make_provider, open_cluster
from pytest_k8sharden.evidence.bundle import CheckResult, ClusterSummary, RunInfo, write_bundle
from pytest_k8sharden.evidence.observation import utc_now
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.redact import redact_text
from pytest_k8sharden.evidence.verdict import Inconclusive, Phase, verdict
from pytest_k8sharden.kube import KubeError, KubeForbidden, KubeUnreachable
from pytest_k8sharden.ownership import sweep

if TYPE_CHECKING:
    from pytest_k8sharden.clusters import Cluster, ClusterAccess, ClusterProvider
    from pytest_k8sharden.evidence.observation import Observation
    from pytest_k8sharden.kube import Kube
    from pytest_k8sharden.settings import Settings

INCONCLUSIVE_ERRORS: tuple[type[BaseException], ...] = (Inconclusive, KubeForbidden, KubeUnreachable)
"""Exceptions that mean "the check could not look": reported as inconclusive, never as passed."""

_MESSAGE_LIMIT = 1000


@final
@dataclass(frozen=True)
class CheckMeta:
    """What a test's marks say about the check it is."""

    check: str | None
    title: str
    controls: tuple[str, ...]
    severity: str | None


def check_meta(
    catalog: Catalog, control_ids: Sequence[str], severities: Sequence[str], fallback_title: str
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
    return CheckMeta(check.id if check else None, title, classified.controls, severity)


def _message(text: str) -> str:
    return redact_text(text.strip())[:_MESSAGE_LIMIT]


def phase_of(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException] | None) -> Phase:
    """Summarise one phase's report; an inconclusive error marks the phase inconclusive."""
    if excinfo is not None and excinfo.errisinstance(INCONCLUSIVE_ERRORS):
        reason = excinfo.value.reason if isinstance(excinfo.value, Inconclusive) else str(excinfo.value)
        return Phase(report.when, report.outcome, _message(reason), inconclusive=True)
    longrepr: Any = report.longrepr
    if report.skipped and isinstance(longrepr, tuple):
        return Phase(report.when, report.outcome, _message(str(longrepr[2])))
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr or "")
    return Phase(report.when, report.outcome, _message(text))


def scrub_report(report: pytest.TestReport, phase: Phase) -> None:
    """Mark an inconclusive phase on its report; redact failure text and captured output of a check."""
    if phase.inconclusive:
        report.longrepr = f"inconclusive: {phase.message}"
        report.k8sharden_inconclusive = phase.message  # type: ignore[attr-defined]
    elif report.failed:
        text = str(report.longrepr)
        if redact_text(text) != text:  # keep pytest's rich failure report unless it carries a secret
            report.longrepr = redact_text(text)
    report.sections = [(title, redact_text(content)) for title, content in report.sections]


def check_result(
    nodeid: str, meta: CheckMeta, phases: Sequence[Phase], evidence: Sequence[Observation]
) -> CheckResult:
    """The verdict of one check from its phases so far."""
    outcome, message = verdict(phases)
    return CheckResult(
        nodeid, meta.check, meta.title, meta.controls, meta.severity, outcome, message, tuple(evidence)
    )


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

    def __init__(self, config: pytest.Config, settings: Settings, catalog: Catalog) -> None:
        self.config = config
        self.settings = settings
        self.catalog = catalog
        self.started: datetime = utc_now()
        self.results: list[CheckResult] = []
        self.evidence_file: Path | None = None
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
            self._provider = make_provider(self.settings, lambda message: _progress(self.config, message))
            self._opened = open_cluster(_acquire(self._provider, self.settings.cluster))
        except ClusterUnavailable as exc:
            self._failure = exc
            self.release()
            raise
        self._sweep(self._opened[1])
        return self._opened

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
        summary, identity = None, None
        if self._opened is not None:
            cluster = self._opened[0]
            names = tuple(node.name for node in cluster.nodes or ())
            summary = ClusterSummary(
                cluster.provider, cluster.profile, cluster.server, cluster.version, names
            )
            identity = cluster.identity.describe()
        return RunInfo(self.started, utc_now(), __version__, identity, summary)

    def write_evidence(self) -> None:
        """Write evidence.json and manifest.sha256 when this session ran any check."""
        if self.results:
            self.evidence_file = write_bundle(self.evidence_dir, self.run_info(), self.results)

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
