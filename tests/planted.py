"""What the session plants in the insecure cluster before its shared suite run: Secrets that must leak into
no output, in a namespace labelled like the scanner's own by someone else (which must still be audited),
and the waivers that run is given.

On the insecure local cluster anonymous clients read /api/v1/secrets, so the exposure suites really
receive the planted Secret (its name is in the evidence) and must redact its values everywhere. A second
Secret is applied with client-side ``kubectl apply``: kubectl keeps its manifest, stringData in plaintext,
in the ``last-applied-configuration`` annotation, which the cut-off SecretList excerpt shows as escaped
JSON.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import yaml
from kubernetes import client
from local_clusters import Running

from pytest_k8sharden.clusters.local import binaries
from pytest_k8sharden.clusters.local.components import kubernetes_for
from pytest_k8sharden.ownership import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL
from pytest_k8sharden.profiles import get_profile

NAMESPACE = "a-k8sh-planted"
"""Sorted before every other namespace, so the planted Secrets lead the anonymous SecretList excerpt."""
SECRET_NAME = "k8sh-planted-credentials"
APPLIED_NAME = "a"
"""Sorted first in its namespace, and short: its annotation's stringData falls inside the 512-byte excerpt."""
LABELLED_LIKE_OURS = {MANAGED_BY_LABEL: MANAGED_BY, "k8sharden.io/probe": "true", RUN_LABEL: "someone-else"}
"""Labels anyone who may label a namespace can set: they take nothing out of the audit."""
WAIVERS = """\
waivers:
  - id: NETPOL-DEFAULT-DENY-INGRESS
    reason: accepted on the insecure lab profile
    owner: lab@example.com
    expires: 2999-12-31
  - id: NETPOL-DEFAULT-DENY-EGRESS
    scope: {namespace: default}
    reason: only default is accepted; every other namespace must deny egress
    owner: lab@example.com
    expires: 2999-12-31
"""


def audit_outputs(directory: Path) -> list[str]:
    """Options of a run that writes every output beside its evidence.json, with the waivers above (the log
    file is the run's own, at DEBUG level)."""
    (directory / "waivers.yaml").write_text(WAIVERS)
    return [
        "-rA", f"--waivers={directory}/waivers.yaml", f"--html={directory}/report.html",
        "--self-contained-html", f"--junitxml={directory}/junit.xml", f"--sarif={directory}/results.sarif",
    ]  # fmt: skip


def _encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def _apply_client_side(running: Running, password: str) -> None:
    """``kubectl apply`` (client-side: kubectl writes the last-applied-configuration annotation)."""
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": APPLIED_NAME, "namespace": NAMESPACE},
        "stringData": {"p": password},
    }
    kubectl = binaries.ensure(kubernetes_for(get_profile(running.profile)), print).paths["kubectl"]
    done = running.cluster.kubectl(kubectl, "apply", "-f", "-", stdin=json.dumps(manifest))
    assert done.returncode == 0, done.stderr
    applied = running.kube.core.read_namespaced_secret(APPLIED_NAME, NAMESPACE)
    assert applied.metadata is not None
    annotations = applied.metadata.annotations or {}
    assert password in annotations["kubectl.kubernetes.io/last-applied-configuration"], "not client-side"


@contextlib.contextmanager
def planted_secrets(running: Running) -> Iterator[dict[str, str]]:
    """A Secret with a password and a real ServiceAccount token, and a client-side-applied one, in a
    namespace labelled like the scanner's own: what must not leak, by name (deleted afterwards)."""
    core = running.kube.core
    meta = client.V1ObjectMeta(name=NAMESPACE, labels=LABELLED_LIKE_OURS)
    core.create_namespace(client.V1Namespace(metadata=meta))
    try:
        core.create_namespaced_service_account(
            NAMESPACE, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="planted"))
        )
        request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
        issued = core.create_namespaced_service_account_token("planted", NAMESPACE, request)
        assert issued.status is not None and issued.status.token
        token = str(issued.status.token)
        password = f"k8sh-planted-{secrets.token_hex(12)}"
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name=SECRET_NAME),
                string_data={"password": password, "token": token},
            ),
        )
        applied_password = f"k8sh-applied-{secrets.token_hex(6)}"
        _apply_client_side(running, applied_password)
        kubeconfig = yaml.safe_load(running.cluster.state.kubeconfig.read_text())
        key = kubeconfig["users"][0]["user"]["client-key-data"]
        key_body = base64.b64decode(key).decode().splitlines()[1]  # the first line of the PEM's body
        yield {
            "password": password,
            "password (base64)": _encoded(password),
            "client-side-applied password": applied_password,
            "client-side-applied password (base64)": _encoded(applied_password),
            "token": token,
            "token signature": token.rsplit(".", 1)[-1],
            "token (base64)": _encoded(token)[:60],
            "scanner client key": key,
            "scanner client key (PEM)": key_body,
        }
    finally:
        core.delete_namespace(NAMESPACE)
