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

Speed (no Python loop per image or window): every window is computed at once; when the
window fits in the image, one fancy index into a strided view of all h x w windows
gathers every glimpse at its position clamped into the image (for the windows inside
the image that is the answer); the items whose window crosses the border or misses the
image are then redone in pieces: their in-image pixels gathered by flat index, the fill
written through a mask, noise hashed for those items only and image statistics reduced
for those items only. Temporaries stay within the output's size (or 4 MiB).
"""

from __future__ import annotations

import functools
import math
import secrets
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError
from blocks.kernels.arguments import attr_flag, attr_text, check_cancel, tf_array
from blocks.spec import DEFAULT_MEMORY_LIMIT

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_NOISE_KINDS = ("uniform", "gaussian", "zero")
_F32 = np.float32
# float32 values at or beyond 2**63 (and NaN/inf) do not convert to int64; TensorFlow's
# conversion then yields INT64_MIN, which makes the whole glimpse fill.
_INT64_LIMIT = np.float32(2.0**63)
#: TensorFlow's NaN for the statistics of an empty image: x86's default NaN, sign bit set.
_TF_NAN = np.array(0xFFC00000, np.uint32).view(np.float32)[()]
#: Temporaries of the pieces stay within the output's size or this, whichever is larger.
_PIECE_MIN_BYTES = 4 << 20
#: Images are reduced for noise statistics in pieces of about this size (in cache).
_STATS_PIECE_BYTES = 1 << 20
#: Per-channel statistics reduce rows of up to this many values (a power of two).
_FOLD_ROW = 1 << 13
#: Glimpse rows at least this many floats long are copied whole from a strided view.
_ROW_GATHER_MIN = 16

_M64 = (1 << 64) - 1
_GAMMA64 = np.uint64(0x9E3779B97F4A7C15)
_GOLDEN32 = np.uint32(0x9E3779B9)
_TWO_PI = np.float32(2 * np.pi)
_TWO_M24 = np.float32(2.0**-24)

Window = tuple[int, int] | None


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


def _size_pair(size: Any) -> tuple[int, int]:
    """``size`` as (h, w) Python ints, checked as TensorFlow checks it (shape, then signs)."""
    values = tf_array(size, "size", hint="int32")
    if values.ndim != 1 or values.shape[0] != 2:
        shown = _shape_text(values.shape)
        raise InvalidArgumentError(
            "size: "
            + _tf_says(
                f"expected 2 values (height, width), got shape {shown}",
                f"input must be a vector of size 2 (height, width){shown}",
            ),
            port="size",
        )
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
    if array.dtype.kind in "iuf" or array.dtype.name == "bfloat16":
        with np.errstate(over="ignore", invalid="ignore"):
            return array.astype(np.float32)
    raise InvalidArgumentError(
        f"{port}: expected float32 numbers, got values of type {array.dtype.name}", port=port
    )


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
) -> tuple[int | None, ...] | None:
    """Output shape ``(B, h, w, C)``; ``None`` dims where unknown (e.g. size comes from a wire).

    ``centered`` and ``normalized`` do not change the shape; they are accepted so that
    callers pass the attrs unchanged.
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
    if offsets_shape is not None:
        rows = tuple(offsets_shape)
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
    if all(d is not None for d in shape):
        nbytes = 4 * math.prod(int(d) for d in shape if d is not None)
        if nbytes > memory_limit:
            raise MemoryLimitError(
                f"size: the glimpse output {_shape_text(shape)} float32 would need {nbytes} "
                f"bytes, more than the memory limit of {memory_limit} bytes",
                port="size",
            )
    return shape


# ----------------------------------------------------------------------------- windows


def _window_starts(
    offsets: np.ndarray, extents_in: tuple[int, int], extents_out: tuple[int, int], version: int,
    centered: bool, normalized: bool,
) -> np.ndarray:
    """Float32 (y, x) window starts ``[B, 2]``, operation by operation as Eigen does them."""
    if version == 2 and not centered and not normalized:
        return offsets  # V2 takes uncentred pixel offsets as they are
    two = _F32(2)
    full = np.asarray(extents_in, np.float32)  # Index -> float conversion, rounded to nearest
    half_in = full / two
    half_out = np.asarray(extents_out, np.float32) / two
    start = offsets
    with np.errstate(over="ignore", invalid="ignore"):
        if version == 1:
            if normalized:
                start = start * full
            if centered:
                start = start / two
                start = start + half_in
            start = start - half_out
        elif normalized:
            start = start * full
            if centered:
                start = start / two
                start = start + half_in
                start = start - half_out
        else:
            start = start + half_in
    return start


def _window_arrays(
    input_shape: Sequence[int], size: tuple[int, int], offsets: np.ndarray, version: int,
    centered: bool, normalized: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """``(corners, shown)``: int64 ``[B, 2]`` (top, left) and bool ``[B]``, whether any image
    pixel lands in the window. Where none does, the corner is ``(-h, -w)``: every glimpse
    pixel then lies outside the image, so the arithmetic of the kernel needs no exception."""
    height, width = int(input_shape[1]), int(input_shape[2])
    out_h, out_w = size
    starts = _window_starts(offsets, (height, width), size, version, centered, normalized)
    # A pixel lands iff -h < int(y) < H and -w < int(x) < W. Truncation toward zero keeps
    # these bounds, so the float32 starts are compared directly (exactly, in float64);
    # NaN compares false, and huge values fall outside before any int conversion.
    low = np.asarray([-out_h, -out_w], np.float64)
    with np.errstate(invalid="ignore"):
        lands = (starts > low) & (starts < np.asarray([height, width], np.float64))
    shown = lands[:, 0] & lands[:, 1]
    if out_h == 0 or out_w == 0:
        shown[:] = False
    corners = np.where(shown[:, None], starts, low).astype(np.int64)  # truncates
    return corners, shown


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
    pair = _size_pair(size)
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
    corners, shown = _window_arrays(
        dims, pair, points, version, attr_flag(centered, True), attr_flag(normalized, True)
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


def _item_keys(key: int, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each item's ``(k1, k2)`` uint32 keys ``[n, 1]`` from the call key and global indices."""
    z = items.astype(np.uint64)
    z += np.uint64(1)
    z *= _GAMMA64  # wraps mod 2**64, as SplitMix64 does
    z += np.uint64(key)
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    halves = z.view(np.uint32).reshape(-1, 2)  # little-endian: (low, high)
    if not np.little_endian:  # pragma: no cover - big-endian machines
        halves = halves[:, ::-1]
    return halves[:, 0:1], halves[:, 1:2]


def _steps(bits: np.ndarray) -> np.ndarray:
    """float32 ``bits >> 8``: whole numbers below 2**24, exact in float32."""
    bits >>= np.uint32(8)
    return bits.astype(np.float32)


def _image_stats(mode: str, image: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, ...]:
    """What the fill of ``items`` needs from their images, each ``[len(items), 1 or C]``:
    uniform ``(lo, span)`` over H, W, C (NaN skipped); gaussian ``(mean, std, min, max)``
    per channel (population std; a channel holding NaN gives NaN).

    Images are reduced in pieces of about 1 MiB — runs of consecutive items, as views —
    so that each piece is read from memory once and its several reductions find it in
    cache. The pieces are the runs of ``items`` themselves, or all images where that is
    cheaper (many short runs of small images).
    """
    batch, channels = image.shape[0], image.shape[3]
    flat = image.reshape(batch, -1)
    per_piece = max(1, _STATS_PIECE_BYTES // (4 * flat.shape[1]))
    breaks = np.flatnonzero(np.diff(items) != 1) + 1
    run_starts = items[np.concatenate(([0], breaks))]
    run_ends = items[np.concatenate((breaks - 1, [len(items) - 1]))] + 1
    run_pieces = -(-(run_ends - run_starts) // per_piece)
    # Cost in bytes read, a piece's overhead counted as 64 KiB.
    cost_runs = 4 * flat.shape[1] * len(items) + (64 << 10) * int(run_pieces.sum())
    cost_all = 4 * flat.size + (64 << 10) * -(-batch // per_piece)
    if cost_all < cost_runs:
        run_starts, run_ends = np.asarray([0]), np.asarray([batch])
    starts = [
        (first, min(first + per_piece, end))
        for begin, end in zip(run_starts.tolist(), run_ends.tolist(), strict=True)
        for first in range(begin, end, per_piece)
    ]
    if mode == "uniform":
        parts = [_uniform_stats(flat[first:last]) for first, last in starts]
    else:
        # One scratch piece for all pieces: fresh large temporaries cost page faults.
        scratch = np.empty(min(per_piece, batch) * flat.shape[1], np.float32)
        parts = [_gaussian_stats(flat[first:last], channels, scratch) for first, last in starts]
    stats = [np.concatenate(column) for column in zip(*parts, strict=True)]
    position = np.concatenate([np.arange(first, last) for first, last in starts])
    where = np.searchsorted(position, items)  # each item's row in the stats
    return tuple(column[where] for column in stats)


def _uniform_stats(piece: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(lo, span)`` ``[m, 1]`` of images ``piece`` ``[m, H*W*C]``, NaN pixels skipped."""
    flat = piece.reshape(-1)
    starts = np.arange(0, flat.size, piece.shape[1])
    # reduceat: one call over all images (faster than an axis reduction for short rows);
    # minimum/maximum are fast but NaN-propagating, so rows with NaN are redone with fmin.
    lo = np.minimum.reduceat(flat, starts)
    hi = np.maximum.reduceat(flat, starts)
    with np.errstate(invalid="ignore", over="ignore"):
        nan = np.isnan(lo) | np.isnan(hi)
        if nan.any():
            # TensorFlow's (Eigen's) min/max skip NaN pixels; fmin/fmax do too.
            lo[nan] = np.fmin.reduce(piece[nan], axis=1)
            hi[nan] = np.fmax.reduce(piece[nan], axis=1)
        return lo[:, None], (hi - lo)[:, None]


def _gaussian_stats(
    piece: np.ndarray, channels: int, scratch: np.ndarray
) -> tuple[np.ndarray, ...]:
    """``(mean, std, min, max)`` ``[m, C]`` per image and channel of ``piece`` ``[m, H*W*C]``
    (``scratch`` holds at least ``piece.size`` float32)."""
    count, size = piece.shape
    work = scratch[: piece.size]
    pixels = size // channels
    group = pixels & -pixels  # the largest power of two dividing H*W
    while group * channels > _FOLD_ROW:
        group //= 2
    with np.errstate(invalid="ignore", over="ignore"):
        if channels > 1 and group * channels >= _FOLD_ROW // 16:
            # Rows of `group` pixels: reduce them into one row, then fold that row in
            # halves down to C values; every step runs over long contiguous rows.
            rows = piece.reshape(count, pixels // group, group * channels)

            def fold(combine: Any, values: np.ndarray) -> np.ndarray:
                part = combine.reduce(values, axis=1)
                while part.shape[1] > 64 * channels:
                    half = part.shape[1] // 2
                    part = combine(part[:, :half], part[:, half:])
                return combine.reduce(part.reshape(count, -1, channels), axis=1)

            low, high = fold(np.minimum, rows), fold(np.maximum, rows)
            mean = fold(np.add, rows) / _F32(pixels)
            centred = work.reshape(rows.shape)
            np.subtract(rows, np.tile(mean, group)[:, None, :], out=centred)
        else:
            # One contiguous row per channel (a copy: it is centred in place below).
            rows = work.reshape(count, channels, pixels)
            np.copyto(rows, piece.reshape(count, pixels, channels).transpose(0, 2, 1))
            low, high = rows.min(axis=2), rows.max(axis=2)
            mean = rows.mean(axis=2)  # numpy's row sum is pairwise: accurate in float32
            centred = rows
            centred -= mean[:, :, None]

            def fold(combine: Any, values: np.ndarray) -> np.ndarray:
                return combine.reduce(values, axis=2)

        centred *= centred
        std = np.sqrt(fold(np.add, centred) / _F32(pixels))
    return mean, std, low, high


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
    shape = glimpse_output_shape(
        image_in.shape, size_in, offsets_in.shape, uniform_noise=uniform_noise, noise=noise,
        memory_limit=memory_limit,
    )
    mode = _fill_mode(uniform_noise, noise)
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        raise InvalidArgumentError(f"seed: expected a non-negative integer or None, got {seed!r}")
    if not isinstance(item_offset, int | np.integer) or item_offset < 0:
        raise InvalidArgumentError(
            f"item_offset: expected a non-negative integer, got {item_offset!r}"
        )
    image = _as_float32(image_in, "input")
    points = _as_float32(offsets_in, "offsets")
    assert shape is not None and all(d is not None for d in shape)
    batch, out_h, out_w, channels = (int(d) for d in shape if d is not None)
    height, width = image.shape[1], image.shape[2]
    if batch * out_h * out_w * channels == 0:
        return np.empty((batch, out_h, out_w, channels), np.float32)
    if height == 0 or width == 0:
        return np.full((batch, out_h, out_w, channels), 0 if mode == "zero" else _TF_NAN,
                       np.float32)
    corners, _ = _window_arrays(  # a window showing no pixel has its corner at (-h, -w)
        image.shape, (out_h, out_w), points, version, attr_flag(centered, True),
        attr_flag(normalized, True),
    )
    image = np.ascontiguousarray(image)
    room = np.asarray([height - out_h, width - out_w], np.int64)
    if out_h <= height and out_w <= width:
        # Inside: 0 <= top <= H-h and 0 <= left <= W-w, one unsigned comparison each.
        fits = corners.view(np.uint64) <= room.view(np.uint64)
        redo = np.flatnonzero(~(fits[:, 0] & fits[:, 1]))
    else:  # the window is larger than the image: every glimpse has fill
        redo = np.arange(batch)
    if redo.size < batch and out_w * channels >= _ROW_GATHER_MIN:
        # Every glimpse at its window clamped into the image, glimpse rows copied whole
        # from a strided view of all h x (w*C) windows: exact for the windows inside.
        st = image.strides
        windows = np.lib.stride_tricks.as_strided(
            image,
            (batch, height - out_h + 1, width - out_w + 1, out_h, out_w * channels),
            (st[0], st[1], st[2], st[1], st[3]),
            writeable=False,
        )
        clamped = np.minimum(np.maximum(corners, 0), room)
        out = windows[np.arange(batch), clamped[:, 0], clamped[:, 1]]
        every_item = False
    else:
        # Small windows (or all with fill): every glimpse pixel by flat index.
        out = np.empty((batch, out_h, out_w * channels), np.float32)
        every_item = True
    if redo.size or every_item:
        key = 0 if mode == "zero" else _noise_key(None if seed is None else int(seed))
        _gather_and_fill(out, image, corners, redo, mode, key, int(item_offset), every_item,
                         cancel)
    return out.reshape(batch, out_h, out_w, channels)


def _piece_items(out: np.ndarray, bytes_per_element: int) -> int:
    """Items per piece so that temporaries of ``bytes_per_element`` per glimpse element
    stay within the output's size (or ``_PIECE_MIN_BYTES``); ``out`` is ``[B, h, w*C]``."""
    budget = max(out.nbytes, _PIECE_MIN_BYTES)
    return max(1, budget // (bytes_per_element * out.shape[1] * out.shape[2]))


def _take(out: np.ndarray, image: np.ndarray, corners: np.ndarray, items: np.ndarray) -> None:
    """``out[n] = glimpse of items[n]`` (window corner ``corners[n]``) where in the image;
    anything (another pixel) elsewhere.

    Each glimpse pixel's flat index is the window's top-left index plus a fixed pattern;
    indices beyond the image are clipped by ``take`` and their values overwritten later.
    """
    _, height, width, channels = image.shape
    out_h, out_w = out.shape[1], out.shape[2] // channels
    base = corners @ np.asarray([width, 1], np.int64)
    base += items * (height * width)
    index = np.add(base[:, None], _pattern(out_h, out_w, width))
    if channels == 1:
        np.take(image.reshape(-1), index, out=out.reshape(len(items), -1), mode="clip")
    else:
        np.take(image.reshape(-1, channels), index.reshape(-1), axis=0,
                out=out.reshape(-1, channels), mode="clip")


@functools.lru_cache(maxsize=64)
def _pattern(out_h: int, out_w: int, width: int) -> np.ndarray:
    """Flat pixel offsets ``i*W + j`` of a glimpse's pixels from its top-left (cached)."""
    pattern = (np.arange(out_h, dtype=np.int64)[:, None] * width + np.arange(out_w)).reshape(-1)
    pattern.flags.writeable = False
    return pattern


def _gather_and_fill(
    out: np.ndarray, image: np.ndarray, corners: np.ndarray, redo: np.ndarray, mode: str,
    key: int, item_offset: int, every_item: bool, cancel: threading.Event | None,
) -> None:
    """Gather by flat index and fill: every item in place (``every_item``), or only the
    items ``redo`` (windows crossing the border or missing the image) into pieces that are
    then written back. ``out`` is ``[B, h, w*C]``; ``redo`` are the items with fill.

    In pieces of items whose temporaries (flat indices, masks, noise bits and values)
    stay within the output's size or 4 MiB. Noise is computed for the filled elements
    only; image statistics and item keys for the items in ``redo`` only.
    """
    batch, out_h, row = out.shape
    _, height, width, channels = image.shape
    out_w = row // channels
    items = np.arange(batch) if every_item else redo
    step = _piece_items(out, 40)
    stats: tuple[np.ndarray, ...] = ()
    keys = (np.empty(0, np.uint32), np.empty(0, np.uint32))
    slot = np.empty(0, np.intp)  # an item's row in stats and keys
    if mode != "zero" and redo.size:
        stats = tuple(column.reshape(-1) for column in _image_stats(mode, image, redo))
        low_key, high_key = _item_keys(key, redo + item_offset)
        keys = (low_key[:, 0], high_key[:, 0])
        if every_item:
            slot = np.empty(batch, np.intp)
            slot[redo] = np.arange(len(redo))
    for start in range(0, len(items), step):
        check_cancel(cancel)
        chosen = items[start : start + step]
        if every_item:
            piece = out[start : start + len(chosen)]
            where = corners[start : start + len(chosen)]
        else:
            piece = np.empty((len(chosen), out_h, row), np.float32)
            where = corners[chosen]
        _take(piece, image, where, chosen)
        # Glimpse rows and columns inside the image: 0 <= top + i < H, 0 <= left + j < W.
        rows_in = (where[:, 0:1] + _counting(out_h)).view(np.uint64) < height
        cols_in = (where[:, 1:2] + _counting(out_w)).view(np.uint64) < width
        if channels > 1:  # per element, so that every later step runs over flat arrays
            cols_in = np.repeat(cols_in, channels, axis=1)
        outside = ~(rows_in[:, :, None] & cols_in[:, None, :])
        if mode == "zero":
            np.copyto(piece, _F32(0), where=outside)
        elif stats:
            # The filled elements of this piece: (item in the piece, position in its glimpse).
            item, position = np.nonzero(outside.reshape(len(chosen), -1))
            rows = slot[item + start] if every_item else item + start
            piece.reshape(len(chosen), -1)[item, position] = _noise_at(
                mode, rows, position.astype(np.uint32), channels, keys, stats
            )
        if not every_item:
            out[chosen] = piece


def _noise_at(
    mode: str, item: np.ndarray, positions: np.ndarray, channels: int,
    keys: tuple[np.ndarray, np.ndarray], stats: tuple[np.ndarray, ...],
) -> np.ndarray:
    """Noise for the elements at ``positions`` (uint32) of the glimpses of items ``item``
    (indices into ``keys`` ``[n]`` and ``stats``, which are flat: ``[n]`` for uniform,
    ``[n*C]`` per item and channel for gaussian)."""
    k1, k2 = keys[0][item], keys[1][item]
    with np.errstate(over="ignore", invalid="ignore"):
        if mode == "uniform":
            lo, span = stats[0][item], stats[1][item]
            values = _steps(_bits_at(positions, k1, k2))
            span *= _TWO_M24
            values *= span
            values += lo
            return values
        # Box-Muller on the pair (2q, 2q+1) each element belongs to.
        first = _steps(_bits_at(positions & np.uint32(0xFFFFFFFE), k1, k2))
        first += _F32(0.5)
        first *= _TWO_M24
        np.log(first, out=first)
        first *= _F32(-2)
        radius = np.sqrt(first, out=first)
        angle = _steps(_bits_at(positions | np.uint32(1), k1, k2))
        angle *= _TWO_M24 * _TWO_PI
        values = np.where((positions & np.uint32(1)).astype(bool), np.sin(angle), np.cos(angle))
        values *= radius
        channel = item * channels
        channel += positions % np.uint32(channels)
        mean, std, low, high = (column[channel] for column in stats)
        values *= std
        values += mean
        np.minimum(values, high, out=values)
        np.maximum(values, low, out=values)
        return values


def _bits_at(positions: np.ndarray, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """uint32 ``lowbias32(((p * 0x9E3779B9) ^ k2) + k1)`` for element positions ``p``."""
    bits = positions * _GOLDEN32
    bits ^= k2
    bits += k1  # wraps mod 2**32
    scratch = np.empty_like(bits)
    # Chris Wellons' lowbias32 (an fmix32 with better constants).
    np.right_shift(bits, 16, out=scratch)
    bits ^= scratch
    bits *= np.uint32(0x7FEB352D)
    np.right_shift(bits, 15, out=scratch)
    bits ^= scratch
    bits *= np.uint32(0x846CA68B)
    np.right_shift(bits, 16, out=scratch)
    bits ^= scratch
    return bits


@functools.lru_cache(maxsize=64)
def _counting(count: int) -> np.ndarray:
    """``0, 1, ..., count-1`` as int64 (read-only, cached)."""
    steps = np.arange(count, dtype=np.int64)
    steps.flags.writeable = False
    return steps


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
