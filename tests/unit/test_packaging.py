"""Packaging: every package is listed, and a built wheel carries the suites, the catalog and the plugin."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

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


def test_wheel_carries_suites_catalog_and_entry_points(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("pytest_k8sharden", "suites"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    command = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        str(tmp_path),
    ]
    subprocess.run([*command, str(source)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("pytest_k8sharden-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "pytest_k8sharden/suites/__init__.py" in names
    assert "pytest_k8sharden/controls.yaml" in names
    assert "pytest_k8sharden/py.typed" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]\nk8sharden = pytest_k8sharden.plugin" in text
    assert "k8sharden = pytest_k8sharden.cli:main" in text
