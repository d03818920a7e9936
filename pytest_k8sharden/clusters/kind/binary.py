"""The ``kind`` executable: the pinned release on PATH, else downloaded and verified before it ever runs."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.downloads import DownloadError, cache_root, fetch_verified, install_executable

KIND_VERSION: Final = "v0.33.0"
"""The pinned kind release (default node image kindest/node:v1.37.0, kubeadm config v1beta4)."""
RELEASE_URL_ENV: Final = "K8SHARDEN_KIND_RELEASE_URL"
RELEASE_URL: Final = "https://github.com/kubernetes-sigs/kind/releases/download"
"""Release files are ``<base>/<version>/kind-<os>-<arch>``, each with a ``.sha256sum`` file beside it."""
_ARCHES: Final = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

Progress = Callable[[str], None]


class KindBinaryError(DownloadError):
    """No usable kind executable (the message says why)."""


def asset_name(system: str | None = None, machine: str | None = None) -> str:
    """The release file for this platform, e.g. ``kind-linux-amd64``."""
    os_name = (system or platform.system()).lower()
    arch = _ARCHES.get((machine or platform.machine()).lower())
    if os_name not in ("linux", "darwin") or arch is None:
        raise KindBinaryError(f"kind publishes no binary for {os_name}/{machine or platform.machine()}")
    return f"kind-{os_name}-{arch}"


def reported_version(binary: Path) -> str | None:
    """The version ``kind version`` prints (``kind v0.33.0 go1.26 linux/amd64`` -> ``v0.33.0``)."""
    try:
        shown = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = shown.stdout.split()
    return words[1] if shown.returncode == 0 and len(words) >= 2 and words[0] == "kind" else None


def ensure_kind(progress: Progress, environ: Mapping[str, str] | None = None) -> Path:
    """A kind executable of the pinned version: from PATH, from the cache, else downloaded.

    A download is checked against the SHA-256 kind publishes beside it before it is written to the
    cache; a mismatch raises ChecksumMismatch and nothing is installed.
    """
    env = os.environ if environ is None else environ
    on_path = shutil.which("kind", path=env.get("PATH"))
    if on_path is not None:
        found = reported_version(Path(on_path))
        if found == KIND_VERSION:
            progress(f"kind {KIND_VERSION}: using {on_path}")
            return Path(on_path)
        progress(
            f"kind on PATH ({on_path}) reports {found or 'no version'}, not {KIND_VERSION}; not using it"
        )
    target = cache_root() / "kind" / KIND_VERSION / "kind"
    if target.is_file() and reported_version(target) == KIND_VERSION:
        return target
    name = asset_name()
    url = f"{env.get(RELEASE_URL_ENV, RELEASE_URL).rstrip('/')}/{KIND_VERSION}/{name}"
    progress(f"downloading {url}")
    payload = fetch_verified(url, url + ".sha256sum")
    target.parent.mkdir(parents=True, exist_ok=True)
    install_executable(target, payload)
    shown = reported_version(target)
    if shown != KIND_VERSION:
        target.unlink()
        raise KindBinaryError(f"{url} passed its checksum but reports version {shown}, not {KIND_VERSION}")
    progress(f"kind {KIND_VERSION}: SHA-256 verified, installed {target}")
    return target
