"""An import-linter contract type for what the built-in ones cannot say (they see an external package only
as its root, e.g. ``kubernetes``): which modules may import a subpackage of it (``kubernetes.stream``).

Registered in pyproject.toml's [tool.importlinter] ``contract_types``; lint-imports runs from the repository
root, which it puts on sys.path.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from typing import Any

from importlinter import Contract, ContractCheck, fields, output


class ExternalSubpackagesContract(Contract):
    """Only ``allowed_modules`` (and their submodules) may import the ``external_subpackages``."""

    type_name = "external subpackages"
    external_subpackages = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:
        violations = []
        roots = {name.split(".")[0] for name in self.external_subpackages}  # type: ignore[attr-defined]
        for root in sorted(roots & set(graph.modules)):
            for importer in sorted(graph.find_modules_that_directly_import(root)):
                if any(importer == a or importer.startswith(a + ".") for a in self.allowed_modules):  # type: ignore[attr-defined]
                    continue
                for name, line in _imported_names(importer):
                    if any(name == s or name.startswith(s + ".") for s in self.external_subpackages):  # type: ignore[attr-defined]
                        violations.append(f"{importer}:{line} imports {name}")
        return ContractCheck(kept=not violations, metadata={"violations": violations})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for violation in check.metadata["violations"]:
            output.print_error(violation, bold=False)
            output.new_line()


def _imported_names(module: str) -> list[tuple[str, int]]:
    """Every dotted name ``module`` imports (``from a.b import c`` gives ``a.b.c``), with its line."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return []
    names = []
    for node in ast.walk(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
    return names
