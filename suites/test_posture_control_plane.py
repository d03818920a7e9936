"""Posture suite, control-plane configuration: the components' real command lines and the kubelet's config.

Command lines come from the provider's view of the running processes (the local cluster reads
/proc/<pid>/cmdline), else from kube-system mirror pods (only pods the kubelet mirrored, with the
kubernetes.io/config.mirror annotation); every instance (several API servers) is judged and the worst
verdict wins; where neither is visible each check is inconclusive.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import pytest
from kubernetes import client

from pytest_k8sharden import exposure
from pytest_k8sharden.clusters import Cluster
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.kube import Kube, KubeError
from pytest_k8sharden.posture import config
from pytest_k8sharden.posture.objects import PlainObject, object_observation
from pytest_k8sharden.probes.http import HttpProbe
from pytest_k8sharden.worstof import combine

APISERVER = "kube-apiserver"


@pytest.fixture(scope="module")
def command_lines(cluster: Cluster, cluster_pods: list[PlainObject]) -> config.CommandLines:
    """The components' flags from the provider's view of the real processes, else from mirror pods."""
    view = cluster.access.control_plane
    if view is None:
        return config.command_lines(cluster_pods, None, "")
    return config.command_lines(cluster_pods, view.command_lines(), view.source)


def _record_flags(evidence: Evidence, lines: config.CommandLines, components: tuple[str, ...]) -> None:
    for component in components:
        for instance in lines.instances.get(component, ()):
            evidence.record(
                object_observation(instance.name, f"{component} flags ({lines.source})", instance.flags)
            )


def _conclude(
    evidence: Evidence,
    lines: config.CommandLines,
    components: tuple[str, ...],
    what: str,
    rule: config.Rule,
    *effects: Finding,
) -> None:
    """Judge the components' flags with ``rule``; ``effects`` (what was knocked on) count beside them."""
    _record_flags(evidence, lines, components)
    finding = combine([config.judge_all(lines, components, what, rule), *effects], "nothing judged")
    evidence.record(object_observation(", ".join(components), finding.message))  # what was judged, and how
    evidence.conclude(finding)


@pytest.mark.control("CONFIG-APISERVER-ANONYMOUS-AUTH")
def test_api_server_restricts_anonymous_authentication(
    command_lines: config.CommandLines, cluster: Cluster, http_probe: HttpProbe, evidence: Evidence
) -> None:
    """Where --authentication-config decides (its file is out of sight), its effect is knocked on from the
    runner: the health paths may answer an anonymous client, every other path must answer 401."""
    instances = command_lines.instances.get(APISERVER, ())
    effects = []
    if any(config.anonymous_by_configuration(i.flags) for i in instances):
        server = cluster.server.rstrip("/")
        seen = [evidence.record(http_probe.get(server + path)) for path in exposure.API_PATHS]
        effects.append(exposure.anonymous_health_only(seen))
    what = "restricts anonymous requests (--anonymous-auth=false, or an authentication config, by its effect)"
    _conclude(evidence, command_lines, (APISERVER,), what, config.anonymous_auth, *effects)


@pytest.mark.control("CONFIG-APISERVER-AUTHORIZATION-MODE")
def test_api_server_authorizes_with_node_and_rbac(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(evidence, command_lines, (APISERVER,), "authorizes with Node,RBAC", config.authorization_mode)


@pytest.mark.control("CONFIG-APISERVER-AUDIT-LOG")
def test_api_server_writes_an_audit_log_with_a_policy(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(evidence, command_lines, (APISERVER,), "writes an audit log with a policy", config.audit_log)


@pytest.mark.control("CONFIG-APISERVER-ENCRYPTION-CONFIG")
def test_api_server_has_an_encryption_provider_configuration(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER,),
        "has an encryption provider configuration",
        config.encryption_config,
    )


@pytest.mark.control("CONFIG-APISERVER-TLS")
def test_api_server_serves_tls_1_2_or_newer_with_strong_cipher_suites(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER,),
        "serves TLS 1.2+ with strong cipher suites",
        config.tls_settings,
    )


@pytest.mark.control("CONFIG-PROFILING-DISABLED")
def test_control_plane_components_run_with_profiling_off(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER, "kube-controller-manager", "kube-scheduler"),
        "has profiling off",
        config.profiling_off,
    )


@pytest.mark.control("CONFIG-APISERVER-NO-STATIC-TOKENS")
def test_api_server_has_no_token_or_basic_auth_file(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence, command_lines, (APISERVER,), "has no token or basic-auth file", config.no_static_tokens
    )


@pytest.mark.control("CONFIG-APISERVER-KUBELET-TLS")
def test_api_server_authenticates_to_kubelets_and_verifies_them(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER,),
        "authenticates to kubelets and verifies them",
        config.kubelet_tls,
    )


@pytest.mark.control("CONFIG-APISERVER-SA-LOOKUP")
def test_api_server_looks_up_service_account_tokens(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER,),
        "looks up service account tokens",
        config.service_account_lookup,
    )


@pytest.mark.control("CONFIG-APISERVER-ETCD-TLS")
def test_api_server_reaches_etcd_over_tls_with_a_client_certificate(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    _conclude(
        evidence,
        command_lines,
        (APISERVER,),
        "reaches etcd over https with a client certificate, verifying etcd's CA",
        config.etcd_tls,
    )


@pytest.mark.control("CONFIG-ETCD-CLIENT-CERT-AUTH")
def test_etcd_requires_client_certificates(command_lines: config.CommandLines, evidence: Evidence) -> None:
    _conclude(
        evidence, command_lines, ("etcd",), "requires client certificates", config.etcd_client_cert_auth
    )


@pytest.mark.control("CONFIG-APISERVER-ADMISSION-PLUGINS")
def test_api_server_admits_through_node_restriction_and_pod_security(
    command_lines: config.CommandLines, evidence: Evidence
) -> None:
    """AlwaysPullImages is recorded beside the verdict as information; it never changes the verdict."""
    for instance in command_lines.instances.get(APISERVER, ()):
        evidence.record(object_observation(instance.name, config.always_pull_images(instance.flags)))
    _conclude(
        evidence, command_lines, (APISERVER,), "admits through NodeRestriction and PodSecurity",
        config.admission_plugins,
    )  # fmt: skip


@pytest.mark.control("CONFIG-KUBELET-AUTH")
def test_kubelet_configuration_refuses_anonymous_and_uses_webhook_authorization(
    kube: Kube, cluster: Cluster, evidence: Evidence
) -> None:
    if not cluster.nodes:
        raise Inconclusive("the scanner may not list nodes, or there are none")
    problems = []
    for node in cluster.nodes:
        response: Any = kube.core.connect_get_node_proxy_with_path(
            node.name, "configz", _preload_content=False
        )
        kubelet = json.loads(response.data).get("kubeletconfig") or {}  # unparsed: the raw response
        evidence.record(
            object_observation(f"Node/{node.name}", f"GET /api/v1/nodes/{node.name}/proxy/configz", kubelet)
        )
        problems += config.kubelet_configuration(node.name, kubelet)
    nodes = ", ".join(n.name for n in cluster.nodes)
    evidence.conclude(
        Finding(Outcome.FAILED, "; ".join(problems))
        if problems
        else Finding(
            Outcome.PASSED, f"kubelet /configz on {nodes}: no anonymous auth, Webhook, client CA, no 10255"
        )
    )


@pytest.mark.active
@pytest.mark.control("SECRETS-ENCRYPTED-AT-REST")
def test_secrets_are_encrypted_in_etcd(
    kube: Kube, cluster: Cluster, probe_namespace: str, evidence: Evidence
) -> None:
    view = cluster.access.control_plane
    if view is None:
        raise Inconclusive(
            "etcd is not reachable to the harness (the provider has no view of the control plane)"
        )
    canary = f"k8sharden-canary-{uuid.uuid4().hex}"
    name = "k8sharden-encryption-canary"
    kube.core.create_namespaced_secret(
        probe_namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={"canary": canary}),
    )
    key = f"/registry/secrets/{probe_namespace}/{name}"
    try:
        raw = view.etcd_get(key)
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise Inconclusive(f"etcd could not be read: {exc}") from exc
    finally:
        with contextlib.suppress(KubeError):  # the probe namespace goes with it anyway
            kube.core.delete_namespaced_secret(name, probe_namespace)
    prefix = (raw or b"")[:24].decode("ascii", errors="replace")
    evidence.record(
        object_observation(f"etcd{key}", f"raw etcd value starts {prefix!r}", {"bytes": len(raw or b"")})
    )
    evidence.conclude(config.encrypted_at_rest(raw, canary.encode(), key))
