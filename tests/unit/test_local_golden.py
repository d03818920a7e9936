"""The local cluster's rendering of each profile, against golden files (tests/unit/golden/local-*.yaml).

Every component's command line and the configuration files it reads, for a cluster in a fixed state
directory on slot 3. A change to a profile or to render.py shows here as a diff to review; regenerate with
``K8SHARDEN_UPDATE_GOLDEN=1 pytest tests/unit/test_local_golden.py`` and commit the files it writes.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from pytest_k8sharden.clusters.local import pki, render
from pytest_k8sharden.clusters.local.network import Addresses
from pytest_k8sharden.clusters.local.state import ClusterState
from pytest_k8sharden.profiles import PROFILE_NAMES, get_profile

GOLDEN = Path(__file__).with_name("golden")
ROOT = Path("/golden/state")
BIN = Path("/bin")
NODE = "golden-node"


def rendering(name: str) -> dict[str, Any]:
    """Every command line and file that render.py makes of profile ``name`` (paths under ROOT)."""
    profile, state, a = get_profile(name), ClusterState("golden", ROOT), Addresses(3)
    pki_dir = ROOT / "pki"
    certs = render.Certificates(
        **{
            f.name: pki.KeyPair(pki_dir / f"{f.name}.crt", pki_dir / f"{f.name}.key")
            for f in fields(render.Certificates)
        }
    )
    commands = {
        "etcd": render.etcd(BIN / "etcd", profile, state, a, certs),
        "kube-apiserver": render.apiserver(BIN / "kube-apiserver", profile, state, a, certs),
        "kube-controller-manager": render.controller_manager(
            BIN / "kube-controller-manager", profile, state, a, certs
        ),
        "kube-scheduler": render.scheduler(BIN / "kube-scheduler", profile, state, a),
        "kubelet": render.kubelet(BIN / "kubelet", profile, state, a, certs, NODE),
        "kube-proxy": render.kube_proxy(BIN / "kube-proxy", state, a, NODE),
        "containerd": render.containerd(BIN / "containerd", state, BIN / "runc"),
    }
    files = {path: text for command in commands.values() for path, text in command.files.items()}
    files |= render.cni_config(state, a)
    return {
        "argv": {component: command.argv for component, command in commands.items()},
        "directories": sorted(str(d) for command in commands.values() for d in command.directories),
        "files": {str(path.relative_to(ROOT)): text for path, text in sorted(files.items())},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (the files) as literal blocks, so a diff reads line by line."""


_Dumper.add_representer(
    str, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|" if "\n" in v else None)
)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_local_rendering_matches_its_golden_file(name: str) -> None:
    golden = GOLDEN / f"local-{name}.yaml"
    rendered = rendering(name)
    if os.environ.get("K8SHARDEN_UPDATE_GOLDEN"):
        golden.write_text(yaml.dump(rendered, Dumper=_Dumper, sort_keys=False, width=200))
    assert yaml.safe_load(golden.read_text()) == rendered


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_rendering_writes_nothing(name: str) -> None:
    rendering(name)
    assert not ROOT.exists()


def test_only_the_profile_decides_whether_the_api_server_verifies_kubelets() -> None:
    flags = {
        name: any(
            "--kubelet-certificate-authority=" in arg for arg in rendering(name)["argv"]["kube-apiserver"]
        )
        for name in PROFILE_NAMES
    }
    assert flags == {name: get_profile(name).verify_kubelet_certificates for name in PROFILE_NAMES}
    assert flags["hardened"] and not flags["insecure"]
