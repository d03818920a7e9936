"""Waivers (--waivers FILE): accepted failures with a reason, an owner and an expiry date.

The file is YAML::

    waivers:
      - id: NETPOL-DEFAULT-DENY-EGRESS     # a check id or a control id (CIS-..., NSA-CISA:...)
        scope: {namespace: legacy}         # optional: namespace and/or object ("Kind/name")
        reason: egress is filtered by the perimeter firewall until the migration (JIRA SEC-123)
        owner: platform-team@example.com
        expires: 2026-12-31                # the last day the waiver applies

Loading is strict: unknown keys, missing fields, bad dates and ids not in the catalog are errors, all
reported at once, each naming its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, final

import yaml

_REQUIRED = ("id", "reason", "owner", "expires")
_KEYS = frozenset({*_REQUIRED, "scope"})
_SCOPE_KEYS = frozenset({"namespace", "object"})


class WaiverError(ValueError):
    """The waivers file is malformed; `problems` lists every problem, each as "FILE:LINE: what"."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = tuple(problems)


@final
@dataclass(frozen=True)
class Waiver:
    """One accepted failure."""

    id: str
    """The check id or control id it waives."""
    reason: str
    owner: str
    expires: date
    """The last day it applies."""
    namespace: str | None = None
    """Scope: only failures whose subjects all lie in this namespace."""
    object: str | None = None
    """Scope: only failures about this object, "Kind/name" (with `namespace` for namespaced objects)."""
    line: int = 0
    """Where it is defined in the waivers file."""

    @property
    def scoped(self) -> bool:
        """Whether it applies only to some objects."""
        return self.namespace is not None or self.object is not None

    def expired(self, today: date) -> bool:
        """True after its expiry date."""
        return today > self.expires

    def covers(self, subject: str) -> bool:
        """Whether `subject` ("Kind/name" or "Kind/namespace/name") lies inside the scope."""
        parts = subject.split("/")
        kind, name = parts[0], parts[-1]
        namespace = parts[1] if len(parts) == 3 else (name if kind == "Namespace" else None)
        if self.namespace is not None and namespace != self.namespace:
            return False
        return self.object is None or self.object == f"{kind}/{name}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form used in evidence.json."""
        scope = {
            key: value for key, value in (("namespace", self.namespace), ("object", self.object)) if value
        }
        return {
            "id": self.id,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat(),
            **({"scope": scope} if scope else {}),
        }


@final
@dataclass(frozen=True)
class WaiverMatch:
    """A waiver that matched a failed check, and whether it had expired (then the failure stands)."""

    waiver: Waiver
    expired: bool


def matching_waiver(
    waivers: Iterable[Waiver], ids: Iterable[str], subjects: Sequence[str], today: date
) -> WaiverMatch | None:
    """The waiver for a failure of a check with `ids` (check and control ids) about `subjects`.

    A scoped waiver needs every subject inside its scope (and at least one subject). A valid waiver is
    preferred over an expired one.
    """
    wanted = set(ids)
    matches = [
        waiver
        for waiver in waivers
        if waiver.id in wanted
        and (not waiver.scoped or (subjects and all(waiver.covers(item) for item in subjects)))
    ]
    valid = [waiver for waiver in matches if not waiver.expired(today)]
    if valid:
        return WaiverMatch(valid[0], expired=False)
    return WaiverMatch(matches[0], expired=True) if matches else None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _scalar(node: yaml.Node) -> str | None:
    return str(node.value).strip() if isinstance(node, yaml.ScalarNode) and str(node.value).strip() else None


class _Parser:
    def __init__(self, source: str, known: Callable[[str], bool]) -> None:
        self.source = source
        self.known = known
        self.problems: list[str] = []

    def problem(self, node: yaml.Node, text: str) -> None:
        self.problems.append(f"{self.source}:{_line(node)}: {text}")

    def mapping(self, node: yaml.Node, allowed: frozenset[str], what: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.problem(node, f"{what} must be a mapping")
            return None
        fields: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = _scalar(key) or ""
            if name not in allowed:
                self.problem(key, f"unknown key {name!r} in {what} (expected {', '.join(sorted(allowed))})")
            elif name in fields:
                self.problem(key, f"{name!r} is given twice")
            else:
                fields[name] = value
        return fields

    def text(self, entry: yaml.Node, fields: dict[str, yaml.Node], key: str) -> str:
        node = fields.get(key)
        value = _scalar(node) if node is not None else None
        if value is None:
            self.problem(node or entry, f"{key!r} must be a non-empty string")
        return value or ""

    def expiry(self, entry: yaml.Node, fields: dict[str, yaml.Node]) -> date:
        text = self.text(entry, fields, "expires")
        try:
            return date.fromisoformat(text)
        except ValueError:
            if text:
                self.problem(fields["expires"], f"'expires' must be a date YYYY-MM-DD, got {text!r}")
            return date.min

    def waiver(self, entry: yaml.Node) -> Waiver | None:
        fields = self.mapping(entry, _KEYS, "a waiver")
        if fields is None:
            return None
        ident, reason, owner = (self.text(entry, fields, key) for key in ("id", "reason", "owner"))
        expires = self.expiry(entry, fields)
        if ident and not self.known(ident):
            self.problem(fields["id"], f"unknown check or control id {ident!r} (not in the controls catalog)")
        scope: dict[str, str] = {}
        if "scope" in fields:
            scope_fields = self.mapping(fields["scope"], _SCOPE_KEYS, "'scope'") or {}
            scope = {key: self.text(fields["scope"], scope_fields, key) for key in scope_fields}
            if not scope_fields:
                self.problem(fields["scope"], "'scope' needs a namespace and/or an object")
            named = scope.get("object")
            if named and (named.count("/") != 1 or not all(named.split("/"))):
                self.problem(fields["scope"], "'object' must be 'Kind/name' (give the namespace apart)")
        return Waiver(
            ident, reason, owner, expires, scope.get("namespace"), scope.get("object"), _line(entry)
        )

    def document(self, root: yaml.Node | None) -> list[Waiver]:
        if root is None:
            return []
        top = self.mapping(root, frozenset({"waivers"}), "the waivers file")
        if not top:
            return []
        entries = top["waivers"]
        if not isinstance(entries, yaml.SequenceNode):
            self.problem(entries, "'waivers' must be a list")
            return []
        return [waiver for entry in entries.value if (waiver := self.waiver(entry)) is not None]


def parse_waivers(text: str, source: str, known: Callable[[str], bool]) -> tuple[Waiver, ...]:
    """Parse a waivers document; `known(id)` says whether an id is in the catalog. Raises WaiverError."""
    parser = _Parser(source, known)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise WaiverError([f"{source}:{line}: not valid YAML: {exc.problem or exc.context}"]) from None
    waivers = parser.document(root)
    if parser.problems:
        raise WaiverError(parser.problems)
    return tuple(waivers)


def load_waivers(path: Path, known: Callable[[str], bool]) -> tuple[Waiver, ...]:
    """Read and parse a waivers file. Raises WaiverError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WaiverError([f"{path}: cannot read: {exc.strerror}"]) from None
    return parse_waivers(text, str(path), known)
