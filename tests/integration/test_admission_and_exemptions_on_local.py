"""The built-in exemptions on the insecure local cluster: named with why, and replaced by a file.

An --exemptions file that leaves kube-system out of its namespaces puts kube-system back into
PSA-ENFORCE-LABELS, and the built-in run names it as exempt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from local_clusters import Running, run_shipped_suites

from pytest_k8sharden.exemptions import BUILT_IN

pytestmark = pytest.mark.cluster


def _result(directory: Path, check: str) -> dict[str, Any]:
    results = json.loads((directory / "evidence.json").read_text())["results"]
    (found,) = [r for r in results if r["check"] == check]
    return dict(found)


def test_exempt_namespaces_are_named_and_a_file_replaces_them(
    local_cluster: Callable[[str], Running], tmp_path: Path
) -> None:
    local_cluster("insecure")  # the session's cluster, taken down at its end unless it was already up
    own = tmp_path / "exemptions.yaml"
    own.write_text("namespaces:\n  kube-public: nothing runs there\n")
    messages = {}
    for name, options in {"built-in": (), "file": (f"--exemptions={own}",)}.items():
        directory = tmp_path / name
        directory.mkdir()
        done = run_shipped_suites(
            "insecure", directory, "-k", "test_every_namespace_enforces_a_pod_security_level", *options
        )
        assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-3000:]
        result = _result(directory, "PSA-ENFORCE-LABELS")
        assert result["outcome"] == "failed", result["message"]
        messages[name] = result["message"]
        details = [o["details"] for o in result["evidence"] if "exempt namespaces" in o.get("details", {})]
        exempt = BUILT_IN.namespaces if name == "built-in" else {"kube-public": "nothing runs there"}
        assert [d["exempt namespaces"] for d in details] == [exempt], result["evidence"]
    assert (
        "exempt: kube-system" in messages["built-in"] and "Namespace/kube-system" not in messages["built-in"]
    )
    assert "exempt: kube-public" in messages["file"] and "Namespace/kube-system" in messages["file"]
