"""ExtractGlimpse (V1) and ExtractGlimpseV2, bit-exact with TensorFlow 2.21 (SPEC section 2).

Contract:
* ``extract_glimpse`` / ``extract_glimpse_v2(input, size, offsets, *, centered, normalized,
  uniform_noise, noise, seed, memory_limit)`` return ``[B, h, w, C]`` float32.
* ``glimpse_output_shape(...)`` computes that shape without touching data and raises the
  kernel's errors in the kernel's order where they can be known from shapes and attrs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from blocks.spec import DEFAULT_MEMORY_LIMIT


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
    """Output shape; ``None`` where unknown (e.g. size comes from a wire)."""
    raise NotImplementedError


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
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """V1 semantics (the C++ tensorflow::ops::ExtractGlimpse)."""
    raise NotImplementedError


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
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
) -> np.ndarray:
    """V2 semantics (tf.image.extract_glimpse)."""
    raise NotImplementedError
