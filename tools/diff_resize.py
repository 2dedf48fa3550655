"""Differential test of the resize kernels against the installed TensorFlow (2.21).

Run ``python tools/diff_resize.py [--cases N] [--seed S] [--ops bilinear,bicubic,area,crop]``
(``crop``: CropAndResize, bilinear and nearest, random boxes partly outside the image).
Random cases: every dtype the ops take, batch 1..3, input 1..14 (sometimes up to 70) per
side, 1..17 channels, output sizes from 1 to more than twice the input, every attr
combination TF accepts, values with NaNs (quiet and signalling, both signs, payloads),
infinities, denormals, signed zeros, the largest floats and magnitudes around the
arithmetic thresholds; integers over their full range. Each case compares our output
with ``tf.raw_ops`` bit for bit and prints every differing case; the exit status is 1 if
any bit differs. Known and not fixed: CropAndResize of float16 and float64 images may
keep another NaN than TF where two NaNs meet (as the numpy kernel before the compiled
loop did).

Not part of the test suite (it needs TensorFlow); the fixtures made by
``tools/golden_ops.py`` carry TF's truth into the tests.
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

import tensorflow as tf

from blocks.kernels.crop_and_resize import CROP_DTYPES, crop_and_resize
from blocks.kernels.op_checks import BFLOAT16
from blocks.kernels.resize import resize_bilinear
from blocks.kernels.resize_filters import resize_area, resize_bicubic

DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "bfloat16",
          "float32", "float64")
_SPECIAL_BITS = np.array([
    0x7FC00000, 0xFFC00000, 0x7FC00001, 0xFFC12345, 0x7F800001, 0xFF800123, 0x7FA00000,
    0x7F800000, 0xFF800000, 0x00000001, 0x80000001, 0x007FFFFF, 0x80400000, 0x80000000,
    0x00000000, 0x7F7FFFFF, 0xFF7FFFFF, 0x00800000, 0x80800000,
], np.uint32).view(np.float32)
_THRESHOLDS = np.array([2.0**-30, 2.0**-31, 2.0**-48, 2.0**-100, 2.0**-126, 2.0**100,
                        2.0**120, 2.0**124, 2.0**126, 3e38], np.float32)


def random_images(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random images of ``dtype``: floats with special values mixed in at a random rate,
    integers over the dtype's full range or small."""
    if dtype in ("float16", "bfloat16", "float32", "float64"):
        values = (rng.standard_normal(shape) * 10.0 ** rng.uniform(-3, 3)).astype(np.float32)
        rate = rng.choice([0.0, 0.02, 0.2, 0.6])
        flat = values.reshape(-1)
        picked = rng.random(flat.size) < rate
        pool = np.concatenate([_SPECIAL_BITS, _THRESHOLDS, -_THRESHOLDS])
        flat[picked] = rng.choice(pool, int(picked.sum()))
        if dtype == "float32":
            return values
        if dtype == "float64":
            wide = values.astype(np.float64)
            extra = rng.random(wide.size) < rate / 4  # float64-only magnitudes
            wide.reshape(-1)[extra] = rng.choice([1e-300, -1e-310, 1e300, 5e-324],
                                                 int(extra.sum()))
            return wide
        with np.errstate(over="ignore"):
            return values.astype(BFLOAT16 if dtype == "bfloat16" else np.float16)
    info = np.iinfo(np.dtype(dtype))
    if rng.random() < 0.5:
        return rng.integers(max(info.min, -300), min(info.max, 300), shape, endpoint=True,
                            dtype=np.dtype(dtype))
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=np.dtype(dtype))


def tf_tensor(values: np.ndarray) -> Any:
    if values.dtype == BFLOAT16:
        return tf.constant(values, dtype=tf.bfloat16)
    return tf.constant(values)


def run_crop(rng: np.random.Generator, images: np.ndarray,
             size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """CropAndResize of random boxes (some reaching outside the image, some flipped)."""
    count = int(rng.integers(1, 6))
    boxes = rng.uniform(-0.3, 1.3, (count, 4)).astype(np.float32)
    which = rng.integers(0, images.shape[0], count).astype(np.int32)
    method = str(rng.choice(["bilinear", "nearest"]))
    fill = float(rng.choice([0.0, -1.5, np.nan]))
    size_array = np.array(size, np.int32)
    ours = crop_and_resize(images, boxes, which, size_array, method=method,
                           extrapolation_value=fill)
    theirs = tf.raw_ops.CropAndResize(image=tf_tensor(images), boxes=boxes, box_ind=which,
                                      crop_size=size_array, method=method,
                                      extrapolation_value=fill)
    return ours, np.asarray(theirs)


def run_case(op: str, images: np.ndarray, size: tuple[int, int], align: bool,
             half: bool) -> tuple[np.ndarray, np.ndarray]:
    size_array = np.array(size, np.int32)
    if op == "area":
        ours = resize_area(images, size_array, align_corners=align)
        theirs = tf.raw_ops.ResizeArea(images=tf_tensor(images), size=size_array,
                                       align_corners=align)
    else:
        kernel = resize_bilinear if op == "bilinear" else resize_bicubic
        raw = tf.raw_ops.ResizeBilinear if op == "bilinear" else tf.raw_ops.ResizeBicubic
        ours = kernel(images, size_array, align_corners=align, half_pixel_centers=half)
        theirs = raw(images=tf_tensor(images), size=size_array, align_corners=align,
                     half_pixel_centers=half)
    return ours, np.asarray(theirs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ops", default="bilinear,bicubic,area")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    ops = args.ops.split(",")
    differing = compared = 0
    for index in range(args.cases):
        op = ops[index % len(ops)]
        dtype = str(rng.choice(DTYPES if op != "crop" else
                               [str(np.dtype(d)) for d in CROP_DTYPES]))
        big = rng.random() < 0.1
        height, width = (int(v) for v in rng.integers(1, 71 if big else 15, 2))
        channels = int(rng.choice([1, 2, 3, 3, 4, 5, 16, 17]))
        batch = int(rng.integers(1, 4))
        size = (int(rng.integers(1, 2 * height + 4)), int(rng.integers(1, 2 * width + 4)))
        align, half = [(False, False), (True, False), (False, True)][int(rng.integers(3))]
        if op == "area":
            half = False
        images = random_images(rng, (batch, height, width, channels), dtype)
        if op == "crop":
            ours, theirs = run_crop(rng, images, size)
        else:
            ours, theirs = run_case(op, images, size, align, half)
        compared += ours.size
        same = ours.shape == theirs.shape and ours.dtype == theirs.dtype and (
            ours.tobytes() == theirs.tobytes())
        if same:
            continue
        label = (f"case {index}: {op} {dtype} {images.shape} -> {size} align={align} "
                 f"half={half}")
        if ours.shape != theirs.shape or ours.dtype != theirs.dtype:
            print(f"{label}: shape/dtype {ours.shape} {ours.dtype} vs {theirs.shape} "
                  f"{theirs.dtype}")
            differing += 1
            continue
        ours_bits, their_bits = ours.view(np.uint32), theirs.view(np.uint32)
        bad = ours_bits != their_bits
        both_nan = np.isnan(ours) & np.isnan(theirs)
        differing += 1
        if not (bad & ~both_nan).any():
            label += " (only which NaN)"
        where = np.argwhere(bad)[:4]
        print(f"{label}: {int(bad.sum())} differ, e.g. at {where.tolist()}: ours "
              f"{[hex(v) for v in ours_bits[bad][:4]]} TF {[hex(v) for v in their_bits[bad][:4]]}")
    print(f"{args.cases} cases, {compared} values: {differing} cases differ")
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
