"""The README's "Writing your own checks" example stays true: its files collect without a usage error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parents[2] / "README.md"
BLOCK = re.compile(r"```(?:python|ini|yaml)\n# (?P<name>[\w./-]+)[^\n]*\n(?P<body>.*?)```", re.DOTALL)


def test_custom_check_example_collects(pytester: pytest.Pytester) -> None:
    section = README.read_text().split("## Writing your own checks", 1)[1].split("\n## ", 1)[0]
    files = {match["name"]: match["body"] for match in BLOCK.finditer(section)}
    assert set(files) == {"tests/test_acme_policies.py", "pytest.ini", "acme-controls.yaml"}
    for name, body in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    result = pytester.runpytest("--collect-only", "-q", "--strict-markers")
    assert result.ret == pytest.ExitCode.OK, "\n".join(result.outlines + result.errlines)
    result.stdout.fnmatch_lines(["tests/test_acme_policies.py::test_grafana_refuses_anonymous_clients"])
