"""Reference kernels of the pooling operator family (placeholder until its author fills it)."""
