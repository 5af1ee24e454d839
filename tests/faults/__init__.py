"""Fault tests: real `router serve` and redis-server processes, killed and restarted."""
