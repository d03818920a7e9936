"""What the audit leaves out as built in: namespaces and identities, each with why (one place, configurable).

The shipped default is ``exemptions.yaml`` beside this module; ``--exemptions FILE`` replaces it. Every check
that exempts something names what it exempted in its message and lists it, with the reason, in its evidence:
an exemption never hides an object silently. Nothing here imports pytest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, final

import yaml

DEFAULT_FILE: Final = Path(__file__).with_name("exemptions.yaml")
SERVICE_ACCOUNT_USER: Final = "system:serviceaccount:"
SERVICE_ACCOUNT_GROUP: Final = "system:serviceaccounts"
NEVER_EXEMPT: Final = frozenset(
    {"system:anonymous", "system:unauthenticated", "system:authenticated", SERVICE_ACCOUNT_GROUP}
)
"""Identities that stand for every client (or every ServiceAccount): exempting them would exempt everyone."""
_NAMESPACE: Final = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

Reasons = Mapping[str, str]
"""Name -> why it is exempt."""


def _stands_for_everyone(name: str) -> bool:
    return name in NEVER_EXEMPT or name.startswith(f"{SERVICE_ACCOUNT_GROUP}:")


class ExemptionsError(ValueError):
    """An exemptions file we cannot use; the message names the file and every problem, on one line."""


@final
@dataclass(frozen=True)
class Exemptions:
    """Built-in exemptions (see ``exemptions.yaml`` for the default and the reason of each)."""

    namespaces: Reasons = field(default_factory=dict)
    """Left out of every check scoped by namespace (pod security, workloads, tokens, images, default deny)."""
    default_deny_namespaces: Reasons = field(default_factory=dict)
    """Also left out of the default-deny and isolated-namespace checks."""
    groups: Reasons = field(default_factory=dict)
    """RBAC Group subjects exempt from the RBAC checks about powerful grants (exact names)."""
    users: Reasons = field(default_factory=dict)
    """RBAC User subjects exempt like the groups (exact names: a prefix would exempt any user someone binds
    under a name that starts with it)."""
    service_account_namespaces: Reasons = field(default_factory=dict)
    """ServiceAccounts of these namespaces, as ServiceAccount subjects or ``system:serviceaccount:`` users."""
    source: str = "built-in"
    """Where they came from: ``built-in`` or ``exemptions file PATH`` (--exemptions)."""

    def namespace(self, name: str) -> str | None:
        """Why ``name`` is left out of the checks scoped by namespace, or None."""
        return self.namespaces.get(name)

    def default_deny_namespace(self, name: str) -> str | None:
        """Why ``name`` is left out of the default-deny and isolated-namespace checks, or None."""
        return self.namespaces.get(name) or self.default_deny_namespaces.get(name)

    def identity(self, kind: str, name: str, namespace: str | None = None) -> str | None:
        """Why an RBAC subject is exempt, or None (NEVER_EXEMPT subjects never are)."""
        if _stands_for_everyone(name):
            return None
        if kind == "Group":
            return self.groups.get(name)
        if kind == "ServiceAccount":
            return self.service_account_namespaces.get(namespace or "")
        if kind != "User":
            return None
        if name.startswith(SERVICE_ACCOUNT_USER):
            return self.service_account_namespaces.get(name[len(SERVICE_ACCOUNT_USER) :].partition(":")[0])
        return self.users.get(name)


def left_out(exempt: Mapping[str, str], own: Sequence[str]) -> str:
    """Namespaces a check left out, by name (``exempt: kube-system; this run's own: k8sh-probe-1``)."""
    parts = [f"exempt: {', '.join(exempt)}"] if exempt else []
    parts += [f"this run's own: {', '.join(own)}"] if own else []
    return "; ".join(parts) or "nothing left out"


KEYS: Final = tuple(k for k in Exemptions.__dataclass_fields__ if k != "source")


def _reasons(key: str, value: Any, problems: list[str]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(f"{key} must map each name to why it is exempt")
        return {}
    reasons = {}
    for name, why in value.items():
        if not isinstance(why, str) or not why.strip():
            problems.append(f"{key}: {name!r} needs a reason (why it is exempt)")
        elif key.endswith("namespaces") and not (isinstance(name, str) and _NAMESPACE.fullmatch(name)):
            problems.append(f"{key}: {name!r} is not a namespace name")
        elif not isinstance(name, str) or not name:
            problems.append(f"{key}: {name!r} is not a name")
        elif key in ("groups", "users") and _stands_for_everyone(name):
            problems.append(f"{key}: {name!r} stands for every client and can never be exempt")
        elif key == "users" and name.startswith(SERVICE_ACCOUNT_USER):
            problems.append(f"{key}: {name!r} is a ServiceAccount: service_account_namespaces exempts those")
        else:
            reasons[name] = " ".join(why.split())
    return reasons


def parse_exemptions(document: Any, source: str) -> Exemptions:
    """Exemptions from a parsed YAML document; ExemptionsError names every problem at once."""
    problems: list[str] = []
    if not isinstance(document, Mapping):
        raise ExemptionsError(f"{source}: must be a mapping with keys {', '.join(KEYS)}")
    problems += [f"unknown key {key!r} (known: {', '.join(KEYS)})" for key in document if key not in KEYS]
    reasons = {key: _reasons(key, document.get(key), problems) for key in KEYS}
    if problems:
        raise ExemptionsError(f"{source}: {'; '.join(problems)}")
    return Exemptions(**reasons, source=source)


def load_exemptions(path: Path) -> Exemptions:
    """Read an exemptions file (format: the shipped ``exemptions.yaml``)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ExemptionsError(
            f"exemptions file {path}: cannot be read: {' '.join(str(exc).split())}"
        ) from None
    return parse_exemptions(document, f"exemptions file {path}")


BUILT_IN: Final = parse_exemptions(yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8")), "built-in")
"""The shipped default (``exemptions.yaml``)."""
