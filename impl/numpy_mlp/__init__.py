"""NumPy implementations of the seed's MLP, one module per optimisation step, and the float64 reference."""
