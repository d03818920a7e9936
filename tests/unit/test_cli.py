"""The k8sharden command: evidence verify, the local subcommands' arguments, `run` and `periodic`."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_k8sharden import cli
from pytest_k8sharden.evidence.bundle import EVIDENCE_FILE, RunInfo, write_bundle, write_manifest
from pytest_k8sharden.evidence.volume import latest_bundle, new_run, publish

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """An evidence directory with an HTML report, evidence.json and the manifest."""
    (tmp_path / "report.html").write_text("<html/>")
    write_bundle(tmp_path, RunInfo(NOW, NOW, "0.1.0", None, None), [])
    return tmp_path


def test_verify_accepts_an_untouched_bundle(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evidence", "verify", str(bundle)]) == 0
    assert capsys.readouterr().out == f"OK: every file in {bundle} matches manifest.sha256\n"


def test_verify_reports_every_difference(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (bundle / "report.html").write_text("<html>tampered</html>")
    (bundle / "evidence.json").unlink()
    (bundle / "notes.txt").write_text("added later")
    assert cli.main(["evidence", "verify", str(bundle)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == ["changed: report.html", "missing: evidence.json", "extra: notes.txt"]
    assert "does not match its manifest.sha256" in captured.err


def test_verify_without_manifest_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evidence", "verify", str(tmp_path)]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_local_arguments_and_defaults() -> None:
    parser = cli.build_parser()
    up = parser.parse_args(["local", "up", "--profile", "insecure"])
    assert (up.action, up.profile, up.name) == ("up", "insecure", "k8sharden")
    assert parser.parse_args(["local", "down", "--name", "lab"]).name == "lab"
    assert parser.parse_args(["local", "status"]).name == "k8sharden"
    with pytest.raises(SystemExit) as raised:
        parser.parse_args(["local", "up", "--profile", "paranoid"])
    assert raised.value.code == 2


def test_local_without_the_lifecycle_module_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "LIFECYCLE_MODULE", "pytest_k8sharden.not_installed")
    with pytest.raises(SystemExit, match="the local cluster is not available in this installation"):
        cli.main(["local", "status"])


def test_run_finds_the_shipped_suites(tmp_path: Path) -> None:
    # `-p no:python` collects no test file: this is about finding the installed package, not the suites.
    command = [sys.executable, "-m", "pytest_k8sharden.cli", "run", "--collect-only", "-p", "no:python"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, output
    assert "module or package not found" not in output
    assert "PytestAssertRewriteWarning" not in output


def _periodic(root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_k8sharden.cli", "periodic", "--root", str(root),
               "--collect-only", "-p", "no:python"]  # fmt: skip
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def test_periodic_compares_with_latest_and_never_publishes_a_run_without_a_bundle(tmp_path: Path) -> None:
    """No check runs here (``-p no:python``), so no bundle is written: the run directory stays, latest does
    not move to it, and pytest's exit status is kept."""
    root = tmp_path / "volume"
    first = _periodic(root, tmp_path)
    assert first.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, first.stderr
    assert "baseline: no earlier run" in first.stderr
    assert "is not published as latest: cannot read" in first.stderr
    assert latest_bundle(root) is None and len(list(root.iterdir())) == 1

    verified = new_run(root, datetime(2026, 12, 2, 3, 17, tzinfo=UTC))
    (verified / EVIDENCE_FILE).write_text('{"results": []}')
    write_manifest(verified)
    publish(root, verified)
    second = _periodic(root, tmp_path)
    assert "baseline: 20261202T031700Z\n" in second.stderr, second.stderr
    assert latest_bundle(root) == verified
    (verified / EVIDENCE_FILE).write_text('{"results": ["edited"]}')
    third = _periodic(root, tmp_path)
    assert "baseline: 20261202T031700Z is not used: it no longer matches its manifest" in third.stderr
