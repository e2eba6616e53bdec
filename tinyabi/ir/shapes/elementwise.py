"""Shape rules of the elementwise operator family (placeholder until its author fills it)."""
