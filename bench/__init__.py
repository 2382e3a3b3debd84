"""Benchmarks. `python -m bench.scheduler` compares scheduler throughput; see bench/README.md."""
