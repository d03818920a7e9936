"""Posture analysis: pure verdict logic over what the API server shows (RBAC, pod security, configuration)."""
