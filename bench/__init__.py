"""Benchmarks: run as modules from the project folder, e.g. `.venv/bin/python -m bench.claim_next`."""
