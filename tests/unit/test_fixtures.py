"""Fixtures against a real HTTPS fake API: probe_namespace cleanup, nodes, read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_apiserver import FakeApi, status_body

PROBE_NAMESPACE_CHECKS = """
import pytest

def test_fails_inside(probe_namespace, kube):
    ns = kube.core.read_namespace(probe_namespace)
    labels = {"app.kubernetes.io/managed-by": "pytest-k8sharden", "k8sharden.io/probe": "true"}
    assert ns.metadata.labels.pop("k8sharden.io/run")
    assert ns.metadata.labels == labels
    print("NAMESPACE", probe_namespace)
    raise AssertionError("the check failed")

def test_passes_inside(probe_namespace):
    assert probe_namespace.startswith("k8sh-probe-")
"""


def test_probe_namespace_is_labelled_and_deleted_even_when_the_check_fails(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(PROBE_NAMESPACE_CHECKS)
    result = pytester.runpytest_subprocess(f"--kubeconfig={kubeconfig}", "-s")  # fresh kubernetes models
    result.assert_outcomes(passed=1, failed=1)
    created = [s.path for s in fake_api.state.seen if s.method == "POST" and s.path == "/api/v1/namespaces"]
    deleted = [s.path for s in fake_api.state.seen if s.method == "DELETE"]
    assert len(created) == 2 and len(deleted) == 2
    assert fake_api.state.namespaces == {}, "every probe namespace is gone"


def test_read_only_never_creates_a_probe_namespace(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(PROBE_NAMESPACE_CHECKS)
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}", "--read-only", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*--read-only: probe_namespace would create a namespace"])
    assert not [s for s in fake_api.state.seen if s.method != "GET" and "namespaces" in s.path]


def test_nodes_is_inconclusive_when_the_scanner_may_not_list_them(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    forbidden: tuple[int, dict[str, str], bytes] = (
        403,
        {},
        status_body(403, "Forbidden", 'nodes is forbidden: User "x" cannot list nodes'),
    )
    fake_api.state.forced[("GET", "/api/v1/nodes")] = [forbidden]
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.control("KUBELET-ANON")
        def test_kubelets(nodes):
            pass
        """
    )
    result = pytester.runpytest(f"--kubeconfig={kubeconfig}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["INCONCLUSIVE test_nodes_is_inconclusive*::test_kubelets - the scanner may not list nodes"]
    )
