"""Runs across time: stored evidence bundles, each verified against its manifest before it is read.

A directory is one bundle (it holds evidence.json) or a volume of bundles (its subdirectories hold them,
as the periodic job writes them). A bundle whose files do not match its manifest.sha256 is refused by
name and never read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, final

from pytest_k8sharden.evidence.bundle import EVIDENCE_FILE, SCHEMA, ManifestError, verify_manifest
from pytest_k8sharden.evidence.summary import count_by_severity, severity_rank
from pytest_k8sharden.evidence.verdict import Outcome


@final
@dataclass(frozen=True)
class StoredVerdict:
    """One check's verdict in one stored run."""

    check: str
    """The check id, else the test's name (how a check is recognised across runs)."""
    title: str
    severity: str | None
    outcome: Outcome


@final
@dataclass(frozen=True)
class StoredRun:
    """One verified bundle: where it is, when it ran, against which cluster, and its verdicts."""

    source: str
    started: str
    cluster: str
    verdicts: tuple[StoredVerdict, ...]

    def failures_by_severity(self) -> dict[str, int]:
        """Severity -> how many checks failed in this run (every severity row present)."""
        return {severity: row[Outcome.FAILED] for severity, row in count_by_severity(self.verdicts).items()}


@final
@dataclass(frozen=True)
class Refused:
    """A bundle that was not read, and why."""

    source: str
    reason: str


@final
@dataclass(frozen=True)
class History:
    """The verified runs, oldest first, and the bundles refused."""

    runs: tuple[StoredRun, ...]
    refused: tuple[Refused, ...]

    def checks(self) -> list[StoredVerdict]:
        """Every check seen in any run (its latest title and severity), most severe first, then by id."""
        latest = {verdict.check: verdict for run in self.runs for verdict in run.verdicts}
        return sorted(latest.values(), key=lambda v: (severity_rank(v.severity), v.check))

    def outcome(self, run: StoredRun, check: str) -> Outcome | None:
        """The check's verdict in that run (None: the run did not have it)."""
        return next((verdict.outcome for verdict in run.verdicts if verdict.check == check), None)


class BundleRefused(Exception):
    """A bundle's files do not match its manifest, or its evidence.json cannot be read."""


def bundle_directories(directories: Iterable[Path]) -> list[Path]:
    """Each directory that holds evidence.json, else its subdirectories that do (a volume of runs)."""
    found: list[Path] = []
    for directory in directories:
        if (directory / EVIDENCE_FILE).is_file() or not directory.is_dir():
            found.append(directory)
        else:
            found.extend(sorted(path.parent for path in directory.glob(f"*/{EVIDENCE_FILE}")))
    return found


def _verdict(item: Mapping[str, Any]) -> StoredVerdict:
    check = item.get("check") or str(item["nodeid"]).rsplit("::", 1)[-1]
    return StoredVerdict(
        str(check), str(item.get("title") or check), item.get("severity"), Outcome(item["outcome"])
    )


def _cluster(run: Mapping[str, Any]) -> str:
    cluster = run.get("cluster") or {}
    profile = f" ({cluster['profile']})" if cluster.get("profile") else ""
    return f"{cluster.get('provider', 'no cluster')}{profile} {cluster.get('server', '')}".strip()


def load_run(directory: Path) -> StoredRun:
    """One bundle, read only when every file matches its manifest. Raises BundleRefused."""
    try:
        diff = verify_manifest(directory)
    except ManifestError as exc:
        raise BundleRefused(str(exc)) from None
    if not diff.clean:
        named = [f"{label} {', '.join(names)}" for label, names in diff.by_label() if names]
        raise BundleRefused(f"does not match its manifest ({'; '.join(named)})")
    try:
        document = json.loads((directory / EVIDENCE_FILE).read_text(encoding="utf-8"))
        if document.get("schema") != SCHEMA:
            raise BundleRefused(f"not an evidence.json of schema {SCHEMA}")
        run = document["run"]
        verdicts = tuple(_verdict(item) for item in document["results"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise BundleRefused(f"cannot read {EVIDENCE_FILE}: {exc}") from None
    return StoredRun(str(directory), str(run.get("started", "")), _cluster(run), verdicts)


def load_history(directories: Sequence[Path]) -> History:
    """Every bundle under `directories`, verified; the runs oldest first, the refused ones by name."""
    runs, refused = [], []
    for directory in bundle_directories(directories):
        try:
            runs.append(load_run(directory))
        except BundleRefused as exc:
            refused.append(Refused(str(directory), str(exc)))
    return History(tuple(sorted(runs, key=lambda run: (run.started, run.source))), tuple(refused))
