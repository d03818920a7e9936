"""One cgroup tree per cluster, in every mounted hierarchy: everything the node runs lives inside it.

The host's cgroup mounts belong to its supervisor: this module never mounts, unmounts or writes outside
``/<hierarchy>/<tree name>/``. Every node process (containerd, its shims, kubelet, pods) is inside the
tree, so stopping the node is "kill every PID in the tree, then remove the tree", even after a crash.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.polling import wait_until

MOUNTINFO: Final = Path("/proc/self/mountinfo")
RMDIR_RETRY_S: Final = 5.0
"""How long a cgroup directory the kernel still holds (busy) is tried again before it is left behind."""


def cgroup_mounts() -> list[Path]:
    """Mount points of every cgroup (v1) and cgroup2 hierarchy, from /proc/self/mountinfo."""
    mounts: list[Path] = []
    for line in MOUNTINFO.read_text().splitlines():
        fields = line.split()
        separator = fields.index("-")
        if fields[separator + 1] in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[4]))
    return mounts


@dataclass(frozen=True)
class CgroupTree:
    """The cgroup ``/<name>`` in every hierarchy, created and removed by us alone."""

    name: str

    def paths(self, sub: str = "") -> list[Path]:
        """The directory of ``/<name>/<sub>`` in each hierarchy."""
        return [mount / self.name / sub if sub else mount / self.name for mount in cgroup_mounts()]

    def create(self, sub: str = "") -> None:
        """Create ``/<name>/<sub>`` in every hierarchy (cpuset gets its parent's cpus and mems)."""
        for path in self.paths(sub):
            for level in reversed([path, *path.parents]):
                if level.exists() or self.name not in level.parts:
                    continue
                level.mkdir()
                _inherit_cpuset(level)

    def add(self, pid: int, sub: str = "") -> None:
        """Move ``pid`` into ``/<name>/<sub>`` of every hierarchy."""
        for path in self.paths(sub):
            (path / "cgroup.procs").write_text(str(pid))

    def pids(self) -> set[int]:
        """Every process in the tree, in any hierarchy."""
        found: set[int] = set()
        for root in self.paths():
            if not root.exists():
                continue
            for procs in root.rglob("cgroup.procs"):
                try:
                    found.update(int(p) for p in procs.read_text().split())
                except OSError:
                    continue
        return found

    def kill_all(self, grace_s: float = 10.0) -> None:
        """SIGTERM every process in the tree, then SIGKILL what is left after ``grace_s``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                _signal(pid, sig)
            if wait_until(lambda: not self.pids(), grace_s, interval_s=0.2):
                return

    def remove(self) -> list[Path]:
        """Remove the tree, deepest first; return what could not be removed."""
        left: list[Path] = []
        for root in self.paths():
            if not root.exists():
                continue
            for directory in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                _rmdir(directory, left)
            _rmdir(root, left)
        return left

    def exists(self) -> bool:
        """Whether any hierarchy still has the tree."""
        return any(p.exists() for p in self.paths())


def _inherit_cpuset(path: Path) -> None:
    for name in ("cpuset.cpus", "cpuset.mems"):
        own = path / name
        if own.exists() and not own.read_text().strip():
            own.write_text((path.parent / name).read_text())


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _rmdir(directory: Path, left: list[Path]) -> None:
    """Remove ``directory``, trying again while the kernel still holds it (busy)."""

    def removed() -> bool:
        try:
            directory.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return True

    if not wait_until(removed, RMDIR_RETRY_S, interval_s=0.1):
        left.append(directory)
