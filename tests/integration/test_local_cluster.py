"""The embedded real cluster on the hardened and insecure profiles: it runs, it differs, it leaves nothing.

Needs root and the cluster's binaries (built on first use); marked ``cluster``.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.clusters.local import ingress
from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.clusters.local.components import KUBERNETES, KUBERNETES_OUTDATED, kubernetes_for
from pytest_k8sharden.clusters.local.images import PROBE_IMAGE
from pytest_k8sharden.clusters.local.lifecycle import LocalCluster
from pytest_k8sharden.clusters.local.network import METADATA_ADDRESS, Addresses
from pytest_k8sharden.clusters.local.state import cluster_name
from pytest_k8sharden.ingress import ingress_targets
from pytest_k8sharden.kubeapply import FIELD_MANAGER
from pytest_k8sharden.polling import wait_until
from pytest_k8sharden.probes.http import HttpProbe, pinned_connector
from pytest_k8sharden.probes.pods import PodProber, ProbePod
from pytest_k8sharden.profiles import get_profile

pytestmark = pytest.mark.cluster

PROBE_TIMEOUT_S = 3.0
LOWEST_MAC = "00:00:5e:00:53:01"
"""A documentation MAC (RFC 7042) lower than any a veth gets at random (those are locally administered)."""


@pytest.fixture(scope="module", params=["hardened", "insecure"])
def running(request: pytest.FixtureRequest, local_cluster: Callable[[str], Running]) -> Running:
    """The session's local cluster of each profile."""
    return local_cluster(request.param)


@pytest.fixture
def namespace(running: Running) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"k8sh-it-{uuid.uuid4().hex[:8]}"
    running.kube.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    running.kube.core.delete_namespace(name)


@pytest.fixture
def server_and_client(running: Running, namespace: str) -> tuple[PodProber, ProbePod, ProbePod]:
    """An agnhost HTTP server pod and a client pod in the test's namespace."""
    prober = PodProber(running.kube, namespace, PROBE_IMAGE, pull_policy="Never")
    prober.start("server", ["netexec", "--http-port=8080"], labels={"role": "server"}, ports=[8080])
    prober.start("client", ["pause"], labels={"role": "client"})
    pods = prober.wait_running(["server", "client"], timeout_s=90)
    return prober, pods["server"], pods["client"]


def test_node_is_ready_and_runs_the_pinned_release(running: Running) -> None:
    nodes = running.kube.core.list_node().items
    assert [n.metadata.name for n in nodes if n.metadata] == [running.cluster.name]
    status = nodes[0].status
    assert status is not None
    assert status.node_info is not None
    assert {c.type: c.status for c in status.conditions or []}["Ready"] == "True"
    pinned = kubernetes_for(get_profile(running.profile))
    assert pinned is (KUBERNETES_OUTDATED if running.profile == "insecure" else KUBERNETES)
    assert status.node_info.kubelet_version == pinned.version
    assert running.kube.server_version() == pinned.version


def test_seeded_secrets_are_server_side_applied_with_no_plaintext_copy(running: Running) -> None:
    """The profile's Secrets and the ingress sites' TLS Secrets: applied server-side by our field manager,
    so no last-applied-configuration annotation repeats their values in plaintext."""
    profile = get_profile(running.profile)
    seeded = [
        (m["metadata"]["namespace"], m["metadata"]["name"])
        for m in profile.seed_manifests
        if m["kind"] == "Secret"
    ]
    tls = running.kube.core.list_namespaced_secret(
        ingress.NAMESPACE, field_selector="type=kubernetes.io/tls"
    ).items
    seeded += [(ingress.NAMESPACE, str(secret.metadata.name)) for secret in tls if secret.metadata]
    assert len(tls) == sum(site.certificate is not None for site in profile.ingress.sites), seeded
    for namespace, name in seeded:
        metadata = running.kube.core.read_namespaced_secret(name, namespace).metadata
        assert metadata is not None
        assert "kubectl.kubernetes.io/last-applied-configuration" not in (metadata.annotations or {}), name
        managers = {(entry.manager, entry.operation) for entry in metadata.managed_fields or []}
        assert (FIELD_MANAGER, "Apply") in managers, (name, managers)


def test_up_again_reuses_the_running_cluster(running: Running) -> None:
    lines: list[str] = []
    again = LocalCluster(running.cluster.name, lines.append)
    assert again.up(running.profile) == running.cluster.state.kubeconfig
    assert any("reusing" in line for line in lines), lines


def test_pod_from_the_local_image_reaches_another_pod(
    server_and_client: tuple[PodProber, ProbePod, ProbePod],
) -> None:
    prober, server, client_pod = server_and_client
    seen = prober.connect(client_pod, server.ip, 8080, PROBE_TIMEOUT_S)
    assert seen.details["connected"], seen.summary


def test_deny_all_policy_is_enforced_only_where_the_profile_enforces_policy(
    running: Running, namespace: str, server_and_client: tuple[PodProber, ProbePod, ProbePod]
) -> None:
    prober, server, client_pod = server_and_client
    deny_all = client.V1NetworkPolicy(
        metadata=client.V1ObjectMeta(name="deny-all-ingress"),
        spec=client.V1NetworkPolicySpec(pod_selector=client.V1LabelSelector(), policy_types=["Ingress"]),
    )
    running.kube.networking.create_namespaced_network_policy(namespace, deny_all)
    enforced = get_profile(running.profile).network_policy_enforced
    seen = None
    for _ in range(10):  # the enforcer programs the policy asynchronously
        seen = prober.connect(client_pod, server.ip, 8080, PROBE_TIMEOUT_S)
        if seen.details["connected"] != enforced:
            break
    assert seen is not None
    assert seen.details["connected"] is not enforced, seen.summary


def test_pods_keep_their_gateway_when_the_pod_owning_the_lowest_mac_leaves(
    running: Running, namespace: str
) -> None:
    """A Linux bridge without a MAC of its own takes its ports' lowest: the pod owning it must not take the
    other pods' way out of the pod network with it when it is deleted (that cost CI a ~50 s outage)."""
    prober = PodProber(running.kube, namespace, PROBE_IMAGE, pull_policy="Never")
    prober.start("leaving", ["pause"])
    prober.wait_running(["leaving"], timeout_s=90)
    iflink = prober.exec("leaving", ["cat", "/sys/class/net/eth0/iflink"]).stdout.strip()
    info = running.cluster.state.load_info()
    assert info is not None
    network = running.cluster.network(info)
    links = network.run(["ip", "-o", "link", "show"]).stdout.splitlines()
    port = next(line.split(": ")[1].split("@")[0] for line in links if line.startswith(f"{iflink}: "))
    network.run(["ip", "link", "set", port, "address", LOWEST_MAC])
    prober.start("staying", ["pause"])
    staying = prober.wait_running(["staying"], timeout_s=90)["staying"]
    api_server = (running.addresses.host, 6443)
    assert prober.connect(staying, *api_server, PROBE_TIMEOUT_S).details["connected"]
    running.kube.core.delete_namespaced_pod("leaving", namespace, grace_period_seconds=0)
    port_gone = wait_until(lambda: network.run(["ip", "link", "show", port], check=False).returncode != 0, 60)
    assert port_gone, f"the deleted pod's bridge port {port} is still there after 60 s"
    seen = [prober.connect(staying, *api_server, PROBE_TIMEOUT_S) for _ in range(2)]
    assert any(o.details["connected"] for o in seen), [o.summary for o in seen]


def test_kubelet_answers_anonymous_pod_listing_per_profile(running: Running) -> None:
    seen = HttpProbe(timeout=PROBE_TIMEOUT_S).get(f"https://{running.addresses.node}:10250/pods")
    expected = {"hardened": 401, "insecure": 200}[running.profile]
    assert seen.status == expected, seen.summary


def test_metadata_standin_answers_pods_only_where_not_blocked(
    running: Running, server_and_client: tuple[PodProber, ProbePod, ProbePod]
) -> None:
    prober, _, client_pod = server_and_client
    seen = prober.connect(client_pod, METADATA_ADDRESS, 80, PROBE_TIMEOUT_S)
    blocked = get_profile(running.profile).metadata_blocked
    assert seen.details["connected"] is not blocked, seen.summary


def test_down_leaves_no_process_netns_mount_cgroup_or_state() -> None:
    cluster = LocalCluster(cluster_name("it-down"), print)  # $K8SHARDEN_LOCAL_NAME_PREFIX-it-down
    cluster.up("insecure")
    records = cluster.supervisor.records()
    info = cluster.state.load_info()
    assert records
    assert info is not None
    network = cluster.network(info)
    cluster.down()
    assert not [r.name for r in records if cluster.supervisor.alive(r)]
    assert not CgroupTree(cluster.state.cgroup_name).exists()
    assert not network.exists()
    assert subprocess.run(["ip", "link", "show", network.host_link], capture_output=True).returncode != 0
    assert str(cluster.state.root) not in Path("/proc/self/mountinfo").read_text()
    assert not cluster.state.root.exists()
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True, check=True).stdout
    assert Addresses(info.slot).cluster_cidr not in routes


def test_traefik_serves_every_site_at_the_node_address_from_ingress_status(running: Running) -> None:
    settings = get_profile(running.profile).ingress
    node = running.addresses.node
    listed = running.kube.custom.list_namespaced_custom_object(
        "networking.k8s.io", "v1", ingress.NAMESPACE, "ingresses"
    )
    published = {t.host: t.address for t in ingress_targets(cast(dict[str, Any], listed)["items"])}
    assert published == {site.host: node for site in settings.sites}
    connector = pinned_connector(node, {}, PROBE_TIMEOUT_S)
    valid = next(s.host for s in settings.sites if s.certificate == "valid")
    served = HttpProbe(PROBE_TIMEOUT_S, connector=connector).get(
        f"https://{valid}/", ca=ingress.ca_path(running.cluster.state)
    )
    assert served.status == 200, served.summary
    plain = HttpProbe(PROBE_TIMEOUT_S, connector=connector).get(f"http://{valid}/")
    assert plain.status in ({301, 308} if settings.redirect_to_https else {200}), plain.summary
