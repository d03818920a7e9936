"""Getting the local cluster's binaries: PATH or cache, else verified release artifacts, else a Go build."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.downloads import (
    CACHE_ENV,
    ChecksumMismatch,
    DownloadError,
    cache_root,
    fetch_verified,
    install_executable,
    sha256,
)
from pytest_k8sharden.clusters.local.components import ALL_COMPONENTS, Component, ReleaseArtifact

__all__ = ["CACHE_ENV", "Binaries", "BinaryError", "ChecksumMismatch", "ensure", "ensure_all"]

Progress = Callable[[str], None]

SOURCES_ENV: Final = "K8SHARDEN_BINARY_SOURCES"
DEFAULT_SOURCES: Final = ("path", "cache", "release", "build")


class BinaryError(DownloadError):
    """A component's binaries could not be obtained (the message says which and why)."""


@dataclass(frozen=True)
class Binaries:
    """Where each binary of one component is, and how it was obtained."""

    component: str
    version: str
    source: str
    paths: dict[str, Path]


def configured_sources() -> tuple[str, ...]:
    """The ordered sources from ``$K8SHARDEN_BINARY_SOURCES`` (comma separated), or the default order."""
    raw = os.environ.get(SOURCES_ENV, "")
    sources = tuple(s.strip() for s in raw.split(",") if s.strip()) or DEFAULT_SOURCES
    unknown = set(sources) - set(DEFAULT_SOURCES)
    if unknown:
        raise BinaryError(
            f"{SOURCES_ENV} names unknown sources {sorted(unknown)}; known: {', '.join(DEFAULT_SOURCES)}"
        )
    return sources


def component_cache(component: Component, root: Path | None = None) -> Path:
    """``<cache>/<component>/<version>/``: one directory per pinned version."""
    return (root or cache_root()) / component.name / component.version


def ensure_all(
    progress: Progress,
    sources: Sequence[str] | None = None,
    components: Sequence[Component] = ALL_COMPONENTS,
) -> dict[str, Path]:
    """Make ``components``' binaries available; return binary name -> path (a later component's wins)."""
    paths: dict[str, Path] = {}
    for component in components:
        paths.update(ensure(component, progress, sources).paths)
    return paths


def ensure(component: Component, progress: Progress, sources: Sequence[str] | None = None) -> Binaries:
    """Obtain ``component``'s binaries from the first source that has them."""
    errors: list[str] = []
    for source in sources or configured_sources():
        try:
            found = _SOURCES[source](component, progress)
        except ChecksumMismatch:
            raise
        except (DownloadError, OSError) as error:
            errors.append(f"{source}: {error}")
            progress(
                f"{component.name} {component.version}: {source} failed ({error}); trying the next source"
            )
            continue
        if found is not None:
            return Binaries(component.name, component.version, source, found)
    detail = "; ".join(errors) or "no source had them"
    raise BinaryError(f"cannot obtain {component.name} {component.version}: {detail}")


def _from_path(component: Component, progress: Progress) -> dict[str, Path] | None:
    if not component.version_command:
        return None
    found: dict[str, Path] = {}
    for binary in component.binaries:
        located = shutil.which(binary)
        if located is None or not _reports_version(Path(located), component):
            return None
        found[binary] = Path(located)
    progress(f"{component.name} {component.version}: using binaries on PATH")
    return found


def _reports_version(binary: Path, component: Component) -> bool:
    try:
        shown = subprocess.run(
            [str(binary), *component.version_command], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return component.version.lstrip("v") in shown.stdout + shown.stderr


def _from_cache(component: Component, progress: Progress) -> dict[str, Path] | None:
    directory = component_cache(component) / "bin"
    found = {b: directory / b for b in component.binaries}
    if (
        all(p.is_file() and os.access(p, os.X_OK) for p in found.values())
        and (directory / ".complete").is_file()
    ):
        return found
    return None


def _mark_complete(directory: Path, found: dict[str, Path], how: str) -> None:
    lines = [f"{sha256(p.read_bytes())}  {name}" for name, p in sorted(found.items())]
    (directory / ".complete").write_text(f"# {how}\n" + "\n".join(lines) + "\n")


def _from_release(component: Component, progress: Progress) -> dict[str, Path] | None:
    if not component.releases:
        return None
    directory = component_cache(component) / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    found: dict[str, Path] = {}
    for artifact in component.releases:
        found.update(install_release_artifact(artifact, component.version, directory, progress))
    missing = set(component.binaries) - set(found)
    if missing:
        raise BinaryError(f"release artifacts do not provide {sorted(missing)}")
    _mark_complete(directory, found, "official release artifacts, checksums verified")
    return found


def install_release_artifact(
    artifact: ReleaseArtifact, version: str, directory: Path, progress: Progress
) -> dict[str, Path]:
    """Download one release file, verify it against its published SHA-256, install its binaries."""
    url = artifact.url.format(version=version, bare=version.lstrip("v"))
    checksum_url = artifact.checksum_url.format(version=version, bare=version.lstrip("v"))
    progress(f"downloading {url}")
    payload = fetch_verified(url, checksum_url)
    if not artifact.members:
        return {artifact.binary: install_executable(directory / artifact.binary, payload)}
    installed: dict[str, Path] = {}
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for member, binary in artifact.members:
            extracted = archive.extractfile(member.format(version=version, bare=version.lstrip("v")))
            if extracted is None:
                raise BinaryError(f"{url} has no file {member}")
            installed[binary] = install_executable(directory / binary, extracted.read())
    return installed


def build_from_modules(component: Component, progress: Progress) -> dict[str, Path]:
    """``go build`` of the component's packages from its wrapper module into the cache (source ``build``)."""
    go = shutil.which("go")
    if go is None:
        raise BinaryError("no Go toolchain on PATH to build from the upstream modules")
    directory = component_cache(component) / "bin"
    directory.mkdir(parents=True, exist_ok=True)
    env = dict(
        os.environ, GOFLAGS="-mod=mod", CGO_ENABLED="1" if component.cgo else "0", **dict(component.env)
    )
    command = [go, "build", "-trimpath", "-ldflags", " ".join(component.ldflags()), "-o", f"{directory}/"]
    if component.tags:
        command += ["-tags", ",".join(component.tags)]
    command += list(component.packages)
    progress(
        f"building {component.name} {component.version} from its Go modules ({', '.join(component.binaries)})"
    )
    started = time.monotonic()
    next_report = started + 30
    log_path = directory.parent / "build.log"
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            command, cwd=component.module_dir, env=env, stdout=log, stderr=subprocess.STDOUT
        ) as build,
    ):
        while build.poll() is None:
            time.sleep(1)
            if time.monotonic() >= next_report:
                progress(f"  still building {component.name}: {time.monotonic() - started:.0f} s")
                next_report += 30
    if build.returncode != 0:
        tail = log_path.read_text()[-2000:]
        raise BinaryError(f"go build of {component.name} failed (log {log_path}):\n{tail}")
    found = {b: directory / b for b in component.binaries}
    for source, target in component.module_assets:
        copy_module_asset(component, source, directory.parent / target)
    _mark_complete(directory, found, f"built from Go modules with {go}")
    progress(f"built {component.name} {component.version} in {time.monotonic() - started:.0f} s")
    return found


def module_source_dir(component: Component) -> Path:
    """Where the Go toolchain keeps the upstream module's source, downloaded if it is not there yet
    (``go list -m`` only names a module already in the module cache, and nothing on a fresh machine)."""
    shown = subprocess.run(
        ["go", "mod", "download", "-json", component.upstream_module],
        cwd=component.module_dir, capture_output=True, text=True, timeout=600, check=False,
        env=dict(os.environ, GOFLAGS="-mod=mod"),
    )  # fmt: skip
    try:
        directory = str(json.loads(shown.stdout).get("Dir", "")) if shown.returncode == 0 else ""
    except json.JSONDecodeError:
        directory = ""
    if not directory:
        said = shown.stderr.strip() or shown.stdout.strip()
        raise BinaryError(f"cannot download the source of {component.upstream_module}: {said}")
    return Path(directory)


def copy_module_asset(component: Component, source: str, target: Path) -> None:
    """Copy a directory of the upstream module (e.g. Cilium's BPF sources) into the cache."""
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(module_source_dir(component) / source, target)
    for path in [target, *target.rglob("*")]:  # the module cache is read-only
        path.chmod(0o755 if path.is_dir() else 0o644)


_SOURCES: Final[dict[str, Callable[[Component, Progress], dict[str, Path] | None]]] = {
    "path": _from_path,
    "cache": _from_cache,
    "release": _from_release,
    "build": build_from_modules,
}
