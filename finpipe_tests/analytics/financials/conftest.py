"""The Dagster tests' tiny world, shared with the financials end-to-end test."""

from finpipe_tests.defs.conftest import tiny_world  # noqa: F401  (a fixture, used by name)
