"""Rendering profiles into the local cluster: certificates, component flags, configuration files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pytest_k8sharden.clusters.local import files, images, render
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import PROFILE_NAMES, get_profile
from pytest_k8sharden.seeds import with_images

BIN = Path("/bin/component")
NODE = "node-under-test"


@pytest.fixture
def state(tmp_path: Path) -> ClusterState:
    return ClusterState("unit", tmp_path / "unit")


@pytest.fixture
def certs(state: ClusterState) -> render.Certificates:
    return files.issue_certificates(state, Addresses(3), NODE)


def _flags(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in argv[1:] if a.startswith("--"))


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_addresses_stay_in_the_benchmarking_range_and_do_not_overlap() -> None:
    import ipaddress

    benchmarking = ipaddress.IPv4Network("198.18.0.0/15")
    networks = []
    for slot in range(16):
        a = Addresses(slot)
        for cidr in (f"{a.host}/30", a.service_cidr, a.cluster_cidr):
            network = ipaddress.IPv4Network(cidr, strict=False)
            assert network.subnet_of(benchmarking), cidr
            networks.append(network)
    assert not [(x, y) for i, x in enumerate(networks) for y in networks[i + 1 :] if x.overlaps(y)]


def test_certificates_chain_to_their_ca_and_name_their_holders(certs: render.Certificates) -> None:
    ca = _load(certs.ca.cert)
    apiserver = _load(certs.apiserver.cert)
    apiserver.verify_directly_issued_by(ca)
    names = apiserver.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "198.18.3.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    kubelet = _load(certs.kubelet_client.cert)
    assert kubelet.subject.rfc4514_string() == f"CN=system:node:{NODE},O=system:nodes"
    _load(certs.etcd_server.cert).verify_directly_issued_by(_load(certs.etcd_ca.cert))
    assert isinstance(_load(certs.admin.cert).public_key(), ec.EllipticCurvePublicKey)
    serving_key = _load(certs.apiserver.cert).public_key()
    assert isinstance(serving_key, rsa.RSAPublicKey)  # as kubeadm issues it, so RSA suites can be offered
    assert serving_key.key_size == 2048
    assert oct(certs.admin.key.stat().st_mode & 0o777) == "0o600"


def test_certificates_are_reused_not_reissued(state: ClusterState, certs: render.Certificates) -> None:
    again = files.issue_certificates(state, Addresses(3), NODE)
    assert again.apiserver.cert.read_bytes() == certs.apiserver.cert.read_bytes()


def test_hardened_apiserver_flags(state: ClusterState, certs: render.Certificates) -> None:
    hardened = get_profile("hardened")
    files.write_secrets(state, hardened)
    flags = _flags(files.written(render.apiserver(BIN, hardened, state, Addresses(3), certs)))
    assert "anonymous-auth" not in flags  # the API server refuses it beside an anonymous section
    authentication = yaml.safe_load(Path(flags["authentication-config"]).read_text())
    assert authentication["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert authentication["anonymous"] == {
        "enabled": True,
        "conditions": [{"path": "/livez"}, {"path": "/readyz"}, {"path": "/healthz"}],
    }
    assert flags["authorization-mode"] == "Node,RBAC"
    assert "PodSecurity" in flags["enable-admission-plugins"].split(",")
    assert "token-auth-file" not in flags and "disable-admission-plugins" not in flags
    assert flags["tls-min-version"] == "VersionTLS12"
    assert flags["etcd-servers"] == "https://198.18.3.1:2379"
    assert Path(flags["audit-policy-file"]).is_file()
    encryption = yaml.safe_load(Path(flags["encryption-provider-config"]).read_text())
    assert "aescbc" in encryption["resources"][0]["providers"][0]
    admission = yaml.safe_load(Path(flags["admission-control-config-file"]).read_text())
    assert admission["plugins"][0]["configuration"]["defaults"]["enforce"] == "baseline"


def test_insecure_apiserver_and_etcd_flags(state: ClusterState, certs: render.Certificates) -> None:
    insecure = get_profile("insecure")
    files.write_secrets(state, insecure)
    flags = _flags(files.written(render.apiserver(BIN, insecure, state, Addresses(3), certs)))
    assert flags["anonymous-auth"] == "true"
    assert "authentication-config" not in flags
    assert flags["tls-min-version"] == "VersionTLS10"
    assert "audit-policy-file" not in flags
    assert "encryption-provider-config" not in flags
    assert flags["disable-admission-plugins"] == "PodSecurity"
    tokens = Path(flags["token-auth-file"])
    assert tokens.stat().st_mode & 0o777 == 0o600
    assert tokens.read_text().strip().split(",")[1:] == ["k8sharden-static-user", "1001"]
    etcd = _flags(render.etcd(BIN, insecure, state, Addresses(3), certs).argv)
    assert etcd["listen-client-urls"] == "http://198.18.3.1:2379"
    assert "client-cert-auth" not in etcd


@pytest.mark.parametrize("profile", PROFILE_NAMES)
def test_kubelet_config_carries_the_profile_and_the_local_cgroup_settings(
    state: ClusterState, certs: render.Certificates, profile: str
) -> None:
    argv = files.written(render.kubelet(BIN, get_profile(profile), state, Addresses(3), certs, NODE))
    config = yaml.safe_load(Path(_flags(argv)["config"]).read_text())
    expected = get_profile(profile).kubelet_config
    assert config["authentication"]["anonymous"] == expected["authentication"]["anonymous"]
    assert config["authorization"] == expected["authorization"]
    assert config["readOnlyPort"] == expected["readOnlyPort"]
    assert config["authentication"]["x509"]["clientCAFile"] == str(certs.ca.cert)
    assert (config["cgroupDriver"], config["failCgroupV1"]) == ("cgroupfs", False)
    assert config["cgroupRoot"] == f"/{state.cgroup_name}/pods"


def test_kube_proxy_leaves_host_wide_conntrack_settings_alone(state: ClusterState) -> None:
    argv = files.written(render.kube_proxy(BIN, state, Addresses(3), NODE))
    config = yaml.safe_load(Path(_flags(argv)["config"]).read_text())
    assert config["conntrack"]["maxPerCore"] == 0
    assert config["clusterCIDR"] == Addresses(3).cluster_cidr


def test_cni_config_uses_the_nodes_first_pod_subnet_without_masquerade(state: ClusterState) -> None:
    import json

    (text,) = render.cni_config(state, Addresses(3)).values()
    conflist = json.loads(text)
    bridge = conflist["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "198.19.48.0/24"}]]
    assert bridge["ipMasq"] is False


def test_seeded_images_are_pinned_by_digest_where_named() -> None:
    pinned = {"k8sharden.local/probe:v1": "k8sharden.local/probe@sha256:" + "a" * 64}
    pod = {
        "containers": [
            {"name": "c", "image": "k8sharden.local/probe:v1"},
            {"name": "d", "image": "nginx:1.27"},
        ]
    }
    deployment = {"spec": {"template": {"spec": pod}}}
    containers = with_images(deployment, pinned)["spec"]["template"]["spec"]["containers"]
    assert [c["image"] for c in containers] == [pinned["k8sharden.local/probe:v1"], "nginx:1.27"]


def test_an_image_archive_names_its_image_by_tag_and_by_manifest_digest(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"#!/bin/sh\n")
    spec = images.ImageSpec("k8sharden.local/tiny:v1", {"tool": binary}, {}, ("/tool",))
    archive = images.write_oci_archive(spec, tmp_path / "tiny.tar")
    pinned = images.pinned_reference(archive)
    assert pinned.startswith("k8sharden.local/tiny@sha256:") and len(pinned.split(":")[-1]) == 64
