"""Shared fixtures for the plugin's own tests: a trustme CA, a fake API server on loopback, kubeconfigs,
and live local clusters for the integration tests (one per profile, up once per session, named as the
``--cluster=local`` provider names them so a subprocess run with ``--keep-cluster`` reuses them)."""

from __future__ import annotations

import contextlib
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from chromium import find_chromium
from fake_apiserver import FakeApi, serve, write_kubeconfig
from local_clusters import Running, ShippedRun, run_installed_suites
from planted import audit_outputs, planted_secrets
from user_install import UserInstall, install_wheel, plant_stray_configuration

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.kube import connect


@pytest.fixture(scope="session")
def chromium_binary() -> str:
    """Debian's chromium; scripts/test (as root) installs it with scripts/install-test-deps."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed: run scripts/install-test-deps (as root)")
    return binary


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


@contextlib.contextmanager
def bare_system_python(directory: Path) -> Iterator[None]:
    """Put first on PATH a ``python3`` that has none of our packages (isolated mode, no site-packages).

    A local cluster started inside must not need it: its helper processes use the interpreter the plugin
    runs in, as on a machine where the plugin lives only in a virtualenv.
    """
    system = shutil.which("python3", path=os.defpath) or "/usr/bin/python3"
    directory.mkdir(parents=True, exist_ok=True)
    shim = directory / "python3"
    shim.write_text(f'#!/bin/sh\nexec {system} -I -S "$@"\n')
    shim.chmod(0o755)
    before = os.environ["PATH"]
    os.environ["PATH"] = f"{directory}{os.pathsep}{before}"
    try:
        yield
    finally:
        os.environ["PATH"] = before


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Running]]:
    """``local_cluster(profile)``: the session's running cluster of that profile (brought up on first use).

    A cluster that was already up (kept by an earlier run) is reused and left up; the ones this session
    brought up are taken down at its end. Clusters start with a bare ``python3`` first on PATH
    (`bare_system_python`): nothing of the cluster may rely on the machine's own interpreter.
    """
    bare_python = tmp_path_factory.mktemp("bare-python")
    running: dict[str, Running] = {}
    found_up: set[str] = set()

    def get(profile: str) -> Running:
        if profile not in running:
            cluster = LocalCluster(cluster_name(profile), print)
            info = cluster.state.load_info()
            if info is not None and info.profile == profile and cluster.healthy():
                found_up.add(profile)
            with bare_system_python(bare_python):
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


@pytest.fixture(scope="session")
def user_install(tmp_path_factory: pytest.TempPathFactory) -> UserInstall:
    """The plugin's wheel, built from this checkout and installed into a fresh virtualenv (once a session)."""
    return install_wheel(tmp_path_factory.mktemp("user-install"))


@pytest.fixture(scope="session")
def planted(local_cluster: Callable[[str], Running]) -> Iterator[dict[str, str]]:
    """Secrets planted in the insecure cluster for the whole session (tests/planted.py), by what they are."""
    with planted_secrets(local_cluster("insecure")) as values:
        yield values


@pytest.fixture(scope="session")
def installed_suite_run(
    local_cluster: Callable[[str], Running],
    user_install: UserInstall,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> Callable[[str], ShippedRun]:
    """``installed_suite_run(profile)``: every shipped suite run once a session against the profile's
    cluster from the installed wheel, in a directory unrelated to the checkout; shared by the tests that
    judge a plain run (verdicts per profile, the clean side of the API-fault comparison, xdist, the audit
    outputs).

    hardened runs through ``k8sharden run`` beside a stray pytest.ini, conftest.py and tests/ folder that
    must change nothing; insecure through ``pytest --pyargs pytest_k8sharden.suites`` after the `planted`
    Secrets, with waivers, every output (HTML, JUnit, SARIF) and a DEBUG log.
    """
    runs: dict[str, ShippedRun] = {}

    def get(profile: str) -> ShippedRun:
        if profile not in runs:
            local_cluster(profile)
            directory = tmp_path_factory.mktemp(f"suites-{profile}")
            if profile == "hardened":
                plant_stray_configuration(directory)
                runs[profile] = run_installed_suites(profile, directory, [user_install.k8sharden, "run"])
            else:
                request.getfixturevalue("planted")
                runner: list[str | Path] = [
                    user_install.python,
                    "-m",
                    "pytest",
                    "--pyargs",
                    "pytest_k8sharden.suites",
                ]
                options = audit_outputs(directory)
                runs[profile] = run_installed_suites(profile, directory, runner, *options, log_level="DEBUG")
        return runs[profile]

    return get


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server standing in for a project's release downloads."""
    root = tmp_path / "releases"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    thread.join()
