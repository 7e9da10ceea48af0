"""Benchmarks of the connector at catalogue scale against its physical limits (ARCHITECTURE §10)."""
