"""TensorFlow Lite Micro and LiteRT as tinyabi backends (``tflm`` and ``litert``).

Installed, the distribution registers both through the ``tinyabi`` entry-point group
(:mod:`tinyabi_tflm.plugin`); nothing else is needed. This module stays light: the worker
process imports the package too.
"""

__version__ = "0.1.0"
