"""AdjustSaturation and AdjustHue, as TensorFlow 2.21's CPU kernels compute them (float).

Contract: ``adjust_saturation(images, scale)`` and ``adjust_hue(images, delta)`` take
float32 ``[..., 3]`` tensors of at least 3 dims and a float32 scalar and return the same
shape; ``adjust_shape(...)`` checks that without data, in TensorFlow's order (dtype,
at least 3-D, the scalar, 3 channels).

Both kernels are TF's scalar C++ (``adjust_saturation_op.cc``, ``adjust_hue_op.cc``)
applied pixel by pixel, here vectorised with the same float32 operations in the same
order, denormals read and written as zero and x86's rule for which NaN survives
(:mod:`blocks.kernels.float32_math`); ``2.0/6.0`` and ``4.0/6.0`` are double constants
in TF's code, so those sums are done in double and rounded to float.

Deliberate difference: TF moves the shifted hue into [0, 6) by adding or subtracting 6
in a loop, one step per turn; for ``|delta|`` beyond about 2^24 the loop never ends. We
refuse ``|delta| > 1000`` (over 1000 steps per pixel) instead of hanging.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.kernels.float32_math import TFArithmetic, flush_denormals, tame_inputs
from blocks.kernels.op_checks import check_dtype, dtypes, port_error, shape_text

_F32 = np.float32
ADJUST_DTYPES = dtypes("float32")
_MAX_DELTA = 1000.0


def adjust_shape(
    shape: tuple[int | None, ...] | None,
    dtype: np.dtype[Any] | None,
    factor_shape: tuple[int | None, ...] | None,
    factor: str,
) -> tuple[int | None, ...] | None:
    """Check AdjustSaturation (``factor`` "scale") or AdjustHue ("delta") arguments."""
    if dtype is not None and np.dtype(dtype) == np.float16:
        # The op allows half, but TF has a half kernel only for GPUs.
        raise port_error("images", "no CPU kernel for T=DT_HALF (TensorFlow has one only on "
                         "GPUs); cast the images to float32")
    check_dtype("images", dtype, ADJUST_DTYPES, "half, float")
    if shape is not None and len(shape) < 3:
        raise port_error("images", f"input must be at least 3-D, got shape{shape_text(shape)}")
    if factor_shape is not None and len(factor_shape) != 0:
        raise port_error(factor, f"{factor} must be scalar: {shape_text(factor_shape)}")
    if shape is not None and shape[-1] is not None and shape[-1] != 3:
        raise port_error(
            "images", f"input must have 3 channels but instead has {shape[-1]} channels."
        )
    return None if shape is None else tuple(shape)


def _pixels(images: Any) -> tuple[np.ndarray, list[np.ndarray]]:
    values = np.asarray(images)
    flat = values.reshape(-1, 3)
    return values, [np.ascontiguousarray(flat[:, k]) for k in range(3)]


def adjust_saturation(images: Any, scale: Any) -> np.ndarray:
    """TensorFlow's AdjustSaturation (float32)."""
    values = np.asarray(images)
    factor = np.asarray(scale)
    adjust_shape(values.shape, values.dtype, factor.shape, "scale")
    values, (red, green, blue) = _pixels(values)
    factor32 = factor.astype(_F32)
    a = TFArithmetic(np.dtype(_F32), careful=not (tame_inputs(values) and tame_inputs(factor32)))
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
        out = _hsv_to_rgb(a, hue, saturation, value)
    return out.reshape(values.shape)


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
    zero = np.zeros_like(x)
    table = {0: (chroma, x, zero), 1: (x, chroma, zero), 2: (zero, chroma, x),
             3: (zero, x, chroma), 4: (x, zero, chroma), 5: (chroma, zero, x)}
    channels = []
    for k in range(3):
        picked = zero
        for index, parts in table.items():
            picked = np.where(category == index, parts[k], picked)
        channels.append(a.add(picked, low))
    return np.stack(channels, axis=-1)


def adjust_hue(images: Any, delta: Any) -> np.ndarray:
    """TensorFlow's AdjustHue (float32)."""
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
    values, (red, green, blue) = _pixels(values)
    tame = tame_inputs(values) and tame_inputs(np.asarray(shift))
    a = TFArithmetic(np.dtype(_F32), careful=not tame)
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
        out = _hv_range_to_rgb(a, hue, v_min, v_max)
    return out.reshape(values.shape)


def _rgb_to_hv_range(
    a: TFArithmetic, red: np.ndarray, green: np.ndarray, blue: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r, g, b = (flush_denormals(c) for c in (red, green, blue))
    r_lt_g, b_lt_r, b_gt_g, b_lt_g, b_gt_r = r < g, b < r, b > g, b < g, b > r
    # TF's nested ifs: (max, mid, min, category) per branch.
    branches = [
        (r_lt_g & b_lt_r, (green, red, blue, 1)),
        (r_lt_g & ~b_lt_r & b_gt_g, (blue, green, red, 3)),
        (r_lt_g & ~b_lt_r & ~b_gt_g, (green, blue, red, 2)),
        (~r_lt_g & b_lt_g, (red, green, blue, 0)),
        (~r_lt_g & ~b_lt_g & b_gt_r, (blue, red, green, 4)),
        (~r_lt_g & ~b_lt_g & ~b_gt_r, (red, blue, green, 5)),
    ]
    v_max = np.zeros_like(red)
    v_mid = np.zeros_like(red)
    v_min = np.zeros_like(red)
    category = np.zeros(red.shape, np.int64)
    for where, (high, middle, low, cat) in branches:
        v_max = np.where(where, high, v_max)
        v_mid = np.where(where, middle, v_mid)
        v_min = np.where(where, low, v_min)
        category = np.where(where, cat, category)
    # Measured: in TF's branches of category 2, 4 and 5 the compiled code picks the
    # maximum with a max instruction, which returns a denormal as zero; elsewhere the
    # values keep their bits.
    v_max = np.where(np.isin(category, (2, 4, 5)), flush_denormals(v_max), v_max)
    flat = a.operand(v_max) == flush_denormals(v_min)
    ratio = a.div(a.sub(v_mid, v_min), a.sub(v_max, v_min))
    increase = (category & 1) == 0
    part = np.where(increase, ratio, a.sub(np.ones_like(ratio), ratio))
    hue = a.add(category.astype(_F32), part)
    hue = np.where(flat, _F32(0), hue)
    return hue, v_min, v_max


def _hv_range_to_rgb(
    a: TFArithmetic, hue: np.ndarray, v_min: np.ndarray, v_max: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(hue)
        category = np.where(finite, np.trunc(np.where(finite, hue, 0)), -(2**31)).astype(np.int64)
    # int(NaN) is INT_MIN on x86: its float is -2^31 and it counts as "increase".
    ratio = a.sub(hue, category.astype(_F32))
    increase = (category & 1) == 0
    ratio = np.where(increase, ratio, a.sub(np.ones_like(ratio), ratio))
    v_mid = a.add(a.mul(ratio, a.sub(v_max, v_min)), v_min)  # product first
    table = {0: (v_max, v_mid, v_min), 1: (v_mid, v_max, v_min), 2: (v_min, v_max, v_mid),
             3: (v_min, v_mid, v_max), 4: (v_mid, v_min, v_max)}
    channels = []
    for k, default in enumerate((v_max, v_min, v_mid)):  # case 5 and default
        picked = default
        for index, parts in table.items():
            picked = np.where(category == index, parts[k], picked)
        channels.append(picked)
    return np.stack(channels, axis=-1)
