"""The entry point: parse, run the command, turn every tinyabi error into one line and exit 2."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tinyabi.errors import TinyABIError

if TYPE_CHECKING:
    pass
from tinyabi.cli.parser import build_parser

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tinyabi`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from tinyabi.errors import FallbackWarning
    from tinyabi.progress import quiet

    try:
        with quiet(args.quiet), warnings.catch_warnings():
            # Commands print every fallback themselves, in one line.
            warnings.simplefilter("ignore", FallbackWarning)
            return int(args.func(args))
    except BrokenPipeError:  # the reader went away (`tinyabi backends | head`): not an error
        # Python flushes stdout again at exit; point it at /dev/null so that cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (TinyABIError, OSError) as exc:
        if args.debug:
            raise
        if isinstance(exc, OSError) and exc.strerror:
            exc = OSError(f"{exc.filename or ''}: {exc.strerror.lower()}".lstrip(": "))
        message = " ".join(str(exc).split())
        print(f"tinyabi: error: {message}", file=sys.stderr)
        return 2
