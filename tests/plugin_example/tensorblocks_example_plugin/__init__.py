"""An example TensorBlocks plugin: two block declarations, nothing else.

``INVERT`` flips values (``max - x`` for unsigned integers, ``-x`` otherwise);
``ADD_CONSTANT`` adds its ``value_`` attr in the input's dtype. The entry points in
pyproject.toml name ``INVERT`` (one BlockSpec) and ``ARITHMETIC_BLOCKS`` (a tuple).
Imports come from ``blocks.spec`` and ``blocks.errors``, as plugins must.
"""

from __future__ import annotations

import numpy as np

from blocks.errors import InvalidArgumentError
from blocks.spec import (
    AttrSpec,
    BlockSpec,
    InferContext,
    InputPort,
    OutputPort,
    PortKind,
    RunContext,
    TensorInfo,
)


def _same(ctx: InferContext) -> dict[str, TensorInfo]:
    x = ctx.inputs.get("x")
    return {"y": TensorInfo(None if x is None else x.shape, None if x is None else x.dtype)}


def _invert(ctx: RunContext) -> dict[str, np.ndarray]:
    x = np.asarray(ctx.inputs["x"])
    if x.dtype.kind == "u":
        return {"y": np.iinfo(x.dtype).max - x}
    return {"y": -x}


def _value(ctx: InferContext | RunContext) -> float:
    text = str(ctx.attrs["value"])
    try:
        return float(text)
    except ValueError:
        message = f"value: expected a number, got {text!r}"
        raise InvalidArgumentError(message, attr="value") from None


def _add_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    _value(ctx)
    return _same(ctx)


def _add(ctx: RunContext) -> dict[str, np.ndarray]:
    x = np.asarray(ctx.inputs["x"])
    return {"y": (x + np.asarray(_value(ctx)).astype(x.dtype)).astype(x.dtype)}


INVERT = BlockSpec(
    name="ExampleInvert",
    title="Invert (example plugin)",
    category="Example",
    doc="max - x for unsigned integers, -x otherwise.",
    inputs=(InputPort("x", PortKind.TENSOR, "any tensor"),),
    outputs=(OutputPort("y", "x inverted"),),
    attrs=(),
    infer=_same,
    run=_invert,
    color="#b04a6f",
    tags=("negate", "plugin"),
)

ADD_CONSTANT = BlockSpec(
    name="ExampleAddConstant",
    title="Add Constant (example plugin)",
    category="Example",
    doc="x + value, in x's dtype.",
    inputs=(InputPort("x", PortKind.TENSOR, "any tensor"),),
    outputs=(OutputPort("y", "x plus the constant"),),
    attrs=(AttrSpec("value", str, "1", "the constant to add (a number)"),),
    infer=_add_infer,
    run=_add,
    color="#b04a6f",
    tags=("offset", "plugin"),
)

ARITHMETIC_BLOCKS = (ADD_CONSTANT,)
