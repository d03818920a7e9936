"""Service account token, Secret, dashboard and image analyses on object fixtures."""

from __future__ import annotations

from typing import Any

from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.posture import dashboard, rbac, tokens
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope, namespaces_in_scope


def meta(name: str, namespace: str = "apps", **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, **extra}


NAMESPACES = [{"metadata": {"name": n}} for n in ("apps", "default", "kube-system")]
TOKEN_VOLUME = {
    "name": "kube-api-access-x",
    "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]},
}


def _scoped(*pods: dict[str, Any]) -> PodScope:
    return PodScope(pods, NamespaceScope((), {}, (), 0), len(pods))


def test_default_accounts_that_automount_are_named_outside_kube_system() -> None:
    accounts: list[dict[str, Any]] = [
        {"metadata": meta("default")},
        {"metadata": meta("default", "default"), "automountServiceAccountToken": False},
        {"metadata": meta("default", "kube-system")},
        {"metadata": meta("builder")},
    ]
    flagged, finding = tokens.default_accounts_automounting(
        accounts, namespaces_in_scope(NAMESPACES, BUILT_IN)
    )
    assert flagged == ["ServiceAccount/apps/default automounts its token"]
    assert finding.outcome is Outcome.FAILED
    accounts[0]["automountServiceAccountToken"] = False
    assert (
        tokens.default_accounts_automounting(accounts, namespaces_in_scope(NAMESPACES, BUILT_IN))[1].outcome
        is Outcome.PASSED
    )


def test_pods_of_unbound_accounts_mounting_a_token_are_named() -> None:
    pods = [
        {"metadata": meta("idle"), "spec": {"volumes": [TOKEN_VOLUME]}},
        {"metadata": meta("operator"), "spec": {"serviceAccountName": "operator", "volumes": [TOKEN_VOLUME]}},
        {"metadata": meta("quiet"), "spec": {"volumes": []}},
    ]
    binding = {
        "metadata": meta("b"),
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "operator"}],
    }
    bound = rbac.grants([], [], [], [binding])
    flagged, finding = tokens.idle_pods_mounting_tokens(_scoped(*pods), bound)
    assert flagged == ["pod apps/idle mounts the token of unbound default"]
    assert finding.outcome is Outcome.FAILED


def test_legacy_token_secrets_are_named_with_their_account() -> None:
    secrets = [
        {"type": tokens.LEGACY_TOKEN_TYPE,
         "metadata": meta("old", annotations={"kubernetes.io/service-account.name": "ci"})},
        {"type": "Opaque", "metadata": meta("app")},
    ]  # fmt: skip
    flagged, finding = tokens.legacy_token_secrets(secrets, "in any namespace")
    assert flagged == ["Secret/apps/old holds a long-lived token of ci"]
    assert "1 of 2 Secrets in any namespace are legacy" in finding.message


def test_secrets_in_env_and_env_from_are_named_per_container() -> None:
    container = {
        "name": "c",
        "env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}},
            {"name": "X", "value": "1"},
        ],
        "envFrom": [{"secretRef": {"name": "all"}}, {"configMapRef": {"name": "cm"}}],
    }
    flagged, _ = tokens.secrets_in_environment(
        _scoped({"metadata": meta("p"), "spec": {"containers": [container]}})
    )
    assert flagged == ["pod apps/p container c: PW <- Secret db, all of Secret all"]
    clean = {
        "metadata": meta("q"),
        "spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}]},
    }
    assert tokens.secrets_in_environment(_scoped(clean))[1].outcome is Outcome.PASSED


def deployment(name: str, labels: dict[str, str], image: str, args: list[str]) -> dict[str, Any]:
    return {
        "metadata": meta(name),
        "spec": {"template": {"metadata": {"labels": labels},
                              "spec": {"containers": [{"name": "c", "image": image, "args": args}]}}},
    }  # fmt: skip


DEPLOYMENTS = [
    deployment("kubernetes-dashboard", {"k8s-app": "kubernetes-dashboard"}, "kubernetesui/dashboard:v2.7.0",
               ["--enable-skip-login", "--enable-insecure-login=false"]),
    deployment("portal", {"app": "portal"}, "example/portal:1", ["--enable-insecure-login"]),
    deployment("web", {"app": "web"}, "nginx:1.27", []),
]  # fmt: skip


def test_guis_are_found_by_name_image_or_login_bypass_arguments() -> None:
    guis = dashboard.find_guis(DEPLOYMENTS)
    assert [g.name for g in guis] == ["Deployment/apps/kubernetes-dashboard", "Deployment/apps/portal"]
    flagged, finding = dashboard.login_bypass(guis, dashboard.examined(guis, len(DEPLOYMENTS)))
    assert flagged == [
        "Deployment/apps/kubernetes-dashboard runs with --enable-skip-login",
        "Deployment/apps/portal runs with --enable-insecure-login",
    ]
    assert finding.outcome is Outcome.FAILED


def service(name: str, kind: str, selector: dict[str, str]) -> dict[str, Any]:
    return {"metadata": meta(name), "spec": {"type": kind, "selector": selector}}


def test_exposure_by_node_port_load_balancer_or_ingress() -> None:
    guis = dashboard.find_guis(DEPLOYMENTS)
    services = [
        service("dash", "NodePort", {"k8s-app": "kubernetes-dashboard"}),
        service("portal", "ClusterIP", {"app": "portal"}),
        service("web", "LoadBalancer", {"app": "web"}),
    ]
    ingress = {"metadata": meta("in"), "spec": {"rules": [{"http": {"paths": [
        {"backend": {"service": {"name": "portal"}}}]}}]}}  # fmt: skip
    searched = dashboard.examined(guis, len(DEPLOYMENTS))
    flagged, finding = dashboard.exposure(guis, services, [ingress], searched)
    assert flagged == [
        "Deployment/apps/kubernetes-dashboard is exposed by Service/apps/dash of type NodePort",
        "Deployment/apps/portal is exposed through an Ingress to Service/apps/portal",
    ]
    assert finding.outcome is Outcome.FAILED
    assert dashboard.exposure(guis, services[1:], [], searched)[1].outcome is Outcome.PASSED
