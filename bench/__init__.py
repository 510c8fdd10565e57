"""Benchmarks: each prints a table of measured figures, targets and the raw floor."""
