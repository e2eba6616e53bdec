"""What quantization cost: an integer model against its float original on the same samples
(``tinyabi compare INT8 --against FLOAT --inputs DIR [--labels FILE]``).

Every sample (real-valued inputs) goes to the float model as it is and to the integer model
quantized with its input's parameters. Per output, the integer model's result is dequantized
and compared with the float model's: signal-to-quantization-noise ratio
``10 log10(sum f^2 / sum (f - q)^2)`` over all samples, and the largest absolute error; for
classifier outputs also how often both pick the same class, and with labels the accuracy of each.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from tinyabi.display import is_classifier_output
from tinyabi.errors import InputError
from tinyabi.feeds import load_array, prepare_input
from tinyabi.ir.graph import Graph
from tinyabi.kernels.tensor import dequantize
from tinyabi.progress import progress

__all__ = ["AccuracyReport", "OutputAccuracy", "compare_with_float", "read_labels", "read_samples"]


class OutputAccuracy(BaseModel):
    """One output of the integer model against the float model's."""

    model_config = ConfigDict(extra="forbid")

    output: str
    float_output: str
    sqnr_db: float
    max_abs_error: float
    top1_agreement: float | None = None
    accuracy_int: float | None = None
    accuracy_float: float | None = None


class AccuracyReport(BaseModel):
    """The result of :func:`compare_with_float`; ``str()`` gives the CLI's table."""

    model_config = ConfigDict(extra="forbid")

    samples: int
    backends: list[str]
    float_backends: list[str]
    outputs: list[OutputAccuracy]

    def __str__(self) -> str:
        lines = [
            f"{self.samples} samples; integer model on {','.join(self.backends)}, float model on "
            f"{','.join(self.float_backends)}",
            f"{'output':<24} {'SQNR dB':>8} {'max abs err':>12} {'top-1 agree':>12} "
            f"{'acc int':>8} {'acc float':>9}",
        ]

        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.1%}"

        for o in self.outputs:
            lines.append(
                f"{o.output[:24]:<24} {o.sqnr_db:>8.2f} {o.max_abs_error:>12.5g} "
                f"{pct(o.top1_agreement):>12} {pct(o.accuracy_int):>8} "
                f"{pct(o.accuracy_float):>9}"
            )
        return "\n".join(lines)


def read_samples(folder: str | Path, graph: Graph) -> list[dict[str, np.ndarray]]:
    """Samples from the ``.npy`` files of ``folder`` (sorted by name) for a single-input model:
    each file holds one sample shaped like the input, or a batch of samples along a first axis
    in front of (or replacing a leading 1 of) the input's shape."""
    path = Path(folder)
    if not path.is_dir():
        raise InputError(f"--inputs {folder}: not a folder of .npy files")
    if len(graph.inputs) != 1:
        raise InputError(
            f"a folder of samples needs a one-input model; this one has {graph.inputs}"
        )
    name = graph.inputs[0]
    shape = graph.tensor(name).shape
    samples = []
    for file in sorted(path.glob("*.npy")):
        array = load_array(file, "sample file")
        if array.shape == shape:
            samples.append({name: array})
        elif array.shape[1:] == shape[1:] and shape[:1] == (1,):
            samples += [{name: row[None]} for row in array]
        elif array.shape[1:] == shape:
            samples += [{name: row} for row in array]
        else:
            raise InputError(
                f"sample file {file}: shape {list(array.shape)} is neither the input's "
                f"{list(shape)} nor a batch of it"
            )
    if not samples:
        raise InputError(f"--inputs {folder}: no .npy files")
    return samples


def read_labels(path: str | Path) -> list[int]:
    """Class labels, one integer per line (text) or an integer ``.npy`` array, in sample order."""
    file = Path(path)
    try:
        if file.suffix == ".npy":
            return [int(v) for v in load_array(file, "labels file").reshape(-1)]
        return [int(line) for line in file.read_text().split()]
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read labels from {path}: {exc}") from None


def _sqnr(signal: float, noise: float) -> float:
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def compare_with_float(
    int_graph: Graph,
    float_graph: Graph,
    samples: Sequence[Mapping[str, np.ndarray]],
    labels: Sequence[int] | None = None,
    backends: Sequence[Any] = ("reference",),
    float_backends: Sequence[Any] = ("reference",),
    batch: int = 256,
) -> AccuracyReport:
    """Run every sample (real inputs by the float model's input names) through both models and
    compare the outputs (see the module); inputs and outputs correspond by position. Samples go
    through :meth:`Session.run_batch <tinyabi.session.Session.run_batch>` ``batch`` at a time
    (outputs byte-identical with one run per sample)."""
    from tinyabi.session import Session

    if batch < 1:
        raise InputError(f"batch must be at least 1, got {batch}")
    if labels is not None and len(labels) != len(samples):
        raise InputError(f"{len(labels)} labels for {len(samples)} samples")
    if len(int_graph.outputs) != len(float_graph.outputs):
        raise InputError(
            f"the models have different outputs: {int_graph.outputs} and {float_graph.outputs}"
        )
    int_session = Session(int_graph, backends=list(backends))
    float_session = Session(float_graph, backends=list(float_backends))
    pairs = list(zip(int_graph.outputs, float_graph.outputs))
    signal = dict.fromkeys(int_graph.outputs, 0.0)
    noise = dict.fromkeys(int_graph.outputs, 0.0)
    worst = dict.fromkeys(int_graph.outputs, 0.0)
    agree = dict.fromkeys(int_graph.outputs, 0)
    right_int = dict.fromkeys(int_graph.outputs, 0)
    right_float = dict.fromkeys(int_graph.outputs, 0)
    starts = range(0, len(samples), batch)
    for start in progress(starts, "evaluating", total=len(starts), unit="batch"):
        chunk = samples[start : start + batch]
        float_feeds = {
            f: np.stack([np.asarray(sample[f], dtype=np.float32) for sample in chunk])
            for f in float_graph.inputs
        }
        int_feeds = {
            iname: prepare_input(int_graph, iname, float_feeds[fname])[0]
            for iname, fname in zip(int_graph.inputs, float_graph.inputs)
        }
        got = int_session.run_batch(int_feeds, chunk=batch)
        want = float_session.run_batch(float_feeds, chunk=batch)
        for iname, fname in pairs:
            reals = _real(int_graph, iname, got[iname])
            truths = want[fname].astype(np.float64)
            for i, (real, truth) in enumerate(zip(reals, truths)):
                signal[iname] += float(np.sum(truth**2))
                noise[iname] += float(np.sum((truth - real) ** 2))
                worst[iname] = max(worst[iname], float(np.max(np.abs(truth - real), initial=0.0)))
                picked_int, picked_float = int(np.argmax(real)), int(np.argmax(truth))
                agree[iname] += picked_int == picked_float
                if labels is not None:
                    right_int[iname] += picked_int == labels[start + i]
                    right_float[iname] += picked_float == labels[start + i]
    n = len(samples)
    outputs = []
    for iname, fname in pairs:
        classifier = is_classifier_output(int_graph, iname)
        outputs.append(
            OutputAccuracy(
                output=iname,
                float_output=fname,
                sqnr_db=_sqnr(signal[iname], noise[iname]),
                max_abs_error=worst[iname],
                top1_agreement=agree[iname] / n if classifier else None,
                accuracy_int=right_int[iname] / n if classifier and labels else None,
                accuracy_float=right_float[iname] / n if classifier and labels else None,
            )
        )
    return AccuracyReport(
        samples=n,
        backends=[b if isinstance(b, str) else str(b[0]) for b in backends],
        float_backends=[b if isinstance(b, str) else str(b[0]) for b in float_backends],
        outputs=outputs,
    )


def _real(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    """An output's real values: dequantized when it is a per-tensor quantized integer."""
    quant = graph.tensor(name).quant
    if quant is not None and not quant.per_axis and np.issubdtype(value.dtype, np.integer):
        return dequantize(value, float(quant.scale[0]), int(quant.zero_point[0])).astype(np.float64)
    return value.astype(np.float64)
