"""Cast, as TensorFlow 2.21's CPU kernel converts values (with its ``Truncate`` attr).

Contract: ``cast(x, dst_dtype, *, truncate=False, memory_limit)`` returns ``x`` converted
to ``dst_dtype`` bit for bit as TensorFlow does it, for every pair of bool, the integer
types, float16, bfloat16, float32, float64, complex64 and complex128;
``cast_plan(src, dst, ...)`` checks the dtypes and the output size without data.

TensorFlow's conversions (``cast_op.h``, Eigen's casts; TF runs kernels with x86's
denormals-are-zero and flush-to-zero modes on):

* integers and bool to integers: two's-complement wrap; anything to bool: ``!= 0`` with
  denormal floats read as zero; complex to real: the real part; real to complex: imag 0;
* float32 -> float64 reads denormals as zero; float64 -> float32 writes denormal results
  as zero; float64 -> float16/bfloat16 and bfloat16 <-> float16 go through float32;
  float16 -> float32 quiets signalling NaNs, float32 -> float16 makes NaNs quiet keeping
  sign and top payload bits (F16C); to bfloat16 rounds to nearest even and makes a NaN
  the quiet NaN of its sign, except plain float32 -> bfloat16 (TF's own constructor),
  where every NaN is 0x7fc0; float16 and bfloat16 -> bool test their bits (denormals are true);
* ``Truncate`` (only float32/64 and complex sources towards fewer mantissa bits):
  the low ``digits(source) - digits(destination)`` bits of each non-NaN part are zeroed
  before the usual conversion (``digits`` of a complex destination is 0, as TF's
  ``numeric_limits`` has it, so complex64 from float64 keeps 0 mantissa bits).

Speed: conversions to bfloat16 from float32 run in one compiled pass over the bits
(:mod:`blocks.kernels.cast_loops`, imported on first use), shared by the kernel threads
for large arrays; every other conversion is numpy's.

Deliberate difference: a float that is NaN, infinite or outside the destination integer
range after truncation has no defined integer value in C++; TensorFlow's result then
depends on the element's position in the array (vector or scalar code path). We refuse
it with an :class:`~blocks.errors.InvalidArgumentError` naming the value instead of
inventing a number.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from blocks.kernels.compiled import compiled_loops
from blocks.kernels.float32_math import flush_denormals, to_float32
from blocks.kernels.op_checks import BFLOAT16, check_memory, port_error, tf_dtype_name
from blocks.kernels.pieces import run_loop_ranges, shared_pieces, thread_count
from blocks.spec import DEFAULT_MEMORY_LIMIT

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_F16 = np.dtype(np.float16)
#: Elements per piece of a compiled conversion shared by threads (1 MiB of float32).
_PIECE = 1 << 18
#: Arrays below this many elements are converted by the calling thread alone.
_SHARED_MIN = 1 << 17

#: TensorFlow's MantissaWidth: numeric_limits<T>::digits (11 for half, 8 for bfloat16).
_DIGITS = {"float16": 11, "bfloat16": 8, "float32": 24, "float64": 53}
#: (destination, source) pairs whose CastFunctor honours Truncate.
_TRUNCATING = {
    ("float32", "float64"),
    ("float32", "complex128"),
    ("complex64", "complex128"),
    ("complex64", "float64"),
    ("float16", "float64"),
    ("float16", "float32"),
    ("float16", "complex128"),
    ("float16", "complex64"),
    ("bfloat16", "float32"),
}


def cast_dtypes() -> tuple[np.dtype[Any], ...]:
    """Every dtype Cast takes and makes."""
    names = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
             "float16", "float32", "float64", "complex64", "complex128"]
    found = [np.dtype(name) for name in names]
    if BFLOAT16 is not None:
        found.insert(10, BFLOAT16)
    return tuple(found)


_CAST_DTYPES = frozenset(cast_dtypes())


def cast_plan(
    src: np.dtype[Any] | None,
    dst: np.dtype[Any],
    shape: tuple[int | None, ...] | None = None,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> np.dtype[Any]:
    """Check a cast from ``src`` (``None``: unknown) to ``dst``; returns ``dst``."""
    dst = np.dtype(dst)
    if dst not in _CAST_DTYPES:
        raise port_error("DstT", f"Cast to {dst} is not supported")
    if src is not None and np.dtype(src) not in _CAST_DTYPES:
        raise port_error("x", f"Cast from {np.dtype(src)} to {tf_dtype_name(dst)} is not supported")
    if shape is not None:
        check_memory("DstT", shape, dst, memory_limit)
    return dst


def _part(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The real dtype of a complex one (float32 for complex64)."""
    return np.dtype(np.float32) if dtype == np.complex64 else np.dtype(np.float64)


def _digits(dtype: np.dtype[Any]) -> int:
    return 0 if dtype.kind == "c" else _DIGITS.get(dtype.name, 0)


def _zero_low_bits(values: np.ndarray, bits: int) -> np.ndarray:
    """TF's LSBZeroSetter: the low ``bits`` bits of every non-NaN float cleared."""
    unsigned = np.dtype(f"u{values.dtype.itemsize}")
    width = 8 * values.dtype.itemsize
    mask = np.array((~0 << bits) & ((1 << width) - 1), dtype=unsigned)
    cleared = np.bitwise_and(values.view(unsigned), mask).view(values.dtype)
    return np.where(np.isnan(values), values, cleared)


def _truncated(values: np.ndarray, dst: np.dtype[Any]) -> np.ndarray:
    src = values.dtype
    if (dst.name, src.name) not in _TRUNCATING:
        return values
    if src.kind == "c":
        part = _part(src)
        bits = _digits(part) - _digits(_part(dst) if dst.kind == "c" else dst)
        real = _zero_low_bits(np.ascontiguousarray(values.real), bits)
        imag = _zero_low_bits(np.ascontiguousarray(values.imag), bits)
        out = np.empty(values.shape, src)
        out.real, out.imag = real, imag
        return out
    return _zero_low_bits(values, _digits(src) - _digits(dst))


def _float_to_half(values: np.ndarray) -> np.ndarray:
    """float32 -> float16 as F16C: round to nearest even; a NaN keeps its sign and top
    payload bits and becomes quiet."""
    with np.errstate(over="ignore", invalid="ignore"):
        out = values.astype(_F16)
    nan = np.isnan(values)
    if nan.any():
        bits = values[nan].view(np.uint32)
        half = ((bits >> np.uint32(16)) & np.uint32(0x8000)) | np.uint32(0x7E00)
        half |= (bits & np.uint32(0x7FFFFF)) >> np.uint32(13)
        out[nan] = half.astype(np.uint16).view(_F16)
    return out


def _float_to_bfloat16(values: np.ndarray, signless_nan: bool = False) -> np.ndarray:
    """float -> bfloat16, rounded to nearest even; a NaN becomes the quiet NaN of its sign
    (Eigen's vector cast) or 0x7fc0 whatever its sign (``signless_nan``: TF's own scalar
    bfloat16 constructor, which its plain float32 -> bfloat16 Cast uses)."""
    assert BFLOAT16 is not None and values.dtype == _F32
    return _float_bits_to_bfloat16(values, signless_nan, truncate=False)


def _float_bits_to_bfloat16(values: np.ndarray, signless_nan: bool, truncate: bool) -> np.ndarray:
    """float32 -> bfloat16 by the compiled loop (:mod:`blocks.kernels.cast_loops`), in
    pieces shared by the kernel threads when the array is large."""
    assert BFLOAT16 is not None
    bits = np.ascontiguousarray(values).reshape(-1).view(np.uint32)
    out = np.empty(bits.shape, np.uint16)
    _in_pieces(_loops().float_to_bfloat16, bits.size, (bits, out, signless_nan, truncate))
    return out.reshape(values.shape).view(BFLOAT16)


def _in_pieces(
    loop: Callable[..., Any], count: int, args: tuple[Any, ...], *, counting: bool = False
) -> int:
    """The compiled ``loop(args[0], args[1], start, stop, *args[2:])`` over ``0 ..
    count-1`` in pieces, shared by the kernel threads when there are many elements
    (numba's threads where they can be used: :func:`~blocks.kernels.pieces.run_loop_ranges`);
    ``counting``: the sum of what the pieces return."""
    threads = thread_count() if count >= _SHARED_MIN else 1
    pieces = max(1, min(-(-count // _PIECE), shared_pieces(threads)))
    return run_loop_ranges(loop, count, pieces, args, None, threads, counting=counting)


def _loops() -> ModuleType:
    return compiled_loops("cast_loops")


def _real_to(values: np.ndarray, dst: np.dtype[Any], signless_nan: bool = False) -> np.ndarray:
    """A real (bool, integer or float) array converted to the real dtype ``dst``."""
    src = values.dtype
    if dst == src:
        return values.copy()
    is_float = src.kind == "f" or src == BFLOAT16
    if dst.kind == "b":
        if src.itemsize == 2 and is_float:  # Eigen's half and bfloat16 test their bits
            return (values.view(np.uint16) & np.uint16(0x7FFF)) != 0
        if is_float:
            values = flush_denormals(values)  # float32/64 compare with denormals read as zero
        return values != 0
    if dst.kind in "iu":
        if is_float:
            return _float_to_int(values, dst)
        return values.astype(dst)  # integers and bool: two's-complement wrap
    if src.kind in "biu":
        if dst in (_F32, _F64):
            return values.astype(dst)
        wide = values.astype(_F32)  # Eigen converts integers to half/bfloat16 via float
        return _float_to_bfloat16(wide) if dst == BFLOAT16 else _float_to_half(wide)
    # float -> float
    if dst == _F64:
        if src == _F32:
            return flush_denormals(values).astype(_F64)
        return flush_denormals(to_float32(values)).astype(_F64)  # half/bfloat16 go through float
    single = to_float32(values)
    if dst == _F32:
        return single
    if dst == BFLOAT16:
        return _float_to_bfloat16(single, signless_nan and src == _F32)
    return _float_to_half(single)


def _float_to_int(values: np.ndarray, dst: np.dtype[Any]) -> np.ndarray:
    if values.itemsize == 2:
        values = values.astype(_F32)  # float16 and bfloat16 convert through float
    info = np.iinfo(dst)
    if values.size and dst == np.int32 and values.dtype == _F32:
        # One compiled pass converts and counts the values out of range.
        flat = np.ascontiguousarray(values).reshape(-1)
        out = np.empty(flat.shape, np.int32)
        if not _in_pieces(_loops().float_to_int32, flat.size, (flat, out), counting=True):
            return out.reshape(values.shape)
    elif values.size and dst == np.int32 and _INDEFINITE_INT32:
        # x86 turns NaN, inf and out-of-range floats into INT32_MIN: two passes (convert,
        # then the minimum) instead of three, unless INT32_MIN shows up.
        converted = values.astype(np.int32)
        if converted.min() > info.min:
            return converted
    if values.size:
        low, high = float(values.min()), float(values.max())  # NaN shows in both
        if (
            np.isfinite(low)
            and np.isfinite(high)
            and np.trunc(low) >= float(info.min)
            and np.trunc(high) < float(info.max + 1)
        ):
            return values.astype(dst)  # C truncation toward zero, all values in range
    wide = values.astype(_F64)
    with np.errstate(invalid="ignore"):
        whole = np.trunc(wide)
        # Both bounds are powers of two, exact in float64 (info.max itself is not).
        bad = ~np.isfinite(whole) | (whole < float(info.min)) | (whole >= float(info.max + 1))
    if bad.any():
        value = values.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
        raise port_error(
            "x",
            f"cannot cast {value!r} to {dst.name}: outside its range (TensorFlow's result "
            f"for NaN, inf and out-of-range values is undefined)",
        )
    return whole.astype(dst)


def _indefinite_int32() -> bool:
    """Whether this machine's float -> int32 conversion gives INT32_MIN for NaN, inf and
    values out of range (x86's "integer indefinite"), so a minimum finds them."""
    probe = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9] * 8, np.float32)
    with np.errstate(invalid="ignore"):
        return bool((probe.astype(np.int32) == np.iinfo(np.int32).min).all())


_INDEFINITE_INT32 = _indefinite_int32()


def cast(
    x: Any,
    dst_dtype: Any,
    *,
    truncate: bool = False,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """TensorFlow's Cast of ``x`` to ``dst_dtype``."""
    values = np.asarray(x)
    dst = cast_plan(values.dtype, np.dtype(dst_dtype), values.shape, memory_limit)
    if values.dtype == dst:
        return values.copy()
    # NaN and overflow are values here, not accidents: numpy's warnings about them are noise.
    with np.errstate(invalid="ignore", over="ignore", under="ignore"):
        return _convert(values, dst, truncate)


def _convert(values: np.ndarray, dst: np.dtype[Any], truncate: bool) -> np.ndarray:
    if truncate and values.dtype == _F32 and dst == BFLOAT16:
        # The loop zeroes the low bits itself (NaNs keep theirs, as _truncated does).
        return _float_bits_to_bfloat16(values, signless_nan=False, truncate=True)
    if truncate:
        values = _truncated(values, dst)
    if values.dtype.kind == "c":
        if dst.kind != "c":
            return _real_to(np.ascontiguousarray(values.real), dst)
        part = _part(dst)
        out = np.empty(values.shape, dst)
        out.real = _real_to(np.ascontiguousarray(values.real), part)
        out.imag = _real_to(np.ascontiguousarray(values.imag), part)
        return out
    if dst.kind == "c":
        out = np.zeros(values.shape, dst)
        out.real = _real_to(values, _part(dst))
        return out
    return _real_to(values, dst, signless_nan=not truncate)
