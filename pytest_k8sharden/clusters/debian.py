"""Debian root filesystems made with debootstrap (the kind node image's base, the scanner image's base)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Final

DEBIAN_SUITE: Final = "bookworm"
DEBIAN_MIRROR: Final = "http://deb.debian.org/debian"


class RootfsError(RuntimeError):
    """A root filesystem could not be made (the message says which step and why)."""


def debootstrap(rootfs: Path, packages: Sequence[str], purpose: str) -> None:
    """``debootstrap --variant=minbase`` of DEBIAN_SUITE with ``packages`` into ``rootfs``.

    ``purpose`` names what the base is for in the message when debootstrap is not installed.
    """
    if shutil.which("debootstrap") is None:
        raise RootfsError(f"debootstrap not found: {purpose} is built with it (apt-get install debootstrap)")
    try:
        run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
             DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR], timeout=1800)  # fmt: skip
    finally:
        refuse_mounts_under(rootfs)


def refuse_mounts_under(rootfs: Path) -> None:
    """debootstrap unmounts /proc and /sys of the new root when it succeeds; deleting a root with mounts
    still inside would reach into them, so stop instead."""
    inside = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    left = [m for m in inside if Path(m) == rootfs or rootfs in Path(m).parents]
    if left:
        raise RootfsError(f"mounts left under {rootfs}: {left}; unmount them, then remove it")


def run(command: Sequence[str], timeout: float = 600) -> None:
    """Run ``command``; raise RootfsError with the end of its output when it fails."""
    done = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RootfsError(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()[-2000:]}")
