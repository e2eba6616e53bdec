"""A small on-disk cache of facts about exported models (TFLM arena sizes, models a runtime
was seen to run), keyed by the model's hash and the runtime's version.

The directory is ``tflm`` in tinyabi's cache directory (:func:`tinyabi.cache.cache_dir`, moved
with ``$TINYABI_CACHE_DIR``). Each entry is one JSON file written atomically; an unreadable
entry counts as missing, and a cache that cannot be written keeps facts in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from tinyabi.cache import cache_dir

_MEMORY: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def directory() -> Path:
    """The cache directory (read from the environment on every call)."""
    return cache_dir("tflm")


def _name(kind: str, key: str) -> str:
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def load(kind: str, key: str) -> dict[str, Any] | None:
    """The entry stored under ``kind`` and ``key``, or ``None``."""
    name = _name(kind, key)
    with _LOCK:
        if name in _MEMORY:
            return dict(_MEMORY[name])
    folder = directory()
    try:
        entry = json.loads((folder / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("key") != key:
        return None
    value = entry.get("value")
    if not isinstance(value, dict):
        return None
    with _LOCK:
        _MEMORY[name] = value
    return dict(value)


def store(kind: str, key: str, value: dict[str, Any]) -> None:
    """Remember ``value`` under ``kind`` and ``key`` (a failure to write is not an error)."""
    name = _name(kind, key)
    with _LOCK:
        _MEMORY[name] = dict(value)
    folder = directory()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump({"key": key, "value": value}, f)
        os.replace(tmp, folder / f"{name}.json")
    except OSError:
        pass


def forget_memory() -> None:
    """Drop the in-memory layer (tests use this to exercise the disk or a recomputation)."""
    with _LOCK:
        _MEMORY.clear()
