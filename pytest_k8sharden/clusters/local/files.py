"""Writing the local cluster's files: certificates, keys, kubeconfigs, secrets, and what render.py renders."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from pytest_k8sharden.clusters.local import pki, render
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import Profile, encryption_configuration, new_encryption_key


def issue_certificates(
    state: ClusterState, addresses: Addresses, node_name: str, serving_days: int = 365
) -> render.Certificates:
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
    return render.Certificates(
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


def write_component_kubeconfigs(state: ClusterState, a: Addresses, certs: render.Certificates) -> None:
    """The kubeconfig of every component that reaches the API server on the host end of the veth."""
    for user, client in render.component_clients(certs).items():
        write_kubeconfig(
            render.kubeconfig_file(state, user), render.api_server_url(a), certs.ca.cert, client, user
        )


def write_secrets(state: ClusterState, profile: Profile) -> None:
    """The files of ``profile`` that hold secrets (mode 0600), made once and kept: the encryption key
    (a cluster must keep reading its Secrets) and the static token file."""
    if profile.encrypt_secrets:
        path = render.config_file(state, render.ENCRYPTION_FILE)
        if not path.exists():
            _private(path, yaml.safe_dump(encryption_configuration(new_encryption_key()), sort_keys=False))
    if profile.static_token_file:  # token,user,uid[,groups]: one random token of a user nothing is bound to
        path = render.config_file(state, render.TOKENS_FILE)
        if not path.exists():
            _private(
                path, f"{base64.b32encode(os.urandom(20)).decode().lower()},k8sharden-static-user,1001\n"
            )


def written(command: render.Command) -> list[str]:
    """Write the files ``command`` reads and make its directories; return its command line."""
    for directory in command.directories:
        directory.mkdir(parents=True, exist_ok=True)
    write_all(command.files)
    return command.argv


def write_all(files: Mapping[Path, str]) -> None:
    """Write each path's text, making its directory."""
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)
