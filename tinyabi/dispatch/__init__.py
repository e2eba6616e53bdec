"""Dispatch: assigning nodes to backends, partitions, the memory plan and its views."""
