"""Reference kernels of the elementwise operator family (placeholder until its author fills it)."""
