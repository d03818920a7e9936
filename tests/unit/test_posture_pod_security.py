"""Pod security analysis on object fixtures: namespace labels, restricted violations, admission verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.ownership import ours
from pytest_k8sharden.posture import podsecurity as ps
from pytest_k8sharden.posture import scope

RESTRICTED_CONTAINER = {
    "name": "app",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
    },
}
RESTRICTED_POD_SPEC = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [RESTRICTED_CONTAINER],
}


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}}


def pod(spec: dict[str, Any], name: str = "web", ns: str = "apps", phase: str = "Running") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "spec": spec, "status": {"phase": phase}}


def _scoped(*pods: dict[str, Any]) -> scope.PodScope:
    return scope.PodScope(pods, scope.NamespaceScope((namespace("apps"),), {}, (), 1), len(pods))


def test_namespaces_without_enforcement_or_enforcing_privileged_are_named() -> None:
    namespaces = [
        namespace("kube-system"),
        namespace("default", **{ps.ENFORCE_LABEL: "restricted"}),
        namespace("k8sh-probe-1", **ours()),  # this run's own probe namespace
        namespace("good", **{ps.ENFORCE_LABEL: "restricted"}),
        namespace("base", **{ps.ENFORCE_LABEL: "baseline"}),
        namespace("bare"),
        namespace("open", **{ps.ENFORCE_LABEL: "privileged"}),
    ]
    flagged, finding = ps.namespace_enforcement(scope.namespaces_in_scope(namespaces, BUILT_IN))
    assert finding.outcome is Outcome.FAILED
    assert flagged == [
        f"Namespace/bare has no {ps.ENFORCE_LABEL} label",
        "Namespace/open enforces 'privileged'",
    ]
    assert "2 of 5 namespaces (7 namespaces read; exempt: kube-system; this run's own: k8sh-probe-1)" in (
        finding.message
    ), "a failure names every namespace left out"


def test_namespaces_all_enforcing_pass() -> None:
    listed = [
        namespace("a", **{ps.ENFORCE_LABEL: "baseline"}),
        namespace("default", **{ps.ENFORCE_LABEL: "restricted"}),
        namespace("kube-system"),
    ]
    _, finding = ps.namespace_enforcement(scope.namespaces_in_scope(listed, BUILT_IN))
    assert finding.outcome is Outcome.PASSED
    assert finding.message.startswith(
        "all 2 namespaces in scope enforce baseline or restricted (3 namespaces read"
    )


CHECKS = [
    ps.privileged, ps.host_namespaces, ps.host_path, ps.added_capabilities, ps.keeps_capabilities,
    ps.runs_as_root, ps.privilege_escalation, ps.no_seccomp, ps.writable_root,
]  # fmt: skip


@pytest.mark.parametrize("violation", CHECKS, ids=lambda f: f.__name__)
def test_a_restricted_pod_passes_every_check(violation: Any) -> None:
    flagged, finding = ps.workload_violations(_scoped(pod(RESTRICTED_POD_SPEC)), "violate", violation)
    assert finding.outcome is Outcome.PASSED and not flagged, finding.message


INSECURE_SPEC = {
    "hostPID": True,
    "hostNetwork": True,
    "volumes": [{"name": "etc", "hostPath": {"path": "/etc"}}, {"name": "tmp", "emptyDir": {}}],
    "containers": [
        {
            "name": "agent",
            "securityContext": {"privileged": True, "runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}},
            "volumeMounts": [{"name": "etc", "mountPath": "/host"}, {"name": "tmp", "mountPath": "/tmp"}],
        }
    ],
}


@pytest.mark.parametrize(
    ("violation", "reason"),
    [
        (ps.privileged, "privileged: true"),
        (ps.host_namespaces, "hostPID: true, hostNetwork: true"),
        (ps.host_path, "mounts hostPath etc (/etc)"),
        (ps.added_capabilities, "adds capabilities SYS_ADMIN"),
        (ps.keeps_capabilities, "drops no capabilities (drop: [ALL] missing)"),
        (ps.runs_as_root, "runAsUser: 0"),
        (ps.privilege_escalation, "allowPrivilegeEscalation is not false"),
        (ps.no_seccomp, "seccompProfile is not set"),
        (ps.writable_root, "readOnlyRootFilesystem is not true"),
    ],
)
def test_each_violation_names_pod_container_and_reason(violation: Any, reason: str) -> None:
    flagged, finding = ps.workload_violations(_scoped(pod(INSECURE_SPEC)), "violate", violation)
    assert flagged == [f"pod apps/web container agent: {reason}"]
    assert finding.outcome is Outcome.FAILED and flagged[0] in finding.message


@pytest.mark.parametrize(
    ("drop", "reason"),
    [
        (["NET_RAW", "SYS_ADMIN"], "drops NET_RAW, SYS_ADMIN, not ALL"),
        (["all"], "drops all, not ALL"),  # the restricted level names ALL in capitals only
        (["ALL"], None),
        (["NET_RAW", "ALL"], None),
    ],
)
def test_only_a_drop_naming_all_drops_every_capability(drop: list[str], reason: str | None) -> None:
    spec = {"containers": [{"name": "app", "securityContext": {"capabilities": {"drop": drop}}}]}
    flagged, _ = ps.workload_violations(_scoped(pod(spec)), "x", ps.keeps_capabilities)
    assert flagged == ([f"pod apps/web container app: {reason}"] if reason else [])


def test_container_settings_override_the_pod_and_init_containers_count() -> None:
    spec = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "init", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}],
        "containers": [{"name": "app", "securityContext": {"runAsNonRoot": False}}],
    }
    assert ps.workload_violations(_scoped(pod(spec)), "x", ps.no_seccomp)[0] == [
        "pod apps/web container init: seccompProfile is Unconfined"
    ]
    assert ps.workload_violations(_scoped(pod(spec)), "x", ps.runs_as_root)[0] == [
        "pod apps/web container app: runAsNonRoot is not true"
    ]


def test_only_unfinished_pods_in_scoped_namespaces_are_running_workloads() -> None:
    namespaces = [namespace("apps"), namespace("default"), namespace("kube-system")]
    pods = [
        pod({}, "live"),
        pod({}, "done", phase="Succeeded"),
        pod({}, "proxy", ns="kube-system"),
        pod({}, "elsewhere", ns="gone"),
    ]
    running = scope.running_pods(pods, scope.namespaces_in_scope(namespaces, BUILT_IN))
    assert [p["metadata"]["name"] for p in running.running] == ["live"]
    assert running.where().startswith("in 1 running pods in 1 of the 2 namespaces in scope (4 pods read;")


PSA_REFUSAL = (
    'pods "p" is forbidden: violates PodSecurity "restricted:latest": privileged (container "c" must not set '
    "securityContext.privileged=true)"
)


VAP_REFUSAL = (
    "pods \"k8sharden-privileged-probe\" is forbidden: ValidatingAdmissionPolicy 'no-privileged' with "
    "binding 'no-privileged-probes' denied request: failed expression: object.spec.containers.all(c, "
    "!has(c.securityContext) || !has(c.securityContext.privileged) || !c.securityContext.privileged)"
)
"""The API server's words for a ValidatingAdmissionPolicy's denial (apiserver validating/dispatcher.go)."""
NO_PRIVILEGED = ("no-privileged",)
FAILED, PASSED, INCONCLUSIVE = Outcome.FAILED, Outcome.PASSED, Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("accepted", "status", "message", "policies", "outcome"),
    [
        (True, 201, "admitted", (), FAILED),
        (True, 201, "admitted", NO_PRIVILEGED, FAILED),
        (False, 403, PSA_REFUSAL, (), PASSED),
        (False, 403, PSA_REFUSAL, NO_PRIVILEGED, PASSED),
        (False, 403, 'pods is forbidden: User "x" cannot create resource "pods"', (), INCONCLUSIVE),
        (False, 500, "etcd timeout", (), INCONCLUSIVE),
        # Refusals that are not Pod Security: main passed each of these.
        (False, 403, 'pods "p" is forbidden: exceeded quota: compute, requested: pods=1', (), INCONCLUSIVE),
        (False, 400, 'admission webhook "x.example.com" denied the request: unsigned', (), INCONCLUSIVE),
        (False, 422, 'Pod "p" is invalid: spec.containers[0].image: Required value', (), INCONCLUSIVE),
        (False, 422, "violates PodSecurity in a webhook's own words", (), INCONCLUSIVE),
        # A webhook quoting Pod Security (with the code it chose): the server's words open otherwise.
        (False, 403, f'admission webhook "w" denied the request: {PSA_REFUSAL}', (), INCONCLUSIVE),
        # A ValidatingAdmissionPolicy counts only when configured as the admission control, by name.
        (False, 422, VAP_REFUSAL, (), INCONCLUSIVE),
        (False, 422, VAP_REFUSAL, ("another-policy",), INCONCLUSIVE),
        (False, 422, VAP_REFUSAL, NO_PRIVILEGED, PASSED),
        (False, 403, VAP_REFUSAL, ("another-policy", "no-privileged"), PASSED),  # reason: Forbidden
        (False, 500, VAP_REFUSAL, NO_PRIVILEGED, INCONCLUSIVE),
        (False, 422, "pods \"p\" is forbidden: policy binding 'b' denied request", ("b",), INCONCLUSIVE),
        (False, 403, f'admission webhook "w" denied the request: {VAP_REFUSAL}', NO_PRIVILEGED, INCONCLUSIVE),
    ],
)  # fmt: skip
def test_admission_verdict(
    accepted: bool, status: int, message: str, policies: tuple[str, ...], outcome: Outcome
) -> None:
    finding = ps.admission_verdict(accepted, status, message, policies)
    assert finding.outcome is outcome, finding.message
    if outcome is not Outcome.FAILED:
        assert message in finding.message, "the server's message is kept"
    if outcome is Outcome.PASSED:
        refused_by = (
            "Pod Security" if "PodSecurity" in message else "ValidatingAdmissionPolicy 'no-privileged'"
        )
        assert finding.message.startswith(refused_by), "the pass names what refused"
