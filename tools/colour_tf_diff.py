"""Differential check of the colour kernels against the installed TensorFlow.

Run ``python tools/colour_tf_diff.py [--rounds N] [--seed S]``: RGBToHSV and HSVToRGB
(half, bfloat16, float, double), AdjustSaturation, AdjustHue and AdjustContrastv2
(float) on random tensors mixing ordinary values with NaNs of many payloads, signed
zeros, infinities, denormals, values at the edge of normal (2^-126 and 2^-1022, where a
product may round up to the smallest normal), and huge values; hue deltas of every sign
and size, saturation and contrast factors that are 0, negative, tiny or huge. Prints,
per op and dtype, how many elements differed in their bits from TensorFlow's; exits 1
if any did. Needs TensorFlow (not a test: the tests carry TensorFlow's results as
fixtures made by tools/make_golden.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from blocks.kernels import adjust, colorspace
from blocks.kernels.op_checks import BFLOAT16


def _nans(dtype: np.dtype[Any], count: int, rng: np.random.Generator) -> np.ndarray:
    """NaNs with random signs and payloads, quiet and signalling."""
    width = dtype.itemsize * 8
    mantissa = {16: 10 if dtype == np.float16 else 7, 32: 23, 64: 52}[width]
    exponent_bits = width - 1 - mantissa
    unsigned = np.dtype(f"u{dtype.itemsize}")
    payload = rng.integers(1, 2**mantissa, size=count, dtype=np.uint64)
    sign = rng.integers(0, 2, size=count, dtype=np.uint64) << np.uint64(width - 1)
    exponent = np.uint64((2**exponent_bits - 1) << mantissa)
    return (sign | exponent | payload).astype(unsigned).view(dtype)


def special_values(dtype: np.dtype[Any], count: int, rng: np.random.Generator,
                   scale: float = 1.0) -> np.ndarray:
    """``count`` values of ``dtype``: a mix of ordinary and special ones."""
    compute = np.float64 if dtype == np.float64 else np.float32
    info = np.finfo(compute)
    tiny = float(info.tiny)
    kinds = rng.integers(0, 12, size=count)
    ordinary = rng.random(count) * scale
    signs = np.where(rng.random(count) < 0.3, -1.0, 1.0)
    near_tiny = tiny * (1 + rng.integers(-40, 41, size=count) * float(info.eps))
    values = np.select(
        [kinds <= 4, kinds == 5, kinds == 6, kinds == 7, kinds == 8, kinds == 9, kinds == 10],
        [ordinary, rng.standard_normal(count) * 2.0 ** rng.integers(-30, 31, size=count),
         near_tiny * signs, tiny * rng.random(count) * signs,  # denormals
         np.where(rng.random(count) < 0.5, np.inf, -np.inf),
         float(info.max) * rng.random(count) * signs, 0.0 * signs],
        ordinary * signs,
    ).astype(compute)
    values = values.astype(dtype)  # bfloat16 too: ml_dtypes rounds to nearest even
    nan_at = rng.random(count) < 0.05
    values[nan_at] = _nans(np.dtype(dtype), int(nan_at.sum()), rng)
    return values


def _bits(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}")


def compare(name: str, ours: np.ndarray, theirs: np.ndarray) -> int:
    """How many elements differ in their bits."""
    if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
        print(f"{name}: shape/dtype differ: {ours.shape} {ours.dtype} vs {theirs.shape} "
              f"{theirs.dtype}")
        return max(ours.size, 1)
    differ = _bits(ours) != _bits(theirs)
    count = int(differ.sum())
    if count:
        where = np.flatnonzero(differ.reshape(-1))[:3]
        print(f"{name}: {count} differ, e.g. flat {where.tolist()}: ours "
              f"{[hex(int(v)) for v in _bits(ours).reshape(-1)[where]]} TF "
              f"{[hex(int(v)) for v in _bits(theirs).reshape(-1)[where]]}")
    return count


def main(argv: list[str] | None = None) -> int:
    """Run every op over random tensors and report the differing bits."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--pixels", type=int, default=4000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import tensorflow as tf

    rng = np.random.default_rng(args.seed)
    raw = tf.raw_ops
    totals: dict[str, list[int]] = {}

    def record(name: str, ours: np.ndarray, theirs: Any) -> None:
        result = totals.setdefault(name, [0, 0])
        result[0] += compare(name, ours, np.asarray(theirs))
        result[1] += ours.size

    factors: list[float] = [0.0, -0.0, 1.0, 1.5, -1.0, 0.5, 1e-40, -1e-40, 1e-30, 3e-9, 1e30,
                            np.inf, -np.inf, np.nan, 2.0**-126, 0.7, -3.3]
    deltas: list[float] = [0.0, 0.2, -0.2, 0.5, -0.5, 1.0, -1.0, 2.5, -7.25, 999.0, -999.0,
                           1e-40, 1e-8, -0.123, 0.999999]
    for round_index in range(args.rounds):
        n = args.pixels
        for dtype in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16),
                      BFLOAT16):
            assert dtype is not None
            for scale in (1.0, 2.0**-125, 1.0 if round_index % 2 else 2.0**-1021):
                images = special_values(dtype, 3 * n, rng, scale).reshape(n, 3)
                record(f"RGBToHSV {dtype}", colorspace.rgb_to_hsv(images),
                       raw.RGBToHSV(images=tf.constant(images)))
                record(f"HSVToRGB {dtype}", colorspace.hsv_to_rgb(images),
                       raw.HSVToRGB(images=tf.constant(images)))
        for scale in (1.0, 2.0**-125, 2.0**-100):
            pixels = special_values(np.dtype(np.float32), 3 * n, rng, scale).reshape(n, 1, 3)
            factor = np.float32(factors[round_index % len(factors)] if scale == 1.0
                                else rng.choice(factors))
            record("AdjustSaturation", adjust.adjust_saturation(pixels, factor),
                   raw.AdjustSaturation(images=pixels, scale=factor))
            delta = np.float32(deltas[round_index % len(deltas)] if scale == 1.0
                               else rng.choice(deltas))
            record("AdjustHue", adjust.adjust_hue(pixels, delta),
                   raw.AdjustHue(images=pixels, delta=delta))
            shape = (int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 40)),
                     int(rng.integers(1, 6)))
            planes = special_values(np.dtype(np.float32), int(np.prod(shape)), rng,
                                    scale).reshape(shape)
            if rng.random() < 0.5:  # mostly finite planes, so that means are numbers
                planes = np.where(np.isfinite(planes), planes, np.float32(0.25))
            factor = np.float32(rng.choice(factors))
            record("AdjustContrastv2", adjust.adjust_contrast_v2(planes, factor),
                   raw.AdjustContrastv2(images=planes, contrast_factor=factor))
    failed = 0
    for name, (differ, size) in totals.items():
        print(f"{name:28} {size:10d} elements  {differ:6d} differ")
        failed += differ
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
