"""The controls catalog (controls.yaml): check ids, titles, severities and framework references."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TypeVar, final

import yaml

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
"""Severity levels, most severe first."""

SHIPPED_CATALOG = "controls.yaml"

_T = TypeVar("_T")

_TOP_KEYS = frozenset({"frameworks", "controls", "checks"})
_FRAMEWORK_KEYS = frozenset({"title", "version"})
_CONTROL_KEYS = frozenset({"framework", "section", "title"})
_CHECK_KEYS = frozenset({"title", "severity", "controls"})


class CatalogError(ValueError):
    """A catalog file is malformed; `problems` lists every problem found, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@final
@dataclass(frozen=True)
class Framework:
    """A document we refer to, such as the CIS Kubernetes Benchmark."""

    title: str
    version: str


@final
@dataclass(frozen=True)
class Control:
    """One referenceable section of a framework, e.g. CIS-4.2.1."""

    id: str
    framework: str
    section: str
    title: str


@final
@dataclass(frozen=True)
class Check:
    """One thing our suites prove, with the controls it gives evidence for."""

    id: str
    title: str
    severity: str
    controls: tuple[str, ...]


@final
@dataclass(frozen=True)
class Catalog:
    """Frameworks, controls and checks by id."""

    frameworks: Mapping[str, Framework]
    controls: Mapping[str, Control]
    checks: Mapping[str, Check]

    def knows(self, ident: str) -> bool:
        """Whether `ident` names a check or a control."""
        return ident in self.checks or ident in self.controls


@final
@dataclass(frozen=True)
class Classified:
    """What the ids of a test's `control` marks resolve to."""

    check: Check | None
    controls: tuple[str, ...]


def _unknown_keys(where: str, entry: Mapping[str, object], allowed: frozenset[str]) -> list[str]:
    return [f"{where}: unknown key {key!r}" for key in sorted(set(entry) - allowed)]


def _text(where: str, entry: Mapping[str, object], key: str, problems: list[str]) -> str:
    value = entry.get(key)
    if isinstance(value, str) and value.strip():
        return value
    problems.append(f"{where}: {key!r} must be a non-empty string")
    return ""


def _entries(
    source: str, data: Mapping[str, object], section: str, problems: list[str]
) -> dict[str, dict[str, object]]:
    raw = data.get(section, {})
    if not isinstance(raw, Mapping):
        problems.append(f"{source}: {section!r} must be a mapping of id -> entry")
        return {}
    entries: dict[str, dict[str, object]] = {}
    for ident, entry in raw.items():
        if not isinstance(entry, Mapping):
            problems.append(f"{source}: {section}.{ident} must be a mapping")
            continue
        entries[str(ident)] = dict(entry)
    return entries


def parse_catalog(data: object, source: str) -> Catalog:
    """Strictly parse one catalog document (unknown keys are errors); cross-references are not checked."""
    if not isinstance(data, Mapping):
        raise CatalogError([f"{source}: the catalog must be a mapping with {sorted(_TOP_KEYS)}"])
    problems = [f"{source}: unknown top-level key {key!r}" for key in sorted(set(data) - _TOP_KEYS)]
    frameworks: dict[str, Framework] = {}
    for ident, entry in _entries(source, data, "frameworks", problems).items():
        where = f"{source}: frameworks.{ident}"
        problems += _unknown_keys(where, entry, _FRAMEWORK_KEYS)
        frameworks[ident] = Framework(
            _text(where, entry, "title", problems), _text(where, entry, "version", problems)
        )
    controls: dict[str, Control] = {}
    for ident, entry in _entries(source, data, "controls", problems).items():
        where = f"{source}: controls.{ident}"
        problems += _unknown_keys(where, entry, _CONTROL_KEYS)
        controls[ident] = Control(
            ident,
            _text(where, entry, "framework", problems),
            _text(where, entry, "section", problems),
            _text(where, entry, "title", problems),
        )
    checks: dict[str, Check] = {}
    for ident, entry in _entries(source, data, "checks", problems).items():
        where = f"{source}: checks.{ident}"
        problems += _unknown_keys(where, entry, _CHECK_KEYS)
        severity = _text(where, entry, "severity", problems)
        if severity and severity not in SEVERITIES:
            problems.append(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
        refs = entry.get("controls")
        if not isinstance(refs, list) or not refs or not all(isinstance(ref, str) for ref in refs):
            problems.append(f"{where}: 'controls' must be a non-empty list of control ids")
            refs = []
        checks[ident] = Check(ident, _text(where, entry, "title", problems), severity, tuple(refs))
    if problems:
        raise CatalogError(problems)
    return Catalog(frameworks, controls, checks)


def _merge_into(target: dict[str, _T], source: Mapping[str, _T], kind: str, problems: list[str]) -> None:
    problems += [f"{kind} {ident!r} is defined twice" for ident in source if ident in target]
    target.update(source)


def merge_catalogs(catalogs: Iterable[Catalog]) -> Catalog:
    """Merge catalogs and check every cross-reference; an id defined twice is an error."""
    frameworks: dict[str, Framework] = {}
    controls: dict[str, Control] = {}
    checks: dict[str, Check] = {}
    problems: list[str] = []
    for catalog in catalogs:
        _merge_into(frameworks, catalog.frameworks, "framework", problems)
        _merge_into(controls, catalog.controls, "control", problems)
        _merge_into(checks, catalog.checks, "check", problems)
    for ident in sorted(set(controls) & set(checks)):
        problems.append(f"{ident!r} is both a control and a check id")
    for control in controls.values():
        if control.framework not in frameworks:
            problems.append(f"control {control.id!r} names unknown framework {control.framework!r}")
    for check in checks.values():
        problems += [
            f"check {check.id!r} names unknown control {ref!r}"
            for ref in check.controls
            if ref not in controls
        ]
    if problems:
        raise CatalogError(problems)
    return Catalog(frameworks, controls, checks)


def read_catalog_file(path: Path) -> Catalog:
    """Read and parse one catalog file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError([f"{path}: {str(exc).splitlines()[0]}"]) from None
    return parse_catalog(data, str(path))


def load_catalog(extra: Sequence[Path] = ()) -> Catalog:
    """The shipped catalog merged with the organisation's own catalog files."""
    shipped = files("pytest_k8sharden").joinpath(SHIPPED_CATALOG).read_text(encoding="utf-8")
    parsed = [parse_catalog(yaml.safe_load(shipped), SHIPPED_CATALOG)]
    parsed += [read_catalog_file(path) for path in extra]
    return merge_catalogs(parsed)


def classify(catalog: Catalog, ids: Sequence[str]) -> Classified:
    """Resolve the ids of `control` marks: at most one check id, any number of control ids.

    Raises ValueError naming each unknown id.
    """
    unknown = [ident for ident in ids if not catalog.knows(ident)]
    if unknown:
        raise ValueError(
            f"unknown control id(s) {', '.join(map(repr, unknown))} (not in the controls catalog)"
        )
    checks = list(dict.fromkeys(ident for ident in ids if ident in catalog.checks))
    if len(checks) > 1:
        raise ValueError(f"names several check ids {', '.join(map(repr, checks))}; a test proves one check")
    check = catalog.checks[checks[0]] if checks else None
    refs = (*(check.controls if check else ()), *(ident for ident in ids if ident in catalog.controls))
    return Classified(check, tuple(dict.fromkeys(refs)))
