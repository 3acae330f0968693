"""Benchmarks: figures printed side by side, never pass/fail. `make bench` runs them all."""
