"""CropAndResize, bit-exact with TensorFlow 2.21 (``crop_and_resize_op.cc``).

Contract:
* ``crop_and_resize(image, boxes, box_ind, crop_size, *, method, extrapolation_value,
  memory_limit)`` returns ``[num_boxes, crop_h, crop_w, C]`` float32: box ``n`` (normalised
  ``y1, x1, y2, x2``) of image ``box_ind[n]`` resampled to ``crop_size`` by bilinear
  interpolation or the nearest pixel; samples outside the image are
  ``extrapolation_value``.
* ``crop_and_resize_plan(...)`` checks everything that shapes, attrs and small literal
  values tell, in TensorFlow's order, and returns the output shape; the kernel calls it
  first, so the block's inference and its run raise the same errors.

TensorFlow's arithmetic, float32 with one rounding per operation unless said:
``height_scale = (y2 - y1)*(H - 1)/(crop_h - 1)`` (0 when crop_h is 1);
``in_y = y1*(H - 1) + y*height_scale``, or for crop_h 1 ``0.5*(y1 + y2)*(H - 1)`` in double
then rounded to float32 (C's ``0.5`` is a double); rows with ``in_y`` outside
``[0, H - 1]`` are all ``extrapolation_value``, likewise columns. Bilinear:
``top = floor(in_y)``, ``bottom = ceil(in_y)``, ``y_lerp = in_y - top`` and TF's lerp (the
compiled loop :func:`blocks.kernels.resize_loops.crop_bilinear`; see
:mod:`blocks.kernels.float32_math`); nearest: ``roundf`` (halves away from zero).

Errors, in TensorFlow's order: the dtype, method, extrapolation_value (ours: it must be
a number), image 4-D with positive height and width, boxes 2-D, box_ind 1-D, boxes with
4 columns and as many rows as box_ind has values (both empty is fine), crop_size 1-D with
two positive elements, the memory limit, box_ind values in ``[0, batch)`` (TF's
OutOfRange), then every box coordinate finite.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from blocks.kernels.float32_math import to_float32
from blocks.kernels.op_checks import (
    PartialShape,
    attr_error,
    check_dim,
    check_dtype,
    check_memory,
    check_rank,
    dtypes,
    int_vector,
    port_error,
    shape_text,
    size_pair,
)
from blocks.kernels.pieces import loop_threads, run_loop_ranges, shared_pieces
from blocks.kernels.resize import flat_rows, loop_source, resize_loops, tame_limit
from blocks.spec import DEFAULT_MEMORY_LIMIT

#: A bilinear crop sample against a resize's lerp, per output value (both x lerps are
#: made per output row, and every row's two input rows are judged): about 3.
_CROP_COST = 3

_F32 = np.float32
CROP_DTYPES = dtypes("uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32",
                     "float64")
_TF_LIST = "uint8, uint16, int8, int16, int32, int64, half, float, double"
METHODS = ("bilinear", "nearest")


@dataclass(frozen=True)
class CropPlan:
    """A checked crop: output shape (``None`` where unknown) and the parsed attrs."""

    shape: PartialShape
    method: str
    extrapolation_value: np.float32


def parse_extrapolation_value(text: Any) -> np.float32:
    """The ``extrapolation_value_`` attr (a string in attrs) as TF's float32."""
    try:
        return _F32(float(str(text).strip() or "0"))
    except ValueError:
        raise attr_error(
            "extrapolation_value", f"expected a number such as 0 or -1.5, got '{text}'"
        ) from None


def crop_and_resize_plan(
    image_shape: PartialShape,
    image_dtype: np.dtype[Any] | None,
    boxes_shape: PartialShape,
    box_ind: Any,
    box_ind_shape: PartialShape,
    crop_size: Any,
    *,
    method: str = "bilinear",
    extrapolation_value: Any = 0.0,
    boxes: Any = None,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> CropPlan:
    """Check a crop as TensorFlow does; values not known yet are ``None``."""
    check_dtype("image", image_dtype, CROP_DTYPES, _TF_LIST)
    if method not in METHODS:
        raise attr_error(
            "method",
            f"Value for attr 'method' of \"{method}\" is not in the list of allowed values: "
            "\"bilinear\", \"nearest\"",
        )
    fill = parse_extrapolation_value(extrapolation_value)
    batch = depth = None
    if image_shape is not None:
        check_rank("image", image_shape, 4, "input image must be 4-D{shape}")
        batch, height, width, depth = image_shape
        if (height is not None and height <= 0) or (width is not None and width <= 0):
            raise port_error(
                "image", f"image dimensions must be positive, got {shape_text(image_shape)}"
            )
    check_rank("boxes", boxes_shape, 2, "boxes must be 2-D, got: {shape}")
    check_rank("box_ind", box_ind_shape, 1, "box_indices must be rank 1 but is shape {shape}")
    num_boxes = None if boxes_shape is None else boxes_shape[0]
    both_empty = _count(boxes_shape) == 0 and _count(box_ind_shape) == 0
    if both_empty:
        num_boxes = 0
    else:
        check_dim("boxes", boxes_shape, 1, 4, "boxes must have 4 columns")
        if (
            box_ind_shape is not None
            and num_boxes is not None
            and box_ind_shape[0] is not None
            and box_ind_shape[0] != num_boxes
        ):
            raise port_error(
                "box_ind",
                f"box_index has incompatible shape: {box_ind_shape[0]} indices for "
                f"{num_boxes} boxes",
            )
    crop: tuple[int | None, int | None] = (None, None)
    if crop_size is not None:
        crop = size_pair("crop_size", crop_size, "crop_size", "1-D", "crop dimensions")
    shape = (num_boxes, crop[0], crop[1], depth)
    check_memory("crop_size", shape, np.dtype(_F32), memory_limit)
    if box_ind is not None and batch is not None:
        indices = int_vector("box_ind", box_ind)
        if indices.size and (indices.min() < 0 or indices.max() >= batch):
            raise port_error(
                "box_ind",
                f"box_index has values outside [0, batch_size), got {indices.tolist()[:8]} "
                f"for a batch of {batch}",
            )
    if boxes is not None:
        values = np.asarray(boxes)
        if values.dtype != np.float32:
            raise port_error("boxes", f"expected a float32 tensor, got {values.dtype.name}")
        if not np.isfinite(values).all():
            raise port_error("boxes", "Boxes contains at least one element that is not finite")
    return CropPlan(shape, method, fill)


def _count(shape: PartialShape) -> int | None:
    if shape is None or any(d is None for d in shape):
        return None
    return math.prod(int(d) for d in shape if d is not None)


def _sample_positions(
    start: np.ndarray, end: np.ndarray, size: int, crop: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per box and output index: the float32 source coordinate and whether it is inside."""
    span = _F32(size - 1)
    if crop > 1:
        scale = (end - start) * span / _F32(crop - 1)
        index = np.arange(crop, dtype=_F32)
        coord = start[:, None] * span + index[None, :] * scale[:, None]
    else:
        middle = 0.5 * (start + end).astype(np.float64) * float(size - 1)
        coord = middle.astype(_F32)[:, None]
    with np.errstate(invalid="ignore"):
        inside = (coord >= 0) & (coord <= span)  # NaN (overflowed boxes) counts as outside
    return coord, inside


def crop_and_resize(
    image: np.ndarray,
    boxes: np.ndarray,
    box_ind: np.ndarray,
    crop_size: Any,
    *,
    method: str = "bilinear",
    extrapolation_value: Any = 0.0,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """TensorFlow's CropAndResize: ``[num_boxes, crop_h, crop_w, C]`` float32."""
    image, boxes, box_ind = np.asarray(image), np.asarray(boxes), np.asarray(box_ind)
    plan = crop_and_resize_plan(
        image.shape, image.dtype, boxes.shape, box_ind, box_ind.shape, crop_size,
        method=method, extrapolation_value=extrapolation_value, boxes=boxes,
        memory_limit=memory_limit,
    )
    assert plan.shape is not None
    shape = tuple(int(d) for d in plan.shape if d is not None)
    num_boxes, crop_h, crop_w, _ = shape
    if math.prod(shape) == 0:
        return np.zeros(shape, _F32)
    height, width = image.shape[1], image.shape[2]
    boxes = boxes.reshape(num_boxes, 4)
    which = box_ind.reshape(-1).astype(np.intp)
    with np.errstate(over="ignore", invalid="ignore"):
        in_y, inside_y = _sample_positions(boxes[:, 0], boxes[:, 2], height, crop_h)
        in_x, inside_x = _sample_positions(boxes[:, 1], boxes[:, 3], width, crop_w)
    # Outside samples read pixel 0 and are overwritten by the fill below.
    safe_y = np.where(inside_y, in_y, _F32(0))
    safe_x = np.where(inside_x, in_x, _F32(0))
    b = which[:, None, None]
    if plan.method == "nearest":
        rows = np.floor(safe_y.astype(np.float64) + 0.5).astype(np.intp)  # roundf, >= 0
        cols = np.floor(safe_x.astype(np.float64) + 0.5).astype(np.intp)
        out = to_float32(_pixels(image, b, rows[:, :, None], cols[:, None, :]))
    else:
        out = np.empty(shape, _F32)
        channels = image.shape[3]
        args = (flat_rows(loop_source(image)), flat_rows(out), which, safe_y, safe_x,
                channels, tame_limit(4.0, image.dtype),  # a lerp's difference: 2x
                _vector_channels(image.dtype, channels))
        # Boxes in pieces on numba's threads only (never the pool's); alone, one call.
        threads, _ = loop_threads(num_boxes * crop_h * crop_w * channels * _CROP_COST,
                                  pool_min=math.inf)
        pieces = min(num_boxes, shared_pieces(threads))
        run_loop_ranges(resize_loops().crop_bilinear, num_boxes, pieces, args, None, threads)
    outside = ~(inside_y[:, :, None] & inside_x[:, None, :])
    if outside.any():
        out[outside] = plan.extrapolation_value
    return out


def _vector_channels(dtype: np.dtype[Any], channels: int) -> int:
    """The first channel whose bottom-row sum TF adds ``low`` first (its vector loop's
    scalar tail, after the last whole block of 16 float32 channels); inputs of other float
    types are converted element by element and add the product first in every channel
    (measured with tagged NaNs, tools/diff_resize.py)."""
    return channels - channels % 16 if dtype == np.float32 else channels


def _pixels(image: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image[b, rows, cols]`` (broadcast indices): one take of whole pixels from the flat
    image, a third of the time of numpy's three-index fancy indexing."""
    _, height, width, channels = image.shape
    flat = (b * height + rows) * width + cols
    return np.take(image.reshape(-1, channels), flat, axis=0)
