"""The controls catalog: the shipped file's structure, strict parsing, merging, and marker resolution."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_k8sharden.catalog import (
    SEVERITIES,
    CatalogError,
    classify,
    load_catalog,
    merge_catalogs,
    parse_catalog,
    read_catalog_file,
)

SHIPPED = Path(__file__).parents[2] / "pytest_k8sharden" / "controls.yaml"
CHECK_ID = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
CIS_ID = re.compile(r"^CIS-\d+(\.\d+)+$")
NSA_ID = re.compile(r"^NSA-CISA:[a-z0-9-]+$")


def _minimal(**checks: Any) -> dict[str, Any]:
    return {
        "frameworks": {"CIS": {"title": "CIS Kubernetes Benchmark", "version": "1.10.0"}},
        "controls": {"CIS-4.2.1": {"framework": "CIS", "section": "4.2.1", "title": "anonymous-auth false"}},
        "checks": checks,
    }


def test_shipped_catalog_is_consistent() -> None:
    catalog = load_catalog()
    assert catalog.frameworks["CIS"].version == "1.10.0"
    assert "NSA-CISA" in catalog.frameworks
    for control in catalog.controls.values():
        assert CIS_ID.match(control.id) or NSA_ID.match(control.id), control.id
        assert control.id.split(":")[0].split("-")[0] in control.framework
    for check in catalog.checks.values():
        assert CHECK_ID.match(check.id), check.id
        assert check.severity in SEVERITIES
        assert all(ref in catalog.controls for ref in check.controls)
    cited = {ref for check in catalog.checks.values() for ref in check.controls}
    assert set(catalog.controls) == cited, "every control listed is cited by some check"


def test_shipped_catalog_has_the_checks_later_suites_need() -> None:
    checks = load_catalog().checks
    expected = {
        "KUBELET-ANON",  # issue 4
        "API-ANON-READ",
        "ETCD-CLIENT-CERT",
        "NETPOL-ENFORCED",  # issue 5
        "METADATA-BLOCKED",
        "INGRESS-HSTS",  # issue 6
        "RBAC-CLUSTER-ADMIN",  # issue 7
        "SECRETS-ENCRYPTED-AT-REST",
        "DASHBOARD-SKIP-LOGIN",
    }
    assert expected <= set(checks)
    assert checks["KUBELET-ANON"].controls[0] == "CIS-4.2.1"


def test_shipped_file_has_no_duplicate_keys() -> None:
    class Strict(yaml.SafeLoader):
        pass

    def no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
        keys = [loader.construct_object(key) for key, _ in node.value]
        assert len(keys) == len(set(keys)), [k for k in keys if keys.count(k) > 1]
        return dict(loader.construct_pairs(node))

    Strict.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, no_duplicates)
    yaml.load(SHIPPED.read_text(), Loader=Strict)


def test_every_problem_is_reported_at_once() -> None:
    data = _minimal(
        BAD={"title": "", "severity": "urgent", "controls": [], "owner": "me"},
    )
    data["extra"] = {}
    with pytest.raises(CatalogError) as raised:
        parse_catalog(data, "mine.yaml")
    problems = raised.value.problems
    assert "mine.yaml: unknown top-level key 'extra'" in problems
    assert "mine.yaml: checks.BAD: unknown key 'owner'" in problems
    assert "mine.yaml: checks.BAD: 'title' must be a non-empty string" in problems
    assert any("severity 'urgent' is not one of critical" in p for p in problems)
    assert "mine.yaml: checks.BAD: 'controls' must be a non-empty list of control ids" in problems


def test_cross_references_and_duplicates_are_checked_on_merge() -> None:
    base = parse_catalog(_minimal(OWN={"title": "t", "severity": "low", "controls": ["CIS-9.9"]}), "a")
    with pytest.raises(CatalogError, match=r"check 'OWN' names unknown control 'CIS-9\.9'"):
        merge_catalogs([base])
    good = parse_catalog(_minimal(OWN={"title": "t", "severity": "low", "controls": ["CIS-4.2.1"]}), "b")
    with pytest.raises(CatalogError, match="framework 'CIS' is defined twice"):
        merge_catalogs([good, good])


def test_organisation_catalog_extends_the_shipped_one(tmp_path: Path) -> None:
    own = tmp_path / "ours.yaml"
    own.write_text(
        yaml.safe_dump(
            {"checks": {"ACME-NO-LATEST": {"title": "t", "severity": "low", "controls": ["CIS-5.7.2"]}}}
        )
    )
    catalog = load_catalog([own])
    assert catalog.checks["ACME-NO-LATEST"].controls == ("CIS-5.7.2",)
    assert "KUBELET-ANON" in catalog.checks


def test_unreadable_catalog_file_names_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("checks: [")
    with pytest.raises(CatalogError, match=r"broken\.yaml"):
        read_catalog_file(broken)


def test_classify_expands_a_check_and_keeps_extra_controls() -> None:
    catalog = load_catalog()
    classified = classify(catalog, ["KUBELET-ANON", "CIS-4.2.3", "CIS-4.2.1"])
    assert classified.check is not None and classified.check.id == "KUBELET-ANON"
    assert classified.controls == (
        "CIS-4.2.1",
        "NSA-CISA:worker-nodes",
        "NSA-CISA:authentication",
        "CIS-4.2.3",
    )
    assert classify(catalog, ["CIS-4.2.1"]).check is None


def test_classify_refuses_unknown_ids_and_two_checks() -> None:
    catalog = load_catalog()
    with pytest.raises(ValueError, match=r"unknown control id\(s\) 'CIS-99.1', 'NOPE'"):
        classify(catalog, ["CIS-99.1", "KUBELET-ANON", "NOPE"])
    with pytest.raises(ValueError, match="several check ids 'KUBELET-ANON', 'API-ANON-AUTH'"):
        classify(catalog, ["KUBELET-ANON", "API-ANON-AUTH"])


def _suite_marks() -> list[tuple[str, list[str]]]:
    """(test function, names of its marks) of every shipped suite check, read from the source."""
    found = []
    for path in sorted((Path(__file__).parents[2] / "suites").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                marks = [ast.unparse(d) for d in node.decorator_list]
                found.append((f"{path.name}::{node.name}", marks))
    return found


def test_shipped_suites_take_severity_from_the_catalog_and_prove_one_control_per_test() -> None:
    """Severity is declared once (controls.yaml); a test is parametrized over targets, never over checks."""
    for name, marks in _suite_marks():
        assert not [m for m in marks if m.startswith("pytest.mark.severity")], name
        assert not [m for m in marks if "parametrize" in m and "mark.control" in m], name
