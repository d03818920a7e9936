"""Session state helpers: check metadata from marks, and provider failures as one-line errors."""

from __future__ import annotations

import pytest

from pytest_k8sharden.catalog import load_catalog
from pytest_k8sharden.clusters.base import ClusterAccess, ClusterUnavailable
from pytest_k8sharden.runstate import _acquire, check_meta


class _BrokenProvider:
    def acquire(self) -> ClusterAccess:
        raise RuntimeError("etcd did not become healthy within 60 s")

    def release(self) -> None:
        pass


def test_a_provider_failure_becomes_one_line() -> None:
    with pytest.raises(ClusterUnavailable) as raised:
        _acquire(_BrokenProvider(), "local")
    assert str(raised.value) == (
        "the local cluster could not be acquired: RuntimeError: etcd did not become healthy within 60 s"
    )


def test_check_meta_takes_title_and_severity_from_the_catalog_unless_marked() -> None:
    catalog = load_catalog()
    meta = check_meta(catalog, ["KUBELET-READONLY-PORT"], [], "fallback")
    assert (meta.check, meta.severity, meta.title) == (
        "KUBELET-READONLY-PORT",
        "high",
        "Kubelet read-only port 10255 is closed",
    )
    assert check_meta(catalog, ["KUBELET-READONLY-PORT"], ["low"], "fallback").severity == "low"
    own = check_meta(catalog, ["CIS-5.4.1"], [], "No Secrets in environment variables")
    assert (own.check, own.severity, own.title) == (None, None, "No Secrets in environment variables")
    with pytest.raises(ValueError, match="given once"):
        check_meta(catalog, [], ["low", "high"], "x")
