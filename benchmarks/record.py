"""Where benchmark results go: one JSON file per benchmark under benchmarks/results/, with its conditions."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results")


def conditions() -> dict[str, Any]:
    """When it was measured and how loaded the machine was (1, 5 and 15 minute load averages, CPUs)."""
    return {
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def write(name: str, payload: Mapping[str, Any]) -> Path:
    """Store `payload` with the current conditions as benchmarks/results/`name`.json; return the path."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({**payload, **conditions()}, indent=2, default=str) + "\n")
    return path
