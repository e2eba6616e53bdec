"""The one cache directory tinyabi and its plugins keep derived files in (builds, measured
facts about models).

The root is ``$TINYABI_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/tinyabi``, else
``~/.cache/tinyabi``. Each user of the cache takes its own subfolder, e.g.
``cache_dir("cmsis-nn")``. Everything in it can be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ENV_CACHE_DIR", "cache_dir"]

#: The environment variable that moves the whole cache.
ENV_CACHE_DIR = "TINYABI_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache root joined with ``parts`` (not created: callers make what they write)."""
    configured = os.environ.get(ENV_CACHE_DIR)
    if configured:
        root = Path(configured).expanduser()
    else:
        # The XDG base-directory rule: a relative XDG_CACHE_HOME is invalid and ignored.
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
        root = base / "tinyabi"
    return root.joinpath(*parts)
