"""Pod security: namespaces' Pod Security Admission labels, and running pods against baseline/restricted.

Pure functions over plain API dicts. Each finding names the namespace or ``pod namespace/name`` and the
container. This run's own probe namespaces and the exempt ones (``exemptions``: kube-system by default) are
out of scope and named (``posture.scope``); a pass says how many namespaces, pods and containers it examined.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.posture.scope import Examined, NamespaceScope, PodScope, listing

ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"
ALLOWED_ADDED_CAPABILITIES: Final = frozenset({"NET_BIND_SERVICE"})
"""The one capability the restricted level lets a container add."""
CONFINED_SECCOMP: Final = frozenset({"RuntimeDefault", "Localhost"})
_FORBIDDEN: Final = r'pods "[^"]*" is forbidden: '
"""How the API server opens an admission plugin's refusal of a pod (admission.NewForbidden); a webhook's
refusal opens ``admission webhook "NAME" denied the request:`` instead, whatever text it quotes."""
POD_SECURITY_REFUSAL: Final = re.compile(_FORBIDDEN + r'violates PodSecurity "[a-z]+:[^"]+"')
"""How the PodSecurity admission plugin words a refusal (k8s.io/pod-security-admission/admission)."""
POLICY_REFUSAL: Final = re.compile(
    _FORBIDDEN
    + r"ValidatingAdmissionPolicy '(?P<policy>[^']+)' with binding '(?P<binding>[^']+)' denied request"
)
"""How the API server words a ValidatingAdmissionPolicy's denial (k8s.io/apiserver admission/plugin/policy/
validating/dispatcher.go); its code is 422 (reason Invalid) unless the policy gives another reason."""
POLICY_REFUSAL_CODES: Final = frozenset({403, 422})

Obj = Mapping[str, Any]


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _namespace(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("namespace"))


def namespace_enforcement(scope: NamespaceScope) -> tuple[list[str], Finding]:
    """PSA-ENFORCE-LABELS: every namespace in scope enforces baseline or restricted by its label."""
    flagged = []
    for ns in scope.namespaces:
        level = _labels(ns).get(ENFORCE_LABEL)
        if level is None:
            flagged.append(f"Namespace/{_name(ns)} has no {ENFORCE_LABEL} label")
        elif level not in ("baseline", "restricted"):
            flagged.append(f"Namespace/{_name(ns)} enforces {level!r}")
    read = f"({scope.read} namespaces read; {scope.left_out()})"
    if flagged:
        return flagged, Finding(
            Outcome.FAILED,
            f"{len(flagged)} of {len(scope.namespaces)} namespaces {read}: {'; '.join(flagged)}",
        )
    return flagged, Finding(
        Outcome.PASSED,
        f"all {len(scope.namespaces)} namespaces in scope enforce baseline or restricted {read}",
    )


@dataclass(frozen=True)
class Container:
    """One container of one pod, with the pod-level settings it inherits."""

    pod: str
    """``namespace/name`` of the pod."""
    name: str
    spec: Obj
    pod_spec: Obj
    ephemeral: bool = False
    """An ephemeral container (``kubectl debug``), which the API gives no resources of its own."""

    def __str__(self) -> str:
        return f"pod {self.pod} container {self.name}"

    def setting(self, key: str) -> Any:
        """The container's securityContext ``key``, else the pod's."""
        own = (self.spec.get("securityContext") or {}).get(key)
        return own if own is not None else (self.pod_spec.get("securityContext") or {}).get(key)

    @property
    def security(self) -> Obj:
        """The container's own securityContext."""
        return self.spec.get("securityContext") or {}


def containers(pods: Sequence[Obj]) -> Iterator[Container]:
    """Every container, init container and ephemeral container of ``pods``."""
    for pod in pods:
        spec = pod.get("spec") or {}
        for key in ("initContainers", "containers", "ephemeralContainers"):
            for c in spec.get(key) or ():
                where = f"{_namespace(pod)}/{_name(pod)}"
                yield Container(where, str(c.get("name")), c, spec, key == "ephemeralContainers")


def privileged(c: Container) -> str | None:
    """WORKLOAD-PRIVILEGED."""
    return "privileged: true" if c.security.get("privileged") else None


def host_namespaces(c: Container) -> str | None:
    """WORKLOAD-HOST-NAMESPACES (pod level, reported per container)."""
    shared = [k for k in ("hostPID", "hostIPC", "hostNetwork") if c.pod_spec.get(k)]
    return ", ".join(f"{k}: true" for k in shared) or None


def host_path(c: Container) -> str | None:
    """WORKLOAD-HOSTPATH: a hostPath volume this container mounts."""
    volumes = {
        str(v.get("name")): v["hostPath"] for v in c.pod_spec.get("volumes") or () if v.get("hostPath")
    }
    mounts = [str(m.get("name")) for m in c.spec.get("volumeMounts") or ()]
    mounted = [f"{name} ({volumes[name].get('path')})" for name in mounts if name in volumes]
    return f"mounts hostPath {', '.join(mounted)}" if mounted else None


def added_capabilities(c: Container) -> str | None:
    """WORKLOAD-CAPABILITIES: capabilities added beyond NET_BIND_SERVICE."""
    added = [str(a) for a in (c.security.get("capabilities") or {}).get("add") or ()]
    extra = [a for a in added if a not in ALLOWED_ADDED_CAPABILITIES]
    return f"adds capabilities {', '.join(extra)}" if extra else None


def keeps_capabilities(c: Container) -> str | None:
    """WORKLOAD-CAPABILITIES-DROP-ALL: ``capabilities.drop`` does not name ``ALL`` (as the restricted level
    spells it), so the container keeps the runtime's default set, NET_RAW among it."""
    dropped = [str(d) for d in (c.security.get("capabilities") or {}).get("drop") or ()]
    if "ALL" in dropped:
        return None
    return (
        f"drops {', '.join(dropped)}, not ALL" if dropped else "drops no capabilities (drop: [ALL] missing)"
    )


def runs_as_root(c: Container) -> str | None:
    """WORKLOAD-RUN-AS-ROOT: runAsUser 0, or runAsNonRoot not set to true (pod or container)."""
    if c.setting("runAsUser") == 0:
        return "runAsUser: 0"
    return None if c.setting("runAsNonRoot") is True else "runAsNonRoot is not true"


def privilege_escalation(c: Container) -> str | None:
    """WORKLOAD-PRIVILEGE-ESCALATION: allowPrivilegeEscalation not explicitly false."""
    return (
        None
        if c.security.get("allowPrivilegeEscalation") is False
        else "allowPrivilegeEscalation is not false"
    )


def no_seccomp(c: Container) -> str | None:
    """WORKLOAD-SECCOMP: no RuntimeDefault or Localhost seccomp profile (pod or container)."""
    profile = (c.setting("seccompProfile") or {}).get("type")
    return None if profile in CONFINED_SECCOMP else f"seccompProfile is {profile or 'not set'}"


def writable_root(c: Container) -> str | None:
    """WORKLOAD-READONLY-ROOTFS: readOnlyRootFilesystem not true."""
    return None if c.security.get("readOnlyRootFilesystem") is True else "readOnlyRootFilesystem is not true"


def workload_violations(
    scope: PodScope, what: str, violation: Callable[[Container], str | None]
) -> tuple[list[str], Finding]:
    """One check over every container of the running pods in scope: fail naming each pod, container and
    what it does; a pass names how many containers, pods and namespaces it examined."""
    all_containers = list(containers(scope.running))
    flagged = [f"{c}: {reason}" for c in all_containers if (reason := violation(c))]
    return flagged, listing(flagged, what, Examined(len(all_containers), "containers", scope.where()))


def admission_verdict(
    accepted: bool, status: int | None, message: str, policies: Collection[str] = ()
) -> Finding:
    """ADMISSION-REJECTS-PRIVILEGED: a privileged pod dry-run into a namespace enforcing restricted.

    A pass needs the refusal of the configured admission control, named in the API server's Status message:
    Pod Security (a 403 saying ``violates PodSecurity "<level>:<ver>"``), or a ValidatingAdmissionPolicy
    named in ``policies`` (--admission-policies). A quota, a webhook, RBAC, a validation error or another
    policy refusing the pod says nothing about the admission control, so any other refusal is inconclusive
    with the server's message.
    """
    if accepted:
        return Finding(
            Outcome.FAILED,
            "the API server admitted a privileged pod into a namespace labelled enforce=restricted "
            "(server-side dry run, nothing persisted)",
        )
    if status == 403 and POD_SECURITY_REFUSAL.match(message):
        return Finding(
            Outcome.PASSED, f"Pod Security admission rejected the privileged pod ({status}): {message}"
        )
    policy = POLICY_REFUSAL.match(message)
    if policy and status in POLICY_REFUSAL_CODES and policy["policy"] in policies:
        return Finding(
            Outcome.PASSED,
            f"ValidatingAdmissionPolicy {policy['policy']!r} (binding {policy['binding']!r}), configured as "
            f"admission control (--admission-policies), rejected the privileged pod ({status}): {message}",
        )
    configured = ", ".join(["Pod Security", *policies])
    by = f" by ValidatingAdmissionPolicy {policy['policy']!r}" if policy else ""
    return Finding(
        Outcome.INCONCLUSIVE,
        f"the dry run was refused ({status}){by}, not by the configured admission control ({configured}; "
        f"--admission-policies names others), so it proves nothing about it: {message}",
    )


def mutable_tag(c: Container) -> str | None:
    """IMAGES-PINNED-BY-DIGEST: the image is named by a tag (or nothing), not by ``@sha256:`` digest."""
    image = str(c.spec.get("image"))
    return None if "@sha256:" in image else f"image {image} is pulled by tag, not by digest"
