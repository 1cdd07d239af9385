"""Demo data for a fresh install and the benchmarks."""
