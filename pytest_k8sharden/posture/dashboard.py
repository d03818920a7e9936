"""Dashboards and similar GUIs: found by name, image or arguments; how they are exposed and started.

Pure functions over plain API dicts (Deployments, Services, Ingresses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pytest_k8sharden.evidence.verdict import Finding
from pytest_k8sharden.posture.scope import Examined, listing

GUI_MARKERS: Final = ("dashboard", "headlamp", "kubeview", "kube-ops-view", "octant", "weave-scope")
LOGIN_BYPASS_FLAGS: Final = ("--enable-skip-login", "--enable-insecure-login")
EXPOSED_TYPES: Final = frozenset({"NodePort", "LoadBalancer"})

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class Gui:
    """A dashboard-like Deployment."""

    name: str
    """``Deployment/namespace/name``."""
    namespace: str
    pod_labels: Mapping[str, str]
    arguments: tuple[str, ...]
    """command + args of every container."""


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def find_guis(deployments: Sequence[Obj]) -> list[Gui]:
    """Deployments whose name, labels, images or arguments say they are a dashboard-like GUI."""
    found = []
    for deployment in deployments:
        meta = _meta(deployment)
        template = (deployment.get("spec") or {}).get("template") or {}
        pod_containers = (template.get("spec") or {}).get("containers") or ()
        arguments = tuple(
            str(a) for c in pod_containers for a in (*(c.get("command") or ()), *(c.get("args") or ()))
        )
        text = " ".join(
            [
                str(meta.get("name")),
                *map(str, (meta.get("labels") or {}).values()),
                *(str(c.get("image")) for c in pod_containers),
            ]
        ).lower()
        if any(marker in text for marker in GUI_MARKERS) or _bypass(arguments):
            labels = _meta(template).get("labels") or {}
            found.append(
                Gui(
                    f"Deployment/{meta.get('namespace')}/{meta.get('name')}",
                    str(meta.get("namespace")),
                    labels,
                    arguments,
                )
            )
    return found


def _bypass(arguments: Sequence[str]) -> list[str]:
    return [a for a in arguments if a.split("=", 1)[0] in LOGIN_BYPASS_FLAGS and not a.endswith("=false")]


def services_of(gui: Gui, services: Sequence[Obj]) -> list[Obj]:
    """The Services in the GUI's namespace whose selector picks its pods."""
    return [
        s
        for s in services
        if _meta(s).get("namespace") == gui.namespace
        and (selector := (s.get("spec") or {}).get("selector"))
        and all(gui.pod_labels.get(k) == v for k, v in selector.items())
    ]


def _ingress_services(ingresses: Sequence[Obj]) -> set[tuple[str, str]]:
    named: set[tuple[str, str]] = set()
    for ingress in ingresses:
        spec = ingress.get("spec") or {}
        backends = [spec.get("defaultBackend") or {}] + [
            path.get("backend") or {}
            for rule in spec.get("rules") or ()
            for path in (rule.get("http") or {}).get("paths") or ()
        ]
        for backend in backends:
            if (backend.get("service") or {}).get("name"):
                named.add((str(_meta(ingress).get("namespace")), str(backend["service"]["name"])))
    return named


def examined(guis: Sequence[Gui], deployments_read: int) -> Examined:
    """What the dashboard checks searched, for their pass: how many Deployments, and for what."""
    return Examined(
        len(guis),
        "dashboard-like Deployments",
        f"among the {deployments_read} Deployments read (names, labels and images searched for "
        f"{', '.join(GUI_MARKERS)}; arguments for {', '.join(LOGIN_BYPASS_FLAGS)})",
    )


def exposure(
    guis: Sequence[Gui], services: Sequence[Obj], ingresses: Sequence[Obj], searched: Examined
) -> tuple[list[str], Finding]:
    """DASHBOARD-EXPOSED: no GUI's Service is a NodePort or LoadBalancer, or behind an Ingress."""
    behind_ingress = _ingress_services(ingresses)
    flagged = []
    for gui in guis:
        for service in services_of(gui, services):
            kind = (service.get("spec") or {}).get("type", "ClusterIP")
            name = f"Service/{gui.namespace}/{_meta(service).get('name')}"
            if kind in EXPOSED_TYPES:
                flagged.append(f"{gui.name} is exposed by {name} of type {kind}")
            if (gui.namespace, str(_meta(service).get("name"))) in behind_ingress:
                flagged.append(f"{gui.name} is exposed through an Ingress to {name}")
    return flagged, listing(flagged, "are exposed outside the cluster", searched)


def login_bypass(guis: Sequence[Gui], searched: Examined) -> tuple[list[str], Finding]:
    """DASHBOARD-SKIP-LOGIN: no GUI runs with --enable-skip-login or --enable-insecure-login."""
    flagged = [
        f"{gui.name} runs with {' '.join(_bypass(gui.arguments))}" for gui in guis if _bypass(gui.arguments)
    ]
    return flagged, listing(flagged, "let users skip or bypass login", searched)
