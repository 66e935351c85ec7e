"""Workloads register themselves with @workload on import."""

from benchmarks.workloads import point_lookup  # noqa: F401
