"""The Markdown summary of the latest results in benchmarks/results/ (whichever benchmarks ran)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

START_MARK = "<!-- benchmarks:start -->"
END_MARK = "<!-- benchmarks:end -->"
COLD_BUILD = (
    "1966 s (etcd 59, Kubernetes v1.37.2 581, v1.36.3 381, containerd 66, runc 16, CNI 5, Cilium 395, "
    "Traefik 462): `k8sharden local build`, empty binary and Go build caches, module cache warm, quiet"
)
"""Cold build of every binary, measured 2026-11-23 (docs/local-cluster.md); not re-run by the benchmarks."""


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _conditions(result: dict[str, Any]) -> str:
    load = result.get("load_average")
    when = result.get("measured", "date not recorded")
    return f"{when}, load {' / '.join(map(str, load))}" if load else f"{when}, load not recorded"


def _mark(ok: bool) -> str:
    return "met" if ok else "missed"


def headline(results: Path) -> list[str]:
    """The short table: one row per measure, with its target and when it was measured."""
    rows = ["| measure | measured | target | when, load average (1/5/15 min) |", "|---|---|---|---|"]
    if hardened := _load(results, "full_suite_hardened"):
        wall = hardened["wall_s"]
        rows.append(
            f"| full suite on hardened ({len(hardened['outcomes'])} checks, active incl.) | {wall:.0f} s | "
            f"< 60 s: {_mark(wall < 60)} | {_conditions(hardened)} |"
        )
        if load := hardened.get("api_load"):
            rows.append(
                f"| API requests of that run (audit log) | {load['requests']}, "
                f"peak {load['peak_per_second']}/s "
                f"| - | same run |"
            )
    if matrix := _load(results, "netpol_matrix"):
        medians, ratio = matrix["median_s"], matrix["ratio_sequential_over_concurrent"]
        runs = matrix.get("same_matrix", [])
        differed = f"; matrices differed in {runs.count(False)} of {len(runs)} runs" if False in runs else ""
        rows.append(
            f"| NetworkPolicy matrix ({matrix['probes']} probes): concurrent vs one exec per probe | "
            f"{medians['concurrent']:.1f} s vs {medians['sequential']:.1f} s ({ratio:.1f}x){differed} | "
            f">= 5x: {_mark(ratio >= 5)} | {_conditions(matrix)} |"
        )
    if hunter := _load(results, "kube_hunter"):
        seeds = hunter["seeds"]
        theirs = [s for s in seeds if s["kube_hunter"]]
        ours = [s for s in seeds if s["ours"]]
        met = all(s["ours"] for s in theirs) and len(ours) > len(theirs)
        rows.append(
            f"| seeded misconfigurations on insecure reported: kube-hunter vs us | {len(theirs)} vs "
            f"{len(ours)} of {len(seeds)} | all of kube-hunter's and more: {_mark(met)} "
            f"| {_conditions(hunter)} |"
        )
        rows.append(f"| kube-hunter remote active run | {hunter['wall_s']:.0f} s | - | same run |")
    if start := _load(results, "local_cluster_start"):
        median = start["median"]
        rows.append(
            f"| local cluster start, cached binaries ({start['profile']}): node Ready / first pod Running | "
            f"{median['node_ready_s']:.0f} s / {median['pod_running_s']:.0f} s | pod < 60 s: "
            f"{_mark(median['pod_running_s'] < 60)} | {_conditions(start)} |"
        )
    rows.append(f"| cold build of every binary | {COLD_BUILD} | - | 2026-11-23T20:14Z, load 3-6 |")
    return rows


def summary(results: Path) -> str:
    """The whole summary: headline table, time per suite file, API load, kube-hunter comparison."""
    lines = ["# Benchmark results", "", *headline(results), ""]
    if hardened := _load(results, "full_suite_hardened"):
        lines += [
            "## Full suite on hardened, per suite file (JUnit durations)",
            "",
            "| file | s |",
            "|---|---|",
        ]
        lines += [f"| {name} | {seconds:.1f} |" for name, seconds in hardened["per_file_s"].items()]
        lines.append("")
        if load := hardened.get("api_load"):
            lines += [
                "## API requests during that run, by user (audit log)",
                "",
                "| user | requests |",
                "|---|---|",
            ]
            lines += [f"| {user} | {count} |" for user, count in load["all_users_in_window"].items()]
            lines.append("")
    if hunter := _load(results, "kube_hunter"):
        lines += [
            f"## Seeded misconfigurations of `insecure`: kube-hunter {hunter['version']} vs pytest-k8sharden",
            "",
            "| misconfiguration | kube-hunter reports | we report (failed checks) |",
            "|---|---|---|",
        ]
        for seed in hunter["seeds"]:
            theirs = ", ".join(sorted({f.split(":")[0] for f in seed["kube_hunter"]})) or "no"
            ours = ", ".join(seed["ours"]) or "no"
            lines.append(f"| {seed['misconfiguration']} | {theirs} | {ours} |")
        lines += ["", "kube-hunter's findings: " + "; ".join(hunter["findings"]), ""]
    return "\n".join(lines)


def with_table(readme: str, rows: list[str]) -> str:
    """`readme` with the lines between its benchmark marks replaced by `rows` (a ValueError without marks)."""
    before, start, rest = readme.partition(START_MARK)
    _, end, after = rest.partition(END_MARK)
    if not (start and end):
        raise ValueError(f"the README has no {START_MARK} ... {END_MARK} block")
    return "\n".join([before + START_MARK, *rows, END_MARK + after])
