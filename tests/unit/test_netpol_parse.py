"""Strict parsing of NetworkPolicy dicts: what each field becomes, defaults, and every rejection."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
import yaml

from pytest_k8sharden.netpol import (
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    PolicyParseError,
    PolicyPort,
    Requirement,
    Rule,
    parse_network_policy,
    parse_network_policy_list,
)

FULL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
  labels: {team: blue}
  resourceVersion: "42"
  uid: 0d1c
spec:
  podSelector:
    matchLabels: {app: web}
    matchExpressions: [{key: tier, operator: NotIn, values: [db, cache]}]
  policyTypes: [Ingress, Egress]
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchExpressions: [{key: role, operator: Exists}]}
    - ipBlock: {cidr: 192.0.2.0/24, except: [192.0.2.128/25]}
    ports:
    - port: http
    - {protocol: UDP, port: 53}
    - {port: 8000, endPort: 8100}
  egress:
  - to: [{ipBlock: {cidr: "2001:db8::/32"}}]
"""


def test_parses_every_field() -> None:
    policy = parse_network_policy(yaml.safe_load(FULL))
    assert policy == NetworkPolicy(
        namespace="shop",
        name="web",
        pod_selector=LabelSelector({"app": "web"}, (Requirement("tier", "NotIn", ("db", "cache")),)),
        ingress=(
            Rule(
                peers=(
                    Peer(
                        pod_selector=LabelSelector({}, (Requirement("role", "Exists"),)),
                        namespace_selector=LabelSelector({"env": "prod"}),
                    ),
                    Peer(
                        ip_block=IPBlock(
                            ipaddress.ip_network("192.0.2.0/24"), (ipaddress.ip_network("192.0.2.128/25"),)
                        )
                    ),
                ),
                ports=(PolicyPort("TCP", "http"), PolicyPort("UDP", 53), PolicyPort("TCP", 8000, 8100)),
            ),
        ),
        egress=(Rule(peers=(Peer(ip_block=IPBlock(ipaddress.ip_network("2001:db8::/32"))),)),),
        declared_types=("Ingress", "Egress"),
    )
    assert policy.key == "shop/web"


def test_api_client_shape_with_items_and_no_nulls() -> None:
    listing = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicyList",
        "metadata": {"resourceVersion": "7"},
        "items": [
            {"metadata": {"name": "a", "namespace": "x"}, "spec": {"podSelector": {}}},
            {"metadata": {"name": "b", "namespace": "y"}, "spec": {"podSelector": {}, "ingress": [{}]}},
        ],
    }
    policies = parse_network_policy_list(listing)
    assert [(p.key, p.ingress) for p in policies] == [("x/a", ()), ("y/b", (Rule(),))]


def spec_of(text: str) -> NetworkPolicy:
    return parse_network_policy({"metadata": {"name": "p", "namespace": "x"}, "spec": yaml.safe_load(text)})


@pytest.mark.parametrize(
    ("spec", "types"),
    [
        pytest.param("podSelector: {}", {"Ingress"}, id="nothing-given-means-ingress"),
        pytest.param("{podSelector: {}, policyTypes: []}", {"Ingress"}, id="empty-list-same-as-absent"),
        pytest.param("{podSelector: {}, egress: [{}]}", {"Ingress", "Egress"}, id="egress-rules-add-egress"),
        pytest.param("{podSelector: {}, egress: []}", {"Ingress"}, id="empty-egress-list-adds-nothing"),
        pytest.param("{podSelector: {}, egress: null}", {"Ingress"}, id="null-egress-adds-nothing"),
        pytest.param("{podSelector: {}, policyTypes: [Egress]}", {"Egress"}, id="declared-egress-only"),
        pytest.param(
            "{podSelector: {}, policyTypes: [Egress], ingress: [{}]}",
            {"Egress"},
            id="declared-wins-over-rules",
        ),
    ],
)
def test_policy_types_default_like_the_api_server(spec: str, types: set[str]) -> None:
    assert spec_of(spec).policy_types == types


@pytest.mark.parametrize(
    ("spec", "ingress"),
    [
        pytest.param("{podSelector: {}}", (), id="absent-ingress-no-rules"),
        pytest.param("{podSelector: {}, ingress: []}", (), id="empty-ingress-no-rules"),
        pytest.param("{podSelector: {}, ingress: [{}]}", (Rule(),), id="one-empty-rule-allows-all"),
        pytest.param("{podSelector: {}, ingress: [{from: []}]}", (Rule(),), id="empty-from-is-all-sources"),
        pytest.param("{podSelector: {}, ingress: [{from: null, ports: []}]}", (Rule(),), id="null-and-empty"),
    ],
)
def test_absent_empty_and_null_lists(spec: str, ingress: tuple[Rule, ...]) -> None:
    assert spec_of(spec).ingress == ingress


def test_absent_spec_and_pod_selector_select_every_pod() -> None:
    bare = parse_network_policy({"metadata": {"name": "p", "namespace": "x"}})
    assert (bare.pod_selector, bare.policy_types, bare.ingress) == (
        LabelSelector(),
        frozenset({"Ingress"}),
        (),
    )
    assert spec_of("{}").pod_selector == LabelSelector()


def test_cidr_with_host_bits_is_masked_as_the_api_server_accepts_it() -> None:
    peer = spec_of(
        "{podSelector: {}, ingress: [{from: [{ipBlock: {cidr: 10.1.2.3/16, except: [10.1.2.3/32]}}]}]}"
    )
    assert peer.ingress[0].peers[0].ip_block == IPBlock(
        ipaddress.ip_network("10.1.0.0/16"), (ipaddress.ip_network("10.1.2.3/32"),)
    )


def test_namespace_argument_fills_in_and_must_agree() -> None:
    document: dict[str, Any] = {"metadata": {"name": "p"}, "spec": {"podSelector": {}}}
    assert parse_network_policy(document, namespace="x").namespace == "x"
    document["metadata"]["namespace"] = "y"
    with pytest.raises(PolicyParseError, match=r"metadata\.namespace: 'y' does not match namespace='x'"):
        parse_network_policy(document, namespace="x")


VALID: dict[str, Any] = yaml.safe_load(FULL)
DELETE = object()


def broken(path: str, value: object) -> dict[str, Any]:
    """A copy of VALID with the dotted/indexed `path` set to `value` (DELETE removes it)."""
    document = copy.deepcopy(VALID)
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key: Any = int(last) if last.isdigit() else last
    if value is DELETE:
        del target[key]
    else:
        target[key] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("apiVersion", "networking.k8s.io/v1beta1", "apiVersion: expected networking.k8s.io/v1"),
        ("kind", "Pod", "kind: expected NetworkPolicy, got 'Pod'"),
        ("extra", 1, "extra: unknown field"),
        ("metadata", DELETE, "metadata: required"),
        ("metadata.nmae", "x", "metadata.nmae: unknown field"),
        ("metadata.name", 5, "metadata.name: expected a string, got int"),
        ("metadata.namespace", DELETE, "metadata.namespace: required"),
        ("spec", [], "spec: expected an object, got list"),
        ("spec.podselector", {}, "spec.podselector: unknown field"),
        ("spec.policyTypes", ["Ingres"], "spec.policyTypes[0]: must be one of Ingress, Egress"),
        ("spec.policyTypes", "Ingress", "spec.policyTypes: expected a list, got str"),
        ("spec.podSelector.matchLabels", ["app"], "spec.podSelector.matchLabels: expected an object"),
        ("spec.podSelector.matchLabels.app", 1, "spec.podSelector.matchLabels.app: expected a string"),
        (
            "spec.podSelector.matchExpressions[0].operator",
            "in",
            "matchExpressions[0].operator: must be one of",
        ),
        ("spec.podSelector.matchExpressions[0].values", [], "matchExpressions[0]: values must be non-empty"),
        ("spec.podSelector.matchExpressions[0].key", DELETE, "matchExpressions[0].key: expected a string"),
        ("spec.ingress[0].from[0].podSelector.matchExpressions[0].values", ["x"], "values must be empty"),
        ("spec.ingress[0].to", [], "spec.ingress[0].to: unknown field"),
        ("spec.egress[0].from", [], "spec.egress[0].from: unknown field"),
        ("spec.ingress[0].from[0]", {}, "spec.ingress[0].from[0]: must specify one of"),
        ("spec.ingress[0].from[1].podSelector", {}, "from[1]: ipBlock may not be combined with"),
        ("spec.ingress[0].from[1].ipBlock.cidr", "192.0.2.0/33", "ipBlock.cidr: not a valid CIDR"),
        (
            "spec.ingress[0].from[1].ipBlock.except",
            ["10.0.0.0/8"],
            "not a strict subset of cidr 192.0.2.0/24",
        ),
        ("spec.ingress[0].from[1].ipBlock.except", ["192.0.2.0/24"], "not a strict subset of cidr"),
        ("spec.egress[0].to[0].ipBlock.except", ["10.0.0.0/8"], "not a strict subset"),
        ("spec.ingress[0].from[1].ipBlock.cidr", DELETE, "ipBlock.cidr: expected a string, got null"),
        ("spec.ingress[0].ports[0].port", "HTTP", "'HTTP' is neither a number nor a valid port name"),
        ("spec.ingress[0].ports[0].port", "80", "'80' is neither a number nor a valid port name"),
        ("spec.ingress[0].ports[0].port", "a-very-long-port-name", "neither a number nor a valid port name"),
        ("spec.ingress[0].ports[0].port", 0, "port must be an integer in 1-65535, not 0"),
        ("spec.ingress[0].ports[0].port", 65536, "port must be an integer in 1-65535"),
        ("spec.ingress[0].ports[0].port", True, "ports[0].port: expected a number or a name, got True"),
        ("spec.ingress[0].ports[0].port", 8.5, "ports[0].port: expected a number or a name"),
        ("spec.ingress[0].ports[0].endPort", 90, "ports[0]: endPort requires a numeric port"),
        ("spec.ingress[0].ports[1].protocol", "tcp", "ports[1].protocol: must be one of TCP, UDP, SCTP"),
        ("spec.ingress[0].ports[2].endPort", 7999, "endPort 7999 is less than port 8000"),
        ("spec.ingress[0].ports[2].endPort", 70000, "endPort must be an integer in 1-65535"),
        ("spec.ingress[0].ports[2].endPort", "8100", "ports[2].endPort: expected a number"),
        ("spec.ingress[0].ports[2].prot", "TCP", "ports[2].prot: unknown field"),
    ],
)
def test_rejects_with_the_field_named(path: str, value: object, error: str) -> None:
    with pytest.raises(PolicyParseError) as raised:
        parse_network_policy(broken(path, value))
    assert any(error in message for message in raised.value.errors), raised.value.errors


def test_reports_every_error_at_once() -> None:
    document = broken("spec.ingress[0].ports[1].protocol", "tcp")
    document["spec"]["egress"][0]["to"][0]["ipBlock"]["cidr"] = "nonsense"
    document["metadata"]["colour"] = "red"
    with pytest.raises(PolicyParseError) as raised:
        parse_network_policy(document)
    assert [message.split(":")[0] for message in raised.value.errors] == [
        "metadata.colour",
        "spec.ingress[0].ports[1].protocol",
        "spec.egress[0].to[0].ipBlock.cidr",
    ]
    assert str(raised.value).startswith("invalid NetworkPolicy: metadata.colour: unknown field")


@pytest.mark.parametrize("document", [None, [], "policy"])
def test_rejects_non_objects(document: object) -> None:
    with pytest.raises(PolicyParseError, match="expected an object"):
        parse_network_policy(document)


def test_list_errors_name_the_item() -> None:
    listing = {"items": [{"metadata": {"name": "ok", "namespace": "x"}}, {"metadata": {"name": "bad"}}]}
    with pytest.raises(PolicyParseError, match=r"items\[1\]\.metadata\.namespace: required"):
        parse_network_policy_list(listing)
    with pytest.raises(PolicyParseError, match="kind: expected NetworkPolicyList"):
        parse_network_policy_list({"kind": "PodList", "items": []})
