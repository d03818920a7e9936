"""Verdict logic of the exposure suite on recorded observations (no cluster)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pytest_k8sharden import exposure
from pytest_k8sharden.evidence.verdict import Finding, Outcome
from pytest_k8sharden.exposure import Answer
from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.probes.http import HttpObservation

API = "https://10.0.0.1:6443"


TEXT = {
    Failure.REFUSED: "connection refused",
    Failure.TIMEOUT: "timed out",
    Failure.UNREACHABLE: "network is unreachable",
    Failure.RESET: "RemoteDisconnected: Remote end closed connection without response",
    Failure.TLS_ALERT: "TLS failure: TLSV13_ALERT_CERTIFICATE_REQUIRED",
    Failure.NOT_TLS: "TLS failure: WRONG_VERSION_NUMBER",
}
"""What HttpProbe writes for each kind of failure used here (tests/unit/test_failures.py shows from what)."""


def seen(
    url: str, status: int | None = None, failure: Failure | None = None, vantage: str = "runner"
) -> HttpObservation:
    """A recorded answer, as HttpProbe would have produced it."""
    error = TEXT[failure] if failure else None
    return HttpObservation(
        kind="http", summary=url, vantage=vantage, target=url, status=status, error=error, failure=failure
    )


@pytest.mark.parametrize(
    ("observation", "answer"),
    [
        (seen(API, 401), Answer.UNAUTHENTICATED),
        (seen(API, 403), Answer.FORBIDDEN),
        (seen(API, 200), Answer.SERVED),
        (seen(API, 404), Answer.SERVED),
        (seen(API, failure=Failure.REFUSED), Answer.CLOSED),
        (seen(API, failure=Failure.TLS_ALERT), Answer.TLS_REFUSED),
        (seen(API, failure=Failure.NOT_TLS), Answer.NOT_TLS),
        (
            seen(API, failure=Failure.RESET),
            Answer.DROPPED,
        ),
        (seen(API, failure=Failure.TIMEOUT), Answer.UNREACHABLE),
        (seen(API, failure=Failure.UNREACHABLE), Answer.UNREACHABLE),
    ],
)
def test_classify(observation: HttpObservation, answer: Answer) -> None:
    assert exposure.classify(observation) is answer


def test_a_403_to_an_anonymous_kubelet_client_is_a_refusal_not_a_finding() -> None:
    """Regression for kube-hunter #548, which reported a kubelet 403 as anonymous access."""
    finding = exposure.must_refuse([seen("https://10.0.0.2:10250/pods", 403)], "the kubelet")
    assert finding.outcome is Outcome.PASSED


def test_must_refuse_fails_on_any_served_request_and_names_the_door() -> None:
    finding = exposure.must_refuse(
        [seen("https://n:10250/pods", 401), seen("https://n:10250/configz", 200, vantage="pod:x/attacker")],
        "the kubelet",
    )
    assert finding.outcome is Outcome.FAILED
    assert "https://n:10250/configz from pod:x/attacker (200)" in finding.message


def test_must_refuse_is_inconclusive_when_nothing_could_be_reached() -> None:
    finding = exposure.must_refuse(
        [
            seen("https://n:10250/pods", failure=Failure.TIMEOUT),
            seen("https://n:10250/pods", failure=Failure.REFUSED),
        ],
        "the kubelet",
    )
    assert finding.outcome is Outcome.INCONCLUSIVE


def test_closed_counts_as_refusal_only_where_asked() -> None:
    closed = [seen("https://cp:10257/metrics", failure=Failure.REFUSED)]
    assert exposure.must_refuse(closed, "kcm", closed_is_refusal=True).outcome is Outcome.PASSED
    assert exposure.must_refuse(closed, "kcm").outcome is Outcome.INCONCLUSIVE


def test_must_be_closed_needs_a_refused_connection_to_pass() -> None:
    assert exposure.must_be_closed([seen("http://n:10255/pods", failure=Failure.REFUSED)], "ro").outcome is (
        Outcome.PASSED
    )
    assert exposure.must_be_closed([seen("http://n:10255/pods", failure=Failure.TIMEOUT)], "ro").outcome is (
        Outcome.INCONCLUSIVE
    )
    assert exposure.must_be_closed([seen("http://n:10255/pods", 200)], "ro").outcome is Outcome.FAILED


def test_anonymous_authentication_is_enabled_when_a_resource_path_answers_403() -> None:
    observations = [seen(f"{API}/version", 200), seen(f"{API}/api/v1/pods", 403), seen(f"{API}/api", 401)]
    finding = exposure.anonymous_authentication(observations)
    assert finding.outcome is Outcome.FAILED
    assert "/api/v1/pods" in finding.message


def test_anonymous_authentication_disabled_when_all_resource_paths_answer_401() -> None:
    observations = [seen(f"{API}{path}", 401) for path in exposure.API_RESOURCE_PATHS]
    assert exposure.anonymous_authentication(observations).outcome is Outcome.PASSED


def test_anonymous_reads_allow_health_and_version_but_not_data() -> None:
    healthy = [seen(f"{API}/healthz", 200), seen(f"{API}/version", 200), seen(f"{API}/api/v1/secrets", 403)]
    assert exposure.anonymous_reads(healthy).outcome is Outcome.PASSED
    leaking = [*healthy, seen(f"{API}/api/v1/namespaces", 200)]
    assert exposure.anonymous_reads(leaking).outcome is Outcome.FAILED
    assert exposure.anonymous_reads(leaking, ("/healthz", "/version", "/api/v1/namespaces")).outcome is (
        Outcome.PASSED
    )


def test_etcd_needs_a_certificate_refusal_over_tls() -> None:
    plaintext = [seen("http://cp:2379/version", failure=Failure.RESET)]
    tls = [seen("https://cp:2379/version", failure=Failure.TLS_ALERT)]
    assert exposure.tls_client_certificate_required(plaintext, tls, "etcd").outcome is Outcome.PASSED
    open_plaintext = [seen("http://cp:2379/version", 200)]
    not_tls = [seen("https://cp:2379/version", failure=Failure.NOT_TLS)]
    assert exposure.tls_client_certificate_required(open_plaintext, not_tls, "etcd").outcome is Outcome.FAILED
    tls_without_auth = [seen("https://cp:2379/version", 200)]
    assert exposure.tls_client_certificate_required([], tls_without_auth, "etcd").outcome is Outcome.FAILED
    unreachable = [seen("https://cp:2379/version", failure=Failure.TIMEOUT)]
    assert exposure.tls_client_certificate_required([], unreachable, "etcd").outcome is Outcome.INCONCLUSIVE


def test_plaintext_refused_accepts_error_statuses_and_dropped_connections() -> None:
    looked = [
        seen("http://cp:6443/api", 400),
        seen("http://cp:2379/version", failure=Failure.RESET),
    ]
    assert exposure.plaintext_refused(looked, "api").outcome is Outcome.PASSED
    assert exposure.plaintext_refused([seen("http://cp:8080/api", 200)], "api").outcome is Outcome.FAILED
    assert exposure.plaintext_refused(
        [seen("http://cp:8080/api", failure=Failure.TIMEOUT)], "api"
    ).outcome is (Outcome.INCONCLUSIVE)


def test_control_plane_addresses_leave_out_the_kubernetes_service_address() -> None:
    """In a pod the API server's URL names the Service's virtual IP: its endpoints stand for it."""
    addresses = exposure.control_plane_addresses(
        "https://10.96.0.1:443", ["198.18.2.1"], ["198.18.2.2"], ["10.96.0.1"]
    )
    assert addresses == ["198.18.2.1", "198.18.2.2"]


def test_control_plane_addresses_keep_ips_once_in_order() -> None:
    addresses = exposure.control_plane_addresses(
        "https://api.example.com:6443", ["10.0.0.1", "10.0.0.2"], ["10.0.0.2", "not-an-ip"]
    )
    assert addresses == ["10.0.0.1", "10.0.0.2"]
    assert exposure.control_plane_addresses("https://192.0.2.7:6443", [], []) == ["192.0.2.7"]


POD = "pod:k8sh/attacker"
KUBELET = "https://10.0.0.2:10250/pods"
TIMED_OUT_FROM_POD = seen(KUBELET, failure=Failure.TIMEOUT, vantage=POD)


@pytest.mark.parametrize(
    ("judge", "answered_door"),
    [
        (lambda o: exposure.must_refuse(o, "the kubelet"), seen(KUBELET, 401)),
        (
            lambda o: exposure.must_refuse(o, "kcm", closed_is_refusal=True),
            seen(KUBELET, failure=Failure.REFUSED),
        ),
        (lambda o: exposure.must_be_closed(o, "ro"), seen(KUBELET, failure=Failure.REFUSED)),
        (lambda o: exposure.plaintext_refused(o, "api"), seen(KUBELET, 400)),
        (lambda o: exposure.anonymous_authentication(o), seen(f"{API}/api", 401)),
        (lambda o: exposure.anonymous_reads(o), seen(f"{API}/api", 403)),
        (
            lambda o: exposure.tls_client_certificate_required([], o, "etcd"),
            seen(KUBELET, failure=Failure.TLS_ALERT),
        ),
    ],
    ids=[
        "must_refuse",
        "must_refuse-closed",
        "must_be_closed",
        "plaintext",
        "anon-auth",
        "anon-read",
        "etcd-cert",
    ],
)
def test_one_good_door_does_not_pass_for_a_door_that_did_not_answer(
    judge: Callable[[list[HttpObservation]], Finding], answered_door: HttpObservation
) -> None:
    """Issue 16 item 2: the runner's refusal passed the whole check although the pod vantage timed out."""
    unanswered = seen(answered_door.target, failure=Failure.TIMEOUT, vantage=POD)
    finding = judge([answered_door, unanswered])
    assert finding.outcome is Outcome.INCONCLUSIVE, finding.message
    assert f"{answered_door.target} from {POD} (timed out)" in finding.message
    assert "1 of 2 doors" in finding.message
    alone = judge([answered_door])
    assert alone.outcome is Outcome.PASSED
    assert "1 door, from runner (1)" in alone.message, alone.message


def test_a_pass_says_how_many_doors_were_examined_and_from_where() -> None:
    observations = [
        seen(KUBELET, 401),
        seen(KUBELET, 403, vantage=POD),
        seen(f"{KUBELET}x", 401, vantage=POD),
    ]
    finding = exposure.must_refuse(observations, "the kubelet")
    assert finding.outcome is Outcome.PASSED
    assert "3 doors, from runner (1) and pod:k8sh/attacker (2)" in finding.message
    assert exposure.must_refuse([], "the kubelet").outcome is Outcome.INCONCLUSIVE


HEALTH_ONLY = [
    *(seen(f"{API}{path}", 200) for path in ("/livez", "/readyz", "/healthz")),
    *(seen(f"{API}{path}", 401) for path in ("/version", *exposure.API_RESOURCE_PATHS)),
]
"""What an API server answers anonymous clients where an AuthenticationConfiguration lets them in on
the health paths only."""


def test_anonymous_health_only_passes_health_answers_and_401_everywhere_else() -> None:
    finding = exposure.anonymous_health_only(HEALTH_ONLY)
    assert finding.outcome is Outcome.PASSED, finding.message
    assert finding.message.startswith("anonymous health checks answered on /healthz, /livez, /readyz; ")
    assert "every path but /livez, /readyz, /healthz answered 401" in finding.message
    assert "10 doors, from runner (10)" in finding.message


def test_anonymous_health_only_passes_where_anonymous_authentication_is_off_altogether() -> None:
    finding = exposure.anonymous_health_only([seen(o.target, 401) for o in HEALTH_ONLY])
    assert finding.outcome is Outcome.PASSED
    assert "the health paths refuse anonymous clients too" in finding.message


@pytest.mark.parametrize(("path", "status"), [("/version", 200), ("/api", 403), ("/api/v1/pods", 200)])
def test_anonymous_health_only_fails_on_any_other_path_that_does_not_answer_401(
    path: str, status: int
) -> None:
    observations = [o for o in HEALTH_ONLY if not o.target.endswith(path)] + [seen(f"{API}{path}", status)]
    finding = exposure.anonymous_health_only(observations)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == (
        "anonymous clients are authenticated beyond the health paths (no 401): "
        f"{API}{path} from runner ({status})"
    )


def test_anonymous_health_only_is_inconclusive_when_a_door_does_not_answer() -> None:
    finding = exposure.anonymous_health_only(
        [*HEALTH_ONLY, seen(f"{API}/api", failure=Failure.TIMEOUT, vantage=POD)]
    )
    assert finding.outcome is Outcome.INCONCLUSIVE
    assert f"{API}/api from {POD} (timed out)" in finding.message


FINE = "nodes/healthz"
RUN = f"{KUBELET.rsplit('/', 1)[0]}/run/ns/absent/c?cmd=id"


def test_fine_grained_grant_holds_when_only_the_granted_door_opens() -> None:
    finding = exposure.fine_grained_grant([seen(f"{KUBELET}/healthz", 200)], [seen(RUN, 403)], FINE)
    assert finding.outcome is Outcome.PASSED, finding.message
    assert "answered what nodes/healthz grants (1 door, from runner (1))" in finding.message
    assert "refused every request (1 door, from runner (1))" in finding.message


def test_fine_grained_grant_fails_where_the_kubelet_gives_more() -> None:
    """The insecure kubelet: AlwaysAllow (and the token unchecked) opens /run as well."""
    finding = exposure.fine_grained_grant([seen(f"{KUBELET}/healthz", 200)], [seen(RUN, 404)], FINE)
    assert finding.outcome is Outcome.FAILED
    assert finding.message == (
        f"the kubelet, to a ServiceAccount granted only nodes/healthz, served unauthorized requests: "
        f"{RUN} from runner (404)"
    )


def test_fine_grained_grant_fails_where_the_subresource_is_unknown_to_the_kubelet() -> None:
    finding = exposure.fine_grained_grant([seen(f"{KUBELET}/healthz", 403)], [seen(RUN, 403)], FINE)
    assert finding.outcome is Outcome.FAILED
    assert "refused what nodes/healthz grants (no fine-grained authorization" in finding.message


@pytest.mark.parametrize(
    "granted", [seen(f"{KUBELET}/healthz", 401), seen(f"{KUBELET}/healthz", failure=Failure.TIMEOUT)]
)
def test_fine_grained_grant_is_inconclusive_when_the_granted_door_could_not_be_judged(
    granted: HttpObservation,
) -> None:
    """401: the kubelet did not authenticate the token, so its authorization was never asked."""
    finding = exposure.fine_grained_grant([granted], [seen(RUN, 403)], FINE)
    assert finding.outcome is Outcome.INCONCLUSIVE, finding.message
    assert exposure.fine_grained_grant([], [], FINE).outcome is Outcome.INCONCLUSIVE
