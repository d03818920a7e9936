"""Service account tokens and Secrets in workloads: automounting, legacy token Secrets, Secrets in env.

Pure functions over plain API dicts; every finding names the object (``ServiceAccount/ns/name``,
``Secret/ns/name``, ``pod ns/name container c``). Secret values are never read from the dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.posture.podsecurity import containers, in_scope
from pytest_k8sharden.posture.rbac import SERVICE_ACCOUNT_USER, Grant

LEGACY_TOKEN_TYPE: Final = "kubernetes.io/service-account-token"
_LISTED: Final = 20

Obj = Mapping[str, Any]


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def listing(flagged: Sequence[str], what: str, checked: int, noun: str) -> Finding:
    """Fail naming the flagged objects (the first 20), else pass saying how many were checked."""
    if flagged:
        more = f" (and {len(flagged) - _LISTED} more)" if len(flagged) > _LISTED else ""
        return Finding(Outcome.FAILED, f"{len(flagged)} {noun} {what}: {'; '.join(flagged[:_LISTED])}{more}")
    return Finding(Outcome.PASSED, f"none of {checked} {noun} {what}")


def default_accounts_automounting(
    service_accounts: Sequence[Obj], namespaces: Sequence[Obj]
) -> tuple[list[str], Finding]:
    """SA-AUTOMOUNT-DEFAULT: default ServiceAccounts of namespaces in scope set automount to false."""
    scoped = {str(_meta(ns).get("name")) for ns in namespaces if in_scope(ns)}
    defaults = [
        sa
        for sa in service_accounts
        if _meta(sa).get("name") == "default" and _meta(sa).get("namespace") in scoped
    ]
    flagged = [
        f"ServiceAccount/{_meta(sa).get('namespace')}/default automounts its token"
        for sa in defaults
        if sa.get("automountServiceAccountToken") is not False
    ]
    return flagged, listing(
        flagged, "mount their token into every pod", len(defaults), "default ServiceAccounts"
    )


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


def idle_pods_mounting_tokens(pods: Sequence[Obj], grants: Iterable[Grant]) -> tuple[list[str], Finding]:
    """SA-AUTOMOUNT-PODS: pods whose ServiceAccount no binding names (no API use) mount no token."""
    bound = _bound_accounts(grants)
    flagged = []
    for pod in pods:
        account = (pod.get("spec") or {}).get("serviceAccountName") or "default"
        namespace = str(_meta(pod).get("namespace"))
        if (namespace, account) not in bound and _mounts_token(pod):
            flagged.append(f"pod {namespace}/{_meta(pod).get('name')} mounts the token of unbound {account}")
    return flagged, listing(
        flagged, "mount a token their ServiceAccount has no use for", len(pods), "running pods"
    )


def legacy_token_secrets(secrets: Sequence[Obj]) -> tuple[list[str], Finding]:
    """SA-LEGACY-TOKEN-SECRETS: no Secret of type kubernetes.io/service-account-token (long-lived tokens)."""
    flagged = [
        f"Secret/{_meta(s).get('namespace')}/{_meta(s).get('name')} holds a long-lived token of "
        f"{(_meta(s).get('annotations') or {}).get('kubernetes.io/service-account.name', '?')}"
        for s in secrets
        if s.get("type") == LEGACY_TOKEN_TYPE
    ]
    return flagged, listing(flagged, "are legacy service account tokens", len(secrets), "Secrets")


def secrets_in_environment(pods: Sequence[Obj]) -> tuple[list[str], Finding]:
    """SECRETS-AS-ENV: no container takes a Secret into its environment (env secretKeyRef or envFrom)."""
    flagged = []
    all_containers = list(containers(pods))
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
    return flagged, listing(flagged, "take Secrets into their environment", len(all_containers), "containers")
