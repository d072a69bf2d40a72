"""Performance benchmarks: ``python -m benchmarks [--quick] [--json]`` (see docs/benchmarks.md).

Each entry measures one thing against a baseline measured in the same run where there is
one, and states its target. They are measurements, not tests: nothing here asserts a time.
"""
