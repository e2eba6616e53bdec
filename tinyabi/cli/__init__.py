"""The ``tinyabi`` command line: run, compare, plan, inspect, convert, codegen, spec, backends,
conformance and demo, one module per command family.

Every command reports a bad input as one line on stderr and exits with status 2; ``--debug``
shows the traceback instead.
"""

from tinyabi.cli.main import main
from tinyabi.cli.parser import backend_list, build_parser

__all__ = ["backend_list", "build_parser", "main"]
