"""A kubeconfig's inline client key never rests on disk, not even when the run is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from fake_apiserver import FakeApi, serve, write_kubeconfig

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.kube import connect

READY = "connected"


@pytest.fixture
def client_cert(ca: trustme.CA) -> trustme.LeafCert:
    """The scanner's client certificate, issued by the CA the server trusts for clients."""
    return ca.issue_cert("k8sharden-admin")


@pytest.fixture
def mtls_api(ca: trustme.CA) -> Iterator[FakeApi]:
    """A fake API server that completes a handshake only with a client certificate from `ca`."""
    with serve(ca.issue_cert("127.0.0.1"), client_ca=ca) as api:
        yield api


@pytest.fixture
def cert_kubeconfig(tmp_path: Path, mtls_api: FakeApi, ca: trustme.CA, client_cert: trustme.LeafCert) -> Path:
    """A kubeconfig with the client certificate and key inline, as kind and kubeadm write them."""
    return write_kubeconfig(tmp_path / "kubeconfig", mtls_api.url, ca, client_cert=client_cert)


def _files_under(directory: Path) -> list[Path]:
    return [path for path in directory.rglob("*") if path.is_file()]


def test_the_client_key_is_used_from_memory_and_no_file_holds_it(
    cert_kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    kube = connect(ClusterAccess("existing", None, cert_kubeconfig, None))
    assert kube.server_version() == "v1.36.3", "the handshake needs the client certificate and key"
    kube.close()
    assert str(kube.configuration.key_file).startswith("/proc/self/fd/")
    assert _files_under(scratch) == [], "the client wrote credential files that are still on disk"


def test_a_killed_run_leaves_no_key_behind(cert_kubeconfig: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from pytest_k8sharden.clusters.base import ClusterAccess
        from pytest_k8sharden.kube import connect
        kube = connect(ClusterAccess("existing", None, Path({str(cert_kubeconfig)!r}), None))
        kube.server_version()
        print({READY!r}, flush=True)
        time.sleep(600)
    """)
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == READY
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert _files_under(scratch) == [], "a SIGKILLed run left credential files behind"
