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
    """A denormal as a zero of its sign (``value * 0`` keeps the sign)."""
    if value < _TINY and value > -_TINY:
        return _F32(value * _ZERO)
    return value


@_jit
def _load(value: np.generic) -> np.float32:
    """A source value as TF's arithmetic reads it: float32, a denormal as zero."""
    return _flush(_F32(value))


@_jit
def _add(first: np.float32, second: np.float32) -> np.float32:
    """``first + second`` as x86 adds them: of two NaNs ``first``'s survives; flushed."""
    if first != first:
        # first's NaN, quieted (sign and payload kept). Not ``first + 0``: LLVM folds that
        # to ``first`` once it knows first is NaN, which would pass a signalling NaN on.
        return _F32(first * first)
    return _flush(_F32(first + second))


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
    return _add(low, product) if low_first else _add(product, low)


@_jit
def bilinear_rows(
    source: np.ndarray, out: np.ndarray, b0: int, b1: int, y0: int, y1: int,
    y_low: np.ndarray, y_high: np.ndarray, y_lerp: np.ndarray,
    x_low: np.ndarray, x_high: np.ndarray, x_lerp: np.ndarray, low_first_end: int,
) -> None:
    """ResizeBilinear per pixel: ``top`` and ``bottom`` lerps along x, then along y.

    Output columns below ``low_first_end`` add ``low`` first in every lerp.
    """
    channels = source.shape[3]
    out_w = out.shape[2]
    for b in range(b0, b1):
        for y in range(y0, y1):
            top_row = y_low[y]
            bottom_row = y_high[y]
            weight_y = y_lerp[y]
            for x in range(out_w):
                left = x_low[x]
                right = x_high[x]
                weight_x = x_lerp[x]
                low_first = x < low_first_end
                for c in range(channels):
                    top = _lerp(_load(source[b, top_row, left, c]),
                                _load(source[b, top_row, right, c]), weight_x, low_first)
                    bottom = _lerp(_load(source[b, bottom_row, left, c]),
                                   _load(source[b, bottom_row, right, c]), weight_x, low_first)
                    out[b, y, x, c] = _lerp(top, bottom, weight_y, low_first)


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
    rows: np.ndarray, row_weights: np.ndarray, cols: np.ndarray, col_weights: np.ndarray,
    used_cols: np.ndarray,
) -> None:
    """ResizeBicubic per output row: the 4-row weighted sum of every input column the row
    reads, then per output pixel the 4-column weighted sum of those.

    ``rows``/``row_weights`` are ``[4, h]``, ``cols``/``col_weights`` ``[4, w]``,
    ``used_cols`` the input columns ``cols`` names (each once).
    """
    channels = source.shape[3]
    out_w = out.shape[2]
    columns = np.empty((source.shape[2], channels), _F32)
    for b in range(b0, b1):
        for y in range(y0, y1):
            r0, r1, r2, r3 = rows[0, y], rows[1, y], rows[2, y], rows[3, y]
            w0, w1 = row_weights[0, y], row_weights[1, y]
            w2, w3 = row_weights[2, y], row_weights[3, y]
            for k in range(used_cols.shape[0]):
                j = used_cols[k]
                for c in range(channels):
                    columns[j, c] = _weighted_four(
                        _load(source[b, r0, j, c]), _load(source[b, r1, j, c]),
                        _load(source[b, r2, j, c]), _load(source[b, r3, j, c]),
                        w0, w1, w2, w3,
                    )
            for x in range(out_w):
                c0, c1, c2, c3 = cols[0, x], cols[1, x], cols[2, x], cols[3, x]
                v0, v1 = col_weights[0, x], col_weights[1, x]
                v2, v3 = col_weights[2, x], col_weights[3, x]
                for c in range(channels):
                    out[b, y, x, c] = _weighted_four(
                        columns[c0, c], columns[c1, c], columns[c2, c], columns[c3, c],
                        v0, v1, v2, v3,
                    )


@_jit
def area_rows(
    source: np.ndarray, out: np.ndarray, b0: int, b1: int, y0: int, y1: int,
    row_start: np.ndarray, row_count: np.ndarray, row_weights: np.ndarray,
    col_first: np.ndarray, col_last: np.ndarray, col_count: np.ndarray,
    col_first_weight: np.ndarray, col_last_weight: np.ndarray, scale: np.float32,
) -> None:
    """ResizeArea per output row: per input row it covers, ``sum_y`` per output column
    (first pixel weighted, whole pixels added, then the weighted last pixel added before
    the running sum), then ``sum = sum_y*weight + sum`` over the rows and ``sum*scale``.

    Rows ``row_start[y] .. row_start[y] + row_count[y] - 1`` (clamped to the image) weigh
    ``row_weights[y, step]``. Column ``x`` reads ``col_first[x]``, the whole pixels after
    it up to ``col_count[x] - 2`` steps, and ``col_last[x]`` when ``col_count[x] != 1``
    (indices already clamped, as TF reads them).
    """
    channels = source.shape[3]
    in_h = source.shape[1]
    in_w = source.shape[2]
    out_w = out.shape[2]
    row_sum = np.empty(channels, _F32)
    for b in range(b0, b1):
        for y in range(y0, y1):
            target = out[b, y]
            target[:] = _ZERO
            for step in range(row_count[y]):
                i = min(row_start[y] + step, in_h - 1)
                weight_y = row_weights[y, step]
                for x in range(out_w):
                    first = col_first[x]
                    count = col_count[x]
                    weight = col_first_weight[x]
                    for c in range(channels):
                        row_sum[c] = _mul(_load(source[b, i, first, c]), weight)
                    for k in range(1, count - 1):
                        j = min(first + k, in_w - 1)
                        for c in range(channels):
                            row_sum[c] = _add(row_sum[c], _load(source[b, i, j, c]))
                    if count != 1:
                        last = col_last[x]
                        weight = col_last_weight[x]
                        for c in range(channels):
                            row_sum[c] = _add(_mul(_load(source[b, i, last, c]), weight),
                                              row_sum[c])
                    for c in range(channels):
                        target[x, c] = _add(_mul(row_sum[c], weight_y), target[x, c])
            for x in range(out_w):
                for c in range(channels):
                    target[x, c] = _mul(target[x, c], scale)
