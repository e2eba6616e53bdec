"""Device vectors: conformance cases written out for stacks with no Python, and graded back.

:func:`export_vectors` writes every positive case as a folder ``DIR/<OP>__<signature>__
<generator>__<index>/`` holding ``model.tflite`` (the single-operator graph), the inputs
``input_<i>.npy`` / ``input_<i>.bin`` and the expected outputs ``expected_<i>.npy`` /
``expected_<i>.bin`` (``<i>`` in the model's input/output order; ``.bin`` is the raw
little-endian row-major data; for a dot-product verify mode also ``magnitude_<i>.npy``, the
``n x sum(|a_i b_i|)`` of every output the bound needs), and ``DIR/manifest.json`` listing
each case with its tensors' names, types and shapes and its verify mode
(:class:`VectorManifest`).

A device runs each model on each case's inputs and writes ``RESULTS/<case folder>/output_<i>.bin``
(raw, as the expected files) or ``.npy``; :func:`grade_vectors` compares them with the expected
outputs under each case's verify mode. A case without a result folder is NOT CLAIMED.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict

from tinyabi.conformance.generators import DEFAULT_GENERATORS, check_generators, generate
from tinyabi.conformance.outcome import CaseResult, Status
from tinyabi.conformance.report import ConformanceReport, Failure
from tinyabi.conformance.runner import failure_of, profile_results, signature_result
from tinyabi.conformance.selection import Selection
from tinyabi.conformance.verify import compare, dot_magnitudes, mode_text
from tinyabi.errors import InputError, TinyABIError
from tinyabi.ir.graph import numpy_dtype
from tinyabi.spec import SPEC_VERSION, Tolerance, load_spec
from tinyabi.tflite.exporter import export_tflite

__all__ = [
    "MANIFEST",
    "VECTORS_VERSION",
    "VectorCase",
    "VectorManifest",
    "VectorTensor",
    "export_vectors",
    "grade_vectors",
    "read_manifest",
]

#: The version of the vector folder layout and manifest.
VECTORS_VERSION = "1.0"
MANIFEST = "manifest.json"


class VectorTensor(BaseModel):
    """One input or output of a vector case."""

    model_config = ConfigDict(extra="forbid")

    name: str
    dtype: str
    shape: list[int]
    #: The file name without extension (``.npy`` and ``.bin`` both exist).
    file: str


class VectorCase(BaseModel):
    """One exported case."""

    model_config = ConfigDict(extra="forbid")

    id: str
    folder: str
    op: str
    signature: str
    generator: str
    index: int
    inputs: list[VectorTensor]
    outputs: list[VectorTensor]
    tolerance: Tolerance


class VectorManifest(BaseModel):
    """What an export wrote: the cases, and those it could not write as ``.tflite``."""

    model_config = ConfigDict(extra="forbid")

    version: str = VECTORS_VERSION
    spec_version: str = SPEC_VERSION
    seed: int
    cases_per_signature: int
    generators: list[str]
    byteorder: str = "little"
    cases: list[VectorCase]
    #: Case id -> why it was not exported.
    skipped: dict[str, str] = {}


def _write(folder: Path, stem: str, array: np.ndarray) -> None:
    data = np.array(array, order="C")  # ascontiguousarray would make a 0-d array 1-d
    np.save(folder / f"{stem}.npy", data)
    little = data.astype(data.dtype.newbyteorder("<")) if data.dtype.byteorder == ">" else data
    (folder / f"{stem}.bin").write_bytes(little.tobytes())


def export_vectors(
    directory: str | Path,
    ops: Sequence[str] | None = None,
    cases_per_signature: int = 5,
    seed: int = 0,
    generators: Sequence[str] = DEFAULT_GENERATORS,
    selection: Selection | None = None,
) -> VectorManifest:
    """Write the positive cases of ``ops`` (default: all) to ``directory`` (see the module)."""
    spec = load_spec()
    names = list(ops) if ops is not None else sorted(spec.operators)
    unknown = [n for n in names if n not in spec.operators]
    if unknown:
        raise InputError(f"unknown operator(s) {', '.join(unknown)}")
    check_generators(generators)
    selection = selection or Selection()
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written: list[VectorCase] = []
    skipped: dict[str, str] = {}
    for name in names:
        op = spec.operators[name]
        for sig in op.signatures:
            for gen in generators:
                for case in generate(op, sig, gen, cases_per_signature, seed):
                    if case.negative or not selection.selects(case.id):
                        continue
                    try:
                        model = export_tflite(case.graph, description=case.id)
                    except (TinyABIError, ValueError, KeyError) as exc:
                        skipped[case.id] = f"{type(exc).__name__}: {exc}"
                        continue
                    folder = case.id.replace("/", "__")
                    (root / folder).mkdir(exist_ok=True)
                    (root / folder / "model.tflite").write_bytes(model)
                    inputs, outputs = [], []
                    for i, tensor_name in enumerate(case.graph.inputs):
                        _write(root / folder, f"input_{i}", case.inputs[tensor_name])
                        inputs.append(_tensor(tensor_name, case.inputs[tensor_name], f"input_{i}"))
                    magnitudes = (
                        dot_magnitudes(case.graph, case.inputs)
                        if sig.tolerance.kind == "dot_product"
                        else {}
                    )
                    for i, tensor_name in enumerate(case.graph.outputs):
                        _write(root / folder, f"expected_{i}", case.expected[tensor_name])
                        if tensor_name in magnitudes:
                            np.save(root / folder / f"magnitude_{i}.npy", magnitudes[tensor_name])
                        want = case.expected[tensor_name]
                        outputs.append(_tensor(tensor_name, want, f"expected_{i}"))
                    written.append(
                        VectorCase(
                            id=case.id,
                            folder=folder,
                            op=case.op,
                            signature=case.signature,
                            generator=case.generator,
                            index=case.index,
                            inputs=inputs,
                            outputs=outputs,
                            tolerance=sig.tolerance,
                        )
                    )
    manifest = VectorManifest(
        seed=seed,
        cases_per_signature=cases_per_signature,
        generators=list(generators),
        cases=written,
        skipped=skipped,
    )
    (root / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def _tensor(name: str, data: np.ndarray, file: str) -> VectorTensor:
    """The manifest entry of a tensor written as ``file`` (type and shape of the data)."""
    dtype = "bool" if data.dtype == np.bool_ else str(data.dtype)
    return VectorTensor(name=name, dtype=dtype, shape=list(data.shape), file=file)


def read_manifest(directory: str | Path) -> VectorManifest:
    """The manifest of an exported vector folder (an :class:`InputError` when unreadable)."""
    path = Path(directory) / MANIFEST
    try:
        return VectorManifest.model_validate_json(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a conformance vector manifest: {exc}") from None


def _load(folder: Path, stem: str, want: VectorTensor) -> np.ndarray:
    """A result tensor from ``stem.npy`` or ``stem.bin`` (raw, of the expected type/shape)."""
    dtype = np.dtype(numpy_dtype(want.dtype)).newbyteorder("<")
    if (folder / f"{stem}.npy").exists():
        return np.asarray(np.load(folder / f"{stem}.npy", allow_pickle=False))
    raw = (folder / f"{stem}.bin").read_bytes()
    count = int(np.prod(want.shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise InputError(
            f"{folder / stem}.bin has {len(raw)} bytes, expected {count * dtype.itemsize} "
            f"({want.dtype}{want.shape})"
        )
    return np.frombuffer(raw, dtype=dtype).astype(dtype.newbyteorder("=")).reshape(want.shape)


def grade_vectors(
    directory: str | Path, results: str | Path, backend: str = "device"
) -> ConformanceReport:
    """Grade the outputs a device wrote to ``results`` against the vectors in ``directory``."""
    started = time.perf_counter()
    manifest = read_manifest(directory)
    root, out_root = Path(directory), Path(results)
    if not out_root.is_dir():
        raise InputError(f"results folder {out_root} does not exist")
    graded: list[CaseResult] = []
    for case in manifest.cases:
        result = CaseResult(
            id=case.id,
            op=case.op,
            signature=case.signature,
            generator=case.generator,
            index=case.index,
            status=Status.PASS,
            verify=mode_text(case.tolerance),
        )
        folder = out_root / case.folder
        if not folder.is_dir():
            result.status, result.message = Status.NOT_CLAIMED, "no result from the device"
            graded.append(result)
            continue
        try:
            got = {t.name: _load(folder, f"output_{i}", t) for i, t in enumerate(case.outputs)}
            want = {
                t.name: np.load(root / case.folder / f"{t.file}.npy", allow_pickle=False)
                for t in case.outputs
            }
        except (OSError, ValueError, InputError) as exc:
            result.status, result.stage = Status.ERROR, "run"
            result.message = " ".join(f"{type(exc).__name__}: {exc}".split())
            graded.append(result)
            continue
        magnitudes = {
            t.name: np.load(root / case.folder / f"magnitude_{i}.npy", allow_pickle=False)
            for i, t in enumerate(case.outputs)
            if (root / case.folder / f"magnitude_{i}.npy").is_file()
        }
        problem, error = compare(case.tolerance, got, want, magnitudes=magnitudes)
        result.max_error = error
        if problem is not None:
            result.status, result.stage, result.message = Status.MISMATCH, "compare", problem
        graded.append(result)
    tolerances = {(c.op, c.signature): c.tolerance for c in manifest.cases}
    failures: list[Failure] = [failure_of(r) for r in graded if r.counts_as_failure][:20]
    return ConformanceReport(
        backend=backend,
        backend_version="?",
        spec_version=manifest.spec_version,
        seed=manifest.seed,
        cases_per_signature=manifest.cases_per_signature,
        generators=manifest.generators,
        seconds=round(time.perf_counter() - started, 3),
        results=[signature_result(op, sig, tol, graded) for (op, sig), tol in tolerances.items()],
        failures=failures,
        cases=graded,
        profiles=profile_results(graded),
    )
