"""Side-by-side benchmarks of mlsteward against the peer tool (``python -m benchmarks``)."""
