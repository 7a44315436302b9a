"""mlp-bench implementations: what is measured. Knows nothing about benchmarks."""
