"""The periodic job's image (deploy/Containerfile) built here, with no registry and no container engine.

``python:3.11-slim`` cannot be pulled here, so the same image is made from what is reachable: a Debian
base from ``debootstrap --variant=minbase`` with Debian's python3 (3.11 in bookworm), the wheels the
Containerfile's build stage makes (``pip wheel . pytest-html``) installed into a virtualenv, the
Containerfile's ``useradd``, and the Containerfile's own ENTRYPOINT, CMD, USER, ENV and WORKDIR, read
from it. The result is a one-layer OCI archive for ``ctr images import`` and ``kind load image-archive``,
cached by the content of the wheels and the configuration taken from the Containerfile.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.debian import DEBIAN_SUITE, RootfsError, debootstrap, run
from pytest_k8sharden.clusters.downloads import cache_root
from pytest_k8sharden.clusters.local import images

CONTAINERFILE: Final = Path("deploy") / "Containerfile"
SCANNER_REPOSITORY: Final = "k8sharden.local/scanner"
BASE_PACKAGES: Final = ("python3", "python3-venv", "ca-certificates")
VENV: Final = "/opt/k8sharden"
DEBIAN_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
USERADD: Final = ("useradd", "--uid", "65532", "--user-group", "--no-create-home", "--home-dir", "/tmp",
                  "scanner")  # fmt: skip
"""The Containerfile's user (its RUN line has the same words)."""
EXTRA_WHEELS: Final = ("pytest-html",)
"""What the Containerfile's build stage wheels besides the project."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ImageConfig:
    """The runtime settings of the Containerfile's final stage."""

    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    user: str
    env: tuple[tuple[str, str], ...]
    workdir: str


@dataclass(frozen=True)
class ScannerImage:
    """A built image: its tag and its OCI archive."""

    reference: str
    archive: Path


def containerfile_config(text: str) -> ImageConfig:
    """ENTRYPOINT, CMD (exec form), USER, ENV and WORKDIR of the last stage of a Containerfile."""
    instructions = _instructions(text)
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    user, workdir, env = "", "/", []
    for line in instructions[last_from:]:
        keyword, _, rest = line.partition(" ")
        if keyword == "ENTRYPOINT":
            entrypoint = tuple(json.loads(rest))
        elif keyword == "CMD":
            cmd = tuple(json.loads(rest))
        elif keyword == "USER":
            user = rest
        elif keyword == "WORKDIR":
            workdir = rest
        elif keyword == "ENV":
            env += [(name, value) for name, _, value in (word.partition("=") for word in shlex.split(rest))]
    return ImageConfig(entrypoint, cmd, user, tuple(env), workdir)


def oci_config(config: ImageConfig) -> dict[str, object]:
    """The OCI image configuration: the Containerfile's, with the virtualenv first on PATH (in the
    Containerfile's base image, pip installs into /usr/local/bin, already on PATH)."""
    return {
        "Entrypoint": list(config.entrypoint),
        "Cmd": list(config.cmd),
        "User": config.user,
        "Env": [f"PATH={VENV}/bin:{DEBIAN_PATH}", "LANG=C.UTF-8", *(f"{k}={v}" for k, v in config.env)],
        "WorkingDir": config.workdir,
    }


def wheel_key(wheels: Sequence[Path]) -> str:
    """SHA-256 over the wheels' names and their members' names and contents (not the zip timestamps,
    which change with every build of the project's own wheel)."""
    digest = hashlib.sha256()
    for wheel in sorted(wheels, key=lambda w: w.name):
        digest.update(wheel.name.encode() + b"\0")
        with zipfile.ZipFile(wheel) as archive:
            for member in sorted(archive.namelist()):
                digest.update(member.encode() + b"\0" + hashlib.sha256(archive.read(member)).digest())
    return digest.hexdigest()


def copy_build_context(source: Path, text: str, target: Path) -> None:
    """What the Containerfile's build stage COPYs from ``source`` (its build context), into ``target``."""
    instructions = _instructions(text)
    last_from = max(i for i, line in enumerate(instructions) if line.startswith("FROM "))
    for line in instructions[:last_from]:
        keyword, *paths = shlex.split(line)
        if keyword != "COPY" or any(p.startswith("--") for p in paths):
            continue
        *sources, destination = paths
        for name in sources:  # a directory's contents go into the destination, as COPY does
            if (source / name).is_dir():
                ignore = shutil.ignore_patterns("__pycache__")
                shutil.copytree(source / name, target / destination, ignore=ignore, dirs_exist_ok=True)
            else:
                into = target / destination / name if destination.endswith("/") else target / destination
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source / name, into)


def build_wheels(source: Path, directory: Path) -> list[Path]:
    """The Containerfile's build stage: ``pip wheel`` of what it copies from ``source``, and EXTRA_WHEELS."""
    context = directory / "context"
    copy_build_context(source, (source / CONTAINERFILE).read_text(), context)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(directory), str(context), *EXTRA_WHEELS],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RootfsError(f"pip wheel {source} failed: {done.stderr.strip()[-2000:]}")
    return sorted(directory.glob("*.whl"))


def default_source() -> Path | None:
    """The checkout this package runs from, when it is one (it has the Containerfile)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / CONTAINERFILE).is_file() and (root / "pyproject.toml").is_file() else None


def build_scanner_image(source: Path, progress: Progress, rebuild: bool = False) -> ScannerImage:
    """The image of ``source``'s Containerfile, from the cache unless ``rebuild`` or its wheels changed."""
    config = containerfile_config((source / CONTAINERFILE).read_text())
    work = cache_root() / "scanner"
    work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work) as temporary:
        t = Path(temporary)
        wheels = build_wheels(source, t / "wheels")
        key = hashlib.sha256((wheel_key(wheels) + json.dumps(asdict(config))).encode()).hexdigest()[:12]
        version = next(w.name.split("-")[1] for w in wheels if w.name.startswith("pytest_k8sharden-"))
        image = ScannerImage(f"{SCANNER_REPOSITORY}:{version}-{key}", work / f"scanner-{key}.tar")
        if image.archive.is_file() and not rebuild:
            progress(f"{image.reference}: already built ({image.archive})")
            return image
        started = time.monotonic()
        rootfs = t / "rootfs"
        rootfs.mkdir()
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-xf", str(base_rootfs(work, progress))])
        _install(rootfs, wheels)
        for node in (rootfs / "dev").iterdir():  # the runtime mounts its own /dev: leave it empty
            if node.is_dir() and not node.is_symlink():
                shutil.rmtree(node)
            else:
                node.unlink()
        layer = t / "layer.tar"
        run(["tar", "-C", str(rootfs), "--numeric-owner", "--sort=name", "-cf", str(layer), "."])
        part = image.archive.with_suffix(".part")
        images.write_image_archive(image.reference, layer, oci_config(config), part)
        part.rename(image.archive)
    progress(f"{image.reference}: built in {time.monotonic() - started:.0f} s ({image.archive})")
    return image


def base_rootfs(work: Path, progress: Progress) -> Path:
    """The Debian base with python3 and venv, as a cached tarball (debootstrap on first use)."""
    archive = work / f"base-{DEBIAN_SUITE}-python3.tar"
    if archive.is_file():
        return archive
    started = time.monotonic()
    progress(f"debootstrap {DEBIAN_SUITE} with {', '.join(BASE_PACKAGES)}")
    with tempfile.TemporaryDirectory(dir=work) as temporary:
        rootfs = Path(temporary) / "rootfs"
        debootstrap(rootfs, BASE_PACKAGES, "the scanner image's Debian base")
        for cache in ("var/lib/apt/lists", "var/cache/apt"):
            shutil.rmtree(rootfs / cache)
            (rootfs / cache).mkdir()
        run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", f"{archive}.part", "."])
        Path(f"{archive}.part").rename(archive)
    progress(f"scanner base root filesystem in {time.monotonic() - started:.0f} s: {archive}")
    return archive


def _install(rootfs: Path, wheels: Sequence[Path]) -> None:
    """The Containerfile's second stage, in a chroot: the wheels (nothing from an index), the user."""
    inside = rootfs / "tmp" / "wheels"
    inside.mkdir()
    for wheel in wheels:
        shutil.copy2(wheel, inside / wheel.name)
    names = " ".join(f"/tmp/wheels/{shlex.quote(w.name)}" for w in wheels)
    for command in (
        f"/usr/bin/python3 -m venv {VENV}",
        f"{VENV}/bin/python -m pip install --no-index --no-cache-dir --disable-pip-version-check {names}",
        shlex.join(USERADD),
    ):
        run(["chroot", str(rootfs), "/usr/bin/env", "-i", f"PATH={DEBIAN_PATH}", "HOME=/root",
             "/bin/sh", "-c", command])  # fmt: skip
    shutil.rmtree(inside)


def _instructions(text: str) -> list[str]:
    """A Containerfile's instructions, one per item: continuation lines joined, comments left out."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = "\n".join(lines).replace("\\\n", " ")
    return [" ".join(line.split()) for line in joined.splitlines() if line.strip()]
