"""Shared fixtures for the plugin's own tests: a trustme CA, a fake API server on loopback, kubeconfigs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from fake_apiserver import FakeApi, serve, write_kubeconfig


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
