"""AdjustSaturation, AdjustHue and AdjustContrastv2, as TensorFlow 2.21's CPU kernels
compute them (float32).

Contract: ``adjust_saturation(images, scale)`` and ``adjust_hue(images, delta)`` take
float32 ``[..., 3]`` tensors of at least 3 dims and a float32 scalar and return the same
shape; ``adjust_contrast_v2(images, contrast_factor)`` takes float32 ``[..., H, W, C]``
(any C). ``adjust_shape(...)`` checks them without data, in TensorFlow's order (dtype,
at least 3-D, the scalar, 3 channels where asked). TF has no CPU kernel for half: it is
refused with a message saying so.

Saturation and hue are TF's scalar C++ (``adjust_saturation_op.cc``, ``adjust_hue_op.cc``)
applied pixel by pixel, here vectorised with the same float32 operations in the same
order, denormals read and written as zero and x86's rule for which NaN survives
(:mod:`blocks.kernels.float32_math`); ``2.0/6.0`` and ``4.0/6.0`` are double constants
in TF's code, so those sums are done in double and rounded to float. Contrast follows
``adjust_contrast_op.cc``: its per-channel sum in TF's halving order and its NaN operand
order as TF's machine code has it (see the contrast section below).

Deliberate difference: TF moves the shifted hue into [0, 6) by adding or subtracting 6
in a loop, one step per turn; for ``|delta|`` beyond about 2^24 the loop never ends. We
refuse ``|delta| > 1000`` (over 1000 steps per pixel) instead of hanging.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from blocks.kernels.colorspace import SelectArithmetic, in_pixel_pieces
from blocks.kernels.float32_math import (
    TFArithmetic,
    flush_denormals,
    keeping_first_nan,
    tame_inputs,
    to_float32,
)
from blocks.kernels.op_checks import check_dtype, dtypes, port_error, shape_text
from blocks.kernels.pieces import run_pieces, thread_count

_F32 = np.float32
ADJUST_DTYPES = dtypes("float32")
_MAX_DELTA = 1000.0


def adjust_shape(
    shape: tuple[int | None, ...] | None,
    dtype: np.dtype[Any] | None,
    factor_shape: tuple[int | None, ...] | None,
    factor: str,
    channels: int | None = 3,
) -> tuple[int | None, ...] | None:
    """Check AdjustSaturation (``factor`` "scale"), AdjustHue ("delta") or
    AdjustContrastv2 ("contrast_factor", any ``channels``: ``None``) arguments."""
    if dtype is not None and np.dtype(dtype) == np.float16:
        # The op allows half, but TF has a half kernel only for GPUs.
        raise port_error("images", "no CPU kernel for T=DT_HALF (TensorFlow has one only on "
                         "GPUs); cast the images to float32")
    check_dtype("images", dtype, ADJUST_DTYPES, "half, float")
    if shape is not None and len(shape) < 3:
        raise port_error("images", f"input must be at least 3-D, got shape{shape_text(shape)}")
    if factor_shape is not None and len(factor_shape) != 0:
        raise port_error(factor, f"{factor} must be scalar: {shape_text(factor_shape)}")
    if channels is not None and shape is not None and shape[-1] is not None \
            and shape[-1] != channels:
        raise port_error(
            "images", f"input must have {channels} channels but instead has {shape[-1]} channels."
        )
    return None if shape is None else tuple(shape)


def _channels(flat: np.ndarray) -> list[np.ndarray]:
    return [np.ascontiguousarray(flat[:, k]) for k in range(3)]


def adjust_saturation(
    images: Any, scale: Any, cancel: threading.Event | None = None
) -> np.ndarray:
    """TensorFlow's AdjustSaturation (float32), a piece of pixels at a time."""
    values = np.asarray(images)
    factor = np.asarray(scale)
    adjust_shape(values.shape, values.dtype, factor.shape, "scale")
    factor32 = factor.astype(_F32)
    tame_factor = tame_inputs(factor32)
    return in_pixel_pieces(
        lambda flat: _saturation_pixels(flat, factor32, tame_factor), values, np.dtype(_F32),
        cancel)


def _saturation_pixels(flat: np.ndarray, factor32: np.ndarray, tame_factor: bool) -> np.ndarray:
    red, green, blue = _channels(flat)
    a = SelectArithmetic(np.dtype(_F32), careful=not (tame_factor and tame_inputs(flat)))
    with np.errstate(all="ignore"):
        value = a.std_max(red, a.std_max(green, blue))
        spread = a.sub(value, a.std_min(red, a.std_min(green, blue)))
        saturation = np.where(a.operand(value) > 0, a.div(spread, value), _F32(0))
        norm = a.div(np.ones_like(spread), a.mul(np.full_like(spread, 6), spread))
        hue = np.where(
            red == value,
            a.mul(norm, a.sub(green, blue)),
            np.where(
                green == value,
                a.plus_double(a.mul(norm, a.sub(blue, red)), 2.0 / 6.0),
                a.plus_double(a.mul(norm, a.sub(red, green)), 4.0 / 6.0),
            ),
        )
        hue = np.where(a.operand(spread) <= 0, _F32(0), hue)
        hue = np.where(a.operand(hue) < 0, a.add(hue, np.asarray(_F32(1))), hue)
        scaled = a.mul(saturation, np.broadcast_to(factor32, saturation.shape))
        saturation = a.std_min(np.full_like(scaled, 1), a.std_max(np.zeros_like(scaled), scaled))
        return _hsv_to_rgb(a, hue, saturation, value)


#: Per output channel, by category 0-5 (6: none), the index into (chroma, x, 0).
_HSV_PICKS = np.array([[0, 1, 2, 2, 1, 0, 2], [1, 0, 0, 1, 2, 2, 2], [2, 2, 1, 0, 0, 1, 2]])
#: Per branch of _rgb_to_hv_range: max, mid and min as indices into (R, G, B), and the
#: category of each branch.
_BRANCH_PICKS = np.array([[1, 2, 1, 0, 2, 0], [0, 1, 2, 1, 0, 2], [2, 0, 0, 2, 1, 1]])
_BRANCH_CATEGORY = np.array([1, 3, 2, 0, 4, 5])
#: The branches (of category 2, 4 and 5) whose maximum comes from a max instruction.
_BRANCH_FLUSHES_MAX = np.isin(_BRANCH_CATEGORY, (2, 4, 5))
def _branch_of_code() -> np.ndarray:
    """TF's branch (0-5) for each code r<g, b<r, b>g, b<g, b>r (bits 4 to 0)."""
    table = np.zeros(32, np.intp)
    for code in range(32):
        r_lt_g, b_lt_r, b_gt_g, b_lt_g, b_gt_r = ((code >> bit) & 1 for bit in (4, 3, 2, 1, 0))
        if r_lt_g:
            table[code] = 0 if b_lt_r else 1 if b_gt_g else 2
        else:
            table[code] = 3 if b_lt_g else 4 if b_gt_r else 5
    return table


_BRANCH_OF_CODE = _branch_of_code()
#: Per output channel, by category 0-4 (5: case 5 and any other), the index into
#: (max, mid, min).
_RANGE_PICKS = np.array([[0, 1, 2, 2, 1, 0], [1, 0, 0, 1, 2, 2], [2, 2, 1, 0, 0, 1]])


def _select(parts: tuple[np.ndarray, ...], picks: np.ndarray, case: np.ndarray) -> np.ndarray:
    """``[n, 3]``: per element i and output column c, ``parts[picks[c, case[i]]][i]`` (one
    gather instead of a chain of wheres)."""
    flat = np.stack(parts, axis=1).reshape(-1)
    base = np.arange(0, flat.size, len(parts))
    return np.stack([np.take(flat, base + pick[case]) for pick in picks], axis=1)


def _hsv_to_rgb(
    a: TFArithmetic, hue: np.ndarray, saturation: np.ndarray, value: np.ndarray) -> np.ndarray:
    chroma = a.mul(saturation, value)
    low = a.sub(value, chroma)
    scaled = a.mul(hue, np.full_like(hue, 6))
    with np.errstate(invalid="ignore"):
        category = np.where(np.isfinite(scaled), np.trunc(scaled), -1).astype(np.int64)
    wrapped = scaled.copy()
    while True:  # TF's two while loops, one step per turn (h is in [0, 6] here)
        step = a.operand(wrapped) <= 0
        if not step.any():
            break
        wrapped = np.where(step, a.add(wrapped, np.asarray(_F32(2))), wrapped)
    while True:
        step = a.operand(wrapped) >= 2
        if not step.any():
            break
        wrapped = np.where(step, a.sub(wrapped, _F32(2)), wrapped)
    x = a.mul(chroma, a.sub(np.full_like(wrapped, 1), np.abs(a.sub(wrapped, _F32(1)))))
    # TF's switch on the category: per channel, which of (chroma, x, 0) it takes.
    case = np.where((category >= 0) & (category <= 5), category, 6)
    parts = (chroma, x, np.zeros_like(x))
    return a.add(_select(parts, _HSV_PICKS, case), low[:, None])


def adjust_hue(images: Any, delta: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's AdjustHue (float32), a piece of pixels at a time."""
    values = np.asarray(images)
    factor = np.asarray(delta)
    adjust_shape(values.shape, values.dtype, factor.shape, "delta")
    shift = _F32(factor.astype(_F32))
    if not np.isfinite(shift) or abs(float(shift)) > _MAX_DELTA:
        raise port_error(
            "delta",
            f"delta {float(shift)!r} is refused: TensorFlow shifts the hue back into range "
            f"one turn per step (|delta| steps per pixel, endless from about 2^24); use a "
            f"delta in [-{_MAX_DELTA:g}, {_MAX_DELTA:g}], e.g. delta modulo 1",
        )
    tame_shift = tame_inputs(np.asarray(shift))
    return in_pixel_pieces(
        lambda flat: _hue_pixels(flat, shift, tame_shift), values, np.dtype(_F32), cancel)


def _hue_pixels(flat: np.ndarray, shift: np.float32, tame_shift: bool) -> np.ndarray:
    red, green, blue = _channels(flat)
    a = SelectArithmetic(np.dtype(_F32), careful=not (tame_shift and tame_inputs(flat)))
    with np.errstate(all="ignore"):
        hue, v_min, v_max = _rgb_to_hv_range(a, red, green, blue)
        turns = _F32(6)
        hue = a.add(hue, a.mul(shift, turns))
        while True:
            step = a.operand(hue) < 0
            if not step.any():
                break
            hue = np.where(step, a.add(hue, np.asarray(turns)), hue)
        while True:
            step = a.operand(hue) >= turns
            if not step.any():
                break
            hue = np.where(step, a.sub(hue, turns), hue)
        return _hv_range_to_rgb(a, hue, v_min, v_max)


def _rgb_to_hv_range(
    a: TFArithmetic, red: np.ndarray, green: np.ndarray, blue: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # Tame values hold no denormal: flushing would change nothing.
    r, g, b = (flush_denormals(c) for c in (red, green, blue)) if a.careful else (
        red, green, blue)
    # TF's nested ifs, numbered 0-5; each picks (max, mid, min) of (R, G, B) and a category.
    code = (r < g).view(np.uint8) << 4
    for bit, test in ((3, b < r), (2, b > g), (1, b < g), (0, b > r)):
        code |= test.view(np.uint8) << bit
    branch = _BRANCH_OF_CODE[code]
    picked = _select((red, green, blue), _BRANCH_PICKS, branch)
    v_max, v_mid, v_min = (np.ascontiguousarray(picked[:, k]) for k in range(3))
    category = _BRANCH_CATEGORY[branch]
    # Measured: in TF's branches of category 2, 4 and 5 the compiled code picks the
    # maximum with a max instruction, which returns a denormal as zero; elsewhere the
    # values keep their bits.
    if a.careful:
        v_max = np.where(_BRANCH_FLUSHES_MAX[branch], flush_denormals(v_max), v_max)
    flat = a.operand(v_max) == a.operand(v_min)
    ratio = a.div(a.sub(v_mid, v_min), a.sub(v_max, v_min))
    increase = (category & 1) == 0
    part = np.where(increase, ratio, a.sub(np.ones_like(ratio), ratio))
    hue = a.add(category.astype(_F32), part)
    hue = np.where(flat, _F32(0), hue)
    return hue, v_min, v_max


def _hv_range_to_rgb(
    a: TFArithmetic, hue: np.ndarray, v_min: np.ndarray, v_max: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if a.careful:
            finite = np.isfinite(hue)
            category = np.where(finite, np.trunc(np.where(finite, hue, 0)), -(2**31)).astype(
                np.int64)
        else:  # tame values give a finite hue
            category = hue.astype(np.int64)  # truncation toward zero
    # int(NaN) is INT_MIN on x86: its float is -2^31 and it counts as "increase".
    ratio = a.sub(hue, category.astype(_F32))
    increase = (category & 1) == 0
    ratio = np.where(increase, ratio, a.sub(np.ones_like(ratio), ratio))
    v_mid = a.add(a.mul(ratio, a.sub(v_max, v_min)), v_min)  # product first
    case = np.where((category >= 0) & (category <= 4), category, 5)  # 5: case 5, default
    return _select((v_max, v_mid, v_min), _RANGE_PICKS, case)


# ----------------------------------------------------------------------------- contrast
#
# AdjustContrastv2 (``adjust_contrast_op.cc``, ``AdjustContrastOpv2<CPUDevice, float>``;
# TF registers no CPU kernel for half). Per image, TF sums each channel over the H*W
# pixels by folding the plane in halves: round 0 writes ``x[left:left+right] + x[:right]``
# into a scratch plane (``right = n // 2``, ``left = n - right``; an odd middle pixel is
# copied), every later round adds ``s[left:left+right]`` into ``s[:right]``, until one
# pixel is left. The mean is that sum times ``1.0f / n`` (``n`` rounded to float), and
# each output is ``factor * (x - mean) + mean``, one float32 rounding per step, with no
# fused multiply-add. Measured on TF 2.21's x86-64 machine code: which of two NaNs
# survives follows the C++ operand order (right half first in round 0, the accumulator
# first later, ``x`` first in the difference, ``factor`` first in the product); the last
# sum has the product first, except in the second half of each 32-float turn of its
# vector loop (flat index i below the scalar tail, i % 32 >= 16), where the mean comes
# first. Denormals are read and written as zero, and a product whose exact value is
# below 2^-126 is zero even where it would round up to 2^-126.
#
# The plain path does the same operations in numpy's float32 without any NaN or
# denormal bookkeeping. It is exact where neither can show, which a piece proves from
# its own values (see _plain_input, _plain_means, _plain_output); any other piece is
# redone by the careful path, which spells out both rules.

#: Nonzero inputs and means at least this large keep every sum and difference a multiple
#: of 2^-125, so none of them can be denormal (a float's ulp is >= 2^-23 of its size).
_LATTICE_FLOOR = np.asarray(_F32(2.0**-101)).view(np.uint32)
_MIN_NORMAL_BITS = np.asarray(np.finfo(_F32).tiny).view(np.uint32)
_INF_BITS = np.uint32(0x7F800000)
_MAGNITUDE = np.uint32(0x7FFFFFFF)
#: TF's increment loop takes this many floats per turn; in the second half of each turn
#: (not in the scalar tail) its last sum has the mean first.
_LOOP = 32
#: Floats per piece: a piece's planes, scratch and tiled means stay in the cache.
_PIECE = 1 << 18


def adjust_contrast_v2(
    images: Any, contrast_factor: Any, cancel: threading.Event | None = None
) -> np.ndarray:
    """TensorFlow's AdjustContrastv2 (float32): ``(x - mean) * factor + mean`` per
    image and channel, bit for bit."""
    values = np.asarray(images)
    factor = np.asarray(contrast_factor)
    adjust_shape(values.shape, values.dtype, factor.shape, "contrast_factor", channels=None)
    values = np.ascontiguousarray(values, dtype=_F32)
    out = np.empty(values.shape, _F32)
    if out.size == 0:
        return out
    height, width, channels = values.shape[-3:]
    pixels = height * width
    planes = values.reshape(-1, pixels * channels)
    results = out.reshape(planes.shape)
    scale = to_float32(factor).reshape(())
    plain_scale = _plain_scale(scale)
    # Pieces are whole images (TF sums an image at once); the output is then made a
    # row of at most a piece at a time, so one large image is shared by threads too.
    per_piece = max(1, _PIECE // planes.shape[1])
    pieces = [slice(start, start + per_piece) for start in range(0, planes.shape[0], per_piece)]
    found: list[tuple[np.ndarray, bool]] = [(np.empty(0, _F32), False)] * len(pieces)
    threads = thread_count() if out.size > 4 * _PIECE else 1

    def measure(index: int) -> None:
        source, target = planes[pieces[index]], results[pieces[index]]
        with np.errstate(all="ignore"):  # inf - inf: TF's NaN, numpy's warning
            if plain_scale and _plain_input(source, target):
                means = _plane_means(source, pixels, channels, _plain_sum, target)
                if _plain_means(means):
                    found[index] = (means, True)
                    return
            means = _plane_means(flush_denormals(source), pixels, channels, _careful_sum,
                                 target)
            found[index] = (means, False)

    run_pieces(len(pieces), measure, cancel, threads)
    row = _row_length(planes.shape[1], channels)
    rows = [(index, start) for index in range(len(pieces))
            for start in range(0, planes.shape[1], row)]

    def finish(item: int) -> None:
        index, start = rows[item]
        columns = slice(start, start + row)
        source, target = planes[pieces[index]][:, columns], results[pieces[index]][:, columns]
        means, plain = found[index]
        tiled = _tiled(means, target.shape[1])
        if plain:
            with np.errstate(all="ignore"):
                _plain_contrast(source, tiled, scale, target)
            if _plain_output(target, scale):
                return
        offset = pieces[index].start * planes.shape[1] + start
        _careful_contrast(source, tiled, scale, target, (offset, planes.shape[1], out.size))

    run_pieces(len(rows), finish, cancel, threads)
    return out


def _plain_scale(scale: np.ndarray) -> bool:
    """Whether the factor is a number read as itself (not NaN, not denormal)."""
    bits = scale.view(np.uint32) & _MAGNITUDE
    return bool(bits <= _INF_BITS and (bits == 0 or bits >= _MIN_NORMAL_BITS))


def _plain_input(planes: np.ndarray, scratch: np.ndarray) -> bool:
    """No nonzero value below 2^-101 (which could make a sum denormal), judged a row at a
    time in ``scratch`` (the output, free until the means are known). A NaN input needs
    no check here: it makes its channel's mean NaN, which _plain_means refuses."""
    source = planes.view(np.uint32)
    target = scratch.view(np.uint32)
    row = _row_length(planes.shape[1], 1)
    floor = np.uint32(_LATTICE_FLOOR << 1)
    for start in range(0, planes.shape[1], row):
        doubled = target[:, start:start + row]
        np.add(source[:, start:start + row], source[:, start:start + row], out=doubled)
        # doubled: the magnitude's bits, shifted; below the floor: tiny or zero.
        if doubled.min() < floor:
            np.subtract(doubled, np.uint32(2), out=doubled)  # zero wraps to the top
            if doubled.min() < floor - 2:
                return False
    return True


def _plain_means(means: np.ndarray) -> bool:
    """Means free of NaN (inf - inf) and of nonzero values below 2^-101."""
    bits = means.view(np.uint32) & _MAGNITUDE
    return bool(((bits == 0) | ((bits >= _LATTICE_FLOOR) & (bits <= _INF_BITS))).all())


def _plain_output(out: np.ndarray, scale: np.ndarray) -> bool:
    """No output at or below the smallest normal. With |factor| >= 1/2 (or 0) and the
    checks above, a product is 0 or at least 2^-126 before rounding, and a sum with a
    mean 0 or >= 2^-101 cannot be denormal; a smaller factor's product can be tiny, and
    then shows in the output unless a mean absorbs it."""
    if scale == 0 or abs(float(scale)) >= 0.5:
        return True
    bits = out.view(np.uint32) & _MAGNITUDE
    np.subtract(bits, np.uint32(1), out=bits)
    return bool(bits.min() >= _MIN_NORMAL_BITS)


Adder = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


def _plain_sum(first: np.ndarray, second: np.ndarray, out: np.ndarray) -> None:
    np.add(first, second, out=out)


def _careful_sum(first: np.ndarray, second: np.ndarray, out: np.ndarray) -> None:
    out[...] = flush_denormals(keeping_first_nan(np.add, first, second))


def _plane_means(planes: np.ndarray, pixels: int, channels: int, add: Adder,
                 scratch: np.ndarray) -> np.ndarray:
    """Each plane's channel means ``[B, C]``, summed in TF's halving order in ``scratch``
    (as large as ``planes``; TF sums in its output too)."""
    images = planes.reshape(-1, pixels, channels)
    right = pixels // 2
    left = pixels - right
    sums = scratch[:, :left * channels].reshape(images.shape[0], left, channels)
    add(images[:, left:], images[:, :right], sums[:, :right])
    if left > right:
        sums[:, right] = images[:, right]
    remaining = left
    while remaining > 1:
        right = remaining // 2
        left = remaining - right
        add(sums[:, :right], sums[:, left:remaining], sums[:, :right])
        remaining = left
    return _flushed_product(np.float32(1) / np.float32(pixels), sums[:, 0])


def _flushed_product(first: Any, second: np.ndarray) -> np.ndarray:
    """``first * second`` (NaN of ``first`` first) with x86's flush to zero, which judges
    the exact product: one just below 2^-126 that rounds up to 2^-126 becomes zero too."""
    product = flush_denormals(keeping_first_nan(np.multiply, first, second))
    edge = np.abs(product) == np.finfo(_F32).tiny
    if edge.any():
        exact = np.multiply(first, second, dtype=np.float64)  # exact: 24 + 24 bits
        tiny = edge & (np.abs(exact) < np.finfo(_F32).tiny)
        product[tiny] = np.copysign(_F32(0), product[tiny])
    return product


def _tiled(means: np.ndarray, length: int) -> np.ndarray:
    """Each row of ``means`` repeated along ``length`` floats (a multiple of its size),
    by doubling copies as TF broadcasts (long contiguous copies, not one per pixel)."""
    channels = means.shape[1]
    tiled = np.empty((means.shape[0], length), _F32)
    tiled[:, :channels] = means
    done = channels
    while done < length:
        step = min(done, length - done)
        tiled[:, done:done + step] = tiled[:, :step]
        done += step
    return tiled


def _row_length(width: int, channels: int) -> int:
    """The floats of a plane done at once: whole pixels, at most a piece (or one pixel)."""
    return min(width, max(channels, _PIECE // channels * channels))


def _plain_contrast(
    planes: np.ndarray, tiled: np.ndarray, scale: np.ndarray, out: np.ndarray) -> None:
    """``factor * (x - mean) + mean`` in float32 over a row of planes (``tiled``: the
    means repeated along it)."""
    np.subtract(planes, tiled, out=out)
    np.multiply(out, scale, out=out)
    np.add(out, tiled, out=out)


def _careful_contrast(planes: np.ndarray, tiled: np.ndarray, scale: np.ndarray,
                      out: np.ndarray, where: tuple[int, int, int]) -> None:
    """The same with denormals read and written as zero and TF's NaN operand order;
    ``where`` is the flat index of the row's first float, the planes' stride and the
    number of floats in the whole output."""
    offset, stride, total = where
    with np.errstate(all="ignore"):
        values = flush_denormals(planes)
        mean = np.broadcast_to(tiled, values.shape)
        difference = flush_denormals(keeping_first_nan(np.subtract, values, mean))
        product = _flushed_product(np.broadcast_to(flush_denormals(scale), values.shape),
                                   difference)
        result = keeping_first_nan(np.add, product, mean)
        flat = offset + np.arange(values.shape[1]) + stride * np.arange(values.shape[0])[:, None]
        mean_first = (flat < total - total % _LOOP) & (flat % _LOOP >= _LOOP // 2)
        if mean_first.any():
            result[mean_first] = keeping_first_nan(np.add, mean[mean_first],
                                                   product[mean_first])
        out[...] = flush_denormals(result)
