"""File locks between processes on this machine: local clusters' address slots, each cluster's pod census."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) for the block; other holders wait."""
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def census_lock(server: str) -> AbstractContextManager[None]:
    """The lock of the pod census of the cluster at ``server``: held while the scanner's visiting pods stand
    in namespaces that checks audit, and while a check reads every pod, so that no check (of a parallel
    worker, or of another run on this machine) audits the scanner's own visitors."""
    digest = hashlib.sha256(server.encode()).hexdigest()[:16]
    return exclusive(Path(tempfile.gettempdir()) / f"pytest-k8sharden-census-{digest}.lock")
