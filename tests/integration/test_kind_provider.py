"""The kind provider's whole flow against a real API server, with a stand-in `kind` executable.

There is no container engine here: tests/standin/kind records its arguments and, on `create cluster`,
hands back the kubeconfig of the session's real local cluster. The stand-in is published on a loopback
HTTP server as kind's release file with its .sha256sum, so the provider downloads and verifies it first.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kind_standin import calls, publish
from local_clusters import Running

from pytest_k8sharden.clusters import ClusterUnavailable, open_cluster
from pytest_k8sharden.clusters.downloads import cache_root
from pytest_k8sharden.clusters.kind.config import CNI_FILE, render
from pytest_k8sharden.clusters.kind.provider import KindProvider
from pytest_k8sharden.clusters.kind.schema import validate
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.profiles import HARDENED, INSECURE


@dataclass(frozen=True)
class StandIn:
    """Where the stand-in keeps its record, and the home directory the provider must not touch."""

    state: Path
    home: Path

    def commands(self) -> list[list[str]]:
        return calls(self.state)

    def clusters(self) -> list[str]:
        directory = self.state / "clusters"
        return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


@pytest.fixture
def standin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release_server: tuple[str, Path]) -> StandIn:
    """kind is not on PATH; its release is the stand-in on a loopback server; a fresh cache and HOME
    (the local cluster's binaries stay reachable, so the provider can build the probe image)."""
    assert shutil.which("kind") is None, "a real kind on PATH would be used instead of the stand-in"
    cache = tmp_path / "cache"
    cache.mkdir()
    for entry in cache_root().iterdir():  # the local clusters' binaries, but a kind directory of our own
        if entry.name != "kind":
            (cache / entry.name).symlink_to(entry)
    publish(release_server[1])
    state, home = tmp_path / "standin", tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("K8SHARDEN_CACHE_DIR", str(cache))
    monkeypatch.setenv("K8SHARDEN_KIND_RELEASE_URL", release_server[0])
    # kind comes from the stand-in's release (the fresh cache has none; never a build of the real kind), the
    # local cluster's binaries from the cache (found there, so no release of theirs is ever fetched).
    monkeypatch.setenv("K8SHARDEN_BINARY_SOURCES", "cache,release")
    monkeypatch.setenv("STANDIN_KIND_STATE", str(state))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    return StandIn(state, home)


@pytest.fixture(scope="module")
def hardened(local_cluster: Callable[[str], Running]) -> Running:
    """The session's hardened local cluster (module scope: up before `standin` changes the cache)."""
    return local_cluster("hardened")


@pytest.fixture(scope="module")
def insecure(local_cluster: Callable[[str], Running]) -> Running:
    """The session's insecure local cluster."""
    return local_cluster("insecure")


def _use(monkeypatch: pytest.MonkeyPatch, running: Running) -> None:
    monkeypatch.setenv("STANDIN_KIND_KUBECONFIG", str(running.cluster.state.kubeconfig))


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.cluster
def test_create_wait_load_and_delete_against_a_real_api_server(
    hardened: Running, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, hardened)
    seen: list[str] = []
    provider = KindProvider("hardened", keep=False, progress=seen.append)
    access = provider.acquire()

    commands = standin.commands()
    assert [c[:2] for c in commands[:3]] == [["version"], ["get", "clusters"], ["create", "cluster"]]
    create = commands[2]
    assert _option(create, "--name") == "k8sharden-hardened"
    handed = yaml.safe_load((standin.state / "clusters" / "k8sharden-hardened").read_text())
    assert validate(handed) == []
    assert handed == render(HARDENED, provider.files_dir.parent)
    for mount in handed["nodes"][0]["extraMounts"]:
        assert Path(mount["hostPath"]).parent == provider.files_dir
        assert stat.S_IMODE(os.stat(mount["hostPath"]).st_mode) == 0o600

    assert access.kubeconfig is not None and access.kubeconfig == Path(_option(create, "--kubeconfig"))
    assert stat.S_IMODE(access.kubeconfig.stat().st_mode) == 0o600
    load = next(c for c in commands if c[:2] == ["load", "image-archive"])
    assert _option(load, "--name") == "k8sharden-hardened" and access.probe_image == PROBE_IMAGE
    assert any("node(s) Ready" in line for line in seen)

    cluster, kube = open_cluster(access)
    kube.close()
    assert cluster.provider == "kind" and cluster.profile == "hardened" and cluster.nodes

    provider.release()
    delete = standin.commands()[-1]
    assert delete[:2] == ["delete", "cluster"] and _option(delete, "--name") == "k8sharden-hardened"
    assert Path(_option(delete, "--kubeconfig")) == access.kubeconfig
    assert not access.kubeconfig.parent.exists() and not provider.files_dir.exists()
    assert standin.clusters() == []
    assert not (standin.home / ".kube").exists()


@pytest.mark.cluster
def test_kept_cluster_is_reused_by_the_next_run(
    hardened: Running, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, hardened)
    first = KindProvider("hardened", keep=True, progress=lambda _: None, load_probe_image=False)
    first.acquire()
    key = (first.files_dir / "encryption-config.yaml").read_text()
    first.release()
    assert standin.clusters() == ["k8sharden-hardened"]
    assert not any(c[:2] == ["delete", "cluster"] for c in standin.commands())

    second = KindProvider("hardened", keep=False, progress=lambda _: None, load_probe_image=False)
    access = second.acquire()
    assert sum(c[:2] == ["create", "cluster"] for c in standin.commands()) == 1
    exported = next(c for c in standin.commands() if c[:2] == ["export", "kubeconfig"])
    assert Path(_option(exported, "--kubeconfig")) == access.kubeconfig
    assert (second.files_dir / "encryption-config.yaml").read_text() == key
    second.release()
    assert standin.clusters() == []


@pytest.mark.cluster
def test_insecure_profile_brings_its_own_cni_and_seeds_its_bindings(
    insecure: Running, standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use(monkeypatch, insecure)
    provider = KindProvider("insecure", keep=False, progress=lambda _: None, load_probe_image=False)
    provider.acquire()
    handed = yaml.safe_load((standin.state / "clusters" / "k8sharden-insecure").read_text())
    assert handed == render(INSECURE, provider.files_dir.parent)
    assert (provider.files_dir / CNI_FILE).is_file()
    kinds = {seed["kind"] for seed in INSECURE.seed_manifests}
    assert {"Namespace", "ClusterRoleBinding"} <= kinds
    for seed in INSECURE.seed_manifests:
        if seed["kind"] == "Namespace":
            insecure.kube.core.read_namespace(seed["metadata"]["name"])
        elif seed["kind"] == "ClusterRoleBinding":
            insecure.kube.rbac.read_cluster_role_binding(seed["metadata"]["name"])
    provider.release()


def test_failed_create_is_cleaned_up_and_reported_with_kinds_message(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STANDIN_KIND_FAIL_CREATE", 'could not find a log line that matches "Reached target"')
    provider = KindProvider("hardened", keep=False, progress=lambda _: None)
    expected = (
        "kind create cluster k8sharden-hardened failed: ERROR: failed to create cluster: could not find"
    )
    with pytest.raises(ClusterUnavailable, match=expected):
        provider.acquire()
    assert standin.commands()[-1][:2] == ["delete", "cluster"]
    assert standin.clusters() == [] and not provider.files_dir.exists()
    provider.release()  # the plugin's teardown: nothing more to delete, the private directory goes
    assert sum(c[:2] == ["delete", "cluster"] for c in standin.commands()) == 1
    create = next(c for c in standin.commands() if c[:2] == ["create", "cluster"])
    assert not Path(_option(create, "--kubeconfig")).parent.exists()
