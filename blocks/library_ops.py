"""The block library beyond the first four blocks: resize and array ops.

Each block is declared here once as a :class:`~blocks.spec.BlockSpec` and listed in
:data:`LIBRARY_OPS`, which :mod:`blocks.library` appends to the registry. Blocks are
named as TensorFlow's C++ op classes, ports as those ops' inputs and outputs, attrs as
enuSpace writes them (``align_corners_``). The adapters only translate port values; all
semantics live in the kernels, and each kernel's plan function is both its first step
and the block's shape rule, so inference and running raise the same errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from blocks.kernels.resize import (
    resize_bilinear,
    resize_nearest_neighbor,
    resize_plan,
)
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

_IMAGE_COLOR = "#3a9bc0"
_ARRAY_COLOR = "#7f8c8d"


def _value(info: TensorInfo | None) -> Any:
    """The value inference knows for a port, or ``None``."""
    return None if info is None else info.value


def _shape(info: TensorInfo | None) -> tuple[int | None, ...] | None:
    return None if info is None else info.shape


def _dtype(info: TensorInfo | None) -> np.dtype[Any] | None:
    return None if info is None else info.dtype


# ----------------------------------------------------------------------------- resize

_RESIZE_ATTRS = (
    AttrSpec(
        "align_corners",
        bool,
        False,
        "the corner pixels of input and output are aligned (scale (in-1)/(out-1))",
    ),
    AttrSpec(
        "half_pixel_centers",
        bool,
        False,
        "pixel centres at +0.5 (as most image libraries); not with align_corners",
    ),
)

ResizeKernel = Callable[..., np.ndarray]


def _resize_kwargs(attrs: Mapping[str, Any]) -> dict[str, bool]:
    return {
        "align_corners": bool(attrs["align_corners"]),
        "half_pixel_centers": bool(attrs["half_pixel_centers"]),
    }


def _resize_block(
    name: str, title: str, method: str, kernel: ResizeKernel, doc: str, output_doc: str
) -> BlockSpec:
    # All resize blocks share ports, attrs and the checked plan; only the kernel differs.
    def infer(ctx: InferContext) -> dict[str, TensorInfo]:
        images = ctx.inputs.get("images")
        plan = resize_plan(
            method,
            _shape(images),
            _dtype(images),
            _value(ctx.inputs.get("size")),
            memory_limit=ctx.memory_limit,
            **_resize_kwargs(ctx.attrs),
        )
        return {"resized_images": TensorInfo(plan.shape, plan.dtype)}

    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        out = kernel(
            ctx.inputs["images"],
            ctx.inputs["size"],
            memory_limit=ctx.memory_limit,
            **_resize_kwargs(ctx.attrs),
        )
        return {"resized_images": out}

    return BlockSpec(
        name=name,
        title=title,
        category="Image",
        doc=doc,
        inputs=(
            InputPort("images", PortKind.TENSOR, "images [B,H,W,C]"),
            InputPort("size", PortKind.TENSOR, "new size (h, w), int32 [2]", dtype="int32"),
        ),
        outputs=(OutputPort("resized_images", output_doc),),
        attrs=_RESIZE_ATTRS,
        infer=infer,
        run=run,
        color=_IMAGE_COLOR,
        tags=("resize", "scale", "tf.image.resize", method),
    )


RESIZE_BILINEAR = _resize_block(
    "ResizeBilinear",
    "Resize Bilinear",
    "bilinear",
    resize_bilinear,
    "Images resized to size (h, w) by bilinear interpolation, in float32 as TensorFlow.",
    "[B,h,w,C] float32",
)

RESIZE_NEAREST_NEIGHBOR = _resize_block(
    "ResizeNearestNeighbor",
    "Resize Nearest Neighbor",
    "nearest",
    resize_nearest_neighbor,
    "Images resized to size (h, w) by picking the nearest pixel; the dtype is kept.",
    "[B,h,w,C] of the images' dtype",
)

#: The library's blocks, in palette order.
LIBRARY_OPS: tuple[BlockSpec, ...] = (RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR)
