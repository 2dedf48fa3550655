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

from blocks.kernels.adjust import (
    adjust_contrast_v2,
    adjust_hue,
    adjust_saturation,
    adjust_shape,
)
from blocks.kernels.array_ops import (
    check_array_dtype,
    concat_shape,
    concat_v2,
    expand_dims,
    expand_dims_shape,
    parse_squeeze_dims,
    reshape,
    reshape_shape,
    slice_plan,
    slice_tensor,
    squeeze,
    squeeze_shape,
    transpose,
    transpose_plan,
)
from blocks.kernels.cast import cast, cast_plan
from blocks.kernels.colorspace import colorspace_shape, hsv_to_rgb, rgb_to_hsv
from blocks.kernels.crop_and_resize import METHODS, crop_and_resize, crop_and_resize_plan
from blocks.kernels.draw_boxes import draw_bounding_boxes, draw_boxes_shape
from blocks.kernels.nms import nms_plan, non_max_suppression_v3
from blocks.kernels.resize import (
    resize_bilinear,
    resize_nearest_neighbor,
    resize_plan,
)
from blocks.kernels.resize_filters import resize_area, resize_bicubic
from blocks.literals import parse_dtype
from blocks.spec import (
    AttrSpec,
    BlockSpec,
    InferContext,
    InferRule,
    InputPort,
    OutputPort,
    PortKind,
    RunContext,
    RunRule,
    TensorInfo,
    VariadicInput,
)

#: The palette colour of each category this module declares blocks in.
_COLORS = {"Image": "#3a9bc0", "Array": "#7f8c8d"}


def _declare(
    name: str,
    title: str,
    category: str,
    doc: str,
    ports: tuple[tuple[InputPort, ...], OutputPort],
    rules: tuple[InferRule, RunRule],
    tags: tuple[str, ...],
    attrs: tuple[AttrSpec, ...] = (),
) -> BlockSpec:
    """Every block of this module: one output, the colour of its category."""
    inputs, output = ports
    infer, run = rules
    return BlockSpec(name=name, title=title, category=category, doc=doc, inputs=inputs,
                     outputs=(output,), attrs=attrs, infer=infer, run=run,
                     color=_COLORS[category], tags=tags)


def _images_rule(check: Callable[[InferContext], tuple[int | None, ...] | None]) -> InferRule:
    """The shape rule of a block whose ``output`` has its images' dtype and the shape
    ``check`` returns (the kernel module's checks)."""
    return lambda ctx: {"output": TensorInfo(check(ctx), ctx.dtype("images"))}


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
    # ResizeArea has no half_pixel_centers attr (TF's op has none either).
    return {name: bool(attrs[name]) for name in ("align_corners", "half_pixel_centers")
            if name in attrs}


def _resize_block(
    name: str,
    title: str,
    method: str,
    kernel: ResizeKernel,
    doc: str,
    output_doc: str = "[B,h,w,C] float32",
    attrs: tuple[AttrSpec, ...] = _RESIZE_ATTRS,
) -> BlockSpec:
    # All resize blocks share ports, attrs and the checked plan; only the kernel differs.
    def infer(ctx: InferContext) -> dict[str, TensorInfo]:
        plan = resize_plan(
            method,
            ctx.shape("images"),
            ctx.dtype("images"),
            ctx.value("size"),
            memory_limit=ctx.memory_limit,
            **_resize_kwargs(ctx.attrs),
        )
        return {"resized_images": TensorInfo(plan.shape, plan.dtype)}

    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        out = kernel(
            ctx.inputs["images"],
            ctx.inputs["size"],
            cancel=ctx.cancel,
            memory_limit=ctx.memory_limit,
            **_resize_kwargs(ctx.attrs),
        )
        return {"resized_images": out}

    ports = (
        (
            InputPort("images", PortKind.TENSOR, "images [B,H,W,C]", batched=True),
            InputPort("size", PortKind.TENSOR, "new size (h, w), int32 [2]", dtype="int32"),
        ),
        OutputPort("resized_images", output_doc),
    )
    tags = ("resize", "scale", "tf.image.resize", method)
    return _declare(name, title, "Image", doc, ports, (infer, run), tags, attrs)


RESIZE_BILINEAR = _resize_block(
    "ResizeBilinear",
    "Resize Bilinear",
    "bilinear",
    resize_bilinear,
    "Images resized to size (h, w) by bilinear interpolation, in float32 as TensorFlow.",
)

RESIZE_NEAREST_NEIGHBOR = _resize_block(
    "ResizeNearestNeighbor",
    "Resize Nearest Neighbor",
    "nearest",
    resize_nearest_neighbor,
    "Images resized to size (h, w) by picking the nearest pixel; the dtype is kept.",
    "[B,h,w,C] of the images' dtype",
)

RESIZE_BICUBIC = _resize_block(
    "ResizeBicubic",
    "Resize Bicubic",
    "bicubic",
    resize_bicubic,
    "Images resized to size (h, w) by cubic convolution (Keys' a=-0.5 with half pixel "
    "centres, else -0.75), in float32 as TensorFlow.",
)

RESIZE_AREA = _resize_block(
    "ResizeArea",
    "Resize Area",
    "area",
    resize_area,
    "Images resized to size (h, w) by averaging the input area each output pixel covers "
    "(a box filter, best for shrinking), in float32 as TensorFlow.",
    attrs=_RESIZE_ATTRS[:1],
)



def _crop_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    plan = crop_and_resize_plan(
        ctx.shape("image"),
        ctx.dtype("image"),
        ctx.shape("boxes"),
        ctx.value("box_ind"),
        ctx.shape("box_ind"),
        ctx.value("crop_size"),
        method=str(ctx.attrs["method"]),
        extrapolation_value=ctx.attrs["extrapolation_value"],
        boxes=ctx.value("boxes"),
        memory_limit=ctx.memory_limit,
    )
    return {"crops": TensorInfo(plan.shape, np.dtype(np.float32))}


def _crop_run(ctx: RunContext) -> dict[str, np.ndarray]:
    out = crop_and_resize(
        ctx.inputs["image"],
        ctx.inputs["boxes"],
        ctx.inputs["box_ind"],
        ctx.inputs["crop_size"],
        method=str(ctx.attrs["method"]),
        extrapolation_value=ctx.attrs["extrapolation_value"],
        memory_limit=ctx.memory_limit,
    )
    return {"crops": out}


CROP_AND_RESIZE = _declare(
    "CropAndResize",
    "Crop And Resize",
    "Image",
    "Boxes (y1, x1, y2, x2, normalised) cut from the images box_ind names and resampled "
    "to crop_size; samples outside the image are extrapolation_value.",
    (
        (
            InputPort("image", PortKind.TENSOR, "images [B,H,W,C]"),
            InputPort(
                "boxes", PortKind.TENSOR, "boxes [N,4]: y1, x1, y2, x2 in [0,1]",
                dtype="float32", batched=True,
            ),
            InputPort("box_ind", PortKind.TENSOR, "the image of each box, int32 [N]",
                      dtype="int32", batched=True),
            InputPort("crop_size", PortKind.TENSOR, "crop size (h, w), int32 [2]",
                      dtype="int32"),
        ),
        OutputPort("crops", "[N,h,w,C] float32"),
    ),
    (_crop_infer, _crop_run),
    ("crop", "roi", "boxes", "attention", "tf.image.crop_and_resize"),
    (
        AttrSpec("method", str, "bilinear", "bilinear or nearest sampling", choices=METHODS),
        AttrSpec(
            "extrapolation_value",
            str,
            "0",
            "the value of samples outside the image (a number)",
        ),
    ),
)



def _colorspace_block(name: str, title: str, kernel: Any, doc: str) -> BlockSpec:
    # Both conversions share ports, checks and shape rule.
    ports = (
        (InputPort("images", PortKind.TENSOR, "[..., 3] half, bfloat16, float, double",
                   batched=True),),
        OutputPort("output", "same shape and dtype"),
    )
    rules: tuple[InferRule, RunRule] = (
        _images_rule(lambda ctx: colorspace_shape(ctx.shape("images"), ctx.dtype("images"))),
        lambda ctx: {"output": kernel(ctx.inputs["images"], ctx.cancel)},
    )
    return _declare(name, title, "Image", doc, ports, rules, ("color", "hsv", "rgb", "tf.image"))


RGB_TO_HSV = _colorspace_block(
    "RGBToHSV",
    "RGB To HSV",
    rgb_to_hsv,
    "RGB values in [0,1] (last dim 3) as hue, saturation, value in [0,1].",
)

HSV_TO_RGB = _colorspace_block(
    "HSVToRGB",
    "HSV To RGB",
    hsv_to_rgb,
    "Hue, saturation, value in [0,1] (last dim 3) as RGB.",
)



def _adjust_block(name: str, title: str, factor: str, kernel: Any, doc: str) -> BlockSpec:
    # AdjustSaturation and AdjustHue share ports (but for the factor's name) and checks.
    ports = (
        (
            InputPort("images", PortKind.TENSOR, "RGB images [..., 3] float32", batched=True),
            InputPort(factor, PortKind.TENSOR, f"the {factor}, a float32 scalar",
                      dtype="float32"),
        ),
        OutputPort("output", "same shape, float32"),
    )
    rules: tuple[InferRule, RunRule] = (
        _images_rule(lambda ctx: adjust_shape(ctx.shape("images"), ctx.dtype("images"),
                                              ctx.shape(factor), factor)),
        lambda ctx: {"output": kernel(ctx.inputs["images"], ctx.inputs[factor], ctx.cancel)},
    )
    tags = ("color", "hsv", "augment", "tf.image")
    return _declare(name, title, "Image", doc, ports, rules, tags)


ADJUST_SATURATION = _adjust_block(
    "AdjustSaturation",
    "Adjust Saturation",
    "scale",
    adjust_saturation,
    "RGB images with their HSV saturation multiplied by scale (clamped to [0, 1]).",
)

ADJUST_HUE = _adjust_block(
    "AdjustHue",
    "Adjust Hue",
    "delta",
    adjust_hue,
    "RGB images with delta (in turns, e.g. 0.25) added to their hue.",
)

ADJUST_CONTRAST_V2 = _declare(
    "AdjustContrastv2",
    "Adjust Contrast",
    "Image",
    "Images with each channel's distance from its per-image mean scaled by contrast_factor.",
    (
        (
            InputPort("images", PortKind.TENSOR, "images [..., H, W, C] float32",
                      batched=True),
            InputPort("contrast_factor", PortKind.TENSOR, "the factor, a float32 scalar",
                      dtype="float32"),
        ),
        OutputPort("output", "same shape, float32"),
    ),
    (
        _images_rule(lambda ctx: adjust_shape(ctx.shape("images"), ctx.dtype("images"),
                                              ctx.shape("contrast_factor"), "contrast_factor",
                                              channels=None)),
        lambda ctx: {"output": adjust_contrast_v2(ctx.inputs["images"],
                                                  ctx.inputs["contrast_factor"], ctx.cancel)},
    ),
    ("contrast", "augment", "tf.image.adjust_contrast"),
)



def _draw_boxes_block(name: str, title: str, with_colors: bool, doc: str) -> BlockSpec:
    # V1 and V2 differ only by V2's colors input.
    def check(ctx: InferContext) -> tuple[int | None, ...] | None:
        return draw_boxes_shape(
            ctx.shape("images"), ctx.dtype("images"), ctx.shape("boxes"),
            ctx.shape("colors") if with_colors else None,
        )

    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        colors = ctx.inputs["colors"] if with_colors else None
        return {"output": draw_bounding_boxes(ctx.inputs["images"], ctx.inputs["boxes"], colors)}

    colors_port = (
        InputPort("colors", PortKind.TENSOR, "colors [K, >= depth] float32 (empty: TF's ten)",
                  dtype="float32"),
    )
    ports = (
        (
            InputPort("images", PortKind.TENSOR, "images [B,H,W,1|3|4] float32 or half",
                      batched=True),
            InputPort("boxes", PortKind.TENSOR, "boxes [B,N,4]: y_min, x_min, y_max, x_max",
                      dtype="float32", batched=True),
            *(colors_port if with_colors else ()),
        ),
        OutputPort("output", "the images with the boxes drawn"),
    )
    tags = ("boxes", "draw", "outline", "tf.image.draw_bounding_boxes")
    return _declare(name, title, "Image", doc, ports, (_images_rule(check), run), tags)


DRAW_BOUNDING_BOXES = _draw_boxes_block(
    "DrawBoundingBoxes",
    "Draw Bounding Boxes",
    False,
    "The images with each box outlined one pixel wide, in TF's ten colors by box index.",
)

DRAW_BOUNDING_BOXES_V2 = _draw_boxes_block(
    "DrawBoundingBoxesV2",
    "Draw Bounding Boxes V2",
    True,
    "As DrawBoundingBoxes, in the given colors (one row per color, cycling by box index).",
)



def _nms_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    shape = nms_plan(
        ctx.shape("boxes"), ctx.dtype("boxes"), ctx.shape("scores"),
        ctx.value("max_output_size"), ctx.shape("max_output_size"),
        ctx.value("iou_threshold"), ctx.shape("iou_threshold"), ctx.shape("score_threshold"),
    )
    return {"selected_indices": TensorInfo(shape, np.dtype(np.int32))}


def _nms_run(ctx: RunContext) -> dict[str, np.ndarray]:
    out = non_max_suppression_v3(
        ctx.inputs["boxes"], ctx.inputs["scores"], ctx.inputs["max_output_size"],
        ctx.inputs["iou_threshold"], ctx.inputs["score_threshold"],
    )
    return {"selected_indices": out}


NON_MAX_SUPPRESSION_V3 = _declare(
    "NonMaxSuppressionV3",
    "Non Max Suppression V3",
    "Image",
    "The indices of at most max_output_size boxes, best score first, dropping boxes "
    "that overlap a better one by more than iou_threshold or score at most score_threshold.",
    (
        (
            InputPort("boxes", PortKind.TENSOR, "boxes [N,4] float32 or half"),
            InputPort("scores", PortKind.TENSOR, "scores [N], the boxes' dtype"),
            InputPort("max_output_size", PortKind.TENSOR, "int32 scalar", dtype="int32"),
            InputPort("iou_threshold", PortKind.TENSOR, "float32 scalar in [0, 1]",
                      required=False, default="0.5", dtype="float32"),
            InputPort("score_threshold", PortKind.TENSOR, "float32 scalar", required=False,
                      default="-inf", dtype="float32"),
        ),
        OutputPort("selected_indices", "[M] int32"),
    ),
    (_nms_infer, _nms_run),
    ("nms", "boxes", "detection", "tf.image.non_max_suppression"),
)

# ----------------------------------------------------------------------------- array ops


def _dst_dtype(value: Any) -> np.dtype[Any]:
    if value is None:
        return parse_dtype("DT_FLOAT")
    return parse_dtype(value) if isinstance(value, str) else np.dtype(value)


def _cast_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    dst = cast_plan(
        ctx.dtype("x"), _dst_dtype(ctx.value("DstT")), ctx.shape("x"), ctx.memory_limit
    )
    return {"y": TensorInfo(ctx.shape("x"), dst)}


def _cast_run(ctx: RunContext) -> dict[str, np.ndarray]:
    out = cast(
        ctx.inputs["x"],
        _dst_dtype(ctx.inputs.get("DstT")),
        truncate=bool(ctx.attrs["Truncate"]),
        memory_limit=ctx.memory_limit,
    )
    return {"y": out}


CAST = _declare(
    "Cast",
    "Cast",
    "Array",
    "x converted to DstT as TensorFlow converts it (complex to real keeps the real part; "
    "float to integer truncates; NaN or out-of-range floats to integers are refused).",
    (
        (
            InputPort("x", PortKind.TENSOR, "any tensor", batched=True),
            InputPort("DstT", PortKind.DTYPE, "the dtype to convert to", required=False,
                      default="DT_FLOAT"),
        ),
        OutputPort("y", "x as DstT"),
    ),
    (_cast_infer, _cast_run),
    ("convert", "dtype", "tf.cast"),
    (
        AttrSpec(
            "Truncate",
            bool,
            False,
            "to fewer mantissa bits: cut the low bits instead of rounding to nearest",
        ),
    ),
)


ShapeRule = Callable[[Any, list[Any], Mapping[str, Any]], Any]
ArrayKernel = Callable[[Any, list[Any], Mapping[str, Any]], np.ndarray]


def _array_block(
    name: str,
    title: str,
    doc: str,
    data: str,
    extra: tuple[InputPort, ...],
    output: OutputPort,
    shape_rule: ShapeRule,
    kernel: ArrayKernel,
    tags: tuple[str, ...],
    attrs: tuple[AttrSpec, ...] = (),
) -> BlockSpec:
    """A block that moves the values of its ``data`` tensor (any dtype), steered by small
    int inputs (``extra``, known to inference when typed as literals) and attrs."""
    names = [port.name for port in extra]

    def infer(ctx: InferContext) -> dict[str, TensorInfo]:
        check_array_dtype(data, ctx.dtype(data))
        values = [ctx.value(port) for port in names]
        return {output.name: TensorInfo(shape_rule(ctx.shape(data), values, ctx.attrs),
                                        ctx.dtype(data))}

    def run(ctx: RunContext) -> dict[str, np.ndarray]:
        values = [ctx.inputs[port] for port in names]
        return {output.name: kernel(ctx.inputs[data], values, ctx.attrs)}

    ports = ((InputPort(data, PortKind.TENSOR, "any tensor", batched=True), *extra), output)
    return _declare(name, title, "Array", doc, ports, (infer, run), tags, attrs)


def _int_port(name: str, doc: str) -> InputPort:
    return InputPort(name, PortKind.TENSOR, doc, dtype="int32")


RESHAPE = _array_block(
    "Reshape",
    "Reshape",
    "The tensor's values in a new shape; one dim may be -1 (inferred from the others).",
    "tensor",
    (_int_port("shape", "the new shape, int32 [N]"),),
    OutputPort("output", "the tensor reshaped"),
    lambda shape, v, _: reshape_shape(shape, v[0]),
    lambda x, v, _: reshape(x, v[0]),
    ("shape", "flatten", "view", "tf.reshape"),
)

EXPAND_DIMS = _array_block(
    "ExpandDims",
    "Expand Dims",
    "A dim of size 1 inserted at axis (negative counts from the end).",
    "input",
    (_int_port("axis", "where the new dim goes, int32"),),
    OutputPort("output", "input with one more dim"),
    lambda shape, v, _: expand_dims_shape(shape, v[0]),
    lambda x, v, _: expand_dims(x, v[0]),
    ("shape", "unsqueeze", "newaxis", "tf.expand_dims"),
)

SQUEEZE = _array_block(
    "Squeeze",
    "Squeeze",
    "Dims of size 1 removed: those listed in squeeze_dims, or all of them.",
    "input",
    (),
    OutputPort("output", "input without the squeezed dims"),
    lambda shape, _, attrs: squeeze_shape(shape, parse_squeeze_dims(attrs["squeeze_dims"])),
    lambda x, _, attrs: squeeze(x, parse_squeeze_dims(attrs["squeeze_dims"])),
    ("shape", "tf.squeeze"),
    attrs=(
        AttrSpec(
            "squeeze_dims",
            str,
            "",
            "the dims to remove, e.g. 0,2 (negative count from the end); empty: every "
            "dim of size 1",
        ),
    ),
)

TRANSPOSE = _array_block(
    "Transpose",
    "Transpose",
    "The dims of x reordered: output dim i is input dim perm[i].",
    "x",
    (_int_port("perm", "a permutation of the dims, int32"),),
    OutputPort("y", "x transposed"),
    lambda shape, v, _: transpose_plan(shape, v[0])[0],
    lambda x, v, _: transpose(x, v[0]),
    ("permute", "NCHW", "NHWC", "tf.transpose"),
)

SLICE = _array_block(
    "Slice",
    "Slice",
    "The block of input starting at begin with the given size (-1: to the end).",
    "input",
    (
        _int_port("begin", "start per dim, int32 [rank]"),
        _int_port("size", "size per dim (-1: to the end), int32"),
    ),
    OutputPort("output", "the slice"),
    lambda shape, v, _: slice_plan(shape, v[0], v[1])[0],
    lambda x, v, _: slice_tensor(x, v[0], v[1]),
    ("crop", "subset", "tf.slice"),
)



def _concat_infer(ctx: InferContext) -> dict[str, TensorInfo]:
    values = ctx.group("values")
    dtypes = [info.dtype for info in values]
    shape = concat_shape([info.shape for info in values], dtypes, ctx.value("axis"))
    return {"output": TensorInfo(shape, next((d for d in dtypes if d is not None), None))}


CONCAT_V2 = BlockSpec(
    name="ConcatV2",
    title="Concat V2",
    category="Array",
    doc="values_0 .. values_{N-1} joined along axis (negative counts from the end); the "
    "other dims and the dtypes must match. The number of values is set per block: the "
    "+ under the last one adds a port.",
    inputs=(InputPort("axis", PortKind.TENSOR, "the dim to join along, int32 scalar",
                      dtype="int32"),),
    outputs=(OutputPort("output", "the values joined"),),
    attrs=(),
    infer=_concat_infer,
    run=lambda ctx: {"output": concat_v2(ctx.group("values"), ctx.inputs["axis"],
                                         ctx.cancel)},
    color=_COLORS["Array"],
    tags=("concat", "join", "stack", "channels", "tf.concat"),
    variadic=VariadicInput("values", PortKind.TENSOR, "a tensor to join (same rank and "
                           "dtype as the others)", min_count=2, default_count=2,
                           batched=True),
)

#: The library's blocks, in palette order.
LIBRARY_OPS: tuple[BlockSpec, ...] = (
    RESIZE_BILINEAR,
    RESIZE_NEAREST_NEIGHBOR,
    RESIZE_BICUBIC,
    RESIZE_AREA,
    CROP_AND_RESIZE,
    RGB_TO_HSV,
    HSV_TO_RGB,
    ADJUST_SATURATION,
    ADJUST_HUE,
    ADJUST_CONTRAST_V2,
    DRAW_BOUNDING_BOXES,
    DRAW_BOUNDING_BOXES_V2,
    NON_MAX_SUPPRESSION_V3,
    CAST,
    RESHAPE,
    EXPAND_DIMS,
    SQUEEZE,
    TRANSPOSE,
    SLICE,
    CONCAT_V2,
)
