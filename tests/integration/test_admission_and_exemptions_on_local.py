"""The configured admission control and the built-in exemptions, on the insecure local cluster.

Insecure runs without the PodSecurity admission plugin. A ValidatingAdmissionPolicy (GA since Kubernetes
1.30) bound to the scanner's restricted probe namespaces refuses privileged pods there: its refusal passes
ADMISSION-REJECTS-PRIVILEGED only when --admission-policies names it, and is inconclusive, with the API
server's message naming the policy, when it does not. An --exemptions file that leaves kube-system out of
its namespaces puts kube-system back into PSA-ENFORCE-LABELS, and the built-in run names it as exempt.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from local_clusters import Running, run_shipped_suites

from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.fixtures import PROBE_LABEL, RESTRICTED_LABEL
from pytest_k8sharden.kube import Kube, KubeApiError, KubeNotFound
from pytest_k8sharden.ownership import ours

pytestmark = pytest.mark.cluster

POLICY = f"k8sharden-test-no-privileged-{uuid.uuid4().hex[:6]}"
BINDING = f"{POLICY}-probes"
NOT_PRIVILEGED = (
    "object.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged) || "
    "!c.securityContext.privileged)"
)
PROBE_NAMESPACES = {PROBE_LABEL: "true", RESTRICTED_LABEL: "restricted"}
"""The labels of the restricted namespace the admission check creates (and of this test's own)."""
ADMISSION_CHECK = "-k", "test_admission_rejects_a_privileged_pod_where_restricted_is_enforced"


def _privileged_pod() -> client.V1Pod:
    container = client.V1Container(
        name="c", image="registry.invalid/none", security_context=client.V1SecurityContext(privileged=True)
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="probe"), spec=client.V1PodSpec(containers=[container])
    )


def _refusal(kube: Kube, namespace: str) -> KubeApiError | None:
    """The API server's refusal of a privileged pod's dry run in ``namespace``, or None when admitted."""
    try:
        kube.core.create_namespaced_pod(namespace, _privileged_pod(), dry_run="All")
    except KubeApiError as exc:
        return exc
    return None


@pytest.fixture
def privileged_pods_denied_by_policy(local_cluster: Callable[[str], Running]) -> Iterator[str]:
    """A ValidatingAdmissionPolicy and binding refusing privileged pods in restricted probe namespaces,
    in force (seen refusing in a namespace of this test's own) until the test ends; its refusal message."""
    kube = local_cluster("insecure").kube
    admission = kube.api(client.AdmissionregistrationV1Api)
    namespace = f"k8sh-vap-{uuid.uuid4().hex[:8]}"
    policy: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": POLICY, "labels": ours()},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "validations": [
                {"expression": NOT_PRIVILEGED, "message": "privileged containers are not allowed"}
            ],
        },
    }
    binding: dict[str, Any] = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": BINDING, "labels": ours()},
        "spec": {
            "policyName": POLICY,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": PROBE_NAMESPACES}},
        },
    }
    try:
        kube.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace, labels=ours(PROBE_NAMESPACES)))
        )
        assert _refusal(kube, namespace) is None, "insecure must admit a privileged pod without the policy"
        admission.create_validating_admission_policy(
            client.V1ValidatingAdmissionPolicy.model_validate(policy)
        )
        admission.create_validating_admission_policy_binding(
            client.V1ValidatingAdmissionPolicyBinding.model_validate(binding)
        )
        deadline = time.monotonic() + 60
        while (refused := _refusal(kube, namespace)) is None and time.monotonic() < deadline:
            time.sleep(1)
        assert refused is not None, "the policy never came into force within 60 s"
        yield refused.message
    finally:
        for delete, name in (
            (admission.delete_validating_admission_policy_binding, BINDING),
            (admission.delete_validating_admission_policy, POLICY),
            (kube.core.delete_namespace, namespace),
        ):
            with contextlib.suppress(KubeNotFound):
                delete(name)


def _result(directory: Path, check: str) -> dict[str, Any]:
    results = json.loads((directory / "evidence.json").read_text())["results"]
    (found,) = [r for r in results if r["check"] == check]
    return dict(found)


def test_a_validating_admission_policy_counts_only_when_configured(
    privileged_pods_denied_by_policy: str, tmp_path: Path
) -> None:
    refusal = privileged_pods_denied_by_policy
    assert f"is forbidden: ValidatingAdmissionPolicy '{POLICY}' with binding '{BINDING}' denied request" in (
        refusal
    ), refusal
    outcomes = {}
    for name, options in {
        "unconfigured": (),
        "another": ("--admission-policies=some-other-policy",),
        "configured": (f"--admission-policies=some-other-policy,{POLICY}",),
    }.items():
        directory = tmp_path / name
        directory.mkdir()
        done = run_shipped_suites("insecure", directory, *ADMISSION_CHECK, *options, timeout=300)
        assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
        result = _result(directory, "ADMISSION-REJECTS-PRIVILEGED")
        outcomes[name] = result["outcome"]
        assert f"ValidatingAdmissionPolicy '{POLICY}'" in result["message"], result["message"]
        assert "privileged containers are not allowed" in result["message"], "the server's message is kept"
    assert outcomes == {"unconfigured": "inconclusive", "another": "inconclusive", "configured": "passed"}


def test_exempt_namespaces_are_named_and_a_file_replaces_them(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    local_cluster("insecure")  # the session's cluster, taken down at its end unless it was already up
    own = tmp_path / "exemptions.yaml"
    own.write_text("namespaces:\n  kube-public: nothing runs there\n")
    messages = {}
    for name, options in {"built-in": (), "file": (f"--exemptions={own}",)}.items():
        directory = tmp_path / name
        directory.mkdir()
        done = run_shipped_suites(
            "insecure", directory, "-k", "test_every_namespace_enforces_a_pod_security_level", *options
        )
        assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
        result = _result(directory, "PSA-ENFORCE-LABELS")
        assert result["outcome"] == "failed", result["message"]
        messages[name] = result["message"]
        details = [o["details"] for o in result["evidence"] if "exempt namespaces" in o.get("details", {})]
        exempt = BUILT_IN.namespaces if name == "built-in" else {"kube-public": "nothing runs there"}
        assert [d["exempt namespaces"] for d in details] == [exempt], result["evidence"]
    assert (
        "exempt: kube-system" in messages["built-in"] and "Namespace/kube-system" not in messages["built-in"]
    )
    assert "exempt: kube-public" in messages["file"] and "Namespace/kube-system" in messages["file"]
