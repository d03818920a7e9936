"""Fixtures for checks: cluster, kube, nodes, evidence, probe_namespace, http_probe, knock, attacker_pod..."""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast, final

import pytest
from kubernetes import client

from pytest_k8sharden import ingress, vantage
from pytest_k8sharden.clusters import ClusterUnavailable
from pytest_k8sharden.evidence.recorder import Evidence
from pytest_k8sharden.evidence.verdict import Inconclusive
from pytest_k8sharden.isolation.canary import Canary, namespace_labels
from pytest_k8sharden.isolation.scenarios import TOPOLOGY
from pytest_k8sharden.kube import KubeError, KubeForbidden, KubeNotFound
from pytest_k8sharden.locks import census_lock
from pytest_k8sharden.ownership import MANAGED_BY, MANAGED_BY_LABEL, ours
from pytest_k8sharden.polling import wait_for_each
from pytest_k8sharden.posture.objects import PlainObject, plain_items
from pytest_k8sharden.posture.scope import NamespaceScope, PodScope, namespaces_in_scope, running_pods
from pytest_k8sharden.probes.handshake import HandshakeProbe
from pytest_k8sharden.probes.http import HttpProbe
from pytest_k8sharden.probes.pods import PodNotReady
from pytest_k8sharden.runstate import EVIDENCE_KEY, STATE_KEY
from pytest_k8sharden.settings import UPSTREAM_PROBE_IMAGE
from pytest_k8sharden.vantage import AttackerPod, Knocker, Visitors, start_attacker_pod

__all__ = ["MANAGED_BY", "MANAGED_BY_LABEL"]  # re-exported for checks written before ownership.py

if TYPE_CHECKING:
    from pytest_k8sharden.clusters import Cluster
    from pytest_k8sharden.clusters.base import Node
    from pytest_k8sharden.kube import Kube
    from pytest_k8sharden.settings import Settings

PROBE_LABEL = "k8sharden.io/probe"
RESTRICTED_LABEL = "pod-security.kubernetes.io/enforce"
NAMESPACE_GONE_TIMEOUT = 120.0
POD_START_TIMEOUT = 120.0


@pytest.fixture(scope="session")
def k8sharden_settings(pytestconfig: pytest.Config) -> Settings:
    """The validated pytest-k8sharden options (probe image, probe timeout, read-only ...)."""
    return pytestconfig.stash[STATE_KEY].settings


@pytest.fixture(scope="session")
def cluster(pytestconfig: pytest.Config) -> Cluster:
    """The cluster under test: provider, profile, API URL, server version, nodes, scanner identity."""
    try:
        return pytestconfig.stash[STATE_KEY].open()[0]
    except ClusterUnavailable as exc:
        pytest.exit(f"k8sharden: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def kube(pytestconfig: pytest.Config, cluster: Cluster) -> Kube:
    """API clients for the cluster (kube.core, kube.rbac, ... or kube.api(SomeApi)), built in kube.py."""
    return pytestconfig.stash[STATE_KEY].open()[1]


@pytest.fixture
def nodes(cluster: Cluster) -> tuple[Node, ...]:
    """The cluster's nodes; the check is inconclusive when the scanner may not list them."""
    if cluster.nodes is None:
        raise Inconclusive("the scanner may not list nodes")
    return cluster.nodes


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    """Records the current check's Observations: evidence.record(obs), evidence.inconclusive(reason)."""
    recorder = Evidence()
    request.node.stash[EVIDENCE_KEY] = recorder
    return recorder


@pytest.fixture
def handshake_probe(k8sharden_settings: Settings) -> HandshakeProbe:
    """TLS handshakes from the runner with --probe-timeout: protocols, cipher suites, certificates."""
    return HandshakeProbe(timeout=k8sharden_settings.probe_timeout)


@pytest.fixture
def http_probe(k8sharden_settings: Settings) -> HttpProbe:
    """HTTP(S) requests from the runner with --probe-timeout; returns HttpObservation."""
    return HttpProbe(timeout=k8sharden_settings.probe_timeout)


@final
class NamespaceJanitor:
    """Deletes our namespaces at once and waits for all of them together at the end of the session."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.deleted: list[str] = []

    def delete(self, name: str) -> None:
        """Ask the API server to delete ``name`` (its contents go with it); do not wait."""
        with contextlib.suppress(KubeNotFound):
            self.kube.core.delete_namespace(name)
        self.deleted.append(name)

    def wait_until_all_gone(self, timeout: float) -> list[str]:
        """Wait until every deleted namespace is gone; return those still terminating after ``timeout``."""
        return wait_for_each(self.deleted, self._gone, timeout, interval_s=1.0)

    def _gone(self, name: str) -> bool:
        try:
            self.kube.core.read_namespace(name)
        except KubeNotFound:
            return True
        return False


@pytest.fixture(scope="session")
def namespace_janitor(kube: Kube) -> Iterator[NamespaceJanitor]:
    """Deletes probe namespaces without waiting, then waits for all of them once, at session end."""
    janitor = NamespaceJanitor(kube)
    yield janitor
    left = janitor.wait_until_all_gone(NAMESPACE_GONE_TIMEOUT)
    if left:
        warnings.warn(
            f"probe namespaces still terminating after {NAMESPACE_GONE_TIMEOUT:g}s: {', '.join(left)}",
            stacklevel=1,
        )


@contextlib.contextmanager
def _fresh_namespace(
    kube: Kube, janitor: NamespaceJanitor, extra_labels: dict[str, str] | None = None
) -> Iterator[str]:
    """Create a namespace labelled as ours; hand it to the janitor for deletion, whatever happens.

    The janitor deletes it even when the create call itself was interrupted (it may have reached the server).
    """
    name = f"k8sh-probe-{uuid.uuid4().hex[:8]}"
    try:
        _create_namespace(kube, name, extra_labels or {})
        yield name
    finally:
        janitor.delete(name)


def _create_namespace(kube: Kube, name: str, labels: Mapping[str, str]) -> None:
    """Create namespace ``name`` labelled as ours and as a probe namespace, with ``labels`` added."""
    meta = client.V1ObjectMeta(name=name, labels=ours({PROBE_LABEL: "true", **labels}))
    kube.core.create_namespace(client.V1Namespace(metadata=meta))


@pytest.fixture
def probe_namespace(
    kube: Kube, k8sharden_settings: Settings, namespace_janitor: NamespaceJanitor
) -> Iterator[str]:
    """A fresh namespace labelled as ours, deleted afterwards (also when the check fails).

    Deletion is asked for at once; the session waits until every probe namespace is gone at its end.
    """
    if k8sharden_settings.read_only:
        pytest.skip("--read-only: probe_namespace would create a namespace")
    with _fresh_namespace(kube, namespace_janitor) as name:
        yield name


@pytest.fixture
def restricted_namespace(
    kube: Kube, k8sharden_settings: Settings, namespace_janitor: NamespaceJanitor
) -> Iterator[str]:
    """Like probe_namespace, labelled ``pod-security.kubernetes.io/enforce=restricted``."""
    if k8sharden_settings.read_only:
        pytest.skip("--read-only: restricted_namespace would create a namespace")
    with _fresh_namespace(kube, namespace_janitor, {RESTRICTED_LABEL: "restricted"}) as name:
        yield name


NamespaceMaker = Callable[[str, Mapping[str, str]], str]
"""Creates a namespace by name with extra labels (besides ours and the probe label) and returns its name."""


@pytest.fixture
def make_namespace(kube: Kube, namespace_janitor: NamespaceJanitor) -> Iterator[NamespaceMaker]:
    """Creates namespaces labelled as ours on demand (``make_namespace(name, labels)``); every one is
    deleted afterwards, also when the check fails or a create call was interrupted."""
    asked: list[str] = []

    def make(name: str, labels: Mapping[str, str]) -> str:
        asked.append(name)  # before the call: an interrupted create may still reach the server
        _create_namespace(kube, name, labels)
        return name

    try:
        yield make
    finally:
        for name in asked:
            namespace_janitor.delete(name)


@pytest.fixture
def canary(
    kube: Kube, k8sharden_settings: Settings, probe_image: str, make_namespace: NamespaceMaker
) -> Iterator[Canary]:
    """The NetworkPolicy canary's nine server pods running in fresh namespaces x, y, z (deleted
    afterwards); inconclusive when they cannot start."""
    run = uuid.uuid4().hex[:8]
    names = {
        model: make_namespace(f"k8sh-canary-{run}-{model}", namespace_labels(model, {}))
        for model in TOPOLOGY.namespaces
    }
    found = Canary(kube, names, probe_image, k8sharden_settings.probe_timeout)
    try:
        found.start(POD_START_TIMEOUT)
        yield found
    except PodNotReady as exc:
        raise Inconclusive(f"the canary pods could not start: {exc}") from exc
    finally:
        found.close()


@pytest.fixture
def visitors(kube: Kube, k8sharden_settings: Settings, probe_image: str) -> Visitors:
    """Visiting pods in given namespaces, deleted when the ``with`` block ends; a pod that cannot start
    makes the check inconclusive."""

    @contextlib.contextmanager
    def visiting(namespaces: Sequence[str]) -> Iterator[dict[str, AttackerPod]]:
        timeout = k8sharden_settings.probe_timeout
        try:
            with vantage.visiting_pods(kube, namespaces, probe_image, POD_START_TIMEOUT, timeout) as pods:
                yield pods
        except (PodNotReady, KubeError) as exc:
            raise Inconclusive(f"no probe pod could run in {', '.join(namespaces)}: {exc}") from exc

    return visiting


@pytest.fixture(scope="session")
def cluster_namespaces(kube: Kube) -> list[PlainObject]:
    """Every Namespace as a plain API dict (read once per session)."""
    return plain_items(kube, kube.core.list_namespace)


@pytest.fixture(scope="session")
def cluster_pods(kube: Kube) -> list[PlainObject]:
    """Every Pod of every namespace as a plain API dict (read once per session, never while the scanner's
    visiting pods stand in audited namespaces: see locks.census_lock)."""
    with census_lock(kube.server):
        return plain_items(kube, kube.core.list_pod_for_all_namespaces)


@pytest.fixture
def namespace_scope(cluster_namespaces: list[PlainObject], k8sharden_settings: Settings) -> NamespaceScope:
    """The namespaces the posture checks cover: all but the exempt ones (--exemptions) and this run's own,
    each left out named (inconclusive when the namespace list cannot be whole)."""
    return namespaces_in_scope(cluster_namespaces, k8sharden_settings.exemptions)


@pytest.fixture
def pods_in_scope(cluster_pods: list[PlainObject], namespace_scope: NamespaceScope) -> PodScope:
    """The running pods of the namespaces in scope (namespace_scope)."""
    return running_pods(cluster_pods, namespace_scope)


@pytest.fixture(scope="session")
def probe_image(cluster: Cluster, k8sharden_settings: Settings) -> str:
    """--probe-image, else the image the provider loaded (local cluster), else the upstream agnhost."""
    return k8sharden_settings.probe_image or cluster.access.probe_image or UPSTREAM_PROBE_IMAGE


@pytest.fixture(scope="session")
def attacker_pod(
    kube: Kube, k8sharden_settings: Settings, probe_image: str, namespace_janitor: NamespaceJanitor
) -> Iterator[AttackerPod | None]:
    """One unprivileged pod for the session, the in-cluster vantage point; None under --read-only.

    A pod that cannot start ends every check that needs it as inconclusive (the reason names the pod).
    """
    if k8sharden_settings.read_only:
        yield None
        return
    with _fresh_namespace(kube, namespace_janitor) as namespace:
        try:
            yield start_attacker_pod(
                kube, namespace, probe_image, POD_START_TIMEOUT, k8sharden_settings.probe_timeout
            )
        except PodNotReady as exc:
            raise Inconclusive(f"the attacker pod could not start: {exc}") from exc


@pytest.fixture
def knock(
    evidence: Evidence,
    http_probe: HttpProbe,
    attacker_pod: AttackerPod | None,
    k8sharden_settings: Settings,
) -> Knocker:
    """Knocks on doors from the runner and from the attacker pod, recording every answer as evidence."""
    pod_probe = attacker_pod.http_probe(k8sharden_settings.probe_timeout) if attacker_pod else None
    return Knocker(evidence, http_probe, pod_probe, k8sharden_settings.probe_concurrency)


@pytest.fixture(scope="session")
def control_plane_addresses(kube: Kube, cluster: Cluster) -> list[str]:
    """Where control-plane components may listen: API server host and endpoints, control-plane nodes."""
    return vantage.control_plane_addresses(kube, cluster)


@pytest.fixture
def pod_on_each_node(kube: Kube) -> dict[str, str]:
    """node name -> "namespace/pod/container" of a running pod there ({} when pods may not be listed)."""
    return vantage.pod_on_each_node(kube)


@pytest.fixture
def unbound_service_account_token(kube: Kube, probe_namespace: str) -> str:
    """A short-lived token of a fresh ServiceAccount that nothing is bound to (in probe_namespace)."""
    return vantage.unbound_service_account_token(kube, probe_namespace)


@pytest.fixture
def nodes_healthz_token(kube: Kube, probe_namespace: str) -> Iterator[str]:
    """A short-lived token of a fresh ServiceAccount granted only ``get`` on ``nodes/healthz`` (its
    ClusterRole and binding are deleted afterwards)."""
    with vantage.granted_token(kube, probe_namespace, "nodes/healthz") as token:
        yield token


@pytest.fixture(scope="session")
def anonymous_allowed_paths(k8sharden_settings: Settings) -> tuple[str, ...]:
    """API paths an anonymous client may read (ini k8sharden_anonymous_allowed_paths)."""
    return k8sharden_settings.anonymous_allowed_paths


@pytest.fixture(scope="session")
def ingress_targets(kube: Kube, k8sharden_settings: Settings) -> list[ingress.TlsTarget]:
    """Every Ingress rule host and Gateway listener hostname, with the address that serves it.

    The check is inconclusive when the scanner may not list Ingresses (or Gateways, where that API
    exists), and skipped when the cluster publishes no host at all.
    """
    try:
        found = ingress.ingress_targets(_listed(kube, "networking.k8s.io", "v1", "ingresses"))
    except KubeForbidden as exc:
        raise Inconclusive(f"the scanner may not list Ingresses: {exc}") from exc
    try:
        found += ingress.gateway_targets(_listed(kube, *ingress.GATEWAY_API, "gateways"))
    except KubeNotFound:
        pass  # no Gateway API in this cluster
    except KubeForbidden as exc:
        raise Inconclusive(f"the scanner may not list Gateways: {exc}") from exc
    if not found:
        pytest.skip("the cluster publishes no Ingress rule host and no Gateway listener hostname")
    return ingress.at_address(found, k8sharden_settings.ingress_address)


def _listed(kube: Kube, group: str, version: str, plural: str) -> list[dict[str, Any]]:
    """Every object of a resource across namespaces, in the API's JSON form."""
    listed = cast(dict[str, Any], kube.custom.list_cluster_custom_object(group, version, plural))
    return list(listed.get("items") or [])


@pytest.fixture(scope="session")
def ingress_trust(cluster: Cluster, k8sharden_settings: Settings) -> Path | None:
    """--ingress-ca, else the CA the provider's ingress certificates chain to, else None (system roots)."""
    return k8sharden_settings.ingress_ca or cluster.access.ingress_ca
