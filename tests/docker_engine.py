"""A Docker Engine for the kind tests, in a network namespace and cgroup tree of its own.

dockerd runs inside its own network namespace (a veth pair to the host, no default route), so its
bridges and iptables rules live and die there, and inside a private mount namespace, so its mounts
vanish with it. Every process it starts is in the cgroup tree ``/<name>/``. It is registered with
``docker_runtime.py`` as its default runtime, which makes ``--privileged`` containers start on this
machine. ``down`` stops it by PID and removes containers, networks, the namespace, the cgroups and the
data. Run ``scripts/docker-engine up|down|status``; the harness uses ``running_engine()``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pytest_k8sharden.clusters.local.cgroups import CgroupTree
from pytest_k8sharden.clusters.local.network import VethNamespace
from pytest_k8sharden.clusters.local.processes import Supervisor
from pytest_k8sharden.clusters.local.state import NAME_PREFIX_ENV
from pytest_k8sharden.polling import wait_until

ENGINE_ROOT: Final = Path("/var/lib/k8sharden-docker")
RUNTIME_NAME: Final = "k8sharden-runc"
RUNTIME_WRAPPER: Final = Path(__file__).with_name("docker_runtime.py")
START_TIMEOUT_S: Final = 60.0
_MODPROBE_STUB: Final = """#!/bin/sh
echo "k8sharden docker engine: not loading kernel modules (modprobe $*)" >&2
exit 1
"""
"""dockerd and its containerd run ``modprobe`` (overlay, aufs): a host-wide change we never make."""


class EngineError(RuntimeError):
    """The engine could not be installed, started or stopped (the message says why)."""


@dataclass(frozen=True)
class DockerEngine:
    """One test engine, everything named after ``name``."""

    name: str

    @property
    def root(self) -> Path:
        """Data root, exec root, socket, pidfile and logs, all under one directory."""
        return ENGINE_ROOT / self.name

    @property
    def socket(self) -> Path:
        """dockerd's API socket."""
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The ``DOCKER_HOST`` that reaches this engine."""
        return f"unix://{self.socket}"

    @property
    def network(self) -> VethNamespace:
        """dockerd's network namespace: a /30 of 198.18.192.0/18, away from the local clusters' ranges."""
        digest = hashlib.sha256(self.name.encode()).hexdigest()
        third = 192 + int(digest[:4], 16) % 64
        return VethNamespace(f"{self.name}-net", f"kd{digest[:10]}", f"198.18.{third}.1", f"198.18.{third}.2")

    @property
    def cgroups(self) -> CgroupTree:
        """dockerd in ``/<name>/dockerd``, containers in ``/<name>/containers/<id>``."""
        return CgroupTree(self.name)

    @property
    def supervisor(self) -> Supervisor:
        """Starts dockerd and remembers it by PID."""
        return Supervisor(self.root, self.cgroups)

    def environ(self) -> dict[str, str]:
        """Environment for docker and kind clients of this engine (run them inside ``network``)."""
        return dict(os.environ, DOCKER_HOST=self.host)

    def docker(self, *arguments: str, check: bool = True, timeout: float = 300) -> str:
        """Run the docker CLI against this engine (inside its network namespace); return stdout."""
        command = [*self.network.enter(), "docker", *arguments]
        done = subprocess.run(
            command, env=self.environ(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and done.returncode != 0:
            raise EngineError(f"docker {' '.join(arguments)} failed: {done.stderr.strip()}")
        return done.stdout

    def running(self) -> bool:
        """Whether our dockerd runs and answers on its socket."""
        alive = any(self.supervisor.alive(r) for r in self.supervisor.records())
        return alive and self.socket.exists() and _answers(self)

    def up(self) -> None:
        """Install dockerd if missing, build namespace and cgroups, start dockerd, wait until it answers."""
        if self.running():
            return
        install_docker_engine()
        self.down()
        for directory in ("data", "exec", "bin"):
            (self.root / directory).mkdir(parents=True, exist_ok=True)
        stub = self.root / "bin" / "modprobe"
        stub.write_text(_MODPROBE_STUB)
        stub.chmod(0o755)
        self.network.create()
        self.network.set_sysctl("net.ipv4.ip_forward", "1")
        self.cgroups.create("containers")
        record = self.supervisor.start("dockerd", self.dockerd_command(), cgroup="dockerd", env=self._path())
        if not wait_until(lambda: self.socket.exists() and _answers(self), START_TIMEOUT_S):
            self.supervisor.require_alive(record)
            tail = self.supervisor.log_tail("dockerd")
            raise EngineError(f"dockerd did not answer within {START_TIMEOUT_S:.0f} s:\n{tail}")

    def dockerd_command(self) -> list[str]:
        """dockerd inside our network namespace and a private mount namespace, with the runtime wrapper."""
        return [
            *self.network.enter(),
            *("unshare", "--mount", "--propagation", "private", "--"),
            "dockerd",
            f"--data-root={self.root / 'data'}",
            f"--exec-root={self.root / 'exec'}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.host}",
            f"--cgroup-parent=/{self.name}/containers",
            f"--add-runtime={RUNTIME_NAME}={RUNTIME_WRAPPER}",
            f"--default-runtime={RUNTIME_NAME}",
            "--storage-driver=overlay2",
        ]

    def down(self) -> list[str]:
        """Remove containers and networks, stop dockerd by PID, remove namespace, cgroups and data.

        Returns what could not be removed (empty when everything is gone).
        """
        if self.socket.exists() and _answers(self):
            containers = self.docker("ps", "-aq").split()
            if containers:
                self.docker("rm", "-f", *containers)
            self.docker("network", "prune", "-f")
        self.supervisor.stop(self.supervisor.records(), grace_s=20)
        self.cgroups.kill_all()
        left = [str(p) for p in self.cgroups.remove()]
        self.network.destroy()
        if self.network.exists():
            left.append(str(self.network.netns_path))
        shutil.rmtree(self.root, ignore_errors=True)
        if self.root.exists():
            left.append(str(self.root))
        return left

    def _path(self) -> Mapping[str, str]:
        return {"PATH": f"{self.root / 'bin'}:{os.environ.get('PATH', '')}"}


def host_firewall() -> str:
    """The host namespace's iptables rules (filter and nat) and nftables ruleset, to compare over a test."""
    commands = (["iptables", "-S"], ["iptables", "-t", "nat", "-S"], ["nft", "list", "ruleset"])
    return "\n".join(subprocess.run(c, capture_output=True, text=True, check=True).stdout for c in commands)


def import_busybox_image(engine: DockerEngine, tag: str) -> None:
    """A one-file image (Debian's static busybox as /bin/busybox and /bin/sh), imported without a registry."""
    busybox = shutil.which("busybox")
    if busybox is None:
        raise EngineError("no busybox on PATH: apt-get install busybox-static")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(busybox, arcname="bin/busybox")
            link = tarfile.TarInfo("bin/sh")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        engine.docker("import", "--change", "ENV PATH=/bin", str(archive), tag)


def _answers(engine: DockerEngine) -> bool:
    return engine.docker("version", check=False, timeout=20) != ""


def default_engine() -> DockerEngine:
    """``<prefix>-docker``, the prefix from ``$K8SHARDEN_LOCAL_NAME_PREFIX`` as for the local clusters."""
    return DockerEngine(f"{os.environ.get(NAME_PREFIX_ENV) or 'k8sharden'}-docker")


def install_docker_engine() -> None:
    """Debian's docker.io when dockerd is missing (its service stays stopped: we start dockerd ourselves)."""
    if shutil.which("dockerd") is not None:
        return
    if shutil.which("apt-get") is None:
        raise EngineError("no dockerd and no apt-get to install Debian's docker.io")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "docker.io"]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        if done.returncode != 0:
            raise EngineError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")


@contextlib.contextmanager
def running_engine(engine: DockerEngine | None = None) -> Iterator[DockerEngine]:
    """An engine that is up for the block and taken down after it, also when the block fails."""
    chosen = engine or default_engine()
    chosen.up()
    try:
        yield chosen
    finally:
        left = chosen.down()
        if left:
            raise EngineError(f"left behind: {left}")


def main(argv: Sequence[str] | None = None) -> int:
    """``docker_engine.py up|down|status [--name N]``."""
    parser = argparse.ArgumentParser(prog="scripts/docker-engine", description=__doc__)
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--name", default=default_engine().name, help="engine name (default: %(default)s)")
    options = parser.parse_args(argv)
    engine = DockerEngine(options.name)
    if options.action == "up":
        engine.up()
        clients = f"{' '.join(engine.network.enter())} env DOCKER_HOST={engine.host} docker ..."
        print(f"{engine.name}: up; run clients as: {clients}")
        return 0
    if options.action == "down":
        left = engine.down()
        print(f"{engine.name}: down" + (f"; left behind: {left}" if left else ""))
        return 1 if left else 0
    print(f"{engine.name}: {'running' if engine.running() else 'not running'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
