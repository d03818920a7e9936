"""Posture suite, versions and images: supported, patched Kubernetes; images pinned by digest.

Versions are judged against the release table (``--release-table FILE``, else the one shipped in
pytest_k8sharden/posture/releases.yaml); each finding names the table's date, and a pass from a table older
than its max_age_days is inconclusive.
"""

from __future__ import annotations

import datetime

import pytest

from pytest_k8sharden.clusters import Cluster
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Inconclusive
from pytest_k8sharden.posture import podsecurity, versions
from pytest_k8sharden.posture.objects import conclude_listing, object_observation
from pytest_k8sharden.posture.scope import PodScope
from pytest_k8sharden.settings import Settings
from pytest_k8sharden.worstof import combine


def _today() -> datetime.date:
    return datetime.datetime.now(datetime.UTC).date()


@pytest.mark.control("VERSION-APISERVER-SUPPORTED")
def test_api_server_runs_a_supported_patched_version(
    cluster: Cluster, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    finding = versions.judge("the API server", cluster.version, _today(), k8sharden_settings.release_table)
    details = {"gitVersion": cluster.version}
    evidence.record(
        object_observation("/version", f"GET /version -> {cluster.version}: {finding.message}", details)
    )
    evidence.conclude(finding)


@pytest.mark.control("VERSION-KUBELET-SUPPORTED")
def test_every_kubelet_runs_a_supported_patched_version(
    cluster: Cluster, k8sharden_settings: Settings, evidence: Evidence
) -> None:
    if not cluster.nodes:
        raise Inconclusive("the scanner may not list nodes, or there are none")
    findings = []
    for node in cluster.nodes:
        what = f"the kubelet on Node/{node.name}"
        finding = versions.judge(what, node.kubelet_version, _today(), k8sharden_settings.release_table)
        evidence.record(
            object_observation(
                f"Node/{node.name}", f"kubeletVersion {node.kubelet_version}: {finding.message}"
            )
        )
        findings.append(finding)
    evidence.conclude(combine(findings, "no node to judge"))


@pytest.mark.control("IMAGES-PINNED-BY-DIGEST")
def test_workloads_pull_images_by_digest(pods_in_scope: PodScope, evidence: Evidence) -> None:
    flagged, finding = podsecurity.workload_violations(
        pods_in_scope, "pull by mutable tag", podsecurity.mutable_tag
    )
    conclude_listing(evidence, "v1/pods", flagged, finding, pods_in_scope.details())
