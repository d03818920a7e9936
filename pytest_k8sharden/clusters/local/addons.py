"""What the local cluster runs once its node is up: the NetworkPolicy enforcer and the ingress controller."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from pytest_k8sharden.clusters.local import binaries, enforcer, files, ingress, pki, render
from pytest_k8sharden.clusters.local.components import CILIUM
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.runner import LocalClusterError, Runner
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.clusters.seeding import apply_seeds
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.profiles import Profile
from pytest_k8sharden.seeds import SEED_IMAGE

Kubectl = Callable[..., subprocess.CompletedProcess[str]]
"""kubectl's arguments -> its completed run against the cluster as admin."""


def start_enforcer(
    runner: Runner,
    state: ClusterState,
    kubectl: Kubectl,
    found: dict[str, Path],
    enter_node: list[str],
    node_env: dict[str, str],
    node_name: str,
    a: Addresses,
) -> None:
    """Cilium's CRDs, then its agent; pods only start once it answers (cilium-cni waits for it)."""
    module_dir = binaries.module_source_dir(CILIUM)
    for directory in enforcer.CRD_DIRECTORIES:
        applied = kubectl("apply", "--server-side", "-f", str(module_dir / directory))
        if applied.returncode != 0:
            raise LocalClusterError(f"applying Cilium's CRDs failed: {applied.stderr.strip()}")
    established = kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    if established.returncode != 0:
        raise LocalClusterError(f"Cilium's CRDs were not established: {established.stderr.strip()}")
    lib_dir = binaries.component_cache(CILIUM) / "lib"
    runner.run(
        "cilium-agent",
        [*enter_node, *enforcer.agent_argv(found["daemon"], lib_dir, state, render.node_pod_cidr(a))],
        cgroup="system",
        env={**node_env, "K8S_NODE_NAME": node_name},
    )
    runner.wait("the NetworkPolicy enforcer (cilium-agent)", lambda: enforcer.agent_ready(state))


def start_ingress(
    runner: Runner,
    state: ClusterState,
    kube: Kube,
    found: dict[str, Path],
    enter_node: list[str],
    profile: Profile,
    a: Addresses,
    seed_images: Mapping[str, str],
) -> None:
    """Traefik with its own identity after its objects; ready when every Ingress shows its address."""
    directory = ingress.config_dir(state)
    ca = pki.CertificateAuthority(state.root / "pki", "ca", f"{state.name}-ca")
    kubeconfig = files.write_kubeconfig(
        directory / "kubeconfig",
        render.api_server_url(a),
        ca.paths.cert,
        ca.issue(ingress.client_identity()),
        ingress.USER,
    )
    sites = ingress.objects(state, profile.ingress, SEED_IMAGE)
    apply_seeds(kube, sites, "the ingress sites", seed_images, runner.progress)
    config = ingress.write_config(state, profile.ingress, a)
    runner.run(
        "traefik",
        [*enter_node, *ingress.argv(found["traefik"], config)],
        cgroup="system",
        env={"KUBECONFIG": str(kubeconfig), "KUBERNETES_SERVICE_HOST": ""},
    )

    def published() -> bool:
        addresses = []
        for item in kube.networking.list_namespaced_ingress(ingress.NAMESPACE).items or []:
            balancer = item.status.load_balancer if item.status else None
            addresses += [point.ip for point in (balancer.ingress if balancer else None) or []]
        return addresses == [a.node] * len(profile.ingress.sites)

    runner.wait("Traefik to publish the node address in every Ingress's status", published)
