"""Attacker-view probe primitives, free of pytest: each returns an Observation and never asserts."""

from __future__ import annotations

from pytest_k8sharden.probes.http import HttpObservation, HttpProbe

__all__ = ["HttpObservation", "HttpProbe"]
