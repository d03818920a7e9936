"""Starting the cluster's processes detached, remembering them by PID, and stopping them by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.polling import wait_until


class ProcessError(RuntimeError):
    """A cluster process could not be started or died while starting."""


@dataclass(frozen=True)
class ProcessRecord:
    """A started process: its PID and the kernel's start time for it (so a reused PID is never killed)."""

    name: str
    pid: int
    start_ticks: int
    argv: tuple[str, ...]
    log: str
    cgroup: str = "control-plane"
    restarts: int = 0


def start_ticks(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (start time in clock ticks), or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


class Supervisor:
    """Owns the processes of one cluster; their records live in ``<state>/pids/``."""

    def __init__(self, state_dir: Path, cgroups: CgroupTree) -> None:
        self.pid_dir = state_dir / "pids"
        self.log_dir = state_dir / "logs"
        self.cgroups = cgroups

    def start(
        self,
        name: str,
        argv: Sequence[str],
        cgroup: str = "control-plane",
        env: Mapping[str, str] | None = None,
        restarts: int = 0,
    ) -> ProcessRecord:
        """Start ``argv`` detached (new session), logging to ``logs/<name>.log``, inside our cgroup."""
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cgroups.create(cgroup)
        log_path = self.log_dir / f"{name}.log"
        tree, target = self.cgroups, cgroup

        def join_cgroup() -> None:
            tree.add(os.getpid(), target)

        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=dict(os.environ, **(env or {})),
                preexec_fn=join_cgroup,
            )
        ticks = start_ticks(process.pid)
        record = ProcessRecord(name, process.pid, ticks or 0, tuple(argv), str(log_path), cgroup, restarts)
        (self.pid_dir / f"{name}.json").write_text(json.dumps(asdict(record)))
        return record

    def restart(self, record: ProcessRecord) -> ProcessRecord:
        """Start an exited process again with its command line and cgroup (its log goes on)."""
        return self.start(record.name, record.argv, cgroup=record.cgroup, restarts=record.restarts + 1)

    def records(self) -> list[ProcessRecord]:
        """Every process this cluster started, in start order."""
        if not self.pid_dir.exists():
            return []
        loaded = [json.loads(p.read_text()) for p in self.pid_dir.glob("*.json")]
        records = [ProcessRecord(**dict(r, argv=tuple(r["argv"]))) for r in loaded]
        return sorted(records, key=lambda r: r.start_ticks)

    def alive(self, record: ProcessRecord) -> bool:
        """Whether the recorded process still runs (same PID and start time, and not a zombie)."""
        if start_ticks(record.pid) != record.start_ticks:
            return False
        if _is_zombie(record.pid):
            _reap(record.pid)
            return False
        return True

    def stop(self, records: Sequence[ProcessRecord], grace_s: float = 10.0) -> None:
        """SIGTERM the recorded processes together, SIGKILL what is left after ``grace_s``, forget them."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            running = [r for r in records if self.alive(r)]
            for record in running:
                os.kill(record.pid, sig)
            wait_until(partial(self._none_alive, running), grace_s)
        for record in records:
            (self.pid_dir / f"{record.name}.json").unlink(missing_ok=True)

    def _none_alive(self, records: Sequence[ProcessRecord]) -> bool:
        return not any(self.alive(r) for r in records)

    def log_tail(self, name: str, lines: int = 20) -> str:
        """The last lines of a process's log, for error messages."""
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def require_alive(self, record: ProcessRecord) -> None:
        """Raise with the log's tail when ``record`` has died."""
        if not self.alive(record):
            raise self.exit_error(record)

    def exit_error(self, record: ProcessRecord) -> ProcessError:
        """The error saying ``record`` exited, with its log's tail."""
        return ProcessError(
            f"{record.name} exited; last lines of {record.log}:\n{self.log_tail(record.name)}"
        )


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours (a no-op for processes another run started)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
