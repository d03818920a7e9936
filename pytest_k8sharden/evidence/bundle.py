"""The evidence bundle: evidence.json (schema v1) and manifest.sha256 over every file in the directory."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, final

from pytest_k8sharden.evidence.gate import BaselineState
from pytest_k8sharden.evidence.observation import Observation, observation_from_dict
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.evidence.waivers import WaiverMatch
from pytest_k8sharden.redact import redact

SCHEMA = "pytest-k8sharden/evidence/v1"
EVIDENCE_FILE = "evidence.json"
MANIFEST_FILE = "manifest.sha256"
_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64})  (.+)$")


@final
@dataclass(frozen=True)
class ClusterSummary:
    """The cluster a run looked at."""

    provider: str
    profile: str | None
    server: str
    version: str
    nodes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The "cluster" object of evidence.json's "run"."""
        return {
            "provider": self.provider,
            "profile": self.profile,
            "server": self.server,
            "version": self.version,
            "nodes": list(self.nodes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClusterSummary:
        """The inverse of to_dict."""
        return cls(data["provider"], data["profile"], data["server"], data["version"], tuple(data["nodes"]))


@final
@dataclass(frozen=True)
class RunInfo:
    """When and against what a run happened."""

    started: datetime
    finished: datetime
    plugin_version: str
    identity: str | None
    cluster: ClusterSummary | None


@final
@dataclass(frozen=True)
class CheckResult:
    """The verdict of one check and its evidence."""

    nodeid: str
    check: str | None
    title: str
    controls: tuple[str, ...]
    severity: str | None
    outcome: Outcome
    message: str
    evidence: tuple[Observation, ...]
    subjects: tuple[str, ...] = ()
    """The objects a failure is about (see Finding.subjects)."""
    waiver: WaiverMatch | None = None
    """The waiver that matched a failure: outcome WAIVED, or FAILED when it had expired."""
    baseline: BaselineState | None = None
    """For failures with --baseline: new, or known from the baseline run."""
    new_subjects: tuple[str, ...] = ()
    """For new failures with --baseline: the objects the baseline run's failure did not name."""

    def to_dict(self) -> dict[str, Any]:
        """The result's entry in evidence.json; subjects, waiver and baseline only when set."""
        data: dict[str, Any] = {
            "nodeid": self.nodeid,
            "check": self.check,
            "title": self.title,
            "controls": list(self.controls),
            "severity": self.severity,
            "outcome": str(self.outcome),
            "message": self.message,
            "evidence": [observation.to_dict() for observation in self.evidence],
        }
        if self.subjects:
            data["subjects"] = list(self.subjects)
        if self.waiver is not None:
            data["waiver"] = {**self.waiver.waiver.to_dict(), "expired": self.waiver.expired}
        if self.baseline is not None:
            data["baseline"] = self.baseline
        if self.new_subjects:
            data["new_subjects"] = list(self.new_subjects)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        """The inverse of to_dict for a verdict not yet settled by waivers and the baseline (how a check's
        result travels from a pytest-xdist worker to the controller, which settles it)."""
        if "waiver" in data or "baseline" in data:
            raise ValueError(f"{data['nodeid']}: a settled result cannot be read back; send it unsettled")
        return cls(
            data["nodeid"], data["check"], data["title"], tuple(data["controls"]), data["severity"],
            Outcome(data["outcome"]), data["message"],
            tuple(observation_from_dict(item) for item in data["evidence"]), tuple(data.get("subjects", ())),
        )  # fmt: skip


def run_dict(run: RunInfo) -> dict[str, Any]:
    """The "run" object of evidence.json."""
    cluster = run.cluster
    return {
        "started": run.started.isoformat(),
        "finished": run.finished.isoformat(),
        "plugin_version": run.plugin_version,
        "identity": run.identity,
        "cluster": None if cluster is None else cluster.to_dict(),
    }


def evidence_document(run: RunInfo, results: Sequence[CheckResult]) -> dict[str, Any]:
    """The evidence.json document, redacted as a whole once more before it leaves memory."""
    document = {
        "schema": SCHEMA,
        "run": run_dict(run),
        "results": [result.to_dict() for result in results],
    }
    redacted: dict[str, Any] = redact(document)
    return redacted


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> dict[str, Path]:
    return {
        path.relative_to(directory).as_posix(): path
        for path in sorted(directory.rglob("*"))
        if path.is_file() and path.relative_to(directory).as_posix() != MANIFEST_FILE
    }


def write_manifest(directory: Path) -> Path:
    """Write manifest.sha256 (sha256sum format) listing every other file below `directory`."""
    lines = [f"{_sha256(path)}  {name}\n" for name, path in _files(directory).items()]
    manifest = directory / MANIFEST_FILE
    manifest.write_text("".join(lines), encoding="utf-8")
    return manifest


def write_bundle(directory: Path, run: RunInfo, results: Sequence[CheckResult]) -> Path:
    """Write evidence.json, then the manifest over the whole directory; returns evidence.json's path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / EVIDENCE_FILE
    text = json.dumps(evidence_document(run, results), indent=2, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8")
    write_manifest(directory)
    return path


class ManifestError(Exception):
    """The manifest is missing or unreadable."""


@final
@dataclass(frozen=True)
class ManifestDiff:
    """How a directory differs from its manifest."""

    changed: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    def by_label(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """("changed", names), ("missing", names), ("extra", names)."""
        return (("changed", self.changed), ("missing", self.missing), ("extra", self.extra))

    @property
    def clean(self) -> bool:
        """True when every file matches and none is missing or extra."""
        return not (self.changed or self.missing or self.extra)


def read_manifest(directory: Path) -> dict[str, str]:
    """File name -> expected SHA-256 from `directory`/manifest.sha256."""
    manifest = directory / MANIFEST_FILE
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ManifestError(f"cannot read {manifest}: {exc.strerror}") from None
    expected: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        match = _MANIFEST_LINE.match(line)
        if not match:
            raise ManifestError(f"{manifest}:{number}: not a '<sha256>  <file>' line")
        expected[match.group(2)] = match.group(1)
    return expected


def verify_manifest(directory: Path) -> ManifestDiff:
    """Recompute every file's SHA-256 and compare with the manifest."""
    expected = read_manifest(directory)
    present = _files(directory)
    changed = tuple(
        name for name, digest in expected.items() if name in present and _sha256(present[name]) != digest
    )
    missing = tuple(name for name in expected if name not in present)
    extra = tuple(name for name in present if name not in expected)
    return ManifestDiff(changed, missing, extra)
