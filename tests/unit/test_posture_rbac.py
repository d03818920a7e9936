"""RBAC analysis on object fixtures: grants resolved, defaults known, findings name binding, role, subject."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN, Exemptions
from pytest_k8sharden.posture import rbac

CERTS = "certificates.k8s.io"
ADMISSION = "admissionregistration.k8s.io"
ADMIN_RULES = [
    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
    {"nonResourceURLs": ["*"], "verbs": ["*"]},
]
BOOTSTRAP = {"kubernetes.io/bootstrapping": "rbac-defaults"}


def role(name: str, rules: list[dict[str, Any]], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, "rules": rules}


def binding(
    name: str, role_name: str, *subjects: dict[str, str], namespace: str | None = None,
    role_kind: str = "ClusterRole", labels: dict[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta, "roleRef": {"kind": role_kind, "name": role_name}, "subjects": list(subjects)}


def user(name: str) -> dict[str, str]:
    return {"kind": "User", "name": name}


def group(name: str) -> dict[str, str]:
    return {"kind": "Group", "name": name}


def sa(namespace: str, name: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


CLUSTER_ROLES = [
    role("cluster-admin", ADMIN_RULES),
    role("system:public-info-viewer", [{"nonResourceURLs": ["/healthz", "/version"], "verbs": ["get"]}]),
    role("system:discovery", [{"nonResourceURLs": ["/api", "/apis"], "verbs": ["get"]}]),
    role("secret-reader", [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}]),
    role("pod-runner", [{"apiGroups": [""], "resources": ["pods", "pods/exec"], "verbs": ["create"]}]),
    role(
        "binder",
        [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"]}],
    ),
    role("impersonator", [{"apiGroups": [""], "resources": ["users"], "verbs": ["impersonate"]}]),
    role("viewer", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
    role("kubelet-api", [{"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]}]),
    role("any-proxy", [{"apiGroups": [""], "resources": ["*/proxy"], "verbs": ["create"]}]),
    role("token-minter", [{"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"]}]),
    role(
        "csr-approver",
        [
            {
                "apiGroups": [CERTS],
                "resources": ["certificatesigningrequests/approval"],
                "verbs": ["update"],
            }
        ],
    ),
    role(
        "signer",
        [
            {
                "apiGroups": [CERTS],
                "resources": ["signers"],
                "resourceNames": ["example.com/x"],
                "verbs": ["sign"],
            }
        ],
    ),
    role(
        "webhook-admin",
        [{"apiGroups": [ADMISSION], "resources": ["mutatingwebhookconfigurations"], "verbs": ["delete"]}],
    ),
    role("attacher", [{"apiGroups": [""], "resources": ["pods/attach"], "verbs": ["get"]}]),
    role("debugger", [{"apiGroups": [""], "resources": ["pods/ephemeralcontainers"], "verbs": ["patch"]}]),
    role(
        "near-misses",
        [
            {
                "apiGroups": [""],
                "resources": ["nodes", "nodes/*", "pods/exec", "serviceaccounts"],
                "verbs": ["*"],
            },
            {
                "apiGroups": [""],
                "resources": ["certificatesigningrequests/approval", "signers"],
                "verbs": ["*"],
            },
            {"apiGroups": [CERTS], "resources": ["certificatesigningrequests/status"], "verbs": ["update"]},
            {"apiGroups": [ADMISSION], "resources": ["validatingwebhookconfigurations"], "verbs": ["list"]},
            {"apiGroups": [""], "resources": ["pods/attach", "pods/ephemeralcontainers"], "verbs": ["list"]},
        ],
    ),
    role(
        "system:cluster-trust-bundle-discovery",
        [
            {
                "apiGroups": ["certificates.k8s.io"],
                "resources": ["clustertrustbundles"],
                "verbs": ["get", "list"],
            }
        ],
    ),
]
DEFAULTS = [
    binding("cluster-admin", "cluster-admin", group("system:masters"), labels=BOOTSTRAP),
    binding(
        "system:public-info-viewer",
        "system:public-info-viewer",
        group("system:authenticated"),
        group("system:unauthenticated"),
        labels=BOOTSTRAP,
    ),
    binding("system:discovery", "system:discovery", group("system:authenticated"), labels=BOOTSTRAP),
    binding(
        "system:cluster-trust-bundle-discovery",
        "system:cluster-trust-bundle-discovery",
        group("system:serviceaccounts"),
        labels=BOOTSTRAP,
    ),
    binding("system:kube-controller-manager", "cluster-admin", user("system:kube-controller-manager")),
    binding("controller", "secret-reader", sa("kube-system", "generic-garbage-collector")),
    binding("certificate-controller", "csr-approver", sa("kube-system", "certificate-controller")),
]


def analyse(*extra: dict[str, Any], role_bindings: tuple[dict[str, Any], ...] = ()) -> list[rbac.Grant]:
    roles = [role("ns-admin", ADMIN_RULES, namespace="team")]
    return rbac.grants(CLUSTER_ROLES, roles, [*DEFAULTS, *extra], list(role_bindings))


ESCALATION_PATHS = [
    rbac.node_proxy,
    rbac.token_creator,
    rbac.csr_approver,
    rbac.webhook_writer,
    rbac.pod_attacher,
]
EXEMPTING = [
    *(rbac.cluster_admin, rbac.wildcard, rbac.secrets_reader, rbac.pod_creator, rbac.escalator),
    *ESCALATION_PATHS,
]
"""The checks about powerful grants, which leave out exempt identities (as the RBAC suite passes them)."""
CHECKS = [(flag, BUILT_IN) for flag in EXEMPTING] + [
    (flag, None) for flag in (rbac.anonymous, rbac.authenticated, rbac.default_service_account)
]


@pytest.mark.parametrize(("flag", "exemptions"), CHECKS, ids=lambda f: getattr(f, "__name__", ""))
def test_upstream_defaults_and_system_components_pass_every_check(
    flag: Any, exemptions: Exemptions | None
) -> None:
    evaluation = rbac.evaluate(analyse(), "match", flag, "the test's bindings", exemptions)
    assert evaluation.finding.outcome is Outcome.PASSED, evaluation.finding.message
    assert not evaluation.flagged


@pytest.mark.parametrize(
    ("flag", "left_out"),
    [
        (rbac.cluster_admin, ["Group/system:masters", "User/system:kube-controller-manager"]),
        (rbac.wildcard, ["Group/system:masters", "User/system:kube-controller-manager"]),
        (rbac.secrets_reader, ["Group/system:masters", "User/system:kube-controller-manager",
                               "ServiceAccount/kube-system/generic-garbage-collector"]),
    ],
)  # fmt: skip
def test_an_exempt_grant_is_named_with_why_never_hidden(flag: Any, left_out: list[str]) -> None:
    evaluation = rbac.evaluate(analyse(), "match", flag, "the test's bindings", BUILT_IN)
    assert [str(grant.subject) for grant, _ in evaluation.exempted] == left_out
    assert all(why for _, why in evaluation.exempted), "each exempt grant carries why"
    message = evaluation.finding.message
    assert (
        f"left out as exempt (built-in, each listed in the evidence with why): {len(left_out)} grant(s)"
        in (message)
    )
    assert all(subject in message for subject in left_out)


def test_configured_exemptions_replace_the_built_in_ones() -> None:
    """An exemptions file without system:masters audits the group; one naming a team's group exempts it."""
    only_nodes = Exemptions(groups={"system:nodes": "kubelets"}, source="exemptions.yaml")
    evaluation = rbac.evaluate(analyse(), "match", rbac.cluster_admin, "the test's bindings", only_nodes)
    assert evaluation.finding.outcome is Outcome.FAILED
    assert {str(g.subject) for g in evaluation.flagged} == {
        "Group/system:masters",
        "User/system:kube-controller-manager",
    }
    platform = Exemptions(
        groups={"platform-admins": "the platform team's break-glass group"}, source="x.yaml"
    )
    extra = binding("platform", "cluster-admin", group("platform-admins"))
    evaluation = rbac.evaluate(analyse(extra), "match", rbac.cluster_admin, "the test's bindings", platform)
    assert [str(g.subject) for g, _ in evaluation.exempted] == ["Group/platform-admins"]
    assert "left out as exempt (x.yaml" in evaluation.finding.message


@pytest.mark.parametrize(
    ("flag", "extra", "named"),
    [
        (rbac.anonymous, binding("anon", "viewer", user("system:anonymous")), "User/system:anonymous"),
        (
            rbac.anonymous,
            binding("unauth", "viewer", group("system:unauthenticated")),
            "system:unauthenticated",
        ),
        (rbac.authenticated, binding("all", "viewer", group("system:authenticated")), "system:authenticated"),
        (rbac.cluster_admin, binding("ops", "cluster-admin", user("alice")), "User/alice"),
        # The old built-in ``system:`` user prefix exempted any user so named: this grant passed.
        (rbac.cluster_admin, binding("x", "cluster-admin", user("system:backdoor")), "User/system:backdoor"),
        (rbac.cluster_admin, binding("sas", "cluster-admin", group("system:serviceaccounts")), "Group/"),
        (
            rbac.wildcard,
            binding("ops", "cluster-admin", sa("apps", "deployer")),
            "ServiceAccount/apps/deployer",
        ),
        (rbac.secrets_reader, binding("sr", "secret-reader", user("bob")), "ClusterRole/secret-reader"),
        (rbac.pod_creator, binding("pr", "pod-runner", user("carol")), "ClusterRoleBinding/pr"),
        (rbac.escalator, binding("b", "binder", user("dave")), "ClusterRole/binder"),
        (rbac.escalator, binding("i", "impersonator", group("devs")), "Group/devs"),
        (rbac.node_proxy, binding("np", "kubelet-api", user("monitoring")), "ClusterRole/kubelet-api"),
        (rbac.node_proxy, binding("ap", "any-proxy", sa("apps", "agent")), "ClusterRole/any-proxy"),
        (
            rbac.token_creator,
            binding("t", "token-minter", sa("ci", "deployer")),
            "ServiceAccount/ci/deployer",
        ),
        (rbac.csr_approver, binding("c", "csr-approver", group("pki")), "ClusterRole/csr-approver"),
        (rbac.csr_approver, binding("s", "signer", user("issuer")), "ClusterRole/signer"),
        (rbac.webhook_writer, binding("w", "webhook-admin", user("gitops")), "ClusterRole/webhook-admin"),
        (rbac.pod_attacher, binding("a", "attacher", user("oncall")), "ClusterRole/attacher"),
        (rbac.pod_attacher, binding("e", "debugger", user("oncall")), "ClusterRole/debugger"),
        (
            rbac.default_service_account,
            binding("d", "viewer", sa("apps", "default")),
            "ServiceAccount/apps/default",
        ),
        (
            rbac.default_service_account,
            binding("g", "viewer", group("system:serviceaccounts:apps")),
            "Group/",
        ),
    ],
)
def test_each_finding_names_binding_role_and_subject(flag: Any, extra: dict[str, Any], named: str) -> None:
    exemptions = BUILT_IN if flag in EXEMPTING else None
    evaluation = rbac.evaluate(analyse(extra), "match", flag, "the test's bindings", exemptions)
    assert evaluation.finding.outcome is Outcome.FAILED
    assert len(evaluation.flagged) == 1
    grant = evaluation.flagged[0]
    for part in (grant.binding, grant.role, str(grant.subject), named):
        assert part in evaluation.finding.message


def test_a_default_binding_name_with_another_role_is_no_default() -> None:
    hijacked = binding("system:discovery", "cluster-admin", group("system:unauthenticated"), labels=BOOTSTRAP)
    grants = rbac.grants(CLUSTER_ROLES, [], [hijacked], [])
    assert rbac.evaluate(grants, "x", rbac.anonymous, "the test's bindings").finding.outcome is Outcome.FAILED


def test_role_binding_resolves_its_namespaced_role_and_is_not_cluster_wide() -> None:
    local = binding("team-admin", "ns-admin", user("erin"), namespace="team", role_kind="Role")
    grants = analyse(role_bindings=(local,))
    (grant,) = [g for g in grants if g.binding == "RoleBinding/team/team-admin"]
    assert grant.role == "Role/team/ns-admin"
    assert grant.namespace == "team"
    assert rbac.wildcard(grant) and rbac.pod_creator(grant)
    assert not rbac.secrets_reader(grant), "a namespaced grant does not read Secrets cluster-wide"
    assert "in namespace team" in str(grant)


def test_service_account_subject_takes_the_binding_namespace_when_it_names_none() -> None:
    local = binding("b", "viewer", {"kind": "ServiceAccount", "name": "default"}, namespace="apps")
    (grant,) = rbac.grants(CLUSTER_ROLES, [], [], [local])
    assert grant.subject == rbac.Subject("ServiceAccount", "default", "apps")


def test_a_missing_role_grants_nothing_and_says_so() -> None:
    (grant,) = rbac.grants([], [], [binding("b", "gone", user("frank"))], [])
    assert grant.rules == () and grant.role.endswith("(missing)")


@pytest.mark.parametrize(
    ("subject", "exempt"),
    [
        (rbac.Subject("Group", "system:masters"), True),
        (rbac.Subject("Group", "system:nodes"), True),
        (rbac.Subject("Group", "system:serviceaccounts"), False),
        (rbac.Subject("Group", "system:serviceaccounts:kube-system"), False),
        (rbac.Subject("Group", "system:authenticated"), False),
        (rbac.Subject("User", "system:kube-scheduler"), True),
        (rbac.Subject("User", "system:anonymous"), False),
        (rbac.Subject("User", "system:serviceaccount:kube-system:x"), True),
        (rbac.Subject("User", "system:serviceaccount:apps:x"), False),
        (rbac.Subject("ServiceAccount", "x", "kube-system"), True),
        (rbac.Subject("ServiceAccount", "x", "apps"), False),
        (rbac.Subject("User", "alice"), False),
    ],
)
def test_built_in_exemptions_cover_control_plane_identities_only(subject: rbac.Subject, exempt: bool) -> None:
    assert bool(BUILT_IN.identity(subject.kind, subject.name, subject.namespace)) is exempt


@pytest.mark.parametrize("flag", ESCALATION_PATHS, ids=lambda f: f.__name__)
def test_near_misses_are_no_escalation_path(flag: Any) -> None:
    """``nodes/*`` (which RBAC matches to nothing), other subresources, core-group CSR names and read verbs
    grant none of the paths."""
    (grant,) = rbac.grants(CLUSTER_ROLES, [], [binding("n", "near-misses", user("grace"))], [])
    assert not flag(grant)


@pytest.mark.parametrize(
    ("resources", "resource", "matches"),
    [
        (["nodes/proxy"], "nodes/proxy", True),
        (["*/proxy"], "nodes/proxy", True),
        (["*"], "nodes/proxy", True),
        (["nodes/*"], "nodes/proxy", False),
        (["nodes"], "nodes/proxy", False),
        (["*/proxy"], "nodes", False),
        (["*/exec"], "pods/exec", True),
    ],
)
def test_rules_match_resources_as_the_rbac_authorizer_does(
    resources: list[str], resource: str, matches: bool
) -> None:
    rule = rbac.Rule(frozenset({"get"}), frozenset({""}), frozenset(resources))
    assert rule.allows(("get",), resource) is matches
