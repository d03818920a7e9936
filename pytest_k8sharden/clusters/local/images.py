"""Container images without a registry: OCI image tarballs built here and imported into containerd.

Two images: ``pause`` (the upstream pause.c from the Kubernetes module, compiled statically) and the
probe/server image (the upstream e2e ``agnhost`` binary plus a static busybox for a shell and tools).
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.local.components import KUBERNETES

PAUSE_VERSION: Final = "3.10.2"
PAUSE_IMAGE: Final = f"k8sharden.local/pause:{PAUSE_VERSION}"
PROBE_IMAGE: Final = f"k8sharden.local/probe:{KUBERNETES.version}"
BUSYBOX_CANDIDATES: Final = ("/bin/busybox", "/usr/bin/busybox")
BUSYBOX_TOOLS: Final = (
    "sh",
    "ls",
    "cat",
    "echo",
    "sleep",
    "wget",
    "nc",
    "ps",
    "id",
    "env",
    "ip",
    "true",
    "false",
)


class ImageError(RuntimeError):
    """An image could not be built or imported."""


@dataclass(frozen=True)
class ImageSpec:
    """What goes into one single-layer image."""

    reference: str
    files: Mapping[str, Path]
    """Path in the image -> file on this machine (copied with mode 0755)."""
    symlinks: Mapping[str, str]
    entrypoint: tuple[str, ...]


def pause_image(reference: str, kubernetes_module_dir: Path, work_dir: Path) -> ImageSpec:
    """The pause image, compiled from the upstream pause.c shipped in the Kubernetes module."""
    source = kubernetes_module_dir / "build" / "pause" / "linux" / "pause.c"
    binary = work_dir / "pause"
    work_dir.mkdir(parents=True, exist_ok=True)
    compiled = subprocess.run(
        [
            "gcc",
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION=v{PAUSE_VERSION}",
            "-o",
            str(binary),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0:
        raise ImageError(f"compiling {source} failed: {compiled.stderr.strip()}")
    return ImageSpec(reference, {"pause": binary}, {}, ("/pause",))


def probe_image(reference: str, agnhost: Path) -> ImageSpec:
    """agnhost (the upstream e2e probe and server) with a static busybox for sh, nc, wget and friends."""
    busybox = next((Path(p) for p in BUSYBOX_CANDIDATES if Path(p).is_file()), None)
    if busybox is None:
        raise ImageError("no static busybox found (Debian package busybox-static)")
    return ImageSpec(
        reference,
        {"agnhost": agnhost, "bin/busybox": busybox},
        {f"bin/{tool}": "busybox" for tool in BUSYBOX_TOOLS},
        ("/agnhost",),
    )


def write_oci_archive(spec: ImageSpec, target: Path) -> Path:
    """Write ``spec`` as an OCI image layout tar that ``ctr images import`` accepts (see
    write_image_archive)."""
    config = {"Entrypoint": list(spec.entrypoint), "Env": ["PATH=/bin"], "WorkingDir": "/"}
    return write_image_archive(spec.reference, _layer_tar(spec), config, target)


def write_image_archive(
    reference: str, layer: bytes | Path, config: Mapping[str, object], target: Path
) -> Path:
    """Write a one-layer image (``layer``: a tar, in memory or a file; ``config``: the OCI image config's
    ``config`` part, such as Entrypoint, Cmd, User, Env) as an OCI image layout tar that ``ctr images
    import`` and ``kind load image-archive`` accept.

    The image is named twice: by its tag and by its manifest digest (``repository@sha256:...``), so pods
    can pin it by digest with no registry.
    """
    layer_descriptor = _descriptor("application/vnd.oci.image.layer.v1.tar", layer)
    image_config = _canonical(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": [layer_descriptor["digest"]]},
            "history": [{"created_by": "pytest-k8sharden images.py"}],
        }
    )
    manifest = _canonical(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": _descriptor("application/vnd.oci.image.config.v1+json", image_config),
            "layers": [layer_descriptor],
        }
    )
    descriptor = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    pinned = f"{reference.rsplit(':', 1)[0]}@{descriptor['digest']}"
    index = _canonical(
        {
            "schemaVersion": 2,
            "manifests": [
                dict(
                    descriptor,
                    annotations={
                        "io.containerd.image.name": reference,
                        "org.opencontainers.image.ref.name": reference.rsplit(":", 1)[1],
                    },
                ),
                dict(descriptor, annotations={"io.containerd.image.name": pinned}),
            ],
        }
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w") as archive:
        _add(archive, "oci-layout", _canonical({"imageLayoutVersion": "1.0.0"}))
        _add(archive, "index.json", index)
        for blob in (layer, image_config, manifest):
            name = "blobs/sha256/" + _digest(blob).split(":", 1)[1]
            if isinstance(blob, Path):
                archive.add(blob, arcname=name)
            else:
                _add(archive, name, blob)
    return target


def pinned_reference(archive: Path) -> str:
    """The ``repository@sha256:...`` name an archive of write_oci_archive also gives its image."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        index = json.loads(member.read()) if member else {}
    names = [
        str(m.get("annotations", {}).get("io.containerd.image.name", "")) for m in index.get("manifests", [])
    ]
    return next(name for name in names if "@sha256:" in name)


def import_archive(ctr: Path, address: Path, archive: Path, enter: list[str]) -> None:
    """Import an OCI archive into containerd's k8s.io namespace (the one the CRI uses)."""
    done = subprocess.run(
        [
            *enter,
            str(ctr),
            "--address",
            str(address),
            "--namespace",
            "k8s.io",
            "images",
            "import",
            str(archive),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise ImageError(f"ctr images import {archive} failed: {done.stderr.strip()}")


def _layer_tar(spec: ImageSpec) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        directories = sorted({str(Path(p).parent) for p in [*spec.files, *spec.symlinks]} | {"tmp"} - {"."})
        for directory in directories:
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            layer.addfile(info)
        for path, source in sorted(spec.files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode = source.stat().st_size, 0o755
            with source.open("rb") as content:
                layer.addfile(info, content)
        for path, points_to in sorted(spec.symlinks.items()):
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, points_to
            layer.addfile(info)
    return buffer.getvalue()


def _canonical(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _digest(blob: bytes | Path) -> str:
    if isinstance(blob, Path):
        with blob.open("rb") as content:
            return "sha256:" + hashlib.file_digest(content, "sha256").hexdigest()
    return "sha256:" + hashlib.sha256(blob).hexdigest()


def _descriptor(media_type: str, blob: bytes | Path) -> dict[str, object]:
    size = blob.stat().st_size if isinstance(blob, Path) else len(blob)
    return {"mediaType": media_type, "digest": _digest(blob), "size": size}


def _add(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    archive.addfile(info, io.BytesIO(payload))
