"""The existing provider: every bad kubeconfig or server ends the session with one clear line."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from fake_apiserver import GOOD_TOKEN, USERNAME, FakeApi, serve, write_kubeconfig

from pytest_k8sharden.clusters.base import ClusterUnavailable
from pytest_k8sharden.clusters.existing import resolve_kubeconfig

NEEDS_CLUSTER = """
def test_needs_cluster(cluster):
    pass
"""


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_check=NEEDS_CLUSTER)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def _assert_one_line(result: pytest.RunResult, expected: str) -> None:
    output = "\n".join(result.outlines + result.errlines)
    errors = [line for line in result.errlines if line.startswith("ERROR:")]
    assert result.ret == pytest.ExitCode.USAGE_ERROR, output
    assert errors == [errors[0]] and expected in errors[0], output
    assert "Traceback" not in output
    assert GOOD_TOKEN not in output


def test_missing_kubeconfig_file(pytester: pytest.Pytester, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"
    _assert_one_line(_run(pytester, f"--kubeconfig={missing}"), f"kubeconfig not found: {missing}")


def test_no_kubeconfig_anywhere(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(pytester.path))
    _assert_one_line(_run(pytester), "no kubeconfig found")


def test_malformed_yaml(pytester: pytest.Pytester, tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("contexts: [unclosed\n")
    _assert_one_line(_run(pytester, f"--kubeconfig={broken}"), f"kubeconfig {broken} is malformed")


def test_context_pointing_at_missing_cluster(pytester: pytest.Pytester, tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text(
        json.dumps(
            {
                "contexts": [{"name": "test", "context": {"cluster": "absent", "user": "absent"}}],
                "current-context": "test",
                "clusters": [],
                "users": [],
            }
        )
    )
    _assert_one_line(_run(pytester, f"--kubeconfig={broken}"), f"kubeconfig {broken} is malformed")


def test_unknown_context(pytester: pytest.Pytester, kubeconfig: Path) -> None:
    result = _run(pytester, f"--kubeconfig={kubeconfig}", "--kube-context=prod")
    _assert_one_line(result, f"context 'prod' not found in kubeconfig {kubeconfig} (known: test)")


def test_unreachable_server(pytester: pytest.Pytester, tmp_path: Path, ca: trustme.CA) -> None:
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = write_kubeconfig(tmp_path / "kubeconfig", f"https://127.0.0.1:{port}", ca)
    result = _run(pytester, f"--kubeconfig={config}")
    _assert_one_line(result, f"API server https://127.0.0.1:{port} is unreachable: connection refused")


def test_untrusted_certificate(pytester: pytest.Pytester, tmp_path: Path, fake_api: FakeApi) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", fake_api.url, trustme.CA())
    _assert_one_line(
        _run(pytester, f"--kubeconfig={config}"),
        f"API server {fake_api.url} presented an untrusted certificate",
    )


def test_expired_certificate(pytester: pytest.Pytester, tmp_path: Path, ca: trustme.CA) -> None:
    now = datetime.now(UTC)
    expired = ca.issue_cert(
        "127.0.0.1", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    with serve(expired) as api:
        config = write_kubeconfig(tmp_path / "kubeconfig", api.url, ca)
        result = _run(pytester, f"--kubeconfig={config}")
    _assert_one_line(result, f"API server {api.url} presented an expired certificate")


def test_rejected_credentials(
    pytester: pytest.Pytester, tmp_path: Path, fake_api: FakeApi, ca: trustme.CA
) -> None:
    config = write_kubeconfig(tmp_path / "kubeconfig", fake_api.url, ca, token="stolen-or-revoked-token")
    result = _run(pytester, f"--kubeconfig={config}")
    _assert_one_line(
        result, f"API server {fake_api.url} rejected the scanner's credentials (401 Unauthorized)"
    )
    assert "stolen-or-revoked-token" not in "\n".join(result.outlines + result.errlines)


def test_no_cluster_needed_means_no_connection(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile("def test_pure():\n    pass\n")
    result = pytester.runpytest_subprocess(f"--kubeconfig={tmp_path / 'missing'}")
    result.assert_outcomes(passed=1)


def test_healthy_server_gives_cluster_and_identity(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.control("API-ANON-AUTH")
        def test_cluster(cluster, kube, nodes):
            assert cluster.provider == "existing" and cluster.profile is None
            assert cluster.version == "v1.36.3"
            assert cluster.identity.username.endswith(":scanner")
            assert [node.address for node in nodes] == ["198.18.0.2"]
            assert kube.server == cluster.server
        """
    )
    result = pytester.runpytest_subprocess(f"--kubeconfig={kubeconfig}", "--evidence-dir=out")
    result.assert_outcomes(passed=1)
    run = json.loads((pytester.path / "out" / "evidence.json").read_text())["run"]
    assert run["identity"].startswith(USERNAME)
    assert run["cluster"] == {
        "provider": "existing",
        "profile": None,
        "server": fake_api.url,
        "version": "v1.36.3",
        "nodes": ["node-1"],
    }
    reviews = [seen for seen in fake_api.state.seen if seen.path.endswith("/selfsubjectreviews")]
    assert len(reviews) == 1, "the cluster is opened once per session"


def test_kubeconfig_resolution_order(tmp_path: Path) -> None:
    explicit, listed, default = tmp_path / "explicit", tmp_path / "listed", tmp_path / ".kube" / "config"
    listed.write_text("{}")
    default.parent.mkdir()
    default.write_text("{}")
    env = {"KUBECONFIG": f"{tmp_path / 'absent'}:{listed}"}
    assert resolve_kubeconfig(explicit, env, tmp_path) == explicit
    assert resolve_kubeconfig(None, env, tmp_path) == listed
    assert resolve_kubeconfig(None, {}, tmp_path) == default


def test_in_cluster_configuration_inside_a_pod(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("x")
    pod_env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    assert resolve_kubeconfig(None, pod_env, tmp_path, token_file=token) is None
    with pytest.raises(ClusterUnavailable, match="no kubeconfig found"):
        resolve_kubeconfig(None, pod_env, tmp_path, token_file=tmp_path / "absent")
