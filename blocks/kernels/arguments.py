"""How the kernels take their arguments, as TensorFlow 2.21 takes them.

Contract:

* :func:`tf_array` converts a kernel's tensor argument. A numpy array (or numpy scalar)
  is taken as it is. A plain Python value — a number or a (nested) list/tuple — is
  converted by TensorFlow's rules for ``tf.convert_to_tensor``:

  - without a dtype hint (ExtractImagePatches' ``images``): all bools -> bool; integers
    only -> int32 when every value fits, else int64 (beyond int64: refused); any float
    -> float32 (a value beyond float32 is refused, as TensorFlow refuses it); bools
    mixed with numbers are refused; any complex -> complex128; text stays text (the
    kernel refuses it); an empty list -> float32;
  - with ``hint="float32"`` (glimpse ``input`` and ``offsets``): numbers and bools
    convert straight to float32 (a huge value becomes inf, as in TensorFlow);
  - with ``hint="int32"`` (glimpse ``size``): integers and bools only, each fitting an
    int32; floats are refused as TensorFlow refuses them — except whole floats such as
    ``3.0``, which TensorBlocks accepts (values typed or wired from float tensors).

  Ragged lists are refused. Errors are :class:`~blocks.errors.InvalidArgumentError`
  naming ``port``.
* :func:`attr_text` takes a string attr as TensorFlow does: ``str`` or ASCII ``bytes``;
  ``None`` means the attr's default.
* :func:`attr_flag` takes a bool attr: ``None`` means the attr's default, anything else
  is its truth value.
* :func:`check_cancel` raises :class:`~blocks.errors.CancelledError` once ``cancel`` is
  set; kernels that work in pieces call it between pieces.
* :class:`CheckedCalls` keeps what a kernel's checks decided for the calls that passed
  them, by a key made with :func:`call_key` (and :func:`small_value_key` for a small
  argument read by value, such as a size), so that a pipeline's next alike call skips
  the checks. Failing calls are never kept: they are checked, and raise, every time.
"""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

import numpy as np

from blocks.errors import CancelledError, InvalidArgumentError

_INT32 = np.iinfo(np.int32)
_INT64 = np.iinfo(np.int64)


def tf_array(value: Any, port: str, hint: str | None = None) -> np.ndarray:
    """``value`` as an array, converted as TensorFlow converts it (see the module docstring)."""
    if isinstance(value, np.ndarray | np.generic):
        return np.asarray(value)
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise InvalidArgumentError(f"{port}: expected a tensor, got {error}", port=port) from error
    if array.dtype == object:
        raise InvalidArgumentError(
            f"{port}: expected a rectangular list of numbers, got {_short(value)}", port=port
        )
    kind = array.dtype.kind
    if hint == "float32":
        if kind in "biuf":
            with np.errstate(over="ignore", invalid="ignore"):
                return array.astype(np.float32)
        return array  # the kernel names the dtype it refuses
    if hint == "int32":
        return _as_int32(array, port)
    if kind not in "iuf":
        return array  # bool, complex128 and text as numpy makes them
    if array.size == 0:
        return array.astype(np.float32)  # TensorFlow's dtype for an empty list
    # numpy turns integers beyond int64 into uint64 or float64: look at the values.
    elements = np.asarray(value, dtype=object).reshape(-1).tolist()
    if any(isinstance(item, float | np.floating) for item in elements):
        return _as_float32_values(array, port)
    if any(isinstance(item, bool | np.bool_) for item in elements):
        raise InvalidArgumentError(
            f"{port}: Can't convert Python sequence with mixed types to Tensor", port=port
        )
    low, high = min(elements), max(elements)
    if low < _INT64.min or high > _INT64.max:
        raise InvalidArgumentError(
            f"{port}: Can't convert Python sequence with out-of-range integer to Tensor",
            port=port,
        )
    fits = _INT32.min <= low and high <= _INT32.max
    return np.asarray(value, dtype=np.int32 if fits else np.int64)


def _as_float32_values(array: np.ndarray, port: str) -> np.ndarray:
    """Python floats (numbers mixed with them) as float32; beyond float32 is refused."""
    with np.errstate(over="ignore", invalid="ignore"):
        single = array.astype(np.float32)
    overflow = np.isinf(single)
    if overflow.any() and not np.isinf(array[overflow]).all():
        raise InvalidArgumentError(
            f"{port}: Can't convert Python sequence with a value out of range for a "
            "float32 tensor",
            port=port,
        )
    return single


def _as_int32(array: np.ndarray, port: str) -> np.ndarray:
    kind = array.dtype.kind
    if kind == "f":
        if not np.all(np.isfinite(array)) or not np.array_equal(array, np.trunc(array)):
            raise InvalidArgumentError(
                f"{port}: Cannot convert {_short(array.tolist())} to an int32 tensor (whole "
                "numbers expected)",
                port=port,
            )
    elif kind not in "biu":
        return array  # the kernel names the dtype it refuses
    if array.size and kind != "b" and (array.min() < _INT32.min or array.max() > _INT32.max):
        raise InvalidArgumentError(
            f"{port}: Can't convert Python sequence with out-of-range integer to an int32 "
            f"tensor, got {_short(array.tolist())}",
            port=port,
        )
    return array.astype(np.int32)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def attr_text(value: Any, name: str, default: Any) -> Any:
    """A string attr: ``None`` -> ``default``; ASCII ``bytes`` -> ``str``; else unchanged."""
    if value is None:
        return default
    if isinstance(value, bytes | np.bytes_):
        try:
            return bytes(value).decode("ascii")
        except UnicodeDecodeError:
            return repr(bytes(value))  # refused by the caller's check, shown as given
    if isinstance(value, np.str_):
        return str(value)
    return value


def attr_flag(value: Any, default: bool) -> bool:
    """A bool attr: ``None`` -> ``default``; anything else by its truth value."""
    return default if value is None else bool(value)


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise CancelledError if ``cancel`` is set (a Stop from the user)."""
    if cancel is not None and cancel.is_set():
        raise CancelledError("cancelled")


_Decided = TypeVar("_Decided")


def small_value_key(value: Any) -> tuple[Any, ...] | None:
    """A small argument read by value as a hashable key: an ndarray of at most 8 elements
    by its dtype, shape and bytes; a list or tuple of at most 8 Python ints and bools by
    its type and each value with its type; ``None`` (not to be remembered) otherwise —
    an object array too, whose bytes are addresses, not values."""
    if isinstance(value, np.ndarray):
        if value.size > 8 or value.dtype.hasobject:
            return None
        return (value.dtype, value.shape, value.tobytes())
    if isinstance(value, list | tuple) and len(value) <= 8 and all(
        type(item) in (int, bool) for item in value
    ):
        return (type(value).__name__, *((type(item).__name__, item) for item in value))
    return None


def call_key(*parts: Any) -> tuple[Any, ...] | None:
    """``parts`` as a key of :class:`CheckedCalls`; ``None`` when a part is ``None`` (a
    value :func:`small_value_key` does not tell apart). Parts that are not hashable make
    a key that :class:`CheckedCalls` never keeps. (Plain loops, no extra hash: the key
    is made on every call, cold in the caches.)"""
    for part in parts:
        if part is None:
            return None
    return parts


class CheckedCalls(Generic[_Decided]):
    """What a kernel's checks decided for the calls that passed them, by :func:`call_key`.

    A pipeline calls a kernel with alike arguments call after call, and after the previous
    call streamed megabytes through the CPU's caches the Python checks run cold: tens of
    microseconds (30-40 us of a ResizeBilinear to [4,128,128,16]; 10-16 us of a 64x64
    glimpse of [32,256,256,3]). At most ``limit`` keys are kept (all dropped when full).
    """

    def __init__(self, limit: int = 256) -> None:
        self._decided: dict[tuple[Any, ...], _Decided] = {}
        self._limit = limit

    def get(self, key: tuple[Any, ...] | None) -> _Decided | None:
        """What was decided for ``key``; ``None`` if not kept (or ``key`` is ``None`` or
        not hashable)."""
        if key is None:
            return None
        try:
            return self._decided.get(key)
        except TypeError:  # a part that is not hashable
            return None

    def keep(self, key: tuple[Any, ...] | None, decided: _Decided) -> None:
        """Remember ``decided`` for ``key`` (nothing for a ``None`` or unhashable key)."""
        if key is None:
            return
        try:
            hash(key)
        except TypeError:
            return
        if len(self._decided) >= self._limit:
            self._decided.clear()
        self._decided[key] = decided
