"""The child process that runs models on the native runtimes where a crash cannot hurt.

Started by :class:`tinyabi_tflm.isolation.Worker` as ``python -m tinyabi_tflm.worker LOG``.
It reads jobs from stdin and writes one result per job to a private copy of stdout; every
message is a 4-byte big-endian length and a pickle (parent and child are the same program).
While a job runs, file descriptors 1 and 2 point at the file ``LOG``, emptied before each job,
so whatever the native code prints (TFLM's allocation record, error messages) is captured and
survives a crash of this process.

A job is a dict: ``runtime`` (``"tflm"`` or ``"litert"``), ``model`` (bytes), ``inputs`` (a
list of arrays in the model's input order), ``outputs`` (how many outputs to read), and for
TFLM ``arena_size`` and ``allocations`` (whether to print the allocation record), for LiteRT
``kernels`` and ``threads``. The result has ``ok``, ``outputs`` or ``error``, and ``log``.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import struct
import sys
from typing import IO, Any

from tinyabi_tflm import runtimes

_HEADER = struct.Struct(">I")


def read_message(stream: IO[bytes]) -> Any:
    """One message from ``stream``, or ``None`` at end of file."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return pickle.loads(body)


def encode_message(value: Any) -> bytes:
    """The bytes of one message carrying ``value``."""
    body = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in this process; exceptions become ``ok: False`` results."""
    try:
        if job["runtime"] == runtimes.TFLM:
            return _run_tflm(job)
        return _run_litert(job)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _run_tflm(job: dict[str, Any]) -> dict[str, Any]:
    interpreter = runtimes.tflm_interpreter(job["model"], job["arena_size"])
    for index, value in enumerate(job["inputs"]):
        interpreter.set_input(value, index)
    interpreter.invoke()
    outputs = [interpreter.get_output(i) for i in range(job["outputs"])]
    if job.get("allocations"):
        interpreter.print_allocations()
    return {"ok": True, "outputs": outputs}


def _run_litert(job: dict[str, Any]) -> dict[str, Any]:
    interpreter = runtimes.litert_interpreter(
        job["model"], job.get("kernels", "default"), job.get("threads")
    )
    for detail, value in zip(interpreter.get_input_details(), job["inputs"]):
        interpreter.set_tensor(detail["index"], value)
    interpreter.invoke()
    details = interpreter.get_output_details()
    return {"ok": True, "outputs": [interpreter.get_tensor(d["index"]) for d in details]}


def main(log_path: str) -> None:
    """Serve jobs until stdin closes."""
    requests = sys.stdin.buffer
    replies = os.fdopen(os.dup(1), "wb")
    log = os.open(log_path, os.O_RDWR | os.O_CREAT, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    libc = ctypes.CDLL(None)
    while True:
        job = read_message(requests)
        if job is None:
            return
        os.ftruncate(log, 0)
        os.lseek(log, 0, os.SEEK_SET)
        result = run_job(job)
        sys.stdout.flush()
        sys.stderr.flush()
        libc.fflush(None)  # whatever C stdio still buffers belongs to this job's log
        os.lseek(log, 0, os.SEEK_SET)
        result["log"] = os.read(log, 1 << 20).decode("utf-8", errors="replace")
        replies.write(encode_message(result))
        replies.flush()


if __name__ == "__main__":
    main(sys.argv[1])
