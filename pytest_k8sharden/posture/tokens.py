"""Service account tokens and Secrets in workloads: automounting, legacy token Secrets, Secrets in env.

Pure functions over plain API dicts; every finding names the object (``ServiceAccount/ns/name``,
``Secret/ns/name``, ``pod ns/name container c``). Secret values are never read from the dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Inconclusive
from pytest_k8sharden.exemptions import SERVICE_ACCOUNT_USER
from pytest_k8sharden.posture.podsecurity import containers
from pytest_k8sharden.posture.rbac import Grant
from pytest_k8sharden.posture.scope import Examined, NamespaceScope, PodScope, listing

LEGACY_TOKEN_TYPE: Final = "kubernetes.io/service-account-token"

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def default_accounts_automounting(
    service_accounts: Sequence[Obj], scope: NamespaceScope
) -> tuple[list[str], Finding]:
    """SA-AUTOMOUNT-DEFAULT: default ServiceAccounts of namespaces in scope set automount to false.

    Every namespace in scope has one (the controller-manager creates it): a namespace whose default
    ServiceAccount is not in the read (and is not being deleted) makes the check inconclusive.
    """
    scoped = scope.namespaces
    defaults = {
        str(_meta(sa).get("namespace")): sa for sa in service_accounts if _meta(sa).get("name") == "default"
    }
    unseen = [
        str(_meta(ns).get("name"))
        for ns in scoped
        if str(_meta(ns).get("name")) not in defaults
        and (ns.get("status") or {}).get("phase") != "Terminating"
    ]
    if unseen:
        raise Inconclusive(
            f"no default ServiceAccount was read for namespace(s) {', '.join(unseen)} "
            f"({len(service_accounts)} ServiceAccounts read): the read is partial"
        )
    judged = [defaults[name] for ns in scoped if (name := str(_meta(ns).get("name"))) in defaults]
    flagged = [
        f"ServiceAccount/{_meta(sa).get('namespace')}/default automounts its token"
        for sa in judged
        if sa.get("automountServiceAccountToken") is not False
    ]
    examined = Examined(
        len(judged),
        "default ServiceAccounts",
        f"of the {len(scoped)} namespaces in scope ({len(service_accounts)} ServiceAccounts read; "
        f"{scope.left_out()})",
    )
    return flagged, listing(flagged, "mount their token into every pod", examined)


def _bound_accounts(grants: Iterable[Grant]) -> set[tuple[str | None, str]]:
    """(namespace, name) of every ServiceAccount a binding names directly."""
    bound: set[tuple[str | None, str]] = set()
    for grant in grants:
        subject = grant.subject
        if subject.kind == "ServiceAccount":
            bound.add((subject.namespace, subject.name))
        elif subject.kind == "User" and subject.name.startswith(SERVICE_ACCOUNT_USER):
            namespace, _, name = subject.name[len(SERVICE_ACCOUNT_USER) :].partition(":")
            bound.add((namespace, name))
    return bound


def _mounts_token(pod: Obj) -> bool:
    volumes = (pod.get("spec") or {}).get("volumes") or ()
    return any(
        "serviceAccountToken" in source
        for volume in volumes
        for source in (volume.get("projected") or {}).get("sources") or ()
    ) or any((volume.get("secret") or {}).get("secretName", "").find("-token-") > 0 for volume in volumes)


def idle_pods_mounting_tokens(scope: PodScope, grants: Iterable[Grant]) -> tuple[list[str], Finding]:
    """SA-AUTOMOUNT-PODS: pods whose ServiceAccount no binding names (no API use) mount no token."""
    bound = _bound_accounts(grants)
    flagged = []
    for pod in scope.running:
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        namespace = str(_meta(pod).get("namespace"))
        if (namespace, account) not in bound and _mounts_token(pod):
            flagged.append(f"pod {namespace}/{_meta(pod).get('name')} mounts the token of unbound {account}")
    examined = Examined(len(scope.running), "running pods", scope.namespaces_text())
    return flagged, listing(flagged, "mount a token their ServiceAccount has no use for", examined)


def legacy_token_secrets(secrets: Sequence[Obj], searched: str) -> tuple[list[str], Finding]:
    """SA-LEGACY-TOKEN-SECRETS: no Secret of type kubernetes.io/service-account-token (long-lived tokens).

    ``searched`` says how the Secrets were listed (e.g. with a server-side field selector on the type)."""
    flagged = [
        f"Secret/{_meta(s).get('namespace')}/{_meta(s).get('name')} holds a long-lived token of "
        f"{(_meta(s).get('annotations') or {}).get('kubernetes.io/service-account.name', '?')}"
        for s in secrets
        if s.get("type") == LEGACY_TOKEN_TYPE
    ]
    return flagged, listing(
        flagged, "are legacy service account tokens", Examined(len(secrets), "Secrets", searched)
    )


def secrets_in_environment(scope: PodScope) -> tuple[list[str], Finding]:
    """SECRETS-AS-ENV: no container takes a Secret into its environment (env secretKeyRef or envFrom)."""
    flagged = []
    all_containers = list(containers(scope.running))
    for c in all_containers:
        named = [
            f"{e.get('name')} <- Secret {e['valueFrom']['secretKeyRef'].get('name')}"
            for e in c.spec.get("env") or ()
            if (e.get("valueFrom") or {}).get("secretKeyRef")
        ]
        named += [
            f"all of Secret {e['secretRef'].get('name')}"
            for e in c.spec.get("envFrom") or ()
            if e.get("secretRef")
        ]
        if named:
            flagged.append(f"{c}: {', '.join(named)}")
    examined = Examined(len(all_containers), "containers", scope.where())
    return flagged, listing(flagged, "take Secrets into their environment", examined)
