"""Helpers around the stand-in `kind` executable (tests/standin/kind): publish it, read its calls."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from pytest_k8sharden.clusters.kind.binary import KIND_VERSION, asset_name

STANDIN = Path(__file__).parent / "standin" / "kind"


def publish(root: Path, checksum_of: bytes | None = None) -> bytes:
    """Put the stand-in where a kind release would be under ``root``, with its .sha256sum file
    (``checksum_of`` publishes the digest of other bytes, as a tampered download would look)."""
    payload = STANDIN.read_bytes()
    directory = root / KIND_VERSION
    directory.mkdir(parents=True, exist_ok=True)
    name = asset_name()
    (directory / name).write_bytes(payload)
    digest = hashlib.sha256(payload if checksum_of is None else checksum_of).hexdigest()
    (directory / f"{name}.sha256sum").write_text(f"{digest}  {name}\n")
    return payload


def put_on_path(directory: Path) -> Path:
    """A copy of the stand-in named `kind` in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / "kind"
    shutil.copy2(STANDIN, target)
    return target


def calls(state: Path) -> list[list[str]]:
    """Every argument vector the stand-in was run with, in order."""
    log = state / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
