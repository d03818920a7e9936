"""A posture pass names what it examined; an empty read that cannot be the whole cluster is inconclusive,
and a scope that is truly empty is said to be empty (main passed all of these on "none of 0")."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.ownership import RUN_LABEL, ours
from pytest_k8sharden.posture import dashboard, podsecurity, rbac, scope, tokens
from pytest_k8sharden.posture.objects import plain_items


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


WHOLE = [ns("default"), ns("kube-system"), ns("apps"), ns("k8sh-probe", **ours())]
"""A namespace list that can be whole: default and kube-system are there."""
CRB = {"metadata": {"name": "cluster-admin"}, "roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}}
CLUSTER_ROLE = {"metadata": {"name": "cluster-admin"}, "rules": []}
EMPTY_PODS = scope.PodScope((), scope.NamespaceScope((ns("a"), ns("b")), {"kube-system": "why"}, (), 3), 7)
ENFORCE = podsecurity.ENFORCE_LABEL


def _verdict(check: Callable[[], Finding]) -> Finding:
    try:
        return check()
    except Inconclusive as exc:
        return Finding(Outcome.INCONCLUSIVE, exc.reason)


CASES = [
    pytest.param(
        lambda: podsecurity.namespace_enforcement(scope.namespaces_in_scope([], BUILT_IN))[1],
        Outcome.INCONCLUSIVE,
        "lacks default and kube-system", id="no namespace listed",
    ),
    pytest.param(
        lambda: podsecurity.namespace_enforcement(
            scope.namespaces_in_scope([ns("apps", **{ENFORCE: "restricted"})], BUILT_IN)
        )[1],
        Outcome.INCONCLUSIVE, "(1 read) lacks default and kube-system", id="a filtered namespace list",
    ),
    pytest.param(
        lambda: Finding(
            Outcome.PASSED, scope.running_pods([], scope.namespaces_in_scope([ns("apps")], BUILT_IN)).where()
        ),
        Outcome.INCONCLUSIVE,
        "lacks default", id="pods in a filtered namespace list",
    ),
    pytest.param(
        lambda: podsecurity.workload_violations(EMPTY_PODS, "are privileged", podsecurity.privileged)[1],
        Outcome.PASSED,
        "the scope is empty: there are no containers in 0 running pods in 0 of the 2 namespaces in scope "
        "(7 pods read; exempt: kube-system)",
        id="no running pod in scope: said to be empty",
    ),
    pytest.param(
        lambda: tokens.secrets_in_environment(EMPTY_PODS)[1], Outcome.PASSED, "the scope is empty",
        id="secrets in env, empty scope",
    ),
    pytest.param(
        lambda: tokens.idle_pods_mounting_tokens(EMPTY_PODS, [])[1], Outcome.PASSED,
        "the scope is empty: there are no running pods in 0 of the 2 namespaces", id="idle pods, empty scope",
    ),
    pytest.param(
        lambda: tokens.default_accounts_automounting([], scope.namespaces_in_scope(WHOLE, BUILT_IN))[1],
        Outcome.INCONCLUSIVE,
        "no default ServiceAccount was read for namespace(s) default, apps (0 ServiceAccounts read)",
        id="default ServiceAccounts missing from the read",
    ),
    pytest.param(
        lambda: tokens.legacy_token_secrets([], "in any namespace (field selector type=x)")[1],
        Outcome.PASSED,
        "the scope is empty: there are no Secrets in any namespace (field selector type=x)",
        id="legacy tokens: what the filtered search was",
    ),
    pytest.param(
        lambda: rbac.evaluate([], "x", rbac.anonymous, rbac.describe_read([], [], [], [])).finding,
        Outcome.INCONCLUSIVE, "listed no ClusterRoleBindings and no ClusterRoles", id="RBAC read empty",
    ),
    pytest.param(
        lambda: rbac.evaluate([], "x", rbac.anonymous, rbac.describe_read([CRB], [], [], [])).finding,
        Outcome.INCONCLUSIVE, "listed no ClusterRoles", id="bindings without roles: every grant empty",
    ),
    pytest.param(
        lambda: rbac.evaluate(
            rbac.grants([CLUSTER_ROLE], [], [CRB], []), "x", rbac.anonymous,
            rbac.describe_read([CRB], [], [CLUSTER_ROLE], []),
        ).finding,
        Outcome.PASSED,
        "none of 0 grants (from 1 ClusterRoleBindings and 0 RoleBindings in 0 namespaces, resolved against "
        "1 ClusterRoles and 0 Roles) x",
        id="an RBAC pass says what it read",
    ),
    pytest.param(
        lambda: dashboard.login_bypass([], dashboard.examined([], 5))[1], Outcome.PASSED,
        "the scope is empty: there are no dashboard-like Deployments among the 5 Deployments read (names, "
        "labels and images searched for dashboard, headlamp",
        id="absence of dashboards says what it searched",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("check", "outcome", "says"), CASES)
def test_a_pass_rests_on_what_was_read(check: Callable[[], Finding], outcome: Outcome, says: str) -> None:
    finding = _verdict(check)
    assert finding.outcome is outcome, finding.message
    assert says in finding.message


class _Client:
    def sanitize_for_serialization(self, item: Any) -> dict[str, Any]:
        return {"metadata": {"name": item}}


@pytest.mark.parametrize(
    ("continue_token", "remaining", "says"),
    [("eyJ2Ijoi", None, "a continue token"), (None, 12, "12 more items"), ("", 0, None)],
)
def test_a_partial_list_is_inconclusive(continue_token: str | None, remaining: int | None, says: str) -> None:
    listed = SimpleNamespace(
        items=["a", "b"], metadata=SimpleNamespace(_continue=continue_token, remaining_item_count=remaining)
    )
    kube: Any = SimpleNamespace(api_client=_Client())
    if says is None:
        assert plain_items(kube, lambda: listed) == [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]
        return
    with pytest.raises(Inconclusive, match=f"only part of a list \\(2 items and {says}\\)"):
        plain_items(kube, lambda: listed)


def test_labels_anyone_can_set_take_no_namespace_out_of_scope() -> None:
    listed = [
        *WHOLE,
        ns("labelled-probe", **{"k8sharden.io/probe": "true"}),
        ns("bare-managed-by", **{"app.kubernetes.io/managed-by": "pytest-k8sharden"}),
        ns("another-run", **{**ours(), RUN_LABEL: "another-run"}),
    ]
    found = scope.namespaces_in_scope(listed, BUILT_IN)
    names = [item["metadata"]["name"] for item in found.namespaces]
    assert names == ["default", "apps", "labelled-probe", "bare-managed-by", "another-run"]
    assert found.left_out() == "exempt: kube-system; this run's own: k8sh-probe"
