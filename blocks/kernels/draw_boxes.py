"""DrawBoundingBoxes (V1 and V2), as TensorFlow 2.21 draws them.

Contract: ``draw_bounding_boxes(images, boxes, colors=None)`` returns a copy of the
``[B, H, W, depth]`` images (float32 or float16, depth 1, 3 or 4) with each box of
``boxes [B, N, 4]`` (``y_min, x_min, y_max, x_max`` as fractions) outlined one pixel wide
in color ``N % len(colors)``; ``colors`` ``[K, >= depth]`` float32 (V2), empty or absent:
TF's table of ten colors (for depth 1 every color's first value is 1).
``draw_boxes_shape(...)`` checks the arguments without data, in TensorFlow's order.

TF's geometry (``draw_bounding_box_op.cc``): a coordinate is ``float(v) * (size - 1)``
truncated to int64 (x86: NaN or beyond int64 gives INT64_MIN); boxes that are inverted
or wholly outside are skipped; the top, bottom, left and right lines are drawn in that
order where they lie inside the image, spanning the box clamped to the image; later
boxes paint over earlier ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.kernels.op_checks import check_dtype, dtypes, port_error, shape_text

DRAW_DTYPES = dtypes("float16", "float32")
_INT64_MIN = -(2**63)
_DEFAULT_COLORS = np.array(
    [[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 1], [0, 1, 0, 1], [0.5, 0, 0.5, 1],
     [0.5, 0.5, 0, 1], [0.5, 0, 0, 1], [0, 0, 0.5, 1], [0, 1, 1, 1], [1, 0, 1, 1]],
    np.float32,
)


def draw_boxes_shape(
    images_shape: tuple[int | None, ...] | None,
    images_dtype: np.dtype[Any] | None,
    boxes_shape: tuple[int | None, ...] | None,
    colors_shape: tuple[int | None, ...] | None = None,
) -> tuple[int | None, ...] | None:
    """TF's checks, in its order; the output has the images' shape."""
    check_dtype("images", images_dtype, DRAW_DTYPES, "float, half")
    if images_shape is not None and len(images_shape) != 4:
        raise port_error("images", f"The rank of the images should be 4, got "
                         f"{shape_text(images_shape)}")
    if boxes_shape is not None and len(boxes_shape) != 3:
        raise port_error("boxes", f"The rank of the boxes tensor should be 3, got "
                         f"{shape_text(boxes_shape)}")
    if images_shape is None or boxes_shape is None:
        return images_shape
    if None not in (images_shape[0], boxes_shape[0]) and images_shape[0] != boxes_shape[0]:
        raise port_error("boxes", f"The batch sizes should be the same, got {boxes_shape[0]} "
                         f"for {images_shape[0]} images")
    depth = images_shape[3]
    if depth is not None and depth not in (1, 3, 4):
        raise port_error("images", "Channel depth should be either 1 (GRY), 3 (RGB), or 4 "
                         f"(RGBA), got {depth}")
    if boxes_shape[2] is not None and boxes_shape[2] != 4:
        raise port_error("boxes", "The size of the third dimension of the box must be 4. "
                         f"Received: {boxes_shape[2]}")
    if colors_shape is not None:
        if len(colors_shape) != 2:
            raise port_error("colors", f"colors must be a 2-D matrix{shape_text(colors_shape)}")
        if None not in (depth, colors_shape[1]) and colors_shape[1] < depth:  # type: ignore[operator]
            raise port_error("colors", "colors must have equal or more channels than the "
                             f"image provided: {shape_text(colors_shape)}")
    return tuple(images_shape)


def _truncate(values: np.ndarray) -> np.ndarray:
    """C's int64 truncation as x86 does it: NaN or out of range gives INT64_MIN."""
    wide = values.astype(np.float64)
    with np.errstate(invalid="ignore"):
        inside = np.isfinite(wide) & (wide > -(2.0**63)) & (wide < 2.0**63)
        return np.where(inside, np.trunc(np.where(inside, wide, 0)), _INT64_MIN).astype(
            np.int64
        )


def draw_bounding_boxes(images: Any, boxes: Any, colors: Any = None) -> np.ndarray:
    """TensorFlow's DrawBoundingBoxes (``colors`` None) or DrawBoundingBoxesV2."""
    canvas = np.array(images, copy=True)
    boxes = np.asarray(boxes)
    palette = None if colors is None else np.asarray(colors)
    draw_boxes_shape(canvas.shape, canvas.dtype, boxes.shape,
                     None if palette is None else palette.shape)
    if boxes.dtype != np.float32:
        raise port_error("boxes", f"expected a float32 tensor, got {boxes.dtype.name}")
    batch, height, width, depth = canvas.shape
    if palette is not None and palette.size:
        table = palette.astype(np.float32)[:, :depth]
    else:
        table = _DEFAULT_COLORS[:, :depth].copy()
        if depth == 1:
            table[:, 0] = 1
    table = table.astype(canvas.dtype)
    # float(v) * (size - 1) in float32, then truncated: [B, N] per coordinate.
    rows = boxes.astype(np.float32)
    top = _truncate(rows[..., 0] * np.float32(height - 1))
    bottom = _truncate(rows[..., 2] * np.float32(height - 1))
    left = _truncate(rows[..., 1] * np.float32(width - 1))
    right = _truncate(rows[..., 3] * np.float32(width - 1))
    for b in range(batch):
        for n in range(boxes.shape[1]):
            y0, y1, x0, x1 = int(top[b, n]), int(bottom[b, n]), int(left[b, n]), int(right[b, n])
            if y0 > y1 or x0 > x1:
                continue  # inverted
            if y0 >= height or y1 < 0 or x0 >= width or x1 < 0:
                continue  # wholly outside
            color = table[n % len(table)]
            r0, r1 = max(y0, 0), min(y1, height - 1)
            c0, c1 = max(x0, 0), min(x1, width - 1)
            if y0 >= 0:
                canvas[b, y0, c0:c1 + 1] = color
            if y1 < height:
                canvas[b, y1, c0:c1 + 1] = color
            if x0 >= 0:
                canvas[b, r0:r1 + 1, x0] = color
            if x1 < width:
                canvas[b, r0:r1 + 1, x1] = color
    return canvas
