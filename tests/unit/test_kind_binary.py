"""The kind executable: pinned, from PATH or the cache, else a verified download, else a Go build."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from kind_standin import STANDIN, calls, publish, put_on_path

from pytest_k8sharden.clusters import downloads
from pytest_k8sharden.clusters.downloads import ChecksumMismatch
from pytest_k8sharden.clusters.kind import binary
from pytest_k8sharden.clusters.kind.binary import KIND, KIND_VERSION, KindBinaryError, asset_name, ensure_kind
from pytest_k8sharden.clusters.local.binaries import SOURCES_ENV, module_source_dir


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release_server: tuple[str, Path]) -> dict[str, str]:
    monkeypatch.setenv("K8SHARDEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STANDIN_KIND_STATE", str(tmp_path / "standin"))
    monkeypatch.delenv(SOURCES_ENV, raising=False)
    return {"PATH": str(tmp_path / "bin"), "K8SHARDEN_KIND_RELEASE_URL": release_server[0]}


def test_release_asset_names_follow_kinds_release_files() -> None:
    assert asset_name("Linux", "x86_64") == "kind-linux-amd64"
    assert asset_name("Darwin", "arm64") == "kind-darwin-arm64"
    with pytest.raises(KindBinaryError, match="no binary for windows"):
        asset_name("Windows", "x86_64")


def test_download_is_verified_cached_and_then_runs(
    env: dict[str, str], release_server: tuple[str, Path], tmp_path: Path
) -> None:
    payload = publish(release_server[1])
    seen: list[str] = []
    kind = ensure_kind(seen.append, env)
    assert kind == tmp_path / "cache" / "kind" / KIND_VERSION / "bin" / "kind"
    assert kind.read_bytes() == payload
    assert any("SHA-256 verified" in line for line in seen)
    assert calls(tmp_path / "standin") == [["version"]]  # the version check ran the installed binary
    (release_server[1] / KIND_VERSION / asset_name()).unlink()
    assert ensure_kind(seen.append, env) == kind  # second time from the cache, no download


def test_checksum_mismatch_is_a_hard_error_and_nothing_is_installed_or_run(
    env: dict[str, str], release_server: tuple[str, Path], tmp_path: Path
) -> None:
    publish(release_server[1], checksum_of=b"the genuine kind binary")
    with pytest.raises(ChecksumMismatch, match=f"{asset_name()}: SHA-256 .* does not match the published"):
        ensure_kind(lambda _: None, env)
    assert not (tmp_path / "cache" / "kind" / KIND_VERSION / "bin" / "kind").exists()
    assert calls(tmp_path / "standin") == []


def test_kind_on_path_is_used_only_when_it_is_the_pinned_version(
    env: dict[str, str], release_server: tuple[str, Path], tmp_path: Path
) -> None:
    on_path = put_on_path(tmp_path / "bin")
    assert ensure_kind(lambda _: None, env) == on_path
    on_path.write_text("#!/bin/sh\necho kind v0.20.0 go1.20 linux/amd64\n")
    publish(release_server[1])
    seen: list[str] = []
    assert ensure_kind(seen.append, env) == tmp_path / "cache" / "kind" / KIND_VERSION / "bin" / "kind"
    assert any(f"reports v0.20.0, not {KIND_VERSION}; not using it" in line for line in seen)


def test_the_pinned_version_is_the_one_the_go_module_requires() -> None:
    assert KIND_VERSION == "v0.33.0"
    assert (KIND.module_dir / "go.mod").read_text().count(f"sigs.k8s.io/kind {KIND_VERSION}") == 1


def fake_build(tmp_path: Path, built: list[str]) -> Callable[[Callable[[str], None]], Path]:
    """A stand-in for the Go build: installs the stand-in kind into the cache and says it ran."""

    def build(progress: Callable[[str], None]) -> Path:
        built.append("build")
        target = binary.cached_kind()
        target.parent.mkdir(parents=True)
        return downloads.install_executable(target, STANDIN.read_bytes())

    return build


@pytest.mark.parametrize(
    ("sources", "published", "expected"),
    [
        ("release,build", True, "release"),  # the download works: nothing is built
        ("release,build", False, "build"),  # no release file (404): the Go build
        ("cache,build", True, "build"),  # downloads not allowed: built even though a release exists
        ("build", True, "build"),
        ("release", False, "error: cannot download"),  # nothing left to try: the failed download
        ("cache", True, r"error: no configured source \(cache\) has it"),
    ],
)
def test_the_configured_sources_choose_download_or_go_build(
    env: dict[str, str],
    release_server: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sources: str,
    published: bool,
    expected: str,
) -> None:
    if published:
        publish(release_server[1])
    built: list[str] = []
    monkeypatch.setattr(binary, "build_kind", fake_build(tmp_path, built))
    monkeypatch.setenv(SOURCES_ENV, sources)
    if expected.startswith("error: "):
        with pytest.raises(KindBinaryError, match=expected.removeprefix("error: ")):
            ensure_kind(lambda _: None, env)
        assert built == []
        return
    assert ensure_kind(lambda _: None, env) == tmp_path / "cache" / "kind" / KIND_VERSION / "bin" / "kind"
    assert built == (["build"] if expected == "build" else [])


def test_a_tampered_download_is_not_replaced_by_a_build(
    env: dict[str, str], release_server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish(release_server[1], checksum_of=b"the genuine kind binary")
    built: list[str] = []
    monkeypatch.setattr(binary, "build_kind", fake_build(tmp_path, built))
    monkeypatch.setenv(SOURCES_ENV, "release,build")
    with pytest.raises(ChecksumMismatch):
        ensure_kind(lambda _: None, env)
    assert built == []


def test_the_module_source_is_downloaded_where_the_module_cache_lacks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh machine's empty module cache: the node image reads kind's base files from the module's
    source before anything has built kind (``go list -m`` named no directory there)."""
    monkeypatch.setenv("GOMODCACHE", str(tmp_path / "modcache"))
    source = module_source_dir(KIND)
    assert source == tmp_path / "modcache" / f"sigs.k8s.io/kind@{KIND_VERSION}"
    assert (source / "images" / "base" / "files").is_dir()
