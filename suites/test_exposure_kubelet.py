"""Exposure suite, kubelet: port 10250 without credentials, with an unauthorized token and with a token
granted one fine-grained subresource, port 10255.

Every door is tried on every node's InternalIP from the runner and, unless --read-only, from inside a
fresh unprivileged pod. A 403 to an anonymous client is a refusal (unlike kube-hunter #548).
"""

from __future__ import annotations

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.clusters.base import Node
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.probes.http import HttpObservation, HttpProbe
from pytest_k8sharden.vantage import Knocker


def _kubelet(node: Node, path: str, port: int = 10250) -> str:
    scheme = "https" if port == 10250 else "http"
    return f"{scheme}://{node.address}:{port}{path}"


@pytest.mark.control("KUBELET-ANON")
def test_kubelet_refuses_anonymous_clients(
    nodes: tuple[Node, ...], knock: Knocker, evidence: Evidence, pod_on_each_node: dict[str, str]
) -> None:
    reads = [_kubelet(node, path) for node in nodes for path in exposure.KUBELET_READ_PATHS]
    runs = [
        _kubelet(node, f"/run/{pod_on_each_node.get(node.name, 'kube-system/none/none')}?cmd=id")
        for node in nodes
    ]
    seen = knock.get_all(reads) + knock.get_all(runs, method="POST")
    evidence.conclude(exposure.must_refuse(seen, "the kubelet, to anonymous clients,"))


@pytest.mark.active
@pytest.mark.control("KUBELET-AUTHZ-WEBHOOK")
def test_kubelet_refuses_a_token_without_nodes_proxy(
    nodes: tuple[Node, ...], knock: Knocker, evidence: Evidence, unbound_service_account_token: str
) -> None:
    seen = [
        o for node in nodes for o in knock.get(_kubelet(node, "/pods"), token=unbound_service_account_token)
    ]
    evidence.conclude(exposure.must_refuse(seen, "the kubelet, to a ServiceAccount without nodes/proxy,"))


@pytest.mark.active
@pytest.mark.control("KUBELET-FINE-GRAINED-AUTHZ")
def test_kubelet_gives_a_nodes_healthz_grant_healthz_and_nothing_more(
    nodes: tuple[Node, ...],
    http_probe: HttpProbe,
    evidence: Evidence,
    nodes_healthz_token: str,
    probe_namespace: str,
) -> None:
    """From the runner only (the token is the scanner's own): /exec and /run name a pod that does not
    exist, so a door that opens answers 404 and nothing runs anywhere."""
    absent = f"{probe_namespace}/k8sharden-absent/c"

    def knock(node: Node, path: str, method: str = "GET") -> HttpObservation:
        url = _kubelet(node, path)
        return evidence.record(http_probe.request(method, url, token=nodes_healthz_token))

    granted = [knock(node, "/healthz") for node in nodes]
    withheld = [
        knock(node, path) for node in nodes for path in ("/pods", "/configz", f"/exec/{absent}?command=id")
    ]
    withheld += [knock(node, f"/run/{absent}?cmd=id", "POST") for node in nodes]
    evidence.conclude(exposure.fine_grained_grant(granted, withheld, "nodes/healthz"))


@pytest.mark.control("KUBELET-READONLY-PORT")
def test_kubelet_read_only_port_is_closed(
    nodes: tuple[Node, ...], knock: Knocker, evidence: Evidence
) -> None:
    seen = [o for node in nodes for o in knock.get(_kubelet(node, "/pods", port=10255))]
    evidence.conclude(exposure.must_be_closed(seen, "the kubelet read-only port 10255"))
