"""The scanner image built here follows deploy/Containerfile: its settings, its build context, its user,
and a cache key that follows the wheels' contents, not their zip timestamps."""

from __future__ import annotations

import hashlib
import json
import tarfile
import zipfile
from pathlib import Path

from pytest_k8sharden.clusters.local.images import write_image_archive
from pytest_k8sharden.clusters.scanner import (
    CONTAINERFILE,
    USERADD,
    containerfile_config,
    copy_build_context,
    oci_config,
    wheel_key,
)

ROOT = Path(__file__).parents[2]
TWO_STAGES = """\
# a comment
FROM base AS build
COPY a.txt b.txt ./
COPY pkg ./pkg
COPY --from=other /x /y
USER 1:1
FROM base
# ENTRYPOINT ["not", "this"]
ENV A=1 \\
    B="two words"
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["tool", "run"]
CMD ["--flag", "value"]
"""


def test_the_settings_are_those_of_the_last_stage() -> None:
    config = containerfile_config(TWO_STAGES)
    assert config.entrypoint == ("tool", "run") and config.cmd == ("--flag", "value")
    assert config.user == "65532:65532" and config.workdir == "/tmp"
    assert config.env == (("A", "1"), ("B", "two words"))


def test_the_image_runs_the_containerfile_entrypoint_as_its_user_with_its_environment() -> None:
    text = (ROOT / CONTAINERFILE).read_text()
    config = oci_config(containerfile_config(text))
    assert config["Entrypoint"] == ["k8sharden", "run", "-p", "no:cacheprovider"]
    assert config["User"] == "65532:65532" and config["WorkingDir"] == "/tmp"
    assert isinstance(config["Env"], list)
    env = dict(str(item).split("=", 1) for item in config["Env"])
    assert env["HOME"] == "/tmp" and env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/k8sharden/bin"
    assert " ".join(USERADD) in " ".join(text.split()), "the Containerfile's useradd changed"


def test_the_build_context_is_what_the_build_stage_copies(tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "context"
    (source / "pkg" / "__pycache__").mkdir(parents=True)
    for name in ("a.txt", "b.txt", "left-out.txt", "pkg/mod.py", "pkg/__pycache__/mod.pyc"):
        (source / name).write_text(name)
    copy_build_context(source, TWO_STAGES, target)
    copied = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert copied == ["a.txt", "b.txt", "pkg/mod.py"]


def _wheel(path: Path, members: dict[str, str], year: int) -> Path:
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(zipfile.ZipInfo(name, (year, 1, 1, 0, 0, 0)), text)
    return path


def test_the_cache_key_follows_contents_not_timestamps(tmp_path: Path) -> None:
    first = _wheel(tmp_path / "a" / "p-1-py3-none-any.whl", {"p/x.py": "1", "p/y.py": "2"}, 2020)
    again = _wheel(tmp_path / "b" / "p-1-py3-none-any.whl", {"p/y.py": "2", "p/x.py": "1"}, 2026)
    changed = _wheel(tmp_path / "c" / "p-1-py3-none-any.whl", {"p/x.py": "1", "p/y.py": "3"}, 2020)
    assert first.read_bytes() != again.read_bytes()
    assert wheel_key([first]) == wheel_key([again])
    assert wheel_key([first]) != wheel_key([changed])


def test_an_archive_from_a_layer_file_names_its_blobs_by_digest(tmp_path: Path) -> None:
    layer = tmp_path / "layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(__file__, arcname="probe.py")
    archive = write_image_archive("k8sharden.local/x:1", layer, {"User": "65532:65532"}, tmp_path / "x.tar")
    with tarfile.open(archive) as tar:
        blobs = {m.name.rsplit("/", 1)[1]: m for m in tar.getmembers() if m.name.startswith("blobs/")}
        for digest, member in blobs.items():
            content = tar.extractfile(member)
            assert content is not None and hashlib.sha256(content.read()).hexdigest() == digest
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert hashlib.sha256(layer.read_bytes()).hexdigest() in blobs
    names = [m["annotations"]["io.containerd.image.name"] for m in index["manifests"]]
    assert names[0] == "k8sharden.local/x:1" and names[1].startswith("k8sharden.local/x@sha256:")
