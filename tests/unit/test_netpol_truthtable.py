"""Truth tables as grids, and expected vs observed reachability with its diff."""

from __future__ import annotations

from textwrap import dedent

import pytest

from pytest_k8sharden.netpol import (
    ExternalIP,
    Mismatch,
    Namespace,
    Pod,
    PolicyEngine,
    Reachability,
    ReachabilitySummary,
    TruthTable,
    expected_matrix,
    expected_table,
    expected_verdicts,
    parse_network_policy,
)

EXPECTED = TruthTable.parse(
    """
    -   x/a x/b y/a
    x/a .   X   .
    x/b X   .   .
    y/a .   .   X
    """
)
OBSERVED = TruthTable.parse(
    """
    -   x/a x/b y/a
    x/a X   X   X
    x/b X   .   ?
    y/a .   .   .
    """
)


def test_render_aligns_columns_and_marks_unknown() -> None:
    table = TruthTable(
        ("x/a", "longer/name"), ("x/a", "203.0.113.9"), {("x/a", "x/a"): True, ("longer/name", "x/a"): False}
    )
    assert table.render() == dedent(
        """\
        -           x/a 203.0.113.9
        x/a         .   ?
        longer/name X   ?"""
    )
    assert table.render(indent="  ").splitlines()[1] == "  x/a         .   ?"
    assert TruthTable.parse(table.render()) == table


def test_lookup_and_completeness() -> None:
    assert (EXPECTED.get("x/a", "x/b"), EXPECTED.get("x/a", "y/a"), OBSERVED.get("x/b", "y/a")) == (
        False,
        True,
        None,
    )
    assert (EXPECTED.complete, OBSERVED.complete) == (True, False)
    assert OBSERVED.updated({("x/b", "y/a"): True}).complete
    assert not EXPECTED.updated({("x/a", "x/a"): None}).complete
    with pytest.raises(KeyError):
        EXPECTED.get("z/a", "x/a")


def test_build_leaves_none_unknown() -> None:
    table = TruthTable.build(["a", "b"], ["c"], lambda f, t: None if f == "b" else True)
    assert table.render() == "- c\na .\nb ?"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: TruthTable(("a", "a"), ("b",)), "duplicate froms"),
        (lambda: TruthTable(("a",), ("b c",)), "free of whitespace"),
        (lambda: TruthTable(("a",), ("b",), {("a", "z"): True}), "values outside the table"),
        (lambda: TruthTable.parse("x/a .\n"), "header row"),
        (lambda: TruthTable.parse("- a b\na . \n"), "grid line 2: expected 2 cells"),
        (lambda: TruthTable.parse("- a\na o\n"), "cells of . X ?"),
        (lambda: EXPECTED.compare(TruthTable(("x/a",), ("x/a",))), "different headers"),
    ],
)
def test_rejects_malformed_tables(make: object, error: str) -> None:
    assert callable(make)
    with pytest.raises(ValueError, match=error):
        make()


def test_compare_is_pairwise_equality() -> None:
    assert EXPECTED.compare(OBSERVED).render() == dedent(
        """\
        -   x/a x/b y/a
        x/a X   .   X
        x/b .   .   ?
        y/a .   .   X"""
    )


def test_reachability_ignores_loopback_by_default() -> None:
    reachability = Reachability(EXPECTED, OBSERVED)
    assert reachability.compare().render() == dedent(
        """\
        -   x/a x/b y/a
        x/a ?   .   X
        x/b .   ?   ?
        y/a .   .   ?"""
    )
    assert reachability.summary() == ReachabilitySummary(correct=4, wrong=1, unknown=1, ignored=3)
    assert not reachability.summary().ok
    assert reachability.mismatches() == (Mismatch("x/a", "y/a", True, False),)
    assert str(reachability.mismatches()[0]) == "x/a -> y/a: expected allowed, observed blocked"


def test_reachability_counting_loopback() -> None:
    reachability = Reachability(EXPECTED, OBSERVED, ignore_loopback=False)
    assert reachability.summary() == ReachabilitySummary(correct=5, wrong=3, unknown=1, ignored=0)
    assert [(m.source, m.destination) for m in reachability.mismatches()] == [
        ("x/a", "x/a"),
        ("x/a", "y/a"),
        ("y/a", "y/a"),
    ]


def test_matching_observation_is_ok_but_a_missing_one_is_not() -> None:
    assert Reachability(EXPECTED, EXPECTED.updated({("x/a", "x/a"): False})).summary().ok
    missing = Reachability(EXPECTED, EXPECTED.updated({("x/a", "x/b"): None})).summary()
    assert (missing, missing.ok) == (ReachabilitySummary(correct=5, wrong=0, unknown=1, ignored=3), False)


def test_render_shows_expected_observed_and_diff() -> None:
    assert Reachability(EXPECTED, OBSERVED).render() == dedent(
        """\
        reachability: correct 4, wrong 1, unknown 1, ignored loopback 3

        expected:
          -   x/a x/b y/a
          x/a .   X   .
          x/b X   .   .
          y/a .   .   X

        observed:
          -   x/a x/b y/a
          x/a X   X   X
          x/b X   .   ?
          y/a .   .   .

        diff (. agree, X differ, ? not compared):
          -   x/a x/b y/a
          x/a ?   .   X
          x/b .   ?   ?
          y/a .   .   ?"""
    )


X, Y = Namespace("x"), Namespace("y")
A = Pod(X, "a", "10.0.0.1", {"app": "a"})
B = Pod(X, "b", "10.0.0.2", {"app": "b"})
C = Pod(Y, "c", "10.0.1.1", {"app": "c"})
OUT = ExternalIP("198.51.100.7")
ENGINE = PolicyEngine.of(
    parse_network_policy(doc)
    for doc in (
        {
            "metadata": {"name": "b-from-a-on-80", "namespace": "x"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "b"}},
                "ingress": [
                    {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 80}]}
                ],
            },
        },
        {
            "metadata": {"name": "c-egress-dns-only", "namespace": "y"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}],
            },
        },
    )
)


def test_expected_table_with_external_destinations() -> None:
    table = expected_table(ENGINE, [A, B, C], 80, destinations=[A, B, C, OUT])
    assert table.render() == dedent(
        """\
        -   x/a x/b y/c 198.51.100.7
        x/a .   .   .   .
        x/b .   X   .   .
        y/c X   X   X   X"""
    )


def test_expected_matrix_per_port_and_protocol() -> None:
    matrix = expected_matrix(ENGINE, [A, B, C], [80, (53, "UDP")])
    assert sorted(matrix) == [(53, "UDP"), (80, "TCP")]
    assert matrix[(53, "UDP")].render() == dedent(
        """\
        -   x/a x/b y/c
        x/a .   X   .
        x/b .   X   .
        y/c .   X   ."""
    )
    assert matrix[(80, "TCP")] == expected_table(ENGINE, [A, B, C], 80)


def test_expected_verdicts_keep_the_reasons() -> None:
    verdicts = expected_verdicts(ENGINE, [A, C], 80, destinations=[B])
    assert {pair: verdict.reason for pair, verdict in verdicts.items()} == {
        ("x/a", "x/b"): "x/a -> x/b 80/TCP allowed: egress: x/a is selected by no Egress policy; "
        "ingress: x/b isolated by x/b-from-a-on-80; allowed by x/b-from-a-on-80 ingress[0]",
        (
            "y/c",
            "x/b",
        ): "y/c -> x/b 80/TCP blocked: egress: y/c isolated by y/c-egress-dns-only; no rule allows it; "
        "ingress: x/b isolated by x/b-from-a-on-80; no rule allows it",
    }
