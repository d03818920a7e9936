"""Kubeconfig credentials that never rest on disk: the client's temporary files moved into memory.

The kubernetes client writes a kubeconfig's inline ``client-key-data``, ``client-certificate-data`` and
``certificate-authority-data`` to files in the temporary directory and removes them only when the
interpreter exits normally: a killed run leaves the private key behind. Here the client writes them into
a private directory of ours instead; each file moves at once into an anonymous in-memory file
(``memfd_create``), the configuration is pointed at ``/proc/self/fd/N``, and the directory is removed.
The client's token refresh hook points the configuration back at its files before every request (and may
write new ones): it is wrapped to move them again. Memory files vanish with the process, however it ends.
Where the platform has no memory files, the directory stays until the process exits normally, as the
client's own files would.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from kubernetes import client

FILE_SETTINGS: Final = ("ssl_ca_cert", "cert_file", "key_file")
"""The Configuration attributes that name credential files the client wrote."""
_in_memory: dict[bytes, str] = {}
"""Memory files by content, kept open for the life of the process (one per distinct credential)."""
_moved: dict[Path, str] = {}
"""Where each file the client wrote went, for the refresh hook that names it again after its removal."""
SUPPORTED: Final = hasattr(os, "memfd_create")


@contextlib.contextmanager
def private_directory() -> Iterator[Path]:
    """A directory only we can read for the client's credential files, removed when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="k8sharden-credentials-"))
    try:
        yield directory
    finally:
        if SUPPORTED:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            atexit.register(shutil.rmtree, directory, ignore_errors=True)


def keep_in_memory(configuration: client.Configuration, directory: Path) -> None:
    """Point `configuration` at memory copies of the credential files in `directory`, now and after every
    refresh of the client's credentials."""
    if not SUPPORTED:
        return
    _move(configuration, directory)
    refresh = configuration.refresh_api_key_hook
    if refresh is None:
        return

    def refresh_then_move(refreshed: Any) -> None:
        refresh(refreshed)  # sets the hook again, to an equivalent of `refresh`
        _move(refreshed, directory)
        refreshed.refresh_api_key_hook = refresh_then_move

    configuration.refresh_api_key_hook = refresh_then_move


def _move(configuration: client.Configuration, directory: Path) -> None:
    for setting in FILE_SETTINGS:
        name = getattr(configuration, setting, None)
        if name and Path(name).parent == directory:
            setattr(configuration, setting, _memory_copy(Path(name)))
    shutil.rmtree(directory, ignore_errors=True)


def _memory_copy(path: Path) -> str:
    """The memory file for a credential file the client wrote (read now, or moved before)."""
    if path.exists():
        _moved[path] = in_memory(path.read_bytes())
    return _moved[path]


def in_memory(content: bytes) -> str:
    """A path to an anonymous memory file holding `content`, readable by this process only."""
    if content not in _in_memory:
        descriptor = os.memfd_create("k8sharden-credential", os.MFD_CLOEXEC)
        with open(descriptor, "wb", closefd=False) as memory:
            memory.write(content)
        _in_memory[content] = f"/proc/self/fd/{descriptor}"
    return _in_memory[content]
