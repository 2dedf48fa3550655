"""ExtractImagePatches, bit-exact with TensorFlow 2.21 (SPEC section 1).

Contract:
* ``extract_image_patches(images, ksizes, strides, rates, padding, *, memory_limit)``
  returns ``[B, out_h, out_w, kh*kw*C]`` of the images' dtype.
* ``patches_output_shape(...)`` computes that shape without touching data and raises
  exactly the errors the kernel raises (same order, same messages); the kernel
  calls it first, so inference and execution cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blocks.spec import DEFAULT_MEMORY_LIMIT


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
    """Output shape; ``None`` dims where the image's dims are unknown."""
    raise NotImplementedError


def extract_image_patches(
    images: np.ndarray,
    ksizes: Sequence[int],
    strides: Sequence[int],
    rates: Sequence[int],
    padding: str,
    *,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """TensorFlow's ExtractImagePatches on numpy."""
    raise NotImplementedError
