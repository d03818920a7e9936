"""Options, ini equivalents, validation, markers and --read-only."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_k8sharden.settings import SettingsError, build_settings

SHOW_SETTINGS = """
def test_show(k8sharden_settings):
    print("SETTINGS", k8sharden_settings)
"""


def test_defaults() -> None:
    settings = build_settings()
    assert settings.cluster == "existing"
    assert settings.profile is None
    assert settings.kubeconfig is None and settings.context is None
    assert settings.evidence_dir == Path("k8sharden-evidence")
    assert not settings.read_only and not settings.keep_cluster
    assert settings.probe_image is None  # the provider's image, else UPSTREAM_PROBE_IMAGE
    assert settings.probe_timeout == 5.0


def test_profile_defaults_to_hardened_for_kind_and_local() -> None:
    assert build_settings(cluster="local").profile == "hardened"
    assert build_settings(cluster="kind", profile="insecure").profile == "insecure"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cluster": "minikube"}, "--cluster must be one of existing, kind, local, got 'minikube'"),
        ({"profile": "hardened"}, "--cluster-profile applies to --cluster=kind and --cluster=local only"),
        ({"cluster": "local", "profile": "paranoid"}, "--cluster-profile must be one of"),
        ({"probe_timeout": "soon"}, "--probe-timeout must be a number of seconds, got 'soon'"),
        ({"probe_timeout": "0"}, "more than 0 and at most 600"),
        ({"probe_timeout": "nan"}, "more than 0 and at most 600"),
        ({"probe_timeout": 601}, "more than 0 and at most 600"),
        ({"probe_image": "   "}, "--probe-image must not be blank"),
    ],
)
def test_invalid_values_are_refused(options: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_settings(**options)  # type: ignore[arg-type]


def test_help_lists_the_option_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "pytest-k8sharden: Kubernetes security conformance:",
            "  --cluster=PROVIDER*",
            "  --cluster-profile=PROFILE",
            "  --kubeconfig=PATH*",
            "  --kube-context=CONTEXT",
            "  --keep-cluster*",
            "  --evidence-dir=DIR*",
            "  --read-only*",
            "  --probe-image=IMAGE*",
            "  --probe-timeout=SECONDS",
        ]
    )
    result.stdout.fnmatch_lines(["  k8sharden_cluster (string)*", "  k8sharden_read_only (bool)*"])


def test_ini_values_apply_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        """
        [pytest]
        k8sharden_cluster = local
        k8sharden_cluster_profile = insecure
        k8sharden_probe_timeout = 2.5
        k8sharden_evidence_dir = ini-evidence
        k8sharden_read_only = true
        """
    )
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest("-s", "--probe-timeout=7", "--probe-image=registry.example/agnhost:1")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "k8sharden: cluster=local profile=insecure read-only evidence-dir=ini-evidence",
            "*SETTINGS Settings(cluster='local', profile='insecure', *read_only=True, "
            "probe_image='registry.example/agnhost:1', probe_timeout=7.0, ingress_ca=None, "
            "ingress_cert_days=30, ingress_address=None, sweep_older_than=*)*",
        ]
    )


def test_listed_options_reach_settings_cleaned_with_their_defaults(pytester: pytest.Pytester) -> None:
    """Every option is in Settings, read once at configure time: checks take them from there."""
    defaults = build_settings()
    assert defaults.probe_concurrency == 8 and defaults.workload_namespaces == ()
    assert defaults.isolation_namespaces == () and defaults.metadata_namespaces == ("default",)
    assert defaults.anonymous_allowed_paths == ("/healthz", "/livez", "/readyz", "/version")
    assert defaults.allowed_node_ports == () and defaults.allowed_host_ports == ()
    pytester.makeini(
        """
        [pytest]
        k8sharden_probe_concurrency = 3
        k8sharden_anonymous_allowed_paths = /healthz
        k8sharden_isolation_namespaces =
            shop
            bank
        k8sharden_metadata_namespaces = apps
        k8sharden_allowed_host_ports =
            shop/8443
            ingress/443
        """
    )
    pytester.makepyfile(SHOW_SETTINGS)
    result = pytester.runpytest(
        "-s",
        "--workload-namespaces= shop,,bank ,shop",
        "--metadata-namespaces=web",
        "--allowed-node-ports=shop/frontend, shop/frontend",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*probe_concurrency=3, anonymous_allowed_paths=('/healthz',), "
            "workload_namespaces=('shop', 'bank'), isolation_namespaces=('shop', 'bank'), "
            "metadata_namespaces=('web',), allowed_node_ports=('shop/frontend',), "
            "allowed_host_ports=('shop/8443', 'ingress/443'))*"
        ]
    )


def test_unknown_provider_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--cluster=minikube")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--cluster: invalid choice: 'minikube'*"])


@pytest.mark.parametrize(
    ("args", "ini", "line"),
    [
        (
            ["--probe-timeout=abc"],
            "",
            "ERROR: k8sharden: --probe-timeout must be a number of seconds*",
        ),
        (
            ["--probe-timeout=-1"],
            "",
            "ERROR: k8sharden: --probe-timeout must be more than 0*",
        ),
        (
            ["--cluster=local", "--cluster-profile=paranoid"],
            "",
            "*--cluster-profile: invalid choice*",
        ),
        (
            ["--cluster-profile=insecure"],
            "",
            "ERROR: k8sharden: --cluster-profile applies to*",
        ),
        (["--probe-image= "], "", "ERROR: k8sharden: --probe-image must not be blank"),
        (
            [],
            "k8sharden_sweep_older_than = yesterday",
            "ERROR: k8sharden: k8sharden_sweep_older_than*",
        ),
        ([], "k8sharden_catalog = missing.yaml", "ERROR: k8sharden: *missing.yaml*"),
        (
            ["--release-table=missing.yaml"],
            "",
            "ERROR: k8sharden: release table missing.yaml: cannot be read*",
        ),
        ([], "k8sharden_release_table = gone.yaml", "ERROR: k8sharden: release table gone.yaml*"),
        (
            ["--exemptions=missing.yaml"],
            "",
            "ERROR: k8sharden: exemptions file missing.yaml: cannot be read*",
        ),
        (
            [],
            "k8sharden_exemptions = gone.yaml",
            "ERROR: k8sharden: exemptions file gone.yaml: cannot be read*",
        ),
        (
            [],
            "k8sharden_probe_concurrency = 0",
            "ERROR: k8sharden: k8sharden_probe_concurrency must be a whole number >= 1: '0'",
        ),
        (
            ["--allowed-node-ports=shop/frontend,frontend,a/b/c"],
            "",
            "ERROR: k8sharden: --allowed-node-ports takes NAMESPACE/SERVICE entries, got 'frontend', 'a/b/c'",
        ),
        (
            [],
            "k8sharden_allowed_host_ports = shop/http",
            "ERROR: k8sharden: --allowed-host-ports takes NAMESPACE/PORT entries, got 'shop/http'",
        ),
        (
            ["--admission-policies=ok,Not_A_Name"],
            "",
            "ERROR: k8sharden: --admission-policies must name ValidatingAdmissionPolicies*'Not_A_Name'",
        ),
    ],
)
def test_bad_values_end_with_one_line_and_no_traceback(
    pytester: pytest.Pytester, args: list[str], ini: str, line: str
) -> None:
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile("def test_it(cluster):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([line])
    errors = [text for text in result.errlines if text.startswith(("ERROR", "pytest: error"))]
    assert len(errors) == 1, result.errlines
    assert "Traceback" not in "\n".join(result.outlines + result.errlines)


def test_bad_ini_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nk8sharden_probe_timeout = forever\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: k8sharden: --probe-timeout must be a number of seconds, got 'forever'"]
    )


def test_kind_provider_without_a_kind_executable_ends_the_session_with_one_line(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile("def test_it(cluster):\n    pass\n")
    monkeypatch.setenv("PATH", str(pytester.path / "empty"))
    monkeypatch.setenv("K8SHARDEN_CACHE_DIR", str(pytester.path / "cache"))
    monkeypatch.setenv("K8SHARDEN_KIND_RELEASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("K8SHARDEN_BINARY_SOURCES", raising=False)  # every source, the download among them
    result = pytester.runpytest("--cluster=kind")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: k8sharden: no kind executable: cannot download http://127.0.0.1:9/v0.33.0/kind-*"]
    )


def test_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.cluster
        @pytest.mark.active
        @pytest.mark.severity("low")
        @pytest.mark.control("CIS-5.7.2")
        def test_marked():
            pass
        """
    )
    pytester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.cluster:*", "@pytest.mark.control(*ids):*", "@pytest.mark.active:*"]
    )


def test_unknown_marker_still_fails_under_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("import pytest\n\n@pytest.mark.controls('CIS-5.7.2')\ndef test_typo():\n    pass\n")
    result = pytester.runpytest("--strict-markers")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*'controls' not found in `markers` configuration option*"])


def test_unknown_control_ids_are_a_usage_error_naming_them(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.control("CIS-4.2.1", "CIS-42")
        def test_one():
            pass

        @pytest.mark.control("KUBELET-ANON")
        @pytest.mark.severity("catastrophic")
        def test_two():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: k8sharden: invalid check marks:",
            "  test_unknown_control_ids_*.py::test_one: unknown control id(s) 'CIS-42'*",
            "  *::test_two: severity must be one of critical, high, medium, low, info*",
        ]
    )


def test_read_only_skips_active_checks_with_a_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.active
        def test_creates_pods():
            raise AssertionError("must not run under --read-only")

        def test_reads():
            pass
        """
    )
    result = pytester.runpytest("--read-only", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        ["SKIPPED *--read-only: this check creates resources in the cluster or probes from pods"]
    )
    pytester.runpytest().assert_outcomes(passed=1, failed=1)
