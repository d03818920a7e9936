"""The kind executable: the pinned version from PATH, else a download verified before it ever runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from kind_standin import calls, publish, put_on_path

from pytest_k8sharden.clusters.downloads import ChecksumMismatch
from pytest_k8sharden.clusters.kind.binary import KIND_VERSION, KindBinaryError, asset_name, ensure_kind


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release_server: tuple[str, Path]) -> dict[str, str]:
    monkeypatch.setenv("K8SHARDEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STANDIN_KIND_STATE", str(tmp_path / "standin"))
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
    assert kind == tmp_path / "cache" / "kind" / KIND_VERSION / "kind"
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
    assert not (tmp_path / "cache" / "kind" / KIND_VERSION / "kind").exists()
    assert calls(tmp_path / "standin") == []


def test_kind_on_path_is_used_only_when_it_is_the_pinned_version(
    env: dict[str, str], release_server: tuple[str, Path], tmp_path: Path
) -> None:
    on_path = put_on_path(tmp_path / "bin")
    assert ensure_kind(lambda _: None, env) == on_path
    on_path.write_text("#!/bin/sh\necho kind v0.20.0 go1.20 linux/amd64\n")
    publish(release_server[1])
    seen: list[str] = []
    assert ensure_kind(seen.append, env) == tmp_path / "cache" / "kind" / KIND_VERSION / "kind"
    assert any(f"reports v0.20.0, not {KIND_VERSION}; not using it" in line for line in seen)
