"""ExtractGlimpse (V1) and ExtractGlimpseV2, bit-exact with TensorFlow 2.21 (SPEC section 2).

Contract:
* ``extract_glimpse`` / ``extract_glimpse_v2(input, size, offsets, *, centered, normalized,
  uniform_noise, noise, seed, item_offset, memory_limit, cancel)`` return ``[B, h, w, C]``
  float32 where ``out[b, i, j, c] = input[b, top_b + i, left_b + j, c]`` for pixels inside
  the image and the fill value elsewhere. Arguments are taken as TensorFlow takes them
  (:mod:`blocks.kernels.arguments`): Python lists convert by TensorFlow's rules (``input``
  and ``offsets`` to float32, ``size`` to int32); a float ndarray ``size`` truncates
  toward zero as TensorFlow's conversion does (NaN, inf and values beyond int32 are
  refused); ``None`` for an attr means its default (true, true, true, "uniform"); ``noise``
  may be ``bytes``. Other numeric arrays convert as numpy casts them; complex and text are
  refused.
* ``glimpse_windows(input_shape, size, offsets, *, version, centered, normalized)`` gives
  each batch item's window ``(top, left)`` exactly as the kernels compute it (both run the
  same code; the results panel draws it), or ``None`` where no image pixel lands in the
  glimpse (non-finite or huge offsets, a window entirely outside, an empty image, an
  empty window): there the whole glimpse is fill.
* ``glimpse_output_shape(...)`` computes the output shape from shapes and attrs (dims may
  be ``None``; ``size`` ``None`` when it comes from a wire) and raises the kernels'
  errors in the kernels' order; the kernels call it first, so inference and execution
  cannot disagree.

Window arithmetic is float32 with one rounding per operation, as TensorFlow's Eigen code
(``float32(0.7) * 10`` is exactly 7.0): numpy float32 array ufuncs round once each and
never fuse. The top-left is then truncated toward zero to int64.

Fill (the elements outside the image): ``noise`` empty lets ``uniform_noise`` pick
uniform or gaussian, otherwise ``noise`` decides. Uniform: per image ``lo + U[0,1) *
(hi - lo)`` with lo/hi over all of H, W, C (NaN pixels skipped, as TensorFlow does);
gaussian: per image and channel ``clip(mean + N(0,1) * std, min, max)`` (population
std; a channel holding NaN fills with NaN, as in TensorFlow); zero: 0. An empty image
(H or W is 0) fills with TensorFlow's NaN for uniform and gaussian: ``0xFFC00000``, the
x86 default NaN (sign bit set) that its statistics of nothing produce.

Noise scheme (unlike TensorFlow's, reproducible and keyed per item). Every element of
item ``b``'s glimpse has a position ``p = (i*w + j)*C + c``; its noise depends only on
the key, the item's global index ``n = item_offset + b`` and ``p`` — never on the batch
or chunk it runs in, nor on which other elements are filled:

1. key: ``seed`` folded to 64 bits (each 64-bit word XORed in, then SplitMix64's mixer);
   ``seed=None`` draws one random 64-bit key per call;
2. item key: ``z = mix64(key + (n + 1) * 0x9E3779B97F4A7C15 mod 2**64)`` (SplitMix64's
   output ``n``), split into ``k1`` (low 32 bits) and ``k2`` (high 32 bits);
3. element bits: ``x = lowbias32(((p * 0x9E3779B9) ^ k2) + k1)`` in uint32 arithmetic
   (Chris Wellons' lowbias32: ``x ^= x >> 16; x *= 0x7FEB352D; x ^= x >> 15;
   x *= 0x846CA68B; x ^= x >> 16``);
4. uniform ``U = (x >> 8) * 2**-24`` in [0, 1) (exact in float32); gaussian by
   Box-Muller on the element pair ``(2q, 2q+1)``: ``r = sqrt(-2 ln(((x_2q >> 8) + 0.5) *
   2**-24))``, ``t = 2*pi*U_(2q+1)``, element ``2q`` gets ``r*cos(t)`` and ``2q+1`` gets
   ``r*sin(t)`` (float32).

Errors are :class:`~blocks.errors.InvalidArgumentError` with ``port`` (input, size,
offsets) or ``attr`` (uniform_noise, noise) set and the reason ``"<name>: <TensorFlow's
message> ..."``, in TensorFlow's order: noise combination; unknown noise; input not 4-D;
size not a 2-vector (then: not integral / not an int32); negative size (height first);
offsets not a matrix; offsets' first dim != batch; offsets' second dim != 2; finally an
output larger than ``memory_limit`` bytes is a :class:`~blocks.errors.MemoryLimitError`.
A set ``cancel`` event raises :class:`~blocks.errors.CancelledError` between pieces.

Speed (no Python loop per image, window or element): the checks and conversions run in
numpy once per call; then one compiled pass per item (:mod:`blocks.kernels.glimpse_loops`)
computes its window, copies the glimpse rows that lie in the image and writes the fill
around them, with no temporaries. Image statistics and item keys are computed only for
items whose glimpse has fill, noise only for the filled elements. Items run in pieces of
about 4 MiB of work (Stop lands between pieces). Work of 4 MiB and more (a gaussian fill
element counting as 256 bytes, an image scanned for uniform fill as its bytes) is shared
on numba's spinning threads, or from 32 MiB on with the Python pool's where those cannot
be used (:func:`blocks.kernels.pieces.loop_threads`: the cores and
``TENSORBLOCKS_THREADS``); below that one thread is as fast.
Gaussian statistics are float64 sums in two passes (population std).
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError
from blocks.kernels.arguments import (
    CheckedCalls,
    attr_flag,
    attr_text,
    call_key,
    check_cancel,
    small_value_key,
    tf_array,
)
from blocks.kernels.compiled import compiled_loops
from blocks.kernels.pieces import loop_threads, run_loop_ranges, shared_pieces
from blocks.spec import DEFAULT_MEMORY_LIMIT

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_NOISE_KINDS = ("uniform", "gaussian", "zero")
#: TensorFlow's NaN for the statistics of an empty image: x86's default NaN, sign bit set.
_TF_NAN = np.array(0xFFC00000, np.uint32).view(np.float32)[()]
#: Items are processed in pieces of about this much work (copied-byte equivalents, counted
#: in ``_extract``), so that Stop lands between pieces.
_PIECE_BYTES = 4 << 20
#: Where numba's threads cannot be used (:func:`blocks.kernels.pieces.loop_threads`), work
#: of at least this many bytes (about 2 ms on one core) is shared with the Python pool's
#: helpers. Below it the calling thread alone is faster or as fast, measured on the 2-core
#: machine shared with other work: waking a pool helper costs 30-100 us, when the other
#: core is busy the helper wakes on the caller's core and the two take turns, and a helper
#: descheduled in the middle of its piece keeps the caller waiting for a time slice (G2, a
#: 1.5 MB copy: 0.33 ms with a helper, 0.22 ms alone; G1's uniform fill, 14 MB: 0.79 ms
#: with a helper on a quiet machine, 0.88 ms alone, but 2.4 ms with one under load).
_PARALLEL_MIN_BYTES = 32 << 20
#: A copied float's cost against a bilinear lerp's (pieces.LOOP_SHARED_MIN's unit): from
#: about 4 MiB of work on, numba's spinning threads (blocks.kernels.shared_loops) share it.
#: Measured in bench_kernels' rotation with TF, same process, old and new alternated: G1's
#: uniform fill (14 MiB of work) 0.55-0.72 ms on two threads against 0.92-1.0 on one; G2
#: and G1 zero fill (1.5 MiB of copies) gained nothing on two threads (0.18-0.19 ms
#: either way; G1 zero 0.19-0.21 against 0.17-0.18): the entry into the threads costs
#: what the second core saves there, the call's Python running cold in the caches.
_COPY_COST = 0.25
#: A gaussian fill element costs about as much as copying this many bytes (a log, a sqrt,
#: a sin and a cos per element pair, from the C library): 3.7 ms for G1's ~100k filled
#: elements on one core.
_GAUSSIAN_ELEMENT_BYTES = 256

_M64 = (1 << 64) - 1
#: Output shape and fill mode of the glimpse calls that passed their checks (``_extract``).
_CHECKED: CheckedCalls[tuple[tuple[int | None, ...] | None, str]] = CheckedCalls()

Window = tuple[int, int] | None


def _loops() -> ModuleType:
    return compiled_loops("glimpse_loops")


# ----------------------------------------------------------------------------- helpers


def _shape_text(shape: Sequence[int | None]) -> str:
    """A shape as TensorFlow's DebugString writes it: ``[2,?,3]``."""
    return "[" + ",".join("?" if d is None else str(int(d)) for d in shape) + "]"


def _tf_says(ours: str, tensorflow: str) -> str:
    """A reason in plain words, then TensorFlow's own message (which glues shapes on) quoted."""
    return f'{ours}; TensorFlow: "{tensorflow}"'


def _fill_mode(uniform_noise: Any, noise: Any) -> str:
    """The effective fill (uniform, gaussian or zero), checked as TensorFlow's constructor does.

    ``None`` takes the attr's default (true, "uniform"); ``noise`` may be bytes.
    """
    noise = attr_text(noise, "noise", "uniform")
    if not isinstance(noise, str):
        raise InvalidArgumentError(
            f"noise: expected a string (uniform, gaussian, zero or empty), got {noise!r}",
            attr="noise",
        )
    uniform = attr_flag(uniform_noise, True)
    if uniform and noise not in ("", "uniform"):
        raise InvalidArgumentError(
            "uniform_noise: The uniform_noise and noise could not be specified at the same "
            f"time, got uniform_noise=true with noise='{noise}' (set uniform_noise to false "
            "to let noise decide)",
            attr="uniform_noise",
        )
    mode = ("uniform" if uniform else "gaussian") if noise == "" else noise
    if mode not in _NOISE_KINDS:
        raise InvalidArgumentError(
            "noise: "
            + _tf_says(
                f"expected uniform, gaussian, zero or empty, got '{mode}'",
                f"The noise could only be uniform, gaussian, or zero, got{mode}",
            ),
            attr="noise",
        )
    return mode


def _check_size_shape(shape: Sequence[int | None]) -> None:
    """``size`` must be a vector of 2 (a known shape; ``None`` dims pass)."""
    dims = tuple(shape)
    if len(dims) != 1 or dims[0] not in (2, None):
        shown = _shape_text(dims)
        raise InvalidArgumentError(
            "size: "
            + _tf_says(
                f"expected 2 values (height, width), got shape {shown}",
                f"input must be a vector of size 2 (height, width){shown}",
            ),
            port="size",
        )


def check_input_dtype(dtype: np.dtype[Any] | None, port: str = "input") -> None:
    """The input must convert to float32: integers and floats do; bool, complex and text do
    not (the same refusal the kernels make when they convert, named here for inference)."""
    if dtype is None or dtype == np.float32 or dtype.kind in "iuf" or dtype.name == "bfloat16":
        return
    raise InvalidArgumentError(
        f"{port}: expected float32 numbers, got values of type {dtype.name}", port=port
    )


def _size_pair(size: Any) -> tuple[int, int]:
    """``size`` as (h, w) Python ints, checked as TensorFlow checks it (shape, then signs)."""
    values = tf_array(size, "size", hint="int32")
    _check_size_shape(values.shape)
    if values.dtype.kind in "biu":
        pair = [int(v) for v in values.tolist()]
    elif values.dtype.kind == "f":
        floats = [float(v) for v in values.tolist()]
        if not all(math.isfinite(v) for v in floats):
            raise InvalidArgumentError(
                f"size: expected finite numbers (height, width), got {floats}", port="size"
            )
        pair = [int(v) for v in floats]  # TensorFlow's conversion truncates toward zero
    else:
        raise InvalidArgumentError(
            f"size: expected two integers (height, width), got {values.tolist()!r} of type "
            f"{values.dtype.name}",
            port="size",
        )
    for value in pair:
        if not _INT32_MIN <= value <= _INT32_MAX:
            raise InvalidArgumentError(
                f"size: expected int32 values (height, width), got {pair}", port="size"
            )
    for value in pair:
        if value < 0:
            raise InvalidArgumentError(
                f"size: Expected a non-negative size, got {value} (size = {pair})", port="size"
            )
    return pair[0], pair[1]


def _as_float32(array: np.ndarray, port: str) -> np.ndarray:
    """``array`` as float32; integers and other floats convert, anything else is refused."""
    if array.dtype == np.float32:
        return array
    check_input_dtype(array.dtype, port)
    with np.errstate(over="ignore", invalid="ignore"):
        return array.astype(np.float32)


# ----------------------------------------------------------------------------- shapes


def glimpse_output_shape(
    input_shape: Sequence[int | None] | None,
    size: Any,
    offsets_shape: Sequence[int | None] | None,
    *,
    centered: bool | None = True,
    normalized: bool | None = True,
    uniform_noise: bool | None = True,
    noise: str | bytes | None = "uniform",
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    size_shape: Sequence[int | None] | None = None,
) -> tuple[int | None, ...] | None:
    """Output shape ``(B, h, w, C)``; ``None`` dims where unknown (e.g. size comes from a wire).

    ``centered`` and ``normalized`` do not change the shape; they are accepted so that
    callers pass the attrs unchanged. ``size_shape``: the shape of a ``size`` whose value is
    not known yet (wired), checked as the value would be.
    """
    del centered, normalized
    _fill_mode(uniform_noise, noise)
    batch: int | None = None
    channels: int | None = None
    if input_shape is not None:
        dims = tuple(input_shape)
        if len(dims) != 4:
            shown = _shape_text(dims)
            raise InvalidArgumentError(
                "input: "
                + _tf_says(
                    f"expected a 4-D tensor [batch, height, width, depth], got shape {shown}",
                    f"input must be 4-dimensional (batch_size, height, width, depth){shown}",
                ),
                port="input",
            )
        batch, channels = dims[0], dims[3]
    height: int | None = None
    width: int | None = None
    if size is not None:
        height, width = _size_pair(size)
    elif size_shape is not None:
        _check_size_shape(size_shape)
    if offsets_shape is not None:
        rows = tuple(offsets_shape)
        shown = ""  # the shape as text, made only for an error (it costs microseconds)
        if len(rows) != 2 or rows[0] not in (batch, None) or rows[1] not in (2, None):
            shown = _shape_text(rows)
        if len(rows) != 2:
            raise InvalidArgumentError(
                "offsets: "
                + _tf_says(
                    f"expected a matrix [batch, 2], got shape {shown}",
                    f"input must be a matrix{shown}",
                ),
                port="offsets",
            )
        if batch is not None and rows[0] is not None and rows[0] != batch:
            raise InvalidArgumentError(
                "offsets: "
                + _tf_says(
                    f"expected one row per image ({batch}), got {rows[0]} in shape {shown}",
                    f"first dimension should be batch{shown}",
                ),
                port="offsets",
            )
        if rows[1] is not None and rows[1] != 2:
            raise InvalidArgumentError(
                "offsets: "
                + _tf_says(
                    f"expected 2 columns (y, x), got {rows[1]} in shape {shown}",
                    f"second dimension should be of size 2 (y,x){shown}",
                ),
                port="offsets",
            )
        if batch is None:
            batch = rows[0]
    shape = (batch, height, width, channels)
    if batch is not None and height is not None and width is not None and channels is not None:
        nbytes = 4 * int(batch) * height * width * int(channels)
        if nbytes > memory_limit:
            raise MemoryLimitError(
                f"size: the glimpse output {_shape_text(shape)} float32 would need {nbytes} "
                f"bytes, more than the memory limit of {memory_limit} bytes",
                port="size",
            )
    return shape


# ----------------------------------------------------------------------------- windows


def glimpse_windows(
    input_shape: Sequence[int],
    size: Sequence[int] | np.ndarray,
    offsets: Any,
    *,
    version: int,
    centered: bool,
    normalized: bool,
) -> list[Window]:
    """Each batch item's window ``(top, left)`` in image pixels, or ``None`` if it is all fill.

    The window covers rows ``top .. top+h-1`` and columns ``left .. left+w-1``; it may hang
    over the image's border. ``None`` marks a glimpse no image pixel lands in (non-finite
    or huge offsets, a window entirely outside, an empty image or an empty window).
    """
    if version not in (1, 2):
        raise InvalidArgumentError(f"glimpse version must be 1 or 2, got {version!r}")
    out_h, out_w = _size_pair(size)
    dims = tuple(int(d) for d in input_shape)
    if len(dims) != 4:
        raise InvalidArgumentError(
            f"input: expected a 4-D shape [B,H,W,C], got {_shape_text(dims)}", port="input"
        )
    points = _as_float32(tf_array(offsets, "offsets", hint="float32"), "offsets")
    if points.shape != (dims[0], 2):
        raise InvalidArgumentError(
            f"offsets: expected shape [{dims[0]},2], got {_shape_text(points.shape)}",
            port="offsets",
        )
    corners, shown = _loops().window_corners(
        np.ascontiguousarray(points), dims[1], dims[2], out_h, out_w, version,
        attr_flag(centered, True), attr_flag(normalized, True),
    )
    return [
        (top, left) if visible else None
        for (top, left), visible in zip(corners.tolist(), shown.tolist(), strict=True)
    ]


# ----------------------------------------------------------------------------- noise


def _mix64(value: int) -> int:
    """SplitMix64's output mixer on a Python int (64-bit arithmetic)."""
    value &= _M64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _M64
    return value ^ (value >> 31)


def _noise_key(seed: int | None) -> int:
    """The 64-bit key of a call: ``seed`` folded and mixed, or a random one for fresh noise."""
    if seed is None:
        return secrets.randbits(64)
    key, rest = 0, int(seed)
    while True:
        key = _mix64(key ^ (rest & _M64))
        rest >>= 64
        if not rest:
            return key


# ----------------------------------------------------------------------------- kernels


def _extract(
    version: int,
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool | None,
    normalized: bool | None,
    uniform_noise: bool | None,
    noise: str | bytes | None,
    seed: int | None,
    item_offset: int,
    memory_limit: int,
    cancel: threading.Event | None,
) -> np.ndarray:
    image_in = tf_array(input, "input", hint="float32")
    offsets_in = tf_array(offsets, "offsets", hint="float32")
    size_in = tf_array(size, "size", hint="int32")
    # Calls that passed are remembered (what the checks depend on, as the key): after a
    # glimpse has streamed megabytes they run cold in the CPU's caches, 10-16 us of G2's
    # 0.2 ms in bench_kernels; failing calls are checked, and raise, every time.
    attrs = (type(uniform_noise), uniform_noise, type(noise), noise, memory_limit)
    checks_key = call_key(image_in.shape, small_value_key(size_in), offsets_in.shape, attrs)
    decided = _CHECKED.get(checks_key)
    if decided is None:
        decided = (
            glimpse_output_shape(
                image_in.shape, size_in, offsets_in.shape, uniform_noise=uniform_noise,
                noise=noise, memory_limit=memory_limit,
            ),
            _fill_mode(uniform_noise, noise),
        )
        _CHECKED.keep(checks_key, decided)
    shape, mode = decided
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise InvalidArgumentError(f"seed: expected a non-negative integer or None, got {seed!r}")
    if not isinstance(item_offset, int | np.integer) or item_offset < 0:
        raise InvalidArgumentError(
            f"item_offset: expected a non-negative integer, got {item_offset!r}"
        )
    image = _as_float32(image_in, "input")
    points = np.ascontiguousarray(_as_float32(offsets_in, "offsets"))
    assert shape is not None and shape[1] is not None and shape[2] is not None
    batch, height, width, channels = image.shape
    out_h, out_w = shape[1], shape[2]
    if batch * out_h * out_w * channels == 0:
        return np.empty((batch, out_h, out_w, channels), np.float32)
    if height == 0 or width == 0:
        return np.full((batch, out_h, out_w, channels), 0 if mode == "zero" else _TF_NAN,
                       np.float32)
    flat_image = np.ascontiguousarray(image).reshape(-1)
    out = np.empty((batch, out_h, out_w, channels), np.float32)
    flat_out = out.reshape(-1)
    key = np.uint64(0 if mode == "zero" else _noise_key(None if seed is None else int(seed)))
    centered_flag, normalized_flag = attr_flag(centered, True), attr_flag(normalized, True)
    loops = _loops()
    fill = {"zero": loops.ZERO, "uniform": loops.UNIFORM, "gaussian": loops.GAUSSIAN}[mode]
    # The work in copied-byte equivalents: each glimpse, plus for an item with noise fill
    # its whole image (its statistics read it all) and, for gaussian, its glimpse again
    # weighted by the cost of a gaussian element (an upper bound: not every element is
    # fill). The items with fill are counted only when that can change the plan.
    glimpse_bytes = 4 * out_h * out_w * channels
    fill_item_bytes = 0 if mode == "zero" else 4 * height * width * channels
    if mode == "gaussian":
        fill_item_bytes += glimpse_bytes // 4 * _GAUSSIAN_ELEMENT_BYTES
    work = batch * (glimpse_bytes + fill_item_bytes)
    if fill_item_bytes and work >= _PIECE_BYTES:
        work = batch * glimpse_bytes + fill_item_bytes * loops.items_with_fill(
            points, height, width, out_h, out_w, version, centered_flag, normalized_flag
        )
    # numba's threads take the work from pieces.LOOP_SHARED_MIN on, which counts floats
    # weighted by their cost against a bilinear lerp's (_COPY_COST).
    threads, _ = loop_threads(work / 4 * _COPY_COST,
                              pool_min=_PARALLEL_MIN_BYTES / 4 * _COPY_COST)
    pieces = max(1, min(batch, max(-(-work // _PIECE_BYTES), shared_pieces(threads))))
    args = (flat_image, points, batch, height, width, channels, flat_out, out_h, out_w,
            version, centered_flag, normalized_flag, fill, key, int(item_offset))
    if pieces == 1:  # small work: one call, no thread hand-off (it costs more than the work)
        check_cancel(cancel)
        loops.glimpse_items(flat_image, points, 0, batch, *args[2:])
    else:
        run_loop_ranges(loops.glimpse_items, batch, pieces, args, cancel, threads)
    return out


def extract_glimpse(
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool | None = True,
    normalized: bool | None = True,
    uniform_noise: bool | None = True,
    noise: str | bytes | None = "uniform",
    seed: int | None = None,
    item_offset: int = 0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """V1 semantics (the C++ tensorflow::ops::ExtractGlimpse)."""
    return _extract(
        1, input, size, offsets, centered=centered, normalized=normalized,
        uniform_noise=uniform_noise, noise=noise, seed=seed, item_offset=item_offset,
        memory_limit=memory_limit, cancel=cancel,
    )


def extract_glimpse_v2(
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool | None = True,
    normalized: bool | None = True,
    uniform_noise: bool | None = True,
    noise: str | bytes | None = "uniform",
    seed: int | None = None,
    item_offset: int = 0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """V2 semantics (tf.image.extract_glimpse)."""
    return _extract(
        2, input, size, offsets, centered=centered, normalized=normalized,
        uniform_noise=uniform_noise, noise=noise, seed=seed, item_offset=item_offset,
        memory_limit=memory_limit, cancel=cancel,
    )
