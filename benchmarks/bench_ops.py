"""Library-op benchmark: each block's numpy kernel against TensorFlow's op, per block.

Run ``python benchmarks/bench_ops.py`` (``--quick`` for fewer repeats, ``--only NAME`` to
pick cases by a name prefix). In one process, for each case it times ours and
``tf.raw_ops.<Op>`` round-robin (so load from other processes hits both alike), prints
the medians, the ratio ours/TF (below 1: faster than TensorFlow) and whether our output
equals TF's bit for bit. Without TensorFlow the TF column reads ``-``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from blocks import REGISTRY
from blocks.spec import RunContext

try:
    import tensorflow as tf
except ImportError:  # the oracle extra is optional
    tf = None


@dataclass
class Case:
    """One case: a block run on inputs, and the same op in TensorFlow."""

    name: str
    description: str
    ours: Callable[[], np.ndarray]
    theirs: Callable[[], np.ndarray] | None


def _block_case(
    name: str,
    description: str,
    block: str,
    inputs: dict[str, Any],
    attrs: dict[str, Any],
    tf_call: Callable[[dict[str, Any]], Any],
) -> Case:
    spec = REGISTRY[block]
    ctx = RunContext(inputs, {**spec.default_attrs(), **attrs})
    port = spec.outputs[0].name

    def ours() -> np.ndarray:
        return np.asarray(spec.run(ctx)[port])

    theirs = None
    if tf is not None:
        tf_inputs = {
            key: tf.constant(value)
            for key, value in inputs.items()
            if isinstance(value, (np.ndarray, np.generic))
        }

        def theirs() -> np.ndarray:
            return np.asarray(tf_call(tf_inputs))

    return Case(name, description, ours, theirs)


def _tf_resize(op: Any, attrs: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    def call(inputs: dict[str, Any]) -> Any:
        return op(images=inputs["images"], size=inputs["size"], **attrs)

    return call


def cases() -> list[Case]:
    """Every case, by block."""
    rng = np.random.default_rng(0)
    photos = (rng.random((8, 224, 224, 3)) * 255).astype(np.uint8)
    floats = rng.standard_normal((8, 224, 224, 3)).astype(np.float32)
    feature = rng.standard_normal((4, 64, 64, 16)).astype(np.float32)
    raw = tf.raw_ops if tf is not None else None
    result: list[Case] = []
    for block, op_name, short in (
        ("ResizeBilinear", "ResizeBilinear", "bl"),
        ("ResizeNearestNeighbor", "ResizeNearestNeighbor", "nn"),
        ("ResizeBicubic", "ResizeBicubic", "bc"),
    ):
        op = getattr(raw, op_name) if raw is not None else None
        for label, images, size, half in (
            ("[8,224,224,3] uint8 -> 299x299 half-pixel", photos, (299, 299), True),
            ("[8,224,224,3] float32 -> 112x112", floats, (112, 112), False),
            ("[4,64,64,16] float32 -> 128x128 half-pixel", feature, (128, 128), True),
        ):
            attrs = {"align_corners": False, "half_pixel_centers": half}
            size_array = np.array(size, np.int32)
            result.append(
                _block_case(
                    f"{short}-{len(result) % 3}",
                    f"{block} {label}",
                    block,
                    {"images": images, "size": size_array},
                    attrs,
                    _tf_resize(op, attrs),
                )
            )
    array_cases: list[tuple[str, str, str, dict[str, Any], dict[str, Any], str, Any]] = [
        ("cast-0", "Cast [8,224,224,3] uint8 -> float32", "Cast",
         {"x": photos, "DstT": np.dtype(np.float32)}, {}, "Cast", {"DstT": tf_dtype("float32")}),
        ("cast-1", "Cast [8,224,224,3] float32 -> bfloat16", "Cast",
         {"x": floats, "DstT": np.dtype("bfloat16")}, {}, "Cast", {"DstT": tf_dtype("bfloat16")}),
        ("cast-2", "Cast [8,224,224,3] float32 -> int32 (in range)", "Cast",
         {"x": floats, "DstT": np.dtype(np.int32)}, {}, "Cast", {"DstT": tf_dtype("int32")}),
        ("tr-0", "Transpose [8,224,224,3] NHWC -> NCHW", "Transpose",
         {"x": floats, "perm": np.array([0, 3, 1, 2], np.int32)}, {}, "Transpose", {}),
        ("tr-1", "Transpose [4,64,64,16] swap H and W", "Transpose",
         {"x": feature, "perm": np.array([0, 2, 1, 3], np.int32)}, {}, "Transpose", {}),
        ("sl-0", "Slice [8,224,224,3] centre 112x112", "Slice",
         {"input": floats, "begin": np.array([0, 56, 56, 0], np.int32),
          "size": np.array([-1, 112, 112, -1], np.int32)}, {}, "Slice", {}),
        ("rs-0", "Reshape [8,224,224,3] -> [8,-1]", "Reshape",
         {"tensor": floats, "shape": np.array([8, -1], np.int32)}, {}, "Reshape", {}),
    ]
    for label, images, size in (
        ("[8,224,224,3] float32 -> 56x56", floats, (56, 56)),
        ("[8,224,224,3] uint8 -> 100x150", photos, (100, 150)),
    ):
        array_cases.append((
            f"ar-{len(array_cases) % 2}", f"ResizeArea {label}", "ResizeArea",
            {"images": images, "size": np.array(size, np.int32)}, {}, "ResizeArea", {},
        ))
    unit = rng.random((8, 224, 224, 3)).astype(np.float32)
    for op_name in ("RGBToHSV", "HSVToRGB"):
        array_cases.append((
            op_name.lower(), f"{op_name} [8,224,224,3] float32", op_name,
            {"images": unit}, {}, op_name, {},
        ))
    for op_name, factor, value in (("AdjustSaturation", "scale", 1.5), ("AdjustHue", "delta", 0.2)):
        array_cases.append((
            op_name.lower()[6:], f"{op_name} [8,224,224,3] float32", op_name,
            {"images": unit, factor: np.float32(value)}, {}, op_name, {},
        ))
    flat_unit = unit.reshape(-1)
    for short, label, shape in (("8x224", "[8,224,224,3]", (8, 224, 224, 3)),
                                ("1x512", "[1,512,512,3]", (1, 512, 512, 3)),
                                ("256x28", "[256,28,28,1]", (256, 28, 28, 1))):
        images = flat_unit[:int(np.prod(shape))].reshape(shape)
        array_cases.append((
            f"ct-{short}", f"AdjustContrastv2 {label} float32", "AdjustContrastv2",
            {"images": images, "contrast_factor": np.float32(1.5)}, {}, "AdjustContrastv2", {},
        ))
    corners = rng.random((2000, 2)).astype(np.float32) * 0.9
    proposals = np.concatenate([corners, corners + 0.1], axis=1).astype(np.float32)
    array_cases.append((
        "nms", "NonMaxSuppressionV3 2000 boxes, iou 0.5, keep 100", "NonMaxSuppressionV3",
        {"boxes": proposals, "scores": rng.random(2000).astype(np.float32),
         "max_output_size": np.int32(100), "iou_threshold": np.float32(0.5),
         "score_threshold": np.float32(-np.inf)},
        {}, "NonMaxSuppressionV3", {},
    ))
    rois = rng.random((64, 4)).astype(np.float32)
    rois[:, 2:] = np.maximum(rois[:, :2], rois[:, 2:])
    which = (np.arange(64) % 8).astype(np.int32)
    for method in ("bilinear", "nearest"):
        array_cases.append((
            f"crop-{method[0]}", f"CropAndResize 64 boxes of [8,224,224,3] -> 32x32 {method}",
            "CropAndResize",
            {"image": floats, "boxes": rois, "box_ind": which,
             "crop_size": np.array([32, 32], np.int32)},
            {"method": method}, "CropAndResize", {"method": method},
        ))
    for index, (label, shape) in enumerate((("3 x [8,224,224,3]", (8, 224, 224, 3)),
                                            ("3 x [256,16,16,3]", (256, 16, 16, 3)))):
        parts = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
        inputs = {f"values_{n}": part for n, part in enumerate(parts)}
        result.append(_block_case(
            f"cc-{index}", f"ConcatV2 {label} float32 along channels", "ConcatV2",
            {**inputs, "axis": np.int32(3)}, {}, _tf_concat,
        ))
    for name, label, block, inputs, attrs, op_name, tf_attrs in array_cases:
        tensors = {
            key: value
            for key, value in inputs.items()
            if isinstance(value, (np.ndarray, np.generic))
        }
        op = getattr(raw, op_name) if raw is not None else None
        result.append(
            _block_case(name, label, block, inputs, attrs, _tf_op(op, tensors, tf_attrs))
        )
    return result


def _tf_concat(tensors: dict[str, Any]) -> Any:
    """TensorFlow's ConcatV2 of the tensors ``values_0, values_1, ...`` along ``axis``."""
    count = sum(1 for name in tensors if name.startswith("values_"))
    return tf.raw_ops.ConcatV2(values=[tensors[f"values_{n}"] for n in range(count)],
                               axis=tensors["axis"])


def tf_dtype(name: str) -> Any:
    """TensorFlow's dtype called ``name`` (``None`` without TensorFlow)."""
    return None if tf is None else tf.as_dtype(name)


def _tf_op(op: Any, tensors: dict[str, Any], attrs: dict[str, Any]) -> Callable[..., Any]:
    names = list(tensors)

    def call(inputs: dict[str, Any]) -> Any:
        return op(**{name: inputs[name] for name in names}, **attrs)

    return call


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main(argv: list[str] | None = None) -> int:
    """Time every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 repeats instead of 15")
    parser.add_argument("--only", default="", help="run cases whose name starts with this")
    args = parser.parse_args(argv)
    repeats = 5 if args.quick else 15
    print(f"{'case':6} {'what':66} {'ours ms':>8} {'TF ms':>8} {'ours/TF':>8}  same")
    for case in cases():
        if not case.name.startswith(args.only):
            continue
        ours_out = case.ours()  # warm up both (first calls allocate and compile)
        theirs_out = case.theirs() if case.theirs else None
        ours_times: list[float] = []
        theirs_times: list[float] = []
        for _ in range(repeats):
            start = time.perf_counter()
            case.ours()
            ours_times.append(time.perf_counter() - start)
            if case.theirs is not None:
                start = time.perf_counter()
                case.theirs()
                theirs_times.append(time.perf_counter() - start)
        ours_ms = _median_ms(ours_times)
        if theirs_out is None:
            print(f"{case.name:6} {case.description:66} {ours_ms:8.2f} {'-':>8} {'-':>8}  -")
            continue
        theirs_ms = _median_ms(theirs_times)
        same = (
            ours_out.shape == theirs_out.shape
            and ours_out.dtype == theirs_out.dtype
            and ours_out.tobytes() == theirs_out.tobytes()
        )
        print(
            f"{case.name:6} {case.description:66} {ours_ms:8.2f} {theirs_ms:8.2f} "
            f"{ours_ms / theirs_ms:8.2f}  {'yes' if same else 'NO'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
