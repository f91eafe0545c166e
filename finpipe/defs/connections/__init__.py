"""Connections as an operator sees them: the run-failure sensor that logs failed syncs and
marks repeatedly failing connections degraded, the ``ops/integration_health`` asset and its
checks."""
