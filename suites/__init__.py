"""The shipped security suites, installed as the package pytest_k8sharden.suites."""
