"""What marks an object as created by pytest-k8sharden, and the sweeper that removes crashed runs' leftovers.

Every namespace, pod, NetworkPolicy, ClusterRole and ClusterRoleBinding the plugin creates carries
``app.kubernetes.io/managed-by: pytest-k8sharden`` and ``k8sharden.io/run: <run id>`` (one id per run).
Objects the local profiles seed carry ``k8sharden.io/seeded-by`` instead and are never swept. Nothing here
imports pytest.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, final

from pytest_k8sharden.kubeerrors import KubeNotFound

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "pytest-k8sharden"
RUN_LABEL: Final = "k8sharden.io/run"
RUN_ID_ENV: Final = "K8SHARDEN_RUN_ID"
RUN_ID: Final = os.environ.get(RUN_ID_ENV) or uuid.uuid4().hex[:12]
"""This process's run id (a session runs in one process): $K8SHARDEN_RUN_ID (a label value, for CI to
correlate), else random."""
OURS_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY}"


def ours(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The labels of an object this run creates, with ``extra`` labels added."""
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: RUN_ID, **(extra or {})}


def is_ours(labels: Mapping[str, str] | None, run_id: str = RUN_ID) -> bool:
    """Whether an object is this run's own, which the audit leaves out: our managed-by label *and* this run's
    id. A bare label is not enough (anyone who can label could hide an object from the audit), and other
    runs' leftovers are audited like anything else (the sweep deletes the old ones first)."""
    labels = labels or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(RUN_LABEL) == run_id


@final
@dataclass(frozen=True)
class Owned:
    """One object labelled as ours: kind, namespace (pods), name, run id and creation time."""

    kind: str
    namespace: str | None
    name: str
    run: str | None
    created: datetime | None

    def describe(self) -> str:
        """``namespace/k8sh-probe-1234`` or ``pod/ns/name``."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind.lower()}/{where}{self.name}"


def _owned(kind: str, item: Any) -> Owned:
    meta = item.metadata
    labels = meta.labels or {}
    namespace = getattr(meta, "namespace", None)
    return Owned(kind, namespace, meta.name, labels.get(RUN_LABEL), meta.creation_timestamp)


def stale(objects: Iterable[Owned], now: datetime, older_than: timedelta, keep_run: str) -> list[Owned]:
    """The objects of other runs created at least ``older_than`` before ``now`` (what lies in a stale
    namespace is left to the namespace's deletion)."""
    chosen = [
        o for o in objects if o.run != keep_run and (o.created is None or now - o.created >= older_than)
    ]
    gone = {o.name for o in chosen if o.kind == "Namespace"}
    return [o for o in chosen if o.kind == "Namespace" or o.namespace not in gone]


def owned_objects(kube: Kube) -> list[Owned]:
    """Every namespace, pod, NetworkPolicy, ClusterRole and ClusterRoleBinding of the cluster labelled as
    ours (whatever run made it).

    NetworkPolicies: the twins NETPOL-WORKLOADS puts into workload namespaces to admit its control pod;
    ClusterRoles and their bindings: the grants of KUBELET-FINE-GRAINED-AUTHZ; a run killed outright would
    leave them behind.
    """
    selector = OURS_SELECTOR
    namespaces = kube.core.list_namespace(label_selector=selector).items
    pods = kube.core.list_pod_for_all_namespaces(label_selector=selector).items
    policies = kube.networking.list_network_policy_for_all_namespaces(label_selector=selector).items
    roles = kube.rbac.list_cluster_role(label_selector=selector).items
    bindings = kube.rbac.list_cluster_role_binding(label_selector=selector).items
    return [
        *(_owned("Namespace", n) for n in namespaces),
        *(_owned("Pod", p) for p in pods),
        *(_owned("NetworkPolicy", p) for p in policies),
        *(_owned("ClusterRoleBinding", b) for b in bindings),
        *(_owned("ClusterRole", r) for r in roles),
    ]


def sweep(kube: Kube, older_than: timedelta, now: datetime, keep_run: str = RUN_ID) -> list[Owned]:
    """Delete the namespaces, pods, NetworkPolicies, ClusterRoleBindings and ClusterRoles of other runs
    older than ``older_than``; return what was deleted."""
    doomed = stale(owned_objects(kube), now, older_than, keep_run)
    deleters: dict[str, Callable[[Owned], object]] = {
        "Namespace": lambda o: kube.core.delete_namespace(o.name),
        "NetworkPolicy": lambda o: kube.networking.delete_namespaced_network_policy(o.name, str(o.namespace)),
        "ClusterRoleBinding": lambda o: kube.rbac.delete_cluster_role_binding(o.name),
        "ClusterRole": lambda o: kube.rbac.delete_cluster_role(o.name),
        "Pod": lambda o: kube.core.delete_namespaced_pod(o.name, str(o.namespace), grace_period_seconds=0),
    }
    for item in doomed:
        with contextlib.suppress(KubeNotFound):
            deleters[item.kind](item)
    return doomed
