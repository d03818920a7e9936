"""Who may do what: RBAC bindings resolved to (binding, role, subject) grants, and the findings over them.

Objects come in as plain API dicts (``kube.api_client.sanitize_for_serialization``), so the analysis is
unit-tested on fixtures. Upstream's bootstrap defaults (the bindings the API server creates itself, labelled
``kubernetes.io/bootstrapping=rbac-defaults``) that grant public information to every client are known by
name and are not findings. The checks about powerful grants leave out the exempt identities
(``exemptions.Exemptions``: system:masters, system:nodes, other system: users and kube-system's
ServiceAccounts by default), naming every grant they left out and why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Inconclusive, Outcome
from pytest_k8sharden.exemptions import SERVICE_ACCOUNT_GROUP, SERVICE_ACCOUNT_USER, Exemptions

BOOTSTRAP_LABEL: Final = "kubernetes.io/bootstrapping"
PUBLIC_DEFAULTS: Final = frozenset(
    {
        ("system:public-info-viewer", "system:public-info-viewer"),
        ("system:discovery", "system:discovery"),
        ("system:basic-user", "system:basic-user"),
        ("system:service-account-issuer-discovery", "system:service-account-issuer-discovery"),
        ("system:cluster-trust-bundle-discovery", "system:cluster-trust-bundle-discovery"),
    }
)
"""(ClusterRoleBinding, ClusterRole) pairs upstream binds to every client or every ServiceAccount
(plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go; the ClusterTrustBundle read access of every
ServiceAccount is bound by default since Kubernetes 1.37)."""
ANONYMOUS: Final = frozenset({("User", "system:anonymous"), ("Group", "system:unauthenticated")})
AUTHENTICATED: Final = ("Group", "system:authenticated")


@dataclass(frozen=True)
class Rule:
    """One PolicyRule."""

    verbs: frozenset[str]
    api_groups: frozenset[str]
    resources: frozenset[str]
    non_resource_urls: frozenset[str] = frozenset()

    def allows(self, verbs: Iterable[str], resource: str, group: str = "") -> bool:
        """Whether this rule grants any of ``verbs`` on ``resource`` (``pods/exec`` for subresources)."""
        verb_ok = "*" in self.verbs or bool(self.verbs & set(verbs))
        group_ok = "*" in self.api_groups or group in self.api_groups
        return verb_ok and group_ok and self._names(resource)

    def _names(self, resource: str) -> bool:
        """``resource`` is among the rule's resources: itself, ``*``, or ``*/sub`` for a subresource (as the
        RBAC authorizer matches them; ``pods/*`` matches nothing)."""
        _, slash, subresource = resource.partition("/")
        names = {"*", resource, f"*/{subresource}"} if slash else {"*", resource}
        return bool(names & self.resources)

    @property
    def wildcard(self) -> bool:
        """A ``*`` in verbs or resources."""
        return "*" in self.verbs or "*" in self.resources


@dataclass(frozen=True)
class Subject:
    """A binding's subject."""

    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}" if self.namespace else f"{self.kind}/{self.name}"

    @property
    def default_service_account(self) -> bool:
        """A namespace's ``default`` ServiceAccount, or a group every ServiceAccount is in."""
        if self.kind == "ServiceAccount":
            return self.name == "default"
        if self.kind == "User":
            return self.name.startswith(SERVICE_ACCOUNT_USER) and self.name.endswith(":default")
        return self.name == SERVICE_ACCOUNT_GROUP or self.name.startswith(f"{SERVICE_ACCOUNT_GROUP}:")


@dataclass(frozen=True)
class Grant:
    """One subject of one binding, with the rules of the role it is bound to."""

    binding: str
    """``ClusterRoleBinding/name`` or ``RoleBinding/namespace/name``."""
    role: str
    """``ClusterRole/name`` or ``Role/namespace/name`` (``(missing)`` appended when it does not exist)."""
    subject: Subject
    rules: tuple[Rule, ...]
    namespace: str | None
    """Where the grant applies; None: cluster-wide."""
    default: bool
    """One of upstream's public bootstrap bindings (see PUBLIC_DEFAULTS)."""

    def __str__(self) -> str:
        scope = f" in namespace {self.namespace}" if self.namespace else " cluster-wide"
        return f"{self.binding} -> {self.role} -> {self.subject}{scope}"


def _names(values: Any) -> frozenset[str]:
    return frozenset(str(v) for v in values or ())


def _rules(role: Mapping[str, Any] | None) -> tuple[Rule, ...]:
    return tuple(
        Rule(
            _names(r.get("verbs")),
            _names(r.get("apiGroups")),
            _names(r.get("resources")),
            _names(r.get("nonResourceURLs")),
        )
        for r in (role or {}).get("rules") or ()
    )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(kind: str, obj: Mapping[str, Any]) -> str:
    meta = _meta(obj)
    namespace = meta.get("namespace")
    return f"{kind}/{namespace}/{meta['name']}" if namespace else f"{kind}/{meta['name']}"


def grants(
    cluster_roles: Sequence[Mapping[str, Any]],
    roles: Sequence[Mapping[str, Any]],
    cluster_role_bindings: Sequence[Mapping[str, Any]],
    role_bindings: Sequence[Mapping[str, Any]],
) -> list[Grant]:
    """Every (binding, role, subject) of the cluster, roles resolved (a missing role grants nothing)."""
    by_key = {_key("ClusterRole", r): r for r in cluster_roles} | {_key("Role", r): r for r in roles}
    found: list[Grant] = []
    for kind, bindings in (("ClusterRoleBinding", cluster_role_bindings), ("RoleBinding", role_bindings)):
        for binding in bindings:
            meta = _meta(binding)
            namespace = meta.get("namespace")
            ref = binding.get("roleRef") or {}
            role_kind = str(ref.get("kind", "ClusterRole"))
            role_key = (
                f"{role_kind}/{namespace}/{ref.get('name')}"
                if role_kind == "Role"
                else (f"{role_kind}/{ref.get('name')}")
            )
            role = by_key.get(role_key)
            default = (
                kind == "ClusterRoleBinding"
                and (meta.get("labels") or {}).get(BOOTSTRAP_LABEL) == "rbac-defaults"
                and (meta.get("name"), ref.get("name")) in PUBLIC_DEFAULTS
            )
            for s in binding.get("subjects") or ():
                subject_ns = s.get("namespace") or (namespace if s.get("kind") == "ServiceAccount" else None)
                found.append(
                    Grant(
                        _key(kind, binding),
                        role_key if role is not None else f"{role_key} (missing)",
                        Subject(str(s.get("kind")), str(s.get("name")), subject_ns),
                        _rules(role),
                        namespace,
                        default,
                    )
                )
    return found


@dataclass(frozen=True)
class Evaluation:
    """The grants a check flagged, those it left out as exempt (with why), and its verdict."""

    flagged: tuple[Grant, ...]
    finding: Finding
    exempted: tuple[tuple[Grant, str], ...] = ()


def describe_read(
    cluster_role_bindings: Sequence[Mapping[str, Any]],
    role_bindings: Sequence[Mapping[str, Any]],
    cluster_roles: Sequence[Mapping[str, Any]] | None = None,
    roles: Sequence[Mapping[str, Any]] | None = None,
) -> str:
    """What was read, for a pass (``62 ClusterRoleBindings and 9 RoleBindings in 3 namespaces ...``).

    Inconclusive when no ClusterRoleBinding (or, where roles were read, no ClusterRole) came back: the API
    server creates and keeps upstream's bootstrap ones (cluster-admin, system:basic-user ...), so an empty
    list is a view the scanner was not shown whole, and every grant would resolve to nothing.
    """
    empty = ["ClusterRoleBindings"] if not cluster_role_bindings else []
    empty += ["ClusterRoles"] if cluster_roles is not None and not cluster_roles else []
    if empty:
        raise Inconclusive(
            f"the API server listed no {' and no '.join(empty)}, though every cluster has upstream's "
            "bootstrap ones: the scanner was shown a partial or filtered view, so no grant can be judged"
        )
    spread = len({_meta(b).get("namespace") for b in role_bindings})
    read = (
        f"{len(cluster_role_bindings)} ClusterRoleBindings and {len(role_bindings)} RoleBindings in {spread} "
        "namespaces"
    )
    if cluster_roles is not None:
        read += f", resolved against {len(cluster_roles)} ClusterRoles and {len(roles or ())} Roles"
    return read


def _left_out(exempted: Sequence[tuple[Grant, str]], exemptions: Exemptions) -> str:
    """``; left out as exempt (built-in): 3 grants to Group/system:masters, ...``, or nothing."""
    if not exempted:
        return ""
    subjects = list(dict.fromkeys(str(grant.subject) for grant, _ in exempted))
    more = f" (and {len(subjects) - 20} more)" if len(subjects) > 20 else ""
    return (
        f"; left out as exempt ({exemptions.source}, each listed in the evidence with why): {len(exempted)} "
        f"grant(s) to {', '.join(subjects[:20])}{more}"
    )


def evaluate(
    all_grants: Sequence[Grant],
    what: str,
    flag: Callable[[Grant], bool],
    read: str,
    exemptions: Exemptions | None = None,
) -> Evaluation:
    """Flag the grants ``flag`` picks, leaving out (and naming) those to identities ``exemptions`` exempt;
    fail naming each (binding -> role -> subject), else pass saying how many grants of what ``read`` were
    examined. ``exemptions`` None: the check exempts nobody."""
    judged = [
        (g, exemptions and exemptions.identity(g.subject.kind, g.subject.name, g.subject.namespace))
        for g in all_grants
        if flag(g)
    ]
    flagged = tuple(g for g, why in judged if not why)
    exempted = tuple((g, why) for g, why in judged if why)
    left_out = _left_out(exempted, exemptions) if exemptions else ""
    if flagged:
        listed = "; ".join(str(g) for g in flagged[:20])
        more = f" (and {len(flagged) - 20} more)" if len(flagged) > 20 else ""
        message = f"{len(flagged)} grant(s) {what}: {listed}{more}{left_out}"
        return Evaluation(flagged, Finding(Outcome.FAILED, message), exempted)
    message = f"none of {len(all_grants)} grants (from {read}) {what}{left_out}"
    return Evaluation(flagged, Finding(Outcome.PASSED, message), exempted)


def anonymous(grant: Grant) -> bool:
    """RBAC-ANONYMOUS-BINDINGS: granted to system:anonymous or system:unauthenticated (not a default)."""
    return (grant.subject.kind, grant.subject.name) in ANONYMOUS and not grant.default


def authenticated(grant: Grant) -> bool:
    """RBAC-AUTHENTICATED-BINDINGS: granted to every authenticated client beyond upstream's defaults."""
    return (grant.subject.kind, grant.subject.name) == AUTHENTICATED and not grant.default


def cluster_admin(grant: Grant) -> bool:
    """RBAC-CLUSTER-ADMIN: cluster-admin bound (exempt identities are left out by ``evaluate``)."""
    return grant.role == "ClusterRole/cluster-admin"


def wildcard(grant: Grant) -> bool:
    """RBAC-WILDCARDS: a role with ``*`` verbs or resources bound."""
    return any(r.wildcard for r in grant.rules)


def _can(grant: Grant, verbs: Iterable[str], resource: str, group: str = "") -> bool:
    return any(rule.allows(verbs, resource, group) for rule in grant.rules)


def secrets_reader(grant: Grant) -> bool:
    """RBAC-SECRETS-READERS: get, list or watch on Secrets cluster-wide."""
    return grant.namespace is None and _can(grant, ("get", "list", "watch"), "secrets")


def pod_creator(grant: Grant) -> bool:
    """RBAC-POD-CREATE-EXEC: create pods or exec into them."""
    return _can(grant, ("create",), "pods") or _can(grant, ("create", "get"), "pods/exec")


def escalator(grant: Grant) -> bool:
    """RBAC-ESCALATE-BIND-IMPERSONATE: escalate, bind or impersonate."""
    rbac = "rbac.authorization.k8s.io"
    return any(_can(grant, ("escalate", "bind"), kind, rbac) for kind in ("roles", "clusterroles")) or any(
        _can(grant, ("impersonate",), kind) for kind in ("users", "groups", "serviceaccounts")
    )


def default_service_account(grant: Grant) -> bool:
    """RBAC-DEFAULT-SERVICEACCOUNTS: bound to a default ServiceAccount or to every ServiceAccount."""
    return grant.subject.default_service_account and not grant.default


KUBELET_VERBS: Final = ("get", "create", "update", "patch", "delete")
"""The verbs the kubelet authorizes its HTTP methods as: a GET on nodes/proxy is enough to exec into any pod
of the node (the exec stream upgrades a GET to a WebSocket)."""
WRITE_VERBS: Final = ("create", "update", "patch", "delete", "deletecollection")
CERTIFICATES: Final = "certificates.k8s.io"
WEBHOOK_CONFIGURATIONS: Final = ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")


def node_proxy(grant: Grant) -> bool:
    """RBAC-NODES-PROXY: any verb on nodes/proxy, the kubelet's API (exec, logs, configz) through the API
    server, past admission and with the node's rights."""
    return _can(grant, KUBELET_VERBS, "nodes/proxy")


def token_creator(grant: Grant) -> bool:
    """RBAC-SA-TOKEN-CREATE: create serviceaccounts/token, a token for any ServiceAccount within reach."""
    return _can(grant, ("create",), "serviceaccounts/token")


def csr_approver(grant: Grant) -> bool:
    """RBAC-CSR-APPROVE: update the approval of CertificateSigningRequests, or approve or sign for a signer
    (either half of issuing oneself a client certificate, such as one in system:masters)."""
    return _can(grant, ("update", "patch"), "certificatesigningrequests/approval", CERTIFICATES) or _can(
        grant, ("approve", "sign"), "signers", CERTIFICATES
    )


def webhook_writer(grant: Grant) -> bool:
    """RBAC-WEBHOOK-CONFIG-WRITE: create, change or delete validating or mutating webhook configurations
    (send every admitted object to one's own server, or switch a policy webhook off)."""
    group = "admissionregistration.k8s.io"
    return any(_can(grant, WRITE_VERBS, kind, group) for kind in WEBHOOK_CONFIGURATIONS)


def pod_attacher(grant: Grant) -> bool:
    """RBAC-POD-ATTACH-EPHEMERAL: attach to running containers, or add ephemeral containers to running pods
    (a shell in any pod's namespaces, with its ServiceAccount, without creating a pod)."""
    return _can(grant, ("create", "get"), "pods/attach") or _can(
        grant, ("update", "patch"), "pods/ephemeralcontainers"
    )
