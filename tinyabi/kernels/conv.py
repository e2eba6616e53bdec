"""Reference kernels of the conv operator family (placeholder until its author fills it)."""
