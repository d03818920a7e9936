"""Where one local cluster keeps everything: a single state directory per cluster name."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.local.network import MAX_SLOTS
from pytest_k8sharden.locks import exclusive

STATE_ENV: Final = "K8SHARDEN_STATE_DIR"
NAME_PREFIX_ENV: Final = "K8SHARDEN_LOCAL_NAME_PREFIX"
"""Prefix of the names ``--cluster=local`` gives its clusters (default ``k8sharden``)."""
DEFAULT_STATE_ROOT: Final = Path("/var/lib/pytest-k8sharden")
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


def state_root() -> Path:
    """``$K8SHARDEN_STATE_DIR`` or /var/lib/pytest-k8sharden."""
    configured = os.environ.get(STATE_ENV)
    return Path(configured) if configured else DEFAULT_STATE_ROOT


def cluster_name(profile: str) -> str:
    """``<prefix>-<profile>``: the name ``--cluster=local`` gives `profile`'s cluster."""
    return f"{os.environ.get(NAME_PREFIX_ENV) or 'k8sharden'}-{profile}"


@dataclass(frozen=True)
class ClusterInfo:
    """What ``up`` decided for a cluster; stored as cluster.json in its state directory."""

    name: str
    profile: str
    slot: int
    versions: dict[str, str]


@dataclass(frozen=True)
class ClusterState:
    """The state directory of cluster ``name`` and the paths inside it."""

    name: str
    root: Path

    @classmethod
    def for_name(cls, name: str) -> ClusterState:
        """The state of cluster ``name`` under the state root (the name is validated)."""
        if not _NAME.match(name):
            raise ValueError(f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-'")
        return cls(name, state_root() / name)

    @property
    def info_file(self) -> Path:
        """cluster.json."""
        return self.root / "cluster.json"

    def load_info(self) -> ClusterInfo | None:
        """The stored decisions of ``up``, if the cluster was ever brought up."""
        if not self.info_file.exists():
            return None
        return ClusterInfo(**json.loads(self.info_file.read_text()))

    def save_info(self, info: ClusterInfo) -> None:
        """Store the decisions of ``up``."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.info_file.write_text(json.dumps(asdict(info), indent=2))

    def path(self, *parts: str) -> Path:
        """A path inside the state directory, its parent directory created."""
        target = self.root.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    @property
    def ready_marker(self) -> Path:
        """Written when ``up`` finished: a cluster without it is the remains of a failed or crashed run."""
        return self.root / "ready"

    @property
    def cgroup_name(self) -> str:
        """The cgroup tree of this cluster, in every hierarchy."""
        return f"k8sharden-{self.name}"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig handed to users and to the test session."""
        return self.root / "kubeconfig"


@contextlib.contextmanager
def slot_lock() -> Iterator[None]:
    """Held while a cluster picks its address slot and records it, so two ``up`` runs never pick the same."""
    root = state_root()
    root.mkdir(parents=True, exist_ok=True)
    with exclusive(root / ".slots.lock"):
        yield


def free_slot(name: str) -> int:
    """The address slot already used by ``name``, else the lowest one no other cluster uses."""
    root = state_root()
    used: dict[int, str] = {}
    if root.exists():
        for info_file in root.glob("*/cluster.json"):
            info = json.loads(info_file.read_text())
            used[int(info["slot"])] = str(info["name"])
    for slot, owner in used.items():
        if owner == name:
            return slot
    for slot in range(MAX_SLOTS):
        if slot not in used:
            return slot
    raise RuntimeError(f"all {MAX_SLOTS} local cluster slots are in use under {root}")
