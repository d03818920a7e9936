"""The cloud metadata endpoint from inside pods: TCP to 169.254.169.254:80 and the credential paths.

Every request leaves from a pod (through its exec tunnel); the runner never sends anything to the
metadata address (HttpProbe refuses link-local targets without a pod Connector). Bodies of answers
from credential paths are withheld from the evidence: only status and headers are kept.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, final

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.isolation.workloads import describe_controls, heard_doors
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.probes.matrix import ConnectResult
from pytest_k8sharden.vantage import AttackerPod

METADATA_HOST: Final = "169.254.169.254"
METADATA_PORT: Final = 80
AWS_TOKEN_HEADER: Final = "X-aws-ec2-metadata-token"
AWS_CREDENTIALS_PATH: Final = "/latest/meta-data/iam/security-credentials/"
ANSWERS_NAMED: Final = 6


@final
@dataclass(frozen=True)
class CredentialRequest:
    """One request for credentials as a cloud's metadata service expects it."""

    provider: str
    method: str
    path: str
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def url(self) -> str:
        """The request's URL on the metadata address."""
        return f"http://{METADATA_HOST}{self.path}"


AWS_IMDSV2_TOKEN: Final = CredentialRequest(
    "aws-imdsv2", "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
)
CREDENTIAL_REQUESTS: Final = (
    CredentialRequest("aws-imdsv1", "GET", AWS_CREDENTIALS_PATH),
    AWS_IMDSV2_TOKEN,
    CredentialRequest(
        "gcp",
        "GET",
        "/computeMetadata/v1/instance/service-accounts/default/token",
        {"Metadata-Flavor": "Google"},
    ),
    CredentialRequest(
        "azure",
        "GET",
        "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F",
        {"Metadata": "true"},
    ),
)


def gave_credentials(seen: HttpObservation) -> bool:
    """A credential path answered with content (2xx): a token, role name or key came back."""
    return seen.status is not None and 200 <= seen.status < 300


def withheld(seen: HttpObservation) -> HttpObservation:
    """`seen` without the body of a credential answer (its length is kept)."""
    if not gave_credentials(seen):
        return seen
    body = str(seen.details.get("body_excerpt", ""))
    details = {**seen.details, "body_excerpt": f"[withheld: {len(body)} bytes from a credential path]"}
    return dataclasses.replace(seen, details=details)


def _session_token(seen: HttpObservation) -> str | None:
    if not gave_credentials(seen):
        return None
    return str(seen.details.get("body_excerpt", "")).strip() or None


def probe_from(vantage: AttackerPod, timeout_s: float) -> list[Observation]:
    """TCP connect and every credential request from one pod, concurrently (IMDSv2 in its two steps)."""
    http = vantage.http_probe(timeout_s)

    def send(request: CredentialRequest) -> list[Observation]:
        seen = http.request(request.method, request.url, headers=request.headers)
        token = _session_token(seen) if request is AWS_IMDSV2_TOKEN else None
        found: list[Observation] = [withheld(seen)]
        if token is not None:
            url = f"http://{METADATA_HOST}{AWS_CREDENTIALS_PATH}"
            found.append(withheld(http.request("GET", url, headers={AWS_TOKEN_HEADER: token})))
        return found

    def connect() -> list[Observation]:
        prober = vantage.tunnel.prober
        return [prober.connect(vantage.pod, METADATA_HOST, METADATA_PORT, timeout_s)]

    with ThreadPoolExecutor(max_workers=len(CREDENTIAL_REQUESTS) + 1) as pool:
        futures = [pool.submit(connect)] + [pool.submit(send, r) for r in CREDENTIAL_REQUESTS]
        return [o for future in futures for o in future.result()]


def probe_all(vantages: Sequence[AttackerPod], timeout_s: float) -> list[Observation]:
    """`probe_from` every pod at the same time; observations in the order of `vantages`."""
    with ThreadPoolExecutor(max_workers=max(1, len(vantages))) as pool:
        return [o for found in pool.map(lambda v: probe_from(v, timeout_s), vantages) for o in found]


def _listed(observations: Sequence[Observation]) -> str:
    def one(o: Observation) -> str:
        outcome = o.status if isinstance(o, HttpObservation) and o.status is not None else None
        if isinstance(o, HttpObservation):
            return f"{o.details.get('method', 'GET')} {o.target} from {o.vantage} ({outcome or o.error})"
        return o.summary

    more = f" and {len(observations) - ANSWERS_NAMED} more" if len(observations) > ANSWERS_NAMED else ""
    return ", ".join(one(o) for o in observations[:ANSWERS_NAMED]) + more


def _timed_out(observation: Observation) -> bool:
    """No answer within the probe timeout (from an HTTP request or an agnhost connect)."""
    if isinstance(observation, HttpObservation):
        return observation.status is None and "timed out" in (observation.error or "")
    return "TIMEOUT" in str(observation.details.get("output", ""))


def metadata_finding(observations: Sequence[Observation], controls: Sequence[ConnectResult]) -> Finding:
    """Failed if any credential path answered 2xx from any pod; passed if every probe was refused or
    blocked; inconclusive if no pod could probe.

    `controls` are knocks from the probe pod on control-plane doors with the same timeout: a timeout
    towards the metadata endpoint counts as blocked only if a control door answered within it.
    """
    answers = [o for o in observations if isinstance(o, HttpObservation)]
    credentials = [o for o in answers if gave_credentials(o)]
    if credentials:
        listed = _listed(credentials)
        return Finding(Outcome.FAILED, f"pods obtained answers from metadata credential paths: {listed}")
    connects = [o for o in observations if o.kind == "connect"]
    probed = [o for o in connects if o.details.get("exit_code") is not None] + [
        o for o in answers if o.answered or o.error
    ]
    timeouts_count = bool(heard_doors(controls))
    looked = [o for o in probed if timeouts_count or not _timed_out(o)]
    if not looked:
        if probed:
            return Finding(
                Outcome.INCONCLUSIVE,
                "every probe of the metadata endpoint timed out, and the control pod heard no control-plane "
                f"door answer within the probe timeout either ({describe_controls(controls)})",
            )
        return Finding(Outcome.INCONCLUSIVE, "no pod could probe the metadata endpoint")
    reached = [o for o in connects if o.details.get("connected")]
    how = f"reachable ({_listed(reached)}) but" if reached else "unreachable from pods:"
    vantages = sorted({o.vantage for o in looked})
    return Finding(
        Outcome.PASSED,
        f"cloud metadata endpoint {how} no credential path answered, from {', '.join(vantages)}",
    )
