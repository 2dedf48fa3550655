"""ExtractImagePatches: TensorFlow fixtures, error order, memory guard, receptive fields.

The fixtures under tests/fixtures/patches were made by TensorFlow 2.21
(``python tools/make_golden.py``); they are replayed here without TensorFlow, comparing
bit patterns so NaN payloads and -0.0 count. Property tests compare the kernel with
:func:`reference_patches`, a plain loop written straight from SPEC section 1.
"""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from time import perf_counter
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from blocks import REGISTRY, extract_image_patches
from blocks.errors import CancelledError, InvalidArgumentError, MemoryLimitError
from blocks.kernels import patches as patches_module
from blocks.kernels import pieces as pieces_module
from blocks.kernels.patches import patches_output_shape, receptive_field
from blocks.spec import InferContext, RunContext, TensorInfo
from graph.engine import Engine
from graph.model import GraphModel, PortRef
from tools.golden_patches import call_arguments

try:
    import ml_dtypes

    BFLOAT16: Any = ml_dtypes.bfloat16
except ImportError:  # pragma: no cover - ml_dtypes is a test dependency
    BFLOAT16 = None

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "patches"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
ARRAYS = dict(np.load(FIXTURES / MANIFEST["arrays"], allow_pickle=False))
VALUE_CASES = [case for case in MANIFEST["cases"] if case["kind"] == "value"]
ERROR_CASES = [case for case in MANIFEST["cases"] if case["kind"] == "error"]

DTYPES = [
    "float16", "float32", "float64", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "complex64", "complex128",
]


# ----------------------------------------------------------------------------- helpers


def bits(array: np.ndarray) -> np.ndarray:
    """The array's bit patterns as unsigned ints of the item width (16-byte items as 2)."""
    array = np.ascontiguousarray(array)
    width = min(array.dtype.itemsize, 8)
    return array.view(np.dtype(f"u{width}"))


def assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    np.testing.assert_array_equal(bits(actual), bits(expected))


def load(case: dict[str, Any], key: str) -> np.ndarray:
    array = ARRAYS[f"{case['id']}.{key}"]
    if case["images"]["storage"] == "bfloat16_bits_as_uint16":
        if BFLOAT16 is None:  # pragma: no cover
            pytest.skip("bfloat16 needs ml_dtypes")
        array = array.view(BFLOAT16)
    return array


def attrs(case: dict[str, Any]) -> tuple[list[int], list[int], list[int], str]:
    a = case["attrs"]
    return a["ksizes"], a["strides"], a["rates"], a["padding"]


def reference_patches(
    images: np.ndarray, ksizes: list[int], strides: list[int], rates: list[int], padding: str
) -> np.ndarray | None:
    """SPEC section 1 as a plain loop; ``None`` where TF reports a negative output size."""
    batch, height, width, channels = images.shape
    (kh, kw), (sh, sw), (rh, rw) = ksizes[1:3], strides[1:3], rates[1:3]

    def axis(size: int, k: int, s: int, r: int) -> tuple[int, int] | None:
        k_eff = k + (k - 1) * (r - 1)
        if padding == "VALID":
            if size - k_eff + s <= -s:  # C's (size - k_eff + s) / s is negative
                return None
            return (max(0, (size - k_eff) // s + 1) if size >= k_eff else 0), 0
        out = math.ceil(size / s)
        return out, max(0, (out - 1) * s + k_eff - size) // 2

    rows, cols = axis(height, kh, sh, rh), axis(width, kw, sw, rw)
    if rows is None or cols is None:
        return None
    (out_h, pad_top), (out_w, pad_left) = rows, cols
    out = np.zeros((batch, out_h, out_w, kh * kw * channels), images.dtype)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                for c in range(kw):
                    y, x = i * sh - pad_top + a * rh, j * sw - pad_left + c * rw
                    if 0 <= y < height and 0 <= x < width:
                        tap = a * kw + c
                        out[:, i, j, tap * channels : (tap + 1) * channels] = images[:, y, x, :]
    return out


def reference_by_taps(
    images: np.ndarray, ksizes: list[int], strides: list[int], rates: list[int], padding: str
) -> np.ndarray:
    """A second, faster reference for big inputs: pad with np.pad, then one slice per tap."""
    expected_shape = patches_output_shape(images.shape, images.dtype, ksizes, strides, rates,
                                          padding)
    assert expected_shape is not None
    batch, out_h, out_w, depth = (int(d) for d in expected_shape if d is not None)
    if batch * out_h * out_w * depth == 0:
        return np.zeros((batch, out_h, out_w, depth), images.dtype)
    (kh, kw), (sh, sw), (rh, rw) = ksizes[1:3], strides[1:3], rates[1:3]
    height, width = images.shape[1:3]
    pads = []
    for size, k, s, r, out in ((height, kh, sh, rh, out_h), (width, kw, sw, rw, out_w)):
        k_eff = k + (k - 1) * (r - 1)
        total = max(0, (out - 1) * s + k_eff - size) if padding == "SAME" else 0
        pads.append((total // 2, max(0, (out - 1) * s + k_eff - size - total // 2)))
    padded = np.pad(bits(images), ((0, 0), pads[0], pads[1], (0, 0)))
    taps = [
        padded[:, a * rh : a * rh + (out_h - 1) * sh + 1 : sh,
               c * rw : c * rw + (out_w - 1) * sw + 1 : sw, :]
        for a in range(kh) for c in range(kw)
    ]
    return np.concatenate(taps, axis=-1).view(images.dtype).reshape(batch, out_h, out_w, depth)


def random_images(shape: tuple[int, ...], dtype: Any, seed: int) -> np.ndarray:
    """Random bit patterns (NaNs, infinities, -0.0 and all) of the dtype."""
    dtype = np.dtype(dtype)
    raw = np.random.default_rng(seed).integers(0, 256, size=math.prod(shape) * dtype.itemsize,
                                               dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


# ----------------------------------------------------------------------------- fixtures


def test_fixtures_cover_what_they_should() -> None:
    dtypes = {case["images"]["dtype"] for case in VALUE_CASES}
    assert set(DTYPES) | {"bfloat16"} <= dtypes
    tags = {tag for case in VALUE_CASES for tag in case["tags"]}
    assert {"empty", "tiny", "odd_pad_total", "rates", "dtype"} <= tags
    paddings = {case["attrs"]["padding"] for case in VALUE_CASES}
    assert paddings == {"SAME", "VALID"}
    assert len(ERROR_CASES) >= 30
    size = sum(path.stat().st_size for path in FIXTURES.iterdir())
    assert size < 1_500_000


@pytest.mark.parametrize("case", VALUE_CASES, ids=lambda case: case["id"])
def test_fixture_values_are_bit_exact(case: dict[str, Any]) -> None:
    images, expected = load(case, "images"), load(case, "expected")
    values, padding = call_arguments(case, images)  # a Python list, bytes padding
    ksizes, strides, rates, _ = attrs(case)
    actual = extract_image_patches(values, ksizes, strides, rates, padding)
    assert_same_bits(actual, expected)
    shape = patches_output_shape(images.shape, actual.dtype, *attrs(case))
    assert shape == expected.shape


def test_fixtures_hold_tensorflows_conversions() -> None:
    converted = {case["id"]: case["expected"]["dtype"] for case in VALUE_CASES
                 if case.get("as_python_list")}
    assert set(converted.values()) == {"int32", "int64", "float32"}
    assert any(case.get("bytes_padding") for case in VALUE_CASES)


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda case: case["id"])
def test_fixture_errors_match_tensorflow(case: dict[str, Any]) -> None:
    images = load(case, "images")
    port = case["error"]["port"]
    with pytest.raises(InvalidArgumentError) as caught:
        extract_image_patches(images, *attrs(case))
    error = caught.value
    assert error.port == port
    assert error.reason.startswith(f"{port}: ")
    message = case["error"]["tf_message"]
    if case["error"]["tf_type"] == "NotFoundError":  # TF's long "no kernel" text
        assert "T=DT_BOOL" in message and "T=DT_BOOL" in error.reason
    else:
        assert message.rstrip(".") in error.reason
    # Inference from shapes alone raises the very same error.
    with pytest.raises(InvalidArgumentError) as inferred:
        patches_output_shape(images.shape, images.dtype, *attrs(case))
    assert inferred.value.reason == error.reason
    assert inferred.value.port == error.port


def test_reason_carries_the_value_found() -> None:
    images = np.zeros((1, 5, 5, 2), np.float32)
    with pytest.raises(InvalidArgumentError) as caught:
        extract_image_patches(images, [2, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME")
    assert caught.value.reason == "ksizes: Only support ksizes across space, got [2, 3, 3, 1]"
    assert caught.value.port == "ksizes"
    assert isinstance(caught.value, ValueError)
    with pytest.raises(InvalidArgumentError, match=r"strides is out of range, got \[1, 1, 0, 1\]"):
        extract_image_patches(images, [1, 3, 3, 1], [1, 1, 0, 1], [1, 1, 1, 1], "SAME")


# ----------------------------------------------------------------------------- error order


ONES = [1, 1, 1, 1]


@pytest.mark.parametrize(
    ("ksizes", "strides", "rates", "padding", "images", "port", "words"),
    [
        # A length fault comes before a padding fault (TF's order in a fresh process).
        ([1, 2, 2], ONES, ONES, "same", np.zeros((1, 4, 4, 1), np.float32), "ksizes",
         "Length for attr 'ksizes' of 3 must be at least minimum 4"),
        # A dtype TF does not know at all comes before padding; bool comes after it.
        (ONES, ONES, ONES, "x", np.array([[[["a"]]]]), "images", "attr 'T' of string"),
        (ONES, ONES, ONES, "x", np.zeros((1, 2, 2, 1), bool), "padding", "attr 'padding'"),
        # Type faults in a list come first of all, list by list.
        ([1, 2.5, 2, 1], [1, 1, 1], ONES, "x", np.zeros((1, 4, 4, 1)), "ksizes",
         "expected a list of integers"),
        (ONES, [1, True, 1, 1], ONES, "SAME", np.zeros((1, 4, 4, 1)), "strides",
         "expected a list of integers"),
        (ONES, ONES, np.array([[1, 1], [1, 1]]), "SAME", np.zeros((1, 4, 4, 1)), "rates",
         "1-D integer tensor"),
        (ONES, ONES, "1,1,1,1", "SAME", np.zeros((1, 4, 4, 1)), "rates",
         "expected a list of integers"),
        (ONES, ONES, ONES, None, np.zeros((1, 4, 4, 1)), "padding", "attr 'padding' of None"),
        # Rows are checked before columns for a negative output size.
        ([1, 9, 9, 1], ONES, ONES, "VALID", np.zeros((1, 3, 5, 1)), "ksizes",
         "negative: -5 [input_size: 3,"),
        # Other unsupported dtypes.
        (ONES, ONES, ONES, "SAME", np.zeros((1, 2, 2, 1), object), "images", "of object"),
        (ONES, ONES, ONES, "SAME", np.zeros((1, 2, 2, 1), np.longdouble), "images",
         f"of {np.dtype(np.longdouble).name}"),
    ],
)
def test_error_order_beyond_the_fixtures(
    ksizes: Any, strides: Any, rates: Any, padding: Any, images: np.ndarray, port: str, words: str
) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        extract_image_patches(images, ksizes, strides, rates, padding)
    assert caught.value.port == port
    assert words in caught.value.reason
    with pytest.raises(InvalidArgumentError) as inferred:
        patches_output_shape(images.shape, images.dtype, ksizes, strides, rates, padding)
    assert inferred.value.reason == caught.value.reason


def test_attr_lists_may_be_tuples_or_integer_arrays() -> None:
    images = random_images((2, 6, 7, 3), np.float32, 1)
    expected = extract_image_patches(images, [1, 3, 2, 1], [1, 2, 1, 1], [1, 1, 2, 1], "SAME")
    kinds: list[Any] = [tuple, np.array, lambda v: np.array(v, np.uint8),
                        lambda v: np.array(v, np.int32)]
    for kind in kinds:
        actual = extract_image_patches(
            images, kind([1, 3, 2, 1]), kind([1, 2, 1, 1]), kind([1, 1, 2, 1]), "SAME"
        )
        assert_same_bits(actual, expected)


# ----------------------------------------------------------------------------- shapes only


def test_output_shape_with_unknown_dims() -> None:
    args = ([1, 3, 3, 1], [1, 2, 2, 1], [1, 1, 1, 1], "SAME")
    assert patches_output_shape(None, None, *args) is None
    assert patches_output_shape((None, 8, None, 3), np.dtype("float32"), *args) == (
        None, 4, None, 27,
    )
    assert patches_output_shape((2, None, 9, None), None, *args) == (2, None, 5, None)
    # Unknown dims skip only their own checks: the known width is still too small here.
    with pytest.raises(InvalidArgumentError, match="negative"):
        patches_output_shape((1, None, 2, 1), None, [1, 9, 9, 1], ONES, ONES, "VALID")
    # Checks that need no shape still run with an unknown shape.
    with pytest.raises(InvalidArgumentError, match="Only support rates"):
        patches_output_shape(None, None, ONES, ONES, [1, 1, 1, 3], "SAME")
    with pytest.raises(InvalidArgumentError, match="4-dimensional\\[\\?,5,5\\]"):
        patches_output_shape((None, 5, 5), None, ONES, ONES, ONES, "SAME")


@pytest.mark.parametrize(
    ("shape", "k", "s", "r", "padding", "expected"),
    [
        ((1, 5, 5, 2), 3, 3, 3, "VALID", (1, 0, 0, 18)),  # k_eff 7 > 5, (5-7+3)/3 == 0
        ((1, 4, 4, 1), 7, 2, 1, "VALID", (1, 0, 0, 49)),  # (4-7+2)/2 truncates to 0
        ((1, 0, 5, 2), 2, 1, 1, "SAME", (1, 0, 5, 8)),
        ((0, 5, 5, 2), 2, 1, 1, "VALID", (0, 4, 4, 8)),
        ((3, 5, 5, 0), 2, 1, 1, "SAME", (3, 5, 5, 0)),
        ((1, 224, 224, 3), 3, 1, 1, "SAME", (1, 224, 224, 27)),
        ((1, 1024, 1024, 3), 7, 4, 2, "VALID", (1, 253, 253, 147)),
    ],
)
def test_output_shapes(
    shape: tuple[int, ...], k: int, s: int, r: int, padding: str, expected: tuple[int, ...]
) -> None:
    args = ([1, k, k, 1], [1, s, s, 1], [1, r, r, 1], padding)
    assert patches_output_shape(shape, np.dtype("uint8"), *args) == expected
    if math.prod(shape) < 100_000:
        assert extract_image_patches(np.zeros(shape, np.uint8), *args).shape == expected


# ----------------------------------------------------------------------------- memory guard


def test_memory_guard_refuses_large_outputs_before_allocating() -> None:
    images = np.zeros((2, 10, 10, 3), np.float32)
    args = ([1, 3, 3, 1], ONES, ONES, "SAME")
    needed = 2 * 10 * 10 * 27 * 4
    assert extract_image_patches(images, *args, memory_limit=needed).nbytes == needed
    with pytest.raises(MemoryLimitError) as caught:
        extract_image_patches(images, *args, memory_limit=needed - 1)
    assert "[2, 10, 10, 27]" in caught.value.reason
    assert str(needed) in caught.value.reason
    assert str(needed - 1) in caught.value.reason
    with pytest.raises(MemoryLimitError):
        patches_output_shape(images.shape, images.dtype, *args, memory_limit=needed - 1)
    # Unknown dims cannot be measured, so they pass.
    assert patches_output_shape((None, 10, 10, 3), images.dtype, *args, memory_limit=1) == (
        None, 10, 10, 27,
    )


def test_huge_kernels_and_rates_do_not_allocate_the_padded_extent() -> None:
    # The padded extent is 2**31 rows, the output only [1, 5, 5, 8]. (TF computes the
    # effective kernel in int32 here, overflows and fails to allocate [1, 2147483654, 3, 8].)
    images = random_images((1, 5, 5, 2), np.float32, 8)
    args = ([1, 2, 2, 1], ONES, [1, 2**31 - 1, 2, 1], "SAME")
    out = extract_image_patches(images, *args, memory_limit=10_000)
    reference = reference_patches(images, *args)
    assert reference is not None
    assert_same_bits(out, reference)
    args = ([1, 60, 50, 1], [1, 2, 3, 1], [1, 1000, 3, 1], "SAME")
    with pytest.raises(MemoryLimitError, match=r"\[1, 3, 2, 6000\]"):
        extract_image_patches(images, *args, memory_limit=100_000)
    assert_same_bits(extract_image_patches(images, *args), reference_by_taps(images, *args))


def test_a_million_taps_mostly_in_padding_stay_quick_and_exact() -> None:
    images = (np.arange(9, dtype=np.float32) + 1).reshape(1, 3, 3, 1)
    (kh, kw), (rh, rw) = (1001, 999), (1000, 1002)
    out = extract_image_patches(images, [1, kh, kw, 1], ONES, [1, rh, rw, 1], "SAME")
    assert out.shape == (1, 3, 3, kh * kw)
    # Vectorised SPEC formula: tap (a, c) of output (i, j) reads (i - pad_top + a*rh, ...).
    pad_top = (2 + (kh - 1) * rh + 1 - 3) // 2
    pad_left = (2 + (kw - 1) * rw + 1 - 3) // 2
    a, c = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    hits = 0
    for i in range(3):
        for j in range(3):
            y, x = i - pad_top + a * rh, j - pad_left + c * rw
            inside = (y >= 0) & (y < 3) & (x >= 0) & (x < 3)
            hits += int(inside.sum())
            expected = np.where(inside, images[0, y.clip(0, 2), x.clip(0, 2), 0], 0)
            np.testing.assert_array_equal(out[0, i, j], expected.reshape(-1))
    assert hits > 0


# ----------------------------------------------------------------------------- receptive field


def coordinate_image(batch: int, height: int, width: int) -> np.ndarray:
    """Channel 0 holds row+1, channel 1 col+1, channel 2 the batch+1: 0 means padding."""
    b, y, x = np.meshgrid(np.arange(batch), np.arange(height), np.arange(width), indexing="ij")
    return np.stack([y + 1, x + 1, b + 1], axis=-1).astype(np.int32)


def check_receptive_field(
    height: int, width: int, k: tuple[int, int], s: tuple[int, int], r: tuple[int, int],
    padding: str,
) -> None:
    ksizes, strides, rates = [1, *k, 1], [1, *s, 1], [1, *r, 1]
    images = coordinate_image(2, height, width)
    out = extract_image_patches(images, ksizes, strides, rates, padding)
    taps = out.reshape(*out.shape[:3], k[0] * k[1], 3)
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            field = receptive_field(images.shape, ksizes, strides, rates, padding, i, j)
            assert len(field) == k[0] * k[1]
            for tap, (y, x) in enumerate(field):
                inside = 0 <= y < height and 0 <= x < width
                for b in range(2):
                    expected = [y + 1, x + 1, b + 1] if inside else [0, 0, 0]
                    assert taps[b, i, j, tap].tolist() == expected


@pytest.mark.parametrize(
    ("height", "width", "k", "s", "r", "padding"),
    [
        (7, 8, (3, 3), (1, 1), (1, 1), "SAME"),
        (9, 10, (3, 2), (1, 2), (2, 2), "SAME"),
        (11, 9, (2, 2), (3, 3), (1, 1), "VALID"),
        (8, 7, (4, 4), (1, 1), (2, 2), "SAME"),
        (13, 13, (3, 3), (2, 2), (3, 3), "SAME"),
        (4, 5, (2, 2), (1, 1), (6, 6), "SAME"),
    ],
)
def test_receptive_field_names_the_pixels_the_kernel_copies(
    height: int, width: int, k: tuple[int, int], s: tuple[int, int], r: tuple[int, int],
    padding: str,
) -> None:
    check_receptive_field(height, width, k, s, r, padding)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 9), width=st.integers(1, 9),
    k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    s=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    r=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.sampled_from(["SAME", "VALID"]),
)
def test_receptive_field_property(
    height: int, width: int, k: tuple[int, int], s: tuple[int, int], r: tuple[int, int],
    padding: str,
) -> None:
    try:
        patches_output_shape((2, height, width, 3), None, [1, *k, 1], [1, *s, 1], [1, *r, 1],
                             padding)
    except InvalidArgumentError:
        return  # a negative VALID output: nothing to outline
    check_receptive_field(height, width, k, s, r, padding)


def test_receptive_field_examples_and_errors() -> None:
    # SAME 3x3 at the top-left corner reaches one pixel into the padding.
    field = receptive_field((1, 5, 5, 1), [1, 3, 3, 1], ONES, ONES, "SAME", 0, 0)
    assert field[:4] == [(-1, -1), (-1, 0), (-1, 1), (0, -1)]
    # Pad total 1 goes to the bottom/right: a 2x2 SAME window starts at the pixel itself.
    assert receptive_field((1, 6, 6, 1), [1, 2, 2, 1], ONES, ONES, "SAME", 5, 5) == [
        (5, 5), (5, 6), (6, 5), (6, 6),
    ]
    assert receptive_field((1, 9, 9, 1), [1, 2, 2, 1], [1, 3, 3, 1], [1, 2, 2, 1], "VALID",
                           1, 2) == [(3, 6), (3, 8), (5, 6), (5, 8)]
    with pytest.raises(InvalidArgumentError, match="outside the output"):
        receptive_field((1, 5, 5, 1), [1, 3, 3, 1], ONES, ONES, "VALID", 3, 0)
    with pytest.raises(InvalidArgumentError, match="must be known"):
        receptive_field((1, None, 5, 1), [1, 3, 3, 1], ONES, ONES, "VALID", 0, 0)
    with pytest.raises(InvalidArgumentError, match="Only support ksizes"):
        receptive_field((1, 5, 5, 1), [2, 3, 3, 1], ONES, ONES, "VALID", 0, 0)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=250, deadline=None)
@given(
    batch=st.integers(0, 2), height=st.integers(0, 9), width=st.integers(0, 9),
    channels=st.integers(0, 3),
    k=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    s=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    r=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    padding=st.sampled_from(["SAME", "VALID"]),
    dtype=st.sampled_from(DTYPES + (["bfloat16"] if BFLOAT16 is not None else [])),
    seed=st.integers(0, 2**32 - 1),
    split=st.booleans(),
)
def test_kernel_matches_the_reference_loop(
    batch: int, height: int, width: int, channels: int, k: tuple[int, int],
    s: tuple[int, int], r: tuple[int, int], padding: str, dtype: str, seed: int, split: bool,
) -> None:
    images = random_images((batch, height, width, channels),
                           BFLOAT16 if dtype == "bfloat16" else dtype, seed)
    args = ([1, *k, 1], [1, *s, 1], [1, *r, 1], padding)
    expected = reference_patches(images, *args)
    if expected is None:
        with pytest.raises(InvalidArgumentError, match="negative"):
            extract_image_patches(images, *args)
        return
    # split: small outputs take the interior-plus-border-strips path large ones take.
    with mock.patch.object(patches_module, "_SPLIT_MIN_BYTES", 0 if split else 1 << 20):
        assert_same_bits(extract_image_patches(images, *args), expected)
    assert patches_output_shape(images.shape, images.dtype, *args) == expected.shape


def test_the_two_references_agree() -> None:
    rng = np.random.default_rng(5)
    for _ in range(40):
        images = random_images((2, *rng.integers(1, 10, 2), 2), np.float32, int(rng.integers(99)))
        args = ([1, *rng.integers(1, 4, 2), 1], [1, *rng.integers(1, 4, 2), 1],
                [1, *rng.integers(1, 3, 2), 1], str(rng.choice(["SAME", "VALID"])))
        expected = reference_patches(images, *args)
        if expected is not None:
            assert_same_bits(reference_by_taps(images, *args), expected)


@pytest.mark.parametrize(
    ("shape", "k", "s", "r", "padding", "dtype"),
    [
        ((4, 64, 64, 3), (3, 3), (1, 1), (1, 1), "SAME", "float32"),  # threads over batch
        ((1, 200, 190, 3), (7, 7), (4, 4), (2, 2), "VALID", "float32"),  # over rows
        ((1, 90, 100, 2), (3, 4), (1, 1), (2, 3), "SAME", "complex128"),  # column phases
        ((8, 40, 40, 16), (5, 5), (2, 2), (1, 1), "SAME", "uint8"),
    ],
)
def test_large_inputs_take_the_threaded_path_and_stay_exact(
    shape: tuple[int, ...], k: tuple[int, int], s: tuple[int, int], r: tuple[int, int],
    padding: str, dtype: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(patches_module, "_PARALLEL_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(patches_module, "_PIECE_MAX_BYTES", 1 << 18)
    monkeypatch.setenv(pieces_module.THREADS_ENV, "2")
    images = random_images(shape, dtype, 3)
    args = ([1, *k, 1], [1, *s, 1], [1, *r, 1], padding)
    with mock.patch.object(patches_module, "_fill_in_pieces",
                           wraps=patches_module._fill_in_pieces) as in_pieces:
        actual = extract_image_patches(images, *args)
    assert in_pieces.call_count == 1 and len(in_pieces.call_args.args[3]) > 2
    assert_same_bits(actual, reference_by_taps(images, *args))


def test_special_floats_survive_bit_for_bit() -> None:
    specials = np.array([0x7FC00001, 0xFFC00000, 0x7F800001, 0x7F800000, 0xFF800000,
                         0x80000000, 0x00000001, 0x3F800000], np.uint32)
    images = specials.view(np.float32).reshape(1, 2, 2, 2)
    out = extract_image_patches(images, [1, 2, 2, 1], ONES, ONES, "SAME")
    first = bits(out)[0, 0, 0]
    np.testing.assert_array_equal(first, specials)
    assert np.all(bits(out)[0, 1, 1, 2:] == 0)  # padding is +0.0, all bits zero


def test_layouts_do_not_matter() -> None:
    images = random_images((2, 9, 8, 3), np.float64, 11)
    args = ([1, 3, 2, 1], [1, 2, 1, 1], [1, 1, 2, 1], "SAME")
    expected = extract_image_patches(images, *args)
    strided = np.zeros((2, 18, 8, 6))
    strided[:, ::2, :, ::2] = images
    fortran = np.asfortranarray(images)
    swapped = images.astype(images.dtype.newbyteorder(">"))
    for variant in (strided[:, ::2, :, ::2], fortran, swapped):
        assert_same_bits(extract_image_patches(variant, *args), expected)


def test_output_is_fresh_and_writable() -> None:
    images = random_images((1, 4, 4, 1), np.int16, 2)
    out = extract_image_patches(images, [1, 1, 1, 1], ONES, ONES, "VALID")
    assert out.flags.c_contiguous and out.flags.writeable
    assert not np.shares_memory(out, images)
    out[...] = 0
    assert np.any(images != 0)


# ----------------------------------------------------------------------------- the block


def test_block_inference_and_run_agree_with_the_kernel() -> None:
    spec = REGISTRY["ExtractImagePatches"]
    images = random_images((2, 7, 6, 3), np.float32, 4)
    literals: dict[str, Any] = {"ksizes": (1, 3, 2, 1), "strides": (1, 2, 2, 1),
                                "rates": (1, 1, 2, 1), "padding": "SAME"}
    infos = {"images": TensorInfo(images.shape, images.dtype)}
    infos.update({name: TensorInfo(None, None, value) for name, value in literals.items()})
    inferred = spec.infer(InferContext(inputs=infos, attrs={}))["patches"]
    produced = spec.run(RunContext(inputs={"images": images, **literals}, attrs={}))["patches"]
    assert inferred.shape == produced.shape
    assert inferred.dtype == produced.dtype
    assert_same_bits(produced, extract_image_patches(images, *literals.values()))


def test_batch_split_across_threads_is_bit_identical(monkeypatch: pytest.MonkeyPatch) -> None:
    """The piecewise path (batch slices cut into rows, shared by threads) equals one piece."""
    rng = np.random.default_rng(3)
    images = rng.standard_normal((5, 9, 11, 3)).astype(np.float32)
    images[0, 0, 0, 0] = np.nan
    images[4, 8, 10, 2] = -0.0
    cases = [
        ([1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "SAME"),
        ([1, 2, 3, 1], [1, 2, 1, 1], [1, 2, 2, 1], "VALID"),
    ]
    monkeypatch.setenv(pieces_module.THREADS_ENV, "1")
    serial = [extract_image_patches(images, *case) for case in cases]
    monkeypatch.setenv(pieces_module.THREADS_ENV, "2")
    monkeypatch.setattr(patches_module, "_PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(patches_module, "_PIECE_MAX_BYTES", 64)  # pieces of single rows
    for case, expected in zip(cases, serial, strict=True):
        got = extract_image_patches(images, *case)
        assert got.view(np.uint32).tobytes() == expected.view(np.uint32).tobytes()


def test_threads_follow_cores_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    cores = len(__import__("os").sched_getaffinity(0))
    monkeypatch.delenv(pieces_module.THREADS_ENV, raising=False)
    assert pieces_module.thread_count() == min(cores, 4)
    monkeypatch.setenv(pieces_module.THREADS_ENV, "1")
    assert pieces_module.thread_count() == 1
    for ignored in ("0", "-3", "many", ""):
        monkeypatch.setenv(pieces_module.THREADS_ENV, ignored)
        assert pieces_module.thread_count() == min(cores, 4)
    monkeypatch.delenv(pieces_module.THREADS_ENV)
    # A batch worker caps its kernels (one chunk per core already); the cap is per thread.
    with pieces_module.thread_limit(1):
        assert pieces_module.thread_count() == 1
        seen: list[int] = []
        other = threading.Thread(target=lambda: seen.append(pieces_module.thread_count()))
        other.start()
        other.join()
        assert seen == [min(cores, 4)]
    assert pieces_module.thread_count() == min(cores, 4)
    # The load average is never consulted.
    with mock.patch("os.getloadavg", side_effect=AssertionError("load sampled")):
        extract_image_patches(random_images((4, 64, 64, 8), np.float32, 1), [1, 3, 3, 1],
                              ONES, ONES, "SAME")


def test_pieces_cover_the_output_once() -> None:
    cases = [((8, 224, 224, 27), 43_352_064, 2), ((1, 254, 254, 147), 37_933_548, 4),
             ((3, 5, 5, 1), 300, 2), ((2, 1, 9, 9), 9 << 20, 2)]
    for shape, nbytes, threads in cases:
        pieces = patches_module._pieces(shape, nbytes, threads)
        covered = np.zeros(shape[:2], int)
        for batch, rows in pieces:
            covered[batch, rows] += 1
        assert np.all(covered == 1)
        if nbytes >= patches_module._PARALLEL_MIN_BYTES and threads > 1:
            assert len(pieces) >= 2 * threads or len(pieces) == shape[0] * shape[1]


def test_python_lists_convert_as_tensorflow_does() -> None:
    args = ([1, 2, 2, 1], ONES, ONES, "VALID")
    ints = [[[[1], [2]], [[3], [4]]]]
    assert extract_image_patches(ints, *args).dtype == np.int32
    big = [[[[2**40], [2]], [[3], [4]]]]
    assert extract_image_patches(big, *args).dtype == np.int64
    floats = [[[[1.5], [2]], [[3], [4]]]]
    out = extract_image_patches(floats, *args)
    assert out.dtype == np.float32 and out.tolist() == [[[[1.5, 2.0, 3.0, 4.0]]]]
    assert extract_image_patches([[[[1j], [2]]]], [1, 1, 1, 1], ONES, ONES, "VALID").dtype == (
        np.complex128
    )
    for refused, words in (([[[[2**63], [1]]]], "out-of-range integer"),
                           ([[[[1e300], [1]]]], "out of range"),
                           ([[[[True], [False]]]], "DT_BOOL")):
        with pytest.raises(InvalidArgumentError, match=words) as caught:
            extract_image_patches(refused, [1, 1, 1, 1], ONES, ONES, "VALID")
        assert caught.value.port == "images"


def test_padding_may_be_bytes() -> None:
    images = random_images((1, 5, 5, 2), np.float32, 6)
    for padding in ("SAME", "VALID"):
        assert_same_bits(
            extract_image_patches(images, [1, 3, 3, 1], ONES, ONES, padding.encode()),
            extract_image_patches(images, [1, 3, 3, 1], ONES, ONES, padding),
        )
    with pytest.raises(InvalidArgumentError, match="padding"):
        extract_image_patches(images, [1, 3, 3, 1], ONES, ONES, b"\xffSAME")
    with pytest.raises(InvalidArgumentError, match="padding"):
        extract_image_patches(images, [1, 3, 3, 1], ONES, ONES, None)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- cancellation


def test_a_set_cancel_event_stops_between_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patches_module, "_PIECE_MAX_BYTES", 1 << 16)
    images = random_images((4, 64, 64, 3), np.float32, 8)
    args = ([1, 3, 3, 1], ONES, ONES, "SAME")
    cancel = threading.Event()
    real_fill = patches_module._fill
    calls: list[int] = []

    def fill_then_stop(*fill_args: Any) -> None:
        calls.append(1)
        real_fill(*fill_args)
        cancel.set()  # a Stop that arrives while the first pieces are being filled

    monkeypatch.setattr(patches_module, "_fill", fill_then_stop)
    pieces = patches_module._pieces((4, 64, 64, 27), 4 * 64 * 64 * 27 * 4,
                                    pieces_module.thread_count())
    assert len(pieces) > 10
    with pytest.raises(CancelledError):
        extract_image_patches(images, *args, cancel=cancel)
    assert len(calls) <= pieces_module.thread_count()  # each thread finishes one piece at most
    # Set before the call: no piece is filled at all.
    calls.clear()
    with pytest.raises(CancelledError):
        extract_image_patches(images, *args, cancel=cancel)
    assert calls == []
    # Not set: the result is whole.
    monkeypatch.setattr(patches_module, "_fill", real_fill)
    assert_same_bits(extract_image_patches(images, *args, cancel=threading.Event()),
                     reference_by_taps(images, *args))


def test_stop_lands_inside_a_long_patches_node(monkeypatch: pytest.MonkeyPatch) -> None:
    """A Stop set from another thread while a large ExtractImagePatches runs ends the run
    long before the kernel would have finished; the node and everything after it are
    reported cancelled."""
    model = GraphModel(REGISTRY)
    # 39 MB of patches in 1 MiB pieces: small, so that this test process stays small (a
    # later test reads its subprocess's ru_maxrss, which starts at this process's peak).
    monkeypatch.setattr(patches_module, "_PIECE_MAX_BYTES", 1 << 20)
    model.add_node("Input", "image", literals={"initvalues": "1.5", "shape": "{8,128,128,3}"})
    model.add_node("ExtractImagePatches", "patches",
                   literals={"ksizes": "{1,5,5,1}", "padding": "SAME"})
    model.add_node("ExtractImagePatches", "after", literals={"ksizes": "{1,1,1,1}"})
    model.connect(PortRef("image", "output"), PortRef("patches", "images"))
    model.connect(PortRef("patches", "patches"), PortRef("after", "images"))
    images = np.full((8, 128, 128, 3), 1.5, np.float32)
    started = perf_counter()
    extract_image_patches(images, [1, 5, 5, 1], ONES, ONES, "SAME")  # the full kernel time
    full = perf_counter() - started
    cancel = threading.Event()
    stop_at: list[float] = []
    real_fill = patches_module._fill

    def fill_then_stop(*args: Any) -> None:
        real_fill(*args)
        if not stop_at:  # the first piece is done: Stop, from another thread
            def stop() -> None:
                stop_at.append(perf_counter())
                cancel.set()

            stopper = threading.Thread(target=stop)
            stopper.start()
            stopper.join()

    monkeypatch.setattr(patches_module, "_fill", fill_then_stop)
    report = Engine().run(model, cancel=cancel)
    ended = perf_counter()
    assert report.cancelled and not report.ok
    assert report.statuses() == {"image": "ran", "patches": "cancelled", "after": "cancelled"}
    assert "patches.patches" not in report.results
    assert stop_at and ended - stop_at[0] < full  # generous: typically a few milliseconds
