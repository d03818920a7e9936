"""Posture suite, pod security: Pod Security Admission labels, running pods, and admission probed for real.

Namespaces in scope (all but the exempt ones, kube-system by default, and the scanner's own) must enforce
baseline or restricted; running pods there are held to the
restricted level, one check per control; a privileged pod is sent with a server-side dry run (nothing is
persisted) into a fresh namespace enforcing restricted and must be rejected by Pod Security or by a
ValidatingAdmissionPolicy named by --admission-policies.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from kubernetes import client

from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.kube import Kube, KubeApiError
from pytest_k8sharden.posture import podsecurity
from pytest_k8sharden.posture.objects import conclude_listing, object_observation
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope
from pytest_k8sharden.settings import Settings

Violation = Callable[[podsecurity.Container], "str | None"]


@pytest.mark.control("PSA-ENFORCE-LABELS")
def test_every_namespace_enforces_a_pod_security_level(
    namespace_scope: NamespaceScope, evidence: Evidence
) -> None:
    flagged, finding = podsecurity.namespace_enforcement(namespace_scope)
    conclude_listing(evidence, "v1/namespaces", flagged, finding, namespace_scope.details())


@pytest.mark.active
@pytest.mark.control("ADMISSION-REJECTS-PRIVILEGED")
def test_admission_rejects_a_privileged_pod_where_restricted_is_enforced(
    kube: Kube, restricted_namespace: str, probe_image: str, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="k8sharden-privileged-probe"),
        spec=client.V1PodSpec(
            containers=[
                client.V1Container(
                    name="c", image=probe_image, security_context=client.V1SecurityContext(privileged=True)
                )
            ]
        ),
    )
    target = f"Pod/{restricted_namespace}/k8sharden-privileged-probe"
    try:
        kube.core.create_namespaced_pod(restricted_namespace, pod, dry_run="All")
    except KubeApiError as exc:
        policies = k8sharden_settings.admission_policies
        seen, finding = (
            f"{exc.status}",
            podsecurity.admission_verdict(False, exc.status, exc.message, policies),
        )
        details = {"message": exc.message}
    else:
        seen, finding, details = "admitted", podsecurity.admission_verdict(True, 201, "admitted"), {}
    evidence.record(
        object_observation(target, f"dry-run create -> {seen}: {finding.message}", details, "dry-run")
    )
    evidence.conclude(finding)


def _workloads(scope: PodScope, evidence: Evidence, what: str, violation: Violation) -> None:
    flagged, finding = podsecurity.workload_violations(scope, what, violation)
    conclude_listing(evidence, "v1/pods", flagged, finding, scope.details())


@pytest.mark.parametrize(
    ("what", "violation"),
    [
        pytest.param(
            "are privileged", podsecurity.privileged, marks=pytest.mark.control("WORKLOAD-PRIVILEGED")
        ),
        pytest.param(
            "share a host namespace",
            podsecurity.host_namespaces,
            marks=pytest.mark.control("WORKLOAD-HOST-NAMESPACES"),
        ),
        pytest.param("mount hostPath", podsecurity.host_path, marks=pytest.mark.control("WORKLOAD-HOSTPATH")),
        pytest.param(
            "add capabilities",
            podsecurity.added_capabilities,
            marks=pytest.mark.control("WORKLOAD-CAPABILITIES"),
        ),
        pytest.param(
            "may run as root", podsecurity.runs_as_root, marks=pytest.mark.control("WORKLOAD-RUN-AS-ROOT")
        ),
        pytest.param(
            "allow privilege escalation",
            podsecurity.privilege_escalation,
            marks=pytest.mark.control("WORKLOAD-PRIVILEGE-ESCALATION"),
        ),
        pytest.param(
            "run without a seccomp profile",
            podsecurity.no_seccomp,
            marks=pytest.mark.control("WORKLOAD-SECCOMP"),
        ),
        pytest.param(
            "have a writable root filesystem",
            podsecurity.writable_root,
            marks=pytest.mark.control("WORKLOAD-READONLY-ROOTFS"),
        ),
    ],
)
def test_running_workloads_meet_the_restricted_level(
    pods_in_scope: PodScope, evidence: Evidence, what: str, violation: Violation
) -> None:
    _workloads(pods_in_scope, evidence, what, violation)
