"""A small on-disk cache of facts about exported models (TFLM arena sizes, models a runtime
was seen to run), keyed by the model's hash and the runtime's version.

The directory is ``$TINYABI_TFLM_CACHE``, else ``$XDG_CACHE_HOME/tinyabi-tflm``, else
``~/.cache/tinyabi-tflm``; ``TINYABI_TFLM_CACHE=off`` keeps facts in memory only. Each entry
is one JSON file written atomically; an unreadable entry counts as missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

ENV_CACHE = "TINYABI_TFLM_CACHE"

_MEMORY: dict[str, dict[str, Any]] = {}
_LOCK = threading.Lock()


def directory() -> Path | None:
    """The cache directory, or ``None`` when the disk cache is off."""
    configured = os.environ.get(ENV_CACHE)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "none") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tinyabi-tflm"


def _name(kind: str, key: str) -> str:
    return f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def load(kind: str, key: str) -> dict[str, Any] | None:
    """The entry stored under ``kind`` and ``key``, or ``None``."""
    name = _name(kind, key)
    with _LOCK:
        if name in _MEMORY:
            return dict(_MEMORY[name])
    folder = directory()
    if folder is None:
        return None
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
    if folder is None:
        return
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
