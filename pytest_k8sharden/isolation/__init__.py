"""Network isolation: enforcement canary, workloads, default deny, metadata endpoint (no pytest here)."""
