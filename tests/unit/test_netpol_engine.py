"""Every NetworkPolicy v1 rule as a table: policies, flows, and whether each flow is allowed."""

from __future__ import annotations

import pytest
import yaml

from pytest_k8sharden.netpol import (
    ContainerPort,
    Endpoint,
    ExternalIP,
    Namespace,
    Pod,
    PolicyEngine,
    RuleRef,
    parse_network_policy,
)

WEB = Namespace("web", {"team": "blue", "env": "prod"})
DB = Namespace("db", {"team": "red", "env": "prod"})
DEV = Namespace("dev", {"env": "dev"})
HTTP_8080 = ContainerPort(8080, "TCP", "http")
ENDPOINTS: dict[str, Endpoint] = {
    e.key: e
    for e in (
        Pod(WEB, "front", "10.1.0.10", {"app": "front"}, (HTTP_8080, ContainerPort(9090, "TCP", "metrics"))),
        Pod(WEB, "back", "10.1.0.11", {"app": "back", "role": "api"}, (ContainerPort(8081, name="http"),)),
        Pod(WEB, "dns", "10.1.0.12", {"app": "dns"}, (ContainerPort(53, "UDP", "dns"),)),
        Pod(DB, "pg", "10.2.0.5", {"app": "pg"}, (ContainerPort(5432, name="postgres"),)),
        Pod(DB, "back", "10.2.0.6", {"app": "back"}, (HTTP_8080,)),  # web/back's labels, other namespace
        Pod(DEV, "tool", "10.3.0.7", {"app": "tool", "debug": "true"}),
        Pod(DEV, "v6", "fd00::7", {"app": "v6"}, (ContainerPort(80, name="http"),)),
        ExternalIP("203.0.113.9"),
        ExternalIP("203.0.113.10"),
        ExternalIP("2001:db8::9"),
    )
}


def policy(namespace: str, name: str, spec: str) -> str:
    return f"{{metadata: {{name: {name}, namespace: {namespace}}}, spec: {spec}}}"


def stream(*documents: str) -> str:
    return "\n---\n".join(documents)


DENY_WEB_INGRESS = policy("web", "deny", "{podSelector: {}}")
WEB_FROM_DEV = policy(
    "web", "dev", "{podSelector: {}, ingress: [{from: [{namespaceSelector: {matchLabels: {env: dev}}}]}]}"
)


def web_ingress_from(peers: str, ports: str = "[]") -> str:
    """Deny-all ingress in web plus one rule letting `peers` in on `ports`."""
    allow = policy("web", "allow", f"{{podSelector: {{}}, ingress: [{{from: {peers}, ports: {ports}}}]}}")
    return stream(DENY_WEB_INGRESS, allow)


def dev_egress(rules: str) -> str:
    return policy("dev", "egress", f"{{podSelector: {{}}, policyTypes: [Egress], egress: {rules}}}")


CASES = {
    "no-policy-allows-everything": (
        "",
        {"dev/tool -> web/front 8080/TCP": True, "203.0.113.9 -> db/pg 1/UDP": True},
    ),
    "empty-pod-selector-isolates-whole-namespace": (
        DENY_WEB_INGRESS,
        {
            "dev/tool -> web/front 8080/TCP": False,
            "web/back -> web/front 8080/TCP": False,
            "203.0.113.9 -> web/front 8080/TCP": False,
            "web/front -> db/pg 5432/TCP": True,  # egress is not isolated
            "dev/tool -> db/pg 5432/TCP": True,
        },
    ),
    "pod-selector-isolates-only-matching-pods": (
        policy("web", "front", "{podSelector: {matchLabels: {app: front}}, ingress: []}"),
        {"dev/tool -> web/front 8080/TCP": False, "dev/tool -> web/back 8081/TCP": True},
    ),
    "policy-selects-only-in-its-own-namespace": (
        policy("db", "back", "{podSelector: {matchLabels: {app: back}}, policyTypes: [Ingress]}"),
        {"dev/tool -> db/back 8080/TCP": False, "dev/tool -> web/back 8081/TCP": True},
    ),
    "one-empty-ingress-rule-allows-all": (
        policy("web", "all", "{podSelector: {}, ingress: [{}]}"),
        {"203.0.113.9 -> web/front 1/TCP": True, "db/pg -> web/dns 53/UDP": True},
    ),
    "empty-from-list-means-all-sources": (
        web_ingress_from("[]", "[{port: 8080}]"),
        {"203.0.113.9 -> web/front 8080/TCP": True, "dev/tool -> web/front 9090/TCP": False},
    ),
    "pod-selector-alone-means-policy-namespace": (
        web_ingress_from("[{podSelector: {matchLabels: {app: back}}}]"),
        {"web/back -> web/front 8080/TCP": True, "db/back -> web/front 8080/TCP": False},
    ),
    "empty-namespace-selector-means-all-pods-not-external": (
        web_ingress_from("[{namespaceSelector: {}}]"),
        {
            "db/back -> web/front 8080/TCP": True,
            "dev/v6 -> web/front 8080/TCP": True,
            "203.0.113.9 -> web/front 8080/TCP": False,
        },
    ),
    "namespace-selector-by-label": (
        web_ingress_from("[{namespaceSelector: {matchLabels: {team: red}}}]"),
        {
            "db/pg -> web/front 8080/TCP": True,
            "web/back -> web/front 8080/TCP": False,
            "dev/tool -> web/front 8080/TCP": False,
        },
    ),
    "namespace-name-label-is-implicit": (
        web_ingress_from("[{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: dev}}}]"),
        {"dev/tool -> web/front 8080/TCP": True, "db/pg -> web/front 8080/TCP": False},
    ),
    "namespace-and-pod-selector-in-one-peer-is-and": (
        web_ingress_from(
            "[{namespaceSelector: {matchLabels: {team: red}}, podSelector: {matchLabels: {app: back}}}]"
        ),
        {
            "db/back -> web/front 8080/TCP": True,
            "web/back -> web/front 8080/TCP": False,
            "db/pg -> web/front 8080/TCP": False,
        },
    ),
    "namespace-and-pod-selector-in-two-peers-is-or": (
        web_ingress_from(
            "[{namespaceSelector: {matchLabels: {team: red}}}, {podSelector: {matchLabels: {app: back}}}]"
        ),
        {
            "db/back -> web/front 8080/TCP": True,
            "web/back -> web/front 8080/TCP": True,
            "db/pg -> web/front 8080/TCP": True,
            "dev/tool -> web/front 8080/TCP": False,
            "web/dns -> web/front 8080/TCP": False,
        },
    ),
    "match-expressions-in-notin-exists-doesnotexist": (
        web_ingress_from(
            "[{namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]},"
            " podSelector: {matchExpressions: [{key: debug, operator: DoesNotExist},"
            " {key: app, operator: In, values: [pg, back, tool]}]}},"
            " {namespaceSelector: {}, podSelector: {matchExpressions: [{key: debug, operator: Exists}]}}]"
        ),
        {
            "db/pg -> web/front 8080/TCP": True,
            "web/back -> web/front 8080/TCP": True,
            "web/dns -> web/front 8080/TCP": False,  # app not In
            "dev/tool -> web/front 8080/TCP": True,  # second peer: debug Exists
            "dev/v6 -> web/front 8080/TCP": False,  # env NotIn [dev] fails
        },
    ),
    "ip-block-with-except-for-external-sources": (
        web_ingress_from("[{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.9/32]}}]"),
        {"203.0.113.10 -> web/front 8080/TCP": True, "203.0.113.9 -> web/front 8080/TCP": False},
    ),
    "ip-block-matches-pod-ips": (
        web_ingress_from("[{ipBlock: {cidr: 10.2.0.0/16}}]"),
        {
            "db/pg -> web/front 8080/TCP": True,
            "db/back -> web/front 8080/TCP": True,
            "dev/tool -> web/front 1/TCP": False,
        },
    ),
    "ip-block-ipv6-and-family-mismatch": (
        web_ingress_from("[{ipBlock: {cidr: '2001:db8::/32'}}, {ipBlock: {cidr: 0.0.0.0/0}}]"),
        {
            "2001:db8::9 -> web/front 8080/TCP": True,
            "203.0.113.9 -> web/front 8080/TCP": True,
            "dev/v6 -> web/front 8080/TCP": False,  # fd00::7 is in neither block
        },
    ),
    "numeric-port-defaults-to-tcp": (
        web_ingress_from("[{namespaceSelector: {}}]", "[{port: 8080}]"),
        {
            "dev/tool -> web/front 8080/TCP": True,
            "dev/tool -> web/front 8080/UDP": False,
            "dev/tool -> web/front 9090/TCP": False,
        },
    ),
    "protocol-without-port-means-every-port": (
        web_ingress_from("[]", "[{protocol: UDP}]"),
        {
            "dev/tool -> web/dns 53/UDP": True,
            "dev/tool -> web/dns 5353/UDP": True,
            "dev/tool -> web/dns 53/TCP": False,
        },
    ),
    "sctp-rule-never-allows-tcp": (
        web_ingress_from("[]", "[{port: 8080, protocol: SCTP}]"),
        {"dev/tool -> web/front 8080/SCTP": True, "dev/tool -> web/front 8080/TCP": False},
    ),
    "named-ingress-port-resolves-per-destination-pod": (
        web_ingress_from("[]", "[{port: http}]"),
        {
            "dev/tool -> web/front 8080/TCP": True,
            "dev/tool -> web/front 8081/TCP": False,
            "dev/tool -> web/back 8081/TCP": True,
            "dev/tool -> web/back 8080/TCP": False,
            "dev/tool -> web/dns 53/UDP": False,  # no port called http
        },
    ),
    "named-port-needs-the-same-protocol": (
        web_ingress_from("[]", "[{port: dns}, {port: metrics, protocol: UDP}]"),
        {"dev/tool -> web/dns 53/UDP": False, "dev/tool -> web/front 9090/UDP": False},
    ),
    "named-port-with-its-protocol": (
        web_ingress_from("[]", "[{port: dns, protocol: UDP}]"),
        {"dev/tool -> web/dns 53/UDP": True, "dev/tool -> web/dns 53/TCP": False},
    ),
    "end-port-range-is-inclusive": (
        web_ingress_from("[]", "[{port: 8000, endPort: 8080}]"),
        {
            "dev/tool -> web/front 7999/TCP": False,
            "dev/tool -> web/front 8000/TCP": True,
            "dev/tool -> web/front 8080/TCP": True,
            "dev/tool -> web/front 8081/TCP": False,
        },
    ),
    "egress-deny": (
        dev_egress("[]"),
        {
            "dev/tool -> web/front 8080/TCP": False,
            "dev/tool -> 203.0.113.9 443/TCP": False,
            "web/front -> dev/tool 1/TCP": True,
        },
    ),
    "egress-named-port-resolves-at-destination": (
        dev_egress("[{ports: [{port: http}]}]"),
        {
            "dev/tool -> web/front 8080/TCP": True,
            "dev/tool -> web/back 8081/TCP": True,
            "dev/tool -> web/front 8081/TCP": False,
            "dev/tool -> 203.0.113.9 8080/TCP": False,  # a name never matches an external address
        },
    ),
    "egress-to-external-by-ip-block": (
        dev_egress("[{to: [{ipBlock: {cidr: 203.0.113.0/24}}]}]"),
        {
            "dev/tool -> 203.0.113.9 443/TCP": True,
            "dev/tool -> 2001:db8::9 443/TCP": False,
            "dev/tool -> web/front 8080/TCP": False,
        },
    ),
    "egress-and-ingress-both-required": (
        stream(dev_egress("[{to: [{namespaceSelector: {matchLabels: {team: blue}}}]}]"), DENY_WEB_INGRESS),
        {
            "dev/tool -> web/front 8080/TCP": False,
            "dev/tool -> db/pg 5432/TCP": False,
            "db/pg -> web/front 8080/TCP": False,
        },
    ),
    "ingress-allowed-but-egress-denied": (
        stream(dev_egress("[]"), WEB_FROM_DEV),
        {"dev/tool -> web/front 8080/TCP": False, "db/pg -> web/front 8080/TCP": False},
    ),
    "egress-policies-do-not-govern-external-sources": (
        dev_egress("[]"),
        {"203.0.113.9 -> dev/tool 22/TCP": True},
    ),
    "policy-types-egress-only-leaves-ingress-open": (
        policy("web", "eg", "{podSelector: {}, policyTypes: [Egress]}"),
        {"dev/tool -> web/front 8080/TCP": True, "web/front -> dev/tool 1/TCP": False},
    ),
    "egress-rules-without-policy-types-isolate-ingress-too": (
        policy("web", "eg", "{podSelector: {}, egress: [{}]}"),
        {"web/front -> dev/tool 1/TCP": True, "dev/tool -> web/front 8080/TCP": False},
    ),
    "policies-are-additive": (
        stream(DENY_WEB_INGRESS, WEB_FROM_DEV),
        {"dev/tool -> web/front 8080/TCP": True, "db/pg -> web/front 8080/TCP": False},
    ),
    "ports-belong-to-their-own-rule": (
        policy(
            "web",
            "two",
            "{podSelector: {}, ingress: ["
            "{from: [{namespaceSelector: {matchLabels: {env: dev}}}], ports: [{port: 8080}]},"
            " {from: [{namespaceSelector: {matchLabels: {team: red}}}], ports: [{port: 9090}]}]}",
        ),
        {
            "dev/tool -> web/front 8080/TCP": True,
            "dev/tool -> web/front 9090/TCP": False,
            "db/pg -> web/front 9090/TCP": True,
            "db/pg -> web/front 8080/TCP": False,
        },
    ),
}


def engine_of(policies: str) -> PolicyEngine:
    return PolicyEngine.of(parse_network_policy(doc) for doc in yaml.safe_load_all(policies) if doc)


def decide(engine: PolicyEngine, flow: str) -> bool:
    """Decide a flow written ``src -> dst port/PROTO``."""
    src, _, dst, target = flow.split()
    port, protocol = target.split("/")
    return engine.allowed(ENDPOINTS[src], ENDPOINTS[dst], int(port), protocol).allowed


@pytest.mark.parametrize(("policies", "flows"), CASES.values(), ids=CASES.keys())
def test_rule(policies: str, flows: dict[str, bool]) -> None:
    engine = engine_of(policies)
    assert {flow: decide(engine, flow) for flow in flows} == flows


def test_verdict_names_isolating_policies_and_allowing_rule() -> None:
    engine = engine_of(CASES["policies-are-additive"][0])
    verdict = engine.allowed(ENDPOINTS["dev/tool"], ENDPOINTS["web/front"], 8080)
    assert verdict
    assert (verdict.ingress.selected_by, verdict.ingress.allowed_by) == (
        ("web/deny", "web/dev"),
        (RuleRef("web/dev", "Ingress", 0),),
    )
    assert (verdict.egress.subject, verdict.egress.isolated) == ("dev/tool", False)
    assert verdict.reason == (
        "dev/tool -> web/front 8080/TCP allowed: egress: dev/tool is selected by no Egress policy; "
        "ingress: web/front isolated by web/deny, web/dev; allowed by web/dev ingress[0]"
    )


def test_verdict_for_blocked_flow_from_outside() -> None:
    verdict = engine_of(DENY_WEB_INGRESS).allowed(ENDPOINTS["203.0.113.9"], ENDPOINTS["web/front"], 443)
    assert not verdict
    assert verdict.reason == (
        "203.0.113.9 -> web/front 443/TCP blocked: egress: source is not a pod, no policy applies; "
        "ingress: web/front isolated by web/deny; no rule allows it"
    )


@pytest.mark.parametrize(
    ("port", "protocol", "error"),
    [(0, "TCP", "port must be"), (65536, "TCP", "port must be"), (80, "tcp", "protocol must be one of")],
)
def test_rejects_impossible_traffic(port: int, protocol: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        PolicyEngine(()).allowed(ENDPOINTS["dev/tool"], ENDPOINTS["web/front"], port, protocol)
