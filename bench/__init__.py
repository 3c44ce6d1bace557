"""Chronicle's benchmarks (``make bench``; see docs/PERFORMANCE.md)."""
