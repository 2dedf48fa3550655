"""TensorFlow's float32 arithmetic on x86, reproduced bit for bit in numpy.

Contract: the helpers here give the same bits as TensorFlow 2.21's CPU kernels:

* TF runs kernels with x86's denormals-are-zero and flush-to-zero modes on: a denormal
  operand reads as zero and a denormal result is written as zero (of the same sign).
  :func:`arithmetic_mode` finds out cheaply whether that can matter for some values;
  :func:`flush_denormals` applies it.
* When both operands of a sum or difference are NaN, x86 returns the first operand's
  NaN (made quiet), so the result depends on the operand order of TF's machine code.
  numpy promises no operand order, so :func:`lerp` spells the rule out unless the
  values are finite and small enough that no NaN can arise.
* :func:`to_float32` converts as TF's CPU does: float64 through the FTZ conversion,
  float16 through F16C (which quiets signalling NaNs), integers rounding to nearest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_F32 = np.float32
#: The smallest normal float32.
_MIN_NORMAL = _F32(np.finfo(np.float32).tiny)
#: Below this magnitude no difference of two values overflows to infinity.
_TAME_LIMIT = _F32(2.0**126)
#: With every non-zero input at least this large, no difference, product by a lerp
#: weight (>= 2^-55) or sum in a lerp can be denormal, so flushing cannot change anything.
_FLUSH_FREE = _F32(2.0**-48)

#: Where TF's machine code adds a lerp's ``low`` first (an index into the result; the
#: rest adds the product first). Which operand comes first decides which of two NaNs
#: survives; it differs between TF's vector loops and their scalar tails.
LowFirst = tuple[Any, ...] | None


@dataclass(frozen=True)
class ArithmeticMode:
    """Whether denormals may appear (``flush``) and whether no NaN can (``tame``)."""

    flush: bool
    tame: bool


#: The mode of values converted from integers: no denormals, no NaN.
INTEGER_MODE = ArithmeticMode(flush=False, tame=True)


def arithmetic_mode(*arrays: np.ndarray, growth: float = 1.0) -> ArithmeticMode:
    """What float32 arithmetic over ``arrays`` needs: flushing, explicit NaN order, or neither.

    ``growth`` bounds how much larger than its largest input a result can get (a sum of
    n weighted values: n times the largest weight); below the limit nothing overflows.
    """
    flush, tame = False, True
    limit = _F32(_TAME_LIMIT / growth)
    for values in arrays:
        if values.size == 0:
            continue
        if values.dtype == _F32:
            # On the bit patterns: |x| orders like its bits, NaN above inf, 0 at the bottom;
            # two passes fewer than comparing floats.
            bits = np.bitwise_and(values.view(np.uint32), np.uint32(0x7FFFFFFF))
            tame = tame and bool(bits.max() < np.asarray(limit).view(np.uint32))
            small = np.asarray(_FLUSH_FREE).view(np.uint32)
            flush = flush or bool((np.subtract(bits, np.uint32(1)) < small - 1).any())
            continue
        magnitude = np.abs(values)
        tame = tame and bool(magnitude.max() < limit)  # NaN compares false
        flush = flush or bool(((magnitude < _FLUSH_FREE) & (magnitude > 0)).any())
    return ArithmeticMode(flush, tame)


#: x86's flush-to-zero (on in TF's threads) judges a float32 result after rounding it to
#: 24 bits with an unbounded exponent: a conversion from double or an exact product whose
#: magnitude is below 2^-126 - 2^-151 becomes a zero of its sign, even where IEEE rounding
#: (as a denormal) gives 2^-126; at or above it, the result rounds to 2^-126 and stays.
#: Measured against TF 2.21; the one threshold every kernel judges by.
FLUSH_BELOW = np.float64(2.0**-126 - 2.0**-151)


def to_float32(values: np.ndarray) -> np.ndarray:
    """``values`` as float32, converted as TF's CPU converts them."""
    if values.dtype == _F32:
        return values
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        converted = values.astype(_F32)
    if values.dtype == np.float64:
        tiny = np.abs(values) < FLUSH_BELOW  # x86's flush-to-zero (see FLUSH_BELOW)
        if tiny.any():
            converted = np.where(tiny, np.copysign(_F32(0), converted), converted)
    elif values.dtype == np.float16:
        converted = quiet_nans(converted)
    return converted


def quiet_nans(values: np.ndarray) -> np.ndarray:
    """NaNs with the quiet bit set, payload and sign kept (any float dtype)."""
    nan = np.isnan(values)
    if not nan.any():
        return values
    unsigned = np.dtype(f"u{values.dtype.itemsize}")
    quiet_bit = 1 << (np.finfo(values.dtype).nmant - 1)
    bits = values.view(unsigned).copy()
    bits[nan] |= unsigned.type(quiet_bit)
    return bits.view(values.dtype)


def flush_denormals(values: np.ndarray) -> np.ndarray:
    """Denormals replaced by a zero of their sign, as TF's flush-to-zero mode does."""
    denormal = np.abs(values) < np.finfo(values.dtype).tiny
    if not denormal.any():
        return values
    return np.where(denormal, np.copysign(values.dtype.type(0), values), values)


def lerp(
    low: np.ndarray,
    high: np.ndarray,
    weight: np.ndarray,
    mode: ArithmeticMode,
    low_first: LowFirst = None,
) -> np.ndarray:
    """``low + (high - low)*weight``, each step rounded to float32 (``high`` is reused).

    ``low_first`` indexes the elements whose final sum TF computes as ``low + product``;
    the others it computes as ``product + low``.
    """
    flush = mode.flush
    if mode.tame:
        np.subtract(high, low, out=high)
        if flush:
            high = flush_denormals(high)
        np.multiply(high, weight, out=high)
        if flush:
            high = flush_denormals(high)
        np.add(high, low, out=high)
        return flush_denormals(high) if flush else high
    product = keeping_first_nan(np.subtract, high, low)
    if flush:
        product = flush_denormals(product)
    np.multiply(product, weight, out=product)
    if flush:
        product = flush_denormals(product)
    total = keeping_first_nan(np.add, product, low)
    if low_first is not None:
        total[low_first] = keeping_first_nan(np.add, low[low_first], product[low_first])
    return flush_denormals(total) if flush else total


def add(first: np.ndarray, second: np.ndarray, mode: ArithmeticMode) -> np.ndarray:
    """``first + second`` in float32 as TF's ``first + second`` (NaN of ``first`` wins)."""
    total = np.add(first, second) if mode.tame else keeping_first_nan(np.add, first, second)
    return flush_denormals(total) if mode.flush else total


def multiply(values: np.ndarray, weights: np.ndarray, mode: ArithmeticMode) -> np.ndarray:
    """``values * weights`` in float32 (weights are never NaN, so the order cannot show)."""
    product = np.multiply(values, weights)
    return flush_denormals(product) if mode.flush else product


def keeping_first_nan(
    operation: np.ufunc, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """``operation(first, second)`` where two NaNs give ``first``'s, quieted (x86's rule;
    numpy itself promises no operand order)."""
    result = operation(first, second)
    both = np.isnan(first) & np.isnan(second)
    if both.any():
        result[both] = quiet_nans(np.broadcast_to(first, both.shape)[both])
    return result
