"""What the doors of a cluster did when knocked on: pure verdict logic over recorded HTTP Observations.

A door is one listener (address:port and path) probed by one request. This module classifies what came
back and turns a set of observations into one verdict per check, so the suites stay short and the logic
is unit-tested on recorded observations (including kube-hunter #548: a 403 to an anonymous client is a
refusal, not a finding).
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Final
from urllib.parse import urlsplit

from pytest_k8sharden import tlspolicy
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.probes.handshake import CertificateFacts, TlsObservation
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.profiles import HEALTH_PATHS
from pytest_k8sharden.settings import DEFAULT_ANONYMOUS_ALLOWED_PATHS
from pytest_k8sharden.worstof import Judged, combine, fold, named

API_RESOURCE_PATHS: Final = (
    "/api",
    "/apis",
    "/api/v1/namespaces",
    "/api/v1/pods",
    "/api/v1/secrets",
    "/apis/rbac.authorization.k8s.io/v1/clusterroles",
)
API_PATHS: Final = ("/version", *HEALTH_PATHS, *API_RESOURCE_PATHS)
KUBELET_READ_PATHS: Final = ("/pods", "/runningpods/", "/configz", "/stats/summary")

REFUSAL_STATUSES: Final = frozenset({401, 403})


class Answer(StrEnum):
    """How a door answered one request."""

    UNAUTHENTICATED = "401"
    """Refused: who are you? (authentication required)."""
    FORBIDDEN = "403"
    """Refused: authenticated (maybe as anonymous) but not allowed."""
    SERVED = "served"
    """Answered without refusing: 2xx, or any status that shows authentication and authorization passed."""
    CLOSED = "closed"
    """Connection refused: nothing listens there."""
    TLS_REFUSED = "tls-refused"
    """A TLS listener refused the client in the handshake or the first read (e.g. no client certificate)."""
    NOT_TLS = "not-tls"
    """A TLS client reached a listener that does not speak TLS."""
    DROPPED = "dropped"
    """Something listened, took the connection and closed it without an HTTP answer (or reset it)."""
    UNREACHABLE = "unreachable"
    """No answer at all (timeout, no route): the door could not be looked at."""


_ANSWER_OF_FAILURE: Final = {
    Failure.REFUSED: Answer.CLOSED,
    Failure.NOT_TLS: Answer.NOT_TLS,
    Failure.TLS_ALERT: Answer.TLS_REFUSED,
    Failure.CERTIFICATE_NOT_TRUSTED: Answer.TLS_REFUSED,
    Failure.RESET: Answer.DROPPED,
}
"""How a door that sent no HTTP answer answered; any other failure leaves it unreachable."""


def classify(seen: HttpObservation) -> Answer:
    """How the door answered ``seen``."""
    if seen.status == 401:
        return Answer.UNAUTHENTICATED
    if seen.status == 403:
        return Answer.FORBIDDEN
    if seen.status is not None:
        return Answer.SERVED
    if seen.failure is None:
        return Answer.UNREACHABLE
    return _ANSWER_OF_FAILURE.get(seen.failure, Answer.UNREACHABLE)


def _served_data(seen: HttpObservation) -> bool:
    return seen.status is not None and 200 <= seen.status < 300


def _door(seen: HttpObservation) -> str:
    """A door as messages name it: where, from where, and what it answered."""
    return f"{seen.target} from {seen.vantage} ({seen.status or seen.error})"


def _doors(observations: Iterable[HttpObservation]) -> str:
    """The doors, named with vantage and answer (the first few; the evidence holds them all)."""
    return named([_door(o) for o in observations])


def _judged(seen: HttpObservation, outcome: Outcome) -> Judged:
    return Judged(_door(seen), outcome, seen.vantage)


def _fold(judged: Sequence[Judged], what: str, failed: str, passed: str) -> Finding:
    """Every door answers for itself: one served request fails, one door without an answer that counts
    makes the check inconclusive (named), a pass says how many doors were examined and from where."""
    return fold(
        judged,
        failed=f"{what} {failed}",
        inconclusive=f"{what} did not answer at every door; no usable answer from",
        passed=f"{what} {passed}",
        nothing=f"no door of {what} to knock on",
    )


def must_refuse(
    observations: Sequence[HttpObservation], what: str, closed_is_refusal: bool = False
) -> Finding:
    """Every request must be refused (401/403); a door that answered neither way makes it inconclusive.

    With ``closed_is_refusal`` a refused connection counts too: for a component that may listen on
    loopback only (CIS 1.3.7 / 1.4.2), not listening on a network address refuses everyone.
    """
    refusing = {Answer.UNAUTHENTICATED, Answer.FORBIDDEN} | ({Answer.CLOSED} if closed_is_refusal else set())

    def verdict(seen: HttpObservation) -> Outcome:
        answer = classify(seen)
        if answer is Answer.SERVED:
            return Outcome.FAILED
        return Outcome.PASSED if answer in refusing else Outcome.INCONCLUSIVE

    judged = [_judged(o, verdict(o)) for o in observations]
    return _fold(judged, what, "served unauthorized requests", "refused every request")


def must_be_closed(observations: Sequence[HttpObservation], what: str) -> Finding:
    """Nothing may answer over plain HTTP; a refused connection proves a door closed, a timeout does not."""

    def verdict(seen: HttpObservation) -> Outcome:
        if seen.answered:
            return Outcome.FAILED
        return Outcome.PASSED if classify(seen) is Answer.CLOSED else Outcome.INCONCLUSIVE

    judged = [_judged(o, verdict(o)) for o in observations]
    return _fold(judged, what, "answered", "is closed (connection refused)")


def anonymous_authentication(observations: Sequence[HttpObservation]) -> Finding:
    """Anonymous authentication is enabled when a resource path answers anything but 401.

    Each resource path from each vantage answers for itself: one without an answer makes it inconclusive.
    """

    def verdict(seen: HttpObservation) -> Outcome:
        if not seen.answered:
            return Outcome.INCONCLUSIVE
        return Outcome.PASSED if seen.status == 401 else Outcome.FAILED

    judged = [_judged(o, verdict(o)) for o in observations if _path(o) in API_RESOURCE_PATHS]
    return fold(
        judged,
        failed="anonymous authentication is enabled: resource paths answered without 401",
        inconclusive="not every resource path of the API server answered",
        passed="every resource path answered 401 to an anonymous client",
        nothing=f"no resource path of the API server was asked: {_doors(observations)}",
    )


def anonymous_health_only(
    observations: Sequence[HttpObservation], health_paths: Sequence[str] = HEALTH_PATHS
) -> Finding:
    """Anonymous requests authenticate on the health paths at most: every other path must answer 401.

    A health path passes with any answer (served: anonymous health checks work; 401: anonymous access is
    off altogether); any other path that answers anything but 401 authenticated an anonymous client.
    """

    def verdict(seen: HttpObservation) -> Outcome:
        if not seen.answered:
            return Outcome.INCONCLUSIVE
        return Outcome.PASSED if seen.status == 401 or _path(seen) in health_paths else Outcome.FAILED

    finding = fold(
        [_judged(o, verdict(o)) for o in observations],
        failed="anonymous clients are authenticated beyond the health paths (no 401)",
        inconclusive="not every door of the API server answered",
        passed=f"every path but {', '.join(health_paths)} answered 401 to an anonymous client",
        nothing="no door of the API server to knock on",
    )
    if finding.outcome is not Outcome.PASSED:
        return finding
    served = sorted(
        {_path(o) for o in observations if classify(o) is Answer.SERVED and _path(o) in health_paths}
    )
    health = (
        f"anonymous health checks answered on {', '.join(served)}"
        if served
        else ("the health paths refuse anonymous clients too (anonymous authentication is off)")
    )
    return Finding(Outcome.PASSED, f"{health}; {finding.message}")


def anonymous_reads(
    observations: Sequence[HttpObservation], allowed_paths: Sequence[str] = DEFAULT_ANONYMOUS_ALLOWED_PATHS
) -> Finding:
    """Anonymous clients can read cluster data when a path outside ``allowed_paths`` answers 2xx."""

    def verdict(seen: HttpObservation) -> Outcome:
        if not seen.answered:
            return Outcome.INCONCLUSIVE
        return Outcome.FAILED if _served_data(seen) and _path(seen) not in allowed_paths else Outcome.PASSED

    return fold(
        [_judged(o, verdict(o)) for o in observations],
        failed="anonymous clients read cluster data",
        inconclusive="not every door of the API server answered",
        passed=f"anonymous clients read nothing beyond {', '.join(allowed_paths)}",
        nothing="no door of the API server to knock on",
    )


def fine_grained_grant(
    granted: Sequence[HttpObservation], withheld: Sequence[HttpObservation], grant: str
) -> Finding:
    """A token granted only ``grant`` (a kubelet subresource such as nodes/healthz) must open the door that
    grant names (``granted``) and no other (``withheld``: exec, run, pods, configz).

    Served beyond the grant: the kubelet gives more (authorization not Webhook, or the grant opens more).
    Refused (403) on the granted door: the kubelet does not know the fine-grained subresource, so only
    nodes/proxy, which opens exec too, would let the holder in. A 401 there (the token not authenticated)
    or no answer: inconclusive.
    """

    def opens(seen: HttpObservation) -> Outcome:
        answer = classify(seen)
        if answer is Answer.SERVED:
            return Outcome.PASSED
        return Outcome.FAILED if answer is Answer.FORBIDDEN else Outcome.INCONCLUSIVE

    what = f"the kubelet, to a ServiceAccount granted only {grant},"
    return combine(
        [
            _fold(
                [_judged(o, opens(o)) for o in granted],
                what,
                f"refused what {grant} grants (no fine-grained authorization: only nodes/proxy would do)",
                f"answered what {grant} grants",
            ),
            must_refuse(withheld, what),
        ],
        f"no door of the kubelet to knock on with {grant}",
    )


def tls_client_certificate_required(
    plaintext: Sequence[HttpObservation], tls: Sequence[HttpObservation], what: str
) -> Finding:
    """Only TLS clients with a certificate may talk to ``what``: plaintext and bare TLS get nothing.

    Every TLS door must refuse the client in the handshake; a plaintext door fails only by serving data
    (whether it answers plaintext at all is the plaintext check's question).
    """

    def verdict(seen: HttpObservation) -> Outcome:
        if _served_data(seen):
            return Outcome.FAILED
        return Outcome.PASSED if classify(seen) is Answer.TLS_REFUSED else Outcome.INCONCLUSIVE

    judged = [_judged(o, verdict(o)) for o in tls] + [
        _judged(o, Outcome.FAILED) for o in plaintext if _served_data(o)
    ]
    return _fold(
        judged, what, "served a client without a certificate", "refused TLS clients without a certificate"
    )


def plaintext_refused(observations: Sequence[HttpObservation], what: str) -> Finding:
    """A plaintext HTTP request must get no data: a refused connection or an error status is fine."""

    def verdict(seen: HttpObservation) -> Outcome:
        if _served_data(seen):
            return Outcome.FAILED
        looked = seen.answered or classify(seen) in (Answer.CLOSED, Answer.DROPPED)
        return Outcome.PASSED if looked else Outcome.INCONCLUSIVE

    judged = [_judged(o, verdict(o)) for o in observations]
    return _fold(judged, what, "served plaintext HTTP", "served no plaintext request")


def control_plane_addresses(
    server_url: str,
    endpoint_addresses: Iterable[str],
    node_addresses: Iterable[str],
    service_addresses: Iterable[str] = (),
) -> list[str]:
    """Where control-plane components may listen: the API server's host and endpoints, control-plane nodes.

    The ``kubernetes`` Service's virtual addresses (``service_addresses``) are left out: a scanner in a pod
    reaches the API server through one, which forwards the Service's port alone, so every other door there
    would time out; the endpoints behind it are the API server's hosts.
    """
    candidates = [urlsplit(server_url).hostname or "", *endpoint_addresses, *node_addresses]
    virtual = set(service_addresses)
    addresses: list[str] = []
    for candidate in candidates:
        if _is_ip(candidate) and candidate not in addresses and candidate not in virtual:
            addresses.append(candidate)
    return addresses


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _path(seen: HttpObservation) -> str:
    return urlsplit(seen.target).path or "/"


EXPIRY_HORIZON_DAYS: Final = 30
"""A serving certificate that expires sooner is a finding: its rotation is already overdue."""


def tls_protocols(observations: Sequence[TlsObservation], what: str) -> Finding:
    """Every version older than the TLS policy's minimum (TLS 1.2) must be refused, and a newer accepted."""
    accepted = {o.version for o in observations if o.accepted and o.version}
    legacy = sorted(v for v in accepted if tlspolicy.legacy_protocol(v))
    if legacy:
        return Finding(Outcome.FAILED, f"{what} accepts {', '.join(legacy)}")
    if not accepted:
        errors = "; ".join(sorted({o.error or "" for o in observations}))
        return Finding(Outcome.INCONCLUSIVE, f"no TLS handshake with {what} succeeded: {errors}")
    return Finding(Outcome.PASSED, f"{what} refuses TLS 1.0/1.1 and accepts {', '.join(sorted(accepted))}")


def tls_cipher_suites(observations: Sequence[TlsObservation], what: str) -> Finding:
    """No suite the TLS policy calls weak may be accepted; the accepted list is reported either way."""
    accepted = sorted({o.cipher for o in observations if o.accepted and o.cipher})
    if not accepted:
        return Finding(Outcome.INCONCLUSIVE, f"no TLS 1.2 handshake with {what} succeeded")
    weak = tlspolicy.weak_suites(accepted)
    if weak:
        return Finding(
            Outcome.FAILED, f"{what} accepts weak suites: {', '.join(weak)} (of {len(accepted)} accepted)"
        )
    return Finding(Outcome.PASSED, f"{what} accepts only strong suites: {', '.join(accepted)}")


def weak_key_or_signature(facts: CertificateFacts) -> list[str]:
    """What the TLS policy finds weak about a certificate's key and signature."""
    return tlspolicy.key_problems(facts.key_type, facts.key_bits, facts.signature_hash)


def serving_certificate(
    facts: CertificateFacts | None, host: str, now: datetime.datetime, what: str
) -> Finding:
    """The serving certificate is within its validity window, strong, SHA-2 signed and names ``host``."""
    if facts is None:
        return Finding(Outcome.INCONCLUSIVE, f"could not read the serving certificate of {what}")
    problems = []
    if not facts.not_before <= now <= facts.not_after:
        problems.append(f"outside its validity window ({facts.not_before} to {facts.not_after})")
    elif facts.days_left(now) < EXPIRY_HORIZON_DAYS:
        problems.append(f"expires in {facts.days_left(now):.0f} days (< {EXPIRY_HORIZON_DAYS})")
    problems += weak_key_or_signature(facts)
    if not facts.names(host):
        problems.append(f"does not name {host} (SANs: {', '.join(facts.dns_names + facts.ip_addresses)})")
    if problems:
        return Finding(Outcome.FAILED, f"serving certificate of {what}: {'; '.join(problems)}")
    return Finding(
        Outcome.PASSED,
        f"serving certificate of {what}: {facts.key_type} {facts.key_bits}, {facts.signature_hash}, "
        f"valid until {facts.not_after:%Y-%m-%d}, names {host}",
    )
