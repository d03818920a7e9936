"""Shared fixtures for the plugin's own tests: a trustme CA, a fake API server on loopback, kubeconfigs,
and live local clusters for the integration tests (one per profile, up once per session, named as the
``--cluster=local`` provider names them so a subprocess run with ``--keep-cluster`` reuses them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from fake_apiserver import FakeApi, serve, write_kubeconfig
from local_clusters import Running

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.kube import connect


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA the kubeconfigs trust."""
    return trustme.CA()


@pytest.fixture
def fake_api(ca: trustme.CA) -> Iterator[FakeApi]:
    """A fake API server with a valid certificate for 127.0.0.1 from `ca`."""
    with serve(ca.issue_cert("127.0.0.1", "localhost")) as api:
        yield api


@pytest.fixture
def kubeconfig(tmp_path: Path, fake_api: FakeApi, ca: trustme.CA) -> Path:
    """A kubeconfig for `fake_api` with a token the server accepts."""
    return write_kubeconfig(tmp_path / "kubeconfig", fake_api.url, ca)


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Callable[[str], Running]]:
    """``local_cluster(profile)``: the session's running cluster of that profile (brought up on first use).

    A cluster that was already up (kept by an earlier run) is reused and left up; the ones this session
    brought up are taken down at its end.
    """
    running: dict[str, Running] = {}
    found_up: set[str] = set()

    def get(profile: str) -> Running:
        if profile not in running:
            cluster = LocalCluster(cluster_name(profile), print)
            info = cluster.state.load_info()
            if info is not None and info.profile == profile and cluster.healthy():
                found_up.add(profile)
            kubeconfig = cluster.up(profile)
            info = cluster.state.load_info()
            assert info is not None
            kube = connect(ClusterAccess("local", profile, kubeconfig, None, PROBE_IMAGE))
            running[profile] = Running(cluster, profile, kube, Addresses(info.slot))
        return running[profile]

    yield get
    for profile, item in running.items():
        item.kube.close()
        if profile not in found_up:
            item.cluster.down()
