"""The embedded real cluster (`--cluster=local`): upstream components as processes in a network namespace."""

from __future__ import annotations
