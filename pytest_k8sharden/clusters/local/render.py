"""Rendering a profile into the local cluster's command lines and configuration files: pure, nothing written.

The profile (profiles.py) holds every security-relevant setting; this module adds only what is local:
addresses of the node's slot, paths in the state directory, the paths of the certificates. files.py issues
the certificates, writes the kubeconfigs and keys, and writes what this module renders.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml

from pytest_k8sharden.clusters.local import pki
from pytest_k8sharden.clusters.local.images import PAUSE_IMAGE
from pytest_k8sharden.clusters.local.network import POD_BRIDGE, Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import (
    Profile,
    admission_configuration,
    authentication_configuration,
    plain,
)

SERVICE_ACCOUNT_ISSUER: Final = "https://kubernetes.default.svc.cluster.local"
ENCRYPTION_FILE: Final = "encryption.yaml"
TOKENS_FILE: Final = "tokens.csv"


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


@dataclass(frozen=True)
class Command:
    """A component's command line and the files it reads, as rendered (files.written() writes them)."""

    argv: list[str]
    files: Mapping[Path, str] = field(default_factory=dict)
    """The configuration files the command line names: path -> text."""
    directories: tuple[Path, ...] = ()
    """Directories the component writes into, made before it starts."""


def config_file(state: ClusterState, name: str) -> Path:
    """A file of the cluster's configuration directory."""
    return state.root / "config" / name


def kubeconfig_file(state: ClusterState, user: str) -> Path:
    """The kubeconfig of one component's identity."""
    return config_file(state, f"{user}.kubeconfig")


def api_server_url(a: Addresses) -> str:
    """The API server, on the host end of the veth."""
    return f"https://{a.host}:6443"


def component_clients(certs: Certificates) -> dict[str, pki.KeyPair]:
    """Each component that reaches the API server with a kubeconfig of its own -> its client certificate."""
    return {
        "controller-manager": certs.controller_manager,
        "scheduler": certs.scheduler,
        "kubelet": certs.kubelet_client,
        "kube-proxy": certs.kube_proxy,
    }


def _yaml(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(plain(document), sort_keys=False)


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


def etcd(binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates) -> Command:
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
    return Command([str(binary), *flags(settings)])


def apiserver(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> Command:
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
    files: dict[Path, str] = {}
    directories: tuple[Path, ...] = ()
    if profile.verify_kubelet_certificates:  # the kubelet's serving certificate is issued by the CA
        settings["kubelet-certificate-authority"] = str(certs.ca.cert)
    if profile.audit_policy is not None:
        policy, audit_dir = config_file(state, "audit-policy.yaml"), state.root / "audit"
        files[policy] = _yaml(profile.audit_policy)
        directories = (audit_dir,)
        settings |= {
            "audit-policy-file": str(policy),
            "audit-log-path": str(audit_dir / "audit.log"),
            "audit-log-maxage": "30",
            "audit-log-maxbackup": "10",
            "audit-log-maxsize": "100",
        }
    if profile.encrypt_secrets:  # the file holds a key: files.write_secrets() writes it
        settings["encryption-provider-config"] = str(config_file(state, ENCRYPTION_FILE))
    if profile.static_token_file:  # likewise a token
        settings["token-auth-file"] = str(config_file(state, TOKENS_FILE))
    if profile.anonymous_health_paths:
        authentication = config_file(state, "authentication.yaml")
        files[authentication] = _yaml(authentication_configuration(profile.anonymous_health_paths))
        settings["authentication-config"] = str(authentication)
    if profile.pod_security_defaults is not None:
        admission = config_file(state, "admission.yaml")
        files[admission] = _yaml(admission_configuration(profile.pod_security_defaults))
        settings["admission-control-config-file"] = str(admission)
    return Command([str(binary), *flags(settings | dict(profile.apiserver_flags))], files, directories)


def _control_plane_common(
    profile: Profile, state: ClusterState, a: Addresses, component: str
) -> dict[str, str]:
    kubeconfig = kubeconfig_file(state, component)
    return {
        "kubeconfig": str(kubeconfig),
        "authentication-kubeconfig": str(kubeconfig),
        "authorization-kubeconfig": str(kubeconfig),
        "bind-address": a.loopback if profile.control_plane_loopback_only else a.host,
        "cert-dir": str(state.root / "pki" / component),
        "leader-elect": "false",
    }


def controller_manager(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates
) -> Command:
    """kube-controller-manager: allocates the node's pod CIDR and signs with the cluster CA."""
    settings = _control_plane_common(profile, state, a, "controller-manager") | {
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
    return Command([str(binary), *flags(settings | dict(profile.controller_manager_flags))])


def scheduler(binary: Path, profile: Profile, state: ClusterState, a: Addresses) -> Command:
    """kube-scheduler."""
    settings = _control_plane_common(profile, state, a, "scheduler")
    return Command([str(binary), *flags(settings | dict(profile.scheduler_flags))])


def containerd(binary: Path, state: ClusterState, runc: Path) -> Command:
    """containerd 2.x and its config (version 3): all under the state directory, runc in our cgroup."""
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
      ShimCgroup = "/{state.cgroup_name}/shims"
"""
    path = config_file(state, "containerd.toml")
    return Command([str(binary), "--config", str(path)], {path: text})


def cni_config(
    state: ClusterState, addresses: Addresses, chained: Sequence[Mapping[str, Any]] = ()
) -> dict[Path, str]:
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
    return {state.root / "cni" / "net.d" / "10-k8sharden.conflist": json.dumps(conflist, indent=2)}


def kubelet(
    binary: Path, profile: Profile, state: ClusterState, a: Addresses, certs: Certificates, node_name: str
) -> Command:
    """kubelet in the node namespace: cgroupfs driver on cgroup v1, pods under our cgroup tree."""
    resolv = config_file(state, "resolv.conf")
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
    config_path = config_file(state, "kubelet.yaml")
    argv = [
        str(binary),
        f"--config={config_path}",
        f"--kubeconfig={kubeconfig_file(state, 'kubelet')}",
        f"--hostname-override={node_name}",
        f"--node-ip={a.node}",
        f"--root-dir={state.root / 'kubelet'}",
        f"--cert-dir={state.root / 'pki' / 'kubelet'}",
        "--v=2",
    ]
    return Command(argv, {resolv: "", config_path: _yaml(merged)})


def kube_proxy(binary: Path, state: ClusterState, a: Addresses, node_name: str) -> Command:
    """kube-proxy (iptables mode) in the node namespace; it leaves every host-wide sysctl alone."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig_file(state, "kube-proxy"))},
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
    config_path = config_file(state, "kube-proxy.yaml")
    return Command([str(binary), f"--config={config_path}", "--v=2"], {config_path: _yaml(config)})


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = plain(value)
    return merged
