"""A pytest plugin for the API-fault tests (``-p proxied_local``): ``--cluster=local`` as usual, but the
scanner's API clients use the kubeconfig given with ``--proxied-kubeconfig`` (the fault proxy's).

Only the kubeconfig changes: the server address the checks probe, the control-plane view, the probe
image and the ingress CA stay the local provider's.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pytest_k8sharden.clusters.base import ClusterAccess
from pytest_k8sharden.clusters.local.provider import LocalProvider

PATCH_KEY = pytest.StashKey[pytest.MonkeyPatch]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """--proxied-kubeconfig."""
    parser.addoption(
        "--proxied-kubeconfig",
        dest="proxied_kubeconfig",
        metavar="PATH",
        help="kubeconfig the local cluster's API clients use instead of the admin one",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Make the local provider hand out the proxied kubeconfig."""
    path = config.getoption("proxied_kubeconfig")
    if not path:
        return
    acquire = LocalProvider.acquire

    def proxied(provider: LocalProvider) -> ClusterAccess:
        return dataclasses.replace(acquire(provider), kubeconfig=Path(path))

    patch = config.stash[PATCH_KEY] = pytest.MonkeyPatch()
    patch.setattr(LocalProvider, "acquire", proxied)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Undo the patch."""
    if PATCH_KEY in config.stash:
        config.stash[PATCH_KEY].undo()
