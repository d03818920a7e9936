"""Built-in exemptions: one documented default, replaced by --exemptions FILE, validated once."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_k8sharden.exemptions import (
    BUILT_IN,
    DEFAULT_FILE,
    KEYS,
    Exemptions,
    ExemptionsError,
    load_exemptions,
)
from pytest_k8sharden.settings import SettingsError, build_settings


def test_the_default_is_the_shipped_file_with_a_reason_for_each() -> None:
    assert dataclasses.replace(load_exemptions(DEFAULT_FILE), source="built-in") == BUILT_IN
    assert all(why for key in KEYS for why in getattr(BUILT_IN, key).values())
    assert list(BUILT_IN.namespaces) == ["kube-system"]
    assert list(BUILT_IN.default_deny_namespaces) == ["kube-public", "kube-node-lease"]
    assert list(BUILT_IN.groups) == ["system:masters", "system:nodes"]
    assert list(BUILT_IN.users) == [
        "system:kube-controller-manager",
        "system:kube-scheduler",
        "system:kube-proxy",
    ]
    assert list(BUILT_IN.service_account_namespaces) == ["kube-system"]
    assert build_settings().exemptions is BUILT_IN


@pytest.mark.parametrize(
    ("name", "namespace_checks", "default_deny"),
    [
        ("kube-system", True, True),
        ("kube-public", False, True),
        ("kube-node-lease", False, True),
        ("default", False, False),
        ("istio-system", False, False),
    ],
)
def test_which_checks_leave_a_namespace_out(name: str, namespace_checks: bool, default_deny: bool) -> None:
    assert bool(BUILT_IN.namespace(name)) is namespace_checks
    assert bool(BUILT_IN.default_deny_namespace(name)) is default_deny


def test_a_file_replaces_the_default(tmp_path: Path) -> None:
    own = tmp_path / "exemptions.yaml"
    own.write_text(
        "namespaces:\n  kube-system: control plane\n  istio-system: the mesh's own control plane\n"
        "groups:\n  platform-admins: break-glass group, reviewed quarterly\n"
    )
    exemptions = build_settings(exemptions=str(own)).exemptions
    assert exemptions.source == f"exemptions file {own}"
    assert exemptions.namespace("istio-system") == "the mesh's own control plane"
    assert exemptions.identity("Group", "platform-admins") and not exemptions.identity(
        "Group", "system:masters"
    )
    assert not exemptions.identity("User", "system:kube-scheduler"), "a key left out exempts nothing"
    assert not exemptions.default_deny_namespace("kube-public")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- kube-system\n", "must be a mapping with keys namespaces, "),
        ("namespace:\n  kube-system: x\n", "unknown key 'namespace' (known: namespaces, "),
        ("namespaces:\n  kube-system:\n", "namespaces: 'kube-system' needs a reason"),
        ("namespaces: [kube-system]\n", "namespaces must map each name to why it is exempt"),
        ("namespaces:\n  Kube_System: x\n", "namespaces: 'Kube_System' is not a namespace name"),
        ("groups:\n  system:authenticated: everyone\n", "'system:authenticated' stands for every client"),
        ("groups:\n  system:serviceaccounts:apps: x\n", "stands for every client and can never be exempt"),
        ("users:\n  '': every user\n", "users: '' is not a name"),
        ("users:\n  system:anonymous: x\n", "users: 'system:anonymous' stands for every client"),
        ("users:\n  system:serviceaccount:apps:web: x\n", "is a ServiceAccount: service_account_namespaces"),
        ("namespaces: {a: '', B: x}\n", "'a' needs a reason (why it is exempt); namespaces: 'B' is not"),
        ("namespaces: [\n", "cannot be read: while parsing"),
    ],
)
def test_a_bad_file_is_one_line_naming_every_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "exemptions.yaml"
    path.write_text(text)
    with pytest.raises(ExemptionsError) as caught:
        load_exemptions(path)
    assert problem in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(SettingsError, match=f"^exemptions file {path}: "):
        build_settings(exemptions=str(path))


@pytest.mark.parametrize(
    ("kind", "name"),
    [("User", "system:anonymous"), ("Group", "system:unauthenticated"), ("Group", "system:authenticated"),
     ("Group", "system:serviceaccounts"), ("Group", "system:serviceaccounts:kube-system")],
)  # fmt: skip
def test_identities_that_stand_for_everyone_are_never_exempt(kind: str, name: str) -> None:
    """Not by the default, nor by an Exemptions built around the file's checks."""
    assert BUILT_IN.identity(kind, name) is None
    assert Exemptions(groups={name: "x"}, users={name: "x"}).identity(kind, name) is None


@pytest.mark.parametrize(
    ("name", "exempt"),
    [("system:kube-scheduler", True), ("system:kube-proxy", True), ("system:backdoor", False),
     ("system:node:worker-1", False), ("system:kube-scheduler-extra", False), ("alice", False)],
)  # fmt: skip
def test_only_the_named_component_users_are_exempt(name: str, exempt: bool) -> None:
    """A binding to a user named ``system:anything`` is audited: the old ``system:`` prefix exempted it."""
    assert bool(BUILT_IN.identity("User", name)) is exempt


def test_a_file_that_is_not_utf8_is_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "exemptions.yaml"
    path.write_bytes(b"namespaces:\n  kube-system: \xff\xfe\n")
    with pytest.raises(SettingsError, match=f"^exemptions file {path}: cannot be read: 'utf-8' codec"):
        build_settings(exemptions=str(path))
