"""AdjustSaturation, AdjustHue and AdjustContrastv2, as TensorFlow 2.21's CPU kernels
compute them (float32).

Contract: ``adjust_saturation(images, scale)`` and ``adjust_hue(images, delta)`` take
float32 ``[..., 3]`` tensors of at least 3 dims and a float32 scalar and return the same
shape; ``adjust_contrast_v2(images, contrast_factor)`` takes float32 ``[..., H, W, C]``
(any C). ``adjust_shape(...)`` checks them without data, in TensorFlow's order (dtype,
at least 3-D, the scalar, 3 channels where asked). TF has no CPU kernel for half: it is
refused with a message saying so.

Saturation and hue are TF's scalar C++ (``adjust_saturation_op.cc``, ``adjust_hue_op.cc``)
applied pixel by pixel, compiled (:mod:`blocks.kernels.colour_loops`) with the same
float32 operations in the same order, denormals read and written as zero and x86's rule
for which NaN survives; ``2.0/6.0`` and ``4.0/6.0`` are double constants in TF's code,
so those sums are done in double and rounded to float. Contrast follows
``adjust_contrast_op.cc``: its per-channel sum in TF's halving order and its NaN operand
order as TF's machine code has it (see the contrast section below). Every loop computes
each output element on its own, so pieces and threads cannot change the bits.

Deliberate difference: TF moves the shifted hue into [0, 6) by adding or subtracting 6
in a loop, one step per turn; for ``|delta|`` beyond about 2^24 the loop never ends. We
refuse ``|delta| > 1000`` (over 1000 steps per pixel) instead of hanging.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from blocks.kernels.colorspace import colour_loops, in_pixel_pieces
from blocks.kernels.float32_math import to_float32
from blocks.kernels.op_checks import check_dtype, dtypes, port_error, shape_text
from blocks.kernels.pieces import run_pieces, thread_count

_F32 = np.float32
ADJUST_DTYPES = dtypes("float32")
_MAX_DELTA = 1000.0


def adjust_shape(
    shape: tuple[int | None, ...] | None,
    dtype: np.dtype[Any] | None,
    factor_shape: tuple[int | None, ...] | None,
    factor: str,
    channels: int | None = 3,
) -> tuple[int | None, ...] | None:
    """Check AdjustSaturation (``factor`` "scale"), AdjustHue ("delta") or
    AdjustContrastv2 ("contrast_factor", any ``channels``: ``None``) arguments."""
    if dtype is not None and np.dtype(dtype) == np.float16:
        # The op allows half, but TF has a half kernel only for GPUs.
        raise port_error("images", "no CPU kernel for T=DT_HALF (TensorFlow has one only on "
                         "GPUs); cast the images to float32")
    check_dtype("images", dtype, ADJUST_DTYPES, "half, float")
    if shape is not None and len(shape) < 3:
        raise port_error("images", f"input must be at least 3-D, got shape{shape_text(shape)}")
    if factor_shape is not None and len(factor_shape) != 0:
        raise port_error(factor, f"{factor} must be scalar: {shape_text(factor_shape)}")
    if channels is not None and shape is not None and shape[-1] is not None \
            and shape[-1] != channels:
        raise port_error(
            "images", f"input must have {channels} channels but instead has {shape[-1]} channels."
        )
    return None if shape is None else tuple(shape)


def adjust_saturation(
    images: Any, scale: Any, cancel: threading.Event | None = None
) -> np.ndarray:
    """TensorFlow's AdjustSaturation (float32), a piece of pixels at a time."""
    values = np.asarray(images)
    factor = np.asarray(scale)
    adjust_shape(values.shape, values.dtype, factor.shape, "scale")
    return in_pixel_pieces(colour_loops().saturation_pixels, values, np.dtype(_F32), cancel,
                           _F32(factor.astype(_F32)))


def adjust_hue(images: Any, delta: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's AdjustHue (float32), a piece of pixels at a time."""
    values = np.asarray(images)
    factor = np.asarray(delta)
    adjust_shape(values.shape, values.dtype, factor.shape, "delta")
    shift = _F32(factor.astype(_F32))
    if not np.isfinite(shift) or abs(float(shift)) > _MAX_DELTA:
        raise port_error(
            "delta",
            f"delta {float(shift)!r} is refused: TensorFlow shifts the hue back into range "
            f"one turn per step (|delta| steps per pixel, endless from about 2^24); use a "
            f"delta in [-{_MAX_DELTA:g}, {_MAX_DELTA:g}], e.g. delta modulo 1",
        )
    return in_pixel_pieces(colour_loops().hue_pixels, values, np.dtype(_F32), cancel, shift)


# ----------------------------------------------------------------------------- contrast
#
# AdjustContrastv2 (``adjust_contrast_op.cc``, ``AdjustContrastOpv2<CPUDevice, float>``;
# TF registers no CPU kernel for half). Per image, TF sums each channel over the H*W
# pixels by folding the plane in halves: round 0 writes ``x[left:left+right] + x[:right]``
# into a scratch plane (``right = n // 2``, ``left = n - right``; an odd middle pixel is
# copied), every later round adds ``s[left:left+right]`` into ``s[:right]``, until one
# pixel is left. The mean is that sum times ``1.0f / n`` (``n`` rounded to float), and
# each output is ``factor * (x - mean) + mean``, one float32 rounding per step, with no
# fused multiply-add. Measured on TF 2.21's x86-64 machine code: which of two NaNs
# survives follows the C++ operand order (right half first in round 0, the accumulator
# first later, ``x`` first in the difference, ``factor`` first in the product); the last
# sum has the product first, except in the second half of each 32-float turn of its
# vector loop (flat index i below the scalar tail, i % 32 >= 16), where the mean comes
# first. Denormals are read and written as zero, and a product whose exact value is
# below 2^-126 is zero even where it would round up to 2^-126.
#
# Both passes are compiled loops (:mod:`blocks.kernels.colour_loops`) that spell out the
# flushing and the NaN operand order per element, except for images whose values, means
# and factor are tame, where plain float32 arithmetic gives the same bits.

#: Floats per piece: whole images. With at least as many pieces as threads, a piece
#: writes its images' output right after their means (read again from the cache);
#: otherwise the output is cut into pieces of about this many floats, so one large image
#: is shared by the threads too.
_PIECE = 1 << 18
#: Tensors of fewer floats run on the calling thread only. The op is memory-bound (about
#: 0.5 ns per float on one thread): on the shared 2-core machine a second thread never
#: made it faster, and it stalled the op up to 3x when the other core was busy
#: (bench_ops: [8,224,224,3] 0.6 ms on one thread, 0.7-3 ms on two). From this size the
#: work per thread (over 2 ms) dwarfs a hand-off.
_THREADED = 1 << 22


def adjust_contrast_v2(
    images: Any, contrast_factor: Any, cancel: threading.Event | None = None
) -> np.ndarray:
    """TensorFlow's AdjustContrastv2 (float32): ``(x - mean) * factor + mean`` per
    image and channel, bit for bit."""
    values = np.asarray(images)
    factor = np.asarray(contrast_factor)
    adjust_shape(values.shape, values.dtype, factor.shape, "contrast_factor", channels=None)
    values = np.ascontiguousarray(values, dtype=_F32)
    out = np.empty(values.shape, _F32)
    if out.size == 0:
        return out
    loops = colour_loops()
    height, width, channels = values.shape[-3:]
    pixels = height * width
    plane = pixels * channels
    planes = values.reshape(-1, plane)
    scale = _F32(to_float32(factor).reshape(()))
    inverse = _F32(_F32(1) / _F32(pixels))
    means = np.empty((planes.shape[0], channels), _F32)
    tame = np.empty(planes.shape[0], np.bool_)
    per_piece = max(1, _PIECE // plane)
    pieces = -(-planes.shape[0] // per_piece)
    threads = thread_count() if out.size >= _THREADED else 1

    flat, target = values.reshape(-1), out.reshape(-1)
    out_planes = out.reshape(-1, plane)  # the sums' scratch, as in TF

    def measure(index: int, finish: bool) -> None:
        first = index * per_piece
        last = min(first + per_piece, planes.shape[0])
        loops.contrast_means(planes, first, last, pixels, channels, inverse, out_planes,
                             means, tame)
        if finish:  # the piece's images are still in the cache
            loops.contrast_output(flat, means, tame, scale, target, first * plane,
                                  last * plane, plane, channels, out.size)

    if pieces >= threads:
        run_pieces(pieces, lambda index: measure(index, True), cancel, threads)
        return out
    # Fewer images than threads: the means first, then the output shared in pieces.
    run_pieces(pieces, lambda index: measure(index, False), cancel, threads)
    step = max(channels, _PIECE // channels * channels)  # whole pixels

    def finish(index: int) -> None:
        start = index * step
        loops.contrast_output(flat, means, tame, scale, target, start,
                              min(start + step, out.size), plane, channels, out.size)

    run_pieces(-(-out.size // step), finish, cancel, threads)
    return out
