"""Rendering a profile into the local cluster's command lines and configuration files.

The profile (profiles.py) holds every security-relevant setting; this module adds only what is local:
addresses of the node's slot, paths in the state directory, certificates from pki.py.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pytest_k8sharden.clusters.local import pki
from pytest_k8sharden.clusters.local.images import PAUSE_IMAGE
from pytest_k8sharden.clusters.local.network import POD_BRIDGE, Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import (
    Profile,
    admission_configuration,
    encryption_configuration,
    new_encryption_key,
    plain,
)

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


@dataclass(frozen=True)
class Certificates:
    """Every certificate and key the cluster's components use."""

    ca: pki.KeyPair
    etcd_ca: pki.KeyPair
    apiserver: pki.KeyPair
    apiserver_kubelet_client: pki.KeyPair
    apiserver_etcd_client: pki.KeyPair
    etcd_server: pki.KeyPair
    etcd_peer: pki.KeyPair
    admin: pki.KeyPair
    controller_manager: pki.KeyPair
    scheduler: pki.KeyPair
    kubelet_client: pki.KeyPair
    kubelet_serving: pki.KeyPair
    kube_proxy: pki.KeyPair
    service_account: pki.KeyPair


def issue_certificates(
    state: ClusterState, addresses: Addresses, node_name: str, serving_days: int = 365
) -> Certificates:
    """Create (or reuse) the cluster's CAs and every component's certificate."""
    directory = state.root / "pki"
    ca = pki.CertificateAuthority(directory, "ca", f"{state.name}-ca")
    etcd_ca = pki.CertificateAuthority(directory, "etcd-ca", f"{state.name}-etcd-ca")
    loopback = "127.0.0.1"
    apiserver_names = (
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    )
    return Certificates(
        ca=ca.paths,
        etcd_ca=etcd_ca.paths,
        apiserver=ca.issue(
            pki.Identity(
                "apiserver",
                "kube-apiserver",
                dns_names=(*apiserver_names, "localhost"),
                ip_addresses=(addresses.host, addresses.kubernetes_service_ip, loopback),
                server=True,
                rsa_bits=2048,
                days=serving_days,
            )
        ),
        apiserver_kubelet_client=ca.issue(
            pki.Identity(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",), client=True
            )
        ),
        apiserver_etcd_client=etcd_ca.issue(
            pki.Identity("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True)
        ),
        etcd_server=etcd_ca.issue(
            pki.Identity(
                "etcd-server",
                node_name,
                dns_names=("localhost",),
                ip_addresses=(addresses.host, loopback),
                server=True,
                client=True,
            )
        ),
        etcd_peer=etcd_ca.issue(
            pki.Identity("etcd-peer", node_name, ip_addresses=(addresses.host,), server=True, client=True)
        ),
        admin=ca.issue(pki.Identity("admin", "k8sharden-admin", ("system:masters",), client=True)),
        controller_manager=ca.issue(
            pki.Identity("controller-manager", "system:kube-controller-manager", client=True)
        ),
        scheduler=ca.issue(pki.Identity("scheduler", "system:kube-scheduler", client=True)),
        kubelet_client=ca.issue(
            pki.Identity("kubelet-client", f"system:node:{node_name}", ("system:nodes",), client=True)
        ),
        kubelet_serving=ca.issue(
            pki.Identity(
                "kubelet-serving",
                node_name,
                dns_names=(node_name,),
                ip_addresses=(addresses.node,),
                server=True,
                rsa_bits=2048,
                days=serving_days,
            )
        ),
        kube_proxy=ca.issue(pki.Identity("kube-proxy", "system:kube-proxy", client=True)),
        service_account=pki.signing_key(directory, "sa"),
    )


def write_kubeconfig(path: Path, server: str, ca: Path, client: pki.KeyPair, user: str) -> Path:
    """A kubeconfig with embedded credentials (mode 0600), for one client identity."""

    def embedded(file: Path) -> str:
        return base64.b64encode(file.read_bytes()).decode()

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority-data": embedded(ca)}}
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": embedded(client.cert),
                    "client-key-data": embedded(client.key),
                },
            }
        ],
        "contexts": [{"name": user, "context": {"cluster": "local", "user": user}}],
        "current-context": user,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        yaml.safe_dump(config, out)
    return path


def _component_kubeconfig(
    state: ClusterState, a: Addresses, certs: Certificates, client: pki.KeyPair, user: str
) -> Path:
    """The kubeconfig a component uses to reach the API server on the host end of the veth."""
    return write_kubeconfig(
        state.path("config", f"{user}.kubeconfig"), f"https://{a.host}:6443", certs.ca.cert, client, user
    )


def flags(settings: Mapping[str, str]) -> list[str]:
    """``--key=value`` arguments, in a stable order."""
    return [f"--{key}={value}" for key, value in sorted(settings.items())]


def node_pod_cidr(addresses: Addresses) -> str:
    """The /24 the controller-manager allocates to the only node (the first of the cluster range)."""
    return str(next(ipaddress.ip_network(addresses.cluster_cidr).subnets(new_prefix=24)))


def node_pod_gateway(addresses: Addresses) -> str:
    """The bridge's address (first of the node's pod /24), as the bridge plugin would assign it."""
    network = ipaddress.ip_network(node_pod_cidr(addresses))
    return f"{network.network_address + 1}/{network.prefixlen}"


def etcd_argv(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> list[str]:
    """etcd on the host end of the veth; TLS with required client certificates unless the profile says no."""
    scheme = "https" if profile.etcd_tls else "http"
    settings = {
        "name": "node",
        "data-dir": str(state.root / "etcd"),
        "listen-client-urls": f"{scheme}://{a.host}:2379",
        "advertise-client-urls": f"{scheme}://{a.host}:2379",
        "listen-peer-urls": f"{scheme}://{a.host}:2380",
        "initial-advertise-peer-urls": f"{scheme}://{a.host}:2380",
        "initial-cluster": f"node={scheme}://{a.host}:2380",
        "listen-metrics-urls": f"http://{a.host}:2381",
        # A throwaway test cluster: without fsync a loaded disk cannot stall etcd past the request
        # timeout of the components starting against it (durability across a host crash is not needed).
        "unsafe-no-fsync": "true",
    }
    if profile.etcd_tls:
        settings |= {
            "client-cert-auth": "true",
            "trusted-ca-file": str(certs.etcd_ca.cert),
            "cert-file": str(certs.etcd_server.cert),
            "key-file": str(certs.etcd_server.key),
            "peer-client-cert-auth": "true",
            "peer-trusted-ca-file": str(certs.etcd_ca.cert),
            "peer-cert-file": str(certs.etcd_peer.cert),
            "peer-key-file": str(certs.etcd_peer.key),
        }
    return [str(binary), *flags(settings)]


def apiserver_argv(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> list[str]:
    """kube-apiserver on the host end of the veth, with the profile's security flags."""
    settings = {
        "advertise-address": a.host,
        "bind-address": a.host,
        "secure-port": "6443",
        "allow-privileged": "true",
        "client-ca-file": str(certs.ca.cert),
        "tls-cert-file": str(certs.apiserver.cert),
        "tls-private-key-file": str(certs.apiserver.key),
        "kubelet-client-certificate": str(certs.apiserver_kubelet_client.cert),
        "kubelet-client-key": str(certs.apiserver_kubelet_client.key),
        "kubelet-preferred-address-types": "InternalIP",
        "service-account-issuer": SERVICE_ACCOUNT_ISSUER,
        "service-account-key-file": str(certs.service_account.cert),
        "service-account-signing-key-file": str(certs.service_account.key),
        "service-cluster-ip-range": a.service_cidr,
        "etcd-servers": f"{'https' if profile.etcd_tls else 'http'}://{a.host}:2379",
        "endpoint-reconciler-type": "lease",
    }
    if profile.etcd_tls:
        settings |= {
            "etcd-cafile": str(certs.etcd_ca.cert),
            "etcd-certfile": str(certs.apiserver_etcd_client.cert),
            "etcd-keyfile": str(certs.apiserver_etcd_client.key),
        }
    if profile.name == "hardened":
        settings["kubelet-certificate-authority"] = str(certs.ca.cert)
    if profile.audit_policy is not None:
        settings |= {
            "audit-policy-file": str(
                _write_yaml(state.path("config", "audit-policy.yaml"), profile.audit_policy)
            ),
            "audit-log-path": str(state.path("audit", "audit.log")),
            "audit-log-maxage": "30",
            "audit-log-maxbackup": "10",
            "audit-log-maxsize": "100",
        }
    if profile.encrypt_secrets:
        settings["encryption-provider-config"] = str(_encryption_config(state))
    if profile.static_token_file:
        settings["token-auth-file"] = str(_static_token_file(state))
    if profile.pod_security_defaults is not None:
        settings["admission-control-config-file"] = str(
            _admission_config(state, profile.pod_security_defaults)
        )
    return [str(binary), *flags(settings | dict(profile.apiserver_flags))]


def _control_plane_common(
    profile: Profile,
    state: ClusterState,
    a: Addresses,
    certs: Certificates,
    component: str,
    client: pki.KeyPair,
) -> dict[str, str]:
    kubeconfig = _component_kubeconfig(state, a, certs, client, component)
    return {
        "kubeconfig": str(kubeconfig),
        "authentication-kubeconfig": str(kubeconfig),
        "authorization-kubeconfig": str(kubeconfig),
        "bind-address": a.loopback if profile.control_plane_loopback_only else a.host,
        "cert-dir": str(state.root / "pki" / component),
        "leader-elect": "false",
    }


def controller_manager_argv(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> list[str]:
    """kube-controller-manager: allocates the node's pod CIDR and signs with the cluster CA."""
    settings = _control_plane_common(
        profile, state, a, certs, "controller-manager", certs.controller_manager
    ) | {
        "allocate-node-cidrs": "true",
        "cluster-cidr": a.cluster_cidr,
        "node-cidr-mask-size": "24",
        "service-cluster-ip-range": a.service_cidr,
        "cluster-signing-cert-file": str(certs.ca.cert),
        "cluster-signing-key-file": str(certs.ca.key),
        "root-ca-file": str(certs.ca.cert),
        "service-account-private-key-file": str(certs.service_account.key),
        "controllers": "*,bootstrapsigner,tokencleaner",
        # Each controller under its own ServiceAccount (CIS 1.3.3): the node IPAM controller needs it to
        # patch the node's pod CIDR, so every profile keeps it.
        "use-service-account-credentials": "true",
    }
    return [str(binary), *flags(settings | dict(profile.controller_manager_flags))]


def scheduler_argv(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> list[str]:
    """kube-scheduler."""
    settings = _control_plane_common(profile, state, a, certs, "scheduler", certs.scheduler)
    return [str(binary), *flags(settings | dict(profile.scheduler_flags))]


def containerd_config(state: ClusterState, runc: Path, cgroup_name: str) -> Path:
    """containerd 2.x config (version 3): everything under the state directory, runc in our cgroup."""
    root = state.root / "containerd"
    text = f"""version = 3
root = "{root / "root"}"
state = "{root / "state"}"

[grpc]
  address = "{root / "containerd.sock"}"

[ttrpc]
  address = "{root / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{PAUSE_IMAGE}"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{state.root / "cni" / "bin"}"]
    conf_dir = "{state.root / "cni" / "net.d"}"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = "{runc}"
      SystemdCgroup = false
      ShimCgroup = "/{cgroup_name}/shims"
"""
    path = state.path("config", "containerd.toml")
    path.write_text(text)
    return path


def cni_config(state: ClusterState, addresses: Addresses, chained: Sequence[Mapping[str, Any]] = ()) -> Path:
    """The bridge + host-local + portmap network of the pods (no masquerade: nothing leaves the node).

    ``chained`` plugins follow them (the NetworkPolicy enforcer's, where the profile enforces policy).
    """
    conflist = {
        "cniVersion": "1.0.0",
        "name": "k8sharden",
        "plugins": [
            {
                "type": "bridge",
                "bridge": POD_BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": node_pod_cidr(addresses)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state.root / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            *chained,
        ],
    }
    path = state.path("cni", "net.d", "10-k8sharden.conflist")
    path.write_text(json.dumps(conflist, indent=2))
    return path


def kubelet_argv(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates, node_name: str
) -> list[str]:
    """kubelet in the node namespace: cgroupfs driver on cgroup v1, pods under our cgroup tree."""
    kubeconfig = _component_kubeconfig(state, a, certs, certs.kubelet_client, "kubelet")
    resolv = state.path("config", "resolv.conf")
    resolv.write_text("")
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": a.node,
        "port": 10250,
        "tlsCertFile": str(certs.kubelet_serving.cert),
        "tlsPrivateKeyFile": str(certs.kubelet_serving.key),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{state.cgroup_name}/pods",
        "failCgroupV1": False,
        "failSwapOn": False,
        "oomScoreAdj": 0,
        "containerRuntimeEndpoint": f"unix://{state.root / 'containerd' / 'containerd.sock'}",
        "clusterDomain": "cluster.local",
        "resolvConf": str(resolv),
        "podLogsDir": str(state.root / "pod-logs"),
        "hairpinMode": "hairpin-veth",
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "registerNode": True,
        "maxPods": 110,
    }
    merged = _deep_merge(config, dict(profile.kubelet_config))
    merged.setdefault("authentication", {}).setdefault("x509", {})["clientCAFile"] = str(certs.ca.cert)
    config_path = _write_yaml(state.path("config", "kubelet.yaml"), merged)
    return [
        str(binary),
        f"--config={config_path}",
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={node_name}",
        f"--node-ip={a.node}",
        f"--root-dir={state.root / 'kubelet'}",
        f"--cert-dir={state.root / 'pki' / 'kubelet'}",
        "--v=2",
    ]


def kube_proxy_argv(
    binary: Path, state: ClusterState, a: Addresses, certs: Certificates, node_name: str
) -> list[str]:
    """kube-proxy (iptables mode) in the node namespace; it leaves every host-wide sysctl alone."""
    kubeconfig = _component_kubeconfig(state, a, certs, certs.kube_proxy, "kube-proxy")
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": a.cluster_cidr,
        "hostnameOverride": node_name,
        "bindAddress": a.node,
        "healthzBindAddress": f"{a.node}:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "nodePortAddresses": [f"{a.node}/32"],
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "iptables": {"localhostNodePorts": False},
    }
    config_path = _write_yaml(state.path("config", "kube-proxy.yaml"), config)
    return [str(binary), f"--config={config_path}", "--v=2"]


def _encryption_config(state: ClusterState) -> Path:
    path = state.path("config", "encryption.yaml")
    if not path.exists():
        _write_yaml(path, encryption_configuration(new_encryption_key())).chmod(0o600)
    return path


def _static_token_file(state: ClusterState) -> Path:
    """token,user,uid[,groups] (one random token of a user nothing is bound to), mode 0600."""
    path = state.path("config", "tokens.csv")
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(f"{base64.b32encode(os.urandom(20)).decode().lower()},k8sharden-static-user,1001\n")
    return path


def _admission_config(state: ClusterState, defaults: Mapping[str, str]) -> Path:
    return _write_yaml(state.path("config", "admission.yaml"), admission_configuration(defaults))


def pin_images(document: Any, pinned: Mapping[str, str]) -> Any:
    """``document`` with every ``image`` named by tag in ``pinned`` replaced by its digest-pinned name."""
    if isinstance(document, Mapping):
        return {
            key: pinned.get(value, value)
            if key == "image" and isinstance(value, str)
            else pin_images(value, pinned)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [pin_images(item, pinned) for item in document]
    return document


def _write_yaml(path: Path, document: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(plain(document), sort_keys=False))
    return path


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = plain(value)
    return merged
