"""Metrics and logs tests: the live processes' fixture is the fault tests' (``stack``)."""

from tests.faults.conftest import stack  # noqa: F401 - the fixture, shared
