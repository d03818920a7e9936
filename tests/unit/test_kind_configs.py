"""kind-configs/*.yaml: rendered from the profiles, checked in, valid against kind's v1alpha4 schema."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_k8sharden.cli import main
from pytest_k8sharden.clusters.kind.config import (
    CNI_FILE,
    ENCRYPTION_FILE,
    POD_SUBNET,
    dump,
    render,
    write_files,
)
from pytest_k8sharden.clusters.kind.schema import validate
from pytest_k8sharden.profiles import HARDENED, HEALTH_PATHS, INSECURE, PROFILE_NAMES, get_profile

KIND_CONFIGS = Path(__file__).parents[2] / "kind-configs"


def _patch(document: dict[str, Any], kind: str) -> dict[str, Any]:
    patches = [yaml.safe_load(text) for text in document["kubeadmConfigPatches"]]
    return next(p for p in patches if p["kind"] == kind)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_checked_in_kind_config_is_the_rendering_of_its_profile(name: str) -> None:
    assert (KIND_CONFIGS / f"{name}.yaml").read_text() == dump(get_profile(name))


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_checked_in_kind_config_is_valid_v1alpha4(name: str) -> None:
    assert validate(yaml.safe_load((KIND_CONFIGS / f"{name}.yaml").read_text())) == []


def test_kind_configs_check_command_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kind-configs", "--check", "--out", str(KIND_CONFIGS)]) == 0


def test_kind_configs_check_command_reports_a_stale_file(tmp_path: Path) -> None:
    assert main(["kind-configs", "--out", str(tmp_path)]) == 0
    (tmp_path / "hardened.yaml").write_text((tmp_path / "hardened.yaml").read_text() + "# edited\n")
    assert main(["kind-configs", "--check", "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha4", "node": []}, "$: unknown field 'node'"),
        (
            {"kind": "Cluster", "apiVersion": "kind.x-k8s.io/v1alpha3"},
            "$.apiVersion: 'kind.x-k8s.io/v1alpha3'",
        ),
        ({"kind": "Cluster", "networking": {"disableDefaultCNI": "yes"}}, "disableDefaultCNI: expected bool"),
        ({"kind": "Cluster", "nodes": [{"role": "master"}]}, "$.nodes[0].role: 'master' is not one of"),
        ({"kind": "Cluster", "nodes": [{"extraMounts": [{"readonly": True}]}]}, "unknown field 'readonly'"),
        ({"kind": "Cluster", "networking": {"apiServerPort": 2**31}}, "apiServerPort: expected int32"),
        ({"kind": "Cluster", "featureGates": {"Foo": "true"}}, "$.featureGates.Foo: expected bool"),
        (
            {"kind": "Cluster", "kubeadmConfigPatches": ["apiServer: {}\n"]},
            "a patch must be a mapping with a kind",
        ),
    ],
)
def test_schema_rejects_what_kind_rejects(document: dict[str, Any], problem: str) -> None:
    assert any(problem in error for error in validate(document)), validate(document)


def test_schema_reports_every_error_at_once() -> None:
    errors = validate({"kind": "Cluster", "nope": 1, "nodes": [{"role": "boss", "gpus": 1}]})
    assert len(errors) == 3


def test_hardened_config_carries_every_profile_flag_and_the_files() -> None:
    document = render(HARDENED)
    cluster = _patch(document, "ClusterConfiguration")
    args = {a["name"]: a["value"] for a in cluster["apiServer"]["extraArgs"]}
    assert dict(HARDENED.apiserver_flags).items() <= args.items()
    assert args["audit-log-path"] == "/var/log/kubernetes/audit/audit.log"
    mounted = {m["containerPath"] for m in document["nodes"][0]["extraMounts"]}
    assert {args["audit-policy-file"], args["encryption-provider-config"], args["authentication-config"]} <= (
        mounted
    )
    assert "anonymous-auth" not in args
    kubelet = _patch(document, "KubeletConfiguration")
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert "networking" not in document  # kindnetd, which enforces NetworkPolicy, stays


def test_insecure_config_drops_the_policy_enforcing_cni_and_opens_the_control_plane() -> None:
    document = render(INSECURE)
    assert document["networking"]["disableDefaultCNI"] is True
    cluster = _patch(document, "ClusterConfiguration")
    assert {"name": "bind-address", "value": "0.0.0.0"} in cluster["scheduler"]["extraArgs"]
    (mount,) = document["nodes"][0]["extraMounts"]
    assert mount["containerPath"] == f"/etc/cni/net.d/{CNI_FILE}"


def test_kind_keeps_the_node_authorizer_kubeadm_init_needs() -> None:
    assert INSECURE.apiserver_flags["authorization-mode"] == "RBAC"  # the local cluster's seed
    for profile in (INSECURE, HARDENED):
        args = _patch(render(profile), "ClusterConfiguration")["apiServer"]["extraArgs"]
        assert {"name": "authorization-mode", "value": "Node,RBAC"} in args


def test_insecure_cni_configuration_is_plain_ptp_without_a_policy_plugin(tmp_path: Path) -> None:
    (written,) = write_files(INSECURE, tmp_path)
    conflist = json.loads(written.read_text())
    assert [plugin["type"] for plugin in conflist["plugins"]] == ["ptp", "portmap"]
    subnet = conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
    assert ipaddress.IPv4Network(subnet).subnet_of(ipaddress.IPv4Network(POD_SUBNET))


def test_profile_files_are_private_and_an_existing_encryption_key_is_kept(tmp_path: Path) -> None:
    written = write_files(HARDENED, tmp_path)
    assert {p.name for p in written} == {
        "audit-policy.yaml",
        ENCRYPTION_FILE,
        "admission.yaml",
        "authentication.yaml",
    }
    authentication = yaml.safe_load((tmp_path / "hardened" / "authentication.yaml").read_text())
    assert [c["path"] for c in authentication["anonymous"]["conditions"]] == list(HEALTH_PATHS)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in written)
    key_file = tmp_path / "hardened" / ENCRYPTION_FILE
    before = key_file.read_text()
    assert "aescbc" in before
    write_files(HARDENED, tmp_path)
    assert key_file.read_text() == before


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_kubelet_certificate_verification_comes_from_the_profile(name: str) -> None:
    document = render(get_profile(name))
    cluster = _patch(document, "ClusterConfiguration")
    args = {arg["name"]: arg["value"] for arg in cluster["apiServer"]["extraArgs"]}
    verifies = get_profile(name).verify_kubelet_certificates
    assert ("kubelet-certificate-authority" in args) == verifies
    assert _patch(document, "KubeletConfiguration").get("serverTLSBootstrap", False) == verifies


def test_a_profile_cannot_set_anonymous_auth_beside_anonymous_health_paths() -> None:
    flags = {**HARDENED.apiserver_flags, "anonymous-auth": "false"}
    with pytest.raises(ValueError, match="--anonymous-auth must not be set beside anonymous_health_paths"):
        dataclasses.replace(HARDENED, apiserver_flags=flags)
