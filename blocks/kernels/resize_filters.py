"""ResizeBicubic and ResizeArea, bit-exact with TensorFlow 2.21.

Contract: ``resize_bicubic(images, size, *, align_corners, half_pixel_centers,
memory_limit)`` and ``resize_area(images, size, *, align_corners, memory_limit)`` return
``[B, h, w, C]`` float32. They share :func:`blocks.kernels.resize.resize_plan` (checks,
errors and shape) with the other resize ops.

Bicubic (``resize_bicubic_op.cc``): a 1025-entry coefficient table computed in double and
stored as float (Keys' a = -0.5 with half pixel centres, else -0.75); per output index
``loc`` as the bilinear scalers give it, ``in_loc = floor(loc)``,
``offset = lrintf((loc - in_loc)*1024)``, taps ``in_loc-1 .. in_loc+2`` clamped to the
image; with half pixel centres taps outside the image weigh 0 and the weights are
divided by their float sum. Each output is the x-weighted sum of four y-weighted column
sums, ``((v0*w0 + v1*w1) + v2*w2) + v3*w3`` in float32 — computed per output row as the
vertical sums of the input columns it reads, then the horizontal sums, the same
operations in the same order.

Area (``resize_area_op.cc``): output cell x covers ``[x*scale, (x+1)*scale)``; the first and
last input pixel it touches weigh their covered fraction, the ones between weigh 1 (added
without a multiplication); per input row ``sum_y`` runs left to right, then
``sum += sum_y*scale_y`` over the rows (from +0.0) and the result is
``sum * float(1.0/(height_scale*width_scale))``.

Both follow TF's denormal flushing and NaN operand order (the arithmetic runs in the
compiled loops of :mod:`blocks.kernels.resize_loops`; the tap tables are made here in
numpy, the cell tables by a compiled function), measured with tagged NaNs: bicubic sums
add the running sum first in the first addition of each 4-term sum, and in the last one
of the x sums of the channels TF's 8-wide vector loop covers (below the largest multiple
of 8); area adds whole pixels after the running sum and the weighted last pixel and rows
before it.

TF's hand-unrolled 3-channel bicubic code (``num_channels == 3``, every width) keeps four
column sums per channel in a cache that its CachedInterpolationCalculator shifts along
the output columns; the compiled code orders a column sum's additions by dtype, channel
and the cache slot it fills (:data:`_THREE_CHANNEL_ORDERS`, measured with tagged NaNs on
TF 2.21), so the NaN that survives depends on the slot a column was computed in. The
loops' careful rows walk TF's cache (:func:`blocks.kernels.resize_loops._careful_plan`)
and compute the other orders where it does.
"""

from __future__ import annotations

import threading
from functools import cache, lru_cache
from typing import Any, Unpack

import numpy as np

from blocks.kernels.resize import (
    ResizeOptions,
    checked_resize,
    flat_rows,
    in_row_pieces,
    loop_source,
    plain_then_careful,
    resize_loops,
    resize_scale,
    source_coordinates,
    tame_limit,
)
from blocks.spec import DEFAULT_MEMORY_LIMIT

_F32 = np.float32
_TABLE_SIZE = 1024
#: Weights smaller than this in sum are not renormalised (TF: 1000 * FLT_MIN).
_RENORMALISE_MIN = _F32(1000) * _F32(np.finfo(np.float32).tiny)


#: TF's hand-unrolled 3-channel bicubic code, compiled once per input dtype, orders the
#: additions of a column sum by channel (rows) and the cache slot it fills (columns):
#: bit 0, the first addition adds ``v1*w1`` first; bit 1, the last adds the running sum
#: first (elsewhere ``v0*w0`` first, and the term first, as in the loops for other
#: channel counts). Measured with tagged NaNs on TF 2.21's x86 build; its x sums are
#: alike in every channel. Integers make no NaN.
_THREE_CHANNEL_ORDERS = {
    "float32": ((0, 0, 0, 0), (0, 1, 0, 2), (0, 0, 0, 0)),
    "float64": ((0, 0, 1, 1), (0, 1, 0, 0), (0, 1, 0, 0)),
    "float16": ((0, 0, 0, 0), (0, 1, 0, 0), (0, 1, 0, 0)),
    "bfloat16": ((0, 0, 1, 1), (0, 1, 1, 0), (0, 1, 1, 0)),
}


@lru_cache(maxsize=64)
def _column_sum_orders(
    dtype: np.dtype[Any], width: int, channels: int
) -> tuple[np.ndarray, np.ndarray]:
    """The operand orders of the column sums for the loops' careful rows: per distinct
    order of :data:`_THREE_CHANNEL_ORDERS` (3 channels; else only the common one, all 0,
    which is always variant 0) its bits per input float of a row
    (``[V, width*channels]`` uint8), and each cache slot's variant (``[4]``). Cached
    (np.unique took 50 us, 5% of a small resize); the loops only read them."""
    table = np.zeros((channels, 4), np.uint8)
    if channels == 3 and dtype.name in _THREE_CHANNEL_ORDERS:
        table[:] = _THREE_CHANNEL_ORDERS[dtype.name]
    # Variant 0 is the common order (all 0), whether a slot uses it or not.
    variants, slot_variant = np.unique(np.vstack([np.zeros((1, channels), np.uint8),
                                                  table.T]), axis=0, return_inverse=True)
    return (np.ascontiguousarray(np.tile(variants, (1, width))),
            slot_variant.reshape(-1)[1:].astype(np.uint64))


@cache
def _coefficients(a: float) -> np.ndarray:
    """TF's InitCoeffsTable: ``[1025, 2]`` float32, computed in double."""
    x = (np.arange(_TABLE_SIZE + 1) * 1.0 / _TABLE_SIZE).astype(_F32).astype(np.float64)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    x = (x + 1.0).astype(_F32).astype(np.float64)  # the C code adds 1.0 to a float
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    table = np.stack([near, far], axis=-1).astype(_F32)
    table.setflags(write=False)
    return table


def _cubic_taps(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per output index: the four source indices and their float32 weights, ``[4, n]``."""
    loc = source_coordinates(in_size, out_size, align_corners, half_pixel_centers)
    in_loc = np.floor(loc).astype(np.int64)
    delta = loc - in_loc.astype(_F32)
    offset = np.rint(delta * _F32(_TABLE_SIZE)).astype(np.int64)  # lrintf: ties to even
    table = _coefficients(-0.5 if half_pixel_centers else -0.75)
    weights = [
        table[offset, 1],
        table[offset, 0],
        table[_TABLE_SIZE - offset, 0],
        table[_TABLE_SIZE - offset, 1],
    ]
    wanted = [in_loc - 1, in_loc, in_loc + 1, in_loc + 2]
    indices = [np.clip(w, 0, in_size - 1) for w in wanted]
    if half_pixel_centers:
        # Keys' cubic: taps outside the image weigh 0, the rest are renormalised.
        weights = [
            np.where(i == w, weight, _F32(0))
            for i, w, weight in zip(indices, wanted, weights, strict=True)
        ]
        total = ((weights[0] + weights[1]) + weights[2]) + weights[3]
        with np.errstate(divide="ignore"):
            inverse = _F32(1) / total
        usable = np.abs(total) >= _RENORMALISE_MIN
        weights = [np.where(usable, weight * inverse, weight) for weight in weights]
    return np.stack(indices).astype(np.intp), np.stack(weights).astype(_F32)


@lru_cache(maxsize=64)
def _bicubic_tables(
    in_h: int, out_h: int, in_w: int, out_w: int, align_corners: bool,
    half_pixel_centers: bool, channels: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """ResizeBicubic's tables per geometry (the loops only read them; made afresh, cold
    after a large resize, they cost tens of microseconds): the row taps and weights, the
    column taps (uint64) and weights, and the first and stop input float of a row that
    the vertical sums cover (from the first to the last column read)."""
    rows, row_weights = _cubic_taps(in_h, out_h, align_corners, half_pixel_centers)
    cols, col_weights = _cubic_taps(in_w, out_w, align_corners, half_pixel_centers)
    first, stop = int(cols.min()) * channels, (int(cols.max()) + 1) * channels
    return rows, row_weights, cols.astype(np.uint64), col_weights, first, stop


def resize_bicubic(
    images: Any, size: Any, cancel: threading.Event | None = None,
    **options: Unpack[ResizeOptions],
) -> np.ndarray:
    """TensorFlow's ResizeBicubic: ``[B, h, w, C]`` float32, in bands of output rows."""
    call = checked_resize("bicubic", images, size, **options)
    if call.empty:
        return np.zeros(call.shape, _F32)
    images, (out_h, out_w) = call.images, call.out_size
    align_corners, half_pixel_centers = call.align_corners, call.half_pixel_centers
    channels = images.shape[3]
    rows, row_weights, taps, col_weights, first, stop = _bicubic_tables(
        images.shape[1], out_h, images.shape[2], out_w, align_corners, half_pixel_centers,
        channels)
    source = flat_rows(loop_source(images))
    out = np.empty(call.shape, _F32)
    loops = resize_loops()
    lane_orders, slot_variant = _column_sum_orders(images.dtype, images.shape[2], channels)

    limit = tame_limit(32.0, images.dtype)  # 2 passes of 4 weights <= ~1.3

    def work(start: int, stop_row: int) -> None:
        loops.bicubic_rows(source, flat_rows(out), start, stop_row, rows, row_weights,
                           taps, col_weights, channels, first, stop, limit, lane_orders,
                           slot_variant, np.zeros(lane_orders.size, _F32),
                           np.empty((4, out_w + 1), np.uint64),
                           np.empty((lane_orders.shape[0], 2), np.int64))

    # 16 taps per output float, and the column sums over every input float a row reads
    # (measured 2.5-8 bilinear lerps per output float, growing as the image shrinks).
    in_h, in_w = call.in_size
    in_row_pieces(call.shape, work, cancel,
                  cost=4.0 * max(1.0, (in_h * in_w) / (out_h * out_w)))
    return out


@lru_cache(maxsize=64)
def _area_tables(
    in_h: int, out_h: int, in_w: int, out_w: int, align_corners: bool, channels: int
) -> tuple[Any, ...]:
    """ResizeArea's tables per geometry (the loops only read them; made afresh, cold after
    a large resize, they cost tens of microseconds): the output's scale ``1/area``, the
    rows' first index, count and weights, the columns' table, counts, first and last
    weights, and whether every cell is even (:func:`resize_loops.even_cells`)."""
    height_scale = resize_scale(in_h, out_h, align_corners)
    width_scale = resize_scale(in_w, out_w, align_corners)
    # C divides in double; a zero scale (align_corners from 1 pixel) gives inf. (In
    # Python floats: np.errstate cost more than the rest of this function's arithmetic.)
    area = float(height_scale * width_scale)
    scale = _F32(1.0 / area) if area != 0.0 else _F32(np.inf)
    loops = resize_loops()
    # Rows: every step from start to end (none when the cell is empty), each weighing its
    # covered fraction.
    start, row_count, row_weights, _ = loops.area_axis(in_h, out_h, height_scale)
    row_count = np.maximum(row_count, 0)
    # Columns: the first pixel, the whole ones between, the last one (also when the cell
    # is empty: TF adds it whenever start + 1 != end, reading pixel 0 again).
    first, count, column_weights, last_weight = loops.area_axis(in_w, out_w, width_scale)
    first_weight = np.ascontiguousarray(column_weights[:, 0])
    columns = loops.area_columns(first, count, in_w, channels)
    cells = loops.even_cells(first, count, in_w, channels)
    return (scale, start, row_count, row_weights, columns, count, first_weight, last_weight,
            cells)


def resize_area(
    images: Any,
    size: Any,
    *,
    align_corners: bool = False,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """TensorFlow's ResizeArea: ``[B, h, w, C]`` float32, in bands of output rows."""
    call = checked_resize("area", images, size, align_corners=align_corners,
                          memory_limit=memory_limit)
    if call.empty:
        return np.zeros(call.shape, _F32)
    images, shape = call.images, call.shape
    (in_h, in_w), (out_h, out_w) = call.in_size, call.out_size
    scale, start, row_count, row_weights, columns, count, first_weight, last_weight, cells = (
        _area_tables(in_h, out_h, in_w, out_w, call.align_corners, images.shape[3]))
    loops = resize_loops()
    source = flat_rows(loop_source(images))
    out = np.empty(shape, _F32)
    limit = tame_limit(float(in_h) * float(in_w) * 4.0, images.dtype)

    # Area sums every input float once (measured about 2.5 bilinear lerps each, 0.75 in
    # even cells).
    per_float = 0.75 if cells else 2.5
    plain_then_careful(shape, loops.area_plain_rows(cells, images.shape[3]), loops.area_rows,
                       (source, flat_rows(out), start, row_count, row_weights, columns,
                        count, first_weight, last_weight, images.shape[3], scale, limit),
                       cancel, cost=per_float * max(1.0, (in_h * in_w) / (out_h * out_w)))
    return out
