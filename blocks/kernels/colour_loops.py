"""The colour kernels' per-pixel loops, compiled with numba: RGBToHSV, HSVToRGB,
AdjustSaturation, AdjustHue and AdjustContrastv2.

Contract (the ops are documented and their arguments checked in
:mod:`blocks.kernels.colorspace` and :mod:`blocks.kernels.adjust`, which call these loops
a piece at a time; nothing else calls them):

* :func:`rgb_to_hsv_pixels` / :func:`hsv_to_rgb_pixels` ``(source, out, first, last)``
  convert pixels ``first .. last-1`` of the flat ``[n*3]`` ``source`` into ``out``, both
  of the tensor's dtype: float32, float64, or float16 / bfloat16 passed as their bits,
  viewed as uint16 / int16 (:data:`HALF_BITS`, :data:`BFLOAT16_BITS`). Each dtype is its
  own compiled loop, compiled on its first use.
* :func:`saturation_pixels` and :func:`hue_pixels` ``(source, out, first, last, factor)``
  do AdjustSaturation and AdjustHue (float32).
* :func:`contrast_means` sums images ``first .. last-1`` of ``[B, H*W*C]`` planes in
  TF's halving order and writes their ``[B, C]`` means; :func:`contrast_output` writes
  ``factor * (x - mean) + mean`` for the flat elements ``start .. stop-1``.

Arithmetic: TF runs its kernels with x86's denormals-are-zero and flush-to-zero modes,
and which of two NaN operands survives is x86's rule (the first one, quieted), in the
operand order of TF's machine code (measured; see the two calling modules). numba runs
with neither mode and LLVM promises no NaN operand order, so every operation here spells
both rules out: operands are flushed where they are read (:func:`_flushed`), every
result goes through :func:`_first_nan` and is flushed, and products and quotients judge
their exact value as x86 does: tininess is detected after rounding to the format's
precision with an unbounded exponent, so a product whose exact value lies in
[2^-126 - 2^-150, 2^-126 - 2^-151) is zero although it would round to 2^-126, and one
above that is 2^-126 (measured against TF 2.21; :data:`FLUSH_BELOW`). float32 products and
quotients are done in float64 and rounded once, which gives float32's own result (the
float64 product is exact; a float64 quotient rounded to float32 is correctly rounded)
and the exact test. half and bfloat16 compute in float32 and round after each operation
(:func:`_rounded`), as Eigen's half types do. No fast-math flag is set; the
``numpy`` error model makes ``x / 0`` infinite, as in TF.

Tame values (zero or of a magnitude in [2^-30, 2^30)): where a kernel provably makes no
NaN, infinity or denormal from them, plain arithmetic gives the same bits, and HSVToRGB's
float and double pieces and AdjustContrastv2's images take it when all their values are
tame (the proofs are at :func:`_hsv_to_rgb_plain` and :func:`contrast_output`).

First use: each entry compiles per dtype on first use (about 1-2 s each) and is cached
in ``__pycache__``; the helpers are inlined by LLVM (see :data:`_inline`), and within
a compiled loop the dtype's ``kind`` is a constant, so only its own code remains.

Why compiled: TF's saturation and hue kernels branch per pixel and loop to wrap the hue;
as numpy passes they needed dozens of temporaries and passes per piece. One compiled pass
per pixel, with no temporaries, is what beats TF. The loops hold no Python objects and
release the GIL, so pieces run at once on the kernel threads of
:mod:`blocks.kernels.pieces`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic, overload

from blocks.kernels.float32_math import FLUSH_BELOW
from blocks.kernels.numba_cache import compiled

_jit = compiled(nogil=True, error_model="numpy")
#: Helpers carry LLVM's ``alwaysinline``: LLVM inlines them into the loops after linking
#: and before it vectorises, and folds a constant ``kind`` passed at the call site. (The
#: earlier numba IR inlining, ``inline="always"``, gave the same code but its typing of
#: every inlined body took 92-118 s to compile RGBToHSV/HSVToRGB on first use; LLVM's
#: default inlining, without ``alwaysinline``, leaves the large pixel bodies as calls and
#: the loops scalar: RGBToHSV 82 instead of 4.8 ns per pixel, measured.)
_inline = compiled(nogil=True, error_model="numpy", forceinline=True)


def _overload(function: Callable[..., Any]) -> Callable[..., Any]:
    """``overload`` for the type-dispatching helpers, with the options of :data:`_inline`
    (compiled per operand type)."""
    return overload(function, jit_options={"forceinline": True, "error_model": "numpy",
                                           "nogil": True})


#: The tensor dtypes, as the loops name them.
FLOAT32, FLOAT64, FLOAT16, BFLOAT16 = 0, 1, 2, 3
#: The array dtypes that carry float16's and bfloat16's bits to the loops.
HALF_BITS, BFLOAT16_BITS = np.dtype(np.uint16), np.dtype(np.int16)

_F32 = np.float32
_F64 = np.float64
_TINY32 = _F32(np.finfo(np.float32).tiny)
_TINY64 = _F64(np.finfo(np.float64).tiny)
_SIGN32 = np.uint32(0x80000000)
_SIGN64 = np.uint64(0x8000000000000000)
_QUIET32 = np.uint32(0x00400000)
_QUIET64 = np.uint64(0x0008000000000000)
_SPLIT = _F64(2.0**27 + 1)  # Veltkamp's constant for float64
#: TF's contrast loop takes 32 floats per turn; in the second half of each turn (not in
#: the scalar tail) its last sum has the mean first.
_LOOP = 32
#: Turns of TF's loop per tiled row of contrast means: long inner loops vectorise well.
_TILE_TURNS = 2


def _bitcast(source: Any, target: Any) -> Any:
    """An intrinsic reinterpreting a ``source`` scalar's bits as ``target``."""

    @intrinsic
    def cast(typingctx: Any, value: Any) -> Any:
        if value != source:
            return None

        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], context.get_value_type(target))

        return target(source), codegen

    return cast


_bits32 = _bitcast(types.float32, types.uint32)
_float32 = _bitcast(types.uint32, types.float32)
_bits64 = _bitcast(types.float64, types.uint64)
_float64 = _bitcast(types.uint64, types.float64)
_ = ir  # llvmlite is what the intrinsics emit


# ----------------------------------------------------------------------------- x86 rules


def _per_float(stub: Callable[..., Any], for32: Callable[..., Any],
               for64: Callable[..., Any]) -> None:
    """Give the one-operand ``stub`` its implementations for float32 and float64 (each
    written ``(x: Any) -> Any``: numba asks the same signature as this typer's)."""

    def typer(x: Any) -> Any:
        return {types.float32: for32, types.float64: for64}.get(x)

    _overload(stub)(typer)


def _quiet(x: Any) -> Any:
    """A NaN with its quiet bit set (sign and payload kept)."""
    raise NotImplementedError  # pragma: no cover - compiled only


def _signed_zero(x: Any) -> Any:
    """A zero with the sign of ``x``."""
    raise NotImplementedError  # pragma: no cover - compiled only


def _tiny(x: Any) -> Any:
    """The smallest normal number of the type of ``x``."""
    raise NotImplementedError  # pragma: no cover - compiled only


def _quiet32(x: Any) -> Any:
    return _float32(np.uint32(_bits32(x) | _QUIET32))


def _quiet64(x: Any) -> Any:
    return _float64(np.uint64(_bits64(x) | _QUIET64))


def _signed_zero32(x: Any) -> Any:
    return _float32(np.uint32(_bits32(x) & _SIGN32))


def _signed_zero64(x: Any) -> Any:
    return _float64(np.uint64(_bits64(x) & _SIGN64))


def _tiny32(x: Any) -> Any:
    return _TINY32


def _tiny64(x: Any) -> Any:
    return _TINY64


_per_float(_quiet, _quiet32, _quiet64)
_per_float(_signed_zero, _signed_zero32, _signed_zero64)
_per_float(_tiny, _tiny32, _tiny64)


def _like(x: Any, value: float) -> Any:
    """``value`` in the type of ``x``."""
    raise NotImplementedError  # pragma: no cover - compiled only


@_overload(_like)
def _like_impl(x: Any, value: Any) -> Any:
    if x == types.float32:

        def like32(x: Any, value: Any) -> Any:
            return _F32(value)

        return like32
    if x == types.float64:

        def like64(x: Any, value: Any) -> Any:
            return _F64(value)

        return like64
    return None


@_inline
def _flushed(x: Any) -> Any:
    """A denormal as zero of its sign (what DAZ reads and FTZ writes); others as they are."""
    return _signed_zero(x) if abs(x) < _tiny(x) else x


@_inline
def _first_nan(result: Any, first: Any, second: Any) -> Any:
    """x86's NaN rule for ``first (op) second``: a NaN operand's NaN, quieted, the first
    one's if both are NaN; else ``result``."""
    if first != first:
        return _quiet(first)
    if second != second:
        return _quiet(second)
    return result


@_inline
def _add(first: Any, second: Any) -> Any:
    """``first + second`` (flushed operands; a sum below the smallest normal is exact,
    so flushing the rounded sum is x86's rule)."""
    return _flushed(_first_nan(first + second, first, second))


@_inline
def _sub(first: Any, second: Any) -> Any:
    return _flushed(_first_nan(first - second, first, second))


@_inline
def _product_flushes64(a: np.float64, b: np.float64) -> bool:
    """Whether ``|a * b|``, rounded to the smallest normal float64, is flushed: its exact
    value is below ``2^-1022 * (1 - 2^-54)`` (see the module). The product of the
    mantissas is its float64 rounding plus the exact error (Dekker's product with
    Veltkamp's split; no overflow in [1/4, 1))."""
    ma, ea = math.frexp(abs(a))
    mb, eb = math.frexp(abs(b))
    threshold = math.ldexp(1.0, -1022 - ea - eb)  # 2^-1022 in the mantissas' scale
    below = threshold - math.ldexp(threshold, -53)  # the float before it
    product = ma * mb
    if product != below:
        return bool(product < below)
    ca = _SPLIT * ma
    a_hi = ca - (ca - ma)
    a_lo = ma - a_hi
    cb = _SPLIT * mb
    b_hi = cb - (cb - mb)
    b_lo = mb - b_hi
    error = ((a_hi * b_hi - product) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo
    return bool(error < math.ldexp(threshold, -54))


def _mul(first: Any, second: Any) -> Any:
    """``first * second``, zero where the exact product is below the smallest normal."""
    raise NotImplementedError  # pragma: no cover - compiled only


def _div(first: Any, second: Any) -> Any:
    """``first / second``, zero where the exact quotient is below the smallest normal."""
    raise NotImplementedError  # pragma: no cover - compiled only


def _per_float_pair(stub: Callable[..., Any], for32: Callable[..., Any],
                    for64: Callable[..., Any]) -> None:
    """Give the two-operand ``stub`` its implementations for two float32 or two float64
    operands (each written ``(first: Any, second: Any) -> Any``, as this typer)."""

    def typer(first: Any, second: Any) -> Any:
        return {types.float32: for32, types.float64: for64}.get(first) \
            if first == second else None

    _overload(stub)(typer)


@_inline
def _narrowed(wide: np.float64, first: np.float32, second: np.float32) -> np.float32:
    """A float32 product or quotient from its float64 value ``wide`` (the exact product;
    a quotient never within 2^-49, relative, of the 25-bit threshold, so it judges the
    exact one): rounded once, zero below :data:`FLUSH_BELOW`, x86's NaN rule."""
    result = _F32(wide)
    if abs(wide) < FLUSH_BELOW:
        result = _signed_zero(result)
    return _first_nan(result, first, second)


@_inline
def _wide(result: np.float64, flushes: bool, first: np.float64,
          second: np.float64) -> np.float64:
    """A float64 product or quotient ``result``, zero if ``flushes``, x86's NaN rule."""
    if flushes:
        result = _signed_zero(result)
    return _first_nan(result, first, second)


def _product32(first: Any, second: Any) -> Any:
    return _narrowed(_F64(first) * _F64(second), first, second)


def _product64(first: Any, second: Any) -> Any:
    result = first * second
    size = abs(result)
    return _wide(result, size < _TINY64 or (size == _TINY64
                                            and _product_flushes64(first, second)),
                 first, second)


def _quotient32(first: Any, second: Any) -> Any:
    return _narrowed(_F64(first) / _F64(second), first, second)


def _quotient64(first: Any, second: Any) -> Any:
    result = first / second
    size = abs(result)
    # At the edge, |a| / |b| < 2^-1022 * (1 - 2^-54) iff |a| * 2^1022 < |b| (no float
    # lies between |b| * (1 - 2^-54) and |b|; the scaling is exact, as the operands are
    # normal and their quotient is near 2^-1022).
    return _wide(result, size < _TINY64 or (size == _TINY64
                                            and math.ldexp(abs(first), 1022) < abs(second)),
                 first, second)


_per_float_pair(_mul, _product32, _product64)
_per_float_pair(_div, _quotient32, _quotient64)


#: Tame values: zero or of a magnitude in [2^-30, 2^30) (no NaN, infinity or denormal).
#: Where a kernel's arithmetic on tame values provably makes no NaN, infinity or denormal,
#: plain arithmetic gives TF's bits: neither flushing nor the NaN operand order can show.
_TAME_LOW = _F32(2.0**-30)
_TAME_HIGH = _F32(2.0**30)


@_inline
def _is_tame(x: Any) -> bool:
    size = abs(x)
    return (size < _TAME_HIGH) & ((size >= _TAME_LOW) | (size == 0))


@_inline
def _all_tame(values: np.ndarray, start: Any, stop: Any) -> bool:
    """Whether ``values[start:stop]`` are all tame (one vectorised pass)."""
    tame = True
    for k in range(start, stop):
        tame &= _is_tame(values[k])
    return tame


# ----------------------------------------------------------------------------- half types


@_inline
def _half_value(bits: np.uint16) -> np.float32:
    """A half's value in float32, bits kept (NaN payloads shifted, not quieted)."""
    h = np.uint32(bits)
    sign = np.uint32((h & np.uint32(0x8000)) << np.uint32(16))
    exponent = (h >> np.uint32(10)) & np.uint32(0x1F)
    mantissa = h & np.uint32(0x3FF)
    if exponent == 0x1F:
        return _float32(np.uint32(sign | np.uint32(0x7F800000) | (mantissa << np.uint32(13))))
    if exponent == 0:
        value = _F32(_F32(mantissa) * _F32(2.0**-24))  # exact
        return _float32(np.uint32(_bits32(value) | sign))
    return _float32(np.uint32(
        sign | ((exponent + np.uint32(112)) << np.uint32(23)) | (mantissa << np.uint32(13))))


@_inline
def _half_bits(x: np.float32) -> np.uint16:
    """The half holding ``x`` (a value a half represents, or NaN: sign, 0x7c00 and the top
    of the payload)."""
    bits = _bits32(x)
    sign = np.uint32((bits >> np.uint32(16)) & np.uint32(0x8000))
    size = abs(x)
    if size != size:
        return np.uint16(sign | np.uint32(0x7C00) | ((bits & np.uint32(0x7FFFFF)) >> np.uint32(13)))
    if size == np.inf:
        return np.uint16(sign | np.uint32(0x7C00))
    if size < _F32(2.0**-14):
        return np.uint16(sign | np.uint32(_F32(size * _F32(2.0**24))))  # exact
    magnitude = _bits32(size)
    exponent = (magnitude >> np.uint32(23)) - np.uint32(112)
    return np.uint16(sign | (exponent << np.uint32(10))
                     | ((magnitude >> np.uint32(13)) & np.uint32(0x3FF)))


@_inline
def _round_half(x: np.float32) -> np.float32:
    """``x`` rounded to half and back, as numpy's conversions do it (to nearest even;
    NaN keeps sign and the top of its payload, at least one payload bit)."""
    bits = _bits32(x)
    sign = np.uint32(bits & _SIGN32)
    size = abs(x)
    if size != size:
        payload = (bits & np.uint32(0x7FFFFF)) >> np.uint32(13)
        if payload == 0:
            payload = np.uint32(1)
        return _float32(np.uint32(sign | np.uint32(0x7F800000) | (payload << np.uint32(13))))
    if size >= _F32(65520.0):
        return _float32(np.uint32(sign | np.uint32(0x7F800000)))
    if size >= _F32(2.0**-14):
        magnitude = _bits32(size)
        magnitude = np.uint32(
            (magnitude + np.uint32(0xFFF) + ((magnitude >> np.uint32(13)) & np.uint32(1)))
            & np.uint32(0xFFFFE000))
        return _float32(np.uint32(sign | magnitude))
    steps = _F32(size * _F32(2.0**24))  # exact; below 2^10
    steps = _F32(_F32(steps + _F32(2.0**23)) - _F32(2.0**23))  # to the nearest even integer
    return _float32(np.uint32(sign | _bits32(_F32(steps * _F32(2.0**-24)))))


@_inline
def _round_bfloat(x: np.float32, canonical_nan: bool) -> np.float32:
    """``x`` rounded to bfloat16 and back (to nearest even). A NaN becomes 0x7fc0 if
    ``canonical_nan`` (Eigen's vector rounding), else keeps its sign (ml_dtypes, Eigen's
    scalar rounding)."""
    bits = _bits32(x)
    if x != x:
        if canonical_nan:
            return _float32(np.uint32(0x7FC00000))
        return _float32(np.uint32((bits & _SIGN32) | np.uint32(0x7FC00000)))
    bits = np.uint32(
        (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1)))
        & np.uint32(0xFFFF0000))
    return _float32(bits)


def _rounded(x: Any, kind: int, canonical_nan: bool) -> Any:
    """A result as the tensor's dtype stores it (half types: rounded, kept in float32)."""
    raise NotImplementedError  # pragma: no cover - compiled only


@_overload(_rounded)
def _rounded_impl(x: Any, kind: Any, canonical_nan: Any) -> Any:
    if x == types.float32:

        def rounded32(x: Any, kind: Any, canonical_nan: Any) -> Any:
            if kind == FLOAT16:
                return _round_half(x)
            if kind == BFLOAT16:
                return _round_bfloat(x, canonical_nan)
            return x

        return rounded32

    def double(x: Any, kind: Any, canonical_nan: Any) -> Any:
        return x

    return double


def _load(source: Any, index: Any) -> Any:
    """Element ``index`` of ``source`` in the compute dtype, bits kept (half and bfloat16
    from their bits, see :data:`HALF_BITS`)."""
    raise NotImplementedError  # pragma: no cover - compiled only


@_overload(_load)
def _load_impl(source: Any, index: Any) -> Any:
    if source.dtype == types.uint16:

        def load_half(source: Any, index: Any) -> Any:
            return _half_value(source[index])

        return load_half
    if source.dtype == types.int16:

        def load_bfloat(source: Any, index: Any) -> Any:
            return _float32(np.uint32(np.uint32(np.uint16(source[index])) << np.uint32(16)))

        return load_bfloat

    def load(source: Any, index: Any) -> Any:
        return source[index]

    return load


def _store(out: Any, index: Any, value: Any) -> None:
    """Write a computed value (one the dtype represents, or NaN) as the tensor's dtype."""
    raise NotImplementedError  # pragma: no cover - compiled only


@_overload(_store)
def _store_impl(out: Any, index: Any, value: Any) -> Any:
    if out.dtype == types.uint16:

        def store_half(out: Any, index: Any, value: Any) -> None:
            out[index] = _half_bits(value)

        return store_half
    if out.dtype == types.int16:

        def store_bfloat(out: Any, index: Any, value: Any) -> None:
            out[index] = np.int16(np.uint16(_bits32(value) >> np.uint32(16)))

        return store_bfloat

    def store(out: Any, index: Any, value: Any) -> None:
        out[index] = value

    return store


@_inline
def _operand(x: Any, kind: int) -> Any:
    """A stored value as arithmetic reads it: half through F16C (NaN quieted), and
    denormals as zero."""
    if kind == FLOAT16 and x != x:
        x = _quiet(x)
    return _flushed(x)


# ----------------------------------------------------------------------------- RGB <-> HSV


@_inline
def _rgb_to_hsv(red: Any, green: Any, blue: Any, kind: int) -> tuple[Any, Any, Any]:
    """One pixel of TF's RGBToHSV (``colorspace_op.h``; the rule is spelled out in
    :mod:`blocks.kernels.colorspace`)."""
    wide = kind in (FLOAT32, FLOAT64)
    r = _operand(red, kind)
    g = _operand(green, kind)
    b = _operand(blue, kind)
    # max/min as x86 selects: float and double return the flushed operand, the half types
    # the operand itself (Eigen compares converted copies).
    picked_r = r if wide else red
    picked_g = g if wide else green
    picked_b = b if wide else blue
    top, top_picked = (r, picked_r) if r > g else (g, picked_g)
    value, value_picked = (top, top_picked) if top > b else (b, picked_b)
    bottom = r if r < g else g
    minimum = bottom if bottom < b else b
    value = _operand(value_picked, kind)
    spread = _rounded(_sub(value, minimum), kind, True)
    zero = _like(r, 0.0)
    one = _like(r, 1.0)
    six = _like(r, 6.0)
    saturation = _rounded(_div(spread, value), kind, True) if value > 0 else zero
    sixth = _rounded(_div(one, six), kind, True)
    norm = _rounded(_mul(_rounded(_div(one, spread), kind, True), sixth), kind, True)
    third = _rounded(_div(_like(r, 2.0), six), kind, True)
    two_thirds = _rounded(_div(_like(r, 4.0), six), kind, True)
    # In the fused hue expression bfloat16 NaNs keep their sign.
    if r == value:
        hue = _rounded(_mul(norm, _rounded(_sub(g, b), kind, False)), kind, False)
    elif g == value:
        hue = _rounded(_add(_rounded(_mul(norm, _rounded(_sub(b, r), kind, False)), kind,
                                     False), third), kind, False)
    else:
        hue = _rounded(_add(_rounded(_mul(norm, _rounded(_sub(r, g), kind, False)), kind,
                                     False), two_thirds), kind, False)
    if not spread > 0:
        hue = zero
    if hue < 0:
        hue = _rounded(_add(hue, one), kind, False)
    return hue, saturation, value_picked


def _kind(values: Any) -> int:
    """The dtype kind of a tensor by the type of its array: float32, float64, float16 (as
    uint16 bits) or bfloat16 (as int16 bits). A constant of each compiled loop, so that
    LLVM folds the tests of ``kind`` in the inlined helpers and vectorises the loop."""
    raise NotImplementedError  # pragma: no cover - compiled only


@_overload(_kind)
def _kind_impl(values: Any) -> Any:
    kind = {types.float32: FLOAT32, types.float64: FLOAT64, types.uint16: FLOAT16,
            types.int16: BFLOAT16}.get(values.dtype)
    if kind is None:
        return None

    def constant(values: Any) -> int:
        return kind

    return constant


@_inline
def _load_pixel(source: Any, at: Any) -> tuple[Any, Any, Any]:
    """The three channels of the pixel at flat index ``at``."""
    return _load(source, at), _load(source, at + np.uint64(1)), _load(source, at + np.uint64(2))


@_inline
def _store_pixel(out: Any, at: Any, pixel: tuple[Any, Any, Any]) -> None:
    _store(out, at, pixel[0])
    _store(out, at + np.uint64(1), pixel[1])
    _store(out, at + np.uint64(2), pixel[2])


@_jit
def rgb_to_hsv_pixels(source: Any, out: Any, first: int, last: int) -> None:
    """RGBToHSV of pixels ``first .. last-1`` (see the module); compiled per dtype."""
    kind = _kind(source)
    for pixel in range(np.uint64(first), np.uint64(last)):
        at = np.uint64(3) * pixel
        red, green, blue = _load_pixel(source, at)
        _store_pixel(out, at, _rgb_to_hsv(red, green, blue, kind))


@_jit
def hsv_to_rgb_pixels(source: Any, out: Any, first: int, last: int) -> None:
    """HSVToRGB of pixels ``first .. last-1`` (see the module); compiled per dtype. float
    and double pieces whose values are all tame take :func:`_hsv_to_rgb_plain`."""
    kind = _kind(source)
    begin, end = np.uint64(first), np.uint64(last)
    if kind in (FLOAT32, FLOAT64) and _all_tame(source, np.uint64(3) * begin,
                                                np.uint64(3) * end):
        for pixel in range(begin, end):
            at = np.uint64(3) * pixel
            hue, saturation, value = _load_pixel(source, at)
            _store_pixel(out, at, _hsv_to_rgb_plain(hue, saturation, value))
        return
    for pixel in range(begin, end):
        at = np.uint64(3) * pixel
        hue, saturation, value = _load_pixel(source, at)
        _store_pixel(out, at, _hsv_to_rgb(hue, saturation, value, kind))


@_inline
def _clamped(x: Any, zero: Any, one: Any) -> Any:
    """Eigen's ``cwiseMin(cwiseMax(x, 0), 1)``: ``b > a ? b : a`` then ``b < a ? b : a``
    (a NaN stays)."""
    x = zero if zero > x else x
    return one if one < x else x


@_inline
def _negated_plus(a: Any, b: Any, kind: int) -> Any:
    """TF's ``-a + b``: the compiler makes it ``b - a`` for float and double (the same but
    for a NaN's sign); the half types negate first."""
    if kind in (FLOAT32, FLOAT64):
        return _rounded(_sub(b, a), kind, True)
    return _rounded(_add(-a, b), kind, True)


@_inline
def _hsv_to_rgb(hue: Any, saturation: Any, value: Any, kind: int) -> tuple[Any, Any, Any]:
    """One pixel of TF's HSVToRGB (see :mod:`blocks.kernels.colorspace`)."""
    h = _operand(hue, kind)
    s = _operand(saturation, kind)
    v = _operand(value, kind)
    zero = _like(h, 0.0)
    one = _like(h, 1.0)
    two = _like(h, 2.0)
    scaled = _rounded(_mul(h, _like(h, 6.0)), kind, True)
    dr = _clamped(_rounded(_sub(abs(_rounded(_sub(scaled, _like(h, 3.0)), kind, True)), one),
                           kind, True), zero, one)
    dg = _clamped(_negated_plus(abs(_rounded(_sub(scaled, two), kind, True)), two, kind),
                  zero, one)
    db = _clamped(_negated_plus(abs(_rounded(_sub(scaled, _like(h, 4.0)), kind, True)), two,
                                kind), zero, one)
    one_s = _negated_plus(s, one, kind)
    # Measured: for float the compiler multiplies by V first (of two NaNs, V's wins);
    # double and the half types multiply the mix first.
    mixed_r = _rounded(_add(one_s, _rounded(_mul(s, dr), kind, True)), kind, True)
    mixed_g = _rounded(_add(one_s, _rounded(_mul(s, dg), kind, True)), kind, True)
    mixed_b = _rounded(_add(one_s, _rounded(_mul(s, db), kind, True)), kind, True)
    if kind == FLOAT32:
        return _mul(v, mixed_r), _mul(v, mixed_g), _mul(v, mixed_b)
    return (_rounded(_mul(mixed_r, v), kind, True), _rounded(_mul(mixed_g, v), kind, True),
            _rounded(_mul(mixed_b, v), kind, True))


@_inline
def _hsv_to_rgb_plain(hue: Any, saturation: Any, value: Any) -> tuple[Any, Any, Any]:
    """:func:`_hsv_to_rgb` for float and double in plain arithmetic, for tame values.

    It gives the same bits: every intermediate of tame values is a multiple of 2^-106 (of
    2^-53 up to the mix) and below 2^62, ``d`` is 0 or in [2^-53, 1], and the mix
    ``(1 - S) + S*d``, where not 0, is at least 2^-76 (S > 1: the terms are multiples of
    2^-76; S in (0, 1): at least ``1 - S``; S <= 0: at least about 1), so its product
    with V is at least 2^-106: nothing is denormal, infinite or NaN."""
    zero = _like(hue, 0.0)
    one = _like(hue, 1.0)
    two = _like(hue, 2.0)
    scaled = hue * _like(hue, 6.0)
    dr = _clamped(abs(scaled - _like(hue, 3.0)) - one, zero, one)
    dg = _clamped(two - abs(scaled - two), zero, one)
    db = _clamped(two - abs(scaled - _like(hue, 4.0)), zero, one)
    one_s = one - saturation
    return (value * (one_s + saturation * dr), value * (one_s + saturation * dg),
            value * (one_s + saturation * db))


# ----------------------------------------------------------------------------- saturation


@_inline
def _std_max(a: np.float32, b: np.float32, a_read: np.float32,
             b_read: np.float32) -> tuple[np.float32, np.float32]:
    """C++'s ``std::max(a, b)``: ``a < b ? b : a`` on the values read (flushed), giving the
    stored value and the value read."""
    return (b, b_read) if a_read < b_read else (a, a_read)


@_inline
def _std_min(a: np.float32, b: np.float32, a_read: np.float32,
             b_read: np.float32) -> tuple[np.float32, np.float32]:
    """C++'s ``std::min(a, b)``: ``b < a ? b : a``."""
    return (b, b_read) if b_read < a_read else (a, a_read)


@_inline
def _sum_with_double(x: np.float32, constant: float) -> np.float32:
    """``float + double constant`` rounded to float (TF's ``... + 2.0 / 6.0``)."""
    return _flushed(_F32(_F64(x) + constant))


@_inline
def _by_category(category: Any, c0: Any, c1: Any, c2: Any, c3: Any, c4: Any,
                 c5: Any, other: Any) -> Any:
    """The value of ``category`` (0-5), ``other`` for any other: selects, no branches."""
    value = other
    value = c5 if category == 5 else value
    value = c4 if category == 4 else value
    value = c3 if category == 3 else value
    value = c2 if category == 2 else value
    return c1 if category == 1 else (c0 if category == 0 else value)


def _categories(*members: int) -> int:
    """A set of categories as bits (bit 6: any category not in 0-5)."""
    return sum(1 << member for member in set(members))


#: Per output channel, the categories (TF's hue sectors) that take the largest and the
#: middle of the three values; the others take the smallest.
_RED_TOP, _RED_MIDDLE = _categories(0, 5), _categories(1, 4)
_GREEN_TOP, _GREEN_MIDDLE = _categories(1, 2), _categories(0, 3)
_BLUE_TOP, _BLUE_MIDDLE = _categories(3, 4), _categories(2, 5)
_OTHER = _categories(6)


@_inline
def _where_bits(member: np.uint32, value: np.float32) -> np.uint32:
    """The bits of ``value`` where ``member`` is 1, else 0: a mask, not a branch."""
    return np.uint32(_bits32(value) & np.uint32(np.uint32(0) - member))


@_inline
def _by_sets(category: Any, top_set: int, top: np.float32, middle_set: int,
             middle: np.float32, bottom: np.float32) -> np.float32:
    """``top`` where ``category`` is in ``top_set``, ``middle`` where in ``middle_set``,
    else ``bottom`` (sets of :func:`_categories`), bits kept.

    Masks from shifted constants, not selects: a chain of selects on one integer becomes a
    switch in LLVM, which sinks the stores that follow into its cases and vectorises
    them as masked scatters, twice slower; compares of one integer with several
    constants become overflow tests, which keep the loop scalar."""
    index = min(np.uint32(category), np.uint32(6))  # a negative category is "other"
    in_top = np.uint32((np.uint32(top_set) >> index) & np.uint32(1))
    in_middle = np.uint32((np.uint32(middle_set) >> index) & np.uint32(1))
    return _float32(np.uint32(
        _where_bits(in_top, top) | _where_bits(in_middle, middle)
        | _where_bits(np.uint32(np.uint32(1) - in_top - in_middle), bottom)))


@_inline
def _hsv_to_rgb_scalar(hue: np.float32, saturation: np.float32,
                       value: np.float32) -> tuple[np.float32, np.float32, np.float32]:
    """``internal::hsv_to_rgb`` of ``adjust_saturation_op.cc`` (operands flushed).

    TF wraps ``h * 6`` into (0, 2) with two loops. Here the hue is in [0, 1] or NaN
    whatever the image (``norm * (g - b)`` is at most 1/6 in size, as ``|g - b|`` is at
    most the range, both rounded alike; a negative hue gets 1 added), so ``h * 6`` is in
    [0, 6]: the loops take at most one step up and three down, done as selects so that
    the loop over the pixels vectorises."""
    chroma = _mul(saturation, value)
    low = _sub(value, chroma)
    scaled = _mul(hue, _F32(6))
    # Truncation toward zero (np.int32: see _hue_pixel).
    category = np.int32(scaled) if scaled > -1 and scaled < 6 else np.int32(6)
    wrapped = _add(scaled, _F32(2)) if scaled <= 0 else scaled
    wrapped = _sub(wrapped, _F32(2)) if wrapped >= 2 else wrapped
    wrapped = _sub(wrapped, _F32(2)) if wrapped >= 2 else wrapped
    wrapped = _sub(wrapped, _F32(2)) if wrapped >= 2 else wrapped
    x = _mul(chroma, _sub(_F32(1), abs(_sub(wrapped, _F32(1)))))
    zero = _F32(0)
    red = _by_sets(category, _RED_TOP, chroma, _RED_MIDDLE, x, zero)
    green = _by_sets(category, _GREEN_TOP, chroma, _GREEN_MIDDLE, x, zero)
    blue = _by_sets(category, _BLUE_TOP, chroma, _BLUE_MIDDLE, x, zero)
    return _add(red, low), _add(green, low), _add(blue, low)


@_jit
def saturation_pixels(source: np.ndarray, out: np.ndarray, first: int, last: int,
                      scale: np.float32) -> None:
    """AdjustSaturation of pixels ``first .. last-1``: ``adjust_saturation_op.cc``'s
    scalar code per pixel (see :mod:`blocks.kernels.adjust`), its branches as selects."""
    factor = _flushed(scale)
    for pixel in range(np.uint64(first), np.uint64(last)):
        at = np.uint64(3) * pixel
        red, green, blue = _load_pixel(source, at)
        r, g, b = _flushed(red), _flushed(green), _flushed(blue)
        inner, inner_read = _std_max(green, blue, g, b)
        value, v = _std_max(red, inner, r, inner_read)
        inner, inner_read = _std_min(green, blue, g, b)
        _, minimum = _std_min(red, inner, r, inner_read)
        spread = _sub(v, minimum)
        saturation = _div(spread, v) if v > 0 else _F32(0)
        norm = _div(_F32(1), _mul(_F32(6), spread))
        # TF's if/else if/else, all three computed. Measured: these two compare the
        # stored values, not the flushed ones.
        hue_red = _mul(norm, _sub(g, b))
        hue_green = _sum_with_double(_mul(norm, _sub(b, r)), 2.0 / 6.0)
        hue_blue = _sum_with_double(_mul(norm, _sub(r, g)), 4.0 / 6.0)
        hue = hue_red if red == value else (hue_green if green == value else hue_blue)
        hue = _F32(0) if spread <= 0 else hue
        hue = _add(hue, _F32(1)) if hue < 0 else hue
        scaled = _mul(saturation, factor)
        # std::min(1.0f, std::max(0.0f, s * scale)): NaN gives 0.
        saturation = scaled if _F32(0) < scaled else _F32(0)
        saturation = saturation if saturation < _F32(1) else _F32(1)
        red, green, blue = _hsv_to_rgb_scalar(hue, saturation, v)
        out[at] = red
        out[at + np.uint64(1)] = green
        out[at + np.uint64(2)] = blue


# ----------------------------------------------------------------------------- hue


@_jit
def hue_pixels(source: np.ndarray, out: np.ndarray, first: int, last: int,
               delta: np.float32) -> None:
    """AdjustHue of pixels ``first .. last-1``: ``adjust_hue_op.cc``'s scalar code per
    pixel (see :mod:`blocks.kernels.adjust`), its branches as selects.

    TF wraps the shifted hue into [0, 6) with two loops. The hue before the shift is in
    [0, 6] or NaN; with ``|delta| < 1`` the shift is in [-6, 6], the sum in [-6, 12], and
    the loops take at most one step up and two down: done as selects, the loop over the
    pixels vectorises. Larger deltas take TF's loops as they are."""
    shift = _mul(_flushed(delta), _F32(6))
    if abs(delta) < 1:
        for pixel in range(np.uint64(first), np.uint64(last)):
            _hue_pixel(source, out, np.uint64(3) * pixel, shift, True)
    else:
        for pixel in range(np.uint64(first), np.uint64(last)):
            _hue_pixel(source, out, np.uint64(3) * pixel, shift, False)


@_inline
def _hue_pixel(source: np.ndarray, out: np.ndarray, at: Any, shift: np.float32,
               bounded: bool) -> None:
    """One pixel of AdjustHue at ``at`` (``bounded``: the shift is in [-6, 6])."""
    turns = _F32(6)
    red, green, blue = _load_pixel(source, at)
    r, g, b = _flushed(red), _flushed(green), _flushed(blue)
    # rgb_to_hv_range: TF's nested ifs pick (max, mid, min) and a category; the values
    # keep their bits, except that in categories 2 to 5 the compiled code takes the
    # maximum with a max instruction, which returns a denormal as zero (measured).
    category = (1 if b < r else (3 if b > g else 2)) if r < g else (
        0 if b < g else (4 if b > r else 5))
    v_max = _by_category(category, red, green, g, b, b, r, r)
    v_mid = _by_category(category, g, r, b, g, r, b, b)  # read flushed
    v_min = _by_category(category, blue, blue, red, red, green, green, green)
    high = _flushed(v_max)
    low = _flushed(v_min)
    ratio = _div(_sub(v_mid, low), _sub(high, low))
    ratio = _sub(_F32(1), ratio) if category & 1 else ratio
    hue = _F32(0) if high == low else _add(_F32(category), ratio)
    hue = _add(hue, shift)
    if bounded:
        hue = _add(hue, turns) if hue < 0 else hue
        hue = _sub(hue, turns) if hue >= turns else hue
        hue = _sub(hue, turns) if hue >= turns else hue
    else:
        while hue < 0:  # TF's two loops, one turn per step
            hue = _add(hue, turns)
        while hue >= turns:
            hue = _sub(hue, turns)
    # hv_range_to_rgb: int(NaN) is INT_MIN on x86 (even, and case "default").
    # (np.int32, not int: numba's int() of a float keeps the loop from vectorising.)
    sector = np.int32(hue) if hue == hue else np.int32(-(2**31))
    ratio = _sub(hue, _F32(sector))
    ratio = _sub(_F32(1), ratio) if sector & 1 else ratio
    v_mid = _add(_mul(ratio, _sub(high, low)), low)  # the product first
    # Sector "default" (NaN's INT_MIN) takes the red top and the blue middle.
    out[at] = _by_sets(sector, _RED_TOP | _OTHER, v_max, _RED_MIDDLE, v_mid, v_min)
    out[at + np.uint64(1)] = _by_sets(sector, _GREEN_TOP, v_max, _GREEN_MIDDLE, v_mid, v_min)
    out[at + np.uint64(2)] = _by_sets(sector, _BLUE_TOP, v_max, _BLUE_MIDDLE | _OTHER, v_mid,
                                      v_min)


# ----------------------------------------------------------------------------- contrast


@_jit
def contrast_means(planes: np.ndarray, first: int, last: int, pixels: int, channels: int,
                   inverse: np.float32, scratches: np.ndarray, means: np.ndarray,
                   tame: np.ndarray) -> None:
    """Channel means of images ``first .. last-1`` of ``planes`` (``[B, pixels*channels]``)
    into ``means`` (``[B, channels]``): TF's halving sum in the image's row of
    ``scratches`` (``[B, pixels*channels]``: the output planes, as TF uses its output, written
    over afterwards), times ``inverse`` (``1.0f / pixels``).

    Round 0 adds the right half to the left one (the right half's NaN first) and copies
    an odd middle pixel; every later round adds the far part into the accumulator (the
    accumulator's NaN first); inputs are read flushed. ``tame[image]`` says whether
    every value of the image is tame (:func:`_is_tame`), for :func:`contrast_output`."""
    c = np.uint64(channels)
    for image in range(first, last):
        values = planes[image]
        scratch = scratches[image]
        right = np.uint64(pixels // 2)
        left = np.uint64(pixels) - right
        shift = left * c
        all_tame = True
        for k in range(right * c):  # plain sums, redone below unless all are tame
            high = values[shift + k]
            low = values[k]
            scratch[k] = high + low
            all_tame &= _is_tame(high) & _is_tame(low)
        for k in range(right * c, left * c):  # an odd middle pixel
            scratch[k] = _flushed(values[k])
            all_tame &= _is_tame(values[k])
        if not all_tame:
            for k in range(right * c):
                scratch[k] = _add(_flushed(values[shift + k]), _flushed(values[k]))
        tame[image] = all_tame
        remaining = left
        while remaining > 1:
            right = remaining // np.uint64(2)
            left = remaining - right
            shift = left * c
            if all_tame:  # sums of tame values: no NaN, infinity or denormal arises
                for k in range(right * c):
                    scratch[k] = scratch[k] + scratch[shift + k]
            else:
                for k in range(right * c):
                    scratch[k] = _add(scratch[k], scratch[shift + k])
            remaining = left
        for k in range(c):
            means[image, k] = _mul(inverse, scratch[k])


@_inline
def _contrast_element(x: np.float32, mean: np.float32, scale: np.float32,
                      mean_first: Any) -> np.float32:
    """``scale * (x - mean) + mean`` as TF's machine code does it (see
    :func:`contrast_output`)."""
    product = _mul(scale, _sub(_flushed(x), mean))
    if mean_first:
        return _flushed(_first_nan(mean + product, mean, product))
    return _flushed(_first_nan(product + mean, product, mean))


@_jit
def contrast_output(values: np.ndarray, means: np.ndarray, tame: np.ndarray,
                    factor: np.float32, out: np.ndarray, start: int, stop: int, plane: int,
                    channels: int, total: int) -> None:
    """``factor * (x - mean) + mean`` for the flat elements ``start .. stop-1`` of
    ``values`` into ``out`` (``plane``: floats per image, ``total``: the whole tensor's).

    The difference has ``x`` first, the product ``factor`` first; the last sum has the
    product first, except in the second half of each 32-float turn of TF's vector loop
    (below its scalar tail), where the mean comes first. That order shows only where the
    mean is NaN (then the product is NaN too), so images without a NaN mean take a loop
    without it. Each image's means are tiled along a row of whole turns, so the loops
    run without a division per element and vectorise.

    An image whose values, means and factor are all tame (``tame[image]``, from
    :func:`contrast_means`) takes plain float32 arithmetic, which gives the same bits: no
    NaN, infinity or denormal can arise (a non-zero difference of tame values is at least
    2^-53, the product at least 2^-83, a non-zero sum a multiple of 2^-106; all below
    2^62), so neither flushing nor the NaN order can show.
    """
    scale = _flushed(factor)
    plane_size = np.uint64(plane)
    c = np.uint64(channels)
    width = min(np.uint64(_LOOP * channels * _TILE_TURNS), plane_size)  # whole pixels
    tile = np.empty(width, np.float32)
    aligned = np.uint64(total - total % _LOOP)
    for image in range(np.uint64(start) // plane_size,
                       (np.uint64(stop) - np.uint64(1)) // plane_size + np.uint64(1)):
        has_nan = False
        plain = tame[image] and _is_tame(scale)
        for k in range(c):
            has_nan = has_nan or means[image, k] != means[image, k]
            plain = plain and _is_tame(means[image, k])
        for k in range(c):
            tile[k] = means[image, k]
        for k in range(c, width):  # no division per element
            tile[k] = tile[k - c]
        begin = max(np.uint64(start), image * plane_size)
        end = min(np.uint64(stop), (image + np.uint64(1)) * plane_size)
        if plain and c == 1:
            mean = tile[0]
            for element in range(begin, end):
                out[element] = scale * (values[element] - mean) + mean
            continue
        at = begin
        while at < end:  # begin is a whole pixel: tile[k] is the mean of element at + k
            count = min(width, end - at)
            if plain:  # indexed, not sliced: a view per row costs as much as the row
                for k in range(count):
                    index = at + k
                    out[index] = scale * (values[index] - tile[k]) + tile[k]
                at += count
                continue
            source = values[at:at + count]
            target = out[at:at + count]
            if has_nan:
                for k in range(count):
                    index = at + k
                    mean_first = index < aligned and (index & np.uint64(_LOOP - 1)) >= np.uint64(
                        _LOOP // 2)
                    target[k] = _contrast_element(source[k], tile[k], scale, mean_first)
            else:
                for k in range(count):
                    target[k] = _contrast_element(source[k], tile[k], scale, False)
            at += count
