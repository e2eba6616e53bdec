"""``.tflite`` files: import into the IR (bounds-checked, untrusted input) and export back."""

from tinyabi.tflite.custom import custom_op_hint, custom_op_hints
from tinyabi.tflite.exporter import export_tflite
from tinyabi.tflite.importer import load_tflite

__all__ = ["custom_op_hint", "custom_op_hints", "export_tflite", "load_tflite"]
