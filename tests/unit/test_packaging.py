"""Packaging: every package is listed, a built wheel carries the suites, the catalog and the plugin, and
once installed into a fresh virtualenv it runs from any directory."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from pathlib import Path

import pytest
from user_install import UserInstall, plant_stray_configuration

ROOT = Path(__file__).parents[2]


def _setuptools() -> dict[str, object]:
    config: dict[str, object] = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return config


def test_every_package_folder_is_listed() -> None:
    listed = set(_setuptools()["packages"])  # type: ignore[call-overload]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "pytest_k8sharden").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
    assert _setuptools()["package-dir"] == {"pytest_k8sharden.suites": "suites"}
    assert (ROOT / "suites" / "__init__.py").is_file()


def test_wheel_carries_suites_catalog_and_entry_points(user_install: UserInstall) -> None:
    wheel = user_install.wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pytest_k8sharden/suites/__init__.py" in names
    assert "pytest_k8sharden/controls.yaml" in names
    assert "pytest_k8sharden/run.ini" in names
    assert "pytest_k8sharden/py.typed" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\nk8sharden = pytest_k8sharden.plugin" in text
    assert "k8sharden = pytest_k8sharden.cli:main" in text


def _help(command: list[str | Path], directory: Path) -> str:
    done = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_installed_commands_list_our_option_group(user_install: UserInstall, tmp_path: Path) -> None:
    k8sharden = _help([user_install.k8sharden, "--help"], tmp_path)
    assert all(command in k8sharden for command in ("run", "local", "evidence", "sweep")), k8sharden
    pytest_help = _help([user_install.python, "-m", "pytest", "--help"], tmp_path)
    assert "pytest-k8sharden: Kubernetes security conformance:" in pytest_help
    assert "--cluster=PROVIDER" in pytest_help and "--evidence-dir=DIR" in pytest_help


def test_k8sharden_run_ignores_configuration_where_it_starts(
    user_install: UserInstall, tmp_path: Path
) -> None:
    kube = tmp_path / "kube"
    for directory in (tmp_path, kube):
        plant_stray_configuration(directory)
    (kube / "config").write_text("apiVersion: v1\nkind: Config\n")
    collected = []
    # --kubeconfig with a space: pytest would take its folder for a place to look for configuration
    for start, kubeconfig in ((tmp_path, "kube/config"), (kube, "config")):
        command = [str(user_install.k8sharden), "run", "--collect-only", "-q", "--kubeconfig", kubeconfig]
        done = subprocess.run(command, cwd=start, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
        collected.append([line for line in done.stdout.splitlines() if "::" in line])
    assert collected[0] == collected[1], "node ids depend on where the run starts"
    assert len(collected[0]) >= 70 and all(nodeid.startswith("suites/test_") for nodeid in collected[0])
