"""The enforcement canary in a cluster: server pods in fresh namespaces x, y, z, scenario policies, matrices.

Nothing here asserts or imports pytest: `Canary.run` applies one scenario's policies, probes the full
matrix (every pod to every pod on every served port, from one shell per pod) in whole rounds until two
consecutive rounds agree with each other and the engine (the policy has taken effect; how long that took
is recorded) or a deadline passes, removes the policies again and returns the comparison of the last
rounds with the engine's expectation.

How long a silent connect is waited for before it counts as blocked is earned by the no-policy baseline
(`Canary.run_baseline`): if every one of its connects completed within the short wait upstream's
NetworkPolicy e2e tests use, the policy scenarios wait that long; otherwise the baseline runs again with
the full probe timeout, and so do they.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final, final

from pytest_k8sharden.isolation.matrices import MatrixOutcome, compare, expectation
from pytest_k8sharden.isolation.scenarios import CANARY_NAMESPACE_LABEL, TOPOLOGY, Manifest, Scenario
from pytest_k8sharden.netpol import (
    POD_LABEL,
    Pod,
    PolicyEngine,
    TruthTable,
    expected_matrix,
    parse_network_policy,
)
from pytest_k8sharden.netpol.reachability import PortSpec
from pytest_k8sharden.probes.matrix import (
    SHORT_CONNECT_TIMEOUT_S,
    MatrixProber,
    Plan,
    Source,
    Target,
    probe_until_stable,
    server_manifest,
)
from pytest_k8sharden.probes.pods import PodProber
from pytest_k8sharden.probes.shells import PodShells

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

SETTLE_DEADLINE_S: Final = 30.0
"""How long a freshly applied scenario may take to settle (two consecutive rounds alike and as expected)
before the matrix is judged as it stands: a connection where policy denies fails."""
ROUND_PAUSE_S: Final = 0.5
"""The pause between two rounds of a scenario's matrix (each round of a scenario with a blocked pair takes at
least the connect timeout itself)."""
PORTS: Final = tuple(port for port, _ in TOPOLOGY.served)


def namespace_labels(model: str, base: Mapping[str, str]) -> dict[str, str]:
    """Labels of the real namespace standing for model namespace `model` (x, y or z)."""
    return {**base, CANARY_NAMESPACE_LABEL: model}


@final
class Canary:
    """The x/y/z x a/b/c pods serving TCP 80 and 81 in `namespaces` (model name -> real namespace)."""

    def __init__(
        self,
        kube: Kube,
        namespaces: Mapping[str, str],
        image: str,
        probe_timeout_s: float,
        settle_deadline_s: float = SETTLE_DEADLINE_S,
    ) -> None:
        missing = set(TOPOLOGY.namespaces) - set(namespaces)
        if missing:
            raise ValueError(f"no real namespace for {', '.join(sorted(missing))}")
        self.kube = kube
        self.namespaces = dict(namespaces)
        self.image = image
        self.probe_timeout_s = probe_timeout_s
        self.shells = PodShells(kube)
        """One shell per canary pod for every round of every scenario (see `close`)."""
        self.prober = MatrixProber(kube, probe_timeout_s, shells=self.shells)
        self.settle_deadline_s = settle_deadline_s
        self.pods: tuple[Pod, ...] = ()

    def start(self, start_timeout_s: float) -> tuple[Pod, ...]:
        """Start the nine server pods and wait until they run; the model's pods with their IPs."""
        for model in TOPOLOGY.namespaces:
            for name in TOPOLOGY.pod_names:
                manifest = server_manifest(name, self.image, PORTS, {POD_LABEL: name})
                self.kube.core.create_namespaced_pod(self.namespaces[model], manifest)
        ips: dict[str, str] = {}
        for model in TOPOLOGY.namespaces:
            prober = PodProber(self.kube, self.namespaces[model], self.image)
            running = prober.wait_running(list(TOPOLOGY.pod_names), start_timeout_s)
            ips.update({f"{model}/{name}": pod.ip for name, pod in running.items()})
        labels = {model: {CANARY_NAMESPACE_LABEL: model} for model in TOPOLOGY.namespaces}
        self.pods = TOPOLOGY.pods(ips, labels)
        return self.pods

    def close(self) -> None:
        """Close the canary pods' shells."""
        self.shells.close()

    @property
    def plan(self) -> Plan:
        """Every pod probes every pod (itself included) on every served port."""
        targets = [Target(pod.key, pod.ip, port) for pod in self.pods for port in PORTS]
        return {Source(pod.key, self.namespaces[pod.namespace.name], pod.name): targets for pod in self.pods}

    def run_baseline(self, baseline: Scenario) -> list[MatrixOutcome]:
        """The no-policy `baseline`, which sets the connect timeout of the scenarios after it.

        First with the short timeout: if every pair connected, the scenarios wait that long too. If not,
        the baseline runs again with the full probe timeout, which the scenarios then keep; both matrices
        are returned (the last is the one judged).
        """
        if baseline.policies([pod.ip for pod in self.pods]):
            raise ValueError(f"the baseline scenario {baseline.name} declares policies")
        full = MatrixProber(self.kube, self.probe_timeout_s, shells=self.shells)
        self.prober = MatrixProber(
            self.kube, min(SHORT_CONNECT_TIMEOUT_S, self.probe_timeout_s), shells=self.shells
        )
        first = self.run(baseline)
        if first.held or self.prober.timeout_s == full.timeout_s:
            return [first]
        self.prober = full
        return [first, self.run(baseline)]

    def run(self, scenario: Scenario) -> MatrixOutcome:
        """Apply the scenario's policies, probe the matrix until it settles, remove the policies."""
        with self.applied(scenario) as (manifests, expected):
            wanted = expectation(expected)
            settled = probe_until_stable(
                self.prober.probe, self.plan, wanted, self.settle_deadline_s, pause_s=ROUND_PAUSE_S
            )
        return compare(
            scenario.name,
            scenario.summary,
            manifests,
            expected,
            settled.results,
            settled=settled,
            connect_timeout_s=self.prober.timeout_s,
        )

    @contextlib.contextmanager
    def applied(
        self, scenario: Scenario
    ) -> Iterator[tuple[tuple[Manifest, ...], dict[PortSpec, TruthTable]]]:
        """The scenario's policies, live in the cluster until the block ends: manifests, expected tables."""
        if not self.pods:
            raise RuntimeError("Canary.start() first")
        manifests = scenario.policies([pod.ip for pod in self.pods])
        engine = PolicyEngine.of(parse_network_policy(m) for m in manifests)
        touched: set[str] = set()
        try:
            for manifest in manifests:
                real: Any = self._in_cluster(manifest)  # the client sends plain dicts as they are
                touched.add(real["metadata"]["namespace"])
                self.kube.networking.create_namespaced_network_policy(real["metadata"]["namespace"], real)
            yield manifests, expected_matrix(engine, self.pods, PORTS)
        finally:
            for namespace in touched:
                self.kube.networking.delete_collection_namespaced_network_policy(namespace)

    def _in_cluster(self, manifest: Manifest) -> dict[str, Any]:
        real = copy.deepcopy(dict(manifest))
        real["metadata"] = {**real["metadata"], "namespace": self.namespaces[real["metadata"]["namespace"]]}
        return real
