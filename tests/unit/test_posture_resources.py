"""Resource policies on object fixtures: quotas and limit ranges per namespace, container limits."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.posture import podsecurity, resources, scope


def namespace(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {}}}


def quota(ns: str, name: str, hard: dict[str, str], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"hard": hard, **spec}}


def limit_range(ns: str, name: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"limits": list(items)}}


NAMESPACES = scope.namespaces_in_scope(
    [namespace("default"), namespace("kube-system"), namespace("apps"), namespace("team")], BUILT_IN
)
COMPUTE = {"limits.cpu": "4", "requests.memory": "4Gi"}


@pytest.mark.parametrize(
    ("quotas", "gap"),
    [
        ([], "has no ResourceQuota"),
        ([quota("a", "q", {"cpu": "2", "memory": "1Gi"})], None),
        ([quota("a", "cpu", {"limits.cpu": "2"}), quota("a", "mem", {"requests.memory": "1Gi"})], None),
        (
            [quota("a", "objects", {"pods": "10"})],
            "its ResourceQuota(s) objects bound no CPU and no memory for every pod",
        ),
        (
            [quota("a", "q", {"cpu": "2"}), quota("a", "be", {"memory": "1Gi"}, scopes=["BestEffort"])],
            "its ResourceQuota(s) q, be bound no memory for every pod (scoped, counting only some pods: be)",
        ),
        (
            [
                quota(
                    "a",
                    "prio",
                    COMPUTE,
                    scopeSelector={
                        "matchExpressions": [{"operator": "Exists", "scopeName": "PriorityClass"}]
                    },
                )
            ],
            "its ResourceQuota(s) prio bound no CPU and no memory for every pod "
            "(scoped, counting only some pods: prio)",
        ),
    ],
)
def test_a_quota_bounds_a_namespace_only_when_unscoped_quotas_name_cpu_and_memory(
    quotas: list[dict[str, Any]], gap: str | None
) -> None:
    assert resources.quota_gap(quotas) == gap


CONTAINER_DEFAULTS = {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}}


@pytest.mark.parametrize(
    ("ranges", "gap"),
    [
        ([], "has no LimitRange"),
        ([limit_range("a", "lr", CONTAINER_DEFAULTS)], None),
        ([limit_range("a", "lr", {"type": "Container", "max": {"cpu": "1", "memory": "1Gi"}})], None),
        (
            [
                limit_range("a", "c", {"type": "Container", "default": {"cpu": "1"}}),
                limit_range("a", "m", {"type": "Container", "max": {"memory": "1Gi"}}),
            ],
            None,
        ),
        (
            [limit_range("a", "pod", {"type": "Pod", "max": {"cpu": "1", "memory": "1Gi"}})],
            "its LimitRange(s) pod give containers no default or maximum cpu or memory limit",
        ),
        (
            [
                limit_range(
                    "a",
                    "req",
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "1", "memory": "1Gi"},
                        "default": {"cpu": "1"},
                    },
                )
            ],
            "its LimitRange(s) req give containers no default or maximum memory limit",
        ),
    ],
)
def test_a_limit_range_needs_a_container_default_or_maximum_for_cpu_and_memory(
    ranges: list[dict[str, Any]], gap: str | None
) -> None:
    assert resources.limit_range_gap(ranges) == gap


def test_each_namespace_in_scope_is_named_with_its_gap_and_a_pass_says_what_it_read() -> None:
    quotas = [quota("apps", "q", COMPUTE), quota("kube-system", "q", COMPUTE)]
    flagged, finding = resources.namespaces_lacking(
        "ResourceQuota", quotas, NAMESPACES, "lack one", resources.quota_gap
    )
    assert flagged == ["Namespace/default: has no ResourceQuota", "Namespace/team: has no ResourceQuota"]
    assert finding.outcome is Outcome.FAILED
    assert (
        "2 of 3 namespaces in scope (2 ResourceQuotas and 4 namespaces read; exempt: kube-system)"
        in finding.message
    )
    everywhere = [quota(ns, "q", COMPUTE) for ns in ("default", "apps", "team")]
    flagged, finding = resources.namespaces_lacking(
        "ResourceQuota", everywhere, NAMESPACES, "lack one", resources.quota_gap
    )
    assert (flagged, finding.outcome) == ([], Outcome.PASSED)
    assert finding.message == (
        "none of 3 namespaces in scope (3 ResourceQuotas and 4 namespaces read; exempt: kube-system) lack one"
    )


def _pod(spec: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "apps"}, "spec": spec, "status": {"phase": "Running"}}


LIMITED = {"limits": {"cpu": "1", "memory": "1Gi"}}


@pytest.mark.parametrize(
    ("spec", "flagged"),
    [
        ({"containers": [{"name": "app", "resources": LIMITED}]}, []),
        (
            {"containers": [{"name": "app", "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]},
            ["app: sets no cpu and no memory limit"],
        ),
        (
            {"containers": [{"name": "app", "resources": {"limits": {"cpu": "1"}}}]},
            ["app: sets no memory limit"],
        ),
        (
            {"initContainers": [{"name": "init"}], "containers": [{"name": "app", "resources": LIMITED}]},
            ["init: sets no cpu and no memory limit"],
        ),
        # pod-level resources bound every container of the pod
        ({"resources": LIMITED, "containers": [{"name": "app"}]}, []),
        # an ephemeral container may set no resources: the pod's cgroup bounds it
        (
            {
                "containers": [{"name": "app", "resources": LIMITED}],
                "ephemeralContainers": [{"name": "debug"}],
            },
            [],
        ),
    ],
)
def test_every_container_needs_a_cpu_and_a_memory_limit(spec: dict[str, Any], flagged: list[str]) -> None:
    pods = scope.running_pods([_pod(spec)], NAMESPACES)
    found, finding = podsecurity.workload_violations(pods, "lack a limit", resources.without_limits)
    assert found == [f"pod apps/web container {line}" for line in flagged]
    assert finding.outcome is (Outcome.FAILED if flagged else Outcome.PASSED)
