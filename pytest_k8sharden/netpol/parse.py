"""Strict parsing of networking.k8s.io/v1 NetworkPolicy objects given as plain dicts."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator, Mapping
from typing import Final, TypeVar, final

from pytest_k8sharden.netpol.model import PROTOCOLS, Protocol
from pytest_k8sharden.netpol.policy import (
    Direction,
    IPBlock,
    IPNetwork,
    LabelSelector,
    NetworkPolicy,
    Operator,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
)

API_VERSION: Final = "networking.k8s.io/v1"
_OBJECT_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_LIST_FIELDS: Final = frozenset({"apiVersion", "kind", "metadata", "items"})
_METADATA_FIELDS: Final = frozenset(
    {
        "annotations", "creationTimestamp", "deletionGracePeriodSeconds",
        "deletionTimestamp", "finalizers", "generateName", "generation", "labels",
        "managedFields", "name", "namespace", "ownerReferences", "resourceVersion",
        "selfLink", "uid",
    }
)  # fmt: skip
_SPEC_FIELDS: Final = frozenset({"podSelector", "ingress", "egress", "policyTypes"})
_SELECTOR_FIELDS: Final = frozenset({"matchLabels", "matchExpressions"})
_REQUIREMENT_FIELDS: Final = frozenset({"key", "operator", "values"})
_PEER_FIELDS: Final = frozenset({"podSelector", "namespaceSelector", "ipBlock"})
_IPBLOCK_FIELDS: Final = frozenset({"cidr", "except"})
_PORT_FIELDS: Final = frozenset({"protocol", "port", "endPort"})
_OPERATORS: Final[tuple[Operator, ...]] = ("In", "NotIn", "Exists", "DoesNotExist")
_DIRECTIONS: Final[tuple[Direction, ...]] = ("Ingress", "Egress")
_Choice = TypeVar("_Choice", bound=str)
_Built = TypeVar("_Built")


@final
class PolicyParseError(ValueError):
    """An invalid NetworkPolicy; `errors` lists every problem as ``field.path: message``."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = tuple(errors)
        super().__init__("invalid NetworkPolicy: " + "; ".join(errors))


def parse_network_policy(obj: object, *, namespace: str | None = None) -> NetworkPolicy:
    """Parse one NetworkPolicy; `namespace` stands in for a missing metadata.namespace."""
    parser = _Parser()
    policy = parser.policy(obj, "", namespace)
    parser.raise_errors()
    assert policy is not None  # only None when errors were recorded
    return policy


def parse_network_policy_list(obj: object, *, namespace: str | None = None) -> tuple[NetworkPolicy, ...]:
    """Parse a NetworkPolicyList (``{"items": [...]}``), as returned by list calls."""
    parser = _Parser()
    policies: list[NetworkPolicy] = []
    document = parser.fields(obj, "", _LIST_FIELDS)
    if document is not None:
        parser.header(document, "", "NetworkPolicyList")
        for path, item in parser.items(document.get("items"), "items"):
            policy = parser.policy(item, path + ".", namespace)
            if policy is not None:
                policies.append(policy)
    parser.raise_errors()
    return tuple(policies)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


class _Parser:
    """Walks a document, building the model and recording every error on the way."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '<document>'}: {message}")

    def raise_errors(self) -> None:
        if self.errors:
            raise PolicyParseError(self.errors)

    def fields(self, value: object, path: str, allowed: frozenset[str]) -> Mapping[str, object] | None:
        if not isinstance(value, Mapping):
            self.error(path, f"expected an object, got {_type_name(value)}")
            return None
        for key in value:
            if key not in allowed:
                self.error(
                    f"{path}.{key}" if path else str(key),
                    f"unknown field (allowed: {', '.join(sorted(allowed))})",
                )
        return value

    def items(self, value: object, path: str) -> Iterator[tuple[str, object]]:
        if value is None:
            return
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {_type_name(value)}")
            return
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item

    def string(self, value: object, path: str) -> str | None:
        if isinstance(value, str):
            return value
        self.error(path, f"expected a string, got {_type_name(value)}")
        return None

    def choice(self, value: object, path: str, choices: tuple[_Choice, ...]) -> _Choice | None:
        for choice in choices:
            if value == choice:
                return choice
        self.error(path, f"must be one of {', '.join(choices)}, not {value!r}")
        return None

    def direction(self, value: object, path: str) -> Direction | None:
        return self.choice(value, path, _DIRECTIONS)

    def header(self, document: Mapping[str, object], path: str, kind: str) -> None:
        version = document.get("apiVersion")
        if version is not None and version != API_VERSION:
            self.error(f"{path}apiVersion", f"expected {API_VERSION}, got {version!r}")
        if document.get("kind") not in (None, kind):
            self.error(f"{path}kind", f"expected {kind}, got {document.get('kind')!r}")

    def policy(self, obj: object, path: str, namespace: str | None) -> NetworkPolicy | None:
        document = self.fields(obj, path.rstrip("."), _OBJECT_FIELDS)
        if document is None:
            return None
        self.header(document, path, "NetworkPolicy")
        metadata: Mapping[str, object] = {}
        if document.get("metadata") is None:
            self.error(f"{path}metadata", "required")
        else:
            metadata = self.fields(document["metadata"], f"{path}metadata", _METADATA_FIELDS) or {}
        name = self.string(metadata.get("name"), f"{path}metadata.name")
        declared = metadata.get("namespace")
        if declared is None and namespace is None:
            self.error(f"{path}metadata.namespace", "required (or pass namespace=)")
        elif declared is not None and self.string(declared, f"{path}metadata.namespace") is not None:
            if namespace is not None and declared != namespace:
                self.error(
                    f"{path}metadata.namespace",
                    f"{declared!r} does not match namespace={namespace!r}",
                )
            namespace = str(declared)
        # spec and spec.podSelector are optional in the API and default to {} (select every pod).
        spec_value = document.get("spec")
        spec = {} if spec_value is None else self.fields(spec_value, f"{path}spec", _SPEC_FIELDS) or {}
        selector = self.selector(spec.get("podSelector"), f"{path}spec.podSelector")
        ingress = self.rules(spec.get("ingress"), f"{path}spec.ingress", "from")
        egress = self.rules(spec.get("egress"), f"{path}spec.egress", "to")
        types: tuple[Direction, ...] = self.listed(
            spec.get("policyTypes"), f"{path}spec.policyTypes", self.direction
        )
        if name is None or namespace is None:
            return None
        return NetworkPolicy(namespace, name, selector or LabelSelector(), ingress, egress, types)

    def build(self, path: str, make: Callable[[], _Built]) -> _Built | None:
        """Construct a model object, recording its ValueError (an invariant) at `path`."""
        try:
            return make()
        except ValueError as exc:
            self.error(path, str(exc))
            return None

    def listed(
        self,
        value: object,
        path: str,
        parse: Callable[[object, str], _Built | None],
    ) -> tuple[_Built, ...]:
        """Parse every item of an optional list, keeping those that parsed."""
        return tuple(
            parsed
            for item_path, item in self.items(value, path)
            if (parsed := parse(item, item_path)) is not None
        )

    def selector(self, value: object, path: str) -> LabelSelector | None:
        if value is None:
            return None
        document = self.fields(value, path, _SELECTOR_FIELDS)
        if document is None:
            return None
        labels: dict[str, str] = {}
        match_labels = document.get("matchLabels")
        if match_labels is not None and not isinstance(match_labels, Mapping):
            kind = _type_name(match_labels)
            self.error(f"{path}.matchLabels", f"expected an object, got {kind}")
        elif match_labels is not None:
            for key, label in match_labels.items():
                if (text := self.string(label, f"{path}.matchLabels.{key}")) is not None:
                    labels[str(key)] = text
        expressions = document.get("matchExpressions")
        requirements = self.listed(expressions, f"{path}.matchExpressions", self.requirement)
        return LabelSelector(labels, requirements)

    def requirement(self, value: object, path: str) -> Requirement | None:
        document = self.fields(value, path, _REQUIREMENT_FIELDS)
        if document is None:
            return None
        key = self.string(document.get("key"), f"{path}.key")
        operator = self.choice(document.get("operator"), f"{path}.operator", _OPERATORS)
        values = self.listed(document.get("values"), f"{path}.values", self.string)
        if key is None or operator is None:
            return None
        return self.build(path, lambda: Requirement(key, operator, values))

    def rules(self, value: object, path: str, peers_field: str) -> tuple[Rule, ...]:
        allowed = frozenset({peers_field, "ports"})
        rules: list[Rule] = []
        for rule_path, item in self.items(value, path):
            document = self.fields(item, rule_path, allowed)
            if document is not None:
                peers_path = f"{rule_path}.{peers_field}"
                peers = self.listed(document.get(peers_field), peers_path, self.peer)
                ports = self.listed(document.get("ports"), f"{rule_path}.ports", self.port)
                rules.append(Rule(peers, ports))
        return tuple(rules)

    def peer(self, value: object, path: str) -> Peer | None:
        document = self.fields(value, path, _PEER_FIELDS)
        if document is None:
            return None
        pods = self.selector(document.get("podSelector"), f"{path}.podSelector")
        namespaces = self.selector(document.get("namespaceSelector"), f"{path}.namespaceSelector")
        block = None
        if document.get("ipBlock") is not None:
            block = self.ip_block(document["ipBlock"], f"{path}.ipBlock")
        parsed = {
            "podSelector": pods,
            "namespaceSelector": namespaces,
            "ipBlock": block,
        }
        if any(document.get(key) is not None and parsed[key] is None for key in parsed):
            return None  # the broken field has its error already
        return self.build(path, lambda: Peer(pods, namespaces, block))

    def network(self, value: object, path: str) -> IPNetwork | None:
        text = self.string(value, path)
        if text is None:
            return None
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            self.error(path, f"not a valid CIDR: {text!r}")
            return None

    def ip_block(self, value: object, path: str) -> IPBlock | None:
        document = self.fields(value, path, _IPBLOCK_FIELDS)
        if document is None:
            return None
        cidr = self.network(document.get("cidr"), f"{path}.cidr")
        excepts: tuple[IPNetwork, ...] = self.listed(document.get("except"), f"{path}.except", self.network)
        if cidr is None:
            return None
        return self.build(f"{path}.except", lambda: IPBlock(cidr, excepts))

    def port(self, value: object, path: str) -> PolicyPort | None:
        document = self.fields(value, path, _PORT_FIELDS)
        if document is None:
            return None
        protocol: Protocol | None = "TCP"
        if document.get("protocol") is not None:
            protocol = self.choice(document["protocol"], f"{path}.protocol", PROTOCOLS)
        port, end = document.get("port"), document.get("endPort")
        if isinstance(port, bool) or not isinstance(port, int | str | None):
            self.error(f"{path}.port", f"expected a number or a name, got {port!r}")
            return None
        if end is not None and (not isinstance(end, int) or isinstance(end, bool)):
            self.error(f"{path}.endPort", f"expected a number, got {end!r}")
            return None
        if protocol is None:
            return None
        return self.build(path, lambda: PolicyPort(protocol, port, end))
