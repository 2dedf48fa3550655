"""TensorFlow-exact numpy kernels: ExtractImagePatches and ExtractGlimpse (V1, V2)."""

from blocks.kernels.glimpse import extract_glimpse, extract_glimpse_v2
from blocks.kernels.patches import extract_image_patches

__all__ = ["extract_glimpse", "extract_glimpse_v2", "extract_image_patches"]
