"""onnxruntime as a tinyabi backend (``onnxruntime``).

Installed, the distribution registers the backend through the ``tinyabi`` entry-point group
(:mod:`tinyabi_onnxruntime.plugin`). A partition becomes an ONNX model
(:mod:`tinyabi_onnxruntime.export`) that one onnxruntime ``InferenceSession`` runs on the CPU.
"""

__version__ = "0.1.0"
