"""The upstream e2e NetworkPolicy scenarios, as expected grids over namespaces x, y, z and pods a, b, c."""

from __future__ import annotations

import pytest
import yaml

from pytest_k8sharden.netpol import (
    PolicyEngine,
    Topology,
    TruthTable,
    expected_matrix,
    parse_network_policy,
)

TOPOLOGY = Topology()  # x, y, z x a, b, c serving 80/TCP and 81/TCP, ports named serve-80-tcp ...
# x/a = 10.0.1.1, x/b = 10.0.1.2 ... z/c = 10.0.3.3
IPS = {key: f"10.0.{i // 3 + 1}.{i % 3 + 1}" for i, key in enumerate(TOPOLOGY.keys)}
PODS = TOPOLOGY.pods(IPS)
BOTH = (80, 81)
HEADER = "-   x/a x/b x/c y/a y/b y/c z/a z/b z/c\n"


def grid(rows: str) -> str:
    """A 9x9 grid from its nine rows (`.` allowed, `X` blocked), header added."""
    return HEADER + rows


ALL_ALLOWED = grid("""
x/a  .   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
X_INGRESS_BLOCKED = grid("""
x/a  X   X   X   .   .   .   .   .   .
x/b  X   X   X   .   .   .   .   .   .
x/c  X   X   X   .   .   .   .   .   .
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
""")
X_EGRESS_BLOCKED = grid("""
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
X_ISOLATED = grid("""
x/a  X   X   X   X   X   X   X   X   X
x/b  X   X   X   X   X   X   X   X   X
x/c  X   X   X   X   X   X   X   X   X
y/a  X   X   X   .   .   .   .   .   .
y/b  X   X   X   .   .   .   .   .   .
y/c  X   X   X   .   .   .   .   .   .
z/a  X   X   X   .   .   .   .   .   .
z/b  X   X   X   .   .   .   .   .   .
z/c  X   X   X   .   .   .   .   .   .
""")
XA_FROM_Y_ONLY = grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
XA_INGRESS_BLOCKED = grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
XA_FROM_XB_ONLY = grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
XA_EGRESS_ONLY_TO_YB = grid("""
x/a  X   X   X   X   .   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
XA_EGRESS_NOT_TO_XB = grid("""
x/a  .   X   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
XA_EGRESS_BLOCKED = grid("""
x/a  X   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")

# Each scenario: policies as one YAML stream, and the expected grid per group of ports.
SCENARIOS: dict[str, tuple[str, dict[tuple[int, ...], str]]] = {
    "default-deny-ingress": (
        """
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
""",
        {BOTH: X_INGRESS_BLOCKED},
    ),
    "default-deny-ingress-by-omitted-spec": (
        "metadata: {name: deny-ingress, namespace: x}",
        {BOTH: X_INGRESS_BLOCKED},
    ),
    "default-deny-all": (
        """
metadata: {name: deny-all, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
""",
        {BOTH: X_ISOLATED},
    ),
    "default-deny-egress": (
        """
metadata: {name: deny-egress, namespace: x}
spec: {podSelector: {}, policyTypes: [Egress]}
""",
        {BOTH: X_EGRESS_BLOCKED},
    ),
    "allow-from-pod-in-own-namespace": (
        """
metadata: {name: x-a-allows-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
""",
        {BOTH: XA_FROM_XB_ONLY},
    ),
    "allow-from-namespace-by-label": (
        """
metadata: {name: allow-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]
""",
        {BOTH: XA_FROM_Y_ONLY},
    ),
    "allow-from-namespace-by-match-expressions": (
        """
metadata: {name: allow-from-y, namespace: x}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [a]}]}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [y]}]
""",
        {BOTH: XA_FROM_Y_ONLY},
    ),
    "allow-from-pod-label-in-other-namespace-and": (
        """
metadata: {name: allow-b-outside-x, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]
      podSelector: {matchLabels: {pod: b}}
""",
        {
            BOTH: grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
        },
    ),
    "allow-from-namespace-or-pod-label-separate-peers": (
        """
metadata: {name: allow-outside-x-or-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]
    - podSelector: {matchLabels: {pod: b}}
""",
        {
            BOTH: grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
        },
    ),
    "allow-from-all-namespaces": (
        """
metadata: {name: allow-all-namespaces, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {}}]}]
""",
        {BOTH: ALL_ALLOWED},
    ),
    "named-port-from-namespace": (
        """
metadata: {name: allow-y-on-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]
    ports: [{port: serve-81-tcp}]
""",
        {(80,): XA_INGRESS_BLOCKED, (81,): XA_FROM_Y_ONLY},
    ),
    "named-port-egress-resolved-at-destination": (
        """
metadata: {name: egress-80-by-name, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{ports: [{port: serve-80-tcp}]}]
""",
        {(80,): ALL_ALLOWED, (81,): XA_EGRESS_BLOCKED},
    ),
    "end-port-range": (
        """
metadata: {name: allow-75-to-80, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 75, endPort: 80}]}]
""",
        {(80,): ALL_ALLOWED, (81,): X_INGRESS_BLOCKED},
    ),
    "sctp-rule-does-not-allow-tcp": (
        """
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
metadata: {name: allow-sctp-81, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 81, protocol: SCTP}]}]
""",
        {BOTH: X_INGRESS_BLOCKED},
    ),
    "ingress-and-egress-together": (
        """
metadata: {name: in-from-b-out-on-80, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress, Ingress]
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]
  egress: [{ports: [{port: 80}]}]
""",
        {
            (80,): XA_FROM_XB_ONLY,
            (81,): grid("""
x/a  X   X   X   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
"""),
        },
    ),
    "egress-denied-at-client-though-server-allows": (
        """
metadata: {name: x-a-to-y-a-only, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}
---
metadata: {name: y-a-and-b-from-x-a, namespace: y}
spec:
  podSelector: {matchExpressions: [{key: pod, operator: In, values: [a, b]}]}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: x}}
      podSelector: {matchLabels: {pod: a}}
""",
        {
            BOTH: grid("""
x/a  X   X   X   .   X   X   X   X   X
x/b  .   .   .   X   X   .   .   .   .
x/c  .   .   .   X   X   .   .   .   .
y/a  .   .   .   X   X   .   .   .   .
y/b  .   .   .   X   X   .   .   .   .
y/c  .   .   .   X   X   .   .   .   .
z/a  .   .   .   X   X   .   .   .   .
z/b  .   .   .   X   X   .   .   .   .
z/c  .   .   .   X   X   .   .   .   .
""")
        },
    ),
    "egress-rules-without-policy-types-isolate-ingress-too": (
        """
metadata: {name: all-but-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.2/32]}}]}]
""",
        {
            BOTH: grid("""
x/a  X   X   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  X   .   .   .   .   .   .   .   .
y/b  X   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
        },
    ),
    "egress-to-namespaces-not-in-y": (
        """
metadata: {name: not-to-y, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]
""",
        {
            BOTH: grid("""
x/a  .   .   .   X   X   X   .   .   .
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
        },
    ),
    "egress-to-cidr-block": (
        """
metadata: {name: to-y-b-by-cidr, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.2.2/32}}]}]
""",
        {BOTH: XA_EGRESS_ONLY_TO_YB},
    ),
    "egress-cidr-except": (
        """
metadata: {name: all-but-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.2/32]}}]}]
""",
        {BOTH: XA_EGRESS_NOT_TO_XB},
    ),
    "egress-cidr-except-overridden-by-second-policy": (
        """
metadata: {name: all-but-x-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.0.1.2/32]}}]}]
---
metadata: {name: x-b-by-cidr, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 10.0.1.2/32}}]}]
""",
        {BOTH: ALL_ALLOWED},
    ),
    "ingress-cidr-except-from-pods": (
        """
metadata: {name: from-y-but-y-c, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.2.0/24, except: [10.0.2.3/32]}}]}]
""",
        {
            BOTH: grid("""
x/a  X   .   .   .   .   .   .   .   .
x/b  X   .   .   .   .   .   .   .   .
x/c  X   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  X   .   .   .   .   .   .   .   .
z/a  X   .   .   .   .   .   .   .   .
z/b  X   .   .   .   .   .   .   .   .
z/c  X   .   .   .   .   .   .   .   .
""")
        },
    ),
    "multiple-policies-additive": (
        """
metadata: {name: deny-ingress, namespace: x}
spec: {podSelector: {}, policyTypes: [Ingress]}
---
metadata: {name: allow-all-to-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]
""",
        {
            BOTH: grid("""
x/a  .   X   X   .   .   .   .   .   .
x/b  .   X   X   .   .   .   .   .   .
x/c  .   X   X   .   .   .   .   .   .
y/a  .   X   X   .   .   .   .   .   .
y/b  .   X   X   .   .   .   .   .   .
y/c  .   X   X   .   .   .   .   .   .
z/a  .   X   X   .   .   .   .   .   .
z/b  .   X   X   .   .   .   .   .   .
z/c  .   X   X   .   .   .   .   .   .
""")
        },
    ),
    "allow-all-rule-takes-precedence": (
        """
metadata: {name: only-80, namespace: x}
spec:
  podSelector: {}
  ingress: [{ports: [{port: 80}]}]
---
metadata: {name: allow-all, namespace: x}
spec: {podSelector: {}, ingress: [{}]}
""",
        {BOTH: ALL_ALLOWED},
    ),
    "policy-types-egress-only-ignores-ingress": (
        """
metadata: {name: egress-in-namespace, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  ingress: []
  egress: [{to: [{podSelector: {}}]}]
""",
        {
            BOTH: grid("""
x/a  .   .   .   X   X   X   X   X   X
x/b  .   .   .   .   .   .   .   .   .
x/c  .   .   .   .   .   .   .   .   .
y/a  .   .   .   .   .   .   .   .   .
y/b  .   .   .   .   .   .   .   .   .
y/c  .   .   .   .   .   .   .   .   .
z/a  .   .   .   .   .   .   .   .   .
z/b  .   .   .   .   .   .   .   .   .
z/c  .   .   .   .   .   .   .   .   .
""")
        },
    ),
}


@pytest.mark.parametrize(("policies", "grids"), SCENARIOS.values(), ids=SCENARIOS.keys())
def test_upstream_scenario(policies: str, grids: dict[tuple[int, ...], str]) -> None:
    engine = PolicyEngine.of(parse_network_policy(doc) for doc in yaml.safe_load_all(policies))
    tables = expected_matrix(engine, PODS, BOTH)
    for ports, expected in grids.items():
        for port in ports:
            assert tables[(port, "TCP")].render() == TruthTable.parse(expected).render(), port


def test_without_policies_everything_is_allowed() -> None:
    tables = expected_matrix(PolicyEngine(()), PODS, BOTH)
    assert [tables[(port, "TCP")].render() for port in BOTH] == [TruthTable.parse(ALL_ALLOWED).render()] * 2


def test_scenarios_cover_every_port_probed() -> None:
    for name, (_, grids) in SCENARIOS.items():
        assert sorted(port for ports in grids for port in ports) == list(BOTH), name
