"""Getting the local cluster's binaries: pinned versions, published checksums, verified downloads."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from pytest_k8sharden.clusters import downloads
from pytest_k8sharden.clusters.local import binaries
from pytest_k8sharden.clusters.local.components import (
    ALL_COMPONENTS,
    KUBERNETES,
    KUBERNETES_OUTDATED,
    Component,
    ReleaseArtifact,
    cluster_components,
)

VERSION = "v9.8.7"


def test_every_component_version_is_read_from_its_wrapper_go_mod() -> None:
    for component in ALL_COMPONENTS:
        assert component.version.startswith("v"), component.name
        assert component.version in (component.module_dir / "go.mod").read_text()
        assert (component.module_dir / "go.sum").is_file(), component.name


@pytest.mark.parametrize(("component", "minor"), [(KUBERNETES, "37"), (KUBERNETES_OUTDATED, "36")])
def test_kubernetes_binaries_are_stamped_with_their_release(component: Component, minor: str) -> None:
    flags = " ".join(component.ldflags())
    assert f"k8s.io/component-base/version.gitVersion={component.version}" in flags
    assert f"k8s.io/component-base/version.gitMinor={minor}" in flags


def test_the_two_kubernetes_builds_share_a_cache_per_version_and_differ_in_version() -> None:
    assert KUBERNETES.module_dir != KUBERNETES_OUTDATED.module_dir
    assert KUBERNETES.version != KUBERNETES_OUTDATED.version
    root = Path("/cache")
    assert binaries.component_cache(KUBERNETES, root) == root / "kubernetes" / KUBERNETES.version
    assert (
        binaries.component_cache(KUBERNETES_OUTDATED, root)
        == root / "kubernetes" / KUBERNETES_OUTDATED.version
    )


def test_a_cluster_gets_the_images_build_and_runs_its_own_kubernetes_last() -> None:
    needed = cluster_components(KUBERNETES_OUTDATED)
    assert needed[-2:] == (KUBERNETES, KUBERNETES_OUTDATED)
    assert [c for c in cluster_components(KUBERNETES) if c.name == "kubernetes"] == [KUBERNETES]
    assert {c.name for c in needed} == {c.name for c in ALL_COMPONENTS}


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ("ABCDEF0123\n", "abcdef0123"),
        ("1111  other.tar.gz\n2222  etcd-v1-linux-amd64.tar.gz\n", "2222"),
        ("3333 *etcd-v1-linux-amd64.tar.gz\n", "3333"),
        ("4444  ./dist/etcd-v1-linux-amd64.tar.gz\n", "4444"),
    ],
)
def test_published_checksum_formats(published: str, expected: str) -> None:
    assert downloads.published_checksum(published, "etcd-v1-linux-amd64.tar.gz") == expected


def test_published_checksum_without_an_entry_for_the_file_is_an_error() -> None:
    with pytest.raises(downloads.DownloadError, match="no entry for etcd"):
        downloads.published_checksum("1111  other\n2222  another\n", "etcd")


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def test_release_archive_is_installed_when_its_checksum_matches(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    payload = _tarball({f"tool-{VERSION}/tool": b"#!/bin/sh\necho tool\n"})
    (root / f"tool-{VERSION}.tar.gz").write_bytes(payload)
    (root / "SHA256SUMS").write_text(f"{hashlib.sha256(payload).hexdigest()}  tool-{VERSION}.tar.gz\n")
    artifact = ReleaseArtifact(
        url=base + "/tool-{version}.tar.gz",
        checksum_url=base + "/SHA256SUMS",
        members=(("tool-{version}/tool", "tool"),),
    )
    installed = binaries.install_release_artifact(artifact, VERSION, tmp_path, lambda _: None)
    assert installed["tool"].read_bytes() == b"#!/bin/sh\necho tool\n"
    assert installed["tool"].stat().st_mode & 0o111


def test_release_file_with_a_wrong_checksum_is_refused_and_not_installed(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    (root / "tool").write_bytes(b"tampered")
    (root / "tool.sha256").write_text(hashlib.sha256(b"original").hexdigest())
    artifact = ReleaseArtifact(url=base + "/tool", checksum_url=base + "/tool.sha256", binary="tool")
    with pytest.raises(binaries.ChecksumMismatch, match="/tool: SHA-256"):
        binaries.install_release_artifact(artifact, VERSION, tmp_path, lambda _: None)
    assert not (tmp_path / "tool").exists()


def test_a_checksum_mismatch_stops_the_search_instead_of_falling_back(
    release_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = release_server
    (root / "tool").write_bytes(b"tampered")
    (root / "tool.sha256").write_text(hashlib.sha256(b"original").hexdigest())
    monkeypatch.setenv(binaries.CACHE_ENV, str(tmp_path / "cache"))
    component = Component(
        name="etcd",  # any real wrapper module, for its pinned version
        upstream_module="go.etcd.io/etcd/server/v3",
        packages=(),
        binaries=("tool",),
        releases=(ReleaseArtifact(url=base + "/tool", checksum_url=base + "/tool.sha256", binary="tool"),),
    )
    with pytest.raises(binaries.ChecksumMismatch):
        binaries.ensure(component, lambda _: None, sources=("cache", "release", "build"))


def test_unknown_binary_source_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(binaries.SOURCES_ENV, "cache,docker")
    with pytest.raises(binaries.BinaryError, match=r"unknown sources \['docker'\]"):
        binaries.configured_sources()
