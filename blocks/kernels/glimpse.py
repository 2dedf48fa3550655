"""ExtractGlimpse (V1) and ExtractGlimpseV2, bit-exact with TensorFlow 2.21 (SPEC section 2).

Contract:
* ``extract_glimpse`` / ``extract_glimpse_v2(input, size, offsets, *, centered, normalized,
  uniform_noise, noise, seed, memory_limit)`` return ``[B, h, w, C]`` float32 where
  ``out[b, i, j, c] = input[b, top_b + i, left_b + j, c]`` for pixels inside the image and
  the fill value elsewhere. ``input`` is converted to float32 ``[B,H,W,C]``, ``size`` to
  two int32 values (integral floats are accepted, fractions refused), ``offsets`` to
  float32 ``[B,2]`` = (y, x). TensorFlow itself takes only float32/int32/float32; the
  conversion serves values typed as literals or wired from other dtypes. Integer and
  floating inputs convert as numpy casts them; bool, complex and text are refused.
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
(H or W is 0) fills with NaN for uniform and gaussian (TensorFlow's statistics of
nothing). Unlike TensorFlow, the noise is reproducible and keyed per item: batch item
``b`` draws from its own counter-based stream (Philox keyed by ``seed``, counter at the
item's global index ``item_offset + b``), so item i's noise is the same whatever batch
or chunk it runs in (the batch runner passes each chunk's first global index).
``seed=None`` draws one fresh key per call. Noise is drawn only for the filled elements,
in image order, so a glimpse fully inside its image costs nothing for noise.

Errors are :class:`~blocks.errors.InvalidArgumentError` with ``port`` (input, size,
offsets) or ``attr`` (uniform_noise, noise) set and the reason ``"<name>: <TensorFlow's
message> ..."``, in TensorFlow's order: noise combination; unknown noise; input not 4-D;
size not a 2-vector (then: not integral / not an int32); negative size (height first);
offsets not a matrix; offsets' first dim != batch; offsets' second dim != 2; finally an
output larger than ``memory_limit`` bytes is a :class:`~blocks.errors.MemoryLimitError`.

Speed: per image one slice copy of the in-image rectangle into a preallocated output and,
for a window crossing the border, up to four fill strips around it; image statistics
for noise are computed only for images that have fill.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from typing import Any

import numpy as np

from blocks.errors import InvalidArgumentError, MemoryLimitError
from blocks.spec import DEFAULT_MEMORY_LIMIT

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_NOISE_KINDS = ("uniform", "gaussian", "zero")
_F32 = np.float32
# float32 values at or beyond 2**63 (and NaN/inf) do not convert to int64; TensorFlow's
# conversion then yields INT64_MIN, which makes the whole glimpse fill.
_INT64_LIMIT = 2.0**63

Window = tuple[int, int] | None


# ----------------------------------------------------------------------------- helpers


def _shape_text(shape: Sequence[int | None]) -> str:
    """A shape as TensorFlow's DebugString writes it: ``[2,?,3]``."""
    return "[" + ",".join("?" if d is None else str(int(d)) for d in shape) + "]"


def _fill_mode(uniform_noise: Any, noise: Any) -> str:
    """The effective fill (uniform, gaussian or zero), checked as TensorFlow's constructor does."""
    if not isinstance(noise, str):
        raise InvalidArgumentError(
            f"noise: expected a string (uniform, gaussian, zero or empty), got {noise!r}",
            attr="noise",
        )
    uniform = bool(uniform_noise)
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
            f"noise: The noise could only be uniform, gaussian, or zero, got{mode} "
            f"(noise='{mode}')",
            attr="noise",
        )
    return mode


def _size_pair(size: Any) -> tuple[int, int]:
    """``size`` as (h, w) Python ints, checked as TensorFlow checks it (shape, then signs)."""
    try:
        values = np.asarray(size)
    except (ValueError, TypeError) as error:
        raise InvalidArgumentError(
            f"size: expected two integers (height, width), got {size!r}", port="size"
        ) from error
    if values.ndim != 1 or values.shape[0] != 2:
        shown = _shape_text(values.shape)
        raise InvalidArgumentError(
            f"size: input must be a vector of size 2 (height, width){shown}, got shape {shown}",
            port="size",
        )
    if values.dtype.kind in "iu":
        pair = [int(v) for v in values.tolist()]
    elif values.dtype.kind == "f":
        floats = [float(v) for v in values.tolist()]
        if not all(math.isfinite(v) and v == int(v) for v in floats):
            raise InvalidArgumentError(
                f"size: expected whole numbers (height, width), got {floats}", port="size"
            )
        pair = [int(v) for v in floats]
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


def _as_float32(value: Any, port: str) -> np.ndarray:
    """``value`` as a float32 array; integers and other floats convert, anything else is refused."""
    array = _as_array(value, port)
    if array.dtype == np.float32:
        return array
    if array.dtype.kind in "iuf" or array.dtype.name == "bfloat16":
        with np.errstate(over="ignore", invalid="ignore"):
            return array.astype(np.float32)
    raise InvalidArgumentError(
        f"{port}: expected float32 numbers, got values of type {array.dtype.name}", port=port
    )


def _as_array(value: Any, port: str) -> np.ndarray:
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as error:
        raise InvalidArgumentError(f"{port}: expected a tensor, got {error}", port=port) from error


# ----------------------------------------------------------------------------- shapes


def glimpse_output_shape(
    input_shape: Sequence[int | None] | None,
    size: np.ndarray | None,
    offsets_shape: Sequence[int | None] | None,
    *,
    centered: bool = True,
    normalized: bool = True,
    uniform_noise: bool = True,
    noise: str = "uniform",
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
                "input: input must be 4-dimensional (batch_size, height, width, depth)"
                f"{shown}, got rank {len(dims)} shape {shown}",
                port="input",
            )
        batch, channels = dims[0], dims[3]
    height: int | None = None
    width: int | None = None
    if size is not None:
        height, width = _size_pair(size)
    if offsets_shape is not None:
        rows = tuple(offsets_shape)
        shown = _shape_text(rows) if len(rows) != 2 or rows[1] != 2 or (
            batch is not None and rows[0] is not None and rows[0] != batch) else ""
        if len(rows) != 2:
            raise InvalidArgumentError(
                f"offsets: input must be a matrix{shown}, got shape {shown} (expected [batch, 2])",
                port="offsets",
            )
        if batch is not None and rows[0] is not None and rows[0] != batch:
            raise InvalidArgumentError(
                f"offsets: first dimension should be batch{shown}, got {rows[0]} rows for a "
                f"batch of {batch}",
                port="offsets",
            )
        if rows[1] is not None and rows[1] != 2:
            raise InvalidArgumentError(
                f"offsets: second dimension should be of size 2 (y,x){shown}, got {rows[1]} "
                "columns",
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


def _windows(
    input_shape: Sequence[int], size: tuple[int, int], offsets: np.ndarray, version: int,
    centered: bool, normalized: bool,
) -> list[Window]:
    """The windows of :func:`glimpse_windows`, from checked arguments."""
    _, height, width, _ = (int(d) for d in input_shape)
    out_h, out_w = size
    starts = _window_starts(offsets, (height, width), size, version, centered, normalized)
    if out_h == 0 or out_w == 0:
        return [None] * len(starts)
    windows: list[Window] = []
    append = windows.append
    limit = _INT64_LIMIT
    # float32 -> Python float is exact, and int() truncates toward zero like the C cast.
    for y, x in starts.tolist():
        if -limit < y < limit and -limit < x < limit:  # False for NaN too
            top, left = int(y), int(x)
            if -out_h < top < height and -out_w < left < width:
                append((top, left))
                continue
        append(None)
    return windows


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
    points = _as_float32(offsets, "offsets")
    if points.shape != (dims[0], 2):
        raise InvalidArgumentError(
            f"offsets: expected shape [{dims[0]},2], got {_shape_text(points.shape)}",
            port="offsets",
        )
    return _windows(dims, pair, points, version, centered, normalized)


# ----------------------------------------------------------------------------- fill


class _Filler:
    """Writes the fill value into regions of one output, drawing noise only for those regions."""

    def __init__(self, mode: str, image: np.ndarray, seed: int | None, item_offset: int) -> None:
        self.mode = mode
        self.image = image
        self.empty_image = image.shape[1] == 0 or image.shape[2] == 0
        # Fresh noise: one random key for the whole call, still one stream per item.
        self._key = secrets.randbits(63) if seed is None else int(seed)
        self._item_offset = item_offset
        self._stats: dict[int, tuple[Any, ...]] = {}

    def _generator(self, b: int) -> np.random.Generator:
        """Item ``b``'s own stream: Philox keyed by the seed, counter at the global index."""
        item = self._item_offset + b
        bits = np.random.Philox(key=self._key, counter=[0, 0, 0, item])
        return np.random.Generator(bits)

    def _image_stats(self, b: int) -> tuple[Any, ...]:
        stats: tuple[Any, ...] | None = self._stats.get(b)
        if stats is None:
            pixels = self.image[b]
            if self.mode == "uniform":
                # TensorFlow's (Eigen's) min/max skip NaN pixels; fmin/fmax do too.
                lo, hi = np.fmin.reduce(pixels, axis=None), np.fmax.reduce(pixels, axis=None)
                with np.errstate(over="ignore", invalid="ignore"):
                    stats = (np.float32(lo), np.float32(hi) - np.float32(lo))
            else:
                # One contiguous row per channel: reducing rows is far faster than down
                # columns, and numpy's row mean sums pairwise (accurate in float32).
                rows = np.ascontiguousarray(pixels.reshape(-1, pixels.shape[-1]).T)
                with np.errstate(over="ignore", invalid="ignore"):
                    mean = rows.mean(axis=1)
                    centred = rows - mean[:, None]
                    count = np.float32(rows.shape[1])
                    std = np.sqrt(np.einsum("ij,ij->i", centred, centred) / count)
                stats = (mean, std, rows.min(axis=1), rows.max(axis=1))
            self._stats[b] = stats
        return stats

    def fill(self, b: int, *regions: np.ndarray) -> None:
        """Fill ``regions`` (views ``[rows, cols, C]`` of image ``b``'s glimpse), in order.

        One draw serves all regions of an image; its values go to the regions in order,
        each in C order, so the channel is the fastest-varying index of the draw too.
        """
        regions = tuple(region for region in regions if region.size)
        if not regions:
            return
        if self.mode == "zero" or self.empty_image:
            value = 0 if self.mode == "zero" else np.nan
            for region in regions:
                region[...] = value
            return
        total = sum(region.size for region in regions)
        if self.mode == "uniform":
            lo, span = self._image_stats(b)
            draws = self._generator(b).random(total, dtype=np.float32)
            with np.errstate(invalid="ignore", over="ignore"):
                np.multiply(draws, span, out=draws)
                np.add(draws, lo, out=draws)
        else:
            mean, std, lo, hi = self._image_stats(b)
            draws = self._generator(b).standard_normal(total, dtype=np.float32)
            per_channel = draws.reshape(-1, self.image.shape[-1])
            with np.errstate(invalid="ignore", over="ignore"):
                np.multiply(per_channel, std, out=per_channel)
                np.add(per_channel, mean, out=per_channel)
                np.minimum(per_channel, hi, out=per_channel)
                np.maximum(per_channel, lo, out=per_channel)
        start = 0
        for region in regions:
            region[...] = draws[start : start + region.size].reshape(region.shape)
            start += region.size


# ----------------------------------------------------------------------------- kernels


def _extract(
    version: int,
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool,
    normalized: bool,
    uniform_noise: bool,
    noise: str,
    seed: int | None,
    item_offset: int,
    memory_limit: int,
) -> np.ndarray:
    image_in = _as_array(input, "input")
    offsets_in = _as_array(offsets, "offsets")
    size_in = _as_array(size, "size")
    shape = glimpse_output_shape(
        image_in.shape, size_in, offsets_in.shape, centered=centered, normalized=normalized,
        uniform_noise=uniform_noise, noise=noise, memory_limit=memory_limit,
    )
    mode = _fill_mode(uniform_noise, noise)
    if seed is not None and (not isinstance(seed, int | np.integer) or seed < 0):
        raise InvalidArgumentError(f"seed: expected a non-negative integer or None, got {seed!r}")
    if not isinstance(item_offset, int | np.integer) or item_offset < 0:
        raise InvalidArgumentError(
            f"item_offset: expected a non-negative integer, got {item_offset!r}"
        )
    image = _as_float32(image_in, "input")
    points = _as_float32(offsets_in, "offsets")
    assert shape is not None and all(d is not None for d in shape)
    batch, out_h, out_w, channels = (int(d) for d in shape if d is not None)
    out = np.empty((batch, out_h, out_w, channels), dtype=np.float32)
    if out.size == 0:
        return out
    height, width = image.shape[1], image.shape[2]
    windows = _windows(image.shape, (out_h, out_w), points, version, centered, normalized)
    filler = _Filler(mode, image, seed, int(item_offset))
    for b, window in enumerate(windows):
        glimpse = out[b]
        if window is None:
            filler.fill(b, glimpse)
            continue
        top, left = window
        if top >= 0 and left >= 0 and top + out_h <= height and left + out_w <= width:
            out[b] = image[b, top : top + out_h, left : left + out_w]
            continue
        # Glimpse rows r0..r1 and columns c0..c1 show image pixels.
        r0, r1 = max(0, -top), min(out_h, height - top)
        c0, c1 = max(0, -left), min(out_w, width - left)
        glimpse[r0:r1, c0:c1] = image[b, top + r0 : top + r1, left + c0 : left + c1]
        filler.fill(b, glimpse[:r0], glimpse[r1:], glimpse[r0:r1, :c0], glimpse[r0:r1, c1:])
    return out


def extract_glimpse(
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool = True,
    normalized: bool = True,
    uniform_noise: bool = True,
    noise: str = "uniform",
    seed: int | None = None,
    item_offset: int = 0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """V1 semantics (the C++ tensorflow::ops::ExtractGlimpse)."""
    return _extract(
        1, input, size, offsets, centered=centered, normalized=normalized,
        uniform_noise=uniform_noise, noise=noise, seed=seed, item_offset=item_offset,
        memory_limit=memory_limit,
    )


def extract_glimpse_v2(
    input: Any,
    size: Any,
    offsets: Any,
    *,
    centered: bool = True,
    normalized: bool = True,
    uniform_noise: bool = True,
    noise: str = "uniform",
    seed: int | None = None,
    item_offset: int = 0,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """V2 semantics (tf.image.extract_glimpse)."""
    return _extract(
        2, input, size, offsets, centered=centered, normalized=normalized,
        uniform_noise=uniform_noise, noise=noise, seed=seed, item_offset=item_offset,
        memory_limit=memory_limit,
    )
