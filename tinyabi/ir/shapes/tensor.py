"""Shape rules of the tensor operator family (placeholder until its author fills it)."""
