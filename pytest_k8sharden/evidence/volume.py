"""The periodic job's evidence volume: one directory per run, named by its UTC start, and a ``latest``
pointer that moves to a run only once its bundle is complete and verified.

A run that crashed or whose files do not match its manifest is left where it is and never becomes
``latest``, so the next run's baseline is always a verified bundle.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Final

from pytest_k8sharden.evidence.bundle import EVIDENCE_FILE, ManifestError, verify_manifest

LATEST: Final = "latest"
RUN_NAME_FORMAT: Final = "%Y%m%dT%H%M%SZ"
RUN_NAME: Final = re.compile(r"^\d{8}T\d{6}Z$")


class VolumeError(RuntimeError):
    """A run cannot be published or found (the message says which and why)."""


def new_run(root: Path, started: datetime) -> Path:
    """A fresh run directory ``root/<UTC start>`` (``started`` must be UTC-aware)."""
    run = root / started.strftime(RUN_NAME_FORMAT)
    run.mkdir(parents=True)
    return run


def latest_bundle(root: Path) -> Path | None:
    """The run ``latest`` points to, when it holds an evidence.json."""
    pointer = root / LATEST
    if not pointer.is_symlink():
        return None
    run = root / os.readlink(pointer)
    return run if (run / EVIDENCE_FILE).is_file() else None


def publish(root: Path, run: Path) -> None:
    """Point ``latest`` at ``run`` (atomically: a reader sees the old run or the new one), after its bundle
    verified against its manifest."""
    try:
        diff = verify_manifest(run)
    except ManifestError as exc:
        raise VolumeError(f"{run.name} is not published as {LATEST}: {exc}") from None
    if not diff.clean:
        problems = "; ".join(f"{label}: {', '.join(names)}" for label, names in diff.by_label() if names)
        raise VolumeError(f"{run.name} is not published as {LATEST}: {problems}")
    staged = root / f".{LATEST}.{run.name}"
    staged.unlink(missing_ok=True)
    staged.symlink_to(run.name)
    staged.replace(root / LATEST)


def check_run_name(which: str) -> None:
    """Refuse what is neither ``latest`` nor a run's name (its UTC start, e.g. 20261202T031700Z)."""
    if which != LATEST and not RUN_NAME.match(which):
        raise VolumeError(f"{which!r} is neither {LATEST} nor a run's UTC start such as 20261202T031700Z")


def verified_latest(root: Path) -> tuple[Path | None, str]:
    """The run ``latest`` points to if it still matches its manifest (the next run's baseline), and why
    not otherwise."""
    latest = latest_bundle(root)
    if latest is None:
        return None, "no earlier run"
    try:
        clean = verify_manifest(latest).clean
    except ManifestError as exc:
        return None, f"{latest.name} is not used: {exc}"
    return (
        (latest, latest.name)
        if clean
        else (None, f"{latest.name} is not used: it no longer matches its manifest")
    )
