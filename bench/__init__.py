"""mlp-bench tooling: how things are measured. Knows implementations only through ``impl.registry``."""
