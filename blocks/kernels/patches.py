"""ExtractImagePatches, bit-exact with TensorFlow 2.21 (SPEC section 1).

Contract:
* ``extract_image_patches(images, ksizes, strides, rates, padding, *, memory_limit)``
  returns ``[B, out_h, out_w, kh*kw*C]`` of the images' dtype, where
  ``out[b, i, j, (a*kw + c)*C + ch] = images[b, i*sh - pad_top + a*rh, j*sw - pad_left + c*rw, ch]``
  or 0 (all bits zero) where that pixel lies outside the image. Values are copied as
  bits, so NaN payloads, infinities and -0.0 survive.
* ``patches_output_shape(...)`` computes that shape without touching data and raises
  exactly the errors the kernel raises (same order, same messages); the kernel
  calls it first, so inference and execution cannot disagree.
* ``receptive_field(...)`` names the input pixel each tap of one output position reads,
  from the same geometry as the kernel.

Errors are :class:`~blocks.errors.InvalidArgumentError` with ``port`` set to the argument
at fault and a reason ``"<port>: <TensorFlow's message>, got <value found>"`` (without
the ``got`` part where TF's message already shows the value), in the order TensorFlow
2.21 (eager) reports them:

1. each of ksizes, strides, rates (in that order) must be a list of integers that fit
   an int32 (TF's attr conversion), then each must have length 4 (TF's attr validation
   refuses fewer than 4; TF eager ignores extra values, graph mode refuses them and so
   do we);
2. the dtype must be one TF's op allows (not text, object, float128...), then padding
   must be exactly ``SAME`` or ``VALID``, then the dtype must have a CPU kernel (bool
   has none). TF validates lengths, dtype and padding in this order in a fresh
   process; once its attr caches are warm it may report padding first;
3. ksizes, strides, rates: element [0] and [3] must be 1 ("Only support ... across
   space"), then elements [1] and [2] must be >= 1 ("... is out of range");
4. images must be 4-D;
5. the output height, then width, must not be negative (VALID, C-truncating division);
   the port named is ksizes, the usual thing to change;
6. the output must fit in ``memory_limit`` bytes (:class:`~blocks.errors.MemoryLimitError`).

Arguments are taken as TensorFlow takes them (:mod:`blocks.kernels.arguments`): a plain
Python list of ``images`` converts by TensorFlow's rules (int32, int64 beyond int32,
float32, complex128), ``padding`` may be ASCII ``bytes`` (``b"VALID"``).

Speed: the interior of the output (every tap inside the image) is written by one
strided copy from a view of the image; the border strips around it (and, for dilated
columns, the whole output) from a small re-laid-out copy of what they read, which adds
the zero padding and puts the columns a patch row reads next to each other, so every
inner copy run is ``kw*C`` elements long. Inputs that are mostly padding (a kernel or
rate far larger than the image) are copied tap by tap. Outputs of 4 MiB and more are
filled in pieces (by batch, then by output rows) of at most 8 MiB, two per thread,
taken in turn by the calling thread and pool helpers (numpy releases the GIL while
copying, and the first-touch page faults of the fresh output are taken in parallel
too). The number of threads is :func:`thread_count`: the cores this process may use
(at most 4), capped by the ``TENSORBLOCKS_THREADS`` environment variable — never a
guess from the current load, so the speed does not jump between runs. A set
``cancel`` event stops the work between pieces with
:class:`~blocks.errors.CancelledError`; temporaries stay within one piece's size.
"""

from __future__ import annotations

import itertools
import math
import operator
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from threading import Lock
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError
from blocks.kernels.arguments import attr_text, check_cancel, tf_array
from blocks.spec import DEFAULT_MEMORY_LIMIT

try:  # bfloat16 is optional (SPEC section 1).
    import ml_dtypes

    _BFLOAT16: np.dtype[Any] | None = np.dtype(ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - ml_dtypes is installed in development
    _BFLOAT16 = None

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1

#: The dtypes TF registers a CPU ExtractImagePatches kernel for (bfloat16 with ml_dtypes).
_KERNEL_DTYPES: frozenset[np.dtype[Any]] = frozenset(
    np.dtype(name)
    for name in (
        "float16", "float32", "float64",
        "int8", "int16", "int32", "int64",
        "uint8", "uint16", "uint32", "uint64",
        "complex64", "complex128",
    )
) | (frozenset() if _BFLOAT16 is None else frozenset({_BFLOAT16}))

# TF's op definition lists these as allowed values of T (bool is allowed but has no kernel).
_TF_ALLOWED_T = (
    "bfloat16, half, float, double, int8, int16, int32, int64, uint8, uint16, uint32, "
    "uint64, complex64, complex128, bool"
)
_TF_KERNEL_T = (
    "DT_HALF, DT_BFLOAT16, DT_FLOAT, DT_DOUBLE, DT_INT8, DT_INT16, DT_INT32, DT_INT64, "
    "DT_UINT8, DT_UINT16, DT_UINT32, DT_UINT64, DT_COMPLEX64, DT_COMPLEX128"
)

#: Outputs smaller than this are filled in one piece rather than interior plus borders.
_SPLIT_MIN_BYTES = 1 << 20

#: Outputs at least this large are filled in pieces shared with helper threads.
_PARALLEL_MIN_BYTES = 4 << 20
#: The largest piece: a Stop waits for at most one piece per thread (a few ms).
_PIECE_MAX_BYTES = 8 << 20
#: Environment variable that caps the number of threads (a positive integer).
THREADS_ENV = "TENSORBLOCKS_THREADS"


# ----------------------------------------------------------------------------- validation


def _error(port: str, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"{port}: {message}", port=port)


def _show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return repr(value.tolist())
    if isinstance(value, tuple):
        return repr(list(value))
    return repr(value)


def _int_list(name: str, value: Any) -> list[int]:
    """An attr list as Python ints; refuses anything but integers that fit an int32."""
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "iu":
            raise _error(
                name,
                f"expected a list of integers or a 1-D integer tensor, "
                f"got a {value.ndim}-D {value.dtype.name} tensor {_show(value)}",
            )
        items: list[Any] = value.tolist()
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _error(name, f"expected a list of integers, got {_show(value)}")
    if all(type(item) is int and _INT32_MIN <= item <= _INT32_MAX for item in items):
        return items  # the common case, checked quickly
    result: list[int] = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)):
            raise _error(name, f"expected a list of integers, got {_show(value)}")
        number = operator.index(item)
        if not _INT32_MIN <= number <= _INT32_MAX:
            raise _error(
                name,
                f"Attr {name} has value {number} out of range for an int32, got {_show(value)}",
            )
        result.append(number)
    return result


def _check_length(name: str, values: list[int]) -> None:
    if len(values) < 4:
        raise _error(
            name,
            f"Length for attr '{name}' of {len(values)} must be at least minimum 4, got {values}",
        )
    if len(values) > 4:
        # TF's shape function says "stride" for strides.
        attribute = "stride" if name == "strides" else name
        raise _error(
            name,
            f"ExtractImagePatches requires the {attribute} attribute to contain 4 values, "
            f"but got: {len(values)}, got {values}",
        )


def _check_space_only(name: str, values: list[int]) -> None:
    if values[0] != 1 or values[3] != 1:
        raise _error(name, f"Only support {name} across space, got {values}")
    if values[1] < 1 or values[2] < 1:
        raise _error(name, f"{name} is out of range, got {values}")


def _dtype_name(dtype: np.dtype[Any]) -> str:
    if _BFLOAT16 is not None and dtype == _BFLOAT16:
        return "bfloat16"
    return "string" if dtype.kind in "SU" else str(dtype.name)  # TF's word for text


def _native(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def _check_tf_dtype(dtype: np.dtype[Any]) -> None:
    """The dtype must be one TF's op definition allows (bool is, without a kernel)."""
    native = _native(dtype)
    if native in _KERNEL_DTYPES or native == np.dtype(bool):
        return
    raise _error(
        "images",
        f"Value for attr 'T' of {_dtype_name(native)} is not in the list of allowed values: "
        f"{_TF_ALLOWED_T}, got dtype {_dtype_name(native)}",
    )


def _check_kernel_dtype(dtype: np.dtype[Any]) -> None:
    """TF registers no CPU kernel for bool: found when the kernel is looked up."""
    if _native(dtype) == np.dtype(bool):
        raise _error(
            "images",
            f"Could not find a kernel for ExtractImagePatches with T=DT_BOOL (kernels exist "
            f"for {_TF_KERNEL_T}), got dtype bool",
        )


def _output_size(
    in_size: int, k: int, s: int, r: int, padding: str
) -> tuple[int, int]:
    """TF's GetWindowedOutputSize for one spatial dimension: ``(out, pad_before)``."""
    k_eff = k + (k - 1) * (r - 1)
    if padding == "VALID":
        numerator = in_size - k_eff + s
        # C++ integer division truncates toward zero: (-1)/2 == 0, not -1.
        out = abs(numerator) // s * (1 if numerator >= 0 else -1)
        if out < 0:
            raise _error(
                "ksizes",
                f"Computed output size would be negative: {out} [input_size: {in_size}, "
                f"effective_filter_size: {k_eff}, stride: {s}]",
            )
        return out, 0
    out = (in_size + s - 1) // s
    pad_total = max(0, (out - 1) * s + k_eff - in_size)
    return out, pad_total // 2


@dataclass(frozen=True)
class _Plan:
    """Everything the kernel needs, from shapes only."""

    shape: tuple[int | None, ...] | None  # output shape
    ksize: tuple[int, int]
    stride: tuple[int, int]
    rate: tuple[int, int]
    out: tuple[int | None, int | None]  # (out_h, out_w)
    pad: tuple[int | None, int | None]  # (pad_top, pad_left)


def _plan(
    images_shape: Sequence[int | None] | None,
    images_dtype: np.dtype[Any] | None,
    ksizes: Any,
    strides: Any,
    rates: Any,
    padding: Any,
) -> _Plan:
    """Validate every argument in TF's order; compute the output geometry."""
    lists = {
        name: _int_list(name, value)
        for name, value in (("ksizes", ksizes), ("strides", strides), ("rates", rates))
    }
    for name, values in lists.items():
        _check_length(name, values)
    if images_dtype is not None:
        _check_tf_dtype(np.dtype(images_dtype))
    if not isinstance(padding, str) or padding not in ("SAME", "VALID"):
        shown = f'"{padding}"' if isinstance(padding, str) else _show(padding)
        raise _error(
            "padding",
            f"Value for attr 'padding' of {shown} is not in the list of allowed values: "
            f'"SAME", "VALID"',
        )
    if images_dtype is not None:
        _check_kernel_dtype(np.dtype(images_dtype))
    for name, values in lists.items():
        _check_space_only(name, values)
    k, s, r = lists["ksizes"], lists["strides"], lists["rates"]
    if images_shape is None:
        return _Plan(None, (k[1], k[2]), (s[1], s[2]), (r[1], r[2]), (None, None), (None, None))
    dims = list(images_shape)
    if len(dims) != 4:
        shown = ",".join("?" if d is None else str(d) for d in dims)
        raise _error("images", f"input must be 4-dimensional[{shown}]")
    out: list[int | None] = [None, None]
    pad: list[int | None] = [None, None]
    for axis in (0, 1):
        size = dims[1 + axis]
        if size is not None:
            out[axis], pad[axis] = _output_size(
                int(size), k[1 + axis], s[1 + axis], r[1 + axis], padding
            )
    depth = None if dims[3] is None else k[1] * k[2] * int(dims[3])
    batch = None if dims[0] is None else int(dims[0])
    return _Plan(
        (batch, out[0], out[1], depth),
        (k[1], k[2]),
        (s[1], s[2]),
        (r[1], r[2]),
        (out[0], out[1]),
        (pad[0], pad[1]),
    )


def _check_memory(
    shape: tuple[int | None, ...] | None, dtype: np.dtype[Any] | None, memory_limit: int
) -> None:
    if shape is None or dtype is None or any(d is None for d in shape):
        return
    nbytes = math.prod(int(d) for d in shape if d is not None) * np.dtype(dtype).itemsize
    if nbytes > memory_limit:
        shown = "[" + ", ".join(str(d) for d in shape) + "]"
        raise MemoryLimitError(
            f"patches: the output {shown} {_dtype_name(np.dtype(dtype))} would need "
            f"{nbytes} bytes, more than the memory limit of {memory_limit} bytes"
        )


def _checked_plan(
    images_shape: Sequence[int | None] | None,
    images_dtype: np.dtype[Any] | None,
    ksizes: Any,
    strides: Any,
    rates: Any,
    padding: Any,
    memory_limit: int,
) -> _Plan:
    """What both the shape function and the kernel run first: every check, in order."""
    plan = _plan(images_shape, images_dtype, ksizes, strides, rates, padding)
    _check_memory(plan.shape, images_dtype, memory_limit)
    return plan


# ----------------------------------------------------------------------------- public API


def patches_output_shape(
    images_shape: Sequence[int | None] | None,
    images_dtype: np.dtype[Any] | None,
    ksizes: Sequence[int],
    strides: Sequence[int],
    rates: Sequence[int],
    padding: str,
    *,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> tuple[int | None, ...] | None:
    """Output shape; ``None`` dims where the image's dims are unknown.

    Raises the kernel's errors in the kernel's order (see the module docstring);
    ``None`` for ``images_shape`` means the rank is unknown too, so the result is ``None``.
    """
    return _checked_plan(
        images_shape, images_dtype, ksizes, strides, rates, padding, memory_limit
    ).shape


def receptive_field(
    images_shape: Sequence[int | None],
    ksizes: Sequence[int],
    strides: Sequence[int],
    rates: Sequence[int],
    padding: str,
    out_row: int,
    out_col: int,
) -> list[tuple[int, int]]:
    """The input pixel ``(row, col)`` each tap of output position ``(out_row, out_col)`` reads.

    Taps come in depth order (patch row, then patch column); a pixel may lie outside the
    image (in the zero padding). Raises the kernel's errors for bad arguments, and an
    InvalidArgumentError when the height or width is unknown or the position is not in
    the output.
    """
    plan = _plan(images_shape, None, ksizes, strides, rates, padding)
    (out_h, out_w), (pad_top, pad_left) = plan.out, plan.pad
    if out_h is None or out_w is None or pad_top is None or pad_left is None:
        raise _error(
            "images", f"the height and width must be known, got shape {_show(images_shape)}"
        )
    if not (0 <= out_row < out_h and 0 <= out_col < out_w):
        raise InvalidArgumentError(
            f"output position ({out_row}, {out_col}) is outside the output's {out_h}x{out_w} grid"
        )
    (kh, kw), (sh, sw), (rh, rw) = plan.ksize, plan.stride, plan.rate
    top, left = out_row * sh - pad_top, out_col * sw - pad_left
    return [(top + a * rh, left + c * rw) for a in range(kh) for c in range(kw)]


def extract_image_patches(
    images: Any,
    ksizes: Sequence[int],
    strides: Sequence[int],
    rates: Sequence[int],
    padding: str | bytes,
    *,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """TensorFlow's ExtractImagePatches on numpy (see the module docstring)."""
    images = tf_array(images, "images")
    padding = attr_text(padding, "padding", None)  # bytes as TF takes them; None is refused
    plan = _checked_plan(images.shape, images.dtype, ksizes, strides, rates, padding, memory_limit)
    assert plan.shape is not None  # the shape of an array is always known
    dtype = images.dtype if images.dtype.isnative else images.dtype.newbyteorder("=")
    shape = tuple(int(d) for d in plan.shape if d is not None)
    try:
        out = np.empty(shape, dtype)
    except MemoryError as error:  # under the limit, but the machine cannot provide it
        raise MemoryLimitError(
            f"patches: the output {list(shape)} {_dtype_name(dtype)} "
            f"({math.prod(shape) * dtype.itemsize} bytes) could not be allocated"
        ) from error
    if out.size == 0:
        return out
    images = np.ascontiguousarray(images, dtype=dtype)
    pieces = _pieces(shape, out.nbytes, thread_count())
    if len(pieces) == 1:
        _fill(out, images, plan)
    else:
        _fill_in_pieces(out, images, plan, pieces, cancel)
    check_cancel(cancel)
    return out


def thread_count() -> int:
    """Threads a large kernel uses: the cores this process may run on, at most 4, capped by
    the ``TENSORBLOCKS_THREADS`` environment variable. Never depends on the current load."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    threads = min(cores, 4)
    setting = os.environ.get(THREADS_ENV, "").strip()
    if setting.isdigit() and int(setting) > 0:
        threads = min(threads, int(setting))
    return max(1, threads)


_Piece = tuple[slice, slice]  # (batch, output rows)


def _pieces(shape: tuple[int, ...], nbytes: int, threads: int) -> list[_Piece]:
    """How the output is cut: by batch, then (for few large images) by output rows; pieces
    of at most ``_PIECE_MAX_BYTES``, and two per thread when threads can share the work."""
    batch, out_h = shape[0], shape[1]
    count = -(-nbytes // _PIECE_MAX_BYTES)
    if threads > 1 and nbytes >= _PARALLEL_MIN_BYTES:
        count = max(count, 2 * threads)
    if count <= 1:
        return [(slice(0, batch), slice(0, out_h))]
    batch_parts = min(batch, count)
    row_parts = min(out_h, -(-count // batch_parts))
    return [
        (slice(batch * b // batch_parts, batch * (b + 1) // batch_parts),
         slice(out_h * r // row_parts, out_h * (r + 1) // row_parts))
        for b in range(batch_parts)
        for r in range(row_parts)
    ]


def _fill_in_pieces(
    out: np.ndarray, images: np.ndarray, plan: _Plan, pieces: list[_Piece],
    cancel: threading.Event | None,
) -> None:
    """Fill ``out`` piece by piece on this thread and the pool's helpers.

    Pieces are taken in turn from one counter, so the calling thread never waits for a
    helper that has not started (on a busy machine it simply does every piece itself);
    between pieces each thread checks ``cancel``.
    """
    tickets = itertools.count()  # next() on a count is atomic under the GIL
    pad_top = plan.pad[0]
    assert pad_top is not None

    def work() -> None:
        for ticket in tickets:
            if ticket >= len(pieces) or (cancel is not None and cancel.is_set()):
                return
            batch, rows = pieces[ticket]
            # The rows' own plan: tap (0, 0) of output row i0 reads image row i0*sh - pad.
            part = replace(
                plan, out=(rows.stop - rows.start, plan.out[1]),
                pad=(pad_top - rows.start * plan.stride[0], plan.pad[1]),
            )
            _fill(out[batch, rows], images[batch], part)

    threads = min(thread_count(), len(pieces))
    pool = _thread_pool()
    helpers = [pool.submit(work) for _ in range(threads - 1)]
    try:
        work()
    finally:
        for helper in helpers:
            if not helper.cancel():  # started: it is finishing its last piece
                helper.result()


# ----------------------------------------------------------------------------- the copy


def _as_words(array: np.ndarray) -> np.ndarray:
    """A C-contiguous array as unsigned ints of its item width (16-byte items as 2 words)."""
    width = min(array.dtype.itemsize, 8)
    return array.view(np.dtype(f"u{width}"))


@dataclass(frozen=True)
class _Region:
    """Output rows/cols ``[i0, i1) x [j0, j1)``; tap (0, 0) of output (i0, j0) reads image
    pixel ``(top, left)``, which may lie outside the image."""

    i0: int
    i1: int
    j0: int
    j1: int
    top: int
    left: int


def _fill(out: np.ndarray, images: np.ndarray, plan: _Plan) -> None:
    image = _as_words(images)  # [B, H, W, Cw]: bits only, so every dtype copies exactly
    words = _as_words(out)
    batch, height, width, channels = image.shape
    (kh, kw), (sh, sw), (rh, rw) = plan.ksize, plan.stride, plan.rate
    out_h, out_w = (int(d) for d in plan.out if d is not None)
    pad_top, pad_left = (int(d) for d in plan.pad if d is not None)
    target = words.view()
    target.shape = (batch, out_h, out_w, kh, kw * channels)  # a view, never a copy

    def region(i0: int, i1: int, j0: int, j1: int) -> _Region:
        return _Region(i0, i1, j0, j1, i0 * sh - pad_top, j0 * sw - pad_left)

    # The interior, where every tap is inside the image, is copied straight from the
    # image; only the border strips around it need zero padding.
    i0, i1 = _interior(out_h, -pad_top, sh, (kh - 1) * rh, height)
    j0, j1 = _interior(out_w, -pad_left, sw, (kw - 1) * rw, width)
    everything = (i0, i1, j0, j1) == (0, out_h, 0, out_w)
    if (
        (rw > 1 and kw > 1)
        or i0 >= i1
        or j0 >= j1
        or (words.nbytes < _SPLIT_MIN_BYTES and not everything)
    ):
        # Dilated columns: everything goes through the re-laid-out buffer, which also
        # makes each patch row one contiguous run. Small outputs with a border too: one
        # buffer costs fewer numpy calls than an interior and four strips.
        _fill_from_buffer(target, image, plan, region(0, out_h, 0, out_w))
        return
    top, left = i0 * sh - pad_top, j0 * sw - pad_left
    st = image.strides
    source = np.lib.stride_tricks.as_strided(
        image[:, top:, left:],
        (batch, i1 - i0, j1 - j0, kh, kw * channels),
        (st[0], st[1] * sh, st[2] * sw, st[1] * rh, st[3]),
        writeable=False,
    )
    np.copyto(target[:, i0:i1, j0:j1], source)
    for strip in (
        region(0, i0, 0, out_w),
        region(i1, out_h, 0, out_w),
        region(i0, i1, 0, j0),
        region(i0, i1, j1, out_w),
    ):
        if strip.i0 < strip.i1 and strip.j0 < strip.j1:
            _fill_from_buffer(target, image, plan, strip)


def _interior(out: int, start: int, step: int, reach: int, size: int) -> tuple[int, int]:
    """Outputs whose first tap (at ``start + o*step``) and last (``+ reach``) are inside."""
    first_lo, first_hi = _tap_range(out, start, step, size)
    last_lo, last_hi = _tap_range(out, start + reach, step, size)
    return max(first_lo, last_lo), min(first_hi, last_hi)


def _tap_range(out: int, start: int, step: int, size: int) -> tuple[int, int]:
    """Outputs ``o`` in ``[0, out)`` whose input index ``start + o*step`` is in ``[0, size)``."""
    first = max(0, -(start // step))  # ceil(-start / step)
    end = min(out, (size - 1 - start) // step + 1) if size - 1 - start >= 0 else 0
    return first, max(first, end)


def _fill_from_buffer(target: np.ndarray, image: np.ndarray, plan: _Plan, area: _Region) -> None:
    """Fill ``target[:, i0:i1, j0:j1]`` from a re-laid-out, zero-padded copy of what it reads.

    Buffer row n is image row ``top + n*row_step``; buffer column ``[phase, m]`` is reduced
    column ``x = m*col_phases + phase``, i.e. image column ``left + x*col_step``. Rows and
    columns no patch reads are left out, and the kw taps of a patch row become kw
    neighbouring buffer columns, so every copy run is kw*C elements long.
    """
    batch, height, width, channels = image.shape
    (kh, kw), (sh, sw), (rh, rw) = plan.ksize, plan.stride, plan.rate
    out_h, out_w = area.i1 - area.i0, area.j1 - area.j0
    row_step = math.gcd(sh, rh)
    col_step = math.gcd(sw, rw)
    col_phases = rw // col_step  # coprime with sw // col_step
    col_stride, col_rate = sw // col_step, col_phases
    period = col_phases * col_step
    rows = ((out_h - 1) * sh + (kh - 1) * rh) // row_step + 1
    last_column = (out_w - 1) * col_stride + (kw - 1) * col_rate  # reduced
    phases = sorted({(j * col_stride) % col_phases for j in range(min(out_w, col_phases))})
    columns = last_column // col_phases + 1
    region = target[:, area.i0 : area.i1, area.j0 : area.j1]
    if batch * rows * len(phases) * columns * channels > 2 * (image.size + region.size):
        # Mostly padding (a kernel or rate far larger than the image): a buffer spanning
        # the padded extent could dwarf the output, so copy tap by tap instead.
        _fill_by_taps(region.reshape(batch, out_h, out_w, kh, kw, channels), image, plan, area)
        return
    buffer = np.empty((batch, rows, len(phases), columns, channels), image.dtype)
    row_lo, row_hi = _tap_range(rows, area.top, row_step, height)
    buffer[:, :row_lo] = 0
    buffer[:, row_hi:] = 0
    for index, phase in enumerate(phases):
        first_column = area.left + phase * col_step
        col_lo, col_hi = _tap_range(columns, first_column, period, width)
        plane = buffer[:, row_lo:row_hi, index]
        plane[:, :, :col_lo] = 0
        plane[:, :, col_hi:] = 0
        if row_lo < row_hi and col_lo < col_hi:
            y0, x0 = area.top + row_lo * row_step, first_column + col_lo * period
            plane[:, :, col_lo:col_hi] = image[
                :,
                y0 : y0 + (row_hi - row_lo - 1) * row_step + 1 : row_step,
                x0 : x0 + (col_hi - col_lo - 1) * period + 1 : period,
            ]

    bst = buffer.strides
    for index, phase in enumerate(phases):
        # Output columns j with (j*col_stride) % col_phases == phase: j = j0 + t*col_phases.
        j0 = next(j for j in range(col_phases) if (j * col_stride) % col_phases == phase)
        m0 = (j0 * col_stride - phase) // col_phases
        source = np.lib.stride_tricks.as_strided(
            buffer[:, :, index, m0:],
            (batch, out_h, len(range(j0, out_w, col_phases)), kh, kw * channels),
            (
                bst[0],
                bst[1] * (sh // row_step),
                bst[3] * col_stride,
                bst[1] * (rh // row_step),
                bst[4],
            ),
            writeable=False,
        )
        np.copyto(region[:, :, j0::col_phases], source)


def _fill_by_taps(target: np.ndarray, image: np.ndarray, plan: _Plan, area: _Region) -> None:
    """Zero ``target`` [B, out_h, out_w, kh, kw, C], then one strided slice per tap that
    reads the image at all (found arithmetically: there may be billions of taps)."""
    height, width = image.shape[1:3]
    out_h, out_w = target.shape[1:3]
    (kh, kw), (sh, sw), (rh, rw) = plan.ksize, plan.stride, plan.rate
    target[...] = 0
    # Tap row a reads rows top + a*rh + i*sh for i < out_h: it touches the image when
    # a*rh lies in [-top - (out_h - 1)*sh, height - 1 - top].
    rows = _tap_range(kh, area.top + (out_h - 1) * sh, rh, height + (out_h - 1) * sh)
    cols = _tap_range(kw, area.left + (out_w - 1) * sw, rw, width + (out_w - 1) * sw)
    for a in range(*rows):
        y0 = area.top + a * rh
        i_lo, i_hi = _tap_range(out_h, y0, sh, height)
        if i_lo == i_hi:
            continue
        for c in range(*cols):
            x0 = area.left + c * rw
            j_lo, j_hi = _tap_range(out_w, x0, sw, width)
            if j_lo == j_hi:
                continue
            target[:, i_lo:i_hi, j_lo:j_hi, a, c, :] = image[
                :,
                y0 + i_lo * sh : y0 + (i_hi - 1) * sh + 1 : sh,
                x0 + j_lo * sw : x0 + (j_hi - 1) * sw + 1 : sw,
            ]


_pool: ThreadPoolExecutor | None = None
_pool_lock = Lock()


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(4, thread_name_prefix="tensorblocks-patches")
        return _pool
