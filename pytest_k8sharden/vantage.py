"""Vantage points: knocking on a door from the runner and from inside a fresh unprivileged pod.

Plain classes and functions (no pytest): fixtures.py builds them for checks, and organisations' own
checks can use them directly.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Final, final

from kubernetes import client

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.verdict import Inconclusive
from pytest_k8sharden.kube import KubeError, KubeNotFound
from pytest_k8sharden.locks import census_lock
from pytest_k8sharden.ownership import ours
from pytest_k8sharden.polling import wait_for_each, wait_until
from pytest_k8sharden.probes.http import HttpObservation, HttpProbe
from pytest_k8sharden.probes.pods import PodNotReady, PodProber, ProbePod
from pytest_k8sharden.probes.tunnel import PodTunnel
from pytest_k8sharden.settings import DEFAULT_PROBE_CONCURRENCY

if TYPE_CHECKING:
    from pytest_k8sharden.clusters.base import Cluster
    from pytest_k8sharden.evidence.recorder import Evidence
    from pytest_k8sharden.kube import Kube

ATTACKER_POD: Final = "attacker"
UNBOUND_SERVICE_ACCOUNT: Final = "k8sharden-unbound"
TOKEN_SECONDS: Final = 600
CONTROL_PLANE_ROLE: Final = "node-role.kubernetes.io/control-plane"
ATTACKER_ROLE: Final = {"k8sharden.io/role": "attacker"}
GRANT_TIMEOUT: Final = 30.0
"""Seconds granted_token waits for the API server to authorize a fresh grant."""
VISITORS_GONE_TIMEOUT: Final = 60.0
"""Seconds visiting_pods waits for its deleted pods to be gone."""


@final
@dataclass(frozen=True)
class AttackerPod:
    """An unprivileged probe pod: the vantage point of an attacker who popped a workload."""

    pod: ProbePod
    tunnel: PodTunnel

    def http_probe(self, timeout: float) -> HttpProbe:
        """An HttpProbe whose connections leave from this pod."""
        return HttpProbe(timeout=timeout, vantage=self.pod.vantage, connector=self.tunnel.connect)


def start_attacker_pod(
    kube: Kube, namespace: str, image: str, start_timeout: float, probe_timeout: float
) -> AttackerPod:
    """Start the attacker pod in ``namespace`` and wait until it runs (PodNotReady otherwise).

    ``probe_timeout`` bounds each connection the pod makes; ``start_timeout`` the wait for the pod.
    """
    prober = PodProber(kube, namespace, image)
    prober.start(ATTACKER_POD, ["pause"], labels=ATTACKER_ROLE)
    pod = prober.wait_running([ATTACKER_POD], timeout_s=start_timeout)[ATTACKER_POD]
    return AttackerPod(pod, PodTunnel(prober, ATTACKER_POD, probe_timeout))


@contextlib.contextmanager
def visiting_pods(
    kube: Kube, namespaces: Sequence[str], image: str, start_timeout: float, probe_timeout: float
) -> Iterator[dict[str, AttackerPod]]:
    """An attacker pod in each existing namespace (workloads' ones, say), all deleted afterwards.

    The pods start together (PodNotReady if one does not), carry pytest-k8sharden's labels like every
    pod the plugin creates, and share one unique name. The cluster's census lock is held until they are
    gone (unless interrupted), so that no check reading every pod meanwhile audits them.
    """
    name = f"k8sh-visitor-{uuid.uuid4().hex[:8]}"
    probers = {namespace: PodProber(kube, namespace, image) for namespace in namespaces}
    started: list[str] = []
    interrupted = False
    with census_lock(kube.server):
        try:
            for namespace, prober in probers.items():
                started.append(namespace)  # before the call: an interrupted create may still reach the server
                prober.start(name, ["pause"], labels=ATTACKER_ROLE)
            yield {
                namespace: AttackerPod(
                    prober.wait_running([name], timeout_s=start_timeout)[name],
                    PodTunnel(prober, name, probe_timeout),
                )
                for namespace, prober in probers.items()
            }
        except (KeyboardInterrupt, SystemExit):
            interrupted = True
            raise
        finally:
            for namespace in started:
                with contextlib.suppress(KubeNotFound):
                    kube.core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
            if not interrupted:
                _wait_until_gone(kube, name, started)


def _wait_until_gone(kube: Kube, name: str, namespaces: Sequence[str]) -> None:
    """Wait (at most VISITORS_GONE_TIMEOUT) until pod ``name`` is gone from every one of ``namespaces``."""
    wait_for_each(namespaces, partial(_pod_gone, kube, name), VISITORS_GONE_TIMEOUT, interval_s=0.5)


def _pod_gone(kube: Kube, name: str, namespace: str) -> bool:
    try:
        kube.core.read_namespaced_pod(name, namespace)
    except KubeNotFound:
        return True
    return False


Visitors = Callable[[Sequence[str]], AbstractContextManager[dict[str, AttackerPod]]]
"""The ``visitors`` fixture: ``with visitors(namespaces) as pods`` gives a visiting pod in each namespace
(namespace -> pod), deleted when the block ends."""


@final
class Knocker:
    """Sends each request from every vantage point and records every answer in the check's evidence."""

    def __init__(
        self,
        evidence: Evidence,
        runner: HttpProbe,
        pod: HttpProbe | None,
        concurrency: int = DEFAULT_PROBE_CONCURRENCY,
    ) -> None:
        self.evidence = evidence
        self.runner = runner
        self.probes = [runner] if pod is None else [runner, pod]
        self.concurrency = concurrency

    def get(
        self, url: str, *, token: str | None = None, headers: Mapping[str, str] | None = None
    ) -> list[HttpObservation]:
        """GET ``url`` from every vantage point."""
        return self.get_all([url], token=token, headers=headers)

    def get_all(
        self,
        urls: Sequence[str],
        method: str = "GET",
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> list[HttpObservation]:
        """Send ``method`` to every URL from every vantage point, concurrently; answers in a stable order."""
        return self._send(
            [_Request(probe, method, url, token, headers, None) for url in urls for probe in self.probes]
        )

    def from_runner(
        self,
        url: str,
        method: str = "GET",
        *,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> list[HttpObservation]:
        """Send one request from the runner only (for requests carrying the scanner's own test tokens)."""
        return self._send([_Request(self.runner, method, url, token, headers, body)])

    def _send(self, requests: list[_Request]) -> list[HttpObservation]:
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            seen = list(pool.map(_Request.send, requests))
        return [self.evidence.record(o) for o in seen]


@dataclass(frozen=True)
class _Request:
    probe: HttpProbe
    method: str
    url: str
    token: str | None
    headers: Mapping[str, str] | None
    body: bytes | None

    def send(self) -> HttpObservation:
        return self.probe.request(
            self.method, self.url, token=self.token, headers=self.headers, body=self.body
        )


def control_plane_addresses(kube: Kube, cluster: Cluster) -> list[str]:
    """The API server's host and endpoints, and the control-plane nodes' addresses (not the `kubernetes`
    Service's virtual address, the API server's host from inside a pod)."""
    virtual: list[str] = []
    try:
        services = kube.core.list_namespaced_service("default", field_selector="metadata.name=kubernetes")
        virtual = [ip for s in services.items if s.spec for ip in s.spec.cluster_ips or []]
    except KubeError:
        pass
    endpoints: list[str] = []
    try:
        slices = kube.api(client.DiscoveryV1Api).list_namespaced_endpoint_slice(
            "default", label_selector="kubernetes.io/service-name=kubernetes"
        )
        endpoints = [a for s in slices.items for e in s.endpoints or [] for a in e.addresses or []]
    except KubeError:
        pass
    nodes: list[str] = []
    try:
        for node in kube.core.list_node(label_selector=CONTROL_PLANE_ROLE).items:
            status = node.status
            addresses = status.addresses if status and status.addresses else []
            nodes += [a.address for a in addresses if a.type == "InternalIP"]
    except KubeError:
        pass
    return exposure.control_plane_addresses(cluster.server, endpoints, nodes, virtual)


def pod_on_each_node(kube: Kube) -> dict[str, str]:
    """node name -> "namespace/pod/container" of one running pod there (for kubelet /run probes)."""
    try:
        pods = kube.core.list_pod_for_all_namespaces(field_selector="status.phase=Running").items
    except KubeError:
        return {}
    found: dict[str, str] = {}
    for pod in pods:
        if pod.spec and pod.spec.node_name and pod.metadata and pod.spec.containers:
            found.setdefault(
                pod.spec.node_name,
                f"{pod.metadata.namespace}/{pod.metadata.name}/{pod.spec.containers[0].name}",
            )
    return found


def unbound_service_account_token(kube: Kube, namespace: str) -> str:
    """A short-lived token of a fresh ServiceAccount that nothing is bound to."""
    kube.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=UNBOUND_SERVICE_ACCOUNT))
    )
    return _token(kube, UNBOUND_SERVICE_ACCOUNT, namespace)


def _token(kube: Kube, service_account: str, namespace: str) -> str:
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=TOKEN_SECONDS)
    )
    issued = kube.core.create_namespaced_service_account_token(service_account, namespace, request)
    if issued.status is None or not issued.status.token:
        raise KubeError("the API server issued no token for the test ServiceAccount")
    return str(issued.status.token)


@contextlib.contextmanager
def granted_token(kube: Kube, namespace: str, resource: str, verb: str = "get") -> Iterator[str]:
    """A short-lived token of a fresh ServiceAccount (in ``namespace``) that a ClusterRole of ours grants
    ``verb`` on ``resource`` (``nodes/healthz``, say) and nothing else, once the API server authorizes it.

    The ClusterRole and its binding carry our labels and are deleted afterwards (cluster-wide, they do not
    go with the namespace, as the ServiceAccount does); Inconclusive when the grant never takes effect.
    """
    name = f"k8sh-grant-{uuid.uuid4().hex[:8]}"
    meta = client.V1ObjectMeta(name=name, labels=ours())
    kube.core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name=name))
    )
    rule = client.V1PolicyRule(api_groups=[""], resources=[resource], verbs=[verb])
    role = client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=name)
    subject = client.RbacV1Subject(kind="ServiceAccount", name=name, namespace=namespace)
    try:  # an interrupted create may still reach the server: delete both whatever happened
        kube.rbac.create_cluster_role(client.V1ClusterRole(metadata=meta, rules=[rule]))
        kube.rbac.create_cluster_role_binding(
            client.V1ClusterRoleBinding(metadata=meta, role_ref=role, subjects=[subject])
        )
        user = f"system:serviceaccount:{namespace}:{name}"
        if not wait_until(partial(_authorized, kube, user, resource, verb), GRANT_TIMEOUT, interval_s=0.5):
            raise Inconclusive(f"the API server did not authorize {user} to {verb} {resource} in time")
        yield _token(kube, name, namespace)
    finally:
        with contextlib.suppress(KubeNotFound):
            kube.rbac.delete_cluster_role_binding(name)
        with contextlib.suppress(KubeNotFound):
            kube.rbac.delete_cluster_role(name)


def _authorized(kube: Kube, user: str, resource: str, verb: str) -> bool:
    """Whether the API server authorizes ``user`` to ``verb`` ``resource`` (a SubjectAccessReview)."""
    plural, _, subresource = resource.partition("/")
    attributes = client.V1ResourceAttributes(resource=plural, subresource=subresource or None, verb=verb)
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(user=user, resource_attributes=attributes)
    )
    answer = kube.api(client.AuthorizationV1Api).create_subject_access_review(review)
    return bool(answer.status and answer.status.allowed)


__all__ = [
    "AttackerPod",
    "Knocker",
    "PodNotReady",
    "control_plane_addresses",
    "granted_token",
    "pod_on_each_node",
    "start_attacker_pod",
    "unbound_service_account_token",
]
