"""A user's installation of the plugin: the wheel built from this checkout, in a fresh virtualenv.

The integration tests run the shipped suites from it (``k8sharden run`` and ``pytest --pyargs``), from a
directory that has nothing to do with the checkout, as someone who ran ``pip install pytest-k8sharden``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).parents[1]
INSTALL_TIMEOUT = 900
"""Seconds a wheel build or a pip install may take (the dependencies come from the package index)."""


@dataclass(frozen=True)
class UserInstall:
    """A virtualenv with the plugin's wheel (and its runtime dependencies only) installed."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        """The virtualenv's interpreter."""
        return self.venv / "bin" / "python"

    @property
    def k8sharden(self) -> Path:
        """The virtualenv's ``k8sharden`` console script."""
        return self.venv / "bin" / "k8sharden"


def fresh_checkout(directory: Path) -> Path:
    """Copy the files git tracks in this checkout (as they are in the working tree) into `directory`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, target = ROOT / name, directory / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return directory


def build_wheel(out: Path) -> Path:
    """Build the plugin's wheel from a copy of the checkout's sources (no build files in the checkout)."""
    source = out / "src"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("pytest_k8sharden", "suites"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    command += ["--wheel-dir", str(out), str(source)]
    subprocess.run(command, check=True, capture_output=True, timeout=INSTALL_TIMEOUT)
    return next(out.glob("pytest_k8sharden-*.whl"))


def install_wheel(work: Path) -> UserInstall:
    """Build the wheel and install it into a fresh virtualenv under `work`, as a user would with pip."""
    wheel = build_wheel(work / "dist")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT)
    installed = UserInstall(wheel, venv)
    pip = [str(installed.python), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False)
    assert done.returncode == 0, f"pip install of {wheel.name} failed:\n{done.stdout}\n{done.stderr}"
    return installed


def plant_stray_configuration(directory: Path) -> None:
    """What a user may have lying around where a run starts: none of it may change which checks run."""
    (directory / "tests").mkdir(parents=True, exist_ok=True)
    (directory / "pytest.ini").write_text("[pytest]\naddopts = -k nothing\n")
    (directory / "conftest.py").write_text("raise RuntimeError('a stray conftest.py was loaded')\n")
    (directory / "tests" / "conftest.py").write_text("import a_module_nobody_installed\n")
