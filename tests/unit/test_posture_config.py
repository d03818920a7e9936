"""Control-plane configuration analysis: flags parsed from real command lines, CIS rules, sources, canary."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from pytest_k8sharden.access import parse_flags
from pytest_k8sharden.clusters.local.controlplane import read_cmdline
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.posture import config
from pytest_k8sharden.profiles import HARDENED, INSECURE


def test_flags_with_equals_with_a_separate_value_and_bare() -> None:
    argv = ["/bin/kube-apiserver", "--a=1", "--b", "two", "--c", "--d=x=y", "positional"]
    assert parse_flags(argv) == {"a": "1", "b": "two", "c": "true", "d": "x=y"}


def test_the_real_argv_of_a_process_is_read_from_proc() -> None:
    argv = [sys.executable, "-c", "import time; time.sleep(30)", "--anonymous-auth=true", "--v", "2"]
    process = subprocess.Popen(argv)
    try:
        assert wait_until(lambda: read_cmdline(process.pid) == tuple(argv), 10.0)
    finally:
        process.kill()
        process.wait()
    assert read_cmdline(process.pid) is None


def _lines(profile_flags: Any, **extra: str) -> config.CommandLines:
    instance = config.Instance("process/kube-apiserver", {**profile_flags, **extra})
    return config.CommandLines("test", {"kube-apiserver": (instance,)})


ETCD_TLS = {"etcd-certfile": "/pki/c.crt", "etcd-keyfile": "/pki/c.key", "etcd-cafile": "/pki/ca.crt"}
RULES = [
    config.anonymous_auth, config.authorization_mode, config.admission_plugins, config.profiling_off,
    config.tls_settings, config.service_account_lookup,
]  # fmt: skip


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_hardened_profile_flags_pass_and_insecure_ones_fail(rule: Any) -> None:
    # the renderers add --authentication-config where the profile limits anonymous requests
    rendered = {"authentication-config": "/authn.yaml"} if HARDENED.anonymous_health_paths else {}
    hardened = config.judge(_lines({**HARDENED.apiserver_flags, **rendered}), "kube-apiserver", "ok", rule)
    insecure = config.judge(_lines(INSECURE.apiserver_flags), "kube-apiserver", "ok", rule)
    assert hardened.outcome is Outcome.PASSED, hardened.message
    assert insecure.outcome is Outcome.FAILED, insecure.message
    assert insecure.message.startswith("kube-apiserver (test): process/kube-apiserver: "), insecure.message


@pytest.mark.parametrize(
    ("rule", "flags", "problem"),
    [
        (config.anonymous_auth, {}, "--anonymous-auth is true (default)"),
        (config.anonymous_auth, {"authentication-config": "/a.yaml", "anonymous-auth": "true"},
         "--anonymous-auth is true"),
        (config.authorization_mode, {"authorization-mode": "RBAC"}, "lacks Node"),
        (config.authorization_mode, {"authorization-mode": "Node,RBAC,AlwaysAllow"}, "includes AlwaysAllow"),
        (config.authorization_mode, {}, "includes AlwaysAllow (default)"),
        (config.audit_log, {"audit-log-path": "/var/log/a"}, "--audit-policy-file not set"),
        (config.encryption_config, {}, "--encryption-provider-config is not set"),
        (config.tls_settings, {"tls-min-version": "VersionTLS12"}, "--tls-cipher-suites is not set"),
        (config.no_static_tokens, {"token-auth-file": "/t.csv"}, "--token-auth-file=/t.csv set"),
        (config.kubelet_tls, {"kubelet-client-certificate": "c", "kubelet-client-key": "k"},
         "--kubelet-certificate-authority not set"),
        (config.etcd_client_cert_auth, {"listen-client-urls": "http://10.0.0.1:2379"}, "plaintext"),
        (config.etcd_tls, {"etcd-servers": "http://10.0.0.1:2379"},
         "--etcd-certfile, --etcd-keyfile, --etcd-cafile not set; --etcd-servers names plaintext http://10.0.0.1:2379"),
        (config.etcd_tls, {**ETCD_TLS, "etcd-servers": "https://a:2379,http://b:2379"},
         "--etcd-servers names plaintext http://b:2379"),
        (config.etcd_tls, {"etcd-certfile": "c", "etcd-keyfile": "k"}, "--etcd-cafile not set"),
    ],
)  # fmt: skip
def test_each_rule_names_the_flag(rule: Any, flags: dict[str, str], problem: str) -> None:
    assert problem in (rule(flags) or "")


def test_tls_to_etcd_with_a_client_certificate_and_ca_passes() -> None:
    assert config.etcd_tls({**ETCD_TLS, "etcd-servers": "https://a:2379,https://b:2379"}) is None


def test_node_and_rbac_authorization_passes() -> None:
    assert config.authorization_mode({"authorization-mode": "Node,RBAC"}) is None


@pytest.mark.parametrize(
    ("enable", "disable", "says"),
    [
        ("NodeRestriction,AlwaysPullImages", "", "AlwaysPullImages is enabled (informational"),
        ("NodeRestriction", "", "AlwaysPullImages is not enabled (informational"),
        ("NodeRestriction,AlwaysPullImages", "AlwaysPullImages", "AlwaysPullImages is not enabled"),
    ],
)
def test_always_pull_images_is_stated_and_never_changes_the_verdict(
    enable: str, disable: str, says: str
) -> None:
    flags = {"enable-admission-plugins": enable, "disable-admission-plugins": disable}
    assert says in config.always_pull_images(flags)
    assert config.admission_plugins(flags) is None
    flags["disable-admission-plugins"] += ",PodSecurity"
    assert config.admission_plugins(flags) == "PodSecurity is disabled"


def test_the_profiles_state_always_pull_images_absent() -> None:
    """No profile enables it: the local cluster has no registry to pull from again."""
    for profile in (HARDENED, INSECURE):
        assert "not enabled" in config.always_pull_images(profile.apiserver_flags)


def test_a_component_not_visible_is_inconclusive_with_the_source() -> None:
    instance = config.Instance("process/kube-apiserver", {"profiling": "false"})
    lines = config.CommandLines("no mirror pods", {"kube-apiserver": (instance,)})
    finding = config.judge_all(lines, ("kube-apiserver", "kube-scheduler"), "ok", config.profiling_off)
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert "kube-scheduler" in finding.message and "no mirror pods" in finding.message


def _pod(name: str, argv: list[str], namespace: str = "kube-system", mirror: bool = True) -> dict[str, Any]:
    annotations = {config.MIRROR_ANNOTATION: "4f1c"} if mirror else {}
    meta = {"name": name, "namespace": namespace, "labels": {"component": "kube-apiserver"}}
    return {
        "metadata": {**meta, "annotations": annotations},
        "spec": {"containers": [{"command": argv[:1], "args": argv[1:]}]},
    }


SECURE = ["kube-apiserver", "--anonymous-auth=false"]
OPEN = ["kube-apiserver", "--anonymous-auth=true"]


@pytest.mark.parametrize(
    ("pods", "processes", "outcome", "says"),
    [
        pytest.param(
            [_pod("kube-apiserver-a", SECURE), _pod("kube-apiserver-b", OPEN)], None, Outcome.FAILED,
            "Pod/kube-system/kube-apiserver-b: --anonymous-auth is true", id="several: worst wins",
        ),
        pytest.param(
            [_pod("kube-apiserver-b", OPEN), _pod("kube-apiserver-a", SECURE)], None, Outcome.FAILED,
            "Pod/kube-system/kube-apiserver-b", id="whatever their order",
        ),
        pytest.param(
            [_pod("kube-apiserver-a", OPEN), _pod("decoy", SECURE, mirror=False)], None, Outcome.FAILED,
            "kube-apiserver-a", id="a pod without the mirror annotation does not count",
        ),
        pytest.param(
            [_pod("decoy", SECURE, mirror=False)], None, Outcome.INCONCLUSIVE, "not visible",
            id="only an unmirrored look-alike: nothing seen",
        ),
        pytest.param(
            [_pod("decoy", SECURE, namespace="apps")], None, Outcome.INCONCLUSIVE, "not visible",
            id="outside kube-system",
        ),
        pytest.param(
            [_pod("kube-apiserver-a", SECURE)], {"kube-apiserver": OPEN}, Outcome.FAILED,
            "process/kube-apiserver: --anonymous-auth is true", id="the real process comes before any pod",
        ),
        pytest.param(
            [_pod("kube-apiserver-a", SECURE), _pod("kube-apiserver-b", SECURE)], None, Outcome.PASSED,
            "2 instance(s): Pod/kube-system/kube-apiserver-a, Pod/kube-system/kube-apiserver-b",
            id="a pass names every instance",
        ),
    ],
)  # fmt: skip
def test_every_mirrored_api_server_is_judged(
    pods: list[dict[str, Any]], processes: dict[str, list[str]] | None, outcome: Outcome, says: str
) -> None:
    lines = config.command_lines(pods, processes, "/proc of the test")
    finding = config.judge(lines, "kube-apiserver", "refuses anonymous clients", config.anonymous_auth)
    assert finding.outcome is outcome, finding.message
    assert says in finding.message


def test_kubelet_configuration_problems_are_named_per_node() -> None:
    secure = {
        "authentication": {"anonymous": {"enabled": False}, "x509": {"clientCAFile": "/ca.crt"}},
        "authorization": {"mode": "Webhook"},
        "readOnlyPort": 0,
    }
    assert config.kubelet_configuration("n1", secure) == []
    insecure = {"authentication": {"anonymous": {"enabled": True}}, "authorization": {"mode": "AlwaysAllow"},
                "readOnlyPort": 10255}  # fmt: skip
    assert config.kubelet_configuration("n1", insecure) == [
        "kubelet on Node/n1: anonymous authentication is enabled",
        "kubelet on Node/n1: authorization mode is AlwaysAllow",
        "kubelet on Node/n1: no client CA file",
        "kubelet on Node/n1: read-only port 10255 is open",
    ]


def test_canary_encrypted_plaintext_and_missing() -> None:
    key = "/registry/secrets/ns/canary"
    encrypted = config.encrypted_at_rest(b"k8s:enc:aescbc:v1:key1:\x00\x01", b"secret-value", key)
    assert encrypted.outcome is Outcome.PASSED and "aescbc:v1" in encrypted.message
    plain = config.encrypted_at_rest(
        b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret secret-value", b"secret-value", key
    )
    assert plain.outcome is Outcome.FAILED and "plaintext" in plain.message
    assert config.encrypted_at_rest(None, b"x", key).outcome is Outcome.INCONCLUSIVE


@pytest.mark.parametrize(
    ("flags", "by_configuration"),
    [
        ({"authentication-config": "/etc/kubernetes/authn.yaml"}, True),
        ({"authentication-config": "/etc/kubernetes/authn.yaml", "anonymous-auth": "false"}, False),
        ({"anonymous-auth": "false"}, False),
        ({}, False),
    ],
)
def test_an_authentication_config_without_the_flag_decides_anonymous_authentication(
    flags: dict[str, str], by_configuration: bool
) -> None:
    """Its anonymous section is then judged by its effect (exposure.anonymous_health_only), not here."""
    assert config.anonymous_by_configuration(flags) is by_configuration
    assert (config.anonymous_auth(flags) is None) is (
        by_configuration or flags.get("anonymous-auth") == "false"
    )
