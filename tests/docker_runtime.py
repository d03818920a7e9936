#!/usr/bin/python3
"""An OCI runtime for the test engine: runc, minus the capabilities this machine's bounding set lacks.

dockerd gives a ``--privileged`` container every capability the kernel knows; runc then fails with
"unable to apply caps: operation not permitted" when one of them (here CAP_SYS_RESOURCE) is missing from
the bounding set of the machine it runs on. This wrapper removes such capabilities from the container's
``config.json`` (``create``/``run``) or the process file of ``exec``, and CAP_SYS_MODULE always (a test
container never loads a kernel module into the host's kernel), and then execs runc with the same
arguments. It runs as a dockerd runtime (``--add-runtime``), so it uses the system Python alone.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

_CAPABILITY_SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")
_CAP_NAMES = {24: "CAP_SYS_RESOURCE"}
"""Numbers of the capabilities this wrapper knows to look for in the bounding set (capability(7))."""
NEVER_GRANTED = frozenset({"CAP_SYS_MODULE"})


def capabilities_to_drop(status: str) -> set[str]:
    """NEVER_GRANTED, and capabilities of ``_CAP_NAMES`` absent from the ``CapBnd`` line of a
    /proc/PID/status text."""
    for line in status.splitlines():
        if line.startswith("CapBnd:"):
            bounding = int(line.split()[1], 16)
            return {name for bit, name in _CAP_NAMES.items() if not bounding & (1 << bit)} | NEVER_GRANTED
    return set(NEVER_GRANTED)


def without_capabilities(capabilities: dict[str, Any], dropped: set[str]) -> dict[str, Any]:
    """An OCI ``capabilities`` object with ``dropped`` removed from each of its five sets."""
    return {
        key: [c for c in value if c not in dropped] if key in _CAPABILITY_SETS else value
        for key, value in capabilities.items()
    }


def spec_file(arguments: list[str]) -> tuple[Path, bool] | None:
    """The JSON file runc reads the process from: (path, whether it is a whole bundle's config.json)."""
    command = next((a for a in arguments if a in ("create", "run", "exec")), None)
    if command is None:
        return None
    if command == "exec":
        for flag in ("--process", "-p"):
            if flag in arguments:
                return Path(arguments[arguments.index(flag) + 1]), False
        return None
    bundle = Path.cwd()
    for flag in ("--bundle", "-b"):
        if flag in arguments:
            bundle = Path(arguments[arguments.index(flag) + 1])
    return bundle / "config.json", True


def rewrite(path: Path, whole_bundle: bool, dropped: set[str]) -> None:
    """Remove ``dropped`` from the process capabilities stored in ``path``."""
    document = json.loads(path.read_text())
    process = document["process"] if whole_bundle else document
    if "capabilities" in process:
        process["capabilities"] = without_capabilities(process["capabilities"], dropped)
        path.write_text(json.dumps(document))


def main() -> None:
    """Rewrite the spec runc is about to read, then become runc."""
    arguments = sys.argv[1:]
    dropped = capabilities_to_drop(Path("/proc/self/status").read_text())
    found = spec_file(arguments)
    if found is not None and found[0].is_file():
        rewrite(found[0], found[1], dropped)
    runc = shutil.which("runc") or "/usr/sbin/runc"
    os.execv(runc, [runc, *arguments])


if __name__ == "__main__":
    main()
