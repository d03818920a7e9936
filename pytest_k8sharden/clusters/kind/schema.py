"""kind's ``kind.x-k8s.io/v1alpha4`` Cluster config as data, and a strict validator over it.

Written down from the Go types in ``sigs.k8s.io/kind/pkg/apis/config/v1alpha4/types.go`` (field names
are their yaml tags; Go types map to ``str``, ``bool``, ``int``; ``[]T`` to a one-element list; maps to
``{"<map>": T}``). kind loads configs strictly (unknown fields are errors), so this does too, and it
reports every error at once.
"""

from __future__ import annotations

from typing import Any, Final

import yaml

MAP: Final = "<map>"

MOUNT: Final[dict[str, Any]] = {
    "containerPath": str,
    "hostPath": str,
    "readOnly": bool,
    "selinuxRelabel": bool,
    "propagation": ("None", "HostToContainer", "Bidirectional"),
}
PORT_MAPPING: Final[dict[str, Any]] = {
    "containerPort": int,
    "hostPort": int,
    "listenAddress": str,
    "protocol": ("TCP", "UDP", "SCTP"),
}
PATCH_JSON6902: Final[dict[str, Any]] = {"group": str, "version": str, "kind": str, "patch": str}
NODE: Final[dict[str, Any]] = {
    "role": ("control-plane", "worker"),
    "image": str,
    "labels": {MAP: str},
    "extraMounts": [MOUNT],
    "extraPortMappings": [PORT_MAPPING],
    "gpus": str,
    "kubeadmConfigPatches": [str],
    "kubeadmConfigPatchesJSON6902": [PATCH_JSON6902],
}
NETWORKING: Final[dict[str, Any]] = {
    "ipFamily": ("ipv4", "ipv6", "dual"),
    "apiServerPort": int,
    "apiServerAddress": str,
    "podSubnet": str,
    "serviceSubnet": str,
    "disableDefaultCNI": bool,
    "kubeProxyMode": str,
    "dnsSearch": [str],
}
CLUSTER: Final[dict[str, Any]] = {
    "kind": ("Cluster",),
    "apiVersion": ("kind.x-k8s.io/v1alpha4",),
    "name": str,
    "nodes": [NODE],
    "networking": NETWORKING,
    "featureGates": {MAP: bool},
    "runtimeConfig": {MAP: str},
    "kubeadmConfigPatches": [str],
    "kubeadmConfigPatchesJSON6902": [PATCH_JSON6902],
    "containerdConfigPatches": [str],
    "containerdConfigPatchesJSON6902": [str],
}


def validate(document: object) -> list[str]:
    """Every way ``document`` breaks the v1alpha4 schema (empty when it is valid), as ``path: problem``.

    Besides field names and types, each ``kubeadmConfigPatches`` entry must be a YAML mapping that names
    its ``kind``, as kind requires to match the patch to its target.
    """
    errors: list[str] = []
    _check(document, CLUSTER, "$", errors)
    if isinstance(document, dict):
        patches = list(document.get("kubeadmConfigPatches") or [])
        for node in document.get("nodes") or []:
            if isinstance(node, dict):
                patches += node.get("kubeadmConfigPatches") or []
        for index, patch in enumerate(patches):
            if isinstance(patch, str):
                errors += _patch_errors(patch, f"kubeadmConfigPatches[{index}]")
    return errors


def _patch_errors(text: str, where: str) -> list[str]:
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return [f"{where}: not YAML ({str(exc).splitlines()[0]})"]
    if not isinstance(parsed, dict) or not isinstance(parsed.get("kind"), str):
        return [f"{where}: a patch must be a mapping with a kind"]
    return []


def _check(value: object, schema: Any, path: str, errors: list[str]) -> None:
    if isinstance(schema, tuple):
        if value not in schema:
            errors.append(f"{path}: {value!r} is not one of {', '.join(schema)}")
    elif schema is bool or schema is str:
        if not isinstance(value, schema):
            errors.append(f"{path}: expected {schema.__name__}, got {type(value).__name__}")
    elif schema is int:
        if not isinstance(value, int) or isinstance(value, bool) or not -(2**31) <= value < 2**31:
            errors.append(f"{path}: expected int32, got {value!r}")
    elif isinstance(schema, list):
        if not isinstance(value, list):
            errors.append(f"{path}: expected a list, got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(item, schema[0], f"{path}[{index}]", errors)
    elif MAP in schema:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(item, schema[MAP], f"{path}.{key}", errors)
    else:
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping, got {type(value).__name__}")
            return
        for key, item in value.items():
            if key not in schema:
                errors.append(f"{path}: unknown field {key!r}")
            else:
                _check(item, schema[key], f"{path}.{key}", errors)
