"""ResizeBilinear and ResizeNearestNeighbor, bit-exact with TensorFlow 2.21.

Contract:
* ``resize_bilinear(images, size, *, align_corners, half_pixel_centers, memory_limit)``
  returns ``[B, h, w, C]`` float32; ``resize_nearest_neighbor(...)`` the same shape in
  the images' dtype (values copied as bits).
* ``resize_plan(method, images_shape, images_dtype, size, ...)`` checks every argument
  without touching data and returns the :class:`ResizePlan` (output shape and dtype,
  ``None`` dims where the size is not known yet). Every kernel starts with
  ``checked_resize`` (which calls it on the images' shape and dtype), so the block's
  inference and its run raise the same errors.

TensorFlow's arithmetic (``image_resizer_state.h``, ``resize_bilinear_op.cc``,
``resize_nearest_neighbor_op.cc``), every step in float32 with one rounding per
operation (TF's CPU build has no fused multiply-add):

* scale = ``(in - 1) / float(out - 1)`` with align_corners, out > 1 and in > 1, else
  ``in / float(out)``;
* bilinear source coordinate ``x*scale`` (legacy) or ``(x + 0.5)*scale - 0.5`` (half
  pixel centres); ``lower = max(floor, 0)``, ``upper = min(ceil, in - 1)``,
  ``lerp = coordinate - floor``; ``top = tl + (tr - tl)*x_lerp``, likewise bottom, and
  ``out = top + (bottom - top)*y_lerp``, the input first converted to float32. A resize
  to the image's own size is a plain conversion (no arithmetic: inf stays inf);
* nearest: ``x*scale`` or ``(x + 0.5)*scale``, then ``roundf`` (half away from zero)
  with align_corners, else ``floorf``; clamped to ``in - 1`` (and to 0 with half pixel
  centres).

Errors, in TensorFlow's order: the dtype (attr T), half_pixel_centers with
align_corners, images 4-D, at least one channel, non-zero height and width, size 1-D
with two elements, positive output dimensions, (nearest) height and width below 2^24,
then the memory limit.

Speed: the arithmetic runs in compiled per-pixel loops
(:mod:`blocks.kernels.resize_loops`, imported on first use), which also spell out TF's
denormal flushing and NaN operand order; the per-row and per-column tables (indices,
lerps) are made once per call, by a compiled function too. Bands of output rows are shared by the
kernel threads (:func:`in_row_pieces`); each output value is computed alike in any band.
Bilinear and area run a plain pass, then a careful one over the rows it left
(:func:`plain_then_careful`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, TypedDict, Unpack

import numpy as np

from blocks.kernels.arguments import CheckedCalls, call_key, check_cancel, small_value_key
from blocks.kernels.compiled import compiled_loops
from blocks.kernels.float32_math import to_float32
from blocks.kernels.op_checks import (
    INT32_MAX,
    attr_error,
    check_dtype,
    check_memory,
    check_rank,
    dtypes,
    port_error,
    shape_text,
    size_pair,
)
from blocks.kernels.pieces import loop_threads, run_loop_ranges, run_ranges, thread_count
from blocks.spec import DEFAULT_MEMORY_LIMIT

_F32 = np.float32
_HALF = _F32(0.5)
#: Output floats per band of a separable resize (1 MiB: measured best of 2^17..2^21).
_PIECE = 1 << 18
#: Work below this (output floats times the op's cost per float, see in_row_pieces) is
#: done by the calling thread alone: about 1 ms of bilinear lerps. Handing pieces to a
#: helper thread costs tens of microseconds, more on a busy machine, where a helper that
#: starts late holds the caller up for its piece. Measured on the benchmark cases: below
#: this, bilinear (bound by memory more than by arithmetic) was no faster on two threads
#: on a quiet machine and slower on a busy one; area and bicubic cases of about 1 ms of
#: arithmetic (above it by their cost) ran 1.2-1.5x faster on two threads when quiet.
_SHARED_MIN = 1 << 21
#: On numba's threads (:func:`loop_in_row_pieces`, from pieces.LOOP_SHARED_MIN of work),
#: pieces of this many floats, taken as threads come free.
_LOOP_PIECE = 1 << 17
#: A nearest pixel's copy against a bilinear lerp, per output value (in_row_pieces' cost).
_NEAREST_COST = 0.5

#: The dtypes TensorFlow's resize ops take (all four share the list).
RESIZE_DTYPES = dtypes(
    "int8", "uint8", "int16", "uint16", "int32", "int64", "bfloat16", "float16", "float32",
    "float64",
)
_TF_LISTS = {
    "bilinear": "int8, uint8, int16, uint16, int32, int64, bfloat16, half, float, double, "
    "bfloat16",
    "nearest": "int8, uint8, int16, uint16, int32, int64, half, float, double, bfloat16",
    "bicubic": "int8, uint8, int16, uint16, int32, int64, half, float, double, bfloat16",
    "area": "int8, uint8, int16, uint16, int32, int64, half, float, double, bfloat16",
}
#: TensorFlow's nearest-neighbour kernel refuses images this tall or wide.
_NEAREST_MAX_SIZE = 1 << 24


@dataclass(frozen=True)
class ResizePlan:
    """A checked resize: the output shape (``None`` where unknown) and dtype."""

    method: str
    in_size: tuple[int | None, int | None]
    out_size: tuple[int | None, int | None]
    shape: tuple[int | None, ...] | None
    dtype: np.dtype[Any] | None
    align_corners: bool
    half_pixel_centers: bool


def resize_plan(
    method: str,
    images_shape: tuple[int | None, ...] | None,
    images_dtype: np.dtype[Any] | None,
    size: Any,
    *,
    align_corners: bool = False,
    half_pixel_centers: bool = False,
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT,
) -> ResizePlan:
    """Check a resize as TensorFlow does, in its order; ``size`` may be ``None`` (unknown)."""
    check_dtype("images", images_dtype, RESIZE_DTYPES, _TF_LISTS[method])
    if half_pixel_centers and align_corners:
        raise attr_error(
            "half_pixel_centers", "If half_pixel_centers is True, align_corners must be False."
        )
    in_h: int | None = None
    in_w: int | None = None
    batch: int | None = None
    channels: int | None = None
    if images_shape is not None:
        check_rank("images", images_shape, 4, "input must be 4-dimensional{shape}")
        batch, in_h, in_w, channels = images_shape
        if channels is not None and channels <= 0:
            raise port_error("images", "image must have at least one channel")
        if (in_h is not None and in_h <= 0) or (in_w is not None and in_w <= 0):
            raise port_error(
                "images",
                f"input image must be of non-zero size, got {shape_text(images_shape)}",
            )
        if (in_h or 0) > INT32_MAX or (in_w or 0) > INT32_MAX:
            raise port_error("images", "input sizes must be between 0 and max int32")
    out: tuple[int | None, int | None] = (None, None) if size is None else size_pair(
        "size", size, "shape_t", "1-dimensional", "output dimensions"
    )
    if method == "nearest" and (
        (in_h or 0) >= _NEAREST_MAX_SIZE or (in_w or 0) >= _NEAREST_MAX_SIZE
    ):
        raise port_error("images", "nearest neighbor requires max height & width of 2^24")
    dtype = None if images_dtype is None else np.dtype(images_dtype)
    out_dtype = np.dtype(_F32) if method != "nearest" else dtype  # nearest copies values
    shape = None if images_shape is None else (batch, out[0], out[1], channels)
    if shape is not None:
        check_memory("size", shape, out_dtype, memory_limit)
    return ResizePlan(
        method, (in_h, in_w), out, shape, out_dtype, bool(align_corners),
        bool(half_pixel_centers),
    )


def resize_scale(in_size: int, out_size: int, align_corners: bool) -> np.float32:
    """TensorFlow's CalculateResizeScale, in float32.

    Measured on TF 2.21: with align_corners a one-pixel input dim scales as without it
    (``in / out``, not 0); bicubic and area results depend on it.
    """
    if align_corners and out_size > 1 and in_size > 1:
        return _F32(in_size - 1) / _F32(out_size - 1)
    return _F32(in_size) / _F32(out_size)


def source_coordinates(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """Per output index, its float32 source coordinate as TF's bilinear and bicubic
    scalers give it: ``(x + 0.5)*scale - 0.5`` with half pixel centres, else ``x*scale``."""
    scale = resize_scale(in_size, out_size, align_corners)
    index = np.arange(out_size, dtype=_F32)
    return (index + _HALF) * scale - _HALF if half_pixel_centers else index * scale


def nearest_indices(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """The source index of each output index (TensorFlow's compute_indices)."""
    scale = resize_scale(in_size, out_size, align_corners)
    index = np.arange(out_size, dtype=_F32)
    coord = (index + _HALF) * scale if half_pixel_centers else index * scale
    # roundf rounds halves away from zero; the float64 sum of a float32 and 0.5 is exact.
    picked = np.floor(coord.astype(np.float64) + 0.5) if align_corners else np.floor(coord)
    result = np.minimum(picked.astype(np.int64), in_size - 1)
    if half_pixel_centers:
        result = np.maximum(result, 0)
    return result


class ResizeOptions(TypedDict, total=False):
    """The keyword arguments every resize kernel but ResizeArea takes (TF's attrs and our
    memory limit); missing ones default as in :func:`resize_plan`."""

    align_corners: bool
    half_pixel_centers: bool
    memory_limit: int | None


@dataclass(frozen=True)
class ResizeCall:
    """A resize call checked by :func:`resize_plan`: the images as an array, the known
    output shape ``(B, h, w, C)`` and the attrs, as every kernel starts from them."""

    images: np.ndarray
    shape: tuple[int, int, int, int]
    align_corners: bool
    half_pixel_centers: bool

    @property
    def in_size(self) -> tuple[int, int]:
        """Input height and width."""
        return int(self.images.shape[1]), int(self.images.shape[2])

    @property
    def out_size(self) -> tuple[int, int]:
        """Output height and width."""
        return self.shape[1], self.shape[2]

    @property
    def empty(self) -> bool:
        """Whether the output has no element (then the kernels return zeros)."""
        return math.prod(self.shape) == 0


def checked_resize(
    method: str, images: Any, size: Any, **options: Unpack[ResizeOptions]
) -> ResizeCall:
    """The first step of every resize kernel: ``images`` as an array, checked with ``size``
    and the options by :func:`resize_plan` (so inference and running raise alike).

    Calls that passed are remembered by their arguments (:func:`_call_key`): a pipeline
    resizes alike images call after call, and the checks, run cold in the CPU's caches
    after the previous resize streamed megabytes through them, cost 30-40 us (7% of
    ResizeBilinear to [4,128,128,16]). Failing calls are checked every time."""
    images = np.asarray(images)
    key = _call_key(method, images, size, options)
    decided = _CHECKED.get(key)
    if decided is None:
        plan = resize_plan(method, images.shape, images.dtype, size, **options)
        assert plan.shape is not None and all(d is not None for d in plan.shape)
        batch, out_h, out_w, channels = (int(d) for d in plan.shape if d is not None)
        decided = ((batch, out_h, out_w, channels), plan.align_corners,
                   plan.half_pixel_centers)
        _CHECKED.keep(key, decided)
    shape, align_corners, half_pixel_centers = decided
    return ResizeCall(images, shape, align_corners, half_pixel_centers)


#: What :func:`resize_plan` decided for the calls that passed it (output shape and the
#: attr flags), by :func:`_call_key`.
_CHECKED: CheckedCalls[tuple[tuple[int, int, int, int], bool, bool]] = CheckedCalls()


def _call_key(
    method: str, images: np.ndarray, size: Any, options: ResizeOptions
) -> tuple[Any, ...] | None:
    """What :func:`resize_plan` decides a call by: the method, the images' shape and
    dtype, ``size`` (:func:`~blocks.kernels.arguments.small_value_key`) and the options;
    ``None`` (not remembered) for any other ``size`` or an option that is not hashable."""
    return call_key(method, images.shape, images.dtype, small_value_key(size),
                    *sorted(options.items()))


def resize_bilinear(
    images: Any, size: Any, cancel: threading.Event | None = None,
    **options: Unpack[ResizeOptions],
) -> np.ndarray:
    """TensorFlow's ResizeBilinear: ``[B, h, w, C]`` float32, in pieces shared by threads."""
    call = checked_resize("bilinear", images, size, **options)
    images = call.images
    (in_h, in_w), (out_h, out_w) = call.in_size, call.out_size
    align_corners, half_pixel_centers = call.align_corners, call.half_pixel_centers
    if images.size == 0 or call.empty:
        return np.zeros(call.shape, _F32)
    if (out_h, out_w) == (in_h, in_w):
        return to_float32(images)  # TF's no-op resize: a plain conversion
    channels = images.shape[3]
    y_lo, y_hi, y_lerp, left, right, x_lerp, low_first = bilinear_tables(
        in_h, out_h, in_w, out_w, align_corners, half_pixel_centers, channels)
    loops = resize_loops()
    source = flat_rows(loop_source(images))
    out = np.empty(call.shape, _F32)

    limit = tame_limit(4.0, images.dtype)  # a difference is at most twice the larger value
    plain_then_careful(call.shape, loops.bilinear_plain_rows(channels), loops.bilinear_rows,
                       (source, flat_rows(out), y_lo, y_hi, y_lerp, left, right, x_lerp,
                        low_first, channels, limit), cancel)
    return out


@lru_cache(maxsize=64)
def bilinear_tables(
    in_h: int, out_h: int, in_w: int, out_w: int, align_corners: bool,
    half_pixel_centers: bool, channels: int,
) -> tuple[np.ndarray, ...]:
    """ResizeBilinear's per-row and per-column tables: ``y_low, y_high, y_lerp`` (int64,
    int64, float32), ``left, right, x_lerp`` (uint64, uint64, float32) and ``low_first``
    (per output column: whether its lerps add ``low`` first). Kept per geometry, as the
    loops only read them (made afresh, cold after a large resize, they cost 20 us)."""
    loops = resize_loops()
    y_lo, y_hi, y_lerp = loops.bilinear_axis(
        in_h, out_h, resize_scale(in_h, out_h, align_corners), half_pixel_centers)
    x_lo, x_hi, x_lerp = loops.bilinear_axis(
        in_w, out_w, resize_scale(in_w, out_w, align_corners), half_pixel_centers)
    # TF's SSE path (3 channels, all output columns but the last) adds ``low`` first; its
    # scalar code adds the product first.
    low_first = np.arange(out_w) < out_w - 1 if channels == 3 else np.zeros(out_w, bool)
    return (y_lo, y_hi, y_lerp, x_lo.astype(np.uint64), x_hi.astype(np.uint64), x_lerp,
            low_first)


def resize_loops() -> ModuleType:
    """The compiled resize loops (:func:`~blocks.kernels.compiled.compiled_loops`)."""
    return compiled_loops("resize_loops")


def flat_rows(images: np.ndarray) -> np.ndarray:
    """``[B, H, W, C]`` as ``[B, H, W*C]`` (a view), as the compiled loops index it."""
    return images.reshape(images.shape[0], images.shape[1], -1)


def tame_limit(growth: float, dtype: np.dtype[Any]) -> np.float32:
    """The magnitude below which inputs keep every result of a resize finite, when no
    result exceeds ``growth`` times the largest input (the compiled loops' plain path);
    infinite when the dtype alone keeps every value below it (uint8: the loops then skip
    looking at the rows)."""
    limit = min(2.0**126 / growth, 2.0**126)
    return _F32(np.inf) if dtype == np.uint8 and limit > 255 else _F32(limit)


def loop_source(images: np.ndarray) -> np.ndarray:
    """The images as the compiled loops read them: uint8 (photos), float32 and float64 as
    they are (the loops convert each value), every other dtype converted by
    :func:`to_float32` first — numba has no half or bfloat16, and compiling the loops for
    every integer dtype would cost seconds for the rare ones."""
    if images.dtype in (np.uint8, np.float32, np.float64):
        return np.ascontiguousarray(images)
    return np.ascontiguousarray(to_float32(images))


def _row_pieces(
    shape: tuple[int, int, int, int], cost: float, threads: int, shared: bool
) -> tuple[int, int]:
    """How the output rows of ``[B, h, w, C]`` are cut for ``threads`` threads:
    ``(rows, pieces)``; ``shared``: numba's threads take the pieces
    (:func:`loop_in_row_pieces`), else the pool's (:func:`in_row_pieces`)."""
    batch, out_h, out_w, channels = shape
    rows = batch * out_h
    floats = rows * out_w * channels
    # Alone, the caller takes pieces of about _SHARED_MIN work (Stop still lands within
    # about a millisecond): each call into the loops costs microseconds to dispatch and
    # starts its rows' caches afresh, which small pieces paid many times over.
    piece = (_LOOP_PIECE if shared else _PIECE) if threads > 1 else max(
        _PIECE, int(_SHARED_MIN / cost))
    return rows, min(rows, max(-(-floats // piece), 2 * threads if threads > 1 else 1))


def _work(shape: tuple[int, int, int, int], cost: float) -> float:
    """A resize's work: its output floats times its ``cost`` per float."""
    return shape[0] * shape[1] * shape[2] * shape[3] * cost


def in_row_pieces(
    shape: tuple[int, int, int, int], work: Callable[[int, int], None],
    cancel: threading.Event | None, cost: float = 1.0,
) -> None:
    """Call ``work(start, stop)`` over pieces of the output rows of ``[B, h, w, C]``
    (counted over the batch, ``b*h + y``), shared by the pool's threads: rows of about
    _PIECE floats a piece, and at least two pieces per thread when the work is worth
    sharing, all of about the same size, so that no thread is left with the larger part.

    ``cost``: the op's time per output float relative to bilinear's (measured on one
    thread: bicubic 2.5-8, area about 2.5 per input float it sums), which decides whether
    the work is worth sharing (:data:`_SHARED_MIN`). A compiled loop that needs no
    scratch of its own per piece goes through :func:`loop_in_row_pieces` instead."""
    threads = thread_count() if _work(shape, cost) >= _SHARED_MIN else 1
    rows, count = _row_pieces(shape, cost, threads, shared=False)
    run_ranges(rows, count, work, cancel, threads)


def loop_in_row_pieces(
    shape: tuple[int, int, int, int], loop: Callable[..., None], args: tuple[Any, ...],
    cancel: threading.Event | None, cost: float = 1.0,
) -> None:
    """:func:`in_row_pieces` for a compiled loop called as ``loop(args[0], args[1], start,
    stop, *args[2:])``: its threads by :func:`~blocks.kernels.pieces.loop_threads`
    (numba's, which start with no wake-up, from less work than the pool's)."""
    threads, shared = loop_threads(_work(shape, cost), _SHARED_MIN)
    rows, count = _row_pieces(shape, cost, threads, shared)
    run_loop_ranges(loop, rows, count, args, cancel, threads)


def plain_then_careful(
    shape: tuple[int, int, int, int], plain: Callable[..., None],
    careful: Callable[..., None], args: tuple[Any, ...],
    cancel: threading.Event | None, cost: float = 1.0,
) -> None:
    """A resize's two compiled passes over the output rows of ``[B, h, w, C]``, in pieces
    (:func:`loop_in_row_pieces`), each called as ``rows(args[0], args[1], start, stop,
    *args[2:], redo)``: ``plain`` (compiled without the careful arithmetic) on every row,
    marking in ``redo`` (per output row over the batch) the rows with an input row that
    is not tame; then ``careful`` on the marked rows only, if any (compiled on first
    need: most images never need it, and a first resize waits for the plain pass's
    compiling alone)."""
    redo = np.zeros(shape[0] * shape[1], np.bool_)
    loop_in_row_pieces(shape, plain, (*args, redo), cancel, cost)
    if redo.any():
        loop_in_row_pieces(shape, careful, (*args, redo), cancel, cost)


def resize_nearest_neighbor(
    images: Any, size: Any, cancel: threading.Event | None = None,
    **options: Unpack[ResizeOptions],
) -> np.ndarray:
    """TensorFlow's ResizeNearestNeighbor: ``[B, h, w, C]`` in the images' dtype, the
    pixels copied as bits by a compiled loop (:func:`~blocks.kernels.resize_loops.
    nearest_rows`) in bands of rows (:func:`loop_in_row_pieces`; Stop between them).

    The pixels are copied in the widest unsigned unit (8, 4, 2 or 1 bytes) that divides
    a pixel's bytes, so one loop serves every dtype (half and bfloat16 included). Two
    numpy takes (rows, then columns, through a temporary) took 0.46 ms on bench_ops'
    nn-2, level with TF on some runs."""
    call = checked_resize("nearest", images, size, **options)
    check_cancel(cancel)
    if call.empty:
        return np.zeros(call.shape, call.images.dtype)
    (in_h, in_w), (out_h, out_w) = call.in_size, call.out_size
    rows = _nearest_table(in_h, out_h, call.align_corners, call.half_pixel_centers)
    cols = _nearest_table(in_w, out_w, call.align_corners, call.half_pixel_centers)
    source = np.ascontiguousarray(call.images)
    batch, _, _, channels = source.shape
    pixel_bytes = channels * source.dtype.itemsize
    unit = next(width for width in (8, 4, 2, 1) if pixel_bytes % width == 0)
    units = np.dtype(f"u{unit}")
    out = np.empty(call.shape, source.dtype)
    loop_in_row_pieces(
        call.shape, resize_loops().nearest_rows,
        (source.view(np.uint8).reshape(batch, in_h, -1).view(units),
         out.view(np.uint8).reshape(batch, out_h, -1).view(units), rows, cols,
         pixel_bytes // unit),
        cancel, cost=_NEAREST_COST)
    return out


@lru_cache(maxsize=64)
def _nearest_table(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """:func:`nearest_indices` kept per geometry (the loop only reads it)."""
    return nearest_indices(in_size, out_size, align_corners, half_pixel_centers)
