"""The ``kind`` executable: the pinned release on PATH or in the cache, else downloaded and verified, else
built from its Go module at the pinned version (sources and their order: ``$K8SHARDEN_BINARY_SOURCES``)."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.downloads import (
    ChecksumMismatch,
    DownloadError,
    fetch_verified,
    install_executable,
)
from pytest_k8sharden.clusters.local.binaries import build_from_modules, component_cache, configured_sources
from pytest_k8sharden.clusters.local.components import Component

KIND: Final = Component(
    name="kind",
    upstream_module="sigs.k8s.io/kind",
    packages=("sigs.k8s.io/kind",),
    binaries=("kind",),
    version_command=("version",),
    gomods=Path(__file__).with_name("gomods"),
)
"""kind as a Go module, pinned by gomods/kind/go.mod (the one place its version is written)."""
KIND_VERSION: Final = KIND.version
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


def cached_kind() -> Path:
    """``<cache>/kind/<version>/bin/kind``, where both a download and a build are kept."""
    return component_cache(KIND) / "bin" / "kind"


def ensure_kind(progress: Progress, environ: Mapping[str, str] | None = None) -> Path:
    """A kind executable of the pinned version from the first configured source that has one.

    A download is checked against the SHA-256 kind publishes beside it before it is written to the
    cache; a mismatch raises ChecksumMismatch and nothing is installed (nor is anything built instead).
    """
    env = os.environ if environ is None else environ
    errors: list[str] = []
    for source in configured_sources():
        try:
            found = _from_source(source, progress, env)
        except ChecksumMismatch:
            raise
        except (DownloadError, OSError) as error:
            errors.append(str(error))
            progress(f"kind {KIND_VERSION}: {source} failed ({error}); trying the next source")
            continue
        if found is not None:
            return found
    raise KindBinaryError(
        "; ".join(errors) or f"no configured source ({', '.join(configured_sources())}) has it"
    )


def _from_source(source: str, progress: Progress, env: Mapping[str, str]) -> Path | None:
    if source == "path":
        return _from_path(progress, env)
    if source == "cache":
        target = cached_kind()
        return target if target.is_file() and reported_version(target) == KIND_VERSION else None
    if source == "release":
        return download_kind(progress, env)
    return build_kind(progress)


def _from_path(progress: Progress, env: Mapping[str, str]) -> Path | None:
    on_path = shutil.which("kind", path=env.get("PATH"))
    if on_path is None:
        return None
    found = reported_version(Path(on_path))
    if found == KIND_VERSION:
        progress(f"kind {KIND_VERSION}: using {on_path}")
        return Path(on_path)
    progress(f"kind on PATH ({on_path}) reports {found or 'no version'}, not {KIND_VERSION}; not using it")
    return None


def download_kind(progress: Progress, env: Mapping[str, str]) -> Path:
    """The release binary for this platform, verified against its published SHA-256, into the cache."""
    url = f"{env.get(RELEASE_URL_ENV, RELEASE_URL).rstrip('/')}/{KIND_VERSION}/{asset_name()}"
    progress(f"downloading {url}")
    payload = fetch_verified(url, url + ".sha256sum")
    target = cached_kind()
    target.parent.mkdir(parents=True, exist_ok=True)
    install_executable(target, payload)
    shown = reported_version(target)
    if shown != KIND_VERSION:
        target.unlink()
        raise KindBinaryError(f"{url} passed its checksum but reports version {shown}, not {KIND_VERSION}")
    progress(f"kind {KIND_VERSION}: SHA-256 verified, installed {target}")
    return target


def build_kind(progress: Progress) -> Path:
    """``go build`` of sigs.k8s.io/kind at the pinned version, into the cache."""
    built = build_from_modules(KIND, progress)["kind"]
    shown = reported_version(built)
    if shown != KIND_VERSION:
        raise KindBinaryError(f"the Go build of kind reports version {shown}, not {KIND_VERSION}")
    return built
