"""Make the library-op fixtures (resize, array ops) with TensorFlow (the ``oracle`` extra).

``main(out_dir)`` runs every case below through TensorFlow 2.21's raw op of the same
name and writes ``out_dir/manifest.json`` plus ``out_dir/ops.npz`` holding, per case
``<id>``, each input ``<id>.in.<port>`` and (value cases) the output ``<id>.expected``.
bfloat16 arrays are stored as their uint16 bit patterns (``"storage":
"bfloat16_bits_as_uint16"``). Error cases record TF's exception type and cleaned message
and the port or attr our block names. Tests replay it all through the blocks'
declarations (run and infer) without TensorFlow.

A case names the block, its inputs by our port names, and its attrs by our attr names;
:data:`TF_CALLS` maps them onto ``tf.raw_ops``. Value cases cover every attr
combination, edge sizes (1, larger than the image, empty batch), special floats (NaN
with payloads, infinities, -0.0, subnormals, the largest finite) and every dtype the
op takes.

Run it through ``python tools/make_golden.py ops``.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# tools/ is the script's folder (python tools/make_golden.py), so its modules import bare.
from golden_patches import make_images, write_fixture_set

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SEED = 20261126
NPZ_NAME = "ops.npz"
RESIZE_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "int64", "bfloat16", "float16",
                 "float32", "float64"]
# (align_corners, half_pixel_centers): every combination TF accepts.
RESIZE_MODES = [(False, False), (True, False), (False, True)]

Case = dict[str, Any]


def _i32(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.int32)


class _Cases:
    """Collects cases; inputs given as arrays or as (shape, dtype, special) to generate."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.items: list[Case] = []

    def image(self, shape: list[int], dtype: str = "float32", special: bool = False) -> Any:
        if dtype == "bool":
            return self.rng.random(shape) < 0.5
        if dtype in ("uint32", "uint64", "complex64", "complex128", "int8", "int16", "int32",
                     "int64", "uint8", "uint16", "float16", "float32", "float64", "bfloat16"):
            return make_images(shape, dtype, self.rng, special)
        raise ValueError(dtype)

    def add(self, block: str, case_id: str, inputs: dict[str, Any], attrs: dict[str, Any],
            *, port: str | None = None, attr: str | None = None,
            tags: tuple[str, ...] = (), literals: dict[str, str] | None = None) -> None:
        """A case; ``literals`` are inputs typed as text (a dtype name for Cast's DstT)."""
        self.items.append({"block": block, "id": case_id, "inputs": inputs, "attrs": attrs,
                           "port": port, "attr": attr, "tags": list(tags),
                           "literals": literals or {}})


# ----------------------------------------------------------------------------- resize


def _resize_attrs(block: str, align: bool, half: bool) -> dict[str, bool]:
    if block == "ResizeArea":
        return {"align_corners": align}
    return {"align_corners": align, "half_pixel_centers": half}


def _resize_cases(cases: _Cases) -> None:
    shapes = [
        ([1, 1, 1, 1], (1, 1), "one_pixel"),
        ([1, 1, 1, 2], (4, 3), "from_one_pixel"),
        ([2, 5, 7, 3], (3, 4), "down"),
        ([2, 5, 7, 3], (11, 13), "up"),
        ([1, 5, 7, 3], (5, 7), "same_size"),
        ([1, 5, 7, 2], (5, 9), "same_height"),
        ([1, 4, 4, 1], (1, 9), "to_one_row"),
        ([1, 3, 5, 4], (7, 2), "mixed"),
        ([1, 2, 3, 1], (17, 23), "much_larger"),
        ([1, 9, 6, 5], (4, 4), "c5"),
        ([0, 4, 4, 2], (3, 3), "batch0"),
        ([1, 6, 8, 1], (4, 6), "ratio_3_4"),
        ([1, 7, 7, 3], (3, 3), "ratio_3_7"),
    ]
    for block, short in (("ResizeBilinear", "bl"), ("ResizeNearestNeighbor", "nn"),
                         ("ResizeBicubic", "bc"), ("ResizeArea", "ar")):
        # ResizeArea has only align_corners (TF's op has no half_pixel_centers).
        modes = RESIZE_MODES[:2] if block == "ResizeArea" else RESIZE_MODES
        for align, half in modes:
            mode = f"ac{int(align)}hp{int(half)}"
            attrs = _resize_attrs(block, align, half)
            for shape, size, tag in shapes:
                cases.add(block, f"{short}_{mode}_{tag}",
                          {"images": cases.image(shape), "size": _i32(*size)}, attrs,
                          tags=(tag, mode))
            cases.add(block, f"{short}_{mode}_special_up",
                      {"images": cases.image([2, 4, 5, 3], special=True), "size": _i32(7, 9)},
                      attrs, tags=("special", mode))
            cases.add(block, f"{short}_{mode}_special_down",
                      {"images": cases.image([1, 9, 8, 3], special=True), "size": _i32(4, 3)},
                      attrs, tags=("special", mode))
            for channels, (shape, size) in ((1, ([1, 6, 7], (9, 4))), (4, ([2, 5, 4], (3, 8)))):
                cases.add(block, f"{short}_{mode}_special_c{channels}",
                          {"images": cases.image([*shape, channels], special=True),
                           "size": _i32(*size)}, attrs, tags=("special", mode))
            cases.add(block, f"{short}_{mode}_special_same",
                      {"images": cases.image([1, 3, 3, 3], special=True), "size": _i32(3, 3)},
                      attrs, tags=("special", mode))
        for index, dtype in enumerate(RESIZE_DTYPES):
            align, half = modes[index % len(modes)]
            attrs = _resize_attrs(block, align, half)
            cases.add(block, f"{short}_dtype_{dtype}",
                      {"images": cases.image([2, 5, 6, 3], dtype, special=True),
                       "size": _i32(8, 4)}, attrs, tags=("dtype",))
        for dtype in ("float64", "float16", "bfloat16"):  # the no-op resize converts only
            cases.add(block, f"{short}_same_size_{dtype}",
                      {"images": cases.image([1, 4, 5, 3], dtype, special=True),
                       "size": _i32(4, 5)}, _resize_attrs(block, False, False),
                      tags=("dtype", "same_size"))
        tiny = np.array([1e-40, -1e-40, 1e-45, 3e-39, 1.5, -0.0, 1e-300, 2.0**-126],
                        np.float64).reshape(1, 2, 4, 1)
        for size in ((2, 4), (3, 5)):
            cases.add(block, f"{short}_denormals_float64_{size[0]}x{size[1]}",
                      {"images": tiny, "size": _i32(*size)}, _resize_attrs(block, False, False),
                      tags=("special", "denormal"))
            cases.add(block, f"{short}_denormals_float32_{size[0]}x{size[1]}",
                      {"images": tiny.astype(np.float32), "size": _i32(*size)},
                      _resize_attrs(block, block == "ResizeArea", block != "ResizeArea"),
                      tags=("special", "denormal"))
        ok = _resize_attrs(block, False, False)
        image = cases.image([1, 4, 4, 3])
        errors: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
            ("hp_and_ac", {"images": image, "size": _i32(2, 2)},
             {"align_corners": True, "half_pixel_centers": True},
             {"attr": "half_pixel_centers"}),
            ("rank3", {"images": image[0], "size": _i32(2, 2)}, ok, {"port": "images"}),
            ("rank5", {"images": image[None], "size": _i32(2, 2)}, ok, {"port": "images"}),
            ("c0", {"images": cases.image([1, 4, 4, 0]), "size": _i32(2, 2)}, ok,
             {"port": "images"}),
            ("h0", {"images": cases.image([1, 0, 4, 3]), "size": _i32(2, 2)}, ok,
             {"port": "images"}),
            ("w0", {"images": cases.image([2, 4, 0, 3]), "size": _i32(2, 2)}, ok,
             {"port": "images"}),
            ("size3", {"images": image, "size": _i32(2, 2, 2)}, ok, {"port": "size"}),
            ("size1", {"images": image, "size": _i32(2)}, ok, {"port": "size"}),
            ("size2d", {"images": image, "size": _i32(2, 2).reshape(1, 2)}, ok,
             {"port": "size"}),
            ("size_zero", {"images": image, "size": _i32(0, 2)}, ok, {"port": "size"}),
            ("size_negative", {"images": image, "size": _i32(3, -1)}, ok, {"port": "size"}),
            ("bool", {"images": cases.image([1, 4, 4, 3], "bool"), "size": _i32(2, 2)}, ok,
             {"port": "images"}),
            ("uint32", {"images": cases.image([1, 4, 4, 3], "uint32"), "size": _i32(2, 2)}, ok,
             {"port": "images"}),
            ("complex64", {"images": cases.image([1, 4, 4, 3], "complex64"),
                           "size": _i32(2, 2)}, ok, {"port": "images"}),
            ("order_dtype_before_attrs", {"images": cases.image([4, 4, 3], "bool"),
                                          "size": _i32(2, 2)},
             {"align_corners": True, "half_pixel_centers": True}, {"port": "images"}),
            ("order_attrs_before_rank", {"images": image[0], "size": _i32(2, 2, 2)},
             {"align_corners": True, "half_pixel_centers": True},
             {"attr": "half_pixel_centers"}),
            ("order_rank_before_size", {"images": image[0], "size": _i32(0, 0, 0)}, ok,
             {"port": "images"}),
            ("order_channels_before_height", {"images": cases.image([1, 0, 4, 0]),
                                              "size": _i32(2, 2)}, ok, {"port": "images"}),
            ("order_image_before_size", {"images": cases.image([1, 0, 4, 3]),
                                         "size": _i32(0, 2)}, ok, {"port": "images"}),
            ("order_size_rank_before_count", {"images": image,
                                              "size": _i32(2, 2, 2).reshape(3, 1)}, ok,
             {"port": "size"}),
        ]
        for name, inputs, attrs, where in errors:
            if block == "ResizeArea":
                if where.get("attr") == "half_pixel_centers":
                    continue  # ResizeArea has no such attr
                attrs = {"align_corners": attrs["align_corners"]}
            cases.add(block, f"{short}_e_{name}", inputs, attrs, tags=("error",),
                      port=where.get("port"), attr=where.get("attr"))


# ----------------------------------------------------------------------------- CropAndResize

CROP_DTYPES = ["uint8", "uint16", "int8", "int16", "int32", "int64", "float16", "float32",
               "float64"]
_BOXES = np.array([
    [0.0, 0.0, 1.0, 1.0],        # the whole image
    [0.1, 0.2, 0.7, 0.9],        # inside
    [0.8, 0.9, 0.2, 0.1],        # flipped
    [-0.3, -0.2, 0.6, 1.4],      # partly outside
    [1.2, 1.1, 1.9, 1.5],        # wholly outside
    [0.5, 0.25, 0.5, 0.75],      # a line
    [0.33, 0.66, 0.34, 0.67],    # tiny
    [-2.0, -3.0, 3.0, 4.0],      # much larger than the image
], np.float32)


def _crop_cases(cases: _Cases) -> None:
    def add(case_id: str, image: np.ndarray, boxes: np.ndarray, box_ind: np.ndarray,
            size: tuple[int, ...], method: str = "bilinear", fill: str = "0",
            tags: tuple[str, ...] = (), **where: str) -> None:
        cases.add("CropAndResize", case_id,
                  {"image": image, "boxes": boxes, "box_ind": box_ind, "crop_size": _i32(*size)},
                  {"method": method, "extrapolation_value": fill}, tags=tags,
                  port=where.get("port"), attr=where.get("attr"))

    boxes = _BOXES
    spread = _i32(*[i % 2 for i in range(len(boxes))])
    for method in ("bilinear", "nearest"):
        for size in ((1, 1), (1, 5), (4, 1), (3, 3), (7, 4)):
            for fill in ("0", "-1.5"):
                add(f"crop_{method}_{size[0]}x{size[1]}_fill{fill}", cases.image([2, 5, 6, 3]),
                    boxes, spread, size, method, fill, tags=(method, "sizes"))
        for channels in (1, 4, 17):
            add(f"crop_{method}_c{channels}_special",
                cases.image([2, 6, 5, channels], special=True), boxes, spread, (5, 6), method,
                tags=(method, "special"))
        add(f"crop_{method}_special_c3", cases.image([2, 4, 4, 3], special=True), boxes, spread,
            (6, 5), method, tags=(method, "special"))
        add(f"crop_{method}_one_pixel_image", cases.image([1, 1, 1, 2]), boxes[:3],
            _i32(0, 0, 0), (3, 2), method, tags=(method, "edge"))
        add(f"crop_{method}_empty_boxes", cases.image([1, 3, 3, 2]),
            np.zeros((0, 4), np.float32), _i32(), (2, 2), method, tags=(method, "edge"))
        add(f"crop_{method}_c0", cases.image([1, 3, 3, 0]), boxes[:2], _i32(0, 0), (2, 2),
            method, tags=(method, "edge"))
        add(f"crop_{method}_denormals", np.array(
            [1e-40, -1e-40, 1.5, -0.0, 1e-300, 3e-39, 2.0**-126, 1.0], np.float64
        ).reshape(1, 2, 4, 1), boxes, _i32(*[0] * len(boxes)), (3, 5), method,
            tags=(method, "special"))
        for index, dtype in enumerate(CROP_DTYPES):
            add(f"crop_{method}_dtype_{dtype}", cases.image([2, 5, 4, 3], dtype, special=True),
                boxes, spread, (4, 3 + index % 3), method, tags=(method, "dtype"))
    image = cases.image([2, 5, 6, 3])
    two = boxes[:2]
    ind = _i32(0, 1)
    add("crop_e_method", image, two, ind, (2, 2), method="bicubic", attr="method")
    add("crop_e_bool", cases.image([2, 5, 6, 3], "bool"), two, ind, (2, 2), port="image")
    add("crop_e_uint32", cases.image([2, 5, 6, 3], "uint32"), two, ind, (2, 2), port="image")
    add("crop_e_image_3d", image[0], two, ind, (2, 2), port="image")
    add("crop_e_image_h0", cases.image([2, 0, 6, 3]), two, ind, (2, 2), port="image")
    add("crop_e_boxes_1d", image, two[0], ind, (2, 2), port="boxes")
    add("crop_e_boxes_empty_1d", image, np.zeros(0, np.float32), _i32(), (2, 2), port="boxes")
    add("crop_e_boxes_3_columns", image, two[:, :3], ind, (2, 2), port="boxes")
    add("crop_e_box_ind_2d", image, two, ind[None], (2, 2), port="box_ind")
    add("crop_e_box_ind_length", image, two, ind[:1], (2, 2), port="box_ind")
    add("crop_e_crop_size_3", image, two, ind, (2, 2, 2), port="crop_size")
    add("crop_e_crop_size_2d", image, two, ind, (2, 2), port="crop_size")
    cases.items[-1]["inputs"]["crop_size"] = _i32(2, 2).reshape(1, 2)
    add("crop_e_crop_size_zero", image, two, ind, (0, 2), port="crop_size")
    add("crop_e_box_ind_high", image, two, _i32(0, 2), (2, 2), port="box_ind")
    add("crop_e_box_ind_negative", image, two, _i32(-1, 0), (2, 2), port="box_ind")
    add("crop_e_empty_batch", cases.image([0, 5, 6, 3]), two, ind, (2, 2), port="box_ind")
    nan_boxes = two.copy()
    nan_boxes[1, 3] = np.nan
    add("crop_e_boxes_nan", image, nan_boxes, ind, (2, 2), port="boxes")
    inf_boxes = two.copy()
    inf_boxes[0, 0] = -np.inf
    add("crop_e_boxes_inf", image, inf_boxes, ind, (2, 2), port="boxes")
    add("crop_e_order_box_ind_before_nan", image, nan_boxes, _i32(0, 5), (2, 2),
        port="box_ind")
    add("crop_e_order_image_before_boxes", image[0], two[0], ind, (2, 2), port="image")
    add("crop_e_order_boxes_before_crop_size", image, two[:, :3], ind, (0, 2), port="boxes")


# ----------------------------------------------------------------------------- colorspace


def _colorspace_cases(cases: _Cases) -> None:
    for block, short in (("RGBToHSV", "rgb2hsv"), ("HSVToRGB", "hsv2rgb")):
        for dtype in ("float16", "bfloat16", "float32", "float64"):
            unit = np.abs(cases.image([4, 5, 3], "float64")) / 150.0
            for_dtype = unit.astype(np.float32).astype(dtype) if dtype == "bfloat16" else (
                unit.astype(dtype))
            cases.add(block, f"{short}_{dtype}_unit", {"images": for_dtype}, {},
                      tags=("dtype",))
            cases.add(block, f"{short}_{dtype}_special",
                      {"images": cases.image([40, 3], dtype, special=True)}, {},
                      tags=("dtype", "special"))
        grey = np.array([[0.3, 0.3, 0.3], [0, 0, 0], [1, 1, 1], [-0.0, 0, 0], [1, 0, 0],
                         [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.5, 0.5, 0.2], [0.2, 0.5, 0.5],
                         [1e-40, 0, 0], [2, -1, 0.5], [1.2, 0.3, 7.0]], np.float32)
        cases.add(block, f"{short}_edges", {"images": grey}, {}, tags=("edge",))
        cases.add(block, f"{short}_one_pixel", {"images": grey[4]}, {}, tags=("edge",))
        cases.add(block, f"{short}_empty", {"images": np.zeros((0, 3), np.float32)}, {},
                  tags=("edge",))
        cases.add(block, f"{short}_e_channels", {"images": np.zeros((2, 4), np.float32)}, {},
                  port="images", tags=("error",))
        cases.add(block, f"{short}_e_scalar", {"images": np.float32(1)}, {}, port="images",
                  tags=("error",))
        cases.add(block, f"{short}_e_uint8", {"images": np.zeros((2, 3), np.uint8)}, {},
                  port="images", tags=("error",))


# ----------------------------------------------------------------------------- adjust


def _adjust_cases(cases: _Cases) -> None:
    for block, short, factor, values in (
        ("AdjustSaturation", "sat", "scale", (0.0, 0.5, 1.0, 2.5, -1.0, np.nan, np.inf)),
        ("AdjustHue", "hue", "delta", (0.0, 0.25, -0.7, 1.5, -3.3, 0.5)),
    ):
        unit = np.abs(cases.image([2, 4, 5, 3], "float64")) / 150.0
        for index, value in enumerate(values):
            cases.add(block, f"{short}_{index}_unit", {
                "images": unit.astype(np.float32), factor: np.float32(value)}, {},
                tags=("values",))
            cases.add(block, f"{short}_{index}_special", {
                "images": cases.image([30, 1, 3], "float32", special=True),
                factor: np.float32(value)}, {}, tags=("special",))
        edges = np.array([[0.3, 0.3, 0.3], [0, 0, 0], [1, 1, 1], [-0.0, 0, 0], [1, 0, 0],
                          [0, 1, 0], [0, 0, 1], [1, 1, 0], [0.5, 0.5, 0.2], [0.2, 0.5, 0.5],
                          [1e-40, 0, 0], [2, -1, 0.5], [1.2, 0.3, 7.0]], np.float32)
        cases.add(block, f"{short}_edges", {"images": edges.reshape(13, 1, 3),
                                            factor: np.float32(0.3)}, {}, tags=("edge",))
        cases.add(block, f"{short}_empty", {"images": np.zeros((0, 2, 3), np.float32),
                                            factor: np.float32(0.3)}, {}, tags=("edge",))
        grid_values = [1e-40, -1e-40, 0.0, -0.0, -1.0, 1.0, 2.0, np.nan, 3e-39]
        grid = np.array(list(itertools.product(grid_values, repeat=3)), np.float32)
        cases.add(block, f"{short}_denormal_grid", {"images": grid.reshape(-1, 1, 3),
                                                    factor: np.float32(0.3)}, {},
                  tags=("special", "denormal"))
        one = np.float32(0.5)
        cases.add(block, f"{short}_e_rank2", {"images": edges, factor: one}, {},
                  port="images", tags=("error",))
        cases.add(block, f"{short}_e_channels", {"images": np.zeros((1, 2, 4), np.float32),
                                                 factor: one}, {}, port="images",
                  tags=("error",))
        cases.add(block, f"{short}_e_factor_vector", {"images": edges.reshape(13, 1, 3),
                                                      factor: np.array([0.5], np.float32)}, {},
                  port=factor, tags=("error",))
        cases.add(block, f"{short}_e_float64", {"images": edges.reshape(13, 1, 3).astype(
            np.float64), factor: one}, {}, port="images", tags=("error",))
        cases.add(block, f"{short}_e_order_rank_before_factor", {
            "images": edges, factor: np.array([0.5], np.float32)}, {}, port="images",
            tags=("error",))


def _nan(bits: int) -> np.float32:
    return np.array([bits], np.uint32).view(np.float32)[0]


def _contrast_cases(cases: _Cases) -> None:
    """AdjustContrastv2: TF's halving sum and its NaN operand order need odd and large
    planes, wide value ranges (so a different summation order shows), many NaNs per
    channel at every position of TF's 32-float loop, and values at the edge of normal."""
    rng = cases.rng
    block = "AdjustContrastv2"

    def add(case_id: str, images: Any, factor: Any, tags: tuple[str, ...],
            port: str | None = None) -> None:
        cases.add(block, f"contrast_{case_id}", {
            "images": images, "contrast_factor": np.asarray(factor, np.float32)}, {},
            port=port, tags=tags)

    def wide(shape: list[int]) -> np.ndarray:
        exponents = rng.integers(-20, 21, size=shape)
        return (rng.standard_normal(shape) * 2.0 ** exponents).astype(np.float32)

    for index, factor in enumerate((0.5, 1.5, -1.0, 0.0, 1.0, 2.75)):
        add(f"{index}_values", cases.image([2, 5, 7, 3]), factor, ("values",))
    add("wide_odd", wide([3, 37, 41, 3]), 0.8, ("values", "order"))
    add("wide_c5", wide([2, 13, 11, 5]), -0.3, ("values", "order"))
    add("rank5", wide([2, 2, 3, 4, 3]), 1.7, ("values",))
    add("rank3", wide([9, 6, 2]), 0.25, ("values",))
    add("large", wide([1, 181, 179, 1]), 1.3, ("values", "large", "order"))
    add("tall", wide([1, 1023, 1, 2]), 0.6, ("values", "order"))
    add("pixels_1", cases.image([4, 1, 1, 3]), 2.0, ("edge",))
    add("pixels_2", cases.image([2, 1, 2, 3]), 0.5, ("edge",))
    add("pixels_3", cases.image([2, 3, 1, 1]), 0.5, ("edge",))
    add("uint8_range", cases.rng.integers(0, 256, size=[2, 16, 16, 3]).astype(np.float32), 1.4,
        ("values",))
    for case_id, shape in (("empty_batch", [0, 4, 4, 3]), ("empty_height", [2, 0, 4, 3]),
                           ("empty_channels", [2, 4, 4, 0])):
        add(case_id, np.zeros(shape, np.float32), 0.5, ("edge",))
    factors: dict[str, Any] = {"nan": _nan(0x7FC00005), "neg_nan": _nan(0xFFC00006), "inf": np.inf,
               "neg_inf": -np.inf, "denormal": 1e-40, "tiny": 1e-30, "huge": 1e30, "half": 0.5}
    for name, factor in factors.items():
        add(f"special_{name}", cases.image([2, 6, 7, 3], special=True), factor, ("special",))
    # Many different NaNs per channel, across full and partial turns of TF's loop.
    nans = rng.standard_normal([3, 9, 11, 3]).astype(np.float32)
    flat = nans.reshape(-1)
    where = rng.choice(flat.size, size=flat.size // 8, replace=False)
    payloads = np.array([0x7FC00001, 0xFFC00002, 0x7FA00003, 0x7F800000, 0xFF800000,
                         0x7FC00004], np.uint32)
    flat.view(np.uint32)[where] = rng.choice(payloads, size=where.size)
    for name, value in (("half", 0.5), ("zero", 0.0), ("nan", _nan(0x7FC00007))):
        add(f"nans_{name}", nans, value, ("special", "nan"))
    infinities = np.full([1, 4, 9, 2], np.inf, np.float32)
    infinities[0, :, :, 1] = -np.inf
    infinities[0, 0, 0, 1] = np.inf  # inf - inf: TF's own NaN
    add("infinities", infinities, _nan(0x7FC00009), ("special",))
    add("overflow", np.full([1, 3, 5, 1], 3e38, np.float32), 0.5, ("special",))
    # Denormals read as zero; products just below 2^-126 that round up flush too.
    add("denormals", (rng.standard_normal([2, 7, 9, 3]) * 1e-39).astype(np.float32), 0.5,
        ("special", "denormal"))
    add("normal_edge", (rng.standard_normal([2, 17, 19, 3]) * 2.0**-125).astype(np.float32),
        0.5, ("special", "denormal"))
    add("small_factor", wide([1, 8, 8, 3]) * np.float32(2.0**-100), 3e-9,
        ("special", "denormal"))
    one = np.float32(0.5)
    add("e_rank2", np.zeros((4, 3), np.float32), one, ("error",), port="images")
    add("e_scalar", np.float32(1), one, ("error",), port="images")
    add("e_factor_vector", np.zeros((1, 2, 2, 3), np.float32), np.array([0.5], np.float32),
        ("error",), port="contrast_factor")
    add("e_empty_factor_vector", np.zeros((0, 2, 3), np.float32), np.zeros([2], np.float32),
        ("error",), port="contrast_factor")
    add("e_order_rank_before_factor", np.zeros((4, 3), np.float32),
        np.array([0.5], np.float32), ("error",), port="images")
    for dtype in ("float64", "int32", "uint8", "bfloat16"):
        add(f"e_{dtype}", cases.image([1, 2, 2, 3], dtype), one, ("error",), port="images")


# ----------------------------------------------------------------------------- boxes

_DRAW_BOXES = np.array([
    [0.1, 0.2, 0.6, 0.9],       # inside
    [0.0, 0.0, 1.0, 1.0],       # the border
    [-0.3, -0.2, 0.5, 1.4],     # partly outside
    [0.7, 0.8, 0.2, 0.3],       # inverted: skipped
    [1.5, 1.2, 2.0, 3.0],       # wholly outside: skipped
    [0.5, 0.5, 0.5, 0.5],       # a point
    [np.nan, 0.1, 0.5, 0.5],    # NaN: INT64_MIN
    [0.2, -np.inf, 0.4, np.inf],
    [-1e30, 0.3, 1e30, 0.6],
    [0.3, 0.3, 0.7, 0.35],
    [0.05, 0.05, 0.95, 0.95],   # the 11th box: colour index wraps
], np.float32)


def _draw_cases(cases: _Cases) -> None:
    for depth in (1, 3, 4):
        for dtype in ("float32", "float16"):
            images = cases.image([2, 9, 11, depth], dtype)
            boxes = np.stack([_DRAW_BOXES, _DRAW_BOXES[::-1]])
            cases.add("DrawBoundingBoxes", f"draw_d{depth}_{dtype}",
                      {"images": images, "boxes": boxes}, {}, tags=("values",))
            colors = np.abs(cases.image([3, 4], "float32")) / 100
            cases.add("DrawBoundingBoxesV2", f"draw2_d{depth}_{dtype}",
                      {"images": images, "boxes": boxes, "colors": colors}, {},
                      tags=("values",))
    images = cases.image([1, 5, 6, 3])
    one = _DRAW_BOXES[None, :4]
    cases.add("DrawBoundingBoxesV2", "draw2_empty_colors",
              {"images": images, "boxes": one, "colors": np.zeros((0, 3), np.float32)}, {},
              tags=("edge",))
    cases.add("DrawBoundingBoxesV2", "draw2_wide_colors",
              {"images": images, "boxes": one, "colors": np.eye(5, dtype=np.float32)}, {},
              tags=("edge",))
    cases.add("DrawBoundingBoxes", "draw_one_pixel", {
        "images": cases.image([1, 1, 1, 3]), "boxes": one}, {}, tags=("edge",))
    cases.add("DrawBoundingBoxes", "draw_no_boxes", {
        "images": images, "boxes": np.zeros((1, 0, 4), np.float32)}, {}, tags=("edge",))
    errors = [
        ("rank3", {"images": images[0], "boxes": one}, "images"),
        ("boxes_rank2", {"images": images, "boxes": one[0]}, "boxes"),
        ("batch", {"images": images, "boxes": np.concatenate([one, one])}, "boxes"),
        ("depth2", {"images": cases.image([1, 5, 6, 2]), "boxes": one}, "images"),
        ("box_width", {"images": images, "boxes": one[..., :3]}, "boxes"),
        ("float64", {"images": images.astype(np.float64), "boxes": one}, "images"),
    ]
    for name, inputs, port in errors:
        cases.add("DrawBoundingBoxes", f"draw_e_{name}", inputs, {}, port=port,
                  tags=("error",))
    cases.add("DrawBoundingBoxesV2", "draw2_e_colors_1d", {
        "images": images, "boxes": one, "colors": np.ones(3, np.float32)}, {}, port="colors",
        tags=("error",))
    cases.add("DrawBoundingBoxesV2", "draw2_e_colors_narrow", {
        "images": images, "boxes": one, "colors": np.ones((2, 2), np.float32)}, {},
        port="colors", tags=("error",))


# ----------------------------------------------------------------------------- NMS


def _nms_cases(cases: _Cases) -> None:
    rng = cases.rng

    def add(case_id: str, boxes: np.ndarray, scores: np.ndarray, limit: int,
            iou: float = 0.5, floor: float = -np.inf, port: str | None = None,
            tags: tuple[str, ...] = ()) -> None:
        cases.add("NonMaxSuppressionV3", case_id, {
            "boxes": boxes, "scores": scores, "max_output_size": np.int32(limit),
            "iou_threshold": np.float32(iou), "score_threshold": np.float32(floor)}, {},
            port=port, tags=tags)

    def random_boxes(n: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
        corner = rng.random((n, 2)) * 0.8
        size = rng.random((n, 2)) * 0.4
        boxes = np.concatenate([corner, corner + size], axis=1)
        flip = rng.random(n) < 0.3  # corners given in either order
        boxes[flip] = boxes[flip][:, [2, 3, 0, 1]]
        scores = rng.random(n).round(2)  # ties
        return boxes.astype(dtype), scores.astype(dtype)

    for dtype in ("float32", "float16"):
        boxes, scores = random_boxes(60, dtype)
        for iou in (0.0, 0.3, 0.5, 1.0):
            for floor in (-np.inf, 0.4):
                add(f"nms_{dtype}_iou{iou}_floor{floor}", boxes, scores, 25, iou, floor,
                    tags=("values",))
        add(f"nms_{dtype}_limit0", boxes, scores, 0, tags=("edge",))
        add(f"nms_{dtype}_limit_large", boxes, scores, 1000, tags=("edge",))
    special_boxes = np.array([
        [0, 0, 1, 1], [0, 0, 1, 1], [0.1, 0.1, 0.9, 0.9], [np.nan, 0, 1, 1],
        [0, 0, np.inf, 1], [0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], [-0.0, 0, 1e-40, 1],
        [0.2, 0.2, 0.4, 0.4], [0.3, 0.3, 0.5, 0.5]], np.float32)
    special_scores = np.array([0.9, 0.9, np.nan, 0.8, 0.7, 0.95, np.inf, 0.5, 0.0, -1.0],
                              np.float32)
    for floor in (-np.inf, 0.0, -2.0):
        add(f"nms_special_floor{floor}", special_boxes, special_scores, 10, 0.5, floor,
            tags=("special",))
    add("nms_empty", np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 5,
        tags=("edge",))
    boxes, scores = random_boxes(5)
    add("nms_e_limit_1d", boxes, scores, 3, port="max_output_size", tags=("error",))
    cases.items[-1]["inputs"]["max_output_size"] = np.array([3], np.int32)
    add("nms_e_iou_high", boxes, scores, 3, iou=1.5, port="iou_threshold", tags=("error",))
    add("nms_e_iou_nan", boxes, scores, 3, iou=np.nan, port="iou_threshold",
        tags=("error",))
    add("nms_e_iou_1d", boxes, scores, 3, port="iou_threshold", tags=("error",))
    cases.items[-1]["inputs"]["iou_threshold"] = np.array([0.5], np.float32)
    add("nms_e_score_1d", boxes, scores, 3, port="score_threshold", tags=("error",))
    cases.items[-1]["inputs"]["score_threshold"] = np.array([0.5], np.float32)
    add("nms_e_boxes_1d", boxes[0], scores, 3, port="boxes", tags=("error",))
    add("nms_e_boxes_3_columns", boxes[:, :3], scores, 3, port="boxes", tags=("error",))
    add("nms_e_scores_2d", boxes, scores[None], 3, port="scores", tags=("error",))
    add("nms_e_scores_length", boxes, scores[:4], 3, port="scores", tags=("error",))
    add("nms_e_limit_negative", boxes, scores, -1, port="max_output_size", tags=("error",))
    add("nms_e_order_limit_before_boxes", boxes[0], scores, 3, port="max_output_size",
        tags=("error",))
    cases.items[-1]["inputs"]["max_output_size"] = np.array([3], np.int32)


# ----------------------------------------------------------------------------- array ops

ALL_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
              "float16", "bfloat16", "float32", "float64", "complex64", "complex128"]


def _array_cases(cases: _Cases) -> None:
    for index, dtype in enumerate(ALL_DTYPES):
        x = cases.image([2, 3, 1, 4], dtype, special=True)
        cases.add("Reshape", f"reshape_{dtype}", {"tensor": x, "shape": _i32(4, -1)}, {},
                  tags=("dtype",))
        cases.add("ExpandDims", f"expand_dims_{dtype}", {"input": x, "axis": _i32(-2)}, {},
                  tags=("dtype",))
        dims = ["", "2", "-2", "2,2"][index % 4]
        cases.add("Squeeze", f"squeeze_{dtype}", {"input": x}, {"squeeze_dims": dims},
                  tags=("dtype",))
        cases.add("Transpose", f"transpose_{dtype}", {"x": x, "perm": _i32(3, 0, 2, 1)}, {},
                  tags=("dtype",))
        cases.add("Slice", f"slice_{dtype}",
                  {"input": x, "begin": _i32(1, 1, 0, 1), "size": _i32(-1, 2, 1, -1)}, {},
                  tags=("dtype",))
    x = cases.image([2, 3], "float32")
    empty = cases.image([0, 3], "float32")
    values: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
        ("Reshape", "reshape_scalar_shape", {"tensor": x, "shape": np.int32(6)}, {}),
        ("Reshape", "reshape_to_scalar", {"tensor": x[:1, :1], "shape": _i32()}, {}),
        ("Reshape", "reshape_empty_keep_zero", {"tensor": empty, "shape": _i32(0, -1)}, {}),
        ("Reshape", "reshape_empty_infer", {"tensor": empty, "shape": _i32(-1, 2)}, {}),
        ("Reshape", "reshape_int64_shape", {"tensor": x, "shape": np.array([3, 2], np.int64)},
         {}),
        ("ExpandDims", "expand_dims_last", {"input": x, "axis": _i32(2)}, {}),
        ("ExpandDims", "expand_dims_first_negative", {"input": x, "axis": _i32(-3)}, {}),
        ("ExpandDims", "expand_dims_scalar", {"input": np.float32(2.5), "axis": _i32(0)}, {}),
        ("ExpandDims", "expand_dims_axis_vector", {"input": x, "axis": _i32(1)}, {}),
        ("Squeeze", "squeeze_all", {"input": cases.image([1, 3, 1, 2])}, {"squeeze_dims": ""}),
        ("Squeeze", "squeeze_empty_dim", {"input": cases.image([1, 0, 1])},
         {"squeeze_dims": ""}),
        ("Squeeze", "squeeze_listed", {"input": cases.image([1, 3, 1, 2])},
         {"squeeze_dims": "0,-4"}),
        ("Transpose", "transpose_negative", {"x": cases.image([1, 3, 1, 2]),
                                             "perm": _i32(0, 1, 3, -2)}, {}),
        ("Transpose", "transpose_scalar", {"x": np.float32(3), "perm": _i32()}, {}),
        ("Transpose", "transpose_empty", {"x": cases.image([0, 2, 3]), "perm": _i32(2, 0, 1)},
         {}),
        ("Slice", "slice_empty_size", {"input": x, "begin": _i32(1, 3), "size": _i32(1, -1)},
         {}),
        ("Slice", "slice_zero_dim", {"input": empty, "begin": _i32(0, 1), "size": _i32(0, 2)},
         {}),
        ("Slice", "slice_scalar", {"input": np.float32(1), "begin": _i32(), "size": _i32()}, {}),
    ]
    for block, case_id, inputs, attrs in values:
        cases.add(block, case_id, inputs, attrs, tags=("edge",))
    z = cases.image([2, 3, 4], "int32")
    y = cases.image([1, 3, 1, 2])
    errors: list[tuple[str, str, dict[str, Any], dict[str, Any], dict[str, str]]] = [
        ("Reshape", "two_unknown", {"tensor": x, "shape": _i32(-1, -1)}, {}, {"port": "shape"}),
        ("Reshape", "negative", {"tensor": x, "shape": _i32(-2, 3)}, {}, {"port": "shape"}),
        ("Reshape", "count", {"tensor": x, "shape": _i32(4)}, {}, {"port": "shape"}),
        ("Reshape", "not_multiple", {"tensor": x, "shape": _i32(4, -1)}, {}, {"port": "shape"}),
        ("Reshape", "zero_with_unknown", {"tensor": x, "shape": _i32(0, -1)}, {},
         {"port": "shape"}),
        ("Reshape", "shape_2d", {"tensor": x, "shape": _i32(6).reshape(1, 1)}, {},
         {"port": "shape"}),
        ("Reshape", "order_unknown_before_negative", {"tensor": x, "shape": _i32(-1, -1, -3)},
         {}, {"port": "shape"}),
        ("Reshape", "too_many", {"tensor": x, "shape": np.array([2**40, 2**40], np.int64)}, {},
         {"port": "shape"}),
        ("ExpandDims", "axis_low", {"input": x, "axis": _i32(-4)}, {}, {"port": "axis"}),
        ("ExpandDims", "axis_high", {"input": x, "axis": _i32(3)}, {}, {"port": "axis"}),
        ("ExpandDims", "axis_two", {"input": x, "axis": _i32(1, 2)}, {}, {"port": "axis"}),
        ("ExpandDims", "axis_none", {"input": x, "axis": _i32()}, {}, {"port": "axis"}),
        ("Squeeze", "not_one", {"input": y}, {"squeeze_dims": "1"}, {"attr": "squeeze_dims"}),
        ("Squeeze", "index_high", {"input": y}, {"squeeze_dims": "4"}, {"attr": "squeeze_dims"}),
        ("Squeeze", "index_low", {"input": y}, {"squeeze_dims": "-5"},
         {"attr": "squeeze_dims"}),
        ("Squeeze", "order_index_before_size", {"input": y}, {"squeeze_dims": "1,4"},
         {"attr": "squeeze_dims"}),
        ("Transpose", "short", {"x": y, "perm": _i32(1, 0)}, {}, {"port": "perm"}),
        ("Transpose", "duplicate", {"x": y, "perm": _i32(0, 0, 1, 2)}, {}, {"port": "perm"}),
        ("Transpose", "out_of_range", {"x": y, "perm": _i32(0, 1, 2, 4)}, {}, {"port": "perm"}),
        ("Transpose", "negative_out_of_range", {"x": y, "perm": _i32(0, 1, 2, -5)}, {},
         {"port": "perm"}),
        ("Transpose", "perm_2d", {"x": y, "perm": _i32(0, 1, 2, 3).reshape(1, 4)}, {},
         {"port": "perm"}),
        ("Slice", "short", {"input": z, "begin": _i32(0, 1), "size": _i32(2, 1)}, {},
         {"port": "begin"}),
        ("Slice", "size_short", {"input": z, "begin": _i32(0, 1, 1), "size": _i32(2, 1)}, {},
         {"port": "size"}),
        ("Slice", "begin_high", {"input": z, "begin": _i32(0, 4, 1), "size": _i32(2, -1, 2)},
         {}, {"port": "begin"}),
        ("Slice", "begin_negative", {"input": z, "begin": _i32(0, -1, 1),
                                     "size": _i32(2, 1, 2)}, {}, {"port": "begin"}),
        ("Slice", "size_high", {"input": z, "begin": _i32(0, 1, 1), "size": _i32(2, 3, 2)}, {},
         {"port": "size"}),
        ("Slice", "size_negative", {"input": z, "begin": _i32(0, 1, 1),
                                    "size": _i32(2, -2, 2)}, {}, {"port": "size"}),
        ("Slice", "order_dims_in_turn", {"input": z, "begin": _i32(3, 1, 1),
                                         "size": _i32(2, 5, 2)}, {}, {"port": "begin"}),
        ("Slice", "zero_dim_begin", {"input": empty, "begin": _i32(1, 0), "size": _i32(0, 1)},
         {}, {"port": "begin"}),
    ]
    for block, name, inputs, attrs, where in errors:
        cases.add(block, f"{block.lower()}_e_{name}", inputs, attrs, tags=("error",),
                      port=where.get("port"), attr=where.get("attr"))


# ----------------------------------------------------------------------------- ConcatV2
# The block's ports values_0 .. values_{N-1} (its variadic group) and axis; the tests
# replay these through the ConcatV2 block with as many ports as the case has values.


def _concat_cases(cases: _Cases) -> None:
    def add(case_id: str, values: list[np.ndarray], axis: Any, port: str | None = None,
            tags: tuple[str, ...] = ()) -> None:
        inputs: dict[str, Any] = {f"values_{k}": v for k, v in enumerate(values)}
        inputs["axis"] = np.asarray(axis, np.int32)
        cases.add("ConcatV2", case_id, inputs, {}, port=port, tags=tags)

    for dtype in ALL_DTYPES:
        a, b = cases.image([2, 3, 2], dtype, special=True), cases.image([2, 1, 2], dtype)
        add(f"concat_{dtype}", [a, b, a], 1, tags=("dtype",))
    x = cases.image([2, 3])
    add("concat_axis0", [x, cases.image([4, 3])], 0, tags=("values",))
    add("concat_negative_axis", [x, cases.image([2, 5])], -1, tags=("values",))
    add("concat_empty_part", [cases.image([0, 3]), x], 0, tags=("edge",))
    add("concat_axis_vector", [x, x], [1], tags=("edge",))
    add("concat_e_axis_high", [x, x], 2, port="axis", tags=("error",))
    add("concat_e_axis_low", [x, x], -3, port="axis", tags=("error",))
    add("concat_e_dims", [x, cases.image([2, 4])], 0, port="values_1", tags=("error",))
    add("concat_e_ranks", [x, cases.image([2])], 0, port="values_1", tags=("error",))
    add("concat_e_third", [x, x, cases.image([3, 5])], 1, port="values_2", tags=("error",))
    add("concat_e_scalars", [np.array(1, np.float32), np.array(2, np.float32)], 0, port="values_0",
        tags=("error",))


# ----------------------------------------------------------------------------- Cast

_CAST_FLOATS = [0.0, -0.0, 0.3, -0.7, 1.5, -1.5, 2.5, -2.7, 2.7, 127.9, -128.9, 255.5,
                32767.9, -32768.9, 65535.5, 65520.0, 65519.99, 1.00048828125, 1.0009765625,
                1.005859375, 3.0000002, 16777217.0, 2147483520.0, -2147483648.0,
                4294967040.0, 9.2e18, -9.2e18, 1.8e19, 1e20, -1e20, 3.4e38, 1e300, 1e-40,
                -1e-45, 1e-310, 6e-8, 2.0**-126, 2.0**-149, 2.0**-24, 1 / 3, -1e-20]
_SPECIAL = [np.nan, -np.nan, np.inf, -np.inf]
_NAN_BITS = {"float16": [0x7E01, 0x7C01, 0xFE02], "bfloat16": [0x7FC1, 0x7F81, 0xFF82],
             "float32": [0x7FC00001, 0x7F800001, 0xFFC00123],
             "float64": [0x7FF8000000000001, 0x7FF0000000000001, 0xFFF8000000000123]}


def _float_values(dtype: str) -> np.ndarray:
    """Rounding-sensitive, extreme, denormal and NaN-payload values of a float dtype."""
    base = np.array(_CAST_FLOATS + _SPECIAL, np.float64)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        if dtype == "bfloat16":
            import ml_dtypes

            values = base.astype(np.float32).astype(ml_dtypes.bfloat16)
        elif dtype == "float16":
            values = base.astype(np.float32).astype(np.float16)
        else:
            values = base.astype(dtype)
    unsigned = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32,
                "float64": np.uint64}[dtype]
    payloads = np.array(_NAN_BITS[dtype], unsigned).view(values.dtype)
    return np.concatenate([values, payloads])


def _cast_source(cases: _Cases, src: str, dst: str) -> np.ndarray:
    if src == "bool":
        return np.array([True, False, True, True])
    if src.startswith("complex"):
        part = "float32" if src == "complex64" else "float64"
        real = _cast_source(cases, part, dst)
        imag = _float_values(part)
        imag = np.resize(imag, real.shape)[::-1]
        out = np.empty(real.shape, src)
        out.real, out.imag = real, imag
        return out
    if src in ("float16", "bfloat16", "float32", "float64"):
        values = _float_values(src)
        if dst in ALL_DTYPES[1:9]:  # to integers: only values with a defined result
            info = np.iinfo(dst)
            with np.errstate(invalid="ignore"):
                whole = np.trunc(values.astype(np.float64))
                keep = np.isfinite(whole) & (whole >= info.min) & (whole <= info.max)
            values = values[keep]
        return values
    info = np.iinfo(src)
    extremes = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1], src)
    small = np.array([-1, 127, -128, 255, 256, 32767, -32769, 65535, 65536, 16777217,
                      2**31 - 1, 2**53 + 1, 2**62 + 2**39 + 1], np.int64)
    if info.min == 0:
        small = small[small >= 0]
    fits = small[(small >= int(info.min)) & (small <= int(info.max))].astype(src)
    wraps = small.astype(src) if src in ("int8", "uint8", "int16", "uint16") else fits
    return np.concatenate([extremes, fits, wraps, cases.image([8], src)])


def _cast_cases(cases: _Cases) -> None:
    for src in ALL_DTYPES:
        for dst in ALL_DTYPES:
            if src == dst:
                continue
            x = _cast_source(cases, src, dst)
            for truncate in (False, True):
                cases.add("Cast", f"cast_{src}_to_{dst}{'_truncate' if truncate else ''}",
                          {"x": x}, {"Truncate": truncate}, literals={"DstT": dst},
                          tags=("dtype", "truncate" if truncate else "round"))
    cases.add("Cast", "cast_float32_same", {"x": _float_values("float32")},
              {"Truncate": False}, literals={"DstT": "float32"}, tags=("dtype",))
    cases.add("Cast", "cast_empty", {"x": cases.image([0, 3], "float64")},
              {"Truncate": False}, literals={"DstT": "int8"}, tags=("edge",))


# ----------------------------------------------------------------------------- TensorFlow

TfCall = Callable[[dict[str, Any], dict[str, Any]], Any]


def _tf_calls() -> dict[str, TfCall]:
    import tensorflow as tf

    raw = tf.raw_ops

    def resize(op: Any) -> TfCall:
        return lambda i, a: op(images=i["images"], size=i["size"],
                               align_corners=a["align_corners"],
                               half_pixel_centers=a["half_pixel_centers"])

    def squeeze_dims(text: str) -> list[int]:
        return [int(v) for v in text.split(",") if v.strip()]

    return {
        "ResizeBilinear": resize(raw.ResizeBilinear),
        "ResizeNearestNeighbor": resize(raw.ResizeNearestNeighbor),
        "ResizeBicubic": resize(raw.ResizeBicubic),
        "ResizeArea": lambda i, a: raw.ResizeArea(images=i["images"], size=i["size"],
                                                  align_corners=a["align_corners"]),
        "CropAndResize": lambda i, a: raw.CropAndResize(
            image=i["image"], boxes=i["boxes"], box_ind=i["box_ind"], crop_size=i["crop_size"],
            method=a["method"], extrapolation_value=float(a["extrapolation_value"])),
        "RGBToHSV": lambda i, a: raw.RGBToHSV(images=i["images"]),
        "HSVToRGB": lambda i, a: raw.HSVToRGB(images=i["images"]),
        "AdjustSaturation": lambda i, a: raw.AdjustSaturation(images=i["images"],
                                                              scale=i["scale"]),
        "AdjustHue": lambda i, a: raw.AdjustHue(images=i["images"], delta=i["delta"]),
        "AdjustContrastv2": lambda i, a: raw.AdjustContrastv2(
            images=i["images"], contrast_factor=i["contrast_factor"]),
        "DrawBoundingBoxes": lambda i, a: raw.DrawBoundingBoxes(images=i["images"],
                                                                boxes=i["boxes"]),
        "DrawBoundingBoxesV2": lambda i, a: raw.DrawBoundingBoxesV2(
            images=i["images"], boxes=i["boxes"], colors=i["colors"]),
        "NonMaxSuppressionV3": lambda i, a: raw.NonMaxSuppressionV3(
            boxes=i["boxes"], scores=i["scores"], max_output_size=i["max_output_size"],
            iou_threshold=i["iou_threshold"], score_threshold=i["score_threshold"]),
        "Cast": lambda i, a: raw.Cast(x=i["x"], DstT=tf.as_dtype(a["DstT"]),
                                      Truncate=a["Truncate"]),
        "ConcatV2": lambda i, a: raw.ConcatV2(
            values=[i[f"values_{k}"] for k in range(len(i) - 1)], axis=i["axis"]),
        "Reshape": lambda i, a: raw.Reshape(tensor=i["tensor"], shape=i["shape"]),
        "ExpandDims": lambda i, a: raw.ExpandDims(input=i["input"], axis=i["axis"]),
        "Squeeze": lambda i, a: raw.Squeeze(input=i["input"],
                                            axis=squeeze_dims(a["squeeze_dims"])),
        "Transpose": lambda i, a: raw.Transpose(x=i["x"], perm=i["perm"]),
        "Slice": lambda i, a: raw.Slice(input=i["input"], begin=i["begin"], size=i["size"]),
    }


def _clean_message(message: str) -> str:
    """TF's message without the op-location decorations around it."""
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    message = message.split("\n\t; NodeDef")[0]
    message = re.sub(r"\s*\[Op:\w+\]( name: \S*)?\s*$", "", message)
    return message.strip()


def _bits32(*values: int) -> np.ndarray:
    return np.array(values, np.uint32).view(np.float32)


def _colour_edge_cases(cases: _Cases) -> None:
    """Edges the compiled colour loops were checked against (tools/colour_tf_diff.py):
    x86 flushes a product only when it is below 2^-126 after rounding to 24 bits with an
    unbounded exponent (an exact product in [2^-126 - 2^-151, 2^-126) stays 2^-126);
    AdjustHue returns the maximum flushed in category 3 too; double HSVToRGB keeps the
    mix's NaN before V's."""
    tiny = float(np.finfo(np.float32).tiny)
    for m in (1, 1448, 1449):  # (1 - 2m 2^-24) * 2^-126 (1 + m 2^-23): 2^-126 (1 - m^2 2^-46)
        value = np.float32(tiny * (1 + m * 2.0**-23))
        cases.add("AdjustContrastv2", f"contrast_product_edge_{m}", {
            "images": np.array([value, -value], np.float32).reshape(1, 1, 2, 1),
            "contrast_factor": np.float32(1 - 2 * m * 2.0**-24)}, {},
            tags=("special", "denormal"))
    pixels = np.stack([
        _bits32(0x217609, 0x800024, 0x800000), _bits32(0x800001, 0x0, 0xB7044B),
        _bits32(0xD2AF7F8, 0x800000, 0x7FFFE1), _bits32(0x33E792, 0x800000, 0x800020),
        _bits32(0x800001, 0x80000000, 0x800020), _bits32(0xFE7A4713, 0xB87AE381, 0x80021BE9),
        _bits32(0xCCB9131B, 0x8080000F, 0x440D36), _bits32(0xBF0F1F4D, 0xBEDC1095, 0x807FFFE0),
        _bits32(0xFF800000, 0x80800018, 0x7FFFE3),
    ]).reshape(-1, 1, 3)
    for index, delta in enumerate((0.0, 1e-8, -0.5, 2.5)):
        cases.add("AdjustHue", f"hue_edge_{index}", {"images": pixels,
                                                     "delta": np.float32(delta)}, {},
                  tags=("special", "denormal"))
    cases.add("AdjustSaturation", "sat_edge", {"images": pixels, "scale": np.float32(1.5)},
              {}, tags=("special", "denormal"))
    nan = np.array([0x7FF2EC245BE7CE6B, 0x7FFD3AC54D5F3ED6, 0xFFF8CE54288DD7AD],
                   np.uint64).view(np.float64)
    hsv = np.array([[nan[0], -231089.85, nan[1]], [0.475, -np.inf, nan[2]],
                    [0.0, -np.inf, nan[1]], [nan[2], 0.5, 0.25]], np.float64)
    cases.add("HSVToRGB", "hsv2rgb_float64_nan_order", {"images": hsv}, {},
              tags=("special", "nan"))


def _store(arrays: dict[str, np.ndarray], key: str, array: np.ndarray) -> dict[str, Any]:
    """Put ``array`` in the npz under ``key``; returns its manifest entry."""
    storage = None
    stored = array
    if array.dtype.name == "bfloat16":
        stored, storage = array.view(np.uint16), "bfloat16_bits_as_uint16"
    arrays[key] = stored
    return {"dtype": array.dtype.name, "shape": list(array.shape), "storage": storage}


def _tf_input(array: np.ndarray) -> Any:
    import tensorflow as tf

    return tf.constant(array)


# ----------------------------------------------------------------------------- resize loops
# Appended by the resize engineer (compiled resize loops): edges the differential test
# against TF (tools/diff_resize.py) found or that the loops' plain/careful split depends on.


def _tagged_nans(rng: np.random.Generator, shape: list[int], rate: float) -> np.ndarray:
    """Normal floats with quiet NaNs of distinct payloads and both signs at ``rate``, so
    that which NaN survives a sum shows."""
    values = (rng.standard_normal(shape) * 10).astype(np.float32)
    flat = values.reshape(-1)
    picked = np.flatnonzero(rng.random(flat.size) < rate)
    payload = rng.integers(1, 1 << 20, picked.size).astype(np.uint32)
    sign = rng.integers(0, 2, picked.size).astype(np.uint32) << np.uint32(31)
    flat[picked] = (np.uint32(0x7FC00000) | payload | sign).view(np.float32)
    return values


def _resize_loop_cases(cases: _Cases) -> None:
    rng = cases.rng
    # Bicubic with 8 channels or more: TF's x sums add in another order in its 8-wide
    # vector loop than in the channels after it.
    for channels, (align, half) in ((16, (False, False)), (17, (False, True)),
                                    (9, (True, False))):
        mode = f"ac{int(align)}hp{int(half)}"
        cases.add("ResizeBicubic", f"bc_{mode}_nan_order_c{channels}",
                  {"images": _tagged_nans(rng, [1, 6, 7, channels], 0.3),
                   "size": _i32(9, 5)}, _resize_attrs("ResizeBicubic", align, half),
                  tags=("special", mode))
    # Rows around the plain path's bounds: magnitudes 2^-30 (plain) and 2^-31, denormals,
    # 2^124 and more (careful), next to ordinary rows.
    edges = np.array([2.0**-30, -(2.0**-31), 1e-40, -1e-45, 2.0**124, 3e38, -0.0],
                     np.float32)
    for block, short in (("ResizeBilinear", "bl"), ("ResizeBicubic", "bc"),
                         ("ResizeArea", "ar")):
        images = (rng.standard_normal([2, 7, 6, 2]) * 5).astype(np.float32)
        images[0, 2, :, 0] = rng.choice(edges, 6)
        images[1, 5, 1:4, 1] = edges[:3] * np.float32(2.0**-20)
        cases.add(block, f"{short}_row_bounds", {"images": images, "size": _i32(11, 4)},
                  _resize_attrs(block, False, False), tags=("special", "ac0hp0"))


# ------------------------------------------------------------- bicubic 3-channel NaN order
# Appended by the bicubic engineer: TF's hand-unrolled 3-channel code orders a column sum's
# additions by channel, cache slot and dtype; distinct NaN payloads (both signs) show
# which NaN survives where two meet, in columns computed in every slot (up, down, edges).


def _tagged_nans_of(rng: np.random.Generator, shape: list[int], rate: float,
                    dtype: str) -> np.ndarray:
    """Normal values of ``dtype`` with quiet NaNs of distinct payloads (as far as the
    dtype's payload bits reach) and both signs at ``rate``."""
    if dtype == "float32":
        return _tagged_nans(rng, shape, rate)
    values = rng.standard_normal(shape) * 10
    flat = values.reshape(-1)
    picked = np.flatnonzero(rng.random(flat.size) < rate)
    tags = np.arange(1, picked.size + 1, dtype=np.uint64)
    sign = rng.integers(0, 2, picked.size).astype(np.uint64)
    if dtype == "float64":  # payload in the bits that survive the cast to float32
        flat[picked] = (np.uint64(0x7FF8000000000000) | (tags << np.uint64(29))
                        | (sign << np.uint64(63))).view(np.float64)
        return values
    if dtype == "float16":
        half = values.astype(np.float16)
        half.reshape(-1)[picked] = (np.uint16(0x7E00) | (tags % 511 + 1).astype(np.uint16)
                                    | (sign.astype(np.uint16) << np.uint16(15))).view(np.float16)
        return half
    from ml_dtypes import bfloat16  # TensorFlow's own dependency

    brain = values.astype(np.float32).astype(bfloat16)
    brain.reshape(-1).view(np.uint16)[picked] = (
        np.uint16(0x7FC0) | (tags % 63 + 1).astype(np.uint16)
        | (sign.astype(np.uint16) << np.uint16(15)))
    return brain


def _bicubic_three_channel_cases(cases: _Cases) -> None:
    rng = cases.rng
    shapes = (([2, 6, 7, 3], (11, 13), "up"), ([1, 9, 14, 3], (4, 5), "down"),
              ([1, 5, 4, 3], (9, 3), "edges"))
    for dtype in ("float32", "float64", "float16", "bfloat16"):
        for index, (align, half) in enumerate(RESIZE_MODES):
            mode = f"ac{int(align)}hp{int(half)}"
            shape, size, tag = shapes[index]
            cases.add("ResizeBicubic", f"bc_{mode}_nan_order_c3_{tag}_{dtype}",
                      {"images": _tagged_nans_of(rng, shape, 0.4, dtype),
                       "size": _i32(*size)}, _resize_attrs("ResizeBicubic", align, half),
                      tags=("special", mode))


# ------------------------------------------------- crop NaN order, doubles near 2^-126
# Appended by the lead: float16 and float64 crops add the product first in every channel
# (float32's vector loop adds low first after the last block of 16), shown by distinct
# NaN payloads; doubles and products just below the smallest float flush as x86 judges
# them (after rounding to 24 bits with an unbounded exponent).


def _crop_nan_order_cases(cases: _Cases) -> None:
    rng = cases.rng
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.3, 0.9, 0.8], [-0.2, 0.2, 0.7, 1.1]],
                     np.float32)
    for dtype in ("float16", "float64", "float32"):
        for channels in (1, 3, 17):
            cases.add("CropAndResize", f"crop_nan_order_{dtype}_c{channels}",
                      {"image": _tagged_nans_of(rng, [2, 7, 9, channels], 0.4, dtype),
                       "boxes": boxes, "box_ind": _i32(0, 1, 1), "crop_size": _i32(6, 11)},
                      {"method": "bilinear", "extrapolation_value": "0"}, tags=("special",))
    smallest = 2.0**-126
    near = np.array([smallest, smallest - 2.0**-151, smallest - 1.5 * 2.0**-151,
                     smallest - 2.0**-150, -(smallest - 2.0**-152), 2.0**-140, 2.0**-125,
                     -(2.0**-125)], np.float64).reshape(1, 2, 4, 1)
    cases.add("Cast", "cast_float64_near_smallest_float", {"x": near.reshape(-1)},
              {"Truncate": False}, literals={"DstT": "float32"}, tags=("special",))
    for block in ("ResizeArea", "ResizeBilinear", "ResizeBicubic"):
        for size in ((2, 4), (1, 2), (3, 6)):
            cases.add(block, f"{block}_float64_near_smallest_{size[0]}x{size[1]}",
                      {"images": near, "size": _i32(*size)}, _resize_attrs(block, False, False),
                      tags=("special",))
    cases.add("CropAndResize", "crop_float64_near_smallest",
              {"image": near, "boxes": boxes, "box_ind": _i32(0, 0, 0), "crop_size": _i32(3, 5)},
              {"method": "bilinear", "extrapolation_value": "0"}, tags=("special",))


def main(out_dir: Path) -> None:
    """Regenerate ``out_dir/manifest.json`` and ``out_dir/ops.npz`` with TensorFlow."""
    import tensorflow as tf

    out_dir.mkdir(parents=True, exist_ok=True)
    cases = _Cases(np.random.default_rng(SEED))
    _resize_cases(cases)
    _crop_cases(cases)
    _colorspace_cases(cases)
    _adjust_cases(cases)
    _draw_cases(cases)
    _nms_cases(cases)
    _array_cases(cases)
    _concat_cases(cases)
    _cast_cases(cases)
    _contrast_cases(cases)  # last, so the cases before keep their random data
    _resize_loop_cases(cases)  # appended after it (branch resize): earlier data unchanged
    _colour_edge_cases(cases)  # appended after: no random data
    _bicubic_three_channel_cases(cases)  # appended last (branch bicubic)
    _crop_nan_order_cases(cases)  # appended after it (the lead)
    calls = _tf_calls()
    arrays: dict[str, np.ndarray] = {}
    entries: list[dict[str, Any]] = []
    for case in cases.items:
        entry: dict[str, Any] = {
            "id": case["id"], "block": case["block"], "attrs": case["attrs"],
            "tags": case["tags"], "inputs": {}, "literals": case["literals"],
        }
        for port, value in case["inputs"].items():
            entry["inputs"][port] = _store(arrays, f"{case['id']}.in.{port}", np.asarray(value))
        tf_inputs = {port: _tf_input(np.asarray(v)) for port, v in case["inputs"].items()}
        try:
            tf_attrs = {**case["attrs"], **case["literals"]}
            expected = np.asarray(calls[case["block"]](tf_inputs, tf_attrs))
        except Exception as error:  # TF's error is the expected result here
            if case["port"] is None and case["attr"] is None:
                raise RuntimeError(f"{case['id']}: TF refused a value case: {error}") from error
            entry["kind"] = "error"
            entry["error"] = {"tf_type": type(error).__name__,
                              "tf_message": _clean_message(str(error)),
                              "port": case["port"], "attr": case["attr"]}
        else:
            if case["port"] is not None or case["attr"] is not None:
                raise RuntimeError(f"{case['id']}: TensorFlow accepted an error case")
            entry["kind"] = "value"
            entry["expected"] = _store(arrays, f"{case['id']}.expected", expected)
        entries.append(entry)
    write_fixture_set(out_dir, NPZ_NAME, arrays, entries, generator="tools/golden_ops.py",
                      tensorflow_version=tf.__version__, seed=SEED)
    print(f"ops: {len(entries)} cases -> {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "ops")
