"""SARIF 2.1.0 (--sarif PATH): failed, waived and inconclusive checks for code-scanning dashboards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_k8sharden.catalog import Catalog
from pytest_k8sharden.evidence.bundle import CheckResult, RunInfo, run_dict
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.redact import redact

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "pytest-k8sharden"

_LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}
_REPORTED = (Outcome.FAILED, Outcome.WAIVED, Outcome.INCONCLUSIVE, Outcome.ERROR)
_BASELINE_STATES = {"new": "new", "known": "unchanged"}


def rule_id(result: CheckResult) -> str:
    """The SARIF rule of a check: its check id, else its test name."""
    return result.check or result.nodeid.rsplit("::", 1)[-1]


def _rule(result: CheckResult, catalog: Catalog) -> dict[str, Any]:
    controls = [
        f"{ident}: {catalog.controls[ident].title}" if ident in catalog.controls else ident
        for ident in result.controls
    ]
    rule: dict[str, Any] = {
        "id": rule_id(result),
        "name": rule_id(result),
        "shortDescription": {"text": result.title},
        "fullDescription": {"text": "; ".join([result.title, *controls])},
        "defaultConfiguration": {"level": _LEVELS.get(result.severity or "", "warning")},
        "properties": {"tags": ["security", *result.controls]},
    }
    if result.severity:
        rule["properties"]["security-severity"] = _SECURITY_SEVERITY[result.severity]
        rule["properties"]["severity"] = result.severity
    return rule


def _result(result: CheckResult, index: int) -> dict[str, Any]:
    failed = result.outcome in (Outcome.FAILED, Outcome.WAIVED)
    entry: dict[str, Any] = {
        "ruleId": rule_id(result),
        "ruleIndex": index,
        "kind": "fail" if failed else "open",
        "level": _LEVELS.get(result.severity or "", "warning") if failed else "none",
        "message": {"text": f"{result.outcome}: {result.message or result.title}"},
        "locations": [
            {
                "physicalLocation": {"artifactLocation": {"uri": result.nodeid.split("::", 1)[0]}},
                "logicalLocations": [{"fullyQualifiedName": result.nodeid, "kind": "function"}],
            }
        ],
        "properties": {"outcome": str(result.outcome), "controls": list(result.controls)},
    }
    if result.subjects:
        entry["properties"]["subjects"] = list(result.subjects)
    if result.baseline is not None:
        entry["baselineState"] = _BASELINE_STATES[result.baseline]
    if result.outcome is Outcome.WAIVED and result.waiver is not None:
        waiver = result.waiver.waiver
        entry["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{waiver.reason} (owner {waiver.owner}, expires {waiver.expires})",
            }
        ]
    return entry


def sarif_document(run: RunInfo, results: Sequence[CheckResult], catalog: Catalog) -> dict[str, Any]:
    """The SARIF log of one run: a rule per check that did not pass, a result per such check."""
    reported = [result for result in results if result.outcome in _REPORTED]
    rules: dict[str, dict[str, Any]] = {}
    for result in reported:
        rules.setdefault(rule_id(result), _rule(result, catalog))
    index = {ident: number for number, ident in enumerate(rules)}
    document = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": run.plugin_version,
                        "rules": list(rules.values()),
                    }
                },
                "invocations": [
                    {
                        "executionSuccessful": True,
                        "startTimeUtc": run.started.isoformat(),
                        "endTimeUtc": run.finished.isoformat(),
                    }
                ],
                "properties": run_dict(run),
                "results": [_result(result, index[rule_id(result)]) for result in reported],
            }
        ],
    }
    redacted: dict[str, Any] = redact(document)
    return redacted


def write_sarif(path: Path, run: RunInfo, results: Sequence[CheckResult], catalog: Catalog) -> Path:
    """Write the SARIF log to `path` (its directory is created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sarif_document(run, results, catalog), indent=2) + "\n", encoding="utf-8")
    return path
