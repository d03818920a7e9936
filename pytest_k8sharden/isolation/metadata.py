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
from pytest_k8sharden.isolation.workloads import Door, answered
from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.probes.matrix import ConnectResult, Expectation, Plan, Source, Target
from pytest_k8sharden.probes.pods import ProbePod
from pytest_k8sharden.vantage import AttackerPod
from pytest_k8sharden.worstof import Judged, fold, named

METADATA_HOST: Final = "169.254.169.254"
METADATA_PORT: Final = 80
AWS_TOKEN_HEADER: Final = "X-aws-ec2-metadata-token"
AWS_CREDENTIALS_PATH: Final = "/latest/meta-data/iam/security-credentials/"


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


def _named(o: Observation) -> str:
    if isinstance(o, HttpObservation):
        return f"{o.details.get('method', 'GET')} {o.target} from {o.vantage} ({o.status or o.error})"
    return o.summary


def _timed_out(observation: Observation) -> bool:
    """No answer within the probe timeout (from an HTTP request or an agnhost connect)."""
    if isinstance(observation, HttpObservation):
        return observation.failure is Failure.TIMEOUT
    return "TIMEOUT" in str(observation.details.get("output", ""))


@final
@dataclass(frozen=True)
class Control:
    """Whether a vantage pod's timeouts towards the metadata endpoint may count as blocked, and why."""

    vantage: str
    """The pod, as observations name it (``pod:ns/name``)."""
    proven: bool
    """A control reached the equivalent door on the metadata endpoint's host at the same time."""
    why: str


def node_door(pod: ProbePod, doors: Sequence[Door]) -> Door | None:
    """The kubelet door of the node `pod` runs on: the metadata endpoint answers on that node's link, so
    its kubelet is the equivalent door a control must reach for a timeout to mean something."""
    return next((d for d in doors if d.what == "kubelet" and d.host == pod.host_ip), None)


def control_plan(vantages: Sequence[ProbePod], control: ProbePod, doors: Sequence[Door]) -> Plan:
    """Each vantage knocks on its own node's kubelet; the control pod knocks on every one of those."""
    plan: dict[Source, list[Target]] = {}
    for pod in vantages:
        door = node_door(pod, doors)
        if door is not None:
            target = Target(door.key, door.host, door.port)
            for source in dict.fromkeys((Source.of(pod), Source.of(control))):
                plan.setdefault(source, [])
                if target not in plan[source]:
                    plan[source].append(target)
    return plan


def control_expectation(control: ProbePod, forbidden: Mapping[tuple[str, str], bool]) -> Expectation:
    """For probe_until_expected: a knock that heard nothing is knocked again only where `controls` reads
    its answer: the control pod's, and a vantage's own where its policies do not deny it the door (where
    they do, the control pod's knock on the same door stands in, and the denied knock would only time out
    again)."""
    key = Source.of(control).key
    return lambda r: answered(r) if r.source == key or not forbidden.get((r.source, r.destination)) else None


def controls(
    vantages: Sequence[ProbePod],
    control: ProbePod,
    doors: Sequence[Door],
    knocks: Sequence[ConnectResult],
    forbidden: Mapping[tuple[str, str], bool],
) -> dict[str, Control]:
    """For each vantage: did a control reach its node's kubelet at the same time?

    Its own knock, answered, proves it. Where its own policies deny it that door (`forbidden`, keyed by
    source key and door key), the control pod's knock on the same door stands in.
    """
    heard = {(k.source, k.destination): k for k in knocks}
    found = {}
    for pod in vantages:
        door = node_door(pod, doors)
        if door is None:
            found[pod.vantage] = Control(
                pod.vantage, False, f"no kubelet door on its node ({pod.host_ip or '?'})"
            )
            continue
        own = heard.get((Source.of(pod).key, door.key))
        stand_in = heard.get((Source.of(control).key, door.key))
        if own is not None and answered(own):
            found[pod.vantage] = Control(pod.vantage, True, f"its own knock on {door.key}: {own.outcome}")
        elif forbidden.get((Source.of(pod).key, door.key)) and stand_in is not None and answered(stand_in):
            why = f"its policy denies it {door.key}, which {stand_in.source} reached ({stand_in.outcome})"
            found[pod.vantage] = Control(pod.vantage, True, why)
        else:
            seen = own.outcome if own is not None else "not knocked"
            found[pod.vantage] = Control(pod.vantage, False, f"its own knock on {door.key}: {seen}")
    return found


def metadata_finding(observations: Sequence[Observation], proven: Mapping[str, Control]) -> Finding:
    """Failed if any credential path answered 2xx from any pod; each other probe answers for itself.

    A refusal, an error status or a network error passes that probe; a timeout passes it only when a
    control reached the equivalent door from that pod's vantage at the same time (`proven`); otherwise,
    and for a probe that could not run, the check is inconclusive, naming the probe and why.
    """

    def judge(o: Observation) -> Judged:
        if isinstance(o, HttpObservation) and gave_credentials(o):
            return Judged(_named(o), Outcome.FAILED, o.vantage)
        if _timed_out(o):
            control = proven.get(o.vantage)
            if control is not None and control.proven:
                return Judged(_named(o), Outcome.PASSED, o.vantage)
            why = control.why if control is not None else "no control"
            return Judged(f"{_named(o)}, not judged: {why}", Outcome.INCONCLUSIVE, o.vantage)
        if isinstance(o, HttpObservation):
            looked = o.answered or bool(o.error)
        else:
            looked = o.details.get("exit_code") is not None
        return Judged(_named(o), Outcome.PASSED if looked else Outcome.INCONCLUSIVE, o.vantage)

    reached = [_named(o) for o in observations if o.kind == "connect" and o.details.get("connected")]
    how = f"reachable ({named(reached)}) but" if reached else "unreachable from pods:"
    return fold(
        [judge(o) for o in observations],
        failed="pods obtained answers from metadata credential paths",
        inconclusive="not every probe of the metadata endpoint can be judged",
        passed=f"cloud metadata endpoint {how} no credential path answered",
        nothing="no pod could probe the metadata endpoint",
        noun="probe",
    )
