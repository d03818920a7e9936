"""Control-plane configuration: the real command lines of the components, judged against CIS sections 1-4.

Command lines come from kube-system mirror pods (kubeadm, kind) or, where a provider can see the running
processes (the local cluster reads /proc/<pid>/cmdline like kube-bench reads ps), from those; where neither
is visible (managed clusters) every check is inconclusive with the reason. The kubelet's configuration
comes from its /configz through the API server's node proxy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden import tlspolicy
from pytest_k8sharden.access import CONTROL_PLANE_COMPONENTS, parse_flags
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.worstof import combine

ENCRYPTION_PREFIX: Final = b"k8s:enc:"
MIRROR_ANNOTATION: Final = "kubernetes.io/config.mirror"
"""Set by the kubelet on the API object it mirrors a static pod into; a pod anyone creates has none."""


@dataclass(frozen=True)
class Instance:
    """One running instance of a component and its flags."""

    name: str
    """Where it was read: ``Pod/kube-system/<mirror pod>`` or ``process/<component>``."""
    flags: Mapping[str, str]


@dataclass(frozen=True)
class CommandLines:
    """The flags of every instance of each control-plane component, and where they were read."""

    source: str
    """e.g. "mirror pods in kube-system" or "/proc/<pid>/cmdline of the local cluster's processes"."""
    instances: Mapping[str, tuple[Instance, ...]]
    """component name -> every instance seen (several API servers: several instances)."""


def mirror_pod_command_lines(pods: Sequence[Mapping[str, Any]]) -> dict[str, list[Instance]]:
    """component -> every kube-system mirror pod (label ``component=<name>`` and the kubelet's
    ``kubernetes.io/config.mirror`` annotation) with the flags of its command + args."""
    found: dict[str, list[Instance]] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        component = (meta.get("labels") or {}).get("component")
        mirrored = MIRROR_ANNOTATION in (meta.get("annotations") or {})
        if (
            meta.get("namespace") != "kube-system"
            or component not in CONTROL_PLANE_COMPONENTS
            or not mirrored
        ):
            continue
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        argv = (*(containers[0].get("command") or ()), *(containers[0].get("args") or ()))
        found.setdefault(component, []).append(
            Instance(f"Pod/kube-system/{meta.get('name')}", parse_flags(argv))
        )
    return found


def command_lines(
    pods: Sequence[Mapping[str, Any]], processes: Mapping[str, Sequence[str]] | None, process_source: str
) -> CommandLines:
    """The real processes where the provider sees them (``processes``: component -> argv), else the mirror
    pods of ``pods``; with neither, nothing (every check inconclusive, naming why)."""
    if processes:
        return CommandLines(
            process_source,
            {name: (Instance(f"process/{name}", parse_flags(argv)),) for name, argv in processes.items()},
        )
    mirrored = mirror_pod_command_lines(pods)
    if mirrored:
        return CommandLines("mirror pods in kube-system", {n: tuple(i) for n, i in mirrored.items()})
    return CommandLines(
        "no mirror pods in kube-system and no view of the processes (managed control plane?)", {}
    )


Rule = Callable[[Mapping[str, str]], "str | None"]
"""Given a component's flags, the problem it has, or None."""


def judge(lines: CommandLines, component: str, what: str, rule: Rule) -> Finding:
    """Apply ``rule`` to every instance of ``component``: failed if any instance fails (each named),
    inconclusive when no instance was visible, else passed naming every instance judged."""
    instances = lines.instances.get(component, ())
    if not instances:
        return Finding(Outcome.INCONCLUSIVE, f"the {component} command line is not visible ({lines.source})")
    problems = [f"{i.name}: {problem}" for i in instances if (problem := rule(i.flags))]
    if problems:
        return Finding(Outcome.FAILED, f"{component} ({lines.source}): {'; '.join(problems)}")
    names = ", ".join(i.name for i in instances)
    return Finding(
        Outcome.PASSED, f"{component} ({lines.source}; {len(instances)} instance(s): {names}) {what}"
    )


def judge_all(lines: CommandLines, components: Sequence[str], what: str, rule: Rule) -> Finding:
    """``judge`` over several components: failed if any fails, else inconclusive if any was not visible."""
    return combine((judge(lines, c, what, rule) for c in components), "no component to judge")


def _list(flags: Mapping[str, str], name: str) -> list[str]:
    return [item for item in flags.get(name, "").split(",") if item]


def anonymous_auth(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.1: --anonymous-auth=false (it defaults to true), or left unset beside --authentication-config,
    whose anonymous section then decides: ``anonymous_by_configuration`` says so, and the check judges
    that section by its effect (exposure.anonymous_health_only), the file itself being out of sight."""
    value = flags.get("anonymous-auth")
    if value == "false" or anonymous_by_configuration(flags):
        return None
    return f"--anonymous-auth is {value or 'true (default)'}"


def anonymous_by_configuration(flags: Mapping[str, str]) -> bool:
    """Whether an AuthenticationConfiguration file (--authentication-config, without --anonymous-auth)
    decides anonymous authentication: its ``anonymous`` section, or the default (enabled) without one."""
    return bool(flags.get("authentication-config")) and "anonymous-auth" not in flags


def authorization_mode(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.6-1.2.8: --authorization-mode includes Node and RBAC and not AlwaysAllow."""
    modes = _list(flags, "authorization-mode") or ["AlwaysAllow (default)"]
    problems = [f"includes {m}" for m in modes if m.startswith("AlwaysAllow")]
    problems += [f"lacks {m}" for m in ("Node", "RBAC") if m not in modes]
    return f"--authorization-mode={','.join(modes)} {' and '.join(problems)}" if problems else None


def admission_plugins(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.14, 5.2.1: NodeRestriction enabled, PodSecurity (on by default) not disabled."""
    enabled, disabled = _list(flags, "enable-admission-plugins"), _list(flags, "disable-admission-plugins")
    problems = ["NodeRestriction is not enabled"] if "NodeRestriction" not in enabled else []
    problems += ["PodSecurity is disabled"] if "PodSecurity" in disabled else []
    return "; ".join(problems) or None


def always_pull_images(flags: Mapping[str, str]) -> str:
    """CIS 1.2.11, information only: whether the AlwaysPullImages admission plugin (off by default) is on.

    Never a verdict: it is only safe where every image can be pulled again from a registry (a cluster
    without one, such as the local cluster, cannot start a pod with it), and CIS rates it Manual.
    """
    enabled = "AlwaysPullImages" in _list(flags, "enable-admission-plugins")
    if enabled and "AlwaysPullImages" not in _list(flags, "disable-admission-plugins"):
        return "AlwaysPullImages is enabled (informational, CIS 1.2.11)"
    return (
        "AlwaysPullImages is not enabled (informational, CIS 1.2.11: images cached on a node can be used by "
        "pods without the pull credentials)"
    )


def audit_log(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.16, 3.2.1: --audit-log-path and --audit-policy-file are set."""
    missing = [f"--{n}" for n in ("audit-log-path", "audit-policy-file") if not flags.get(n)]
    return f"{' and '.join(missing)} not set: no audit log" if missing else None


def encryption_config(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.27: --encryption-provider-config is set."""
    return None if flags.get("encryption-provider-config") else "--encryption-provider-config is not set"


def tls_settings(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.29: --tls-min-version TLS 1.2+ and only strong --tls-cipher-suites (set explicitly), both
    judged by the one TLS policy (``pytest_k8sharden.tlspolicy``)."""
    problems = []
    version = flags.get("tls-min-version", "not set")
    if tlspolicy.legacy_protocol(version):
        problems.append(f"--tls-min-version is {version}")
    suites = _list(flags, "tls-cipher-suites")
    weak = tlspolicy.weak_suites(suites)
    if not suites:
        problems.append("--tls-cipher-suites is not set")
    elif weak:
        problems.append(f"--tls-cipher-suites allows {', '.join(weak)}")
    return "; ".join(problems) or None


def profiling_off(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.15, 1.3.2, 1.4.1: --profiling=false (it defaults to true)."""
    value = flags.get("profiling", "true (default)")
    return None if value == "false" else f"--profiling is {value}"


def no_static_tokens(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.2: no --token-auth-file (nor the removed --basic-auth-file)."""
    present = [f"--{n}={flags[n]}" for n in ("token-auth-file", "basic-auth-file") if flags.get(n)]
    return f"{' and '.join(present)} set" if present else None


def kubelet_tls(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.4, 1.2.5: a kubelet client certificate and key, and --kubelet-certificate-authority."""
    names = ("kubelet-client-certificate", "kubelet-client-key", "kubelet-certificate-authority")
    missing = [f"--{n}" for n in names if not flags.get(n)]
    return f"{', '.join(missing)} not set" if missing else None


def service_account_lookup(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.21: --service-account-lookup is not false (it defaults to true)."""
    return "--service-account-lookup=false" if flags.get("service-account-lookup") == "false" else None


def etcd_tls(flags: Mapping[str, str]) -> str | None:
    """CIS 1.2.23, 1.2.26: the API server reaches etcd over https only, with a client certificate and key
    (--etcd-certfile, --etcd-keyfile) and verifying etcd against --etcd-cafile."""
    missing = [f"--{n}" for n in ("etcd-certfile", "etcd-keyfile", "etcd-cafile") if not flags.get(n)]
    problems = [f"{', '.join(missing)} not set"] if missing else []
    plaintext = [u for u in _list(flags, "etcd-servers") if u.startswith("http://")]
    problems += [f"--etcd-servers names plaintext {', '.join(plaintext)}"] if plaintext else []
    return "; ".join(problems) or None


def etcd_client_cert_auth(flags: Mapping[str, str]) -> str | None:
    """CIS 2.2: --client-cert-auth=true (and the client URLs are https)."""
    problems = [] if flags.get("client-cert-auth") == "true" else ["--client-cert-auth is not true"]
    plaintext = [u for u in _list(flags, "listen-client-urls") if u.startswith("http://")]
    problems += [f"listens for clients on plaintext {', '.join(plaintext)}"] if plaintext else []
    return "; ".join(problems) or None


def kubelet_configuration(node: str, config: Mapping[str, Any]) -> list[str]:
    """CIS 4.2.1-4.2.4 over one kubelet's /configz ``kubeletconfig``: the problems found."""
    auth = config.get("authentication") or {}
    problems = []
    if (auth.get("anonymous") or {}).get("enabled", True):
        problems.append("anonymous authentication is enabled")
    mode = (config.get("authorization") or {}).get("mode", "AlwaysAllow")
    if mode != "Webhook":
        problems.append(f"authorization mode is {mode}")
    if not (auth.get("x509") or {}).get("clientCAFile"):
        problems.append("no client CA file")
    if config.get("readOnlyPort", 0):
        problems.append(f"read-only port {config['readOnlyPort']} is open")
    return [f"kubelet on Node/{node}: {p}" for p in problems]


def encrypted_at_rest(raw: bytes | None, plaintext: bytes, key: str) -> Finding:
    """SECRETS-ENCRYPTED-AT-REST from the canary Secret's raw etcd value."""
    if raw is None:
        return Finding(Outcome.INCONCLUSIVE, f"etcd holds no value under {key}")
    if raw.startswith(ENCRYPTION_PREFIX):
        provider = raw[len(ENCRYPTION_PREFIX) :].split(b":", 2)[:2]
        return Finding(
            Outcome.PASSED, f"etcd stores {key} encrypted ({b':'.join(provider).decode(errors='replace')})"
        )
    leaked = " and contains the canary value in plaintext" if plaintext in raw else ""
    return Finding(Outcome.FAILED, f"etcd stores {key} without an encryption prefix (k8s:enc:){leaked}")
