"""Durations as options write them (``90``, ``30s``, ``10m``, ``1h``, ``2d``): core layer, no cluster."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

DEFAULT_SWEEP_AGE: Final = "1h"
"""How old an object of an earlier run must be before the sweep deletes it (--sweep-older-than)."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """``90``, ``30s``, ``10m``, ``1h`` or ``2d`` as a timedelta; ValueError names the bad value."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"an age must look like 30s, 10m, 1h or 2d, got {text!r}")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
