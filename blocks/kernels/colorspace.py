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

from typing import Any

import numpy as np

from blocks.kernels.float32_math import flush_denormals, keeping_first_nan, quiet_nans
from blocks.kernels.op_checks import BFLOAT16, check_dtype, dtypes, port_error, shape_text

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


class _Arithmetic:
    """Elementwise operations in a TF dtype: denormals as zero, rounding after each op."""

    def __init__(
        self, dtype: np.dtype[Any], canonical_nan: bool = True, careful: bool = True
    ) -> None:
        self.dtype = dtype
        self.compute = np.dtype(np.float64 if dtype == np.float64 else np.float32)
        #: bfloat16 only: whether a NaN result becomes 0x7fc0 (Eigen's vector rounding).
        self.canonical_nan = canonical_nan
        #: False when the inputs are tame (see _tame): no denormal and no unmasked NaN can
        #: arise, so flushing and the NaN operand rule are skipped.
        self.careful = careful

    def load(self, values: np.ndarray) -> np.ndarray:
        """Values widened to the compute dtype, bits kept (a max may return them as is)."""
        return values.astype(self.compute)

    def constant(self, value: float) -> Any:
        return self.round(np.asarray(value, self.compute))

    def round(self, values: np.ndarray) -> np.ndarray:
        """A result as TF stores it: flushed, then rounded to the dtype (kept in compute)."""
        values = np.asarray(values, self.compute)
        if self.careful:
            values = flush_denormals(values)
        if self.dtype in (np.float32, np.float64):
            return values
        rounded = self.load(values.astype(self.dtype))
        if self.dtype == BFLOAT16 and self.canonical_nan:  # Eigen's vector rounding
            rounded[np.isnan(rounded)] = np.float32(np.nan)
        return rounded

    def operand(self, values: Any) -> np.ndarray:
        """A value as arithmetic reads it: float16 through F16C (NaNs quiet), denormals 0."""
        values = np.asarray(values, self.compute)
        if not self.careful:
            return values
        if self.dtype == np.float16:
            values = quiet_nans(values)
        return flush_denormals(values)

    def _apply(self, operation: np.ufunc, a: Any, b: Any) -> np.ndarray:
        if not self.careful:
            return self.round(operation(a, b))
        first, second = np.broadcast_arrays(self.operand(a), self.operand(b))
        return self.round(keeping_first_nan(operation, first, second))

    def add(self, a: Any, b: Any) -> np.ndarray:
        return self._apply(np.add, a, b)

    def sub(self, a: Any, b: Any) -> np.ndarray:
        return self._apply(np.subtract, a, b)

    def add_negated(self, a: Any, b: Any) -> np.ndarray:
        """TF's ``-a + b``: for float and double the compiler makes it ``b - a`` (the same
        but for a NaN's sign); half and bfloat16 negate first."""
        if self.dtype in (np.float32, np.float64):
            return self.sub(b, a)
        return self.add(-np.asarray(a, self.compute), b)

    def mul(self, a: Any, b: Any) -> np.ndarray:
        return self._apply(np.multiply, a, b)

    def div(self, a: Any, b: Any) -> np.ndarray:
        return self._apply(np.divide, a, b)

    def _picked(self, values: Any) -> np.ndarray:
        # x86 max/min read denormals as zero and return that zero; Eigen's half and
        # bfloat16 compare converted copies and return the operand itself.
        wide = self.dtype in (np.float32, np.float64)
        return self.operand(values) if wide else np.asarray(values, self.compute)

    def larger(self, a: Any, b: Any) -> np.ndarray:
        """The reduction's max: ``a > b ? a : b`` (a NaN operand gives ``b``)."""
        return np.where(self.operand(a) > self.operand(b), self._picked(a), self._picked(b))

    def smaller(self, a: Any, b: Any) -> np.ndarray:
        return np.where(self.operand(a) < self.operand(b), self._picked(a), self._picked(b))

    def cwise_max(self, a: Any, b: Any) -> np.ndarray:
        """Eigen's cwiseMax: ``b > a ? b : a`` (a NaN operand gives ``a``)."""
        return np.where(self.operand(b) > self.operand(a), b, a)

    def cwise_min(self, a: Any, b: Any) -> np.ndarray:
        return np.where(self.operand(b) < self.operand(a), b, a)


#: Inputs whose non-zero magnitudes lie in this range keep every intermediate result
#: normal and finite, except NaNs that a select later discards (1/0 * 0 where range is 0).
_TAME_RANGE = (2.0**-40, 2.0**40)


def _tame(values: np.ndarray) -> bool:
    if values.size == 0:
        return True
    with np.errstate(invalid="ignore"):
        magnitude = np.abs(values.astype(np.float64))
    nonzero = magnitude[magnitude != 0]
    return bool(
        np.isfinite(magnitude).all()
        and (nonzero.size == 0 or (nonzero.min() >= _TAME_RANGE[0]
                                   and nonzero.max() <= _TAME_RANGE[1]))
    )


def _check(images: Any) -> tuple[np.ndarray, _Arithmetic]:
    values = np.asarray(images)
    colorspace_shape(values.shape, values.dtype)
    return values, _Arithmetic(values.dtype, careful=not _tame(values))


def _store(arithmetic: _Arithmetic, channels: list[np.ndarray], shape: tuple[int, ...]) -> Any:
    """The channels in the tensor's dtype; every value is representable, NaN bits kept."""
    out = np.stack(channels, axis=-1).reshape(shape)
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


def rgb_to_hsv(images: Any) -> np.ndarray:
    """TensorFlow's RGBToHSV."""
    values, a = _check(images)
    flat = values.reshape(-1, 3)
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
        a = _Arithmetic(a.dtype, canonical_nan=False, careful=a.careful)  # hue keeps NaN signs
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
    return _store(a, [hue, saturation, value], values.shape)


def hsv_to_rgb(images: Any) -> np.ndarray:
    """TensorFlow's HSVToRGB."""
    values, a = _check(images)
    flat = values.reshape(-1, 3)
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
    return _store(a, channels, values.shape)
