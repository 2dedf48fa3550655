"""Argument checks shared by the library kernels (resize, crop, array ops).

Contract: each helper raises :class:`~blocks.errors.InvalidArgumentError` with ``port``
(or ``attr``) set and a reason ``"<port>: <TensorFlow's message>"``, so every library
kernel words the same fault the same way and a test can look for TensorFlow's own
message inside ours. Nothing here touches tensor data beyond small int vectors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError

try:  # bfloat16 is optional (SPEC section 1).
    import ml_dtypes

    BFLOAT16: np.dtype[Any] | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is installed in development
    BFLOAT16 = None

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1

#: TensorFlow's names of the dtypes, as its messages write them.
_TF_NAMES = {
    "float16": "half", "float32": "float", "float64": "double", "bfloat16": "bfloat16",
    "int8": "int8", "int16": "int16", "int32": "int32", "int64": "int64",
    "uint8": "uint8", "uint16": "uint16", "uint32": "uint32", "uint64": "uint64",
    "complex64": "complex64", "complex128": "complex128", "bool": "bool",
}


def port_error(port: str, message: str) -> InvalidArgumentError:
    """An error about input ``port``: ``"<port>: <message>"``."""
    return InvalidArgumentError(f"{port}: {message}", port=port)


def attr_error(attr: str, message: str) -> InvalidArgumentError:
    """An error about attr ``attr``: ``"<attr>: <message>"``."""
    return InvalidArgumentError(f"{attr}: {message}", attr=attr)


def tf_dtype_name(dtype: np.dtype[Any]) -> str:
    """The dtype as TensorFlow's messages name it (``float``, ``half``...)."""
    return _TF_NAMES.get(dtype.name, dtype.name)


def shape_text(shape: Sequence[int | None]) -> str:
    """A shape as TensorFlow's DebugString writes it: ``[2,?,3]``."""
    return "[" + ",".join("?" if d is None else str(int(d)) for d in shape) + "]"


def dtypes(*names: str) -> tuple[np.dtype[Any], ...]:
    """numpy dtypes by name; ``bfloat16`` is left out where ml_dtypes is missing."""
    found: list[np.dtype[Any]] = []
    for name in names:
        if name == "bfloat16":
            if BFLOAT16 is not None:
                found.append(BFLOAT16)
        else:
            found.append(np.dtype(name))
    return tuple(found)


def check_dtype(
    port: str, dtype: np.dtype[Any] | None, allowed: Sequence[np.dtype[Any]], tf_list: str,
    attr: str = "T",
) -> None:
    """TensorFlow's op-definition check of a type attr (``None``: not known yet)."""
    if dtype is None or np.dtype(dtype) in allowed:
        return
    raise port_error(
        port,
        f"Value for attr '{attr}' of {tf_dtype_name(np.dtype(dtype))} is not in the list of "
        f"allowed values: {tf_list}",
    )


def int_vector(port: str, value: Any, what: str = "int32") -> np.ndarray:
    """A small integer tensor as int64, refusing non-integers and values beyond ``what``."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise port_error(
            port, f"expected an {what} tensor, got {array.dtype.name} {array.tolist()!r}"
        )
    if what == "int32" and array.size and (
        int(array.min()) < INT32_MIN or int(array.max()) > INT32_MAX
    ):
        raise port_error(port, f"values must fit an int32, got {array.tolist()!r}")
    return array.astype(np.int64)


def check_memory(
    port: str, shape: Sequence[int | None], dtype: np.dtype[Any] | None, memory_limit: int | None
) -> None:
    """Refuse an output larger than ``memory_limit`` bytes before allocating it."""
    if memory_limit is None or dtype is None or any(d is None for d in shape):
        return
    nbytes = math.prod(int(d) for d in shape if d is not None) * np.dtype(dtype).itemsize
    if nbytes > memory_limit:
        raise MemoryLimitError(
            f"{port}: the output {shape_text(shape)} {np.dtype(dtype).name} would need "
            f"{nbytes} bytes, more than the memory limit of {memory_limit} bytes",
            port=port,
        )
