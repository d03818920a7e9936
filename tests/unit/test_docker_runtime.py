"""The test engine's runtime wrapper: which spec it rewrites and which capabilities it removes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker_runtime import capabilities_to_drop, rewrite, spec_file

ALL_BUT_SYS_RESOURCE = "000001fffeffffff"
FULL = "000001ffffffffff"


@pytest.mark.parametrize(
    ("bounding", "missing"),
    [
        (ALL_BUT_SYS_RESOURCE, {"CAP_SYS_RESOURCE", "CAP_SYS_MODULE"}),
        (FULL, {"CAP_SYS_MODULE"}),  # never granted, whatever the machine allows
        ("0000000000000000", {"CAP_SYS_RESOURCE", "CAP_SYS_MODULE"}),
    ],
)
def test_drops_what_the_bounding_set_lacks_and_module_loading(bounding: str, missing: set[str]) -> None:
    status = f"Name:\tpython3\nCapPrm:\t{FULL}\nCapBnd:\t{bounding}\nCapAmb:\t0000000000000000\n"
    assert capabilities_to_drop(status) == missing


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["--root", "/r", "create", "--bundle", "/b", "id"], (Path("/b/config.json"), True)),
        (["--log", "/l", "run", "-b", "/c", "id"], (Path("/c/config.json"), True)),
        (["exec", "--process", "/tmp/p.json", "--detach", "id"], (Path("/tmp/p.json"), False)),
        (["exec", "-p", "/tmp/q.json", "id"], (Path("/tmp/q.json"), False)),
        (["--root", "/r", "delete", "id"], None),
        (["state", "id"], None),
    ],
)
def test_spec_file_finds_what_runc_will_read(
    arguments: list[str], expected: tuple[Path, bool] | None
) -> None:
    assert spec_file(arguments) == expected


def test_spec_file_defaults_to_the_working_directory_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert spec_file(["create", "id"]) == (tmp_path / "config.json", True)


CAPS = ["CAP_CHOWN", "CAP_SYS_RESOURCE", "CAP_SYS_ADMIN"]


@pytest.mark.parametrize("whole_bundle", [True, False])
def test_rewrite_removes_the_capability_from_every_set(tmp_path: Path, whole_bundle: bool) -> None:
    capabilities = {
        name: list(CAPS) for name in ("bounding", "effective", "permitted", "inheritable", "ambient")
    }
    process = {"args": ["sh"], "capabilities": capabilities}
    document = {"ociVersion": "1.0.2", "process": process} if whole_bundle else process
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(document))
    rewrite(path, whole_bundle, {"CAP_SYS_RESOURCE"})
    stored = json.loads(path.read_text())
    written = stored["process"] if whole_bundle else stored
    assert written["args"] == ["sh"]
    assert all(v == ["CAP_CHOWN", "CAP_SYS_ADMIN"] for v in written["capabilities"].values())
