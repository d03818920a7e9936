"""Secrets planted in a real cluster appear in no output file of a run of the shipped suites.

On the insecure local cluster anonymous clients read /api/v1/secrets, so the exposure suites really
receive the planted Secret (its name is in the evidence) and must redact its values everywhere: the
evidence.json, the HTML report, the SARIF log, the JUnit XML, the log file and pytest's own output.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from local_clusters import Running, run_shipped_suites

pytestmark = pytest.mark.cluster

NAMESPACE = "a-k8sh-planted"
"""Sorted before every other namespace, so the planted Secret leads the anonymous SecretList excerpt."""
SECRET_NAME = "k8sh-planted-credentials"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")


def _encoded(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


@pytest.fixture(scope="module")
def planted(local_cluster: Callable[[str], Running]) -> Iterator[dict[str, str]]:
    """A Secret with a password and a real ServiceAccount token (insecure cluster): what must not leak."""
    running = local_cluster("insecure")
    core = running.kube.core
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
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
        kubeconfig = yaml.safe_load(running.cluster.state.kubeconfig.read_text())
        key = kubeconfig["users"][0]["user"]["client-key-data"]
        key_body = base64.b64decode(key).decode().splitlines()[1]  # the first line of the PEM's body
        yield {
            "password": password,
            "password (base64)": _encoded(password),
            "token": token,
            "token signature": token.rsplit(".", 1)[-1],
            "token (base64)": _encoded(token)[:60],
            "scanner client key": key,
            "scanner client key (PEM)": key_body,
        }
    finally:
        core.delete_namespace(NAMESPACE)


def test_planted_secrets_appear_in_no_output_file(planted: dict[str, str], tmp_path: Path) -> None:
    done = run_shipped_suites(
        "insecure", tmp_path, "-rA",
        f"--html={tmp_path}/report.html", "--self-contained-html", f"--junitxml={tmp_path}/junit.xml",
        f"--sarif={tmp_path}/results.sarif", f"--log-file={tmp_path}/pytest.log", "--log-file-level=DEBUG",
    )  # fmt: skip
    outputs = {path.name: path.read_text(errors="replace") for path in tmp_path.iterdir() if path.is_file()}
    assert {"evidence.json", "report.html", "junit.xml", "results.sarif", "pytest.log"} <= set(outputs), (
        f"missing outputs: {sorted(outputs)}\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    )
    assert SECRET_NAME in outputs["evidence.json"], "the suites never saw the planted Secret: nothing proven"
    assert SECRET_NAME in outputs["report.html"], "the HTML report does not show the response that held it"
    outputs["pytest stdout"], outputs["pytest stderr"] = done.stdout, done.stderr
    for where, text in outputs.items():
        for what, value in planted.items():
            assert value not in text, f"the planted {what} appears in {where}"
        assert not _JWT.search(text), f"a JSON Web Token appears in {where}"
