"""The seed's MLP as one jax.jit step (jax-cpu/-gpu); jax is imported only when a trainer is built."""
