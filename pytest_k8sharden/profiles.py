"""Cluster profiles: one definition of every component flag and config file (hardened/default/insecure)."""

from __future__ import annotations

PROFILE_NAMES: tuple[str, ...] = ("hardened", "default", "insecure")
