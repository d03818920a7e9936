"""Benchmarks of pytest-k8sharden against its local clusters: ``python -m benchmarks`` runs them all."""
