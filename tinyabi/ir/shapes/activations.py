"""Shape rules of the activations operator family (placeholder until its author fills it)."""
