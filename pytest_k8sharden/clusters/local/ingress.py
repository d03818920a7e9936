"""The local cluster's ingress controller: Traefik v3 in the node's network namespace, set by the profile.

Traefik listens on the node address (:80 plain, :443 TLS), watches Ingresses through its own client
certificate (user ``k8sharden:traefik``, bound to a ClusterRole of what its Ingress provider reads), and
publishes the node address into every Ingress's status, where the checks find it. The profile's
``ingress`` settings become Traefik's static configuration (entry points, HTTP->HTTPS redirection) and
its file-provider configuration (the default TLS options, the HSTS middleware). The sites are seeded at
up: one backend (agnhost netexec), and per site an Ingress and a TLS Secret whose certificate the
cluster's ingress CA issues now (valid, expired, for another name or with an RSA-1024 key).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from pytest_k8sharden.clusters.local import pki
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import INGRESS_DOMAIN, IngressSettings, IngressSite
from pytest_k8sharden.seeds import SEEDED_LABEL, container_resources, resource_policies

NAMESPACE: Final = "k8sharden-ingress"
INGRESS_CLASS: Final = "traefik"
CONTROLLER: Final = "traefik.io/ingress-controller"
USER: Final = "k8sharden:traefik"
BACKEND_PORT: Final = 8080
CA_NAME: Final = "ingress-ca"
_MANAGED: Final = SEEDED_LABEL
"""The ingress sites are the cluster's own objects, not the scanner's (sweeps and checks leave ours out)."""
_BACKEND_LABELS: Final = {"app.kubernetes.io/name": "ingress-backend"}


def ca_path(state: ClusterState) -> Path:
    """The certificate of the CA that issues the ingress sites' certificates (the checks' trust)."""
    return state.root / "pki" / f"{CA_NAME}.crt"


def config_dir(state: ClusterState) -> Path:
    """Where Traefik's configuration files and kubeconfig are written."""
    directory = state.root / "traefik"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def static_config(settings: IngressSettings, a: Addresses, dynamic_file: Path) -> dict[str, Any]:
    """Traefik's static configuration: entry points on the node address, the Ingress and file providers."""
    web: dict[str, Any] = {"address": f"{a.node}:80"}
    if settings.redirect_to_https:
        web["http"] = {
            "redirections": {"entryPoint": {"to": "websecure", "scheme": "https", "permanent": True}}
        }
    websecure: dict[str, Any] = {"address": f"{a.node}:443", "http": {"tls": {}}}
    if settings.hsts_seconds:
        websecure["http"]["middlewares"] = ["hsts@file"]
    return {
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
        "log": {"level": "INFO"},
        "entryPoints": {"web": web, "websecure": websecure},
        "providers": {
            "file": {"filename": str(dynamic_file), "watch": False},
            "kubernetesIngress": {
                "ingressEndpoint": {"ip": a.node},
                "namespaces": [NAMESPACE],
                "throttleDuration": "1s",
            },
        },
    }


def dynamic_config(settings: IngressSettings) -> dict[str, Any]:
    """The file provider's configuration: default TLS options and, when asked for, the HSTS middleware."""
    options: dict[str, Any] = {"minVersion": settings.min_version}
    if settings.cipher_suites:
        options["cipherSuites"] = list(settings.cipher_suites)
    config: dict[str, Any] = {"tls": {"options": {"default": options}}}
    if settings.hsts_seconds:
        config["http"] = {
            "middlewares": {
                "hsts": {"headers": {"stsSeconds": settings.hsts_seconds, "stsIncludeSubdomains": True}}
            }
        }
    return config


def write_config(state: ClusterState, settings: IngressSettings, a: Addresses) -> Path:
    """Write both configuration files; return the static one (Traefik's --configFile)."""
    directory = config_dir(state)
    dynamic_file = directory / "dynamic.yaml"
    dynamic_file.write_text(yaml.safe_dump(dynamic_config(settings)))
    static_file = directory / "traefik.yaml"
    static_file.write_text(yaml.safe_dump(static_config(settings, a, dynamic_file)))
    return static_file


def argv(traefik: Path, static_file: Path) -> list[str]:
    """Traefik's command line."""
    return [str(traefik), f"--configFile={static_file}"]


def client_identity() -> pki.Identity:
    """Traefik's client certificate for the API server."""
    return pki.Identity("traefik", USER, client=True)


def site_identity(site: IngressSite) -> pki.Identity:
    """The certificate a site's TLS Secret holds, as its profile describes it."""
    name = f"ingress-{site.host.split('.', 1)[0]}"
    kinds: Mapping[str | None, pki.Identity] = {
        "valid": pki.Identity(name, site.host, dns_names=(site.host,), server=True, rsa_bits=2048),
        "expired": pki.Identity(
            name, site.host, dns_names=(site.host,), server=True, rsa_bits=2048, days=30, backdate_days=60
        ),
        "other-name": pki.Identity(
            name,
            f"other.{INGRESS_DOMAIN}",
            dns_names=(f"other.{INGRESS_DOMAIN}",),
            server=True,
            rsa_bits=2048,
        ),
        "weak-key": pki.Identity(name, site.host, dns_names=(site.host,), server=True, rsa_bits=1024),
    }
    if site.certificate not in kinds:
        raise ValueError(f"unknown certificate kind {site.certificate!r} for {site.host}")
    return kinds[site.certificate]


def secret_name(site: IngressSite) -> str:
    """The TLS Secret of a site."""
    return f"{site.host.split('.', 1)[0]}-tls"


def objects(state: ClusterState, settings: IngressSettings, image: str) -> list[dict[str, Any]]:
    """Everything applied before Traefik starts: its RBAC, the IngressClass, backend, Secrets, Ingresses."""
    ca = pki.CertificateAuthority(state.root / "pki", CA_NAME, f"{state.name}-ingress-ca")
    namespace, *backend = _backend(image)
    found: list[dict[str, Any]] = [namespace, *_rbac(), _ingress_class(), *backend]
    for site in settings.sites:
        tls: list[dict[str, Any]] = []
        if site.certificate is not None:
            pair = ca.issue(site_identity(site))
            found.append(_tls_secret(secret_name(site), pair))
            tls = [{"hosts": [site.host], "secretName": secret_name(site)}]
        found.append(_ingress(site, tls))
    return found


def _meta(name: str, namespace: str | None = NAMESPACE) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": dict(_MANAGED)}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _rbac() -> list[dict[str, Any]]:
    """Traefik's rights: cluster-wide only what is cluster-scoped; Secrets and the rest in its namespace."""
    cluster_rules = [
        {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingressclasses"],
            "verbs": ["get", "list", "watch"],
        },
    ]
    namespace_rules = [
        {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
    ]
    return [
        *_role_and_binding("ClusterRole", None, cluster_rules),
        *_role_and_binding("Role", NAMESPACE, namespace_rules),
    ]


def _role_and_binding(kind: str, namespace: str | None, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": _meta("k8sharden-traefik", namespace),
        "rules": rules,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": _meta("k8sharden-traefik", namespace),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": "k8sharden-traefik"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    }
    return [role, binding]


def _ingress_class() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": _meta(INGRESS_CLASS, None),
        "spec": {"controller": CONTROLLER},
    }


def _backend(image: str) -> list[dict[str, Any]]:
    """A restricted-compliant agnhost netexec behind a Service, in a namespace that denies by default."""
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {**_MANAGED, **restricted}},
    }
    container = {
        "name": "backend",
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["netexec", f"--http-port={BACKEND_PORT}"],
        "ports": [{"containerPort": BACKEND_PORT, "name": "http"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": container_resources(),
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("backend"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _BACKEND_LABELS},
            "template": {
                "metadata": {"labels": {**_MANAGED, **_BACKEND_LABELS}},
                "spec": {"containers": [container], "automountServiceAccountToken": False},
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("backend"),
        "spec": {"selector": _BACKEND_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }
    deny_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    allow_http = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("backend-http-from-ingress"),
        "spec": {
            "podSelector": {"matchLabels": _BACKEND_LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": BACKEND_PORT}]}],
        },
    }
    no_token = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta("default"),
        "automountServiceAccountToken": False,
    }
    return [namespace, *resource_policies(NAMESPACE), deployment, service, deny_all, allow_http, no_token]


def _tls_secret(name: str, pair: pki.KeyPair) -> dict[str, Any]:
    def encoded(path: Path) -> str:
        return base64.b64encode(path.read_bytes()).decode()

    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": _meta(name),
        "data": {"tls.crt": encoded(pair.cert), "tls.key": encoded(pair.key)},
    }


def _ingress(site: IngressSite, tls: list[dict[str, Any]]) -> dict[str, Any]:
    backend = {"service": {"name": "backend", "port": {"name": "http"}}}
    spec: dict[str, Any] = {
        "ingressClassName": INGRESS_CLASS,
        "rules": [
            {"host": site.host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
        ],
    }
    if tls:
        spec["tls"] = tls
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": _meta(site.host.split(".", 1)[0]),
        "spec": spec,
    }
