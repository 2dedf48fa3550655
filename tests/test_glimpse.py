"""ExtractGlimpse (V1) and ExtractGlimpseV2 against TensorFlow-made fixtures and a reference loop.

The fixtures (tests/fixtures/glimpse, made by tools/golden_glimpse.py with TensorFlow 2.21)
hold deterministic outputs, TensorFlow's error messages and, for noise, the in-image part
and statistics of several TensorFlow draws. TensorFlow itself is never imported here.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import threading
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blocks.errors import CancelledError, InvalidArgumentError, MemoryLimitError
from blocks.kernels import glimpse as glimpse_module
from blocks.kernels import pieces as pieces_module
from blocks.kernels.arguments import CheckedCalls, call_key, small_value_key
from blocks.kernels.compiled import compiled_loops
from blocks.kernels.glimpse import (
    extract_glimpse,
    extract_glimpse_v2,
    glimpse_output_shape,
    glimpse_windows,
)
from tools.golden_glimpse import call_arguments

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "glimpse"
KERNELS = {"ExtractGlimpse": extract_glimpse, "ExtractGlimpseV2": extract_glimpse_v2}
VERSIONS = {"ExtractGlimpse": 1, "ExtractGlimpseV2": 2}
ZERO: dict[str, Any] = {"uniform_noise": False, "noise": "zero"}


@cache
def _manifest() -> dict[str, Any]:
    return json.loads((FIXTURE_DIR / "manifest.json").read_text(encoding="utf-8"))


@cache
def _arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURE_DIR / _manifest()["arrays_file"], allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _cases(kind: str) -> list[dict[str, Any]]:
    return [case for case in _manifest()["cases"] if case["kind"] == kind]


def _case_arrays(case: dict[str, Any]) -> dict[str, np.ndarray]:
    arrays = _arrays()
    return {name: arrays[f"{case['id']}__{name}"] for name in case["arrays"]}


def _run(case: dict[str, Any], arrays: dict[str, np.ndarray], **extra: Any) -> np.ndarray:
    kernel = KERNELS[case["op"]]
    values, attrs = call_arguments(case, arrays)  # Python lists, bytes attrs where the case says
    return kernel(*values, **attrs, **extra)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["id"] for case in cases]


def _assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal shape and dtype, NaN where expected has NaN, identical bits elsewhere."""
    assert actual.dtype == np.float32
    assert actual.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(
        np.where(nan, 0, actual).view(np.uint32), np.where(nan, 0, expected).view(np.uint32)
    )


# ----------------------------------------------------------------------------- fixtures


def test_fixture_set_covers_the_brief() -> None:
    ids = {case["id"] for case in _manifest()["cases"]}
    for version in ("v1", "v2"):
        for mode in ("c1n1", "c0n1", "c1n0", "c0n0"):
            assert f"{version}_zero_{mode}_mixed" in ids
    assert len(_cases("error")) >= 15
    assert {case["distribution"] for case in _cases("noise")} == {"uniform", "gaussian"}
    assert any(np.isnan(_case_arrays(case)["input"]).any() for case in _cases("noise"))
    assert sum(path.stat().st_size for path in FIXTURE_DIR.iterdir()) < 1_000_000


@pytest.mark.parametrize("case", _cases("value"), ids=_ids(_cases("value")))
def test_value_cases_match_tensorflow_bit_for_bit(case: dict[str, Any]) -> None:
    arrays = _case_arrays(case)
    out = _run(case, arrays, seed=7)
    _assert_same_bits(out, arrays["expected"])
    if case.get("exact_bits"):  # NaN too, sign and payload
        assert out.tobytes() == arrays["expected"].tobytes()
    assert list(out.shape) == case["expected_shape"]


def test_fixtures_hold_tensorflows_argument_rules() -> None:
    value = _cases("value")
    assert any(case.get("exact_bits") and np.isnan(_case_arrays(case)["expected"]).all()
               for case in value)
    assert any(case.get("as_python_list") for case in value)
    assert any(case.get("bytes_attrs") for case in value)
    assert any(None in case["attrs"].values() for case in value)
    assert any(_case_arrays(case)["size"].dtype.kind == "f" for case in value)


@pytest.mark.parametrize("case", _cases("error"), ids=_ids(_cases("error")))
def test_error_cases_match_tensorflow(case: dict[str, Any]) -> None:
    arrays = _case_arrays(case)
    with pytest.raises(InvalidArgumentError) as caught:
        _run(case, arrays)
    error = caught.value
    assert case["message"] in error.reason
    for field, value in case["where"].items():
        assert getattr(error, field) == value
    # The shape rule reports the same error from shapes alone.
    with pytest.raises(InvalidArgumentError) as from_shapes:
        glimpse_output_shape(
            arrays["input"].shape, arrays["size"], arrays["offsets"].shape, **case["attrs"]
        )
    assert from_shapes.value.reason == error.reason


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _normal_pdf(z: float) -> float:
    return math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _clipped_normal_moments(mean: float, std: float, lo: float, hi: float) -> tuple[float, float]:
    """Mean and std of clip(mean + std*Z, lo, hi) for a standard normal Z."""
    if std == 0.0:
        return min(max(mean, lo), hi), 0.0
    a, b = (lo - mean) / std, (hi - mean) / std
    below, above = _normal_cdf(a), 1.0 - _normal_cdf(b)
    first = a * below + (_normal_pdf(a) - _normal_pdf(b)) + b * above
    second = (
        a * a * below + (_normal_cdf(b) - _normal_cdf(a)) + a * _normal_pdf(a) - b * _normal_pdf(b)
        + b * b * above
    )
    return mean + std * first, std * math.sqrt(max(second - first * first, 0.0))


def _theory(case: dict[str, Any], image: np.ndarray, b: int, ch: int) -> tuple[float, float]:
    """Theoretical mean and std of the fill of image ``b``, channel ``ch``."""
    pixels = image[b].astype(np.float64)
    if case["distribution"] == "uniform":
        lo, hi = float(np.nanmin(pixels)), float(np.nanmax(pixels))
        return (lo + hi) / 2, (hi - lo) / math.sqrt(12)
    channel = pixels[..., ch]
    return _clipped_normal_moments(
        float(channel.mean()), float(channel.std()), float(channel.min()), float(channel.max())
    )


def _assert_moments_close(mean: float, std: float, theory: tuple[float, float], n: int) -> None:
    expected_mean, expected_std = theory
    # Six standard errors: loose enough never to flake, tight enough to catch a wrong law.
    mean_tol = 6 * expected_std / math.sqrt(n) + 1e-4 * (abs(expected_mean) + 1)
    std_tol = 6 * expected_std / math.sqrt(2 * n) + 1e-4 * (abs(expected_mean) + 1)
    assert abs(mean - expected_mean) <= mean_tol
    assert abs(std - expected_std) <= std_tol


@pytest.mark.parametrize("case", _cases("noise"), ids=_ids(_cases("noise")))
def test_noise_cases_in_image_part_bounds_and_moments(case: dict[str, Any]) -> None:
    arrays = _case_arrays(case)
    image, mask = arrays["input"], arrays["noise_mask"]
    outs = [_run(case, arrays, seed=seed) for seed in range(case["draws"])]
    for out in outs:
        _assert_same_bits(np.where(mask, np.float32(0), out), arrays["expected_in_image"])
    for b, image_stats in enumerate(case["stats"]):
        for channel_stats in image_stats["channels"]:
            ch = channel_stats["channel"]
            fill = np.concatenate([out[b, ..., ch][mask[b, ..., ch]] for out in outs])
            assert fill.size == channel_stats["tf_fill_count"] > 0
            if channel_stats["tf_fill_nan_count"]:  # a gaussian channel holding NaN
                assert channel_stats["tf_fill_nan_count"] == fill.size
                assert np.all(np.isnan(fill))
                continue
            assert not np.isnan(fill).any()
            if case["distribution"] == "uniform":
                lo, hi = np.nanmin(image[b]), np.nanmax(image[b])
                assert np.mean(fill < hi) > 0.99  # [lo, hi); float32 rounding may reach hi
            else:
                lo, hi = image[b, ..., ch].min(), image[b, ..., ch].max()
            assert lo <= fill.min() and fill.max() <= hi
            assert lo <= channel_stats["tf_fill_min"] and channel_stats["tf_fill_max"] <= hi
            theory = _theory(case, image, b, ch)
            fill64 = fill.astype(np.float64)
            _assert_moments_close(float(fill64.mean()), float(fill64.std()), theory, fill.size)
            # TensorFlow's own draws follow the same law (this checks the model, not us).
            _assert_moments_close(
                channel_stats["tf_fill_mean"], channel_stats["tf_fill_std"], theory,
                channel_stats["tf_fill_count"],
            )


# ----------------------------------------------------------------------------- noise


def _partial_setup() -> tuple[np.ndarray, np.ndarray]:
    image = np.random.default_rng(3).random((2, 12, 10, 3), dtype=np.float32)
    return image, np.asarray([[0.9, -0.9], [0.0, 0.0]], np.float32)


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
@pytest.mark.parametrize("kernel", [extract_glimpse, extract_glimpse_v2])
def test_seed_makes_noise_reproducible(kernel: Any, noise: str) -> None:
    image, offsets = _partial_setup()
    attrs = {"uniform_noise": noise == "uniform", "noise": noise}
    first = kernel(image, [8, 8], offsets, seed=11, **attrs)
    again = kernel(image, [8, 8], offsets, seed=11, **attrs)
    other = kernel(image, [8, 8], offsets, seed=12, **attrs)
    fresh = [kernel(image, [8, 8], offsets, seed=None, **attrs) for _ in range(2)]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(fresh[0], fresh[1])
    # The in-image part never depends on the seed; image 1's window is inside.
    zero = kernel(image, [8, 8], offsets, **ZERO)
    filled = zero == 0
    for out in (other, *fresh):
        np.testing.assert_array_equal(np.where(filled, 0, out), zero)
    np.testing.assert_array_equal(first[1], zero[1])


def test_seed_must_be_a_non_negative_integer() -> None:
    image, offsets = _partial_setup()
    for seed in (-1, 1.5, "3"):
        with pytest.raises(InvalidArgumentError, match="seed"):
            extract_glimpse(image, [4, 4], offsets, seed=seed)  # type: ignore[arg-type]


def test_gaussian_fill_of_a_flat_channel_is_that_value() -> None:
    image = np.full((1, 4, 4, 2), 5.0, np.float32)
    image[0, ..., 1] = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = extract_glimpse_v2(image, [6, 6], [[100.0, 100.0]], centered=False, normalized=False,
                             uniform_noise=False, noise="gaussian", seed=1)
    assert np.all(out[..., 0] == 5.0)
    assert out[..., 1].min() >= 0 and out[..., 1].max() <= 15 and out[..., 1].std() > 1


def test_uniform_fill_uses_the_whole_image_range() -> None:
    image = np.zeros((2, 4, 4, 2), np.float32)
    image[0, ..., 0], image[0, ..., 1] = -3.0, 7.0  # lo/hi span channels
    image[1] = 1.0
    out = extract_glimpse(image, [20, 20], [[50.0, 50.0], [50.0, 50.0]], seed=5)
    assert out[0].min() >= -3 and out[0].max() <= 7
    for ch in range(2):
        assert out[0, ..., ch].min() < -2.5 and out[0, ..., ch].max() > 6.5
    assert np.all(out[1] == 1.0)


@pytest.mark.parametrize("noise", ["uniform", "gaussian", "zero"])
def test_empty_image_fill(noise: str) -> None:
    image = np.zeros((2, 0, 5, 1), np.float32)
    out = extract_glimpse_v2(image, [2, 2], np.zeros((2, 2), np.float32),
                             uniform_noise=False, noise=noise)
    if noise == "zero":
        assert np.all(out == 0)
    else:
        assert np.all(np.isnan(out))


def test_noise_selection_rule() -> None:
    image = np.random.default_rng(0).random((1, 6, 6, 1), dtype=np.float32) + 1
    far = np.asarray([[50.0, 50.0]], np.float32)

    def fill(**attrs: Any) -> np.ndarray:
        return extract_glimpse(image, [30, 30], far, seed=2, **attrs)

    uniform, gaussian = fill(noise="uniform"), fill(uniform_noise=False, noise="gaussian")
    np.testing.assert_array_equal(fill(uniform_noise=False, noise="uniform"), uniform)
    np.testing.assert_array_equal(fill(uniform_noise=True, noise=""), uniform)
    np.testing.assert_array_equal(fill(uniform_noise=False, noise=""), gaussian)
    assert np.all(fill(uniform_noise=False, noise="zero") == 0)
    assert not np.array_equal(uniform, gaussian)


# ----------------------------------------------------------------------------- windows


def _coded(batch: int, height: int, width: int, channels: int) -> np.ndarray:
    b, r, c, ch = np.meshgrid(np.arange(batch), np.arange(height), np.arange(width),
                              np.arange(channels), indexing="ij")
    # b % 16 keeps every code below 2**24, where float32 holds integers exactly.
    return (1 + b % 16 * 1_000_000 + r * 1000 + c * 10 + ch).astype(np.float32)


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("centered", [True, False])
@pytest.mark.parametrize("normalized", [True, False])
def test_glimpse_windows_agree_with_the_kernel(version: int, centered: bool,
                                               normalized: bool) -> None:
    rng = np.random.default_rng(version * 4 + centered * 2 + normalized)
    batch, height, width = 40, 9, 11
    image = _coded(batch, height, width, 2)
    scale = 1.3 if normalized else 14.0
    offsets = rng.uniform(-scale, scale, (batch, 2)).astype(np.float32)
    offsets[:3] = [[np.nan, 0], [0, np.inf], [1e30, 1e30]]
    kernel = extract_glimpse if version == 1 else extract_glimpse_v2
    out = kernel(image, [5, 6], offsets, centered=centered, normalized=normalized, **ZERO)
    windows = glimpse_windows(image.shape, [5, 6], offsets, version=version, centered=centered,
                              normalized=normalized)
    assert len(windows) == batch and windows[:3] == [None, None, None]
    assert any(w is not None for w in windows)
    for b, window in enumerate(windows):
        if window is None:
            assert np.all(out[b] == 0)
            continue
        top, left = window
        assert isinstance(top, int) and isinstance(left, int)
        shown = out[b, ..., 0] != 0
        assert shown.any()
        rows, cols = np.nonzero(shown)
        code = out[b, rows, cols, 0].astype(np.int64) - 1 - b % 16 * 1_000_000
        np.testing.assert_array_equal(code // 1000, top + rows)
        np.testing.assert_array_equal(code % 1000 // 10, left + cols)


def test_float32_rounding_decides_the_window() -> None:
    # float32(0.7) * 10 is 7.0 in float32; in float64 it is 6.99999988 and would truncate to 6.
    assert int(np.float64(np.float32(0.7)) * 10) == 6
    windows = glimpse_windows((1, 10, 10, 1), [4, 4], [[0.7, 0.7]], version=2, centered=False,
                              normalized=True)
    assert windows == [(7, 7)]
    windows = glimpse_windows((1, 10, 10, 1), [4, 4], [[0.7, 0.7]], version=1, centered=False,
                              normalized=True)
    assert windows == [(5, 5)]


def test_truncation_toward_zero() -> None:
    windows = glimpse_windows((3, 10, 10, 1), [3, 3], [[-0.5, -2.5], [-1.7, 3.9], [0.2, -0.99]],
                              version=2, centered=False, normalized=False)
    assert windows == [(0, -2), (-1, 3), (0, 0)]


def test_windows_none_when_no_pixel_lands() -> None:
    offsets = [[0.0, 0.0], [100.0, 0.0], [0.0, -3.0], [np.nan, 0.0]]
    windows = glimpse_windows((4, 5, 5, 1), [3, 3], offsets, version=2, centered=False,
                              normalized=False)
    assert windows == [(0, 0), None, None, None]
    assert glimpse_windows((1, 0, 5, 1), [3, 3], [[0.0, 0.0]], version=2, centered=False,
                           normalized=False) == [None]
    assert glimpse_windows((1, 5, 5, 1), [0, 3], [[0.0, 0.0]], version=2, centered=False,
                           normalized=False) == [None]
    assert glimpse_windows((0, 5, 5, 1), [2, 2], np.zeros((0, 2)), version=1, centered=True,
                           normalized=True) == []


# ----------------------------------------------------------------------------- reference


def _reference_start(version: int, centered: bool, normalized: bool, offset: float, extent: int,
                     out: int) -> float:
    """SPEC section 2's table, left to right with one float32 rounding per operation."""
    f = np.float32
    o, full, half_in, half_out = f(offset), f(extent), f(extent) / f(2), f(out) / f(2)
    with np.errstate(over="ignore", invalid="ignore"):
        if version == 1 or (centered and normalized):
            if normalized and centered:
                return float(o * full / f(2) + half_in - half_out)
            if normalized:
                return float(o * full - half_out)
            if centered:
                return float(o / f(2) + half_in - half_out)
            return float(o - half_out)
        if normalized:
            return float(o * full)
        return float(o + half_in) if centered else float(o)


def _reference_glimpse(version: int, image: np.ndarray, size: tuple[int, int],
                       offsets: np.ndarray, centered: bool, normalized: bool) -> np.ndarray:
    """A plain pixel loop with zero fill."""
    batch, height, width, channels = image.shape
    out = np.zeros((batch, size[0], size[1], channels), np.float32)
    for b in range(batch):
        y = _reference_start(version, centered, normalized, offsets[b, 0], height, size[0])
        x = _reference_start(version, centered, normalized, offsets[b, 1], width, size[1])
        if not (math.isfinite(y) and math.isfinite(x) and abs(y) < 2.0**63 and abs(x) < 2.0**63):
            continue
        top, left = int(y), int(x)  # int() truncates toward zero
        for i in range(size[0]):
            for j in range(size[1]):
                if 0 <= top + i < height and 0 <= left + j < width:
                    out[b, i, j] = image[b, top + i, left + j]
    return out


_SPECIAL_OFFSETS = [0.0, -0.0, 0.5, -0.5, 0.7, -2.5, 1.0, -1.0, 0.35, 1e20, -1e20, 9.3e18,
                    float("nan"), float("inf"), -float("inf")]
_offset = st.one_of(
    st.floats(-2.0, 2.0, width=32),
    st.floats(-20.0, 20.0, width=32),
    st.sampled_from(_SPECIAL_OFFSETS),
)


@st.composite
def _glimpse_args(draw: st.DrawFn) -> tuple[Any, ...]:
    batch, height, width = draw(st.integers(0, 3)), draw(st.integers(0, 7)), draw(st.integers(0, 7))
    channels = draw(st.integers(0, 2))
    size = (draw(st.integers(0, 9)), draw(st.integers(0, 9)))
    offsets = np.asarray(
        [[draw(_offset), draw(_offset)] for _ in range(batch)], np.float32
    ).reshape(batch, 2)
    return (draw(st.sampled_from([1, 2])), (batch, height, width, channels), size, offsets,
            draw(st.booleans()), draw(st.booleans()))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_glimpse_args())
def test_kernel_matches_reference_loop(args: tuple[Any, ...]) -> None:
    version, shape, size, offsets, centered, normalized = args
    image = _coded(*shape)
    kernel = extract_glimpse if version == 1 else extract_glimpse_v2
    out = kernel(image, list(size), offsets, centered=centered, normalized=normalized, **ZERO)
    expected = _reference_glimpse(version, image, size, offsets, centered, normalized)
    _assert_same_bits(out, expected)
    # With noise the in-image part is the same; the filled part is where the reference is 0.
    noisy = kernel(image, list(size), offsets, centered=centered, normalized=normalized, seed=3)
    inside = expected != 0
    np.testing.assert_array_equal(noisy[inside], expected[inside])


@pytest.mark.parametrize("noise", ["zero", "uniform", "gaussian"])
def test_windows_wholly_inside_up_to_the_last_row_and_column(noise: str) -> None:
    """Every corner of a 4x3 window on a 7x6 image (up to the bottom-right one, whose last
    row and column are the image's) plus one step further out on each side, in one batch:
    windows wholly inside (copied row by row with no fill) and crossing ones (image part
    and fill) alternate, and each equals the reference; with noise the fill stays where
    the reference is zero and the image part is untouched."""
    height, width, size = 7, 6, (4, 3)
    corners = [(top, left) for top in range(-1, height - size[0] + 2)
               for left in range(-1, width - size[1] + 2)]
    image = _coded(len(corners), height, width, 3)
    offsets = np.asarray(corners, np.float32)
    out = extract_glimpse_v2(image, list(size), offsets, centered=False, normalized=False,
                             uniform_noise=False, noise=noise, seed=5)
    expected = _reference_glimpse(2, image, size, offsets, False, False)
    wholly_inside = [0 <= top <= height - size[0] and 0 <= left <= width - size[1]
                     for top, left in corners]
    assert sum(wholly_inside) == 4 * 4 and not all(wholly_inside)
    if noise == "zero":
        _assert_same_bits(out, expected)
    shown = expected != 0
    np.testing.assert_array_equal(out[shown], expected[shown])
    np.testing.assert_array_equal(out[wholly_inside], expected[wholly_inside])
    assert noise == "zero" or np.all(out[~shown] != 0)


# ----------------------------------------------------------------------------- conversions


def test_size_and_offsets_literals_convert() -> None:
    image = _coded(1, 6, 6, 1)
    reference = extract_glimpse_v2(image, np.asarray([3, 2], np.int32), [[0.7, 0.1]], **ZERO)
    sizes: list[Any] = [[3, 2], (3, 2), np.asarray([3, 2], np.int64), [3.0, 2.0],
                        np.asarray([3, 2], np.uint8)]
    offsets64 = np.asarray([[0.7, 0.1]], np.float64)
    for size in sizes:
        np.testing.assert_array_equal(extract_glimpse_v2(image, size, offsets64, **ZERO), reference)
    for image_as in (image.astype(np.float64), image.astype(np.int32)):
        np.testing.assert_array_equal(
            extract_glimpse_v2(image_as, [3, 2], [[0.7, 0.1]], **ZERO), reference
        )


@pytest.mark.parametrize(
    "size, words",
    [([2.5, 3], "whole numbers"), ([np.nan, 3], "whole numbers"), (["a", "b"], "integers"),
     ([2**31, 3], "int32"), (np.asarray([np.nan, 3.0]), "finite"),
     (np.asarray([3e9, 3.0]), "int32")],
)
def test_bad_size_values_are_refused(size: Any, words: str) -> None:
    with pytest.raises(InvalidArgumentError, match=words) as caught:
        extract_glimpse(_coded(1, 4, 4, 1), size, [[0.0, 0.0]])
    assert caught.value.port == "size"


@pytest.mark.parametrize("port", ["input", "offsets"])
def test_non_real_tensors_are_refused(port: str) -> None:
    args: dict[str, Any] = {"input": _coded(1, 4, 4, 1), "offsets": np.zeros((1, 2), np.float32)}
    args[port] = args[port].astype(np.complex64)
    with pytest.raises(InvalidArgumentError, match="complex64") as caught:
        extract_glimpse_v2(args["input"], [2, 2], args["offsets"])
    assert caught.value.port == port
    with pytest.raises(InvalidArgumentError) as ragged:
        extract_glimpse_v2(_coded(1, 4, 4, 1), [2, 2], [[0.0, 0.0], [1.0]])
    assert ragged.value.port == "offsets"


def test_noise_must_be_a_string() -> None:
    with pytest.raises(InvalidArgumentError, match="string") as caught:
        glimpse_output_shape((1, 2, 2, 1), np.asarray([1, 1]), (1, 2), noise=5)  # type: ignore[arg-type]
    assert caught.value.attr == "noise"
    with pytest.raises(InvalidArgumentError, match="zero or empty") as unknown:
        glimpse_output_shape((1, 2, 2, 1), np.asarray([1, 1]), (1, 2), uniform_noise=False,
                             noise=b"\xff")
    assert unknown.value.attr == "noise"


# ----------------------------------------------------------------------------- shapes


def test_output_shape_from_shapes() -> None:
    assert glimpse_output_shape((2, 10, 12, 3), np.asarray([4, 5]), (2, 2)) == (2, 4, 5, 3)
    assert glimpse_output_shape((2, 10, 12, 3), None, (2, 2)) == (2, None, None, 3)
    assert glimpse_output_shape(None, np.asarray([4, 5]), (3, 2)) == (3, 4, 5, None)
    assert glimpse_output_shape((None, None, None, 3), np.asarray([4, 5]), (None, 2)) == (
        None, 4, 5, 3,
    )
    assert glimpse_output_shape(None, None, None) == (None, None, None, None)


def test_output_shape_errors_with_unknown_dims() -> None:
    with pytest.raises(InvalidArgumentError, match=r"first dimension should be batch\[3,2\]"):
        glimpse_output_shape((2, None, None, 1), None, (3, 2))
    with pytest.raises(InvalidArgumentError, match=r"input must be a matrix\[\?\]"):
        glimpse_output_shape((None, 3, 3, 1), None, (None,))
    with pytest.raises(InvalidArgumentError, match=r"4-dimensional.*\[\?,3\]"):
        glimpse_output_shape((None, 3), None, None)


def test_remembered_calls_are_checked_afresh_when_what_the_checks_read_differs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The kernels remember the checks of calls that passed: an alike call skips them, a
    call differing in the size's values or dtype, a shape, the noise attrs or the memory
    limit is checked afresh, and a failing call raises every time."""
    checks: list[tuple[Any, ...]] = []
    rule = glimpse_module.glimpse_output_shape

    def counted(*args: Any, **kwargs: Any) -> Any:
        checks.append(args)
        return rule(*args, **kwargs)

    monkeypatch.setattr(glimpse_module, "glimpse_output_shape", counted)
    monkeypatch.setattr(glimpse_module, "_CHECKED", CheckedCalls())
    image, offsets = _coded(2, 6, 6, 1), np.zeros((2, 2), np.float32)
    size = np.array([3, 3], np.int32)
    first = extract_glimpse_v2(image, size, offsets, **ZERO)
    _assert_same_bits(extract_glimpse_v2(image, size.copy(), offsets, **ZERO), first)
    assert len(checks) == 1
    assert extract_glimpse_v2(image, np.array([2, 3], np.int32), offsets, **ZERO).shape == (
        2, 2, 3, 1)
    assert extract_glimpse_v2(image, np.array([3.9, 3], np.float32), offsets, **ZERO).shape == (
        2, 3, 3, 1)
    assert extract_glimpse_v2(image, size, offsets, uniform_noise=False, noise=b"zero").shape == (
        2, 3, 3, 1)
    assert len(checks) == 4
    for _ in range(2):
        with pytest.raises(InvalidArgumentError, match="size"):
            extract_glimpse_v2(image, np.array([3, -3], np.int32), offsets, **ZERO)
        with pytest.raises(InvalidArgumentError, match="size"):
            extract_glimpse_v2(image, np.array([3, np.nan], np.float32), offsets, **ZERO)
        with pytest.raises(MemoryLimitError):
            extract_glimpse_v2(image, size, offsets, memory_limit=8, **ZERO)
        with pytest.raises(InvalidArgumentError, match="uniform_noise"):
            extract_glimpse_v2(image, size, offsets, uniform_noise=True, noise="zero")
        with pytest.raises(InvalidArgumentError, match="offsets"):
            extract_glimpse_v2(image, size, np.zeros((3, 2), np.float32), **ZERO)
        with pytest.raises(InvalidArgumentError, match="input"):
            extract_glimpse_v2(image[0], size, offsets, **ZERO)
    assert len(checks) == 4 + 2 * 6


def test_checked_calls_keep_at_most_their_limit() -> None:
    kept: CheckedCalls[int] = CheckedCalls(limit=2)
    keys = [call_key("size", small_value_key(np.array([n, n], np.int32))) for n in range(3)]
    assert all(key is not None for key in keys) and len(set(keys)) == 3
    kept.keep(keys[0], 0)
    kept.keep(keys[1], 1)
    assert kept.get(keys[0]) == 0 and kept.get(keys[1]) == 1
    kept.keep(keys[2], 2)  # full: the older ones are dropped
    assert kept.get(keys[0]) is None and kept.get(keys[2]) == 2
    assert call_key("size", small_value_key(np.zeros(9, np.int32))) is None  # not small
    unhashable = call_key("attrs", [1])
    kept.keep(unhashable, 4)  # not hashable: never kept
    assert kept.get(unhashable) is None
    assert small_value_key([1, 2]) != small_value_key((1, 2)) != small_value_key([True, 2])
    # An object array's bytes are addresses: never a key, whatever the checks would say.
    assert small_value_key(np.array([2, 2], object)) is None
    kept.keep(None, 3)
    assert kept.get(None) is None


def test_memory_limit() -> None:
    shape = (2, 10, 12, 3)
    assert glimpse_output_shape(shape, np.asarray([4, 5]), (2, 2), memory_limit=480) == (2, 4, 5, 3)
    with pytest.raises(MemoryLimitError) as caught:
        glimpse_output_shape(shape, np.asarray([4, 5]), (2, 2), memory_limit=479)
    assert "[2,4,5,3]" in caught.value.reason and "480 bytes" in caught.value.reason
    with pytest.raises(MemoryLimitError, match="memory limit"):
        extract_glimpse(np.zeros(shape, np.float32), [2**31 - 1, 2**31 - 1],
                        np.zeros((2, 2), np.float32))


def test_noise_attrs_are_checked_first() -> None:
    with pytest.raises(InvalidArgumentError, match="at the same time") as caught:
        glimpse_output_shape((5, 5), np.asarray([-1]), (7,), noise="gaussian")
    assert caught.value.attr == "uniform_noise"


_dims = st.lists(st.integers(0, 3), min_size=0, max_size=5).map(tuple)


@settings(max_examples=150, deadline=None)
@given(
    input_shape=_dims, offsets_shape=_dims,
    size=st.lists(st.integers(-2, 4), min_size=0, max_size=3),
    fill=st.sampled_from([("uniform", True), ("zero", False), ("zero", True), ("", False),
                          ("bogus", False)]),
)
def test_shape_rule_and_kernel_agree(input_shape: tuple[int, ...], offsets_shape: tuple[int, ...],
                                     size: list[int], fill: tuple[str, bool]) -> None:
    noise, uniform_noise = fill
    attrs: dict[str, Any] = {"noise": noise, "uniform_noise": uniform_noise}
    size_array = np.asarray(size, np.int32)
    try:
        shape = glimpse_output_shape(input_shape, size_array, offsets_shape, **attrs)
    except InvalidArgumentError as error:
        with pytest.raises(InvalidArgumentError) as caught:
            extract_glimpse(np.zeros(input_shape, np.float32), size_array,
                            np.zeros(offsets_shape, np.float32), seed=0, **attrs)
        assert caught.value.reason == error.reason
        assert (caught.value.port, caught.value.attr) == (error.port, error.attr)
        return
    out = extract_glimpse_v2(np.zeros(input_shape, np.float32), size_array,
                             np.zeros(offsets_shape, np.float32), seed=0, **attrs)
    assert out.shape == shape


# ----------------------------------------------------------------------------- per-item noise


@pytest.mark.parametrize("noise", ["uniform", "gaussian"])
@pytest.mark.parametrize("kernel", [extract_glimpse, extract_glimpse_v2])
def test_noise_of_a_chunk_is_the_slice_of_the_whole_batch(kernel: Any, noise: str) -> None:
    """Items [i:j] run with item_offset=i give bit for bit the noise they get in the batch."""
    rng = np.random.default_rng(17)
    attrs = {"uniform_noise": False, "noise": noise, "centered": False, "normalized": False}
    for trial in range(6):
        batch = int(rng.integers(2, 40))
        height, width, channels = (int(v) for v in rng.integers(1, 12, 3))
        size = [int(v) for v in rng.integers(1, 14, 2)]
        image = rng.standard_normal((batch, height, width, channels)).astype(np.float32)
        offsets = rng.uniform(-12, 16, (batch, 2)).astype(np.float32)
        offsets[rng.random(batch) < 0.2] = 1e6  # some glimpses are all fill
        first = int(rng.integers(0, 1000))
        whole = kernel(image, size, offsets, seed=trial, item_offset=first, **attrs)
        cuts = sorted({0, batch, *rng.integers(0, batch, 3).tolist()})
        for lo, hi in itertools.pairwise(cuts):
            part = kernel(image[lo:hi], size, offsets[lo:hi], seed=trial,
                          item_offset=first + lo, **attrs)
            assert part.tobytes() == whole[lo:hi].tobytes()
        # Another offset moves every item to another stream.
        moved = kernel(image, size, offsets, seed=trial, item_offset=first + 1, **attrs)
        fill = kernel(image, size, offsets, **ZERO, centered=False, normalized=False) == 0
        if fill.sum() > 8:
            assert not np.array_equal(moved[fill], whole[fill])


def test_noise_streams_are_independent_of_the_fill_pattern() -> None:
    """An element's noise depends on its position, not on which other elements are filled."""
    image = np.random.default_rng(2).random((1, 6, 6, 2), dtype=np.float32)
    image[0, 0, 0, 0], image[0, 5, 5, 1] = 0.0, 1.0  # the same range for both runs
    far = extract_glimpse_v2(image, [4, 4], [[100.0, 100.0]], centered=False, normalized=False,
                             uniform_noise=False, noise="uniform", seed=4)
    corner = extract_glimpse_v2(image, [4, 4], [[-2.0, -2.0]], centered=False,
                                normalized=False, uniform_noise=False, noise="uniform", seed=4)
    filled = np.zeros((4, 4), bool)
    filled[:2, :] = filled[:, :2] = True
    np.testing.assert_array_equal(corner[0][filled], far[0][filled])


def test_empty_image_nan_is_tensorflows_bits() -> None:
    image = np.zeros((2, 0, 5, 1), np.float32)
    for noise in ("uniform", "gaussian"):
        out = extract_glimpse(image, [2, 3], np.zeros((2, 2), np.float32),
                              uniform_noise=noise == "uniform", noise=noise)
        assert np.all(out.view(np.uint32) == 0xFFC00000)


def test_none_attrs_take_tensorflows_defaults() -> None:
    image = _coded(2, 9, 9, 1)
    offsets = np.asarray([[0.2, -0.3], [0.5, 0.5]], np.float32)
    for kernel in (extract_glimpse, extract_glimpse_v2):
        expected = kernel(image, [3, 3], offsets, **ZERO)
        for attr in ("centered", "normalized"):
            got = kernel(image, [3, 3], offsets, **{attr: None}, **ZERO)
            np.testing.assert_array_equal(got, expected)
        uniform = kernel(image, [30, 30], offsets, seed=3)
        np.testing.assert_array_equal(kernel(image, [30, 30], offsets, seed=3, noise=None),
                                      uniform)
        np.testing.assert_array_equal(
            kernel(image, [30, 30], offsets, seed=3, uniform_noise=None, noise=None), uniform
        )
        with pytest.raises(InvalidArgumentError, match="same time"):
            kernel(image, [3, 3], offsets, uniform_noise=None, noise="zero")
        np.testing.assert_array_equal(
            kernel(image, [3, 3], offsets, uniform_noise=False, noise=b"zero"), expected
        )


def test_tensorflow_conversions_of_size_and_lists() -> None:
    image = _coded(1, 8, 8, 2)
    offsets = np.asarray([[1.0, 1.0]], np.float32)
    reference = extract_glimpse_v2(image, [2, 3], offsets, centered=False, normalized=False,
                                   **ZERO)
    for size in (np.asarray([2.5, 3.0]), np.asarray([2.9, 3.99], np.float32),
                 np.asarray([2, 3], np.int64)):
        np.testing.assert_array_equal(
            extract_glimpse_v2(image, size, offsets, centered=False, normalized=False, **ZERO),
            reference,
        )
    # -0.5 truncates to 0: an empty glimpse, as in TensorFlow.
    empty = extract_glimpse_v2(image, np.asarray([-0.5, 3.0]), offsets, **ZERO)
    assert empty.shape == (1, 0, 3, 2)
    # bools convert to 1/0; Python lists of the image and offsets convert to float32.
    assert extract_glimpse_v2(image, [True, True], offsets, **ZERO).shape == (1, 1, 1, 2)
    from_lists = extract_glimpse_v2(image.tolist(), [2, 3], offsets.tolist(), centered=False,
                                    normalized=False, **ZERO)
    np.testing.assert_array_equal(from_lists, reference)


@pytest.mark.parametrize("noise", ["uniform", "gaussian", "zero"])
def test_pieces_and_threads_do_not_change_the_result(noise: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(8)
    image = rng.standard_normal((40, 20, 22, 3)).astype(np.float32)
    offsets = rng.uniform(-10, 25, (40, 2)).astype(np.float32)
    attrs = {"centered": False, "normalized": False, "uniform_noise": False, "noise": noise}
    for size in ([9, 7], [2, 3], [30, 30]):  # strided rows, flat pixels, larger than the image
        monkeypatch.setenv(pieces_module.THREADS_ENV, "1")
        whole = extract_glimpse_v2(image, size, offsets, seed=5, **attrs)
        monkeypatch.setenv(pieces_module.THREADS_ENV, "2")
        monkeypatch.setattr(glimpse_module, "_PARALLEL_MIN_BYTES", 1)
        monkeypatch.setattr(glimpse_module, "_PIECE_BYTES", 1)  # one item a piece
        pieces = extract_glimpse_v2(image, size, offsets, seed=5, **attrs)
        monkeypatch.undo()
        assert pieces.tobytes() == whole.tobytes()


def test_numba_threads_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    # Work from about 4 MiB on is shared on numba's threads, its items in pieces taken one
    # at a time in rounds: every cut gives the bits of one call on one thread.
    if not pieces_module.shared_loops_usable():
        pytest.skip("numba has no thread-safe threading layer on this machine")
    rng = np.random.default_rng(18)
    image = rng.standard_normal((40, 20, 22, 3)).astype(np.float32)
    offsets = rng.uniform(-10, 25, (40, 2)).astype(np.float32)
    shared = compiled_loops("shared_loops")
    entries: list[int] = []
    run = shared.run

    def counted(loop: Any, bounds: np.ndarray, threads: int, args: tuple[Any, ...],
                **options: Any) -> int:
        entries.append(len(bounds) - 1)
        return int(run(loop, bounds, threads, args, **options))

    for noise in ("uniform", "gaussian", "zero"):
        attrs = {"centered": False, "normalized": False, "uniform_noise": False,
                 "noise": noise}
        for size in ([9, 7], [30, 30]):
            monkeypatch.setenv(pieces_module.THREADS_ENV, "1")
            whole = extract_glimpse_v2(image, size, offsets, seed=5, item_offset=7, **attrs)
            monkeypatch.setenv(pieces_module.THREADS_ENV, "2")
            monkeypatch.setattr(shared, "run", counted)
            monkeypatch.setattr(pieces_module, "LOOP_SHARED_MIN", 0)
            for piece_bytes in (1, 1 << 14, 1 << 30):  # an item a piece, a few, the rounds'
                monkeypatch.setattr(glimpse_module, "_PIECE_BYTES", piece_bytes)
                entries.clear()
                shared_bits = extract_glimpse_v2(image, size, offsets, seed=5, item_offset=7,
                                                 **attrs)
                assert entries and sum(entries) >= 2  # numba's threads took the pieces
                assert shared_bits.tobytes() == whole.tobytes()
            monkeypatch.undo()


def _threads_used(monkeypatch: pytest.MonkeyPatch, call: Any, *, numba_threads: bool) -> int:
    """The most threads the glimpse asked :func:`run_loop_ranges` for during ``call()`` (1
    when it ran in one piece on the calling thread), with numba's threads usable or not."""
    asked = [1]
    real = glimpse_module.run_loop_ranges

    def recording(loop: Any, total: int, count: int, args: Any, cancel: Any,
                  threads: int) -> int:
        asked.append(threads)
        return int(real(loop, total, count, args, cancel, threads))

    monkeypatch.setattr(glimpse_module, "run_loop_ranges", recording)
    monkeypatch.setenv(pieces_module.THREADS_ENV, "2")
    monkeypatch.setattr(pieces_module.os, "sched_getaffinity", lambda pid: {0, 1})
    if not numba_threads:
        monkeypatch.setattr(pieces_module, "_numba_threads_ready", lambda: False)
    elif not pieces_module._numba_threads_ready():
        pytest.skip("numba has no thread-safe threading layer on this machine")
    call()
    monkeypatch.undo()
    return max(asked)


@pytest.mark.parametrize("numba_threads", [True, False])
def test_small_work_stays_on_the_calling_thread_and_large_work_is_shared(
    numba_threads: bool, monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(9)
    attrs = {"centered": False, "normalized": False, "uniform_noise": False}

    def threads(call: Any) -> int:
        return _threads_used(monkeypatch, call, numba_threads=numba_threads)

    # A 1.5 MB copy (the benchmark's G2): entering other threads costs what they save.
    image = rng.random((32, 100, 100, 3), dtype=np.float32)
    inside = rng.uniform(0, 36, (32, 2)).astype(np.float32)
    assert threads(lambda: extract_glimpse_v2(image, [64, 64], inside, noise="zero",
                                              **attrs)) == 1
    # Gaussian fill weighs 256 bytes an element: 32 glimpses of 64x64x3, all fill (about 100 MB).
    outside = np.full((32, 2), -500.0, np.float32)
    assert threads(lambda: extract_glimpse_v2(image, [64, 64], outside, noise="gaussian",
                                              seed=1, **attrs)) == 2
    # Uniform fill reads each filled item's image: 38 MB of images to scan is shared,
    large = rng.random((48, 256, 256, 3), dtype=np.float32)
    assert threads(lambda: extract_glimpse_v2(
        large, [8, 8], np.full((48, 2), -100.0, np.float32), noise="uniform", seed=1,
        **attrs)) == 2
    # ... 13 MB is shared by numba's spinning threads, not by the pool's (about 1 ms on
    # one core, less than waking a pool helper under load risks) ...
    assert threads(lambda: extract_glimpse_v2(
        large[:16], [8, 8], np.full((16, 2), -100.0, np.float32), noise="uniform", seed=1,
        **attrs)) == (2 if numba_threads else 1)
    # ... and 3 MB by neither ...
    assert threads(lambda: extract_glimpse_v2(
        large[:4], [8, 8], np.full((4, 2), -100.0, np.float32), noise="uniform", seed=1,
        **attrs)) == 1
    # ... nor are images whose glimpses have no fill (only the items with fill count).
    assert threads(lambda: extract_glimpse_v2(
        large, [8, 8], np.full((48, 2), 10.0, np.float32), noise="uniform", seed=1,
        **attrs)) == 1


@pytest.mark.parametrize("count", [0, 1, 31, 32, 33, 95, 200, 1000])
def test_the_uniform_range_scan_skips_nan_and_keeps_the_first_signed_zero(count: int) -> None:
    from blocks.kernels import glimpse_loops

    rng = np.random.default_rng(count)
    lanes = [np.empty(32, np.float32), np.empty(32, np.float32)]
    for trial in range(20):
        values = rng.standard_normal(count + 3).astype(np.float32)
        values[rng.random(count + 3) < 0.2 * (trial % 5)] = np.nan
        values[rng.random(count + 3) < 0.1] = rng.choice([0.0, -0.0, np.inf, -np.inf])
        low, high = glimpse_loops._uniform_range(values, 2, count, *lanes)
        part = values[2 : 2 + count]
        numbers = part[~np.isnan(part)]
        if numbers.size == 0:
            assert low > high  # NaN only (or nothing): the caller fills with NaN
            continue
        assert low == numbers.min() and high == numbers.max()
        # Of equal values the scan keeps the one its lanes meet first: -0.0 and 0.0 keep
        # whichever the rule (lane l holds elements l, l+32, ...; then the tail; then the
        # lanes in order) reaches first, the same as the scalar rule it replaced.
        expected_low, expected_high = _lanes_rule(part)
        assert np.float32(low).tobytes() == np.float32(expected_low).tobytes()
        assert np.float32(high).tobytes() == np.float32(expected_high).tobytes()


def _lanes_rule(values: np.ndarray) -> tuple[float, float]:
    """The documented order of the uniform range scan, with numpy: lane ``l`` keeps the
    least of elements ``l, l+32, ...`` (the first of equals), then the tail elements and
    then the 32 lanes are met in turn."""
    rows = len(values) // 32
    lo = np.full(32, np.inf, np.float32)
    hi = np.full(32, -np.inf, np.float32)
    for row in values[: rows * 32].reshape(rows, 32):
        lo = np.where(row < lo, row, lo)
        hi = np.where(row > hi, row, hi)
    rest = values[rows * 32 :]
    low = functools.reduce(lambda kept, v: v if v < kept else kept,
                           np.concatenate([rest, lo]), np.float32(np.inf))
    high = functools.reduce(lambda kept, v: v if v > kept else kept,
                            np.concatenate([rest, hi]), np.float32(-np.inf))
    return low, high


def test_a_set_cancel_event_stops_the_glimpse() -> None:
    image = np.random.default_rng(1).random((8, 10, 10, 1), dtype=np.float32)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        extract_glimpse(image, [6, 6], np.full((8, 2), 0.9, np.float32), cancel=cancel)


def test_fill_statistics_skip_nan_for_uniform_and_spread_it_for_gaussian() -> None:
    rng = np.random.default_rng(4)
    image = (rng.standard_normal((3, 30, 17, 3)) * [1, 10, 100] + [5, -50, 1000]).astype(
        np.float32
    )
    image[1, 2, 2, 1] = np.nan  # uniform skips it; gaussian channel 1 of image 1 is NaN
    image[2] = np.nan  # an image of NaN only: NaN fill for both
    offsets = np.full((3, 2), -100.0, np.float32)  # every glimpse is all fill
    attrs: dict[str, Any] = {"centered": False, "normalized": False, "uniform_noise": False}
    uniform = extract_glimpse_v2(image, [6, 5], offsets, noise="uniform", seed=1, **attrs)
    for item in (0, 1):
        low, high = np.nanmin(image[item]), np.nanmax(image[item])
        assert low <= uniform[item].min() and uniform[item].max() <= high
        assert uniform[item].max() - uniform[item].min() > 0.5 * (high - low)
    assert np.isnan(uniform[2]).all()
    gaussian = extract_glimpse_v2(image, [40, 40], offsets, noise="gaussian", seed=1, **attrs)
    for channel in range(3):
        values = gaussian[0, ..., channel]
        pixels = image[0, ..., channel].astype(np.float64)
        assert values.min() >= pixels.min() and values.max() <= pixels.max()
        assert abs(values.mean() - pixels.mean()) < 0.1 * pixels.std()
        assert abs(values.std() / pixels.std() - 1) < 0.1
    assert np.isnan(gaussian[1, ..., 1]).all() and np.isfinite(gaussian[1, ..., 0]).all()
    assert np.isnan(gaussian[2]).all()
