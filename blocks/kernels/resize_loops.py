"""The resize kernels' per-pixel loops, compiled with numba: bilinear, bicubic, area and
CropAndResize's bilinear samples; and the bilinear and area tables (:func:`bilinear_axis`,
:func:`area_axis`).

Contract (the rules and the tables they read are documented in
:mod:`blocks.kernels.resize` and :mod:`blocks.kernels.resize_filters`, which check every
argument, build the per-row and per-column tables in numpy and then call these loops;
nothing else calls them): each ``*_rows(source, out, start, stop, ...)`` writes the
output rows ``start .. stop-1`` (counted over the whole batch: row ``y`` of image ``b`` is
``b*h + y``) into ``out`` (``[B, h, w*C]`` float32). ``source`` (``[B, H, W*C]``) is the
images as given when numba reads the dtype (integers, float32, float64), else already
converted to float32 by :func:`blocks.kernels.float32_math.to_float32`. ResizeBilinear
and ResizeArea run in two passes (:func:`blocks.kernels.resize.plain_then_careful`): a
plain pass compiled per case (:func:`bilinear_plain_rows`, :func:`area_plain_rows`) writes
the rows whose input rows are tame and marks the others in a ``redo`` array, the careful
pass (``bilinear_rows``, ``area_rows``) writes the marked ones; each pass is compiled on
its first use (a first resize of tame images waits 2-2.5 s, not 3.5-5).

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

import math
from collections.abc import Callable

import numpy as np

from blocks.kernels.float32_math import FLUSH_BELOW
from blocks.kernels.numba_cache import compiled

_F32 = np.float32
_ZERO = np.float32(0)
#: The smallest normal float32: anything smaller in magnitude is denormal (or zero).
_TINY = np.float32(np.finfo(np.float32).tiny)

#: Below this magnitude a non-zero input sends its row to the careful arithmetic.
_SMALL = np.float32(2.0**-30)

_U32 = np.uint32
_ABS_BITS = _U32(0x7FFFFFFF)
_NO_BITS = _U32(0xFFFFFFFF)
_SMALL_BITS = _U32(_SMALL.view(np.uint32))

_jit = compiled(nogil=True)
#: Small helpers and loop bodies, inlined by LLVM, which then folds a constant ``careful``
#: passed at the call site out of the compiled loop. (numba's own IR inlining,
#: ``inline="always"``, ran no faster but took 11-13 s to compile per op and dtype
#: against 2-3 s: the first use of a resize block waited that long.)
_inline = compiled(nogil=True)


@_inline
def _flush(value: np.float32, careful: bool) -> np.float32:
    """A denormal as a zero of its sign (``value * 0`` keeps the sign); a select, so
    loops over it vectorise."""
    if not careful:
        return value
    return _F32(value * _ZERO) if abs(value) < _TINY else value


@_inline
def _load(value: np.generic, careful: bool) -> np.float32:
    """A source value as TF's arithmetic reads it: float32, a denormal as zero. x86's
    flush-to-zero judges a conversion after rounding to 24 bits with an unbounded
    exponent: a double below ``FLUSH_BELOW`` (just under the smallest normal float)
    becomes zero even where IEEE rounding gives the smallest normal (exact in double, and
    harmless for narrower sources: their values below it are denormals or zero)."""
    if careful and abs(np.float64(value)) < FLUSH_BELOW:
        return _F32(_F32(value) * _ZERO)
    return _flush(_F32(value), careful)


@_inline
def _add(first: np.float32, second: np.float32, careful: bool) -> np.float32:
    """``first + second`` as x86 adds them: of two NaNs ``first``'s survives; flushed."""
    total = _flush(_F32(first + second), careful)
    if not careful:
        return total
    # first's NaN, quieted (sign and payload kept). Not ``first + 0``: LLVM folds that to
    # ``first`` once it knows first is NaN, which would pass a signalling NaN on.
    return _F32(first * first) if first != first else total


@_inline
def _mul(value: np.float32, weight: np.float32, careful: bool) -> np.float32:
    """``value * weight``, flushed (weights are never NaN: the operand order cannot show).

    Carefully, the product is judged as x86's flush-to-zero judges it: tininess after
    rounding to 24 bits with an unbounded exponent, so an exact product just below 2^-126
    is zero even where IEEE rounding gives 2^-126 (the float64 product of two floats is
    exact; its rounding to float32 is float32's own product)."""
    if not careful:
        return _F32(value * weight)
    exact = np.float64(value) * np.float64(weight)
    if abs(exact) < FLUSH_BELOW:
        return _F32(_F32(exact) * _ZERO)
    return _F32(exact)


@_inline
def _lerp(
    low: np.float32, high: np.float32, weight: np.float32, low_first: bool, careful: bool
) -> np.float32:
    """TF's ``low + (high - low)*weight``; ``low_first``: the last sum adds ``low`` first
    (TF's vector loops), else the product first (its scalar code)."""
    # A difference is not commutative: x86 keeps high's NaN when both are NaN.
    product = _mul(_flush(_F32(high - low), careful), weight, careful)
    in_order = _add(low, product, careful)
    swapped = _add(product, low, careful)
    return in_order if low_first else swapped


@_jit
def _is_tame(values: np.ndarray, limit: np.float32) -> bool:
    """Whether plain float32 arithmetic on ``values`` gives TF's bits: every value is zero
    or of a magnitude in ``[2^-30, limit)`` (no NaN, no infinity, no denormal).

    From such values no denormal can arise in a resize (its weights are at least 2^-55,
    so a difference, product or sum that is not zero stays above 2^-110) and, with
    ``limit`` = 2^126 over the largest growth of a result, nothing overflows; then no
    NaN arises and the operand order of a sum cannot show.
    """
    # On the float32 bits (a magnitude's order is its bits' order, NaNs above infinity):
    # the largest magnitude must be below the limit, the smallest non-zero one at least
    # 2^-30. Two min/max reductions vectorise; a reduction of comparisons ran 4x slower.
    largest = _U32(0)
    smallest = _NO_BITS
    for k in range(values.shape[0]):
        magnitude = _U32(_F32(values[k]).view(np.uint32) & _ABS_BITS)
        largest = max(largest, magnitude)
        smallest = min(smallest, magnitude if magnitude != _U32(0) else _NO_BITS)
    return bool((largest < _U32(_F32(limit).view(np.uint32))) & (smallest >= _SMALL_BITS))


@_jit
def _row_careful(
    source: np.ndarray, b: int, row: int, first: int, stop: int, known: np.ndarray,
    limit: np.float32,
) -> bool:
    """Whether input row ``row`` of image ``b`` needs the careful arithmetic (floats
    ``first .. stop-1`` judged); remembered in ``known`` (-1: not judged yet). An infinite
    ``limit`` says the dtype bounds every value (uint8): no row is looked at."""
    if known[row] < 0:
        tame = limit == np.inf or _is_tame(source[b, row, first:stop], limit)
        known[row] = 0 if tame else 1
    return known[row] == 1


@_jit
def _judged_after(
    source: np.ndarray, b: int, row: int, known: np.ndarray, limit: np.float32
) -> bool:
    """After a row's first, plain pass: whether it must be done again carefully. A row
    not judged yet is judged now, from the cache its pass has just filled (judged before
    it, the row came from memory for the judging and the pass waited on that), and
    remembered in ``known``."""
    if known[row] < 0:
        tame = limit == np.inf or _is_tame(source[b, row], limit)
        known[row] = 0 if tame else 1
    return known[row] == 1


@_jit
def _row_spans(start: int, stop: int, out_h: int) -> np.ndarray:
    """The output rows ``start .. stop-1`` of a piece (counted over the batch) per image
    they fall in: rows ``[b, first, stop]``."""
    first_image = start // out_h
    spans = np.empty(((stop + out_h - 1) // out_h - first_image, 3), np.int64)
    for index in range(spans.shape[0]):
        b = first_image + index
        spans[index, 0] = b
        spans[index, 1] = max(start - b * out_h, 0)
        spans[index, 2] = min(stop - b * out_h, out_h)
    return spans


@_jit
def nearest_rows(
    source: np.ndarray, out: np.ndarray, start: int, stop: int, rows: np.ndarray,
    cols: np.ndarray, pixel: int,
) -> None:
    """ResizeNearestNeighbor's output rows ``start .. stop-1`` (over the batch), as bits:
    ``source`` ``[B, H, W*pixel]`` and ``out`` ``[B, h, w*pixel]`` in units of unsigned
    integers (``pixel`` units a pixel), ``rows[y]`` and ``cols[x]`` the source row and
    column of each output row and column. An output row whose source row is the one of
    the row just written in this piece is a copy of it (contiguous, from the cache)."""
    out_h = out.shape[1]
    units = out.shape[2]
    for span in _row_spans(start, stop, out_h):
        b, y0, y1 = span[0], span[1], span[2]
        for y in range(y0, y1):
            target = out[b, y]
            if y > y0 and rows[y] == rows[y - 1]:
                previous = out[b, y - 1]
                for k in range(units):
                    target[k] = previous[k]
                continue
            row = source[b, rows[y]]
            for x in range(cols.shape[0]):
                at = np.uint64(cols[x] * pixel)
                to = np.uint64(x * pixel)
                for k in range(np.uint64(pixel)):
                    target[to + k] = row[at + k]


def _specialised(body: Callable[..., None]) -> Callable[..., None]:
    """A compiled call of an inlined one-row ``body(row, t0, t1, t2, t3, channels, result,
    careful)`` that passes its case as constants: the careful arithmetic, or the plain one
    with 3, 1 or any number of channels. LLVM inlines ``body`` at each call site, so it
    compiles every case alone (the common channel counts unrolled, no checks in the plain
    arithmetic)."""

    @_jit
    def call(row: np.ndarray, t0: np.ndarray, t1: np.ndarray, t2: np.ndarray,
             t3: np.ndarray, channels: int, result: np.ndarray, careful: bool) -> None:
        if careful:
            body(row, t0, t1, t2, t3, channels, result, True)
        elif channels == 3:
            body(row, t0, t1, t2, t3, 3, result, False)
        elif channels == 1:
            body(row, t0, t1, t2, t3, 1, result, False)
        else:
            body(row, t0, t1, t2, t3, channels, result, False)

    return call


@_inline
def _horizontal(
    row: np.ndarray, left: np.ndarray, right: np.ndarray, weight: np.ndarray,
    low_first: np.ndarray, channels: int, result: np.ndarray, careful: bool,
) -> None:
    """One input row's x lerps: per output column its left and right source pixels
    (unsigned), lerp and sum order, the channels contiguous."""
    pixel = np.uint64(channels)
    for x in range(left.shape[0]):
        low = left[x] * pixel
        high = right[x] * pixel
        base = np.uint64(x) * pixel
        lerp = weight[x]
        order = low_first[x]
        for c in range(channels):
            k = np.uint64(c)
            result[base + k] = _lerp(_load(row[low + k], careful),
                                     _load(row[high + k], careful), lerp, order, careful)


_horizontal_row = _specialised(_horizontal)


@_inline
def _vertical(
    top: np.ndarray, bottom: np.ndarray, weight: np.float32, low_first: np.ndarray,
    result: np.ndarray, careful: bool,
) -> None:
    for k in range(result.shape[0]):
        result[k] = _lerp(top[k], bottom[k], weight, low_first[k], careful)


@_inline
def _point_gather(row: np.ndarray, left: np.ndarray, channels: int, result: np.ndarray) -> None:
    """One output row that samples one input row at whole pixels (every x lerp 0, so
    ``right`` is ``left``, and the y lerp of the row with itself), for tame pixels: per
    output column the pixel ``left[x]`` plus +0.0 (as float32, not flushed).

    TF computes ``u = v + (v - v)*0`` and ``u + (u - u)*y_lerp``. For a tame ``v`` (finite)
    ``v - v`` is +0, so is its product with a weight (finite, not negative), and both
    lerps are ``v + 0.0`` (``v`` itself but for -0, which becomes +0). ``v + 0`` is tame
    exactly when ``v`` is, so the caller judges the gathered row (contiguous, from the
    cache, where the judging vectorises) and redoes it carefully if it is not.
    """
    pixel = np.uint64(channels)
    for x in range(left.shape[0]):
        low = left[x] * pixel
        base = np.uint64(x) * pixel
        for c in range(channels):
            k = np.uint64(c)
            result[base + k] = _F32(_load(row[low + k], False) + _ZERO)


def _bilinear_rows_kind(plain: bool, channels_case: int = 0) -> Callable[..., None]:
    """ResizeBilinear's loop over output rows: the plain pass (``plain``: compiled without
    the careful arithmetic and for one case, ``channels_case`` channels, 0: any number,
    frozen as constants that numba prunes the other branches by) or the careful one.

    ``rows(source, out, start, stop, y_low, y_high, y_lerp, left, right, weight,
    low_first, channels, limit, redo)``: per output row, the x lerps of its top and bottom
    input rows (``top`` and ``bottom`` of TF's per-pixel code, kept while the next row
    reads the same input row), then the y lerp. ``source`` is ``[B, H, W*C]``, ``out``
    ``[B, h, w*C]``; per output column ``left`` and ``right`` (unsigned) are its source
    pixels, ``weight`` its x lerp and ``low_first`` whether its lerps add ``low`` first.
    In a point resize (every x lerp 0) an output row on one input row is sampled in one
    pass (:func:`_point_gather`).

    Input rows are judged by :func:`_is_tame` under ``limit`` (after their first, plain x
    lerps: see :func:`_judged_after`). The plain pass writes the output rows whose input
    rows are both tame and marks the others in ``redo`` (per output row over the batch,
    ``b*h + y``); the careful pass writes only the marked ones, carefully where an input
    row is not tame.
    """
    fixed = channels_case != 0

    @_jit
    def rows(
        source: np.ndarray, out: np.ndarray, start: int, stop: int,
        y_low: np.ndarray, y_high: np.ndarray, y_lerp: np.ndarray,
        left: np.ndarray, right: np.ndarray, weight: np.ndarray, low_first: np.ndarray,
        channels: int, limit: np.float32, redo: np.ndarray,
    ) -> None:
        count = out.shape[2]
        out_h = out.shape[1]
        order = np.empty(count, np.bool_)  # per output float, for the y lerps
        for k in range(count):
            order[k] = low_first[k // channels]
        top = np.empty(count, _F32)
        bottom = np.empty(count, _F32)
        known = np.empty(source.shape[1], np.int8)
        # Every x lerp 0 (right is left): a row on one input row is sampled in one pass.
        point = True
        for x in range(weight.shape[0]):
            point &= weight[x] == _ZERO
        for span in _row_spans(start, stop, out_h):
            b, y0, y1 = span[0], span[1], span[2]
            known[:] = -1
            top_index = -1
            bottom_index = -1
            for y in range(y0, y1):
                if not plain and not redo[b * out_h + y]:
                    continue
                upper = y_low[y]
                lower = y_high[y]
                if (plain and point and upper == lower and upper != top_index
                        and upper != bottom_index and known[upper] != 1):
                    # Branches on constants: numba keeps one of them, LLVM inlines it. A
                    # point resize reads only the pixels ``left``: judging them judges
                    # every use of the row.
                    target = out[b, y]
                    if fixed:
                        _point_gather(source[b, upper], left, channels_case, target)
                    else:
                        _point_gather(source[b, upper], left, channels, target)
                    tame = known[upper] == 0 or limit == np.inf or _is_tame(target, limit)
                    known[upper] = 0 if tame else 1
                    if not tame:
                        redo[b * out_h + y] = True
                    continue
                if upper != top_index:
                    if upper == bottom_index:
                        top, bottom = bottom, top
                        top_index, bottom_index = bottom_index, top_index
                    else:
                        _lerped_row(source, b, upper, left, right, weight, low_first,
                                    channels, top, known, limit)
                        top_index = upper
                if lower != bottom_index and lower != upper:
                    _lerped_row(source, b, lower, left, right, weight, low_first,
                                channels, bottom, known, limit)
                    bottom_index = lower
                careful = known[upper] == 1 or known[lower] == 1
                below = top if lower == upper else bottom
                target = out[b, y]
                if plain:
                    if careful:
                        redo[b * out_h + y] = True
                    else:
                        _vertical(top, below, y_lerp[y], order, target, False)
                elif careful:
                    _vertical(top, below, y_lerp[y], order, target, True)
                else:
                    _vertical(top, below, y_lerp[y], order, target, False)

    @_inline
    def _lerped_row(
        source: np.ndarray, b: int, index: int, left: np.ndarray, right: np.ndarray,
        weight: np.ndarray, low_first: np.ndarray, channels: int, result: np.ndarray,
        known: np.ndarray, limit: np.float32,
    ) -> None:
        """Input row ``index`` x-lerped into ``result``: plainly first, then judged;
        carefully (in the careful pass) where it is not tame."""
        row = source[b, index]
        if plain:
            if fixed:
                _horizontal(row, left, right, weight, low_first, channels_case, result,
                            False)
            else:
                _horizontal(row, left, right, weight, low_first, channels, result, False)
            if known[index] < 0:
                _judged_after(source, b, index, known, limit)
        else:
            _horizontal_row(row, left, right, weight, low_first, channels, result,
                            known[index] == 1)
            if known[index] < 0 and _judged_after(source, b, index, known, limit):
                _horizontal_row(row, left, right, weight, low_first, channels, result,
                                known[index] == 1)

    return rows


#: The plain pass per number of channels (:func:`bilinear_plain_rows`), compiled on first use.
_BILINEAR_PLAIN_ROWS = {
    channels: _bilinear_rows_kind(True, channels) for channels in (3, 1, 0)
}
#: The careful pass: every case.
bilinear_rows = _bilinear_rows_kind(False)


def bilinear_plain_rows(channels: int) -> Callable[..., None]:
    """The plain pass of :func:`_bilinear_rows_kind` for ``channels`` channels: each case
    compiled alone, on its first use, so that a first resize waits for its own case only."""
    return _BILINEAR_PLAIN_ROWS[channels if channels in (3, 1) else 0]


@_inline
def _weighted_four(
    v0: np.float32, v1: np.float32, v2: np.float32, v3: np.float32,
    w0: np.float32, w1: np.float32, w2: np.float32, w3: np.float32, careful: bool,
    running_last: bool, second_first: bool,
) -> np.float32:
    """``((v0*w0 + v1*w1) + v2*w2) + v3*w3``. Which operand comes first shows only when
    both are NaN (measured with tagged NaNs): TF adds the running sum (``v0*w0``) first in
    the first addition, except where ``second_first`` (some column sums of its 3-channel
    code), the term first in the second, and in the third the running sum first only
    where ``running_last`` (its 8-channel vector loop of the x sums, some column sums of
    its 3-channel code)."""
    first, second = _mul(v0, w0, careful), _mul(v1, w1, careful)
    if careful:  # the operands swapped by selects, which vectorise
        first, second = (second, first) if second_first else (first, second)
    total = _add(first, second, careful)
    total = _add(_mul(v2, w2, careful), total, careful)
    term = _mul(v3, w3, careful)
    if careful:
        term, total = (total, term) if running_last else (term, total)
    return _add(term, total, careful)


@_inline
def _bicubic_row(
    s0: np.ndarray, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray,
    row_weights: np.ndarray, y: int, used: np.ndarray, columns: np.ndarray,
    taps: np.ndarray, tap_weights: np.ndarray, channels: int, target: np.ndarray,
) -> None:
    """One output row of tame input rows, plain arithmetic: the 4-row sums of the input
    floats it reads into ``used`` (a view of ``columns``), then per output column its
    4-column sum, the channels contiguous."""
    w0, w1 = row_weights[0, y], row_weights[1, y]
    w2, w3 = row_weights[2, y], row_weights[3, y]
    for k in range(used.shape[0]):
        used[k] = _weighted_four(_load(s0[k], False), _load(s1[k], False),
                                 _load(s2[k], False), _load(s3[k], False),
                                 w0, w1, w2, w3, False, False, False)
    pixel = np.uint64(channels)
    for x in range(taps.shape[1]):
        i0, i1 = taps[0, x] * pixel, taps[1, x] * pixel
        i2, i3 = taps[2, x] * pixel, taps[3, x] * pixel
        v0, v1 = tap_weights[0, x], tap_weights[1, x]
        v2, v3 = tap_weights[2, x], tap_weights[3, x]
        base = np.uint64(x) * pixel
        for c in range(channels):
            lane = np.uint64(c)
            target[base + lane] = _weighted_four(
                columns[i0 + lane], columns[i1 + lane], columns[i2 + lane],
                columns[i3 + lane], v0, v1, v2, v3, False, False, False)


@_inline
def _careful_plan(
    taps: np.ndarray, channels: int, row_floats: int, slot_variant: np.ndarray,
    plan: np.ndarray, spans: np.ndarray,
) -> None:
    """Where TF's column cache takes each output column's four column sums from, the
    same in every row: ``plan[slot, x]`` (``x < w``: flat in the careful rows'
    ``[V, row_floats]`` sums; column ``w`` is scratch, the slots' input columns) and
    ``spans[v]``, the input floats ``[low, high)`` whose sums of variant ``v`` are read
    (empty: ``low > high``).

    Along the output columns TF's CachedInterpolationCalculator counts the slots the
    previous column hands on (its columns matched in order), the slots' values move by
    ``4 - advance`` (as TF moves them, whatever was matched) and the slots
    ``advance .. 3`` are computed, in the operand order ``slot_variant[slot]``."""
    pixel = np.uint64(channels)
    row_length = np.uint64(row_floats)
    columns = plan[:, taps.shape[1]]
    columns[:] = np.uint64(0xFFFFFFFFFFFFFFFF)  # TF's -1: no column yet
    spans[:, 0] = row_floats
    spans[:, 1] = 0
    for x in range(taps.shape[1]):
        cached_hand = advance = 0
        while cached_hand < 4:
            if columns[cached_hand] == taps[advance, x]:
                columns[advance] = columns[cached_hand]
                advance += 1
            cached_hand += 1
        for slot in range(4):
            if slot < advance:
                plan[slot, x] = plan[slot + 4 - advance, x - 1]
            else:
                columns[slot] = taps[slot, x]
                variant = slot_variant[slot]
                low = np.int64(taps[slot, x] * pixel)
                spans[variant, 0] = min(spans[variant, 0], low)
                spans[variant, 1] = max(spans[variant, 1], low + channels)
                plan[slot, x] = slot_variant[slot] * row_length + taps[slot, x] * pixel


@_inline
def _bicubic_row_careful(
    r0: np.ndarray, r1: np.ndarray, r2: np.ndarray, r3: np.ndarray,
    row_weights: np.ndarray, y: int, tap_weights: np.ndarray, channels: int,
    first: int, stop: int, lane_orders: np.ndarray, spans: np.ndarray,
    offsets: np.ndarray, flat_sums: np.ndarray, target: np.ndarray,
) -> None:
    """One output row, careful, with TF's operand orders, which may depend on the slot of
    TF's column cache a column sum was computed in (its 3-channel code).

    The column sums of the whole input rows ``r0 .. r3``, one vectorised pass per
    operand order variant ``v`` with the bits ``lane_orders[v, k]`` per input float
    (bit 0: the first addition adds ``v1*w1`` first; bit 1: the last adds the running
    sum first; variant 0 is the common order, all 0): variant 0 over the input floats
    ``first .. stop-1``, the others over the ``spans`` :func:`_careful_plan` found them
    read in. Then the x sums of the four slots read at ``offsets``, the running sum
    first in their last addition in TF's 8-wide vector loop."""
    w0, w1 = row_weights[0, y], row_weights[1, y]
    w2, w3 = row_weights[2, y], row_weights[3, y]
    row_length = lane_orders.shape[1]
    for v in range(lane_orders.shape[0]):
        low, high = (first, stop) if v == 0 else (int(spans[v, 0]), int(spans[v, 1]))
        offset = v * row_length
        used = flat_sums[offset + low:offset + high]
        orders = lane_orders[v, low:high]
        s0, s1, s2, s3 = r0[low:high], r1[low:high], r2[low:high], r3[low:high]
        for k in range(used.shape[0]):
            order = orders[k]
            used[k] = _weighted_four(_load(s0[k], True), _load(s1[k], True),
                                     _load(s2[k], True), _load(s3[k], True),
                                     w0, w1, w2, w3, True, (order & 2) != 0,
                                     (order & 1) != 0)
    pixel = np.uint64(channels)
    # The plain rows' x sums again, reading the plan: a shared helper compiled per row
    # body made the first use 1.2 s slower (measured).
    vector_channels = channels - channels % 8
    for x in range(offsets.shape[1] - 1):
        i0, i1 = offsets[0, x], offsets[1, x]
        i2, i3 = offsets[2, x], offsets[3, x]
        v0, v1 = tap_weights[0, x], tap_weights[1, x]
        v2, v3 = tap_weights[2, x], tap_weights[3, x]
        base = np.uint64(x) * pixel
        for c in range(channels):
            lane = np.uint64(c)
            target[base + lane] = _weighted_four(
                flat_sums[i0 + lane], flat_sums[i1 + lane], flat_sums[i2 + lane],
                flat_sums[i3 + lane],
                v0, v1, v2, v3, True, c < vector_channels, False)


@_jit
def bicubic_rows(
    source: np.ndarray, out: np.ndarray, start: int, stop: int,
    rows: np.ndarray, row_weights: np.ndarray, taps: np.ndarray, tap_weights: np.ndarray,
    channels: int, column_first: int, column_stop: int, limit: np.float32,
    lane_orders: np.ndarray, slot_variant: np.ndarray, columns: np.ndarray,
    plan: np.ndarray, spans: np.ndarray,
) -> None:
    """ResizeBicubic per output row: the 4-row weighted sums of the input floats
    ``column_first .. column_stop-1`` of a row (the columns the taps read), then per
    output float the 4-tap weighted sum of those.

    ``source`` is ``[B, H, W*C]``, ``out`` ``[B, h, w*C]``; ``rows``/``row_weights`` are
    ``[4, h]``, ``taps`` (unsigned source columns) and ``tap_weights``
    ``[4, w]``. Output rows whose four input rows are tame (:func:`_is_tame` under
    ``limit``) use plain arithmetic; the others TF's operand orders
    (:func:`_bicubic_row_careful`: ``lane_orders`` ``[V, W*C]`` uint8 per order variant
    and input float, ``slot_variant`` ``[4]`` unsigned, the variant of each cache slot).
    Scratch, written here (allocated by the caller: numba's allocations each cost a
    compile): ``columns`` float32 ``[V*W*C]``, ``plan`` uint64 ``[4, w+1]`` and
    ``spans`` int64 ``[V, 2]`` (see :func:`_careful_plan`).
    """
    used = columns[column_first:column_stop]
    known = np.empty(source.shape[1], np.int8)
    planned = False
    for span in _row_spans(start, stop, out.shape[1]):
        b, y0, y1 = span[0], span[1], span[2]
        known[:] = -1
        for y in range(y0, y1):
            careful = False
            for tap in range(4):
                careful |= _row_careful(source, b, rows[tap, y], column_first, column_stop,
                                        known, limit)
            target = out[b, y]
            if careful:
                if not planned:
                    _careful_plan(taps, channels, source.shape[2], slot_variant, plan,
                                  spans)
                    planned = True
                _bicubic_row_careful(source[b, rows[0, y]], source[b, rows[1, y]],
                                     source[b, rows[2, y]], source[b, rows[3, y]],
                                     row_weights, y, tap_weights, channels, column_first,
                                     column_stop, lane_orders, spans, plan, columns,
                                     target)
                continue
            s0 = source[b, rows[0, y], column_first:column_stop]
            s1 = source[b, rows[1, y], column_first:column_stop]
            s2 = source[b, rows[2, y], column_first:column_stop]
            s3 = source[b, rows[3, y], column_first:column_stop]
            # Constants at the call sites (see _specialised).
            if channels == 3:
                _bicubic_row(s0, s1, s2, s3, row_weights, y, used, columns, taps,
                             tap_weights, 3, target)
            elif channels == 1:
                _bicubic_row(s0, s1, s2, s3, row_weights, y, used, columns, taps,
                             tap_weights, 1, target)
            else:
                _bicubic_row(s0, s1, s2, s3, row_weights, y, used, columns, taps,
                             tap_weights, channels, target)


@_inline
def _area_row_sums(
    row: np.ndarray, first: np.ndarray, count: np.ndarray, first_weight: np.ndarray,
    last_weight: np.ndarray, channels: int, row_sum: np.ndarray, careful: bool,
) -> None:
    """One input row's ``sum_y`` per output float: per output column, the first pixel
    weighted, the whole pixels after it added in turn, then the weighted last pixel added
    before the running sum (when the cell is not one pixel wide).

    ``first`` holds per output column its first pixel and the float offsets (in the
    row) of its first and last pixel, clamped to the image (``[3, w]``, unsigned: made
    once per call by :func:`area_columns`, not per row). Channels are summed four at a
    time in registers (a last block of fewer channels repeats its last channel and
    stores only the real ones).
    """
    pixel = np.uint64(channels)
    width = row.shape[0] // channels
    edge = np.uint64(width - 1)
    for x in range(count.shape[0]):
        start = first[0, x]
        head = first[1, x]
        tail = first[2, x]
        cells = count[x]
        base = np.uint64(x) * pixel
        weight = first_weight[x]
        weight_last = last_weight[x]
        for block in range(0, channels, 4):
            k0 = np.uint64(block)
            k1 = np.uint64(min(block + 1, channels - 1))
            k2 = np.uint64(min(block + 2, channels - 1))
            k3 = np.uint64(min(block + 3, channels - 1))
            a0 = _mul(_load(row[head + k0], careful), weight, careful)
            a1 = _mul(_load(row[head + k1], careful), weight, careful)
            a2 = _mul(_load(row[head + k2], careful), weight, careful)
            a3 = _mul(_load(row[head + k3], careful), weight, careful)
            for step in range(1, cells - 1):
                at = min(start + np.uint64(step), edge) * pixel
                a0 = _add(a0, _load(row[at + k0], careful), careful)
                a1 = _add(a1, _load(row[at + k1], careful), careful)
                a2 = _add(a2, _load(row[at + k2], careful), careful)
                a3 = _add(a3, _load(row[at + k3], careful), careful)
            if cells != 1:
                a0 = _add(_mul(_load(row[tail + k0], careful), weight_last, careful), a0,
                          careful)
                a1 = _add(_mul(_load(row[tail + k1], careful), weight_last, careful), a1,
                          careful)
                a2 = _add(_mul(_load(row[tail + k2], careful), weight_last, careful), a2,
                          careful)
                a3 = _add(_mul(_load(row[tail + k3], careful), weight_last, careful), a3,
                          careful)
            row_sum[base + k0] = a0
            if block + 1 < channels:
                row_sum[base + k1] = a1
            if block + 2 < channels:
                row_sum[base + k2] = a2
            if block + 3 < channels:
                row_sum[base + k3] = a3


_area_sums_of_row = _specialised(_area_row_sums)


@_inline
def _area_even_sums(
    row: np.ndarray, first_weight: np.ndarray, last_weight: np.ndarray, cells: int,
    channels: int, row_sum: np.ndarray,
) -> None:
    """:func:`_area_row_sums`, plain, where cell ``x`` is the ``cells`` whole pixels from
    ``x*cells`` (none clamped): the same operations, indexed so that with ``cells`` and
    ``channels`` constant LLVM loads the cells' pixels as vectors (measured 2.5x faster
    than channel blocks of 4 for 3 channels by 4 pixels; judging the values in the same
    loop undid it: 3.5x slower)."""
    pixel = np.uint64(channels)
    cell = np.uint64(cells) * pixel
    for x in range(first_weight.shape[0]):
        weight = first_weight[x]
        weight_last = last_weight[x]
        for c in range(channels):
            at = np.uint64(x) * cell + np.uint64(c)
            total = _mul(_load(row[at], False), weight, False)
            for step in range(1, cells - 1):
                total = _add(total, _load(row[at + np.uint64(step) * pixel], False), False)
            tail = _load(row[at + cell - pixel], False)
            row_sum[np.uint64(x) * pixel + np.uint64(c)] = _add(
                _mul(tail, weight_last, False), total, False)


@_jit
def even_cells(first: np.ndarray, count: np.ndarray, width: int, channels: int) -> int:
    """The cell width ``n`` when :func:`area_rows` can sum rows by :func:`_area_even_sums`:
    3 channels, every cell ``x`` the ``n`` pixels from ``x*n`` inside the image, ``n`` 2
    or 4; else 0. (Compiled: in numpy this test cost a tenth of ar-1's overhead.)"""
    if channels != 3 or first.shape[0] == 0:
        return 0
    cells = count[0]
    if (cells != 2 and cells != 4) or first.shape[0] * cells > width:
        return 0
    for x in range(first.shape[0]):
        if count[x] != cells or first[x] != x * cells:
            return 0
    return cells


@_inline
def _area_accumulate(
    row_sum: np.ndarray, weight_y: np.float32, target: np.ndarray, careful: bool
) -> None:
    for k in range(target.shape[0]):
        target[k] = _add(_mul(row_sum[k], weight_y, careful), target[k], careful)


@_inline
def _scaled(target: np.ndarray, scale: np.float32, careful: bool) -> None:
    for k in range(target.shape[0]):
        target[k] = _mul(target[k], scale, careful)


def _area_rows_kind(plain: bool, cells: int = 0, channels_case: int = 0) -> Callable[..., None]:
    """ResizeArea's loop over output rows: the plain pass (``plain``: compiled without the
    careful arithmetic, so a first use waits only for it) or the careful one.

    ``rows(source, out, start, stop, row_start, row_count, row_weights, first, count,
    first_weight, last_weight, channels, scale, limit, cells, redo)``: per output row,
    per input row it covers, ``sum_y`` per output float (:func:`_area_row_sums`), then
    ``sum = sum_y*weight + sum`` over the rows (from +0.0) and ``sum*scale``.

    ``source`` is ``[B, H, W*C]``, ``out`` ``[B, h, w*C]``. Rows ``row_start[y] ..
    row_start[y] + row_count[y] - 1`` (clamped to the image) weigh ``row_weights[y, step]``.
    Per output column, ``first`` holds its cell's first pixel and the clamped offsets
    of its first and last pixel (:func:`area_columns`), ``count`` its width in pixels
    (clamped to the image as TF reads them), ``first_weight``/``last_weight``
    the covered fractions of its first and last pixel. An input row's sums are kept for
    the next output row, which usually starts on it. Input rows judged tame
    (:func:`_is_tame` under ``limit``, judged after their first, plain pass: see
    :func:`_judged_after`) are summed with plain arithmetic: in the plain pass by its one
    case, frozen as constants (even cells of ``cells`` pixels by :func:`_area_even_sums`,
    else :func:`_area_row_sums` with ``channels_case`` channels, 0: any number), so that
    numba compiles only that body (its branches on constants are pruned) and LLVM inlines
    it (called through a compiled dispatcher, the even sums ran 1.5x slower).

    The plain pass writes the output rows whose input rows are all tame and marks the
    others in ``redo`` (per output row over the batch, ``b*h + y``); the careful pass
    writes only the marked ones: those of their input rows that are tame summed plainly,
    the others carefully, the sum accumulated carefully.
    """
    even = cells != 0
    fixed = channels_case != 0

    @_jit
    def rows(
        source: np.ndarray, out: np.ndarray, start: int, stop: int,
        row_start: np.ndarray, row_count: np.ndarray, row_weights: np.ndarray,
        first: np.ndarray, count: np.ndarray, first_weight: np.ndarray,
        last_weight: np.ndarray, channels: int, scale: np.float32, limit: np.float32,
        redo: np.ndarray,
    ) -> None:
        in_h = source.shape[1]
        out_h = out.shape[1]
        row_sum = np.empty(out.shape[2], _F32)
        known = np.empty(in_h, np.int8)
        for span in _row_spans(start, stop, out_h):
            b, y0, y1 = span[0], span[1], span[2]
            known[:] = -1
            summed_row = -1
            for y in range(y0, y1):
                if not plain and not redo[b * out_h + y]:
                    continue
                target = out[b, y]
                # Accumulated plainly while every input row so far is tame; the first one
                # found not to be starts the output row again, accumulated carefully (the
                # plain pass leaves it to the careful one).
                careful = False
                for _attempt in range(2):
                    target[:] = _ZERO
                    for step in range(row_count[y]):
                        index = min(row_start[y] + step, in_h - 1)
                        if index != summed_row:
                            row = source[b, index]
                            # Branches on constants: numba keeps one of them.
                            if plain:
                                if even:
                                    _area_even_sums(row, first_weight, last_weight, cells,
                                                    3, row_sum)
                                elif fixed:
                                    _area_row_sums(row, first, count, first_weight,
                                                   last_weight, channels_case, row_sum,
                                                   False)
                                else:
                                    _area_row_sums(row, first, count, first_weight,
                                                   last_weight, channels, row_sum, False)
                            else:
                                _area_sums_of_row(row, first, count, first_weight,
                                                  last_weight, channels, row_sum,
                                                  known[index] == 1)
                            # Nested: numba prunes a branch on a lone constant only.
                            if known[index] < 0 and _judged_after(  # noqa: SIM102
                                    source, b, index, known, limit):
                                if not plain:
                                    _area_sums_of_row(row, first, count, first_weight,
                                                      last_weight, channels, row_sum, True)
                            summed_row = index
                        if known[index] == 1 and not careful:
                            careful = True
                            break
                        if plain:
                            _area_accumulate(row_sum, row_weights[y, step], target, False)
                        elif careful:
                            _area_accumulate(row_sum, row_weights[y, step], target, True)
                        else:
                            _area_accumulate(row_sum, row_weights[y, step], target, False)
                    else:
                        break  # every input row accumulated
                    if plain:
                        redo[b * out_h + y] = True
                        summed_row = -1  # its sums may be the plain ones of a careful row
                        break
                if plain:
                    _scaled(target, scale, False)
                elif careful:
                    _scaled(target, scale, True)
                else:
                    _scaled(target, scale, False)

    return rows


#: The plain pass per case (:func:`area_plain_rows`), compiled on its first use.
_AREA_PLAIN_ROWS = {
    (cells, channels): _area_rows_kind(True, cells, channels)
    for cells, channels in ((4, 3), (2, 3), (0, 3), (0, 1), (0, 0))
}
#: The careful pass: every case.
area_rows = _area_rows_kind(False)


def area_plain_rows(cells: int, channels: int) -> Callable[..., None]:
    """The plain pass of :func:`_area_rows_kind` for even cells of ``cells`` pixels (from
    :func:`even_cells`; 0: not even) and ``channels`` channels: each case compiled alone,
    on its first use, so that a first resize waits for its own case only."""
    if cells != 0:
        return _AREA_PLAIN_ROWS[(cells, 3)]
    return _AREA_PLAIN_ROWS[(0, channels if channels in (1, 3) else 0)]


@_inline
def _crop_row(
    top_row: np.ndarray, bottom_row: np.ndarray, lefts: np.ndarray, rights: np.ndarray,
    weights_x: np.ndarray, weight_y: np.float32, channels: int, vector_channels: int,
    target: np.ndarray, careful: bool,
) -> None:
    """One crop output row from its top and bottom input rows (flat ``[W*C]``); the
    box's columns: the offsets of the left and right pixels in a row, and the x lerps;
    the bottom sum adds ``low`` first from channel ``vector_channels`` on."""
    for x in range(lefts.shape[0]):
        left = lefts[x]
        right = rights[x]
        weight_x = weights_x[x]
        for c in range(channels):
            upper = _lerp(_load(top_row[left + c], careful), _load(top_row[right + c], careful),
                          weight_x, False, careful)
            lower = _lerp(_load(bottom_row[left + c], careful),
                          _load(bottom_row[right + c], careful), weight_x,
                          c >= vector_channels, careful)
            target[x * channels + c] = _lerp(upper, lower, weight_y, False, careful)


@_jit
def crop_bilinear(
    source: np.ndarray, out: np.ndarray, start: int, stop: int, which: np.ndarray,
    in_y: np.ndarray, in_x: np.ndarray, channels: int, limit: np.float32,
    vector_channels: int,
) -> None:
    """CropAndResize's bilinear samples of boxes ``start .. stop-1`` (the arguments in the
    order :func:`blocks.kernels.pieces.run_loop_ranges` calls): ``out[n, y]``
    (``[N, h, w*C]``) from image ``which[n]`` of ``source`` (``[B, H, W*C]``) at the
    float32 source coordinates ``in_y[n, y]``, ``in_x[n, x]`` (inside the image; the
    caller fills the samples outside it).

    ``top = tl + (tr - tl)*x_lerp`` and ``bottom`` alike, then
    ``top + (bottom - top)*y_lerp``: TF's crop loops add the product first, but the bottom
    row's sum adds ``low`` first in the channels after the last whole block of 16
    (measured with tagged NaNs). Output rows whose two input rows are tame
    (:func:`_is_tame` under ``limit``) use plain arithmetic.
    """
    width = source.shape[2]
    known = np.full((source.shape[0], source.shape[1]), -1, np.int8)
    crop_w = in_x.shape[1]
    lefts = np.empty(crop_w, np.uint64)
    rights = np.empty(crop_w, np.uint64)
    weights_x = np.empty(crop_w, _F32)
    for n in range(start, stop):
        b = which[n]
        # The box's columns, once for all its rows.
        for x in range(crop_w):
            coordinate_x = in_x[n, x]
            left = math.floor(coordinate_x)
            lefts[x] = left * channels
            rights[x] = math.ceil(coordinate_x) * channels
            weights_x[x] = _F32(coordinate_x - _F32(left))
        for y in range(out.shape[1]):
            coordinate_y = in_y[n, y]
            top = math.floor(coordinate_y)
            bottom = math.ceil(coordinate_y)
            weight_y = _F32(coordinate_y - _F32(top))
            careful_top = _row_careful(source, b, top, 0, width, known[b], limit)
            careful_bottom = _row_careful(source, b, bottom, 0, width, known[b], limit)
            if careful_top or careful_bottom:
                _crop_row(source[b, top], source[b, bottom], lefts, rights, weights_x,
                          weight_y, channels, vector_channels, out[n, y], True)
            elif channels == 3:
                _crop_row(source[b, top], source[b, bottom], lefts, rights, weights_x,
                          weight_y, 3, vector_channels, out[n, y], False)
            else:
                _crop_row(source[b, top], source[b, bottom], lefts, rights, weights_x,
                          weight_y, channels, vector_channels, out[n, y], False)


# ----------------------------------------------------------------------------- tables
# The per-row and per-column tables, made here in one compiled call each instead of a
# dozen numpy calls (whose cost, after a loop has filled the caches with pixels, was a
# tenth of a small resize). Each float32 operation rounds once, as in numpy.


@_jit
def bilinear_axis(
    in_size: int, out_size: int, scale: np.float32, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per output index along one axis: the lower and upper source index (int64) and the
    float32 lerp, from the source coordinate ``(x + 0.5)*scale - 0.5`` (half pixel
    centres) or ``x*scale``: ``lerp = coordinate - floor``, ``upper = min(ceil, in - 1)``,
    ``lower = min(max(floor, 0), upper)``."""
    lower = np.empty(out_size, np.int64)
    upper = np.empty(out_size, np.int64)
    lerp = np.empty(out_size, _F32)
    half = _F32(0.5)
    for index in range(out_size):
        x = _F32(index)
        if half_pixel_centers:
            coordinate = _F32(_F32(_F32(x + half) * scale) - half)
        else:
            coordinate = _F32(x * scale)
        floor = math.floor(coordinate)
        upper[index] = min(math.ceil(coordinate), in_size - 1)
        lower[index] = min(max(floor, 0), upper[index])
        lerp[index] = _F32(coordinate - _F32(floor))
    return lower, upper, lerp


@_jit
def area_columns(first: np.ndarray, count: np.ndarray, width: int, channels: int) -> np.ndarray:
    """Per output column (``[3, w]`` uint64): its first pixel, and the offsets in a row of
    its first and last pixel clamped to the image (an empty cell, count 0, reads pixel
    ``first - 1``, clamped as TF does)."""
    table = np.empty((3, first.shape[0]), np.uint64)
    for x in range(first.shape[0]):
        table[0, x] = first[x]
        table[1, x] = min(first[x], width - 1) * channels
        table[2, x] = min(max(first[x] + count[x] - 1, 0), width - 1) * channels
    return table


@_jit
def _area_weight(index: int, low: np.float32, high: np.float32, scale: np.float32) -> np.float32:
    """The covered fraction of pixel ``index`` in the cell ``[low, high)`` (float32)."""
    here = _F32(index)
    after = _F32(index + 1)
    if here < low:
        return scale if after > high else _F32(after - low)
    return _F32(high - here) if after > high else _F32(1)


@_jit
def area_axis(
    in_size: int, out_size: int, scale: np.float32
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output index along one axis, its cell ``[x*scale, (x+1)*scale)``: the first
    source index ``floor(low)``, the count ``ceil(high) - floor(low)``, the covered
    fraction of each pixel ``first + step`` (``[out, max(1, largest count)]``) and that of
    pixel ``first + count - 1`` (the last one; ``first - 1`` for an empty cell)."""
    first = np.empty(out_size, np.int64)
    count = np.empty(out_size, np.int64)
    low = np.empty(out_size, _F32)
    high = np.empty(out_size, _F32)
    steps = 1
    for index in range(out_size):
        low[index] = _F32(_F32(index) * scale)
        high[index] = _F32(_F32(index + 1) * scale)
        first[index] = math.floor(low[index])
        count[index] = math.ceil(high[index]) - first[index]
        steps = max(steps, count[index])
    weights = np.empty((out_size, steps), _F32)
    last = np.empty(out_size, _F32)
    for index in range(out_size):
        for step in range(steps):
            weights[index, step] = _area_weight(first[index] + step, low[index], high[index],
                                                scale)
        last[index] = _area_weight(first[index] + count[index] - 1, low[index], high[index],
                                   scale)
    return first, count, weights, last
