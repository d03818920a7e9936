"""The plugin under pytest-xdist (-n 2): one bundle equal to the serial run's, one cluster, one run id."""

from __future__ import annotations

import html
import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fake_apiserver import FakeApi
from fake_suites import SUITE

from pytest_k8sharden.evidence.bundle import verify_manifest

CLUSTER_CHECKS = """
import os
import pytest
from pytest_k8sharden.evidence import Observation

@pytest.mark.parametrize("n", range(4))
@pytest.mark.control("PSA-ENFORCE-LABELS")
def test_in_probe_namespace(n, kube, cluster, probe_namespace, evidence):
    labels = kube.core.read_namespace(probe_namespace).metadata.labels
    worker = os.environ.get("PYTEST_XDIST_WORKER", "serial")
    evidence.record(Observation(kind="object", summary=f"run={labels['k8sharden.io/run']} worker={worker}",
                                vantage="runner", target=f"Namespace/{probe_namespace}"))
    assert cluster.provider in ("existing", "kind")
"""
"""Checks in probe namespaces of the cluster: each records its namespace's run label and its worker."""

INCONCLUSIVE_CHECK = """
import pytest

@pytest.mark.control("ETCD-PEER-CERT")
@pytest.mark.severity("low")
def test_blind(evidence):
    evidence.inconclusive("etcd peer port unreachable")
"""

FAKE_KIND = """
from pathlib import Path
import pytest_k8sharden.runstate
from pytest_k8sharden.clusters import ClusterAccess, ClusterUnavailable

class FakeKind:
    def acquire(self):
        with open("provider.log", "a") as log:
            log.write("acquire\\n")
        if Path("broken").exists():
            raise ClusterUnavailable("kind create cluster xd-hardened failed: no space left")
        return ClusterAccess("kind", "hardened", Path("KUBECONFIG"), None, "probe:1")

    def release(self):
        with open("provider.log", "a") as log:
            log.write("release\\n")

def pytest_configure(config):
    pytest_k8sharden.runstate.make_provider = lambda settings, progress: FakeKind()
"""
"""A conftest whose --cluster=kind provider logs each acquire and release and hands out the fake API."""


VARIES = ("when", "summary", "target")
"""Observation fields that differ from run to run: the time, and the probe namespace and worker named."""


def _waivers(path: Path) -> Path:
    path.write_text(
        "waivers:\n"
        "  - id: NETPOL-DEFAULT-DENY-EGRESS\n"
        "    reason: perimeter firewall filters egress (SEC-123)\n"
        "    owner: platform@example.com\n"
        f"    expires: {(date.today() + timedelta(days=30)).isoformat()}\n"
    )
    return path


def _verdicts(directory: Path) -> dict[str, tuple[Any, ...]]:
    """nodeid -> everything evidence.json says about the check but the time its observations were made."""
    document = json.loads((directory / "evidence.json").read_text())
    return {
        result["nodeid"]: (
            result["check"], result["outcome"], result["message"], result.get("waiver"),
            [{k: v for k, v in o.items() if k not in VARIES} for o in result["evidence"]],
        )
        for result in document["results"]
    }  # fmt: skip


def _labelled(directory: Path) -> tuple[set[str], set[str]]:
    """The run ids on the probe namespaces of CLUSTER_CHECKS, and the workers that ran those checks."""
    document = json.loads((directory / "evidence.json").read_text())
    summaries = [o["summary"].split() for r in document["results"] for o in r["evidence"]]
    pairs = [(run, worker) for run, worker in (s for s in summaries if s[0].startswith("run="))]
    return {run for run, _ in pairs}, {worker for _, worker in pairs}


def test_parallel_run_writes_one_bundle_equal_to_the_serial_one(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(test_suite=SUITE, test_cluster=CLUSTER_CHECKS, test_blind=INCONCLUSIVE_CHECK)
    options = (f"--kubeconfig={kubeconfig}", f"--waivers={_waivers(pytester.path / 'waivers.yaml')}")
    serial = pytester.runpytest_subprocess(*options, "--evidence-dir=serial", "-p", "no:xdist")
    parallel = pytester.runpytest_subprocess(
        *options, "-n", "2", "--evidence-dir=out", "--sarif=out/results.sarif", "--junitxml=out/junit.xml",
        "--html=out/report.html", "--self-contained-html",
    )  # fmt: skip
    assert parallel.ret == serial.ret == pytest.ExitCode.TESTS_FAILED
    assert parallel.parseoutcomes() == {"failed": 2, "passed": 5, "waived": 1, "inconclusive": 1}
    assert _verdicts(pytester.path / "out") == _verdicts(pytester.path / "serial")
    assert len(_verdicts(pytester.path / "out")) == 9
    assert verify_manifest(pytester.path / "out").clean
    assert sorted(p.name for p in (pytester.path / "out").iterdir()) == [
        "evidence.json", "junit.xml", "manifest.sha256", "report.html", "results.sarif",
    ]  # fmt: skip
    run = json.loads((pytester.path / "out" / "evidence.json").read_text())["run"]
    assert run["cluster"]["provider"] == "existing" and run["identity"], "the cluster a worker opened"
    sarif = json.loads((pytester.path / "out" / "results.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} == {
        "NETPOL-DEFAULT-DENY-EGRESS", "API-ANON-AUTH", "KUBELET-ANON", "ETCD-PEER-CERT",
    }  # fmt: skip
    report = html.unescape((pytester.path / "out" / "report.html").read_text())
    assert "Inconclusive" in report
    named = set(re.findall(r'<td class=\\?"col-check\\?"><b>([A-Z-]+)</b></td>', report))  # JSON in the HTML
    checks = {verdict[0] for verdict in _verdicts(pytester.path / "out").values()} - {None}
    assert named == checks and len(checks) == 6, "the results table names each check (from workers' verdicts)"
    runs, workers = _labelled(pytester.path / "out")
    assert len(runs) == 1 and workers == {"worker=gw0", "worker=gw1"}, "both workers, one run id"
    assert fake_api.state.namespaces == {}, "every probe namespace is gone"


@pytest.mark.parametrize(
    "options",
    [
        ("-k", "kubelet"),  # failed
        ("-k", "blind"),  # inconclusive
        ("-k", "anon_auth", "--fail-severity=high"),  # excused: below --fail-severity
        ("-k", "egress or readonly", "--waivers=waivers.yaml"),  # waived
    ],
    ids=["failed", "inconclusive", "excused", "waived"],
)
def test_exit_code_equals_the_serial_runs(pytester: pytest.Pytester, options: tuple[str, ...]) -> None:
    pytester.makepyfile(test_suite=SUITE, test_blind=INCONCLUSIVE_CHECK)
    _waivers(pytester.path / "waivers.yaml")
    serial = pytester.runpytest(*options, "-p", "no:xdist")
    parallel = pytester.runpytest_subprocess(*options, "-n", "2")
    assert parallel.ret == serial.ret


def test_checks_without_the_cluster_never_contact_it_in_parallel(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makepyfile(test_suite=SUITE, test_cluster=CLUSTER_CHECKS)
    result = pytester.runpytest_subprocess(f"--kubeconfig={kubeconfig}", "-n", "2", "-k", "not probe")
    result.assert_outcomes(passed=1, failed=3)
    assert fake_api.state.seen == []


def test_controller_acquires_the_cluster_once_and_workers_attach_to_it(
    pytester: pytest.Pytester, kubeconfig: Path, fake_api: FakeApi
) -> None:
    pytester.makeconftest(FAKE_KIND.replace("KUBECONFIG", str(kubeconfig)))
    pytester.makepyfile(test_cluster=CLUSTER_CHECKS)
    result = pytester.runpytest_subprocess("--cluster=kind", "-n", "2", "--evidence-dir=out")
    result.assert_outcomes(passed=4)
    assert (pytester.path / "provider.log").read_text() == "acquire\nrelease\n"
    run = json.loads((pytester.path / "out" / "evidence.json").read_text())["run"]
    assert run["cluster"]["provider"] == "kind" and run["cluster"]["profile"] == "hardened"
    assert len(_labelled(pytester.path / "out")[0]) == 1


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("--cluster=kind", "kind create cluster xd-hardened failed: no space left"),  # in the controller
        ("--kubeconfig=absent", "kubeconfig not found: absent"),  # in each worker (existing)
    ],
    ids=["controller", "worker"],
)
def test_cluster_that_cannot_be_used_ends_the_run_in_one_line(
    pytester: pytest.Pytester, option: str, error: str
) -> None:
    if option == "--cluster=kind":
        pytester.makeconftest(FAKE_KIND)
        (pytester.path / "broken").touch()
    pytester.makepyfile(test_cluster=CLUSTER_CHECKS)
    result = pytester.runpytest_subprocess(option, "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: k8sharden: {error}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    if option == "--cluster=kind":
        assert (pytester.path / "provider.log").read_text() == "acquire\nrelease\n"
