"""Hardening guidance: the doc is rendered from guidance.yaml, names real checks; every check is tested."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pytest_k8sharden.catalog import CatalogError, load_catalog
from pytest_k8sharden.guidance import (
    Guidance,
    Practice,
    load_guidance,
    parse_guidance,
    render,
    unknown_checks,
)

ROOT = Path(__file__).parents[2]
DOC = "docs/guidance-coverage.md"


def test_checked_in_doc_is_what_the_generator_renders() -> None:
    rendered = render(load_guidance())
    checked_in = (ROOT / DOC).read_text(encoding="utf-8")
    assert checked_in == rendered, f"{DOC} is stale; regenerate: python -m pytest_k8sharden.guidance > {DOC}"


def test_every_practice_names_known_checks() -> None:
    assert unknown_checks(load_guidance(), load_catalog()) == []


def test_an_unknown_check_id_is_reported() -> None:
    practice = Practice("Encrypt everything", ("guide",), "covered", ("KUBELET-ANON", "NOPE"), "")
    guidance = Guidance({"guide": "notes"}, (practice,))
    assert unknown_checks(guidance, load_catalog()) == ["'Encrypt everything' names unknown check 'NOPE'"]


def _marked_check_ids() -> set[str]:
    """The string ids of every @pytest.mark.control(...) in the shipped suites, read from the source."""
    found = set()
    for path in (ROOT / "suites").glob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.mark.control":
                found |= {str(arg.value) for arg in node.args if isinstance(arg, ast.Constant)}
    return found


def test_every_check_in_the_catalog_has_a_suite_test() -> None:
    untested = sorted(set(load_catalog().checks) - _marked_check_ids())
    assert untested == [], f"checks no suite test is marked with: {untested}"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"status": "covered", "checks": []}, "a 'covered' practice must list checks"),
        ({"status": "not yet", "note": "n"}, "a 'not yet' practice must list no checks"),
        ({"status": "partly"}, "needs a note"),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"sources": ["nsa"]}, "unknown source 'nsa'"),
        ({"why": 1}, "unknown key 'why'"),
    ],
)
def test_malformed_practices_are_refused(changes: dict[str, object], problem: str) -> None:
    practice = {"practice": "p", "sources": ["guide"], "status": "covered", "checks": ["X"], **changes}
    with pytest.raises(CatalogError, match=problem):
        parse_guidance({"sources": {"guide": {"title": "notes"}}, "practices": [practice]}, "g.yaml")
