"""The network isolation suite's pure logic: probe scripts and their output, retries, matrices and verdicts,
scenarios, default-deny coverage, workloads, control-plane doors, the metadata verdict and the seeds."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import cast

import pytest
from kubernetes import client

from pytest_k8sharden.evidence.observation import Observation
from pytest_k8sharden.evidence.verdict import Outcome
from pytest_k8sharden.exemptions import BUILT_IN
from pytest_k8sharden.isolation import defaultdeny, metadata, workloads
from pytest_k8sharden.isolation.canary import Canary
from pytest_k8sharden.isolation.matrices import (
    MatrixOutcome,
    canary_finding,
    compare,
    ends_the_canary,
    expectation,
    matrix_observation,
    observed_value,
)
from pytest_k8sharden.isolation.scenarios import BASELINE, SCENARIOS, TOPOLOGY, covering_network
from pytest_k8sharden.kube import Kube
from pytest_k8sharden.neterrors import Failure
from pytest_k8sharden.netpol import (
    Namespace,
    Pod,
    PolicyEngine,
    TruthTable,
    expected_matrix,
    parse_network_policy,
)
from pytest_k8sharden.netpol.reachability import PortSpec
from pytest_k8sharden.ownership import RUN_LABEL, ours
from pytest_k8sharden.probes.http import HttpObservation
from pytest_k8sharden.probes.matrix import (
    NO_RESULT,
    SHORT_CONNECT_TIMEOUT_S,
    ConnectResult,
    MatrixProber,
    Plan,
    Source,
    Target,
    parse_probe_output,
    probe_briefly_first,
    probe_script,
    probe_until_expected,
    probe_until_stable,
)
from pytest_k8sharden.probes.pods import ProbePod
from pytest_k8sharden.seeds import SHOP_NAMESPACE, default_deny, shop

PORTS = (80, 81)


def canary_pods() -> tuple[Pod, ...]:
    ips = {f"{ns}/{name}": f"198.19.0.{10 + i}" for i, (ns, name) in enumerate(
        (ns, name) for ns in TOPOLOGY.namespaces for name in TOPOLOGY.pod_names
    )}  # fmt: skip
    labels = {ns: {"k8sharden.io/canary-namespace": ns} for ns in TOPOLOGY.namespaces}
    return TOPOLOGY.pods(ips, labels)


def results_from(
    tables: Mapping[PortSpec, TruthTable], flip: Sequence[tuple[str, str, int]] = ()
) -> list[ConnectResult]:
    """Probe results that agree with `tables` except for the `flip` pairs."""
    found = []
    for (port, _), table in tables.items():
        for source, destination in table.pairs():
            allowed = bool(table.get(source, destination))
            if (source, destination, port) in flip:
                allowed = not allowed
            found.append(ConnectResult(source, destination, port, "connected" if allowed else "TIMEOUT"))
    return found


# ---------------------------------------------------------------------------------------- probe scripts
def test_probe_script_starts_one_background_connect_per_target() -> None:
    targets = [Target("y/b", "198.19.0.11", 80), Target("z/c", "198.19.0.12", 81)]
    script = probe_script(targets, 2.0)
    assert "busybox nc -w 2 " in script and "-e true" in script
    assert script.count(" &\n") == 2 and script.endswith("wait")
    assert "p y/b 198.19.0.11 80 &" in script


@pytest.mark.parametrize(
    ("asked", "tool"),
    [
        (1.0, "busybox nc -w 1 "),
        (5.0, "busybox nc -w 5 "),
        (0.0001, "--timeout=0.0001s"),
        (2.5, "--timeout=2.5s"),
    ],
)
def test_a_timeout_nc_cannot_keep_exactly_goes_to_agnhost_connect(asked: float, tool: str) -> None:
    """nc -w keeps whole seconds: waiting longer than asked would let a control vouch for probes that
    waited less (the --probe-timeout=0.0001 run must stay inconclusive)."""
    assert tool in probe_script([Target("y/b", "ip", 80)], asked)


def _run_probe_script(targets: Sequence[Target], path: str) -> tuple[ConnectResult, ...]:
    """Run probe_script with a 1 s timeout under /bin/sh, `path` first on PATH, and parse what it printed."""
    done = subprocess.run(
        ["/bin/sh", "-c", probe_script(targets, 1.0)],
        capture_output=True, text=True, timeout=30, check=True, env={"PATH": f"{path}:/usr/bin:/bin"},
    )  # fmt: skip
    return parse_probe_output("x/a", targets, done.stdout)


@pytest.mark.skipif(shutil.which("busybox") is None, reason="no busybox here (the probe image has one)")
def test_probe_script_connects_with_busybox_nc_and_leaves_an_unknown_nc_for_agnhost(tmp_path: Path) -> None:
    with socket.socket() as listening, socket.socket() as closed:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connects are refused
        targets = [Target("y/b", "127.0.0.1", listening.getsockname()[1]),
                   Target("y/c", "127.0.0.1", closed.getsockname()[1])]  # fmt: skip
        found = _run_probe_script(targets, str(Path(str(shutil.which("busybox"))).parent))
        assert [r.outcome for r in found] == ["connected", "REFUSED"]
        other = tmp_path / "busybox"  # a busybox whose nc lacks -e
        other.write_text('#!/bin/sh\necho "BusyBox usage: nc [-iN] [-wN] [-l] [-p PORT]" >&2\nexit 1\n')
        other.chmod(0o755)
        fallen_back = _run_probe_script(targets, str(tmp_path))
    assert all("/agnhost: not found" in r.outcome and not r.probed for r in fallen_back), fallen_back


def test_busybox_nc_answers_read_as_agnhost_connect_words_and_nothing_else_counts() -> None:
    targets = [Target(f"t{i}", "198.19.0.11", 80 + i) for i in range(6)]
    output = "\n".join(
        [
            "k8sh-connect t0 80 0",
            "k8sh-connect t1 81 1 nc: timed out",
            "k8sh-connect t2 82 1 nc: can't connect to remote host (198.19.0.11): Connection refused",
            "k8sh-connect t3 83 1 nc: can't connect to remote host (198.19.0.11): No route to host",
            "k8sh-connect t4 84 1 nc: invalid option -- 'e' usage: nc [-46CDdFhklNnrStUuvZz]",
            "k8sh-connect t5 85 127",
        ]
    )
    found = parse_probe_output("x/a", targets, output)
    assert [r.outcome for r in found[:4]] == ["connected", "TIMEOUT", "REFUSED", "OTHER: No route to host"]
    said = "k8sh-connect t0 80 1 TIMEOUT\nk8sh-connect t1 81 1 REFUSED\nk8sh-connect t2 82 1 UNKNOWN: bad"
    agnhost = parse_probe_output("x/a", targets[:3], said)
    assert [r.outcome for r in agnhost[:2]] == ["TIMEOUT", "REFUSED"] and not agnhost[2].probed
    assert all(r.probed for r in found[:4])
    assert not found[4].probed and "invalid option" in found[4].outcome, "an unknown nc is no result"
    assert not found[5].probed and found[5].outcome == f"{NO_RESULT} (exit 127)"
    assert observed_value(found[4]) is None and observed_value(found[5]) is None


def test_probe_keys_are_single_words_as_the_output_lines_need() -> None:
    door = workloads.Door("api-server", "198.18.0.1", 6443)
    output = f"k8sh-connect {door.key} 6443 0\n"
    assert parse_probe_output("ns/p", [Target(door.key, door.host, door.port)], output)[0].connected


def test_probe_output_gives_one_result_per_target_and_marks_missing_ones() -> None:
    targets = [
        Target("y/b", "198.19.0.11", 80),
        Target("y/b", "198.19.0.11", 81),
        Target("z/c", "1.2.3.4", 80),
    ]
    output = "noise\nk8sh-connect y/b 80 0\nk8sh-connect y/b 81 1 nc: timed out\n"
    found = parse_probe_output("x/a", targets, output)
    assert [r.outcome for r in found] == ["connected", "TIMEOUT", NO_RESULT]
    assert found[0].connected and not found[1].connected and not found[2].probed


def test_retries_only_pairs_that_differ_and_keep_their_history() -> None:
    source = Source("x/a", "ns-x", "a")
    plan: Plan = {source: [Target("y/b", "ip", 80), Target("y/c", "ip", 80)]}
    calls: list[list[str]] = []
    answers = iter([["TIMEOUT", "connected"], ["TIMEOUT"], ["connected"]])

    def probe(asked: Plan) -> list[ConnectResult]:
        targets = [t for ts in asked.values() for t in ts]
        calls.append([t.key for t in targets])
        return [ConnectResult("x/a", t.key, t.port, o) for t, o in zip(targets, next(answers), strict=True)]

    found = probe_until_expected(probe, plan, lambda r: r.connected, attempts=3, pause_s=0)
    assert calls == [["y/b", "y/c"], ["y/b"], ["y/b"]]
    assert found[0].outcome == "connected" and found[0].history == ("TIMEOUT", "TIMEOUT")
    assert found[0].attempts == 3 and found[1].attempts == 1


def test_the_brief_round_is_the_answer_only_where_every_knock_came_back_as_expected() -> None:
    """Issue 18: knocks first wait 1 s; a control that did not get through within it sends everything again
    with the probe timeout, and what the brief round saw stays in each result's history."""
    control, visitor = Source("p/control", "p", "control"), Source("v/visitor", "v", "visitor")
    plan: Plan = {control: [Target("door", "ip", 443)], visitor: [Target("door", "ip", 443)]}
    wanted = workloads.control_expectation(control)

    def answering(control_says: str, visitor_says: str) -> Callable[[Plan], list[ConnectResult]]:
        said = {control.key: control_says, visitor.key: visitor_says}
        return lambda asked: [
            ConnectResult(s.key, t.key, t.port, said[s.key]) for s, ts in asked.items() for t in ts
        ]

    found, brief = probe_briefly_first(
        answering("connected", "TIMEOUT"), answering("?", "?"), plan, wanted, 3, 0
    )
    assert brief and [r.outcome for r in found] == ["connected", "TIMEOUT"]

    slow = answering("TIMEOUT", "connected")
    found, brief = probe_briefly_first(slow, answering("connected", "TIMEOUT"), plan, wanted, 3, 0)
    assert not brief and [r.outcome for r in found] == ["connected", "TIMEOUT"]
    assert found[0].history == ("TIMEOUT",) and found[1].history == ("connected",)
    assert found[1].ever_connected, "a connection seen in the brief round is not erased by the full one"
    observed = workloads.knock_observation(found[1], True, 5.0)
    assert "connect timeout 5 s, 2 attempts" in observed.summary
    assert observed.details["attempts"] == ["connected", "TIMEOUT"]


def test_pairs_without_a_result_are_probed_again() -> None:
    plan: Plan = {Source("x/a", "ns", "a"): [Target("y/b", "ip", 80)]}
    answers = iter([NO_RESULT, "connected"])

    def probe(asked: Plan) -> list[ConnectResult]:
        return [ConnectResult("x/a", "y/b", 80, next(answers))]

    found = probe_until_expected(probe, plan, lambda r: None, attempts=3, pause_s=0)
    assert found[0].connected and found[0].history == (NO_RESULT,)


def test_retries_are_bounded() -> None:
    plan: Plan = {Source("x/a", "ns", "a"): [Target("y/b", "ip", 80)]}
    calls = []

    def probe(asked: Plan) -> list[ConnectResult]:
        calls.append(1)
        return [ConnectResult("x/a", "y/b", 80, "TIMEOUT")]

    found = probe_until_expected(probe, plan, lambda r: r.connected, attempts=2, pause_s=0)
    assert len(calls) == 2 and found[0].attempts == 2 and not found[0].connected
    with pytest.raises(ValueError, match="at least 1"):
        probe_until_expected(probe, plan, lambda r: True, attempts=0)


def scripted(outcomes: Sequence[str]) -> tuple[Plan, Callable[[Plan], list[ConnectResult]], list[int]]:
    """One pair (v -> d, port 80) whose successive probes see `outcomes`; the list counts the calls."""
    plan: Plan = {Source("v", "ns", "v"): [Target("d", "ip", 80)]}
    answers = iter(outcomes)
    calls: list[int] = []

    def probe(asked: Plan) -> list[ConnectResult]:
        calls.append(1)
        return [ConnectResult("v", "d", 80, next(answers))]

    return plan, probe, calls


ONE_PAIR_BLOCKED: dict[PortSpec, TruthTable] = {(80, "TCP"): TruthTable(("v",), ("d",), {("v", "d"): False})}
ONE_PAIR_ALLOWED: dict[PortSpec, TruthTable] = {(80, "TCP"): TruthTable(("v",), ("d",), {("v", "d"): True})}


@pytest.mark.parametrize(
    ("attempts", "expected", "wrong"),
    [
        (["connected", "TIMEOUT", "TIMEOUT"], ONE_PAIR_BLOCKED, 1),
        (["connected", "REFUSED"], ONE_PAIR_BLOCKED, 1),
        (["connected"], ONE_PAIR_BLOCKED, 1),
        (["TIMEOUT"], ONE_PAIR_BLOCKED, 0),
        (["TIMEOUT", "connected"], ONE_PAIR_ALLOWED, 0),
        (["TIMEOUT", "TIMEOUT", "TIMEOUT"], ONE_PAIR_ALLOWED, 1),
    ],
    ids=[
        "connected-then-timeouts",
        "connected-then-refused",
        "connected",
        "timeout",
        "late-connect",
        "never",
    ],
)
def test_a_connection_is_a_violation_that_no_later_attempt_erases(
    attempts: list[str], expected: dict[PortSpec, TruthTable], wrong: int
) -> None:
    """Issue 16 item 3: a pair policy denies that connected, then timed out on a retry, counted as blocked."""
    plan, probe, _ = scripted(attempts)
    results = probe_until_expected(probe, plan, expectation(expected), attempts=3, pause_s=0)
    outcome = compare("workloads", "", [], expected, results, refused_is_blocked=False)
    assert outcome.wrong == wrong, outcome.describe()
    if wrong and expected is ONE_PAIR_BLOCKED:
        assert "v -> d 80/TCP: expected blocked, observed allowed" in outcome.describe()


def test_a_connection_is_never_probed_again() -> None:
    plan, probe, calls = scripted(["connected", "TIMEOUT"])
    found = probe_until_expected(probe, plan, expectation(ONE_PAIR_BLOCKED), attempts=3, pause_s=0)
    assert len(calls) == 1 and found[0].connected


def clock(step: float) -> Callable[[], float]:
    """A clock that advances `step` seconds each time it is read."""
    now = [0.0]

    def read() -> float:
        now[0] += step
        return now[0]

    return read


def test_the_canary_waits_for_its_own_policy_to_settle_and_records_how_long_it_took() -> None:
    plan, probe, calls = scripted(["connected", "connected", "TIMEOUT", "TIMEOUT", "connected"])
    wanted = expectation(ONE_PAIR_BLOCKED)
    settled = probe_until_stable(probe, plan, wanted, deadline_s=100, pause_s=0, clock=clock(1.0))
    assert settled.converged and settled.rounds == 4 and len(calls) == 4
    assert settled.settled_after_s > 0
    assert settled.settling == {"v -> d 80/TCP": ("connected", "connected", "TIMEOUT", "TIMEOUT")}
    outcome = compare("deny", "", [], ONE_PAIR_BLOCKED, settled.results, settled=settled)
    assert outcome.wrong == 0 and "settled after" in outcome.describe()
    details = matrix_observation(outcome, "pods:canary", "x").details
    assert details["settling"]["rounds"] == 4 and details["settling"]["converged"] is True
    assert details["attempts"] == {}, "the rounds are in the settling record"


def test_a_slow_canary_never_judges_the_round_probed_as_its_policy_was_applied() -> None:
    """Rounds of 20 s: the deadline passes after two, and a third is probed so the first is not judged;
    a connection that persists is still a violation."""
    plan, probe, _ = scripted(["connected", "TIMEOUT", "TIMEOUT"])
    wanted = expectation(ONE_PAIR_BLOCKED)
    settled = probe_until_stable(probe, plan, wanted, deadline_s=30, pause_s=0, clock=clock(10.0))
    assert settled.rounds == 3 and settled.converged
    assert compare("deny", "", [], ONE_PAIR_BLOCKED, settled.results, settled=settled).wrong == 0
    assert settled.settling == {"v -> d 80/TCP": ("connected", "TIMEOUT", "TIMEOUT")}
    plan, probe, _ = scripted(["connected"] * 3)
    settled = probe_until_stable(probe, plan, wanted, deadline_s=30, pause_s=0, clock=clock(10.0))
    assert settled.rounds == 3
    assert compare("deny", "", [], ONE_PAIR_BLOCKED, settled.results, settled=settled).wrong == 1


def test_a_canary_matrix_that_never_settles_is_judged_on_its_last_rounds() -> None:
    flapping = ["TIMEOUT", "connected"] * 10
    plan, probe, _ = scripted(flapping)
    wanted = expectation(ONE_PAIR_BLOCKED)
    settled = probe_until_stable(probe, plan, wanted, deadline_s=5, pause_s=0, clock=clock(1.0))
    assert not settled.converged
    outcome = compare("deny", "", [], ONE_PAIR_BLOCKED, settled.results, settled=settled)
    assert outcome.wrong == 1, "a connection in the rounds judged is a violation"
    plan, probe, _ = scripted(["connected"] * 10)
    stuck = probe_until_stable(probe, plan, wanted, deadline_s=5, pause_s=0, clock=clock(1.0))
    assert stuck.converged and stuck.rounds > 2, (
        "a steady matrix unlike the policy is probed until the deadline"
    )
    steady = compare("deny", "", [], ONE_PAIR_BLOCKED, stuck.results, settled=stuck)
    assert "still so after" in steady.describe()
    plan, probe, _ = scripted(flapping)
    wanted = expectation(ONE_PAIR_ALLOWED)
    settled = probe_until_stable(probe, plan, wanted, deadline_s=5, pause_s=0, clock=clock(1.0))
    baseline = compare(BASELINE.name, "", [], ONE_PAIR_ALLOWED, [ConnectResult("v", "d", 80, "connected")])
    unsettled = compare("allow", "", [], ONE_PAIR_ALLOWED, settled.results, settled=settled)
    assert unsettled.wrong == 0
    finding = canary_finding([baseline, unsettled], BASELINE.name, planned=2)
    assert finding.outcome is Outcome.INCONCLUSIVE and "did not settle" in finding.message


# ------------------------------------------------------------------------------------- matrices
def test_refused_counts_as_blocked_for_the_canary_only() -> None:
    refused = ConnectResult("x/a", "y/b", 80, "REFUSED")
    assert observed_value(refused) is False
    assert observed_value(refused, refused_is_blocked=False) is None
    assert observed_value(ConnectResult("x/a", "y/b", 80, NO_RESULT)) is None


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_is_valid_policy_the_engine_reads(scenario: object) -> None:
    pods = canary_pods()
    manifests = scenario.policies([p.ip for p in pods])  # type: ignore[attr-defined]
    for manifest in manifests:
        parse_network_policy(manifest)


def scenario_tables(name: str) -> dict[PortSpec, TruthTable]:
    scenario = next(s for s in SCENARIOS if s.name == name)
    pods = canary_pods()
    engine = PolicyEngine.of(parse_network_policy(m) for m in scenario.policies([p.ip for p in pods]))
    return expected_matrix(engine, pods, PORTS)


def test_deny_all_ingress_blocks_everything_into_x_only() -> None:
    table = scenario_tables("deny-all-ingress-x")[(80, "TCP")]
    assert table.get("y/a", "x/b") is False and table.get("z/c", "x/a") is False
    assert table.get("x/a", "y/b") is True and table.get("y/a", "z/b") is True


def test_ipblock_except_scenario_admits_only_namespace_x_into_z() -> None:
    table = scenario_tables("ipblock-except-z")[(81, "TCP")]
    assert table.get("x/a", "z/b") is True
    assert table.get("y/a", "z/b") is False
    assert covering_network(["198.19.0.10", "198.19.0.200"]) == "198.19.0.0/24"


def test_canary_passes_when_observed_matches_and_fails_naming_pairs() -> None:
    baseline = scenario_tables(BASELINE.name)
    deny = scenario_tables("deny-all-ingress-x")
    good = [compare(BASELINE.name, "", [], baseline, results_from(baseline))]
    good.append(compare("deny-all-ingress-x", "", [], deny, results_from(deny)))
    assert canary_finding(good, BASELINE.name, planned=2).outcome is Outcome.PASSED
    leaky = compare("deny-all-ingress-x", "", [], deny, results_from(deny, flip=[("y/a", "x/b", 80)]))
    finding = canary_finding([good[0], leaky], BASELINE.name, planned=2)
    assert finding.outcome is Outcome.FAILED
    assert "y/a -> x/b 80/TCP: expected blocked, observed allowed" in finding.message


def test_canary_is_inconclusive_when_the_pods_do_not_reach_each_other_without_policy() -> None:
    baseline = scenario_tables(BASELINE.name)
    broken = compare(BASELINE.name, "", [], baseline, results_from(baseline, flip=[("x/a", "y/b", 80)]))
    assert canary_finding([broken], BASELINE.name, planned=1).outcome is Outcome.INCONCLUSIVE
    assert canary_finding([], BASELINE.name, planned=len(SCENARIOS)).outcome is Outcome.INCONCLUSIVE


def test_expectation_ignores_self_pairs_and_unknowns() -> None:
    wanted = expectation(scenario_tables("deny-all-ingress-x"))
    assert wanted(ConnectResult("x/a", "x/a", 80, "TIMEOUT")) is None
    assert wanted(ConnectResult("y/a", "x/a", 80, "connected")) is False
    assert wanted(ConnectResult("y/a", "x/a", 80, NO_RESULT)) is None


# -------------------------------------------------------------------------------- default deny
def policies(*manifests: object) -> list[object]:
    return [parse_network_policy(m) for m in manifests]


def test_default_deny_needs_an_all_pods_policy_and_nothing_reopening_it() -> None:
    shop_policies = policies(*[m for m in shop() if m["kind"] == "NetworkPolicy"])
    ingress = defaultdeny.coverage(SHOP_NAMESPACE, shop_policies, "Ingress")  # type: ignore[arg-type]
    assert ingress.denies_by_default and ingress.denying == ("default-deny",)
    reopened = policies(
        default_deny("a"),
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-all", "namespace": "a"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}},
    )  # fmt: skip
    found = defaultdeny.coverage("a", reopened, "Ingress")  # type: ignore[arg-type]
    assert not found.denies_by_default and "allow-all allows all ingress" in found.describe()
    assert not defaultdeny.coverage("b", reopened, "Egress").denies_by_default  # type: ignore[arg-type]


def test_default_deny_scope_and_finding() -> None:
    live = {
        "default": {},
        "kube-system": {},
        "ours": ours(),
        # labels anyone can set do not take a namespace out of the audit
        "labelled-like-ours": {
            "app.kubernetes.io/managed-by": "pytest-k8sharden",
            "k8sharden.io/probe": "true",
        },
        "another-runs": {**ours(), RUN_LABEL: "another-run"},
    }
    found = defaultdeny.in_scope(live, (), BUILT_IN)
    assert found.namespaces == ("default", "labelled-like-ours", "another-runs")
    assert found.exempt == {"kube-system": BUILT_IN.namespaces["kube-system"]} and found.own == ("ours",)
    configured = defaultdeny.in_scope(live, ("default", "x"), BUILT_IN)
    assert (configured.namespaces, configured.missing, configured.exempt) == (("default",), ("x",), {})
    gap = defaultdeny.coverage("default", [], "Egress")
    failed = defaultdeny.default_deny_finding([gap], found, "Egress")
    assert (
        failed.outcome is Outcome.FAILED
        and "default: no policy isolates every pod for egress" in failed.message
        and "(exempt: kube-system; this run's own: ours)" in failed.message
    ), "a failure names what the scope left out"
    assert failed.subjects == ("Namespace/default",), "scoped waivers match the namespaces named"
    absent = defaultdeny.default_deny_finding([], configured, "Egress")
    assert absent.outcome is Outcome.INCONCLUSIVE and "configured but absent: x" in absent.message


# ----------------------------------------------------------------------------------- workloads
def v1_pod(namespace: str, name: str, ip: str, labels: dict[str, str], port: int | None) -> client.V1Pod:
    """A running pod (nested parts as dicts: in-process pytester runs may re-import the model classes)."""
    ports = [{"container_port": port, "name": "serve", "protocol": "TCP"}] if port else None
    return client.V1Pod.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"containers": [{"name": "c", "ports": ports}]},
            "status": {"phase": "Running", "pod_ip": ip},
        }
    )


def shop_world() -> tuple[PolicyEngine, Pod, tuple[Pod, ...]]:
    namespaces = {SHOP_NAMESPACE: Namespace(SHOP_NAMESPACE)}
    items = [
        v1_pod(SHOP_NAMESPACE, "frontend-1", "198.19.0.20", {"tier": "frontend"}, 8080),
        v1_pod(SHOP_NAMESPACE, "backend-1", "198.19.0.21", {"tier": "backend"}, 8081),
        v1_pod(SHOP_NAMESPACE, "db-1", "198.19.0.22", {"tier": "db"}, 5432),
        v1_pod(SHOP_NAMESPACE, "ours", "198.19.0.23", ours(), 80),
        v1_pod("elsewhere", "x", "198.19.0.24", {}, 80),
    ]
    targets = workloads.workload_pods(items, namespaces)
    engine = PolicyEngine.of(parse_network_policy(m) for m in shop() if m["kind"] == "NetworkPolicy")
    visitor = Pod(namespaces[SHOP_NAMESPACE], "visitor", "198.19.0.30", {"k8sharden.io/role": "attacker"})
    return engine, visitor, targets


def test_a_pod_labelled_like_ours_by_someone_else_is_still_a_workload() -> None:
    namespaces = {SHOP_NAMESPACE: Namespace(SHOP_NAMESPACE)}
    bare = {"app.kubernetes.io/managed-by": "pytest-k8sharden"}
    items = [
        v1_pod(SHOP_NAMESPACE, "bare-label", "198.19.0.40", bare, 80),
        v1_pod(SHOP_NAMESPACE, "other-run", "198.19.0.41", {**ours(), RUN_LABEL: "another-run"}, 80),
        v1_pod(SHOP_NAMESPACE, "this-run", "198.19.0.42", ours(), 80),
    ]
    assert [p.name for p in workloads.workload_pods(items, namespaces)] == ["bare-label", "other-run"]


def test_workload_pods_leave_out_ours_and_other_namespaces() -> None:
    _, _, targets = shop_world()
    assert [p.name for p in targets] == ["frontend-1", "backend-1", "db-1"]
    assert targets[2].named_port("serve", "TCP") == 5432


def test_shop_policies_let_a_visitor_reach_the_frontend_only() -> None:
    engine, visitor, targets = shop_world()
    tables = workloads.workload_tables(engine, [visitor], targets)
    assert set(tables) == {(8080, "TCP"), (8081, "TCP"), (5432, "TCP")}
    assert tables[(8080, "TCP")].get(visitor.key, f"{SHOP_NAMESPACE}/frontend-1") is True
    assert tables[(8081, "TCP")].get(visitor.key, f"{SHOP_NAMESPACE}/backend-1") is False
    assert tables[(5432, "TCP")].get(visitor.key, f"{SHOP_NAMESPACE}/db-1") is False
    plan = workloads.workload_plan({Source(visitor.key, SHOP_NAMESPACE, "visitor"): visitor}, targets)
    doors = [(t.key.split("/")[1], t.port) for t in next(iter(plan.values()))]
    assert doors == [("frontend-1", 8080), ("backend-1", 8081), ("db-1", 5432)]


def test_workloads_finding_fails_on_unenforced_policy_and_passes_when_enforced() -> None:
    engine, visitor, targets = shop_world()
    tables = workloads.workload_tables(engine, [visitor], targets)
    enforced = compare("workloads", "", [], tables, results_from(tables), refused_is_blocked=False)
    assert workloads.workloads_finding(enforced, [SHOP_NAMESPACE]).outcome is Outcome.PASSED
    everything_open = [
        ConnectResult(r.source, r.destination, r.port, "connected") for r in results_from(tables)
    ]
    open_outcome = compare("workloads", "", [], tables, everything_open, refused_is_blocked=False)
    finding = workloads.workloads_finding(open_outcome, [SHOP_NAMESPACE])
    assert finding.outcome is Outcome.FAILED and "backend-1 8081/TCP: expected blocked" in finding.message
    nothing = compare("workloads", "", [], {}, [], refused_is_blocked=False)
    assert workloads.workloads_finding(nothing, [SHOP_NAMESPACE]).outcome is Outcome.INCONCLUSIVE


def test_refused_workload_connections_are_not_compared() -> None:
    engine, visitor, targets = shop_world()
    tables = workloads.workload_tables(engine, [visitor], targets)
    refused = [ConnectResult(r.source, r.destination, r.port, "REFUSED") for r in results_from(tables)]
    outcome = compare("workloads", "", [], tables, refused, refused_is_blocked=False)
    assert workloads.workloads_finding(outcome, [SHOP_NAMESPACE]).outcome is Outcome.INCONCLUSIVE


# --------------------------------------------------------------------------- control-plane doors
def test_control_plane_reach_fails_only_where_policy_forbids() -> None:
    engine, visitor, _ = shop_world()
    api = workloads.Door("api-server", "198.18.0.1", 6443)
    assert workloads.forbidden_by_policy(engine, visitor, api)
    assert not workloads.forbidden_by_policy(PolicyEngine.of([]), visitor, api)
    reached = [ConnectResult(visitor.key, api.key, 6443, "connected")]
    forbidden = {(visitor.key, api.key): True}
    heard = [ConnectResult("probe/attacker", api.key, 6443, "connected")]
    failed = workloads.control_plane_finding(reached, forbidden, [])
    assert failed.outcome is Outcome.FAILED and "api-server/198.18.0.1:6443" in failed.message
    allowed = workloads.control_plane_finding(reached, {(visitor.key, api.key): False}, heard)
    assert allowed.outcome is Outcome.PASSED and "informational" in allowed.message
    blocked = [ConnectResult(visitor.key, api.key, 6443, "TIMEOUT")]
    assert workloads.control_plane_finding(blocked, forbidden, heard).outcome is Outcome.PASSED
    unknown = [ConnectResult(visitor.key, api.key, 6443, NO_RESULT)]
    assert workloads.control_plane_finding(unknown, forbidden, heard).outcome is Outcome.INCONCLUSIVE


def test_only_the_control_pods_unanswered_knocks_are_knocked_again() -> None:
    control = Source("probe/attacker", "probe", "attacker")
    expected = workloads.control_expectation(control)
    door = "api-server/198.18.0.1:6443"
    assert expected(ConnectResult(control.key, door, 6443, "TIMEOUT")) is False
    assert expected(ConnectResult(control.key, door, 6443, "REFUSED")) is True
    assert expected(ConnectResult("default/visitor", door, 6443, "connected")) is None


def test_a_timeout_counts_as_blocked_only_where_the_control_pod_heard_the_door() -> None:
    _, visitor, _ = shop_world()
    api = workloads.Door("api-server", "198.18.0.1", 6443)
    blocked = [ConnectResult(visitor.key, api.key, 6443, "TIMEOUT")]
    forbidden = {(visitor.key, api.key): True}
    for control in ([], [ConnectResult("probe/attacker", api.key, 6443, "TIMEOUT")]):
        finding = workloads.control_plane_finding(blocked, forbidden, control)
        assert finding.outcome is Outcome.INCONCLUSIVE and "control pod" in finding.message
    refused = [ConnectResult(visitor.key, api.key, 6443, "REFUSED")]
    assert workloads.control_plane_finding(refused, forbidden, []).outcome is Outcome.PASSED


# ------------------------------------------------------------------------------------- metadata
def http(status: int | None, body: str = "", timed_out: bool = False) -> HttpObservation:
    error, failure = ("timed out", Failure.TIMEOUT) if timed_out else (None, None)
    return HttpObservation(
        kind="http", summary="", vantage="pod:ns/p", target="http://169.254.169.254/x",
        details={"body_excerpt": body, "method": "GET"}, status=status, error=error, failure=failure,
    )  # fmt: skip


def connect(connected: bool, output: str = "") -> Observation:
    return Observation(
        kind="connect", summary="", vantage="pod:ns/p", target="169.254.169.254:80",
        details={"connected": connected, "exit_code": 0 if connected else 1, "output": output},
    )  # fmt: skip


def test_metadata_fails_on_any_credential_answer_and_withholds_its_body() -> None:
    answered = http(200, "AKIA-SECRET")
    excerpt = metadata.withheld(answered).details["body_excerpt"]
    assert excerpt == "[withheld: 11 bytes from a credential path]"
    assert metadata.withheld(http(404, "nope")).details["body_excerpt"] == "nope"
    finding = metadata.metadata_finding([connect(True), answered], HEARD)
    assert finding.outcome is Outcome.FAILED and "169.254.169.254" in finding.message


HEARD = {
    "pod:ns/p": metadata.Control("pod:ns/p", True, "its own knock on kubelet/198.18.0.2:10250: connected")
}
UNHEARD = {
    "pod:ns/p": metadata.Control("pod:ns/p", False, "its own knock on kubelet/198.18.0.2:10250: TIMEOUT")
}


def test_metadata_passes_when_blocked_or_refusing_and_is_inconclusive_when_nothing_probed() -> None:
    blocked = metadata.metadata_finding([connect(False), http(None, timed_out=True)], HEARD)
    assert blocked.outcome is Outcome.PASSED and "unreachable" in blocked.message
    refusing = metadata.metadata_finding([connect(True), http(403)], UNHEARD)
    assert refusing.outcome is Outcome.PASSED and "reachable" in refusing.message
    assert metadata.metadata_finding([], HEARD).outcome is Outcome.INCONCLUSIVE


def test_metadata_timeouts_prove_nothing_when_the_control_pod_heard_nothing_either() -> None:
    timed_out = [connect(False, "TIMEOUT\n"), http(None, timed_out=True)]
    for controls in (UNHEARD, {}):
        finding = metadata.metadata_finding(timed_out, controls)
        assert finding.outcome is Outcome.INCONCLUSIVE and "not judged" in finding.message
    refused = metadata.metadata_finding([connect(False, "REFUSED\n")], UNHEARD)
    assert refused.outcome is Outcome.PASSED


def test_metadata_requests_cover_every_cloud() -> None:
    providers = {r.provider for r in metadata.CREDENTIAL_REQUESTS}
    assert providers == {"aws-imdsv1", "aws-imdsv2", "gcp", "azure"}
    assert all(r.url.startswith("http://169.254.169.254/") for r in metadata.CREDENTIAL_REQUESTS)


NODE_A, NODE_B = "198.18.0.2", "198.18.0.3"
DOORS = (
    workloads.Door("api-server", "198.18.0.1", 6443),
    workloads.Door("kubelet", NODE_A, 10250),
    workloads.Door("kubelet", NODE_B, 10250),
)
CONTROL_POD = ProbePod("probe", "attacker", "10.0.0.9", host_ip=NODE_A)


@pytest.mark.parametrize(
    ("node", "own", "control_hears", "forbidden", "proven"),
    [
        (NODE_A, "connected", (), False, True),
        (NODE_B, "REFUSED", (), False, True),
        (NODE_B, "TIMEOUT", (f"kubelet/{NODE_B}:10250",), True, True),
        (NODE_B, "TIMEOUT", ("api-server/198.18.0.1:6443", f"kubelet/{NODE_A}:10250"), True, False),
        (NODE_B, "TIMEOUT", (f"kubelet/{NODE_B}:10250",), False, False),
        ("198.18.0.99", "TIMEOUT", (f"kubelet/{NODE_B}:10250",), True, False),
    ],
    ids=[
        "own-knock",
        "own-refused",
        "policy-denies-control-heard",
        "other-doors-only",
        "unexplained",
        "no-door",
    ],
)
def test_a_metadata_timeout_is_blocked_only_next_to_a_control_on_that_pods_node(
    node: str, own: str, control_hears: tuple[str, ...], forbidden: bool, proven: bool
) -> None:
    """Issue 16 item 4: METADATA-BLOCKED counted every timeout as blocked once any control door answered
    (the old metadata_finding took the control pod's knocks and passed when any of them answered)."""
    visitor = ProbePod("default", "visitor", "10.0.0.5", host_ip=node)
    plan = metadata.control_plan([CONTROL_POD, visitor], CONTROL_POD, DOORS)
    own_doors = [t.key for t in plan.get(Source.of(visitor), [])]
    assert own_doors == ([f"kubelet/{node}:10250"] if node != "198.18.0.99" else [])
    door = f"kubelet/{node}:10250"
    knocks = [ConnectResult("default/visitor", door, 10250, own)]
    knocks += [ConnectResult("probe/attacker", d, 10250, "connected") for d in control_hears]
    denied = {("default/visitor", d.key): forbidden for d in DOORS}
    found = metadata.controls([CONTROL_POD, visitor], CONTROL_POD, DOORS, knocks, denied)
    assert found[visitor.vantage].proven is proven, found[visitor.vantage].why
    timed_out = Observation(
        kind="http", summary="", vantage=visitor.vantage, target="http://169.254.169.254/x",
    )  # fmt: skip
    seen = [
        HttpObservation(
            **{**timed_out.__dict__, "details": {"method": "GET"}}, error="timed out", failure=Failure.TIMEOUT
        ),
    ]
    finding = metadata.metadata_finding(seen, found)
    assert finding.outcome is (Outcome.PASSED if proven else Outcome.INCONCLUSIVE), finding.message
    if not proven:
        assert "pod:default/visitor" in finding.message and "not judged" in finding.message


def test_metadata_knocks_again_only_where_a_control_answer_is_read() -> None:
    """A vantage whose policy denies it its node's kubelet is not knocked again (the control pod's knock
    stands in; each retry cost a probe timeout and a pause); the control pod's and an allowed vantage's
    unanswered knocks are."""
    door = f"kubelet/{NODE_A}:10250"
    denied = {("default/denied", door): True, ("default/allowed", door): False}
    wanted = metadata.control_expectation(CONTROL_POD, denied)
    plan: Plan = {
        Source("default/denied", "default", "denied"): [Target(door, NODE_A, 10250)],
        Source("default/allowed", "default", "allowed"): [Target(door, NODE_A, 10250)],
        Source.of(CONTROL_POD): [Target(door, NODE_A, 10250)],
    }
    asked: list[str] = []

    def probe(part: Plan) -> list[ConnectResult]:
        asked.extend(s.key for s in part)
        return [ConnectResult(s.key, t.key, t.port, "TIMEOUT") for s, ts in part.items() for t in ts]

    found = probe_until_expected(probe, plan, wanted, attempts=3, pause_s=0)
    control = Source.of(CONTROL_POD).key
    assert asked.count("default/denied") == 1
    assert asked.count("default/allowed") == 3 and asked.count(control) == 3
    assert [r.attempts for r in found] == [1, 3, 3]


def shop_outcome(outcomes: dict[str, str], heard: Sequence[str]) -> MatrixOutcome:
    """The visitor's knocks on the shop (outcome per tier) compared, with the control pod hearing `heard`."""
    engine, visitor, targets = shop_world()
    tables = workloads.workload_tables(engine, [visitor], targets)
    plan = workloads.workload_plan({Source(visitor.key, SHOP_NAMESPACE, "visitor"): visitor}, targets)
    results = [
        ConnectResult(visitor.key, t.key, t.port, outcomes[t.key.split("/")[1].split("-")[0]])
        for t in next(iter(plan.values()))
    ]
    controls = [ConnectResult("probe/attacker", f"{SHOP_NAMESPACE}/{pod}-1", 0, "connected") for pod in heard]
    return compare(
        "workloads", "", [], tables, results, refused_is_blocked=False,
        heard=workloads.heard_destinations(controls, results),
    )  # fmt: skip


def tiers(frontend: str, backend: str, db: str) -> dict[str, str]:
    return {"frontend": frontend, "backend": backend, "db": db}


T, C = "TIMEOUT", "connected"


@pytest.mark.parametrize(
    ("outcomes", "heard", "verdict"),
    [
        (tiers(C, T, T), (), Outcome.INCONCLUSIVE),
        (tiers(C, T, T), ("backend",), Outcome.INCONCLUSIVE),
        (tiers(C, T, T), ("backend", "db"), Outcome.PASSED),
        (tiers(T, T, T), ("backend", "db"), Outcome.INCONCLUSIVE),
        (tiers(T, T, T), ("frontend", "db"), Outcome.FAILED),
        (tiers(C, C, T), (), Outcome.FAILED),
    ],
    ids=["no-control", "heard-one", "heard-all", "allowed-unheard", "allowed-pair-blocked", "violation"],
)
def test_a_workload_timeout_is_blocked_only_where_the_control_heard_that_pod(
    outcomes: dict[str, str], heard: tuple[str, ...], verdict: Outcome
) -> None:
    """Issue 16 item 4: NETPOL-WORKLOADS had no control; pairs that should be blocked passed on timeouts."""
    finding = workloads.workloads_finding(shop_outcome(outcomes, heard), [SHOP_NAMESPACE])
    assert finding.outcome is verdict, finding.message
    if verdict is Outcome.INCONCLUSIVE:
        assert "(TIMEOUT)" in finding.message and "control pod heard no door" in finding.message


def test_control_admissions_twin_every_ingress_policy_for_the_control_pod_only() -> None:
    shop_policies = [m for m in shop() if m["kind"] == "NetworkPolicy"]
    control = ProbePod("k8sh-probe-1", "attacker", "10.0.0.9", {"k8sharden.io/role": "attacker"})
    twins = workloads.control_admissions(shop_policies, control, "k8sh-control-ab", {"owned": "yes"})
    selected = [t["spec"]["podSelector"] for t in twins]
    assert selected == [{}, {"matchLabels": {"tier": "frontend"}}, {"matchLabels": {"tier": "backend"}},
                        {"matchLabels": {"tier": "db"}}], "egress-only policies get no twin"  # fmt: skip
    (peer,) = twins[0]["spec"]["ingress"][0]["from"]
    assert peer == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "k8sh-probe-1"}},
        "podSelector": {"matchLabels": {"k8sharden.io/role": "attacker"}},
    }
    assert {t["metadata"]["name"] for t in twins} == {f"k8sh-control-ab-{i}" for i in range(4)}
    assert all(t["metadata"]["labels"] == {"owned": "yes"} for t in twins)
    engine, visitor, targets = shop_world()
    with_twins = PolicyEngine.of(parse_network_policy(m) for m in [*shop_policies, *twins])
    assert workloads.workload_tables(engine, [visitor], targets) == workloads.workload_tables(
        with_twins, [visitor], targets
    ), "the twins change nothing for anyone but the control pod"


def test_one_unjudged_knock_makes_the_control_plane_check_inconclusive() -> None:
    """Issue 16 item 2 for ISOLATED-NAMESPACE-CONTROL-PLANE: one judged knock passed the whole check."""
    api, kubelet = "api-server/198.18.0.1:6443", f"kubelet/{NODE_A}:10250"
    results = [
        ConnectResult("default/v", api, 6443, "TIMEOUT"),
        ConnectResult("default/v", kubelet, 10250, "TIMEOUT"),
    ]
    heard_api = [ConnectResult("probe/attacker", api, 6443, "connected")]
    forbidden = {("default/v", api): True, ("default/v", kubelet): True}
    finding = workloads.control_plane_finding(results, forbidden, heard_api)
    assert finding.outcome is Outcome.INCONCLUSIVE and kubelet in finding.message
    heard_both = [*heard_api, ConnectResult("probe/attacker", kubelet, 10250, "connected")]
    finding = workloads.control_plane_finding(results, forbidden, heard_both)
    assert finding.outcome is Outcome.PASSED and "2 knocks, from pod:default/v (2)" in finding.message


@pytest.mark.parametrize(("connect_s", "judged_with"), [(0.01, SHORT_CONNECT_TIMEOUT_S), (2.0, 5.0)])
def test_the_canary_waits_briefly_for_a_connect_only_where_its_baseline_connected_that_fast(
    monkeypatch: pytest.MonkeyPatch, connect_s: float, judged_with: float
) -> None:
    """One pair connecting in `connect_s`: within the short timeout the scenarios keep it; beyond it, the
    baseline runs again with the full probe timeout and the scenarios wait that long."""
    slow = ("x/a", "y/b", 80)

    def probe(prober: MatrixProber, plan: Plan) -> tuple[ConnectResult, ...]:
        return tuple(
            ConnectResult(s.key, t.key, t.port, "connected" if connect_s < prober.timeout_s or
                          (s.key, t.key, t.port) != slow else "TIMEOUT")
            for s, targets in plan.items()
            for t in targets
        )  # fmt: skip

    monkeypatch.setattr(MatrixProber, "probe", probe)
    names = {model: f"k8sh-canary-{model}" for model in TOPOLOGY.namespaces}
    canary = Canary(cast(Kube, None), names, "probe", probe_timeout_s=5.0, settle_deadline_s=1.5)
    canary.pods = canary_pods()
    tried = canary.run_baseline(BASELINE)
    assert [o.connect_timeout_s for o in tried] == sorted({SHORT_CONNECT_TIMEOUT_S, judged_with})
    assert tried[-1].held and canary.prober.timeout_s == judged_with
    assert all(not o.held for o in tried[:-1]), "the baseline runs again only when the short wait missed"
    assert f"connect timeout {judged_with:g} s" in tried[-1].describe()


def test_the_canary_ends_early_only_when_no_later_scenario_can_change_the_verdict() -> None:
    baseline, deny = scenario_tables(BASELINE.name), scenario_tables("deny-all-ingress-x")
    good = compare(BASELINE.name, "", [], baseline, results_from(baseline))
    broken = compare(BASELINE.name, "", [], baseline, results_from(baseline, flip=[("x/a", "y/b", 80)]))
    unenforced = compare("deny-all-ingress-x", "", [], deny, results_from(baseline))
    partly = compare("deny-all-ingress-x", "", [], deny, results_from(baseline, flip=[("y/a", "x/b", 80)]))
    held = compare("deny-all-ingress-x", "", [], deny, results_from(deny))
    assert [ends_the_canary(o, BASELINE.name) for o in (good, broken, unenforced, partly, held)] == [
        False, True, True, False, False,
    ]  # fmt: skip
    assert unenforced.enforced_nothing and unenforced.denied == 48, "3 pods of x from 8 pods each, 2 ports"


def test_a_canary_ended_early_says_which_scenarios_did_not_run_and_why() -> None:
    baseline, deny = scenario_tables(BASELINE.name), scenario_tables("deny-all-ingress-x")
    good = compare(BASELINE.name, "", [], baseline, results_from(baseline))
    unenforced = compare("deny-all-ingress-x", "", [], deny, results_from(baseline))
    finding = canary_finding([good, unenforced], BASELINE.name, planned=len(SCENARIOS))
    assert finding.outcome is Outcome.FAILED
    assert f"the other {len(SCENARIOS) - 2} scenarios were not run" in finding.message
    assert "blocked none of the 48 pairs its policies deny" in finding.message
    broken = compare(BASELINE.name, "", [], baseline, results_from(baseline, flip=[("x/a", "y/b", 80)]))
    stopped = canary_finding([broken], BASELINE.name, planned=len(SCENARIOS))
    assert stopped.outcome is Outcome.INCONCLUSIVE and "were not run" in stopped.message
    held = compare("deny-all-ingress-x", "", [], deny, results_from(deny))
    short = canary_finding([good, held], BASELINE.name, planned=len(SCENARIOS))
    assert short.outcome is Outcome.INCONCLUSIVE, "a pass needs every planned scenario"
