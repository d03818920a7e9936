"""Hardening guidance (guidance.yaml) mapped to the catalog's checks, and its rendering as a Markdown table.

Core layer: pure data. ``python -m pytest_k8sharden.guidance > docs/guidance-coverage.md`` renders the doc.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Final, final

import yaml

from pytest_k8sharden.catalog import Catalog, CatalogError, load_catalog

STATUSES: Final = ("covered", "partly", "not yet", "not testable")
"""A practice's status, best first."""

_KEYS: Final = frozenset({"practice", "sources", "status", "checks", "note"})


@final
@dataclass(frozen=True)
class Practice:
    """One concrete practice of the hardening documents and the checks that test it."""

    practice: str
    sources: tuple[str, ...]
    status: str
    checks: tuple[str, ...]
    note: str


@final
@dataclass(frozen=True)
class Guidance:
    """The documents (id -> title) and their practices."""

    sources: Mapping[str, str]
    practices: tuple[Practice, ...]


def _strings(value: object) -> tuple[str, ...] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return None


def _practice(where: str, entry: object, sources: Mapping[str, str], problems: list[str]) -> Practice | None:
    """One practice, its problems appended to `problems`; None when it cannot be built at all."""
    if not isinstance(entry, Mapping):
        problems.append(f"{where} must be a mapping")
        return None
    problems += [f"{where}: unknown key {key!r}" for key in sorted(set(entry) - _KEYS)]
    text, status, note = (entry.get(key, "") for key in ("practice", "status", "note"))
    cited, checks = _strings(entry.get("sources")), _strings(entry.get("checks", []))
    if not isinstance(text, str) or not text or not isinstance(note, str):
        problems.append(f"{where}: 'practice' must be a non-empty string and 'note' a string")
        return None
    if not cited or checks is None:
        problems.append(f"{where}: 'sources' must be a non-empty list of ids and 'checks' a list of ids")
        return None
    problems += [f"{where}: unknown source {ident!r}" for ident in cited if ident not in sources]
    if status not in STATUSES:
        problems.append(f"{where}: status {status!r} is not one of {', '.join(STATUSES)}")
    elif bool(checks) != (status in ("covered", "partly")):
        problems.append(f"{where}: a {status!r} practice {'must list no' if checks else 'must list'} checks")
    elif status != "covered" and not note:
        problems.append(f"{where}: a {status!r} practice needs a note saying what is missing or why")
    return Practice(text, cited, str(status), checks, note)


def parse_guidance(data: object, source: str) -> Guidance:
    """Strictly parse the guidance document; check ids are not resolved here (see `unknown_checks`)."""
    if not isinstance(data, Mapping) or set(data) != {"sources", "practices"}:
        raise CatalogError([f"{source}: must be a mapping with exactly 'sources' and 'practices'"])
    raw_sources, raw_practices = data["sources"], data["practices"]
    problems: list[str] = []
    sources: dict[str, str] = {}
    if isinstance(raw_sources, Mapping):
        for ident, entry in raw_sources.items():
            title = entry.get("title") if isinstance(entry, Mapping) else None
            if not isinstance(title, str) or not title or set(entry) != {"title"}:
                problems.append(f"{source}: sources.{ident} must be {{title: non-empty string}}")
            sources[str(ident)] = str(title)
    else:
        problems.append(f"{source}: 'sources' must be a mapping of id -> {{title}}")
    if not isinstance(raw_practices, list) or not raw_practices:
        problems.append(f"{source}: 'practices' must be a non-empty list")
        raw_practices = []
    parsed = [
        _practice(f"{source}: practices[{n}]", entry, sources, problems)
        for n, entry in enumerate(raw_practices)
    ]
    if problems:
        raise CatalogError(problems)
    return Guidance(sources, tuple(practice for practice in parsed if practice))


def load_guidance() -> Guidance:
    """The shipped guidance."""
    text = files("pytest_k8sharden").joinpath("guidance.yaml").read_text(encoding="utf-8")
    return parse_guidance(yaml.safe_load(text), "guidance.yaml")


def unknown_checks(guidance: Guidance, catalog: Catalog) -> list[str]:
    """One line per practice naming a check id the catalog does not define."""
    return [
        f"{practice.practice!r} names unknown check {ident!r}"
        for practice in guidance.practices
        for ident in practice.checks
        if ident not in catalog.checks
    ]


def counts(guidance: Guidance) -> Counter[str]:
    """How many practices have each status."""
    return Counter(practice.status for practice in guidance.practices)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render(guidance: Guidance) -> str:
    """docs/guidance-coverage.md: the practices as a table, with the documents and the counts."""
    tally = counts(guidance)
    lines = [
        "# Hardening guidance coverage",
        "",
        "<!-- Rendered from pytest_k8sharden/guidance.yaml; do not edit. Regenerate with:",
        "     python -m pytest_k8sharden.guidance > docs/guidance-coverage.md -->",
        "",
        "Every concrete practice of the hardening documents below, duplicates merged, with the checks",
        "of `pytest_k8sharden/controls.yaml` that test it. **covered**: the checks test it; **partly**:",
        "they test a part, the note says what is missing; **not yet**: testable on a live cluster, no",
        "check yet; **not testable**: not observable on a live cluster, for the reason given.",
        "",
        "Documents:",
        "",
        *(f"- `{ident}`: {title}" for ident, title in guidance.sources.items()),
        "",
        f"{len(guidance.practices)} practices: {', '.join(f'{tally[s]} {s}' for s in STATUSES)}.",
        "",
        "| Practice | Documents | Status | Checks, or why not |",
        "| --- | --- | --- | --- |",
    ]
    for practice in guidance.practices:
        checks = ", ".join(f"`{ident}`" for ident in practice.checks)
        detail = "; ".join(part for part in (checks, practice.note) if part)
        cells = (_cell(practice.practice), ", ".join(practice.sources), practice.status, _cell(detail))
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Print the rendered doc; fail naming any unknown check id."""
    guidance = load_guidance()
    problems = unknown_checks(guidance, load_catalog())
    if problems:
        raise SystemExit("\n".join(problems))
    print(render(guidance), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
