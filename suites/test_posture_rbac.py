"""Posture suite, RBAC: who is granted what, read from every (Cluster)Role and (Cluster)RoleBinding.

Each finding names the binding, the role and the subject. Upstream's public bootstrap bindings are expected;
the checks about powerful grants leave out the exempt identities (``--exemptions``; by default system:masters,
system:nodes, other system: users and kube-system's ServiceAccounts) and list each grant they left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.exemptions import Exemptions
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.posture import rbac
from pytest_k8sharden.posture.objects import object_observation, plain_items
from pytest_k8sharden.settings import Settings


@dataclass(frozen=True)
class Grants:
    """Every (binding, role, subject) of the cluster and what was read to find them."""

    grants: list[rbac.Grant]
    read: str


@pytest.fixture(scope="module")
def grants(kube: Kube) -> Grants:
    """Every grant of the cluster (a Forbidden, partial or empty read makes the checks inconclusive)."""
    roles = (
        plain_items(kube, kube.rbac.list_cluster_role),
        plain_items(kube, kube.rbac.list_role_for_all_namespaces),
    )
    bindings = (
        plain_items(kube, kube.rbac.list_cluster_role_binding),
        plain_items(kube, kube.rbac.list_role_binding_for_all_namespaces),
    )
    return Grants(rbac.grants(*roles, *bindings), rbac.describe_read(*bindings, *roles))


def _conclude(
    evidence: Evidence,
    read: Grants,
    what: str,
    flag: Callable[[rbac.Grant], bool],
    exemptions: Exemptions | None = None,
) -> None:
    grants = read.grants
    evaluation = rbac.evaluate(grants, what, flag, read.read, exemptions)
    evidence.record(
        object_observation(
            "rbac.authorization.k8s.io/v1",
            f"read {len(grants)} grants from {read.read}; {len(evaluation.flagged)} {what}",
            {"grants": len(grants), "bindings": len({g.binding for g in grants})},
        )
    )
    if exemptions is not None:
        left_out = {str(grant): why for grant, why in evaluation.exempted}
        evidence.record(
            object_observation(
                f"exemptions ({exemptions.source})",
                f"{len(left_out)} grant(s) left out because their subject is exempt",
                {"exempt grants": left_out},
            )
        )
    for grant in evaluation.flagged:
        details = {"binding": grant.binding, "role": grant.role, "subject": str(grant.subject)}
        evidence.record(object_observation(grant.binding, str(grant), details | {"scope": grant.namespace}))
    evidence.conclude(evaluation.finding)


@pytest.mark.control("RBAC-ANONYMOUS-BINDINGS")
def test_nothing_is_granted_to_anonymous_or_unauthenticated(grants: Grants, evidence: Evidence) -> None:
    _conclude(evidence, grants, "give system:anonymous or system:unauthenticated access", rbac.anonymous)


@pytest.mark.control("RBAC-AUTHENTICATED-BINDINGS")
def test_authenticated_users_hold_only_the_defaults(grants: Grants, evidence: Evidence) -> None:
    _conclude(evidence, grants, "give every authenticated client more than the defaults", rbac.authenticated)


@pytest.mark.control("RBAC-CLUSTER-ADMIN")
def test_cluster_admin_is_bound_only_to_system_components(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "bind cluster-admin outside the exempt identities",
        rbac.cluster_admin,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-WILDCARDS")
def test_no_role_with_wildcards_is_bound_outside_system_components(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "bind wildcard verbs or resources outside the exempt identities",
        rbac.wildcard,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-SECRETS-READERS")
def test_only_system_components_read_secrets_cluster_wide(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt read Secrets cluster-wide",
        rbac.secrets_reader,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-POD-CREATE-EXEC")
def test_only_system_components_create_pods_or_exec(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt create pods or exec into them",
        rbac.pod_creator,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-ESCALATE-BIND-IMPERSONATE")
def test_only_system_components_escalate_bind_or_impersonate(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "give identities that are not exempt escalate, bind or impersonate",
        rbac.escalator,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-DEFAULT-SERVICEACCOUNTS")
def test_default_service_accounts_have_no_bindings(grants: Grants, evidence: Evidence) -> None:
    _conclude(evidence, grants, "bind a role to default ServiceAccounts", rbac.default_service_account)


@pytest.mark.control("RBAC-NODES-PROXY")
def test_only_system_components_reach_the_kubelet_through_nodes_proxy(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "give identities that are not exempt access to nodes/proxy (the kubelet API)",
        rbac.node_proxy,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-SA-TOKEN-CREATE")
def test_only_system_components_create_service_account_tokens(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt create ServiceAccount tokens",
        rbac.token_creator,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-CSR-APPROVE")
def test_only_system_components_approve_or_sign_certificate_requests(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt approve certificate signing requests or sign for a signer",
        rbac.csr_approver,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-WEBHOOK-CONFIG-WRITE")
def test_only_system_components_change_admission_webhooks(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt create, change or delete admission webhook configurations",
        rbac.webhook_writer,
        k8sharden_settings.exemptions,
    )


@pytest.mark.control("RBAC-POD-ATTACH-EPHEMERAL")
def test_only_system_components_attach_to_pods_or_add_ephemeral_containers(
    grants: Grants, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        grants,
        "let identities that are not exempt attach to pods or add ephemeral containers",
        rbac.pod_attacher,
        k8sharden_settings.exemptions,
    )
