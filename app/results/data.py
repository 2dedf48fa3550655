"""What the results panel shows, without Qt: node results, tensor statistics, value text.

Contract:

* :class:`NodeResult` is a bare record of one node's run (inputs, attrs, outputs, status);
  the panel needs nothing else, so tests and other tools build it without an engine.
* :func:`results_from_report` turns a ``graph.engine.RunReport`` into ``{node id: NodeResult}``
  (duck-typed: only ``report.nodes[...]`` attributes are read, ``graph`` is not imported).
* :func:`tensor_stats` computes shape, dtype, min, max, mean, std and NaN/inf counts once per
  array, NaN-aware, in float64 chunks so a tensor of tens of millions of elements never
  becomes Python objects (complex tensors: statistics of the magnitude).
* :func:`format_value` is the compact cell text; :func:`exact_value` the exact ``repr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Elements per chunk when computing statistics (bounds the float64 scratch memory to 32 MiB).
STATS_CHUNK = 1 << 22


@dataclass
class NodeResult:
    """One node's run: resolved inputs, attrs, product tensors, status."""

    node: str
    block: str
    inputs: dict[str, Any] = field(default_factory=dict)
    attrs: dict[str, bool | str] = field(default_factory=dict)
    outputs: dict[str, np.ndarray] = field(default_factory=dict)
    status: str = "ran"
    seconds: float = 0.0
    error: str | None = None


def results_from_report(report: Any) -> dict[str, NodeResult]:
    """``{node id: NodeResult}`` from a ``graph.engine.RunReport`` (``None``: empty)."""
    if report is None:
        return {}
    results: dict[str, NodeResult] = {}
    for node_id, node in report.nodes.items():
        error = getattr(node, "error", None)
        results[node_id] = NodeResult(
            node=str(node.node),
            block=str(node.block),
            inputs=dict(getattr(node, "inputs", {}) or {}),
            attrs=dict(getattr(node, "attrs", {}) or {}),
            outputs=dict(getattr(node, "outputs", {}) or {}),
            status=str(getattr(node, "status", "ran")),
            seconds=float(getattr(node, "seconds", 0.0) or 0.0),
            error=None if error is None else str(error),
        )
    return results


@dataclass(frozen=True)
class TensorStats:
    """Summary of one tensor; ``min`` .. ``std`` are ``None`` when no finite element exists."""

    shape: tuple[int, ...]
    dtype: str
    size: int
    min: float | int | None
    max: float | int | None
    mean: float | None
    std: float | None
    nan: int
    inf: int
    complex_magnitude: bool = False

    @property
    def empty(self) -> bool:
        return self.size == 0

    def shape_text(self) -> str:
        return "[" + ",".join(str(d) for d in self.shape) + "]"

    def summary(self) -> str:
        """One line: ``[1,4,4,3] float32  min 0  max 1  mean 0.5  std 0.2  NaN 0  inf 0``."""
        head = f"{self.shape_text()} {self.dtype}"
        if self.empty:
            return f"{head}  empty"
        if self.min is None:
            values = "no finite values"
        else:
            prefix = "|z| " if self.complex_magnitude else ""
            values = (
                f"{prefix}min {format_number(self.min)}  max {format_number(self.max)}  "
                f"mean {format_number(self.mean)}  std {format_number(self.std)}"
            )
        return f"{head}  {values}  NaN {self.nan}  inf {self.inf}"


def _as_real(chunk: np.ndarray) -> np.ndarray:
    if chunk.dtype.kind == "c":
        return np.abs(chunk).astype(np.float64)
    return chunk.astype(np.float64, copy=False)


def tensor_stats(array: np.ndarray) -> TensorStats:
    """Statistics of ``array`` (see the module docstring), ``STATS_CHUNK`` floats at a time.

    One pass: each chunk gives its count, mean and sum of squared deviations in float64,
    merged with Chan's formula (numerically sound, no second read of a large tensor).
    """
    flat = np.asarray(array).reshape(-1)
    shape, dtype_name, size = tuple(array.shape), str(array.dtype.name), int(flat.size)
    is_complex = array.dtype.kind == "c"
    integral = array.dtype.kind in "iub"
    nan = inf = count = 0
    mean = squares = 0.0
    low, high = math.inf, -math.inf
    for start in range(0, size, STATS_CHUNK):
        chunk = _as_real(flat[start : start + STATS_CHUNK])
        chunk_low, chunk_high = float(chunk.min()), float(chunk.max())
        if not integral and not (math.isfinite(chunk_low) and math.isfinite(chunk_high)):
            # min/max propagate NaN and reach inf: only then pay for the masks.
            nan_mask = np.isnan(chunk)
            nan += int(np.count_nonzero(nan_mask))
            inf += int(np.count_nonzero(np.isinf(chunk)))
            chunk = chunk[np.isfinite(chunk)]
            if chunk.size == 0:
                continue
            chunk_low, chunk_high = float(chunk.min()), float(chunk.max())
        n = int(chunk.size)
        chunk_mean = float(chunk.sum()) / n
        deviation = chunk - chunk_mean
        chunk_squares = float(np.dot(deviation, deviation))
        total = count + n
        delta = chunk_mean - mean
        mean += delta * n / total
        squares += chunk_squares + delta * delta * count * n / total
        count = total
        low, high = min(low, chunk_low), max(high, chunk_high)
    if count == 0:
        return TensorStats(shape, dtype_name, size, None, None, None, None, nan, inf, is_complex)
    std = math.sqrt(squares / count)
    exact_low: float | int = low
    exact_high: float | int = high
    if integral:  # int64 beyond 2**53 would round in float64; the extremes stay exact
        exact_low, exact_high = int(flat.min()), int(flat.max())
    return TensorStats(shape, dtype_name, size, exact_low, exact_high, mean, std, nan, inf,
                       is_complex)


def format_number(value: Any) -> str:
    """Compact text for a number: integers as is, floats with 6 significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (complex, np.complexfloating)):
        number = complex(value)
        real, imag = format_number(number.real), format_number(abs(number.imag))
        sign = "-" if math.copysign(1.0, number.imag) < 0 else "+"
        return f"{real}{sign}{imag}j"
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.6g}"


def format_value(value: Any) -> str:
    """The compact cell text of one element."""
    return format_number(value)


def exact_value(value: Any) -> str:
    """The exact text of one element: ``repr`` of the Python number, which reads back to it.

    float16/float32/bfloat16 values are exactly representable as Python floats, so the
    repr of the widened value names precisely the stored number.
    """
    if isinstance(value, np.generic):
        kind = value.dtype.kind
        number: Any = value
        if kind == "c":
            return repr(complex(number))
        if kind in "iu":
            return repr(int(number))
        if kind == "b":
            return repr(bool(number))
        return repr(float(number))
    return repr(value)


def port_value_text(value: Any) -> str:
    """Short text for a resolved input value (tensor, int list, string, dtype)."""
    if isinstance(value, np.ndarray):
        if value.size <= 8:
            return np.array2string(value, separator=",", threshold=8)
        return f"[{','.join(str(d) for d in value.shape)}] {value.dtype.name}"
    if isinstance(value, np.dtype):
        return value.name
    if isinstance(value, tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


def tensor_entries(results: Mapping[str, NodeResult]) -> list[tuple[str, np.ndarray]]:
    """Every product tensor as ``("node.port", array)``, in node order."""
    entries: list[tuple[str, np.ndarray]] = []
    for node_id, result in results.items():
        for port, array in result.outputs.items():
            entries.append((f"{node_id}.{port}", array))
    return entries
