"""What the results panel shows, without Qt: node results, tensor statistics, value text.

Contract:

* :class:`NodeResult` is a bare record of one node's run (inputs, attrs, outputs, status);
  the panel needs nothing else, so tests and other tools build it without an engine.
* :func:`results_from_report` turns a ``graph.engine.RunReport`` into ``{node id: NodeResult}``
  (duck-typed: only ``report.nodes[...]`` attributes are read, so tools can pass a look-alike).
* Statistics come from :func:`graph.stats.tensor_stats` (the command line's table uses the
  same function): shape, dtype, min, max, mean, std and NaN/inf counts, in bounded float64
  pieces so a tensor of tens of millions of elements never becomes Python objects nor one
  full-size float64 copy (complex tensors: statistics of the magnitude).
* :func:`format_value` is the compact cell text; :func:`exact_value` the exact ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph.stats import TensorStats, format_number, tensor_stats

__all__ = [
    "NodeResult", "TensorStats", "exact_value", "format_number", "format_value",
    "port_value_text", "results_from_report", "tensor_entries", "tensor_stats",
]


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
