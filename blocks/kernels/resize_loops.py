"""The resize kernels' per-pixel loops, compiled with numba: bilinear, bicubic and area.

Contract (the rules and the tables they read are documented in
:mod:`blocks.kernels.resize` and :mod:`blocks.kernels.resize_filters`, which check every
argument, build the per-row and per-column tables in numpy and then call these loops;
nothing else calls them): each ``*_rows(source, out, b0, b1, y0, y1, ...)`` writes the
output rows ``y0 .. y1-1`` of the images ``b0 .. b1-1`` into ``out`` (``[B, h, w, C]``
float32). ``source`` is the images as given when numba reads the dtype (integers,
float32, float64), else already converted to float32 by
:func:`blocks.kernels.float32_math.to_float32`.

TensorFlow's float32 arithmetic, spelled out per operation (see
:mod:`blocks.kernels.float32_math` for why):

* every value is read as float32 (integers round to nearest, float64 rounds) and a
  denormal reads as zero; every result that would be denormal is written as a zero of
  its sign (x86's denormals-are-zero and flush-to-zero, which TF's CPU kernels run with);
* every intermediate is float32 (numba types a float32 operation on float32 operands as
  float32), so each operation rounds once; no fast-math flag is set;
* in a sum where both operands are NaN, x86 returns the first operand's NaN (quieted).
  LLVM may swap the operands of a commutative addition, so :func:`_add` states the rule:
  when ``first`` is NaN the result is ``first * first`` (its NaN, quieted).

Why compiled: numpy's per-call cost and the many passes over temporaries (a flush and a
NaN check after every operation) made the numpy kernels 2-8 times slower than TF. One
pass per output row, with no temporaries, beats it. The loops hold no Python objects and
release the GIL (``nogil``), so bands of rows run at once on the kernel threads of
:mod:`blocks.kernels.pieces`; every output value is computed by the same operations
whatever the band, so pieces and threads cannot change bits.
"""

from __future__ import annotations

import numba
import numpy as np

_F32 = np.float32
_ZERO = np.float32(0)
#: The smallest normal float32: anything smaller in magnitude is denormal (or zero).
_TINY = np.float32(np.finfo(np.float32).tiny)

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _flush(value: np.float32) -> np.float32:
    """A denormal as a zero of its sign (``value * 0`` keeps the sign); a select, so
    loops over it vectorise."""
    return _F32(value * _ZERO) if abs(value) < _TINY else value


@_jit
def _load(value: np.generic) -> np.float32:
    """A source value as TF's arithmetic reads it: float32, a denormal as zero."""
    return _flush(_F32(value))


@_jit
def _add(first: np.float32, second: np.float32) -> np.float32:
    """``first + second`` as x86 adds them: of two NaNs ``first``'s survives; flushed."""
    total = _flush(_F32(first + second))
    # first's NaN, quieted (sign and payload kept). Not ``first + 0``: LLVM folds that to
    # ``first`` once it knows first is NaN, which would pass a signalling NaN on.
    return _F32(first * first) if first != first else total


@_jit
def _mul(value: np.float32, weight: np.float32) -> np.float32:
    """``value * weight``, flushed (weights are never NaN: the operand order cannot show)."""
    return _flush(_F32(value * weight))


@_jit
def _lerp(low: np.float32, high: np.float32, weight: np.float32, low_first: bool) -> np.float32:
    """TF's ``low + (high - low)*weight``; ``low_first``: the last sum adds ``low`` first
    (TF's vector loops), else the product first (its scalar code)."""
    # A difference is not commutative: x86 keeps high's NaN when both are NaN.
    product = _mul(_flush(_F32(high - low)), weight)
    in_order = _add(low, product)
    swapped = _add(product, low)
    return in_order if low_first else swapped


@_jit
def _horizontal(
    row: np.ndarray, left: np.ndarray, right: np.ndarray, weight: np.ndarray,
    low_first: np.ndarray, result: np.ndarray,
) -> None:
    """One input row's x lerps, per output float (flat indices into the row)."""
    for k in range(result.shape[0]):
        result[k] = _lerp(_load(row[left[k]]), _load(row[right[k]]), weight[k], low_first[k])


@_jit
def bilinear_rows(
    source: np.ndarray, out: np.ndarray, b0: int, b1: int, y0: int, y1: int,
    y_low: np.ndarray, y_high: np.ndarray, y_lerp: np.ndarray,
    left: np.ndarray, right: np.ndarray, weight: np.ndarray, low_first: np.ndarray,
) -> None:
    """ResizeBilinear: per output row, the x lerps of its top and bottom input rows
    (``top`` and ``bottom`` of TF's per-pixel code, kept while the next row reads the same
    input row), then the y lerp.

    ``source`` is ``[B, H, W*C]``, ``out`` ``[B, h, w*C]``; ``left``/``right`` (unsigned),
    ``weight`` and ``low_first`` give per output float of a row the flat source indices,
    the x lerp and whether every lerp adds ``low`` first.
    """
    count = out.shape[2]
    top = np.empty(count, _F32)
    bottom = np.empty(count, _F32)
    for b in range(b0, b1):
        top_index = -1
        bottom_index = -1
        for y in range(y0, y1):
            upper = y_low[y]
            lower = y_high[y]
            if upper != top_index:
                if upper == bottom_index:
                    top, bottom = bottom, top
                    top_index, bottom_index = bottom_index, top_index
                else:
                    _horizontal(source[b, upper], left, right, weight, low_first, top)
                    top_index = upper
            if lower != bottom_index:
                _horizontal(source[b, lower], left, right, weight, low_first, bottom)
                bottom_index = lower
            target = out[b, y]
            weight_y = y_lerp[y]
            for k in range(count):
                target[k] = _lerp(top[k], bottom[k], weight_y, low_first[k])


@_jit
def _weighted_four(
    v0: np.float32, v1: np.float32, v2: np.float32, v3: np.float32,
    w0: np.float32, w1: np.float32, w2: np.float32, w3: np.float32,
) -> np.float32:
    """``((v0*w0 + v1*w1) + v2*w2) + v3*w3``: TF's code adds the running sum first only in
    the first addition (measured with tagged NaNs)."""
    total = _add(_mul(v0, w0), _mul(v1, w1))
    total = _add(_mul(v2, w2), total)
    return _add(_mul(v3, w3), total)


@_jit
def bicubic_rows(
    source: np.ndarray, out: np.ndarray, b0: int, b1: int, y0: int, y1: int,
    rows: np.ndarray, row_weights: np.ndarray, taps: np.ndarray, tap_weights: np.ndarray,
    first: int, stop: int,
) -> None:
    """ResizeBicubic per output row: the 4-row weighted sums of the input floats
    ``first .. stop-1`` of a row (the columns the taps read), then per output float the
    4-tap weighted sum of those.

    ``source`` is ``[B, H, W*C]``, ``out`` ``[B, h, w*C]``; ``rows``/``row_weights`` are
    ``[4, h]``, ``taps`` (unsigned flat indices into a row) and ``tap_weights``
    ``[4, w*C]``.
    """
    count = out.shape[2]
    columns = np.zeros(source.shape[2], _F32)
    used = columns[first:stop]
    for b in range(b0, b1):
        for y in range(y0, y1):
            w0, w1 = row_weights[0, y], row_weights[1, y]
            w2, w3 = row_weights[2, y], row_weights[3, y]
            s0 = source[b, rows[0, y], first:stop]
            s1 = source[b, rows[1, y], first:stop]
            s2 = source[b, rows[2, y], first:stop]
            s3 = source[b, rows[3, y], first:stop]
            for k in range(used.shape[0]):
                used[k] = _weighted_four(_load(s0[k]), _load(s1[k]), _load(s2[k]),
                                         _load(s3[k]), w0, w1, w2, w3)
            target = out[b, y]
            for k in range(count):
                target[k] = _weighted_four(
                    columns[taps[0, k]], columns[taps[1, k]], columns[taps[2, k]],
                    columns[taps[3, k]], tap_weights[0, k], tap_weights[1, k],
                    tap_weights[2, k], tap_weights[3, k],
                )


@_jit
def area_rows(
    source: np.ndarray, out: np.ndarray, b0: int, b1: int, y0: int, y1: int,
    row_start: np.ndarray, row_count: np.ndarray, row_weights: np.ndarray,
    first: np.ndarray, last: np.ndarray, edge: np.ndarray, count: np.ndarray,
    first_weight: np.ndarray, last_weight: np.ndarray, channels: int, scale: np.float32,
) -> None:
    """ResizeArea per output row: per input row it covers, ``sum_y`` per output float
    (first pixel weighted, the whole pixels after it added, then the weighted last pixel
    added before the running sum), then ``sum = sum_y*weight + sum`` over the rows (from
    +0.0) and ``sum*scale``.

    ``source`` is ``[B, H, W*C]``, ``out`` ``[B, h, w*C]``. Rows ``row_start[y] ..
    row_start[y] + row_count[y] - 1`` (clamped to the image) weigh ``row_weights[y, step]``.
    Per output float, ``first``/``last`` are the flat (unsigned, clamped) indices of its
    cell's first and last pixel and ``count`` its cell's width in pixels: the whole pixels
    are steps ``1 .. count-2`` after ``first`` (clamped to ``edge``, the float's index in
    the row's last pixel) and the last pixel is added when ``count != 1``.
    """
    in_h = source.shape[1]
    size = out.shape[2]
    pixel = np.uint64(channels)
    row_sum = np.empty(size, _F32)
    widest = 0
    for k in range(size):
        widest = max(widest, count[k])
    for b in range(b0, b1):
        for y in range(y0, y1):
            target = out[b, y]
            for k in range(size):
                target[k] = _ZERO
            for step in range(row_count[y]):
                row = source[b, min(row_start[y] + step, in_h - 1)]
                weight_y = row_weights[y, step]
                for k in range(size):
                    row_sum[k] = _mul(_load(row[first[k]]), first_weight[k])
                for step_x in range(1, widest - 1):
                    shift = np.uint64(step_x) * pixel
                    for k in range(size):
                        summed = _add(row_sum[k], _load(row[min(first[k] + shift, edge[k])]))
                        row_sum[k] = summed if step_x < count[k] - 1 else row_sum[k]
                for k in range(size):
                    summed = _add(_mul(_load(row[last[k]]), last_weight[k]), row_sum[k])
                    row_sum[k] = summed if count[k] != 1 else row_sum[k]
                for k in range(size):
                    target[k] = _add(_mul(row_sum[k], weight_y), target[k])
            for k in range(size):
                target[k] = _mul(target[k], scale)
