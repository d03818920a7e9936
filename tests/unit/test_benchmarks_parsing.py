"""The benchmarks' parsing: kube-hunter's JSON report against the seeds, JUnit durations per suite file."""

from __future__ import annotations

import pytest

from benchmarks.kube_hunter import SEEDS, Seed, compare, last_json_line, reported
from benchmarks.suite import per_file
from benchmarks.summary import END_MARK, START_MARK, with_table
from pytest_k8sharden.catalog import load_catalog

REPORT = {
    "nodes": [{"type": "Node/Master", "location": "198.18.3.1"}],
    "services": [{"service": "Kubelet API", "location": "198.18.3.2:10250"}],
    "vulnerabilities": [
        {"location": "198.18.3.2:10250", "vid": "KHV036", "vulnerability": "Anonymous Authentication"},
        {"location": "198.18.3.2:10250", "vid": "KHV036", "vulnerability": "Anonymous Authentication"},
        {"location": "198.18.3.1:6443", "vid": "None", "vulnerability": "Created a namespace"},
        {"location": "198.18.3.1:8080", "vid": "KHV007", "vulnerability": "Listing pods as anonymous user"},
        {"location": "198.18.3.1:2379", "vid": "KHV032", "vulnerability": "Etcd Remote Read Access Event"},
    ],
}
SOME_SEEDS = (
    Seed("kubelet anonymous", ("KUBELET-ANON",), ("KHV036",)),
    Seed("anonymous admin", ("API-ANON-READ",), ("KHV007@6443", "Created a namespace@6443")),
    Seed("etcd plaintext", ("ETCD-CLIENT-CERT", "ETCD-NO-PLAINTEXT"), ("KHV032",)),
    Seed("weak TLS", ("API-TLS-PROTOCOL",), ()),
    Seed("no audit log", (), ()),
)


def test_findings_are_listed_once() -> None:
    assert reported(REPORT) == [
        ("KHV007", "Listing pods as anonymous user", "198.18.3.1:8080"),
        ("KHV032", "Etcd Remote Read Access Event", "198.18.3.1:2379"),
        ("KHV036", "Anonymous Authentication", "198.18.3.2:10250"),
        ("None", "Created a namespace", "198.18.3.1:6443"),
    ]


def test_each_seed_gets_kube_hunters_findings_by_id_or_name_at_its_port_and_our_failed_checks() -> None:
    outcomes = {"KUBELET-ANON": "failed", "API-ANON-READ": "failed", "ETCD-CLIENT-CERT": "failed",
                "ETCD-NO-PLAINTEXT": "inconclusive", "API-TLS-PROTOCOL": "failed"}  # fmt: skip
    rows = {row.misconfiguration: row for row in compare(REPORT, outcomes, SOME_SEEDS)}
    assert rows["kubelet anonymous"].kube_hunter == ("KHV036: Anonymous Authentication (198.18.3.2:10250)",)
    assert rows["anonymous admin"].kube_hunter == ("None: Created a namespace (198.18.3.1:6443)",)
    assert rows["etcd plaintext"].ours == ("ETCD-CLIENT-CERT",)
    assert (rows["weak TLS"].kube_hunter, rows["weak TLS"].ours) == ((), ("API-TLS-PROTOCOL",))
    assert (rows["no audit log"].kube_hunter, rows["no audit log"].ours) == ((), ())


def test_a_check_that_passed_does_not_count_as_reporting_the_seed() -> None:
    rows = compare({"vulnerabilities": []}, {"KUBELET-ANON": "passed"}, SOME_SEEDS[:1])
    assert rows[0].ours == ()


def test_every_seed_names_known_check_ids() -> None:
    known = set(load_catalog().checks)
    assert {check for seed in SEEDS for check in seed.checks} <= known


def test_the_report_is_the_last_json_line_of_stdout() -> None:
    assert last_json_line('~ banner\n{"nodes": []}\n') == '{"nodes": []}'
    with pytest.raises(ValueError, match="no JSON report"):
        last_json_line("Kube Hunter couldn't find any clusters\n")


def test_junit_durations_add_up_per_suite_module() -> None:
    junit = """<testsuites><testsuite name="pytest">
      <testcase classname="pytest_k8sharden.suites.test_exposure_api" name="a" time="1.25"/>
      <testcase classname="pytest_k8sharden.suites.test_exposure_api" name="b" time="0.75"/>
      <testcase classname="pytest_k8sharden.suites.test_network_isolation.TestCanary" name="c" time="4"/>
    </testsuite></testsuites>"""
    assert per_file(junit) == {"test_exposure_api": 2.0, "test_network_isolation": 4.0}


def test_the_readme_table_is_replaced_between_its_marks_only() -> None:
    readme = f"intro\n{START_MARK}\n| old |\n{END_MARK}\nrest\n"
    assert with_table(readme, ["| new |"]) == f"intro\n{START_MARK}\n| new |\n{END_MARK}\nrest\n"
    with pytest.raises(ValueError, match="no <!-- benchmarks:start -->"):
        with_table("intro\n", ["| new |"])
