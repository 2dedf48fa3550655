"""RGBToHSV and HSVToRGB, as TensorFlow 2.21's Eigen expressions compute them.

Contract: ``rgb_to_hsv(images)`` and ``hsv_to_rgb(images)`` take any tensor of at least
one dim whose last dim is 3, of float16, bfloat16, float32 or float64, and return the
same shape and dtype; ``colorspace_shape`` checks that without data (TensorFlow's
messages and order: the dtype, at least 1-D, 3 channels).

Arithmetic (``colorspace_op.h``), every operation in the tensor's dtype (float16 and
bfloat16 compute in float32 and round after each operation, as Eigen's half types do),
with denormals read and written as zero:

* RGB -> HSV: ``V = max(max(R, G), B)`` and the minimum likewise, where ``max(a, b)`` is
  x86's ``a > b ? a : b`` (a NaN operand gives ``b``); ``range = V - min``;
  ``S = V > 0 ? range / V : 0``; ``norm = (1 / range) * (1/6)``;
  ``H = R == V ? norm*(G - B) : G == V ? norm*(B - R) + 2/6 : norm*(R - G) + 4/6``, then 0
  where ``range <= 0`` (or NaN), then ``H + 1`` where ``H < 0``.
* HSV -> RGB: ``dh = H*6``; ``dr = clamp(|dh - 3| - 1)``, ``dg = clamp(2 - |dh - 2|)``,
  ``db = clamp(2 - |dh - 4|)`` into [0, 1] (x86 max/min semantics); each channel is
  ``((1 - S) + S*d) * V``.

Measured details kept: float and double max/min return a denormal operand as zero,
half and bfloat16 return the operand's own bits; the compiler turns ``-x + c`` into
``c - x`` for float and double only; bfloat16 results that are NaN become 0x7fc0,
except within the fused hue expression (sign kept); for float and double the last
product of HSVToRGB reads ``V * (...)``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from blocks.kernels.float32_math import TFArithmetic, tame_inputs
from blocks.kernels.op_checks import BFLOAT16, check_dtype, dtypes, port_error, shape_text
from blocks.kernels.pieces import run_pieces, thread_count

#: Pixels per piece of a pixelwise kernel: its dozens of temporaries stay in the cache.
PIXEL_PIECE = 8192

COLORSPACE_DTYPES = dtypes("float16", "bfloat16", "float32", "float64")
_TF_LIST = "half, bfloat16, float, double"


def colorspace_shape(
    shape: tuple[int | None, ...] | None, dtype: np.dtype[Any] | None
) -> tuple[int | None, ...] | None:
    """Check an RGBToHSV/HSVToRGB input; the output has the same shape."""
    check_dtype("images", dtype, COLORSPACE_DTYPES, _TF_LIST)
    if shape is None:
        return None
    if len(shape) < 1:
        raise port_error("images", f"input must be at least 1D{shape_text(shape)}")
    channels = shape[-1]
    if channels is not None and channels != 3:
        raise port_error(
            "images", f"input must have 3 channels but input only has {channels} channels."
        )
    return tuple(shape)


def in_pixel_pieces(
    kernel: Callable[[np.ndarray], np.ndarray], values: np.ndarray, dtype: np.dtype[Any],
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """``kernel`` (``[n, 3]`` pixels -> ``[n, 3]`` results, each pixel on its own) applied
    to ``values`` (last dim 3) a piece of pixels at a time, shared by the threads; the
    result has ``values``' shape and ``dtype``. Each piece judges its own values (tame or
    not), which gives the same bits as judging them all."""
    flat = values.reshape(-1, 3)
    out = np.empty(flat.shape, dtype)
    count = -(-flat.shape[0] // PIXEL_PIECE)

    def work(index: int) -> None:
        rows = slice(index * PIXEL_PIECE, (index + 1) * PIXEL_PIECE)
        out[rows] = kernel(flat[rows])

    run_pieces(count, work, cancel, thread_count() if count > 1 else 1)
    return out.reshape(values.shape)


def _check(images: Any) -> np.ndarray:
    values = np.asarray(images)
    colorspace_shape(values.shape, values.dtype)
    return values


def _max_is_maxps(dtype: np.dtype[Any]) -> bool:
    """Whether numpy's maximum and minimum are x86's ``x > y ? x : y`` and ``x < y ? x :
    y`` where the operands are equal (signed zeros: the second is returned), in its
    vector loops and scalar tails alike; then, without NaN, they are TF's selects."""
    zero, minus_zero = np.zeros((), dtype), np.full((), -0.0, dtype)
    for size in (1, 3, 17, 1001):
        neg, pos = np.full(size, -0.0, dtype), np.zeros(size, dtype)
        for pick in (np.maximum, np.minimum):  # arrays, and a scalar on either side
            second_negative = [pick(pos, neg), pick(pos, minus_zero), pick(zero, neg)]
            second_positive = [pick(neg, pos), pick(neg, zero), pick(minus_zero, pos)]
            if not (all(np.signbit(v).all() for v in second_negative)
                    and not any(np.signbit(v).any() for v in second_positive)):
                return False
    return True


_MAXPS = {dtype: _max_is_maxps(dtype) for dtype in (np.dtype(np.float32), np.dtype(np.float64))}


class SelectArithmetic(TFArithmetic):
    """TFArithmetic whose maxima and minima use numpy's maximum and minimum (one pass,
    not a compare and a select) where they give TF's bits: float and double, values
    without NaN or denormal (not careful), and numpy returning the second of two equal
    operands as x86 does."""

    def __init__(self, dtype: np.dtype[Any], canonical_nan: bool = True,
                 careful: bool = True) -> None:
        super().__init__(dtype, canonical_nan, careful)
        self.fast = not careful and _MAXPS.get(np.dtype(dtype), False)

    def larger(self, a: Any, b: Any) -> np.ndarray:
        return np.maximum(a, b) if self.fast else super().larger(a, b)

    def smaller(self, a: Any, b: Any) -> np.ndarray:
        return np.minimum(a, b) if self.fast else super().smaller(a, b)

    def cwise_max(self, a: Any, b: Any) -> np.ndarray:
        return np.maximum(b, a) if self.fast else super().cwise_max(a, b)

    def cwise_min(self, a: Any, b: Any) -> np.ndarray:
        return np.minimum(b, a) if self.fast else super().cwise_min(a, b)

    def std_max(self, a: Any, b: Any) -> np.ndarray:
        return np.maximum(b, a) if self.fast else super().std_max(a, b)

    def std_min(self, a: Any, b: Any) -> np.ndarray:
        return np.minimum(b, a) if self.fast else super().std_min(a, b)


def _arithmetic(flat: np.ndarray) -> TFArithmetic:
    return SelectArithmetic(flat.dtype, careful=not tame_inputs(flat))


def _store(arithmetic: TFArithmetic, channels: list[np.ndarray]) -> Any:
    """The channels in the tensor's dtype; every value is representable, NaN bits kept."""
    out = np.stack(channels, axis=-1)
    if arithmetic.dtype == BFLOAT16:
        return (out.astype(np.float32).view(np.uint32) >> np.uint32(16)).astype(
            np.uint16
        ).view(BFLOAT16)
    if arithmetic.dtype == np.float16:
        half = out.astype(np.float16)
        nan = np.isnan(out)
        if nan.any():
            bits = out[nan].view(np.uint32)
            sign = (bits >> np.uint32(16)) & np.uint32(0x8000)
            payload = (bits & np.uint32(0x7FFFFF)) >> np.uint32(13)
            half[nan] = (sign | np.uint32(0x7C00) | payload).astype(np.uint16).view(np.float16)
        return half
    return out.astype(arithmetic.dtype)


def rgb_to_hsv(images: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's RGBToHSV."""
    values = _check(images)
    return in_pixel_pieces(_rgb_to_hsv, values, values.dtype, cancel)


def _rgb_to_hsv(flat: np.ndarray) -> np.ndarray:
    a = _arithmetic(flat)
    with np.errstate(all="ignore"):
        red, green, blue = (a.load(flat[:, k]) for k in range(3))
        value = a.larger(a.larger(red, green), blue)
        minimum = a.smaller(a.smaller(red, green), blue)
        spread = a.sub(value, minimum)
        zero = a.constant(0.0)
        saturation = np.where(a.operand(value) > 0, a.div(spread, value), zero)
        norm = a.mul(a.div(a.constant(1.0), spread), a.div(a.constant(1.0), a.constant(6.0)))
        third = a.div(a.constant(2.0), a.constant(6.0))
        two_thirds = a.div(a.constant(4.0), a.constant(6.0))
        a = SelectArithmetic(a.dtype, canonical_nan=False, careful=a.careful)  # NaN signs kept
        hue = np.where(
            a.operand(red) == a.operand(value),
            a.mul(norm, a.sub(green, blue)),
            np.where(
                a.operand(green) == a.operand(value),
                a.add(a.mul(norm, a.sub(blue, red)), third),
                a.add(a.mul(norm, a.sub(red, green)), two_thirds),
            ),
        )
        hue = np.where(a.operand(spread) > 0, hue, zero)
        hue = np.where(a.operand(hue) < 0, a.add(hue, a.constant(1.0)), hue)
    return _store(a, [hue, saturation, value])


def hsv_to_rgb(images: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's HSVToRGB."""
    values = _check(images)
    return in_pixel_pieces(_hsv_to_rgb, values, values.dtype, cancel)


def _hsv_to_rgb(flat: np.ndarray) -> np.ndarray:
    a = _arithmetic(flat)
    with np.errstate(all="ignore"):
        hue, saturation, value = (a.load(flat[:, k]) for k in range(3))
        zero, one, two = a.constant(0.0), a.constant(1.0), a.constant(2.0)
        scaled = a.mul(hue, a.constant(6.0))

        def clamp(x: np.ndarray) -> np.ndarray:
            return a.cwise_min(a.cwise_max(x, zero), one)

        dr = clamp(a.sub(np.abs(a.sub(scaled, a.constant(3.0))), one))
        dg = clamp(a.add_negated(np.abs(a.sub(scaled, two)), two))
        db = clamp(a.add_negated(np.abs(a.sub(scaled, a.constant(4.0))), two))
        one_s = a.add_negated(saturation, one)
        # For float and double the compiler multiplies by V first (a NaN in V wins).
        wide = a.dtype in (np.float32, np.float64)
        channels = []
        for d in (dr, dg, db):
            mixed = a.add(one_s, a.mul(saturation, d))
            channels.append(a.mul(value, mixed) if wide else a.mul(mixed, value))
    return _store(a, channels)
