"""Verified downloads: a release file is only kept when it matches the SHA-256 its project publishes."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Final

CACHE_ENV: Final = "K8SHARDEN_CACHE_DIR"
DOWNLOAD_TIMEOUT_S: Final = 60.0


class DownloadError(RuntimeError):
    """A release file could not be obtained (the message says which and why)."""


class ChecksumMismatch(DownloadError):
    """A downloaded release file does not match the checksum its project publishes."""


def cache_root() -> Path:
    """``$K8SHARDEN_CACHE_DIR`` or ``~/.cache/pytest-k8sharden``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "pytest-k8sharden"


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def published_checksum(checksum_file: str, filename: str) -> str:
    """The SHA-256 for ``filename`` in a published checksum file (a bare digest or ``digest  name`` lines)."""
    entries = [line.split() for line in checksum_file.splitlines() if line.strip()]
    if len(entries) == 1 and len(entries[0]) == 1:
        return entries[0][0].lower()
    for entry in entries:
        if len(entry) >= 2 and entry[-1].lstrip("*").rsplit("/", 1)[-1] == filename:
            return entry[0].lower()
    raise DownloadError(f"the published checksum file lists no entry for {filename}")


def download(url: str) -> bytes:
    """The body of ``url`` (urllib's errors are OSErrors)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        data: bytes = response.read()
        return data


def fetch_verified(url: str, checksum_url: str) -> bytes:
    """Download ``url`` and return it only if it matches the SHA-256 published at ``checksum_url``.

    Raises ChecksumMismatch on a mismatch (nothing is written anywhere), DownloadError when either
    file cannot be fetched.
    """
    try:
        payload = download(url)
        expected = published_checksum(download(checksum_url).decode(), url.rsplit("/", 1)[1])
    except OSError as exc:
        raise DownloadError(f"cannot download {url}: {exc}") from None
    actual = sha256(payload)
    if actual != expected:
        raise ChecksumMismatch(
            f"{url}: SHA-256 {actual} does not match the published {expected}; not installed"
        )
    return payload


def install_executable(target: Path, payload: bytes) -> Path:
    """Write ``payload`` to ``target`` as an executable, atomically (never a half-written binary)."""
    partial = target.with_suffix(".partial")
    partial.write_bytes(payload)
    partial.chmod(0o755)
    partial.replace(target)
    return target
