"""RGBToHSV and HSVToRGB, as TensorFlow 2.21's Eigen expressions compute them.

Contract: ``rgb_to_hsv(images)`` and ``hsv_to_rgb(images)`` take any tensor of at least
one dim whose last dim is 3, of float16, bfloat16, float32 or float64, and return the
same shape and dtype; ``colorspace_shape`` checks that without data (TensorFlow's
messages and order: the dtype, at least 1-D, 3 channels).

Arithmetic (``colorspace_op.h``), every operation in the tensor's dtype (float16 and
bfloat16 compute in float32 and round after each operation, as Eigen's half types do),
with denormals read and written as zero:

* RGB -> HSV: ``V = max(max(R, G), B)`` and the minimum likewise, where ``max(a, b)`` is
  x86's ``a > b ? a : b`` (a NaN operand gives ``b``); ``range = V - min``;
  ``S = V > 0 ? range / V : 0``; ``norm = (1 / range) * (1/6)``;
  ``H = R == V ? norm*(G - B) : G == V ? norm*(B - R) + 2/6 : norm*(R - G) + 4/6``, then 0
  where ``range <= 0`` (or NaN), then ``H + 1`` where ``H < 0``.
* HSV -> RGB: ``dh = H*6``; ``dr = clamp(|dh - 3| - 1)``, ``dg = clamp(2 - |dh - 2|)``,
  ``db = clamp(2 - |dh - 4|)`` into [0, 1] (x86 max/min semantics); each channel is
  ``((1 - S) + S*d) * V``.

Measured details kept: float and double max/min return a denormal operand as zero,
half and bfloat16 return the operand's own bits; the compiler turns ``-x + c`` into
``c - x`` for float and double only; bfloat16 results that are NaN become 0x7fc0,
except within the fused hue expression (sign kept); for float the last
product of HSVToRGB reads ``V * (...)``, for the others ``(...) * V``; AdjustHue
(:mod:`blocks.kernels.adjust`) shares none of this code.

The pixels are computed by the compiled loops of :mod:`blocks.kernels.colour_loops`
(imported on first use), a piece of pixels at a time, shared by the kernel threads;
each pixel is computed on its own, so pieces and threads cannot change the bits (an
HSVToRGB piece of tame values takes plain arithmetic, which gives the same bits).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from blocks.kernels.compiled import compiled_loops
from blocks.kernels.op_checks import BFLOAT16, check_dtype, dtypes, port_error, shape_text
from blocks.kernels.pieces import run_pieces, thread_count

#: Pixels per piece: enough that a piece's thread hand-off is small beside its work,
#: few enough that Stop lands soon.
PIXEL_PIECE = 1 << 16

COLORSPACE_DTYPES = dtypes("float16", "bfloat16", "float32", "float64")
_TF_LIST = "half, bfloat16, float, double"


def colorspace_shape(
    shape: tuple[int | None, ...] | None, dtype: np.dtype[Any] | None
) -> tuple[int | None, ...] | None:
    """Check an RGBToHSV/HSVToRGB input; the output has the same shape."""
    check_dtype("images", dtype, COLORSPACE_DTYPES, _TF_LIST)
    if shape is None:
        return None
    if len(shape) < 1:
        raise port_error("images", f"input must be at least 1D{shape_text(shape)}")
    channels = shape[-1]
    if channels is not None and channels != 3:
        raise port_error(
            "images", f"input must have 3 channels but input only has {channels} channels."
        )
    return tuple(shape)


def colour_loops() -> ModuleType:
    """The compiled colour loops (:func:`~blocks.kernels.compiled.compiled_loops`)."""
    return compiled_loops("colour_loops")


def in_pixel_pieces(
    loop: Callable[..., None], values: np.ndarray, dtype: np.dtype[Any],
    cancel: threading.Event | None, *args: Any,
) -> np.ndarray:
    """``loop(source, out, first, last, *args)`` (pixels ``first .. last-1`` of the flat
    ``source`` into the flat ``out``, each pixel on its own) over ``values`` (last dim 3),
    a piece of pixels at a time, shared by the threads; the result has ``values``' shape
    and ``dtype``. half and bfloat16 tensors go to the loops as their bits (uint16 and int16)."""
    source = np.ascontiguousarray(values).reshape(-1)
    out = np.empty(values.shape, dtype)
    target = out.reshape(-1)
    if source.dtype.itemsize == 2:
        loops = colour_loops()
        bits = loops.BFLOAT16_BITS if source.dtype == BFLOAT16 else loops.HALF_BITS
        source, target = source.view(bits), target.view(bits)
    pixels = source.size // 3
    count = -(-pixels // PIXEL_PIECE)

    def work(index: int) -> None:
        loop(source, target, index * PIXEL_PIECE, min((index + 1) * PIXEL_PIECE, pixels),
             *args)

    run_pieces(count, work, cancel, thread_count() if count > 1 else 1)
    return out


def _check(images: Any) -> np.ndarray:
    values = np.asarray(images)
    colorspace_shape(values.shape, values.dtype)
    return values


def rgb_to_hsv(images: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's RGBToHSV."""
    values = _check(images)
    return in_pixel_pieces(colour_loops().rgb_to_hsv_pixels, values, values.dtype, cancel)


def hsv_to_rgb(images: Any, cancel: threading.Event | None = None) -> np.ndarray:
    """TensorFlow's HSVToRGB."""
    values = _check(images)
    return in_pixel_pieces(colour_loops().hsv_to_rgb_pixels, values, values.dtype, cancel)
