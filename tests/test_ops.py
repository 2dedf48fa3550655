"""The block library (resize, array ops): TensorFlow fixtures replayed through the blocks.

The fixtures under tests/fixtures/ops were made by TensorFlow 2.21
(``python tools/make_golden.py ops``). Each case is replayed through its block's
declaration — ``run`` for the values, compared bit for bit (NaN payloads and -0.0
count), and ``infer`` from shapes and literal values alone, which must give the output's
shape and dtype or raise the very error ``run`` raises. Property tests compare the
kernels with plain loops written from TensorFlow's C++ kernels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_patches import BFLOAT16, assert_same_bits, bits  # the same bit comparisons

from blocks import REGISTRY
from blocks.errors import CancelledError, InvalidArgumentError, MemoryLimitError
from blocks.kernels import adjust, colorspace
from blocks.kernels.adjust import adjust_contrast_v2
from blocks.kernels.array_ops import (
    expand_dims,
    expand_dims_shape,
    parse_squeeze_dims,
    reshape_shape,
    slice_tensor,
    squeeze,
    squeeze_shape,
    transpose,
)
from blocks.kernels.cast import cast
from blocks.kernels.crop_and_resize import crop_and_resize
from blocks.kernels.resize import (
    nearest_indices,
    resize_bilinear,
    resize_nearest_neighbor,
    resize_scale,
)
from blocks.literals import parse_dtype
from blocks.spec import InferContext, RunContext, TensorInfo

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ops"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
ARRAYS = dict(np.load(FIXTURES / MANIFEST["arrays"], allow_pickle=False))
VALUE_CASES = [case for case in MANIFEST["cases"] if case["kind"] == "value"]
ERROR_CASES = [case for case in MANIFEST["cases"] if case["kind"] == "error"]

#: Inputs that inference sees as known values (small ones, as typed literals would be).
_LITERAL_LIMIT = 64


# ----------------------------------------------------------------------------- helpers


def load(case: dict[str, Any], key: str, meta: dict[str, Any]) -> np.ndarray:
    array = ARRAYS[f"{case['id']}.{key}"]
    if meta["storage"] == "bfloat16_bits_as_uint16":
        array = array.view(BFLOAT16)
    return array


def inputs_of(case: dict[str, Any]) -> dict[str, np.ndarray]:
    return {port: load(case, f"in.{port}", meta) for port, meta in case["inputs"].items()}


def literals_of(case: dict[str, Any]) -> dict[str, Any]:
    """Inputs typed as text (Cast's DstT), as the graph parses them."""
    return {port: parse_dtype(text) for port, text in case.get("literals", {}).items()}


def run_block(case: dict[str, Any], **kwargs: Any) -> dict[str, np.ndarray]:
    spec = REGISTRY[case["block"]]
    attrs = {**spec.default_attrs(), **case["attrs"]}
    return spec.run(RunContext({**inputs_of(case), **literals_of(case)}, attrs, **kwargs))


def infer_block(case: dict[str, Any]) -> dict[str, TensorInfo]:
    """Inference as the graph does it: tensors by shape and dtype, small int vectors known."""
    spec = REGISTRY[case["block"]]
    attrs = {**spec.default_attrs(), **case["attrs"]}
    infos: dict[str, TensorInfo] = {}
    for port, value in inputs_of(case).items():
        small = value.size <= _LITERAL_LIMIT
        infos[port] = TensorInfo(value.shape, value.dtype, value if small else None)
    for port, dtype in literals_of(case).items():
        infos[port] = TensorInfo((), None, dtype)
    return spec.infer(InferContext(infos, attrs))


def output_port(case: dict[str, Any]) -> str:
    return REGISTRY[case["block"]].outputs[0].name


# ----------------------------------------------------------------------------- fixtures


def test_fixtures_cover_the_library() -> None:
    blocks = {case["block"] for case in MANIFEST["cases"]}
    assert {
        "ResizeBilinear", "ResizeNearestNeighbor", "ResizeBicubic", "ResizeArea",
        "CropAndResize", "Cast", "Reshape", "ExpandDims", "Squeeze", "Transpose", "Slice",
        "AdjustContrastv2",
    } <= blocks
    assert MANIFEST["tensorflow_version"].startswith("2.21")
    for block in blocks:
        assert REGISTRY[block].name == block
        tags = {tag for case in VALUE_CASES if case["block"] == block for tag in case["tags"]}
        if block.startswith("Resize"):
            modes = {"ac0hp0", "ac1hp0"} | (set() if block == "ResizeArea" else {"ac0hp1"})
            assert modes | {"special", "dtype", "batch0"} <= tags


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda case: case["id"])
def test_fixture_values_are_bit_exact(case: dict[str, Any]) -> None:
    expected = load(case, "expected", case["expected"])
    port = output_port(case)
    actual = run_block(case)[port]
    assert_same_bits(actual, expected)
    inferred = infer_block(case)[port]
    # Inference knows every dim but the data-dependent ones (NMS's number of boxes).
    assert inferred.shape is not None and len(inferred.shape) == expected.ndim
    known = [d for d, e in zip(inferred.shape, expected.shape, strict=True) if d is not None]
    assert known == [e for d, e in zip(inferred.shape, expected.shape, strict=True)
                     if d is not None]
    assert None not in inferred.shape or case["block"] == "NonMaxSuppressionV3"
    assert inferred.dtype == expected.dtype


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda case: case["id"])
def test_fixture_errors_match_tensorflow(case: dict[str, Any]) -> None:
    where = case["error"]
    with pytest.raises(InvalidArgumentError) as caught:
        run_block(case)
    error = caught.value
    assert (error.port, error.attr) == (where["port"], where["attr"])
    assert where["tf_message"].rstrip(".") in error.reason
    with pytest.raises(InvalidArgumentError) as inferred:
        infer_block(case)
    assert inferred.value.reason == error.reason
    assert (inferred.value.port, inferred.value.attr) == (error.port, error.attr)


# ----------------------------------------------------------------------------- resize


def reference_bilinear(
    images: np.ndarray, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool
) -> np.ndarray:
    """TensorFlow's resize_image loop, pixel by pixel, in float32."""
    f32 = np.float32
    batch, in_h, in_w, channels = images.shape
    out_h, out_w = size

    def weights(in_size: int, out_size: int) -> list[tuple[int, int, np.float32]]:
        scale = resize_scale(in_size, out_size, align_corners)
        result = []
        for i in range(out_size):
            coord = (f32(i) + f32(0.5)) * scale - f32(0.5) if half_pixel_centers else f32(i) * scale
            low = np.floor(coord)
            upper = min(int(np.ceil(coord)), in_size - 1)
            result.append((min(max(int(low), 0), upper), upper, f32(coord - low)))
        return result

    data = images.astype(f32)
    if (out_h, out_w) == (in_h, in_w):
        return data
    out = np.zeros((batch, out_h, out_w, channels), f32)
    ys, xs = weights(in_h, out_h), weights(in_w, out_w)
    with np.errstate(invalid="ignore", over="ignore"):
        for b in range(batch):
            for y, (y0, y1, ly) in enumerate(ys):
                for x, (x0, x1, lx) in enumerate(xs):
                    tl, tr = data[b, y0, x0], data[b, y0, x1]
                    bl, br = data[b, y1, x0], data[b, y1, x1]
                    top = tl + (tr - tl) * lx
                    bottom = bl + (br - bl) * lx
                    out[b, y, x] = top + (bottom - top) * ly
    return out


_MODES = st.sampled_from([(False, False), (True, False), (False, True)])


@settings(max_examples=40, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3)),
    size=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    mode=_MODES,
    seed=st.integers(0, 2**16),
)
def test_bilinear_matches_the_pixel_loop(
    shape: tuple[int, int, int, int], size: tuple[int, int], mode: tuple[bool, bool], seed: int
) -> None:
    images = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 100
    actual = resize_bilinear(images, size, align_corners=mode[0], half_pixel_centers=mode[1])
    assert_same_bits(actual, reference_bilinear(images, size, *mode))


@settings(max_examples=40, deadline=None)
@given(
    in_size=st.integers(1, 40), out_size=st.integers(1, 40), mode=_MODES,
)
def test_nearest_indices_stay_inside(in_size: int, out_size: int, mode: tuple[bool, bool]) -> None:
    indices = nearest_indices(in_size, out_size, *mode)
    assert indices.shape == (out_size,)
    assert indices.min() >= 0 and indices.max() <= in_size - 1
    assert np.all(np.diff(indices) >= 0)  # monotone: no pixel order is flipped
    if mode[0] and out_size > 1:  # align_corners: the corners map onto the corners
        assert indices[0] == 0 and indices[-1] == in_size - 1


def test_nearest_keeps_bits_of_every_value() -> None:
    images = np.array([np.nan, -0.0, np.inf, 1.5], np.float32).reshape(1, 2, 2, 1)
    out = resize_nearest_neighbor(images, (4, 4))
    assert out.dtype == np.float32
    assert set(bits(out).ravel().tolist()) == set(bits(images).ravel().tolist())


def test_resize_refuses_outputs_beyond_the_memory_limit() -> None:
    images = np.zeros((1, 2, 2, 3), np.float32)
    with pytest.raises(MemoryLimitError) as caught:
        resize_bilinear(images, (1000, 1000), memory_limit=1000)
    assert caught.value.port == "size"
    spec = REGISTRY["ResizeBilinear"]
    ctx = InferContext(
        {
            "images": TensorInfo((1, 2, 2, 3), np.dtype(np.float32)),
            "size": TensorInfo((2,), np.dtype(np.int32), np.array([1000, 1000], np.int32)),
        },
        spec.default_attrs(),
        memory_limit=1000,
    )
    with pytest.raises(MemoryLimitError):
        spec.infer(ctx)


def test_resize_infers_unknown_size_as_unknown_dims() -> None:
    spec = REGISTRY["ResizeNearestNeighbor"]
    ctx = InferContext(
        {
            "images": TensorInfo((4, 8, 8, 3), np.dtype(np.uint8)),
            "size": TensorInfo((2,), np.dtype(np.int32)),
        },
        spec.default_attrs(),
    )
    info = spec.infer(ctx)["resized_images"]
    assert info.shape == (4, None, None, 3)
    assert info.dtype == np.uint8


def test_resize_refuses_a_float_size() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        resize_bilinear(np.zeros((1, 2, 2, 1), np.float32), np.array([2.0, 2.0]))
    assert caught.value.port == "size"


# ----------------------------------------------------------------------------- array ops


@settings(max_examples=30, deadline=None)
@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=4),
    data=st.data(),
)
def test_transpose_and_slice_match_numpy(shape: list[int], data: st.DataObject) -> None:
    x = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    assert_same_bits(transpose(x, np.array(perm, np.int32)), np.transpose(x, perm).copy())
    begin = [data.draw(st.integers(0, d)) for d in shape]
    pairs = list(zip(shape, begin, strict=True))
    size = [data.draw(st.sampled_from([-1, d - b])) if d else 0 for d, b in pairs]
    begin = [b if d else 0 for d, b in zip(shape, begin, strict=True)]
    expected = x[tuple(slice(b, None) for b in begin)]
    out = slice_tensor(x, np.array(begin, np.int64), np.array(size, np.int64))
    assert_same_bits(out, np.array(expected, copy=True))
    assert out.flags.c_contiguous and not np.shares_memory(out, x)


def test_reshape_infers_what_is_known() -> None:
    assert reshape_shape((2, 3), np.array([-1, 2])) == (3, 2)
    assert reshape_shape((None, 3), np.array([-1, 3])) == (None, 3)
    assert reshape_shape((None, 3), None) is None
    assert reshape_shape(None, np.array([4, 5])) == (4, 5)
    spec = REGISTRY["Reshape"]
    info = spec.infer(
        InferContext(
            {"tensor": TensorInfo((2, 3), np.dtype(np.uint8)), "shape": TensorInfo((2,), None)},
            {},
        )
    )["output"]
    assert info.shape is None and info.dtype == np.uint8


def test_squeeze_dims_attr_parses_and_refuses_words() -> None:
    assert parse_squeeze_dims("") == []
    assert parse_squeeze_dims(" {0, -2} ") == [0, -2]
    with pytest.raises(InvalidArgumentError) as caught:
        parse_squeeze_dims("0,x")
    assert caught.value.attr == "squeeze_dims"
    x = np.zeros((1, 3, 1), np.float32)
    assert squeeze(x, parse_squeeze_dims("2")).shape == (1, 3)
    # Unknown dims: which ones are 1 is only known at run time, unless listed.
    assert squeeze_shape((None, 3, 1), []) is None
    assert squeeze_shape((None, 3, 1), [2]) == (None, 3)


def test_expand_dims_with_unknown_axis_knows_the_rank() -> None:
    assert expand_dims_shape((2, 3), None) == (None, None, None)
    assert expand_dims(np.float32(1), np.int32(0)).shape == (1,)


# ----------------------------------------------------------------------------- Cast


@pytest.mark.parametrize(
    ("value", "dtype"),
    [(np.nan, "int32"), (np.inf, "int64"), (-1.5, "uint8"), (128.0, "int8"), (2.0**63, "int64")],
)
def test_cast_refuses_floats_without_a_defined_integer(value: float, dtype: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        cast(np.array([1.0, value], np.float32), np.dtype(dtype))
    assert caught.value.port == "x"
    assert dtype in caught.value.reason


def test_cast_in_range_truncates_toward_zero() -> None:
    x = np.array([-128.9, 127.9, -0.5, 0.99], np.float64)
    assert cast(x, np.dtype(np.int8)).tolist() == [-128, 127, 0, 0]


def test_cast_checks_memory_and_infers_the_dtype() -> None:
    with pytest.raises(MemoryLimitError):
        cast(np.zeros(100, np.int8), np.dtype(np.complex128), memory_limit=1000)
    spec = REGISTRY["Cast"]
    ctx = InferContext(
        {"x": TensorInfo((4, None), np.dtype(np.uint8)), "DstT": TensorInfo((), None, "DT_HALF")},
        spec.default_attrs(),
    )
    info = spec.infer(ctx)["y"]
    assert info.shape == (4, None) and info.dtype == np.float16
    # Without a DstT literal the port's default applies: DT_FLOAT.
    ctx = InferContext({"x": TensorInfo((2,), np.dtype(np.int32))}, spec.default_attrs())
    assert spec.infer(ctx)["y"].dtype == np.float32


# ----------------------------------------------------------------------------- CropAndResize


def test_crop_infers_shape_from_wires_and_literals() -> None:
    spec = REGISTRY["CropAndResize"]
    ctx = InferContext(
        {
            "image": TensorInfo((4, 32, 32, 3), np.dtype(np.uint8)),
            "boxes": TensorInfo((None, 4), np.dtype(np.float32)),
            "box_ind": TensorInfo((None,), np.dtype(np.int32)),
            "crop_size": TensorInfo((2,), np.dtype(np.int32), np.array([8, 6], np.int32)),
        },
        spec.default_attrs(),
    )
    info = spec.infer(ctx)["crops"]
    assert info.shape == (None, 8, 6, 3) and info.dtype == np.float32


def test_crop_refuses_a_fill_that_is_not_a_number() -> None:
    image = np.zeros((1, 2, 2, 1), np.float32)
    boxes = np.array([[0, 0, 1, 1]], np.float32)
    with pytest.raises(InvalidArgumentError) as caught:
        crop_and_resize(image, boxes, np.zeros(1, np.int32), (2, 2), extrapolation_value="x")
    assert caught.value.attr == "extrapolation_value"
    out = crop_and_resize(image, boxes - 2, np.zeros(1, np.int32), (2, 2), extrapolation_value="7")
    assert np.all(out == 7)


def test_shared_checks_fill_in_tensorflows_message() -> None:
    from blocks.kernels.op_checks import check_dim, check_rank, size_pair

    def reason(call: Any) -> str:
        with pytest.raises(InvalidArgumentError) as caught:
            call()
        assert caught.value.port in ("boxes", "size")
        return caught.value.reason

    check_rank("boxes", None, 2, "unused {shape}")  # unknown: nothing to check
    check_rank("boxes", (3, None), 2, "unused {shape}")
    assert reason(lambda: check_rank("boxes", (3,), 2, "must be 2-D{shape} (rank {rank})")) == (
        "boxes: must be 2-D[3] (rank 1)"
    )
    check_dim("boxes", (3, None), 1, 4, "unused {dim}")
    assert reason(lambda: check_dim("boxes", (3, 5), 1, 4, "4 columns, not {dim}")) == (
        "boxes: 4 columns, not 5"
    )
    two = np.array([3, 4], np.int32)
    assert size_pair("size", two, "shape_t", "1-D", "dims") == (3, 4)
    assert reason(lambda: size_pair("size", np.array([3, 0]), "shape_t", "1-D", "dims")) == (
        "size: dims must be positive, got [3, 0]"
    )
    assert reason(lambda: size_pair("size", two[None], "shape_t", "1-D", "dims")) == (
        "size: shape_t must be 1-D[1,2]"
    )


# ----------------------------------------------------------------------------- contrast


def reference_contrast(images: np.ndarray, factor: float) -> np.ndarray:
    """adjust_contrast_op.cc's loops, one image and channel at a time, for finite values
    with no denormal (where the operand order of a sum cannot show)."""
    f32 = np.float32
    height, width, channels = images.shape[-3:]
    planes = images.reshape(-1, height * width, channels)
    out = np.empty_like(planes)
    for b, plane in enumerate(planes):
        for c in range(channels):
            values = [f32(v) for v in plane[:, c]]
            sums = list(values)
            remaining, first = len(values), True
            while first or remaining > 1:
                right = remaining // 2
                left = remaining - right
                source = values if first else sums
                for k in range(right):
                    sums[k] = f32(source[left + k] + (values[k] if first else sums[k]))
                remaining, first = left, False
            mean = f32(sums[0] * (f32(1) / f32(len(values))))
            for k, value in enumerate(values):
                out[b, k, c] = f32(f32(f32(factor) * f32(value - mean)) + mean)
    return out.reshape(images.shape)


@settings(max_examples=60, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 2), st.integers(1, 23), st.integers(1, 23),
                    st.integers(1, 4)),
    factor=st.floats(-4, 4, width=32),
    seed=st.integers(0, 2**32 - 1),
)
def test_contrast_matches_the_pixel_loop(
    shape: tuple[int, int, int, int], factor: float, seed: int
) -> None:
    # Values over 40 binades: summing in any other order than TF's halving changes bits.
    rng = np.random.default_rng(seed)
    images = (rng.standard_normal(shape) * 2.0 ** rng.integers(-20, 21, shape)).astype(np.float32)
    actual = adjust_contrast_v2(images, np.float32(factor))
    assert_same_bits(actual, reference_contrast(images, factor))


def test_contrast_pieces_and_threads_keep_the_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Large and many images, with NaNs (whose operand order depends on the flat index)
    # and values at the edge of normal: one piece on one thread, or many on several.
    rng = np.random.default_rng(3)
    for shape in ([1, 300, 301, 3], [1200, 17, 19, 2]):
        images = (rng.standard_normal(shape) * 1e3).astype(np.float32)
        flat = images.reshape(-1)
        flat[::101] = np.float32(2.0**-125)
        flat[7::4099] = np.array([0x7FC00001], np.uint32).view(np.float32)[0]
        monkeypatch.setattr(adjust, "_THREADED", 0)  # two threads whatever the size
        monkeypatch.setattr(adjust, "thread_count", lambda: 2)
        pieces = adjust_contrast_v2(images, np.float32(0.7))
        monkeypatch.setattr(adjust, "_PIECE", images.size)
        monkeypatch.setattr(adjust, "thread_count", lambda: 1)
        whole = adjust_contrast_v2(images, np.float32(0.7))
        monkeypatch.undo()
        assert_same_bits(whole, pieces)


def test_contrast_tame_and_careful_images_both_match_the_pixel_loop() -> None:
    # Image 0 is tame (plain float32 arithmetic); image 1 holds one value below 2^-30 and
    # image 2 has tame values but a mean of about 2^-36 (both through the careful
    # arithmetic); image 3 has
    # one channel of zeros. All four are finite without denormals, where the reference
    # holds, and each must equal it bit for bit.
    rng = np.random.default_rng(5)
    images = (rng.standard_normal((4, 13, 11, 3)) * 100).astype(np.float32)
    images[1, 4, 5, 1] = np.float32(2.0**-31)
    signs = np.where(np.arange(13 * 11) % 2 == 0, 1.0, -1.0)
    images[2] = (signs[:, None] * 2.0**-20).reshape(13, 11, 1).astype(np.float32)
    images[2, 12, 10] = np.float32(2.0**-29)  # the others cancel: the mean is ~2^-36
    assert 0 < abs(images[2, ..., 0].astype(np.float64).mean()) < 2.0**-30
    images[3, :, :, 2] = 0
    for factor in (np.float32(0.7), np.float32(-3.5), np.float32(2.0**-35)):
        assert_same_bits(adjust_contrast_v2(images, factor), reference_contrast(images, factor))


def test_colour_loops_compile_on_first_use_one_dtype_at_a_time() -> None:
    # Importing the blocks does not import numba; converting a half tensor compiles (or
    # loads) RGBToHSV's loop for half only, not the other dtypes nor HSVToRGB.
    code = (
        "import sys\n"
        "import numpy as np\n"
        "import blocks, blocks.kernels.colorspace as cs, blocks.kernels.adjust\n"
        "print('numba' in sys.modules)\n"
        "cs.rgb_to_hsv(np.ones((2, 3), np.float16))\n"
        "from blocks.kernels import colour_loops as loops\n"
        "print([str(s[0].dtype) for s in loops.rgb_to_hsv_pixels.signatures],\n"
        "      len(loops.hsv_to_rgb_pixels.signatures))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["False", "['uint16'] 0"]


def test_contrast_refuses_half_naming_the_missing_kernel() -> None:
    images = np.zeros((1, 2, 2, 3), np.float16)
    with pytest.raises(InvalidArgumentError, match="T=DT_HALF") as caught:
        adjust_contrast_v2(images, np.float32(0.5))
    assert caught.value.port == "images"
    spec = REGISTRY["AdjustContrastv2"]
    infos = {"images": TensorInfo(images.shape, images.dtype),
             "contrast_factor": TensorInfo((), np.dtype(np.float32))}
    with pytest.raises(InvalidArgumentError, match="T=DT_HALF"):
        spec.infer(InferContext(infos, {}))


def test_contrast_stops_between_pieces() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        adjust_contrast_v2(np.ones((64, 64, 64, 3), np.float32), np.float32(2), cancel)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hsv_to_rgb_tame_pieces_take_plain_arithmetic_with_the_same_bits(dtype: Any) -> None:
    # Tame values (0, or magnitudes in [2^-30, 2^30)) over 60 binades, both signs, and
    # the hue and saturation edges; alone they take the plain loop, and with one NaN
    # pixel appended the careful one. Every other pixel must come out the same.
    rng = np.random.default_rng(17)
    size = (4000, 3)
    magnitudes = 2.0 ** rng.uniform(-30, 29.9, size) * rng.choice([-1.0, 1.0], size)
    edges = rng.choice([0.0, 1.0, 0.5, 1 / 3, 2 / 3, 1 / 6, 5 / 6, 2.0**-30, 1 - 2.0**-24],
                       size)
    values = np.where(rng.random(size) < 0.5, magnitudes, edges).astype(dtype)
    careful = np.concatenate([values, np.full((1, 3), np.nan, dtype)])
    assert_same_bits(colorspace.hsv_to_rgb(values), colorspace.hsv_to_rgb(careful)[:-1])


@pytest.mark.parametrize("kernel", ["rgb_to_hsv", "hsv_to_rgb", "saturation", "hue"])
def test_pixel_pieces_and_threads_keep_the_bits(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three pieces: ordinary values, then NaNs, denormals and infinities in the middle
    # piece only. Cut in pieces on the threads, or done at once, the bits are the same.
    rng = np.random.default_rng(11)
    images = rng.random((3 * colorspace.PIXEL_PIECE, 3)).astype(np.float32)
    middle = images[colorspace.PIXEL_PIECE:2 * colorspace.PIXEL_PIECE].reshape(-1)
    middle[::97] = np.array([np.nan, 1e-40, np.inf, -0.0, 3e38], np.float32)[
        np.arange(middle[::97].size) % 5]
    images = images.reshape(1, -1, 1, 3)
    run = {
        "rgb_to_hsv": lambda: colorspace.rgb_to_hsv(images),
        "hsv_to_rgb": lambda: colorspace.hsv_to_rgb(images),
        "saturation": lambda: adjust.adjust_saturation(images, np.float32(1.7)),
        "hue": lambda: adjust.adjust_hue(images, np.float32(0.3)),
    }[kernel]
    pieces = run()
    monkeypatch.setattr(colorspace, "PIXEL_PIECE", images.size)
    monkeypatch.setattr(colorspace, "thread_count", lambda: 1)
    assert_same_bits(pieces, run())


@pytest.mark.parametrize("kernel", ["rgb_to_hsv", "hsv_to_rgb", "saturation", "hue"])
def test_pixel_kernels_stop_between_pieces(kernel: str) -> None:
    cancel = threading.Event()
    cancel.set()
    images = np.ones((2, colorspace.PIXEL_PIECE, 1, 3), np.float32)
    run = {
        "rgb_to_hsv": lambda: colorspace.rgb_to_hsv(images, cancel),
        "hsv_to_rgb": lambda: colorspace.hsv_to_rgb(images, cancel),
        "saturation": lambda: adjust.adjust_saturation(images, np.float32(1.7), cancel),
        "hue": lambda: adjust.adjust_hue(images, np.float32(0.3), cancel),
    }[kernel]
    with pytest.raises(CancelledError):
        run()
