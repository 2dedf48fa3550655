"""TensorBlocks' block library: declarations, TensorFlow-exact numpy kernels, attrs and literals.

Public kernels::

    blocks.extract_image_patches(images, ksizes, strides, rates, padding)
    blocks.extract_glimpse(input, size, offsets, *, centered=True, normalized=True,
                           uniform_noise=True, noise="uniform", seed=None)
    blocks.extract_glimpse_v2(...)

``blocks.REGISTRY`` lists every block's single declaration. This package imports
neither ``graph`` nor ``app`` nor Qt.
"""

from blocks.errors import (
    AttrsError,
    InvalidArgumentError,
    LiteralError,
    MemoryLimitError,
    TensorBlocksError,
)
from blocks.kernels import extract_glimpse, extract_glimpse_v2, extract_image_patches
from blocks.library import REGISTRY, BlockRegistry
from blocks.spec import DEFAULT_MEMORY_LIMIT, BlockSpec, PortKind, TensorInfo

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MEMORY_LIMIT",
    "REGISTRY",
    "AttrsError",
    "BlockRegistry",
    "BlockSpec",
    "InvalidArgumentError",
    "LiteralError",
    "MemoryLimitError",
    "PortKind",
    "TensorBlocksError",
    "TensorInfo",
    "__version__",
    "extract_glimpse",
    "extract_glimpse_v2",
    "extract_image_patches",
]
