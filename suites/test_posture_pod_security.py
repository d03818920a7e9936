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


@pytest.mark.control("WORKLOAD-PRIVILEGED")
def test_no_running_workload_is_privileged(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "are privileged", podsecurity.privileged)


@pytest.mark.control("WORKLOAD-HOST-NAMESPACES")
def test_no_running_workload_shares_a_host_namespace(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "share a host namespace", podsecurity.host_namespaces)


@pytest.mark.control("WORKLOAD-HOSTPATH")
def test_no_running_workload_mounts_a_host_path(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "mount hostPath", podsecurity.host_path)


@pytest.mark.control("WORKLOAD-CAPABILITIES")
def test_no_running_workload_adds_capabilities(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "add capabilities", podsecurity.added_capabilities)


@pytest.mark.control("WORKLOAD-CAPABILITIES-DROP-ALL")
def test_every_running_workload_drops_all_capabilities(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(
        pods_in_scope, evidence, "keep the runtime's default capabilities", podsecurity.keeps_capabilities
    )


@pytest.mark.control("WORKLOAD-RUN-AS-ROOT")
def test_no_running_workload_may_run_as_root(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "may run as root", podsecurity.runs_as_root)


@pytest.mark.control("WORKLOAD-PRIVILEGE-ESCALATION")
def test_no_running_workload_allows_privilege_escalation(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "allow privilege escalation", podsecurity.privilege_escalation)


@pytest.mark.control("WORKLOAD-SECCOMP")
def test_every_running_workload_has_a_seccomp_profile(pods_in_scope: PodScope, evidence: Evidence) -> None:
    _workloads(pods_in_scope, evidence, "run without a seccomp profile", podsecurity.no_seccomp)


@pytest.mark.control("WORKLOAD-READONLY-ROOTFS")
def test_every_running_workload_has_a_read_only_root_filesystem(
    pods_in_scope: PodScope, evidence: Evidence
) -> None:
    _workloads(pods_in_scope, evidence, "have a writable root filesystem", podsecurity.writable_root)
