"""kind cluster configs rendered from the profiles, and a strict check against kind's v1alpha4 schema.

A profile becomes one ``kind.x-k8s.io/v1alpha4`` Cluster: kubeadm ``ClusterConfiguration`` merge patches
carry the API server, controller-manager and scheduler flags (``kubeadm.k8s.io/v1beta4``, whose
``extraArgs`` are lists of name/value pairs), a ``KubeletConfiguration`` patch carries the kubelet
settings, and ``extraMounts`` put the audit policy, encryption, admission and authentication configuration
files into the node, from where ``extraVolumes`` hand them to the API server's static pod.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, Final

import yaml

from pytest_k8sharden.profiles import (
    Profile,
    admission_configuration,
    authentication_configuration,
    encryption_configuration,
    new_encryption_key,
    plain,
)

KIND_API_VERSION: Final = "kind.x-k8s.io/v1alpha4"
KUBEADM_API_VERSION: Final = "kubeadm.k8s.io/v1beta4"
KUBELET_API_VERSION: Final = "kubelet.config.k8s.io/v1beta1"
DEFAULT_FILES_DIR: Final = PurePosixPath("/etc/k8sharden/kind")
"""Where the checked-in kind-configs expect the profile's files (``k8sharden kind-configs --files-dir``)."""
NODE_FILES_DIR: Final = PurePosixPath("/etc/kubernetes/k8sharden")
"""Where the files are mounted inside the node container and the API server's pod."""
NODE_AUDIT_DIR: Final = PurePosixPath("/var/log/kubernetes/audit")
NODE_CA_FILE: Final = PurePosixPath("/etc/kubernetes/pki/ca.crt")
"""The cluster CA kubeadm writes into the node (and the API server's pod)."""
HEADER: Final = (
    "# Generated from pytest_k8sharden/profiles.py by `k8sharden kind-configs`; do not edit by hand.\n"
)

AUDIT_POLICY_FILE: Final = "audit-policy.yaml"
ENCRYPTION_FILE: Final = "encryption-config.yaml"
ADMISSION_FILE: Final = "admission.yaml"
AUTHENTICATION_FILE: Final = "authentication.yaml"
CNI_FILE: Final = "10-k8sharden-ptp.conflist"
POD_SUBNET: Final = "10.244.0.0/16"
"""kind's default pod subnet, written out for the profile that brings its own CNI configuration."""
CNI_WITHOUT_POLICY: Final[Mapping[str, Any]] = {
    "cniVersion": "1.0.0",
    "name": "k8sharden-ptp",
    "plugins": [
        {
            "type": "ptp",
            "ipMasq": True,
            "ipam": {
                "type": "host-local",
                "ranges": [[{"subnet": "10.244.0.0/24"}]],
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
}
"""Pod networking without any NetworkPolicy enforcement for a single-node cluster: the reference ``ptp``,
``host-local`` and ``portmap`` plugins that kind's node image ships in /opt/cni/bin, configured on the
node's first /24 of the pod subnet (the one the controller-manager gives the only node)."""


def cluster_name(profile: str) -> str:
    """The kind cluster of a profile: ``k8sharden-<profile>``."""
    return f"k8sharden-{profile}"


def _args(flags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in flags.items()]


def _file_names(profile: Profile) -> list[str]:
    """The API server's files for ``profile`` (mounted into the node under NODE_FILES_DIR)."""
    names = []
    if profile.audit_policy is not None:
        names.append(AUDIT_POLICY_FILE)
    if profile.encrypt_secrets:
        names.append(ENCRYPTION_FILE)
    if profile.pod_security_defaults is not None:
        names.append(ADMISSION_FILE)
    if profile.anonymous_health_paths:
        names.append(AUTHENTICATION_FILE)
    return names


def _node_mounts(profile: Profile) -> list[tuple[str, PurePosixPath]]:
    """(file name, path inside the node) for every file of ``profile``."""
    mounts = [(name, NODE_FILES_DIR / name) for name in _file_names(profile)]
    if not profile.network_policy_enforced:
        mounts.append((CNI_FILE, PurePosixPath("/etc/cni/net.d") / CNI_FILE))
    return mounts


def _kubeadm_authorization(flags: Mapping[str, str]) -> dict[str, str]:
    """`flags` with the Node authorizer kept: kubeadm init waits for its kubelet to register before any
    seed can be applied, so the legacy ``system:node`` binding the local insecure profile seeds instead
    would come too late and init would fail. On kind, CONFIG-APISERVER-AUTHORIZATION-MODE passes even on
    the insecure profile."""
    modes = flags.get("authorization-mode")
    if modes is None or "Node" in modes.split(","):
        return dict(flags)
    return {**flags, "authorization-mode": f"Node,{modes}"}


def _apiserver(profile: Profile) -> dict[str, Any]:
    flags = _kubeadm_authorization(profile.apiserver_flags)
    volumes = []
    files = _file_names(profile)
    if files:
        volumes.append(
            {"name": "k8sharden", "hostPath": str(NODE_FILES_DIR), "mountPath": str(NODE_FILES_DIR),
             "readOnly": True, "pathType": "Directory"}
        )  # fmt: skip
    if profile.audit_policy is not None:
        flags |= {
            "audit-policy-file": str(NODE_FILES_DIR / AUDIT_POLICY_FILE),
            "audit-log-path": str(NODE_AUDIT_DIR / "audit.log"),
            "audit-log-maxage": "30",
            "audit-log-maxbackup": "10",
            "audit-log-maxsize": "100",
        }
        volumes.append(
            {"name": "audit-log", "hostPath": str(NODE_AUDIT_DIR), "mountPath": str(NODE_AUDIT_DIR),
             "readOnly": False, "pathType": "DirectoryOrCreate"}
        )  # fmt: skip
    if profile.verify_kubelet_certificates:
        flags["kubelet-certificate-authority"] = str(NODE_CA_FILE)
    if profile.encrypt_secrets:
        flags["encryption-provider-config"] = str(NODE_FILES_DIR / ENCRYPTION_FILE)
    if profile.pod_security_defaults is not None:
        flags["admission-control-config-file"] = str(NODE_FILES_DIR / ADMISSION_FILE)
    if profile.anonymous_health_paths:
        flags["authentication-config"] = str(NODE_FILES_DIR / AUTHENTICATION_FILE)
    section: dict[str, Any] = {"extraArgs": _args(flags)}
    if volumes:
        section["extraVolumes"] = volumes
    return section


def _component(flags: Mapping[str, str], loopback_only: bool) -> dict[str, Any]:
    # kubeadm binds both to 127.0.0.1 by default; the insecure profile opens them up.
    bind = {} if loopback_only else {"bind-address": "0.0.0.0"}
    return {"extraArgs": _args({**flags, **bind})}


def render(profile: Profile, files_dir: PurePosixPath | Path = DEFAULT_FILES_DIR) -> dict[str, Any]:
    """The kind Cluster for ``profile``; its files are expected in ``files_dir/<profile>/``."""
    cluster_configuration = {
        "apiVersion": KUBEADM_API_VERSION,
        "kind": "ClusterConfiguration",
        "apiServer": _apiserver(profile),
        "controllerManager": _component(
            profile.controller_manager_flags, profile.control_plane_loopback_only
        ),
        "scheduler": _component(profile.scheduler_flags, profile.control_plane_loopback_only),
    }
    kubelet = {
        "apiVersion": KUBELET_API_VERSION,
        "kind": "KubeletConfiguration",
        **plain(profile.kubelet_config),
    }
    if profile.verify_kubelet_certificates:
        # the kubelet asks the cluster CA for its serving certificate (kubeadm's kubelet signs its own
        # otherwise); its CertificateSigningRequests wait for an approval
        kubelet["serverTLSBootstrap"] = True
    node: dict[str, Any] = {"role": "control-plane"}
    mounts = [
        {"hostPath": str(PurePosixPath(files_dir) / profile.name / name),
         "containerPath": str(inside), "readOnly": True}
        for name, inside in _node_mounts(profile)
    ]  # fmt: skip
    if mounts:
        node["extraMounts"] = mounts
    document: dict[str, Any] = {
        "kind": "Cluster",
        "apiVersion": KIND_API_VERSION,
        "name": cluster_name(profile.name),
    }
    if not profile.network_policy_enforced:
        # kind's default CNI (kindnetd) enforces NetworkPolicy since v0.24.0 and has no switch for that
        # alone: the only way to run without enforcement is to leave out the default CNI and bring a
        # plain one (CNI_WITHOUT_POLICY, mounted into the node).
        document["networking"] = {"disableDefaultCNI": True, "podSubnet": POD_SUBNET}
    document["nodes"] = [node]
    document["kubeadmConfigPatches"] = [
        yaml.safe_dump(cluster_configuration, sort_keys=False),
        yaml.safe_dump(kubelet, sort_keys=False),
    ]
    return document


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the kubeadm patches) as literal blocks, as kind's own docs show them."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _str)


def dump(profile: Profile, files_dir: PurePosixPath | Path = DEFAULT_FILES_DIR) -> str:
    """The text of ``kind-configs/<profile>.yaml``."""
    return HEADER + yaml.dump(render(profile, files_dir), Dumper=_Dumper, sort_keys=False, width=200)


def write_files(profile: Profile, files_dir: Path) -> list[Path]:
    """Write the profile's files into ``files_dir/<profile>/`` (mode 0600): audit policy, Pod Security
    admission configuration, authentication configuration, a fresh encryption configuration unless one is
    there already, and the CNI configuration of a profile without NetworkPolicy enforcement."""
    directory = files_dir / profile.name
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    documents: dict[str, Mapping[str, Any]] = {}
    if profile.audit_policy is not None:
        documents[AUDIT_POLICY_FILE] = profile.audit_policy
    if profile.encrypt_secrets:
        documents[ENCRYPTION_FILE] = encryption_configuration(new_encryption_key())
    if profile.pod_security_defaults is not None:
        documents[ADMISSION_FILE] = admission_configuration(profile.pod_security_defaults)
    if profile.anonymous_health_paths:
        documents[AUTHENTICATION_FILE] = authentication_configuration(profile.anonymous_health_paths)
    if not profile.network_policy_enforced:
        documents[CNI_FILE] = CNI_WITHOUT_POLICY
    written = []
    for name, document in documents.items():
        path = directory / name
        if name == ENCRYPTION_FILE and path.exists():
            continue  # a cluster created with this key must keep reading its Secrets
        path.touch(mode=0o600, exist_ok=True)
        text = json.dumps(plain(document), indent=2) + "\n" if name == CNI_FILE else None
        path.write_text(text or yaml.safe_dump(plain(document), sort_keys=False))
        written.append(path)
    return written
