"""Run models on the native runtimes in a child process, so a crash cannot take Python down.

A :class:`Worker` keeps one child process (:mod:`tinyabi_tflm.worker`) and sends it jobs one at
a time. When the child dies (a segmentation fault in the runtime, an abort) or a job takes too
long, the job's result says so, with what the runtime printed before it died, and the next job
starts a fresh child. :func:`shared_worker` is the process-wide worker the backends use.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tinyabi_tflm.worker import encode_message, read_message

#: Seconds one job may take before the child is killed.
JOB_TIMEOUT = 300.0


class _Pipe:
    """Reads from the child's reply pipe with a deadline."""

    def __init__(self, fd: int, deadline: float) -> None:
        self.fd, self.deadline = fd, deadline

    def read(self, size: int) -> bytes:
        chunks: list[bytes] = []
        while size > 0:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.fd], [], [], remaining)[0]:
                raise TimeoutError
            chunk = os.read(self.fd, min(size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


class Worker:
    """A child process that runs jobs (see :mod:`tinyabi_tflm.worker` for their fields)."""

    def __init__(self, timeout: float = JOB_TIMEOUT) -> None:
        self.timeout = timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Path | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        fd, name = tempfile.mkstemp(prefix="tinyabi-tflm-", suffix=".log")
        self._log = Path(name)
        package_parent = str(Path(__file__).resolve().parents[1])
        path = os.environ.get("PYTHONPATH", "")
        env = {**os.environ, "PYTHONPATH": package_parent + (os.pathsep + path if path else "")}
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "tinyabi_tflm.worker", name],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=fd,
                env=env,
            )
        finally:
            os.close(fd)
        return self._process

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Run ``job`` in the child; a crash or timeout becomes an ``ok: False`` result with
        ``crashed: True``."""
        with self._lock:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(encode_message(job))
                process.stdin.flush()
                pipe = _Pipe(process.stdout.fileno(), time.monotonic() + self.timeout)
                result = read_message(pipe)  # type: ignore[arg-type]
            except TimeoutError:
                self._stop(kill=True)
                return self._failure(f"did not finish within {self.timeout:g} s and was killed")
            except (BrokenPipeError, OSError):
                result = None
            if result is None:
                return self._failure(self._death())
            return dict(result)

    def _death(self) -> str:
        process = self._process
        assert process is not None
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._stop(kill=True)
            return "stopped answering and was killed"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"crashed ({name})"
        return f"exited with status {code}"

    def _failure(self, what: str) -> dict[str, Any]:
        log = ""
        if self._log is not None:
            with contextlib.suppress(OSError):
                log = self._log.read_text(errors="replace")
        self._cleanup()
        return {"ok": False, "crashed": True, "error": f"the runtime's process {what}", "log": log}

    def _stop(self, kill: bool = False) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            if kill:
                process.kill()
            else:
                assert process.stdin is not None
                with contextlib.suppress(OSError):
                    process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _cleanup(self) -> None:
        self._stop()
        for stream in (self._process.stdin, self._process.stdout) if self._process else ():
            if stream is not None:
                stream.close()
        self._process = None
        if self._log is not None:
            self._log.unlink(missing_ok=True)
            self._log = None

    def close(self) -> None:
        """Stop the child process (a later job starts a new one)."""
        with self._lock:
            self._cleanup()


_SHARED: Worker | None = None
_SHARED_LOCK = threading.Lock()


def shared_worker() -> Worker:
    """The process-wide worker, stopped when Python exits."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Worker()
            atexit.register(_SHARED.close)
        return _SHARED
