"""Benchmarks: what durability adds, measured against the no-durability baseline in one run."""
