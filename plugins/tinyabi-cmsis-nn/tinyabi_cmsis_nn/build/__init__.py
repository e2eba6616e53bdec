"""Builds of generated models: the host (``host``) and Arm Cortex-M under QEMU (``cortexm``)."""
