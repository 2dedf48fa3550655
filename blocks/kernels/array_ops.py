"""Reshape, ExpandDims, Squeeze, Transpose and Slice, as TensorFlow 2.21 does them.

Contract: each op has a ``*_shape`` (or ``*_plan``) function that checks the arguments
from shapes and small int vectors alone — in TensorFlow's order, with TensorFlow's
messages — and returns the output shape (``None`` dims where an input is unknown);
the kernel calls it first, so a block's inference and its run raise the same errors.
Values are never changed: Reshape, ExpandDims and Squeeze return views of a
contiguous copy of the input (TF shares the buffer too), Transpose and Slice return new
contiguous arrays. Every dtype is taken (bool, integers, floats, complex, bfloat16).

Errors are :class:`~blocks.errors.InvalidArgumentError` with ``port`` (or ``attr``) set
and a reason ``"<port>: <TensorFlow's message>"``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from blocks.kernels.compiled import compiled_loops
from blocks.kernels.op_checks import (
    BFLOAT16,
    attr_error,
    int_vector,
    port_error,
    shape_text,
    tf_dtype_name,
)
from blocks.kernels.pieces import run_ranges, thread_count

Shape = tuple[int | None, ...]

#: TensorFlow refuses shapes with more elements than an int64 holds.
_INT64_MAX = 2**63 - 1


def check_array_dtype(port: str, dtype: np.dtype[Any] | None) -> None:
    """The array ops take every numeric dtype and bool (TF also strings, which we lack)."""
    if dtype is None:
        return
    dtype = np.dtype(dtype)
    if dtype.kind not in "biufc" and dtype != BFLOAT16:
        raise port_error(port, f"tensors of {dtype} are not supported")


def _known(shape: Shape | None) -> bool:
    return shape is not None and all(d is not None for d in shape)


def _ints(shape: Shape) -> tuple[int, ...]:
    return tuple(int(d) for d in shape if d is not None)


def _as_array(value: Any) -> np.ndarray:
    array = np.asarray(value)
    check_array_dtype("input", array.dtype)
    return array


# ----------------------------------------------------------------------------- Reshape


def reshape_shape(tensor_shape: Shape | None, shape: Any) -> Shape | None:
    """TensorFlow's ReshapeOp shape rule; ``shape`` ``None`` when not known yet."""
    if shape is None:
        return None
    sizes = int_vector("shape", shape, "int64")
    if sizes.ndim > 1:
        raise port_error("shape", f"sizes input must be 1-D, not {shape_text(sizes.shape)}")
    sizes = sizes.reshape(-1)
    product, unknown_index, has_zero = 1, -1, False
    out: list[int] = []
    for index, size in enumerate(int(s) for s in sizes):
        if size == -1:
            if unknown_index != -1:
                raise port_error(
                    "shape",
                    f"Only one input size may be -1, not both {unknown_index} and {index}",
                )
            unknown_index = index
            out.append(1)
        elif size < 0:
            raise port_error("shape", f"Size {index} must be non-negative, not {size}")
        elif size == 0:
            has_zero = True
            out.append(0)
        else:
            if math.prod(out) * size > _INT64_MAX:
                shown = ", ".join(str(int(s)) for s in sizes)
                raise port_error("shape", f"Shape [{shown}] has too many elements")
            out.append(size)
            product *= size
    if not _known(tensor_shape):
        if unknown_index != -1:
            out_partial: list[int | None] = list(out)
            out_partial[unknown_index] = None
            return tuple(out_partial)
        return tuple(out)
    dims = _ints(tensor_shape) if tensor_shape is not None else ()
    count = math.prod(dims)
    if unknown_index != -1:
        # As TF: with a 0 in the requested shape, the input's zero dims are left out, so the
        # other dims can still be inferred.
        known_count, input_has_zero = 1, False
        for dim in dims:
            if dim > 0 or not has_zero:
                known_count *= dim
            else:
                input_has_zero = True
        missing = known_count // product
        if not input_has_zero and product * missing != known_count:
            raise port_error(
                "shape",
                f"Input to reshape is a tensor with {count} values, but the requested shape "
                f"requires a multiple of {product}",
            )
        out[unknown_index] = missing
    if math.prod(out) != count:
        raise port_error(
            "shape",
            f"Input to reshape is a tensor with {count} values, but the requested shape "
            f"has {math.prod(out)}",
        )
    return tuple(out)


def reshape(tensor: Any, shape: Any) -> np.ndarray:
    """TensorFlow's Reshape (``-1`` infers one dim)."""
    array = _as_array(tensor)
    out = reshape_shape(array.shape, shape)
    assert out is not None
    return np.ascontiguousarray(array).reshape(_ints(out))


# ----------------------------------------------------------------------------- ExpandDims


def _single_axis(port: str, value: Any) -> int:
    axis = int_vector(port, value, "int64")
    if axis.size != 1:
        raise port_error(port, "'dim' must be a tensor with a single value")
    return int(axis.reshape(-1)[0])


def expand_dims_shape(input_shape: Shape | None, axis: Any) -> Shape | None:
    """TensorFlow's ExpandDims shape rule (``axis`` in ``[-rank-1, rank]``)."""
    if axis is None:
        return None if input_shape is None else (None,) * (len(input_shape) + 1)
    dim = _single_axis("axis", axis)
    if input_shape is None:
        return None
    rank = len(input_shape)
    if not -1 - rank <= dim <= rank:
        raise port_error(
            "axis", f"Tried to expand dim index {dim} for tensor with {rank} dimensions."
        )
    if dim < 0:
        dim += rank + 1
    return (*input_shape[:dim], 1, *input_shape[dim:])


def expand_dims(input: Any, axis: Any) -> np.ndarray:
    """TensorFlow's ExpandDims."""
    array = _as_array(input)
    out = expand_dims_shape(array.shape, axis)
    assert out is not None
    return np.ascontiguousarray(array).reshape(_ints(out))


# ----------------------------------------------------------------------------- Squeeze


def parse_squeeze_dims(text: Any) -> list[int]:
    """The ``squeeze_dims_`` attr (``""``, ``"1"``, ``"0,2"``, ``"{0,2}"``) as ints."""
    if isinstance(text, (list, tuple)):
        return [int(v) for v in text]
    body = str(text).strip()
    if body[:1] in "{[" and body[-1:] in "}]":
        body = body[1:-1]
    items = [item.strip() for item in body.split(",") if item.strip()]
    result: list[int] = []
    for item in items:
        try:
            result.append(int(item))
        except ValueError:
            raise attr_error(
                "squeeze_dims",
                f"expected a list of integers such as 0,2 (empty: every dim of size 1), "
                f"got '{text}'",
            ) from None
    return result


def squeeze_shape(input_shape: Shape | None, squeeze_dims: Sequence[int]) -> Shape | None:
    """TensorFlow's SqueezeOp rule: every index checked, then the dims in order."""
    if input_shape is None:
        return None
    rank = len(input_shape)
    wrapped: set[int] = set()
    for dim in squeeze_dims:
        if not -rank <= dim < rank:
            raise attr_error(
                "squeeze_dims",
                f"Tried to squeeze dim index {dim} for tensor with {rank} dimensions.",
            )
        wrapped.add(dim + rank if dim < 0 else dim)
    out: list[int | None] = []
    for index, size in enumerate(input_shape):
        if wrapped:
            if index in wrapped:
                if size is not None and size != 1:
                    raise attr_error(
                        "squeeze_dims",
                        f"Can not squeeze dim[{index}], expected a dimension of 1, got {size}",
                    )
            else:
                out.append(size)
        elif size is None:
            return None  # which dims go is only known at run time
        elif size != 1:
            out.append(size)
    return tuple(out)


def squeeze(input: Any, squeeze_dims: Sequence[int] = ()) -> np.ndarray:
    """TensorFlow's Squeeze (no dims: every dim of size 1)."""
    array = _as_array(input)
    out = squeeze_shape(array.shape, list(squeeze_dims))
    assert out is not None
    return np.ascontiguousarray(array).reshape(_ints(out))


# ----------------------------------------------------------------------------- Transpose


def transpose_plan(input_shape: Shape | None, perm: Any) -> tuple[Shape | None, list[int]]:
    """TensorFlow's TransposeOp checks; returns the output shape and the wrapped perm."""
    if perm is None:
        rank = None if input_shape is None else len(input_shape)
        return (None if rank is None else (None,) * rank), []
    values = int_vector("perm", perm, "int64")
    if values.ndim != 1:
        raise port_error("perm", f"perm must be rank 1, got shape {shape_text(values.shape)}")
    if input_shape is None:
        return (None,) * len(values), []
    dims = len(input_shape)
    if dims != len(values):
        raise port_error(
            "perm",
            f"transpose expects a vector of size {dims}. But input(1) is a vector of size "
            f"{len(values)}",
        )
    permutation = [int(v) for v in values]
    seen = [False] * dims
    wrapped: list[int] = []
    for value in permutation:
        d = value + dims if value < 0 else value
        if not 0 <= d < dims:
            raise port_error("perm", f"{d} is out of range [0 .. {dims})")  # TF shows d wrapped
        seen[d] = True
        wrapped.append(d)
    for index in range(dims):
        if not seen[index]:
            shown = ",".join(str(v) for v in permutation)
            raise port_error("perm", f"{index} is missing from {{{shown}}}.")
    return tuple(input_shape[d] for d in wrapped), wrapped


def transpose(x: Any, perm: Any) -> np.ndarray:
    """TensorFlow's Transpose, as a new contiguous array."""
    array = _as_array(x)
    _, wrapped = transpose_plan(array.shape, perm)
    return np.array(np.transpose(array, wrapped), order="C", copy=True)


# ----------------------------------------------------------------------------- Slice


def slice_plan(
    input_shape: Shape | None, begin: Any, size: Any
) -> tuple[Shape | None, list[slice]]:
    """TensorFlow's SharedSliceValidation; returns the output shape and the index."""
    if input_shape is None or begin is None or size is None:
        rank = None if input_shape is None else len(input_shape)
        return (None if rank is None else (None,) * rank), []
    starts = int_vector("begin", begin, "int64")
    sizes = int_vector("size", size, "int64")
    rank = len(input_shape)
    if not (starts.ndim == 1 and sizes.ndim == 1 and len(starts) == rank and len(sizes) == rank):
        port = "begin" if starts.ndim != 1 or len(starts) != rank else "size"
        raise port_error(
            port,
            f"Expected begin and size arguments to be 1-D tensors of size {rank}, but got "
            f"shapes {shape_text(starts.shape)} and {shape_text(sizes.shape)} instead.",
        )
    out: list[int | None] = []
    index: list[slice] = []
    for i in range(rank):
        dim = input_shape[i]
        b, s = int(starts[i]), int(sizes[i])
        if dim is None:
            out.append(None if s == -1 else s)
            continue
        if s == -1:
            s = dim - b
        if dim == 0:
            if b != 0 or s != 0:
                raise port_error(
                    "begin" if b != 0 else "size",
                    f"Expected begin[{i}] == 0 (got {b}) and size[{i}] == 0 (got {s}) when "
                    f"input.dim_size({i}) == 0",
                )
        else:
            if not 0 <= b <= dim:
                raise port_error("begin", f"Expected begin[{i}] in [0, {dim}], but got {b}")
            if not (s >= 0 and b + s <= dim):
                raise port_error("size", f"Expected size[{i}] in [0, {dim - b}], but got {s}")
        out.append(s)
        index.append(slice(b, b + s))
    return tuple(out), index


def slice_tensor(input: Any, begin: Any, size: Any) -> np.ndarray:
    """TensorFlow's Slice (``size`` -1: to the end), as a new contiguous array."""
    array = _as_array(input)
    _, index = slice_plan(array.shape, begin, size)
    return np.array(array[tuple(index)], copy=True, order="C")


# ----------------------------------------------------------------------------- ConcatV2


def concat_shape(
    shapes: Sequence[Shape | None], dtypes: Sequence[np.dtype[Any] | None], axis: Any
) -> Shape | None:
    """TensorFlow's ConcatV2 checks (ports ``values_0..values_{N-1}``, ``axis``), in order.

    ``axis`` ``None``: not known yet (the rank is then all that can be said).
    """
    if len(shapes) < 2:
        raise port_error("values", f"Value for attr 'N' of {len(shapes)} must be at least "
                         "minimum 2")
    first = next((d for d in dtypes if d is not None), None)
    for index, dtype in enumerate(dtypes):
        check_array_dtype(f"values_{index}", dtype)
        if dtype is not None and first is not None and np.dtype(dtype) != np.dtype(first):
            # TensorFlow's wording; it compares with input 0 (here: the first known dtype).
            raise port_error(f"values_{index}", f"cannot compute ConcatV2 as input #{index}"
                             f"(zero-based) was expected to be a "
                             f"{tf_dtype_name(np.dtype(first))} tensor but is a "
                             f"{tf_dtype_name(np.dtype(dtype))} tensor")
    if axis is not None:
        values = int_vector("axis", axis, "int64")
        if values.size != 1 or values.ndim > 1:
            raise port_error("axis", "Concat dim tensor should be a scalar integer, but got "
                             f"shape {shape_text(values.shape)}")
        axis = int(values.reshape(-1)[0])
    reference = shapes[0]
    if reference is None:
        return None
    rank = len(reference)
    if rank == 0:
        raise port_error("values_0", "ConcatOp : Can't concatenate scalars (use tf.stack "
                         "instead)")
    if axis is None:
        return (None,) * rank
    if not -rank <= axis < rank:
        raise port_error("axis", "ConcatOp : Expected concatenating dimensions in the range "
                         f"[{-rank}, {rank}), but got {axis}")
    axis = axis + rank if axis < 0 else axis
    total: int | None = reference[axis]
    out = list(reference)
    for index, shape in enumerate(shapes[1:], start=1):
        if shape is None:
            total = None
            continue
        if len(shape) != rank:
            raise port_error(f"values_{index}", "ConcatOp : Ranks of all input tensors should "
                             f"match: shape[0] = {shape_text(reference)} vs. shape[{index}] = "
                             f"{shape_text(shape)}")
        for dim in range(rank):
            if dim == axis:
                continue
            a, b = reference[dim], shape[dim]
            if a is not None and b is not None and a != b:
                raise port_error(f"values_{index}", f"ConcatOp : Dimension {dim} in both "
                                 f"shapes must be equal: shape[0] = {shape_text(reference)} "
                                 f"vs. shape[{index}] = {shape_text(shape)}")
            if a is None:
                out[dim] = b
        total = None if total is None or shape[axis] is None else total + int(shape[axis])
    out[axis] = total
    return tuple(out)


#: Outputs of at least this many bytes, with rows to interleave, take the compiled copy
#: (below it numpy's concatenate costs less than making the loop's list of inputs).
_COMPILED_CONCAT_MIN = 1 << 16
#: Output bytes per piece of rows shared by the kernel threads.
_CONCAT_PIECE = 1 << 21


def concat_v2(
    values: Sequence[Any], axis: Any, cancel: threading.Event | None = None
) -> np.ndarray:
    """TensorFlow's ConcatV2 of two or more tensors along ``axis`` (values as bits).

    One pass over the bytes: with leading dims before ``axis`` (rows to interleave) and a
    large output, the compiled copy of :mod:`blocks.kernels.array_loops` (imported on
    first use) writes each output row from the inputs' rows, in pieces of rows shared by
    the kernel threads; otherwise numpy's concatenate (a memory copy per input when
    ``axis`` is the first dim that is not 1, little overhead for small inputs).
    """
    arrays = [np.asarray(value) for value in values]
    shape = concat_shape([a.shape for a in arrays], [a.dtype for a in arrays], axis)
    index = int(np.asarray(axis).reshape(-1)[0])
    index = index + arrays[0].ndim if index < 0 else index
    out_shape = tuple(int(d) for d in shape or () if d is not None)
    rows = math.prod(arrays[0].shape[:index])
    itemsize = arrays[0].dtype.itemsize
    if (
        rows <= 1
        or math.prod(out_shape) * itemsize < _COMPILED_CONCAT_MIN
        or itemsize not in (1, 2, 4, 8, 16)
        or not all(a.flags.c_contiguous for a in arrays)
    ):
        return np.concatenate(arrays, axis=index)
    # Bits as unsigned integers (complex128: two 8-byte halves per item).
    unsigned = np.dtype(f"u{min(itemsize, 8)}")
    out = np.empty(out_shape, arrays[0].dtype)
    target = out.reshape(rows, -1).view(unsigned)
    loops = _array_loops()
    groups = loops.in_groups([a.reshape(rows, a.size // rows).view(unsigned)
                              for a in arrays])
    threads = thread_count() if out.nbytes >= 2 * _CONCAT_PIECE else 1
    count = min(rows, max(1, out.nbytes // _CONCAT_PIECE))

    def work(start: int, stop: int) -> None:
        for sources, used, column in groups:
            loops.concat_rows(sources, used, target, column, start, stop)

    run_ranges(rows, count, work, cancel, threads)
    return out


def _array_loops() -> ModuleType:
    return compiled_loops("array_loops")
