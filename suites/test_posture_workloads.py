"""Posture suite, workloads: service accounts and Secrets (CIS 5.1.5, 5.1.6, 5.4.1), and resource policies
against exhaustion (ResourceQuota, LimitRange, container limits; NSA/CISA resource policies).

Namespaces in scope are all but the exempt ones (``--exemptions``; kube-system by default) and the scanner's
own probe namespaces, each named in the evidence. Secret values are
never recorded: only names, types and the annotation naming a token's ServiceAccount.
"""

from __future__ import annotations

import pytest

from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.posture import podsecurity, rbac, resources, tokens
from pytest_k8sharden.posture.objects import PlainObject, conclude_listing, plain_items
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope


@pytest.mark.control("SA-AUTOMOUNT-DEFAULT")
def test_default_service_accounts_do_not_automount_tokens(
    kube: Kube, namespace_scope: NamespaceScope, evidence: Evidence
) -> None:
    accounts = plain_items(kube, kube.core.list_service_account_for_all_namespaces)
    flagged, finding = tokens.default_accounts_automounting(accounts, namespace_scope)
    conclude_listing(evidence, "v1/serviceaccounts", flagged, finding, namespace_scope.details())


@pytest.mark.control("SA-AUTOMOUNT-PODS")
def test_pods_that_never_call_the_api_mount_no_token(
    kube: Kube, pods_in_scope: PodScope, evidence: Evidence
) -> None:
    bindings = (
        plain_items(kube, kube.rbac.list_cluster_role_binding),
        plain_items(kube, kube.rbac.list_role_binding_for_all_namespaces),
    )
    read = rbac.describe_read(*bindings)  # inconclusive on an empty read: every account would look unbound
    flagged, finding = tokens.idle_pods_mounting_tokens(pods_in_scope, rbac.grants([], [], *bindings))
    conclude_listing(
        evidence, "v1/pods", flagged, finding, {"bindings read": read, **pods_in_scope.details()}
    )


@pytest.mark.control("SA-LEGACY-TOKEN-SECRETS")
def test_no_legacy_long_lived_token_secrets_exist(kube: Kube, evidence: Evidence) -> None:
    selector = f"type={tokens.LEGACY_TOKEN_TYPE}"
    listed = kube.core.list_secret_for_all_namespaces(field_selector=selector).items or []
    metadata = [(s.type, s.metadata) for s in listed if s.metadata]  # names and annotations, never the data
    secrets = [
        {"type": kind, "metadata": {"name": m.name, "namespace": m.namespace, "annotations": m.annotations}}
        for kind, m in metadata
    ]
    searched = f"in any namespace (listed with the server-side field selector {selector})"
    conclude_listing(evidence, "v1/secrets", *tokens.legacy_token_secrets(secrets, searched))


@pytest.mark.control("SECRETS-AS-ENV")
def test_no_workload_takes_secrets_into_its_environment(pods_in_scope: PodScope, evidence: Evidence) -> None:
    flagged, finding = tokens.secrets_in_environment(pods_in_scope)
    conclude_listing(evidence, "v1/pods", flagged, finding, pods_in_scope.details())


def _namespaces(
    evidence: Evidence,
    scope: NamespaceScope,
    kind: str,
    objects: list[PlainObject],
    what: str,
    gap: resources.Gap,
) -> None:
    flagged, finding = resources.namespaces_lacking(kind, objects, scope, what, gap)
    conclude_listing(evidence, f"v1/{kind.lower()}s", flagged, finding, scope.details())


@pytest.mark.control("NAMESPACE-RESOURCE-QUOTA")
def test_every_namespace_has_a_resource_quota_for_cpu_and_memory(
    kube: Kube, namespace_scope: NamespaceScope, evidence: Evidence
) -> None:
    quotas = plain_items(kube, kube.core.list_resource_quota_for_all_namespaces)
    what = "lack a ResourceQuota bounding CPU and memory"
    _namespaces(evidence, namespace_scope, "ResourceQuota", quotas, what, resources.quota_gap)


@pytest.mark.control("NAMESPACE-LIMIT-RANGE")
def test_every_namespace_has_a_limit_range_for_containers(
    kube: Kube, namespace_scope: NamespaceScope, evidence: Evidence
) -> None:
    ranges = plain_items(kube, kube.core.list_limit_range_for_all_namespaces)
    what = "lack a LimitRange giving containers CPU and memory limits"
    _namespaces(evidence, namespace_scope, "LimitRange", ranges, what, resources.limit_range_gap)


@pytest.mark.control("WORKLOAD-RESOURCE-LIMITS")
def test_every_running_workload_has_cpu_and_memory_limits(
    pods_in_scope: PodScope, evidence: Evidence
) -> None:
    flagged, finding = podsecurity.workload_violations(
        pods_in_scope, "lack a CPU or memory limit", resources.without_limits
    )
    conclude_listing(evidence, "v1/pods", flagged, finding, pods_in_scope.details())
