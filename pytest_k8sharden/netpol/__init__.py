"""NetworkPolicy semantics in pure Python: model -> expected reachability -> comparison."""

from __future__ import annotations

from pytest_k8sharden.netpol.engine import (
    DirectionVerdict,
    PolicyEngine,
    RuleRef,
    Verdict,
)
from pytest_k8sharden.netpol.model import (
    NAMESPACE_NAME_LABEL,
    ContainerPort,
    Endpoint,
    ExternalIP,
    Namespace,
    Pod,
    Protocol,
)
from pytest_k8sharden.netpol.parse import (
    PolicyParseError,
    parse_network_policy,
    parse_network_policy_list,
)
from pytest_k8sharden.netpol.policy import (
    Direction,
    IPBlock,
    LabelSelector,
    NetworkPolicy,
    Peer,
    PolicyPort,
    Requirement,
    Rule,
)
from pytest_k8sharden.netpol.reachability import (
    Mismatch,
    Reachability,
    ReachabilitySummary,
    expected_matrix,
    expected_table,
    expected_verdicts,
)
from pytest_k8sharden.netpol.topology import POD_LABEL, Topology, port_name
from pytest_k8sharden.netpol.truthtable import TruthTable

__all__ = [
    "NAMESPACE_NAME_LABEL",
    "POD_LABEL",
    "ContainerPort",
    "Direction",
    "DirectionVerdict",
    "Endpoint",
    "ExternalIP",
    "IPBlock",
    "LabelSelector",
    "Mismatch",
    "Namespace",
    "NetworkPolicy",
    "Peer",
    "Pod",
    "PolicyEngine",
    "PolicyParseError",
    "PolicyPort",
    "Protocol",
    "Reachability",
    "ReachabilitySummary",
    "Requirement",
    "Rule",
    "RuleRef",
    "Topology",
    "TruthTable",
    "Verdict",
    "expected_matrix",
    "expected_table",
    "expected_verdicts",
    "parse_network_policy",
    "parse_network_policy_list",
    "port_name",
]
