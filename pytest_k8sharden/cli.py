"""The `k8sharden` command: local cluster lifecycle, evidence verification, and running the shipped suites."""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from pytest_k8sharden.clusters.local.components import KUBERNETES
from pytest_k8sharden.durations import DEFAULT_SWEEP_AGE
from pytest_k8sharden.evidence.bundle import MANIFEST_FILE, ManifestError, verify_manifest
from pytest_k8sharden.profiles import PROFILE_NAMES, get_profile
from pytest_k8sharden.shipped import suites_directory

if TYPE_CHECKING:
    from pytest_k8sharden.kube import Kube

DEFAULT_LOCAL_NAME = "k8sharden"
KUBERNETES_VERSION = KUBERNETES.version
LIFECYCLE_MODULE = "pytest_k8sharden.clusters.local.lifecycle"
RUN_INI = Path(__file__).with_name("run.ini")
"""The pytest configuration of `k8sharden run`: no pytest.ini, tox.ini or pyproject.toml is looked for."""
EXIT_USAGE = 2
HISTORY_PAGE = "k8sharden-history.html"


def _progress(message: str) -> None:
    print(f"k8sharden: {message}", file=sys.stderr, flush=True)


def _lifecycle() -> ModuleType:
    try:
        return importlib.import_module(LIFECYCLE_MODULE)
    except ImportError as exc:
        raise SystemExit(
            f"k8sharden: the local cluster is not available in this installation ({exc})"
        ) from None


def _local(args: argparse.Namespace) -> int:
    lifecycle = _lifecycle()
    try:
        if args.action == "up":
            kubeconfig = lifecycle.up(profile=args.profile, name=args.name, progress=_progress)
            print(kubeconfig)
        elif args.action == "down":
            lifecycle.down(name=args.name, progress=_progress)
        elif args.action == "build":
            for found in lifecycle.build(progress=_progress):
                for name, path in sorted(found.paths.items()):
                    print(f"{found.component} {found.version}\t{name}\t{path}")
        else:
            print(lifecycle.status(name=args.name))
    except lifecycle.LocalClusterError as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return 1
    return 0


def _verify(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    try:
        diff = verify_manifest(directory)
    except ManifestError as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return EXIT_USAGE
    for label, names in diff.by_label():
        for name in names:
            print(f"{label}: {name}")
    if not diff.clean:
        print(f"k8sharden: {directory} does not match its {MANIFEST_FILE}", file=sys.stderr)
        return 1
    print(f"OK: every file in {directory} matches {MANIFEST_FILE}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from pytest_k8sharden.evidence.history import load_history
    from pytest_k8sharden.evidence.history_page import render_history

    history = load_history([Path(directory) for directory in args.directories])
    for refused in history.refused:
        print(f"k8sharden: refused {refused.source}: {refused.reason}", file=sys.stderr)
    out = Path(args.out)
    out.write_text(render_history(history), encoding="utf-8")
    print(f"{out}: {len(history.runs)} verified runs, {len(history.refused)} refused")
    return 1 if history.refused or not history.runs else 0


def _kind_configs(args: argparse.Namespace) -> int:
    from pytest_k8sharden.clusters.kind.config import DEFAULT_FILES_DIR, dump, write_files

    out = Path(args.out)
    files_dir = Path(args.files_dir) if args.files_dir else None
    stale = []
    for name in PROFILE_NAMES:
        target = out / f"{name}.yaml"
        text = dump(get_profile(name), files_dir or DEFAULT_FILES_DIR)
        if args.check:
            if not target.is_file() or target.read_text() != text:
                stale.append(str(target))
            continue
        out.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        print(target)
        if files_dir:
            for path in write_files(get_profile(name), files_dir):
                print(path)
    if stale:
        print(f"k8sharden: out of date (run `k8sharden kind-configs`): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


def _kind(args: argparse.Namespace) -> int:
    from pytest_k8sharden.clusters.debian import RootfsError
    from pytest_k8sharden.clusters.kind.nodeimage import Docker, build_node_image, kind_config_patches

    try:
        tag = build_node_image(Docker(), print, rebuild=args.rebuild)
    except RootfsError as exc:  # NodeImageError, or debootstrap's
        print(f"k8sharden: {exc}", file=sys.stderr)
        return 1
    print("kind config kubeadmConfigPatches for this image:")
    for patch in kind_config_patches():
        print(f"  - {patch}")
    print(tag)
    return 0


def _build_image(args: argparse.Namespace) -> int:
    from pytest_k8sharden.clusters.debian import RootfsError
    from pytest_k8sharden.clusters.scanner import CONTAINERFILE, build_scanner_image, default_source

    source = Path(args.source) if args.source else default_source()
    if source is None or not (source / CONTAINERFILE).is_file():
        print(f"k8sharden: --source: a checkout of pytest-k8sharden (with {CONTAINERFILE})", file=sys.stderr)
        return EXIT_USAGE
    try:
        image = build_scanner_image(source, _progress, rebuild=args.rebuild)
    except RootfsError as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return 1
    print(image.archive)
    if args.import_local:
        lifecycle = _lifecycle()
        try:
            print(lifecycle.import_image(args.import_local, image.archive, progress=_progress))
        except lifecycle.LocalClusterError as exc:
            print(f"k8sharden: {exc}", file=sys.stderr)
            return 1
    print(image.reference)
    return 0


def _connect(args: argparse.Namespace) -> Kube:
    """The API clients of ``--kubeconfig`` (else $KUBECONFIG, else ~/.kube/config) and ``--context``."""
    from pytest_k8sharden.clusters.base import ClusterAccess
    from pytest_k8sharden.kube import connect

    path = args.kubeconfig or os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")
    return connect(ClusterAccess("existing", None, Path(path).expanduser(), args.context))


def _fetch(args: argparse.Namespace) -> int:
    from pytest_k8sharden.evidence.volume import VolumeError
    from pytest_k8sharden.fetch import Volume, fetch_run
    from pytest_k8sharden.kube import KubeError

    try:
        kube = _connect(args)
        try:
            fetched = fetch_run(kube, Volume(namespace=args.namespace), args.run, Path(args.directory))
        finally:
            kube.close()
    except (KubeError, VolumeError, FileExistsError) as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return 1
    for label, names in fetched.diff.by_label():
        for name in names:
            print(f"{label}: {name}")
    if not fetched.diff.clean:
        print(f"k8sharden: {fetched.directory} does not match its {MANIFEST_FILE}", file=sys.stderr)
        return 1
    print(f"OK: every file in {fetched.directory} matches {MANIFEST_FILE}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from pytest_k8sharden.durations import parse_age
    from pytest_k8sharden.evidence.observation import utc_now
    from pytest_k8sharden.kube import KubeError
    from pytest_k8sharden.ownership import sweep

    try:
        age = parse_age(args.older_than)
    except ValueError as exc:
        print(f"k8sharden: --older-than: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        kube = _connect(args)
        try:
            swept = sweep(kube, age, utc_now())
        finally:
            kube.close()
    except KubeError as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return 1
    for item in swept:
        print(f"deleted {item.describe()} (run {item.run or 'unknown'})")
    print(f"k8sharden: swept {len(swept)} objects of pytest-k8sharden runs older than {args.older_than}")
    return 0


def pytest_command(suites: Path, pytest_args: Sequence[str]) -> list[str]:
    """pytest's command line for the shipped suites, the same whatever directory it starts in.

    The suites' folder is the only path pytest is given, so conftest.py files are read only from it (and
    from paths the user adds), never from the working directory or its ``test*`` folders; ``-c`` names our
    own ini file, so no pytest.ini, tox.ini or pyproject.toml is looked for, there or next to a file named
    in an option (``--kubeconfig PATH``); ``--rootdir`` is the suites' parent, so node ids read
    ``suites/test_....py::...`` wherever the run starts. The user's arguments come after ours: their own
    ``-c FILE`` or ``--rootdir`` wins.
    """
    return [
        sys.executable, "-m", "pytest", "-c", str(RUN_INI), f"--rootdir={suites.parent}",
        f"--confcutdir={suites}", "-p", "no:cacheprovider", *pytest_args, str(suites),
    ]  # fmt: skip


def _periodic(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from pytest_k8sharden.evidence.bundle import EVIDENCE_FILE
    from pytest_k8sharden.evidence.volume import LATEST, VolumeError, new_run, publish, verified_latest

    root = Path(args.root)
    baseline, described = verified_latest(root)
    run = new_run(root, datetime.now(UTC))
    options = ["--evidence-dir", str(run), "--html", str(run / "report.html"), "--self-contained-html"]
    if baseline is not None:
        options += ["--baseline", str(baseline / EVIDENCE_FILE)]
    _progress(f"run {run.name}, baseline: {described}")
    status = subprocess.run(pytest_command(suites_directory(), [*options, *args.pytest_args]), check=False)
    try:
        publish(root, run)
    except VolumeError as exc:
        print(f"k8sharden: {exc}", file=sys.stderr)
        return status.returncode or 1
    _progress(f"{LATEST} -> {run.name}")
    return status.returncode


def _run(args: argparse.Namespace) -> int:
    # A fresh interpreter, so pytest imports (and may assertion-rewrite) the plugin itself.
    command = pytest_command(suites_directory(), args.pytest_args)
    os.execv(sys.executable, command)


def _kubeconfig_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", metavar="PATH", help="default: $KUBECONFIG, else ~/.kube/config")
    parser.add_argument("--context", metavar="CONTEXT", help="default: the kubeconfig's current-context")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `k8sharden`."""
    parser = argparse.ArgumentParser(prog="k8sharden", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    local = commands.add_parser("local", help="the embedded local cluster (needs root)")
    actions = local.add_subparsers(dest="action", required=True, metavar="ACTION")
    up = actions.add_parser(
        "up", help="start (or reuse) a local cluster; the last stdout line is its kubeconfig"
    )
    up.add_argument(
        "--profile", choices=PROFILE_NAMES, default="hardened", help="cluster profile (default: hardened)"
    )
    for action, text in (("down", "stop the cluster and remove all its state"), ("status", "show its state")):
        actions.add_parser(action, help=text)
    for sub in actions.choices.values():
        sub.add_argument(
            "--name",
            default=DEFAULT_LOCAL_NAME,
            metavar="N",
            help=f"cluster name (default: {DEFAULT_LOCAL_NAME})",
        )
    actions.add_parser("build", help="get every binary the local cluster needs (cache, release or Go build)")
    local.set_defaults(handler=_local)

    evidence = commands.add_parser("evidence", help="evidence bundles")
    evidence_actions = evidence.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = evidence_actions.add_parser(
        "verify", help=f"recompute {MANIFEST_FILE}: report changed, missing, extra files"
    )
    verify.add_argument("directory", metavar="DIR")
    verify.set_defaults(handler=_verify)
    fetch = evidence_actions.add_parser(
        "fetch",
        help="copy a run of the periodic job from its volume through the API (a short-lived reader pod, "
        f"deleted afterwards) into DIR/<run>/ and verify its {MANIFEST_FILE} (exit 1 when it does not match)",
    )
    fetch.add_argument("directory", metavar="DIR")
    fetch.add_argument("--run", default="latest", metavar="latest|TIME", help="latest (default) or a "
                       "run's UTC start, e.g. 20261202T031700Z")  # fmt: skip
    fetch.add_argument(
        "--namespace", default="k8sharden", metavar="NS", help="the CronJob's (default: k8sharden)"
    )
    _kubeconfig_options(fetch)
    fetch.set_defaults(handler=_fetch)

    report = commands.add_parser("report", help="pages made from stored evidence bundles")
    report_actions = report.add_subparsers(dest="action", required=True, metavar="ACTION")
    history = report_actions.add_parser(
        "history",
        help="every check's verdict across runs and failures by severity over time, from bundles whose "
        f"{MANIFEST_FILE} verifies (exit 1 when a bundle is refused)",
    )
    history.add_argument(
        "directories", nargs="+", metavar="DIR",
        help="an evidence bundle, or a directory of bundles (the periodic job's volume)",
    )  # fmt: skip
    history.add_argument(
        "--out",
        "-o",
        default=HISTORY_PAGE,
        metavar="FILE",
        help=f"the page to write (default: {HISTORY_PAGE})",
    )
    history.set_defaults(handler=_history)

    kind_configs = commands.add_parser(
        "kind-configs", help="render kind-configs/<profile>.yaml from the profiles (or check them)"
    )
    kind_configs.add_argument("--out", default="kind-configs", metavar="DIR", help="default: kind-configs")
    kind_configs.add_argument(
        "--files-dir",
        metavar="DIR",
        help="also write each profile's audit policy, admission, authentication and (fresh) encryption "
        "configuration to DIR/<profile>/ and point the configs there (default: the configs expect "
        "/etc/k8sharden/kind)",
    )
    kind_configs.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a file differs from the rendering"
    )
    kind_configs.set_defaults(handler=_kind_configs)

    kind = commands.add_parser("kind", help="kind clusters")
    kind_actions = kind.add_subparsers(dest="action", required=True, metavar="ACTION")
    node_image = kind_actions.add_parser(
        "build-node-image",
        help="a kind node image built here from Debian packages and our binaries, every image it needs "
        "inside (no registry); the last stdout line is its tag",
    )
    node_image.add_argument(
        "--kubernetes", choices=[KUBERNETES_VERSION], default=KUBERNETES_VERSION, metavar="VERSION",
        help=f"Kubernetes version (default and, for now, only: {KUBERNETES_VERSION})",
    )  # fmt: skip
    node_image.add_argument("--rebuild", action="store_true", help="build even when the image exists")
    node_image.set_defaults(handler=_kind)

    deploy = commands.add_parser("deploy", help="the periodic job of deploy/")
    deploy_actions = deploy.add_subparsers(dest="action", required=True, metavar="ACTION")
    build_image = deploy_actions.add_parser(
        "build-image",
        help="the image of deploy/Containerfile built here without a registry or container engine (a "
        "debootstrap base with Debian's python3, needs root); prints its OCI archive (for `kind load "
        "image-archive`), with --import-local its digest-pinned name, and last its tag",
    )
    build_image.add_argument(
        "--source", metavar="DIR", help="the pytest-k8sharden checkout to build (default: this one)"
    )
    build_image.add_argument("--rebuild", action="store_true", help="build even when the image is cached")
    build_image.add_argument(
        "--import-local", metavar="NAME", help="import the image into the running local cluster NAME"
    )
    build_image.set_defaults(handler=_build_image)

    sweeper = commands.add_parser(
        "sweep",
        help="delete namespaces, pods, NetworkPolicies, ClusterRoles and bindings that runs of "
        "pytest-k8sharden left behind (crashed runs)",
    )
    sweeper.add_argument(
        "--older-than", default=DEFAULT_SWEEP_AGE, metavar="AGE",
        help=f"only objects at least this old: 30s, 10m, 1h, 2d (default: {DEFAULT_SWEEP_AGE})",
    )  # fmt: skip
    _kubeconfig_options(sweeper)
    sweeper.set_defaults(handler=_sweep)

    run = commands.add_parser(
        "run",
        help="run the shipped suites with pytest [PYTEST ARGS], whatever directory it starts in",
        add_help=False,
    )
    run.set_defaults(handler=_run)

    periodic = commands.add_parser(
        "periodic",
        help="what the CronJob runs: the shipped suites with pytest [PYTEST ARGS] into ROOT/<UTC start>/ "
        "(evidence, manifest, report.html), marking each failure new or known against ROOT/latest "
        "(--baseline), then point ROOT/latest at the run once its manifest verifies; pytest's exit status",
        allow_abbrev=False,
    )
    periodic.add_argument(
        "--root", default="/evidence", metavar="ROOT", help="the evidence volume (default: /evidence)"
    )
    periodic.set_defaults(handler=_periodic)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `k8sharden` console script."""
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in ("run", "periodic"):
        args.pytest_args = rest  # everything after `run` (and periodic's own --root) belongs to pytest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
