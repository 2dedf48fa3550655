"""The results panel's Qt-free parts: statistics, value text, export, difference."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import graph.stats
from app.results.data import (
    NodeResult,
    exact_value,
    format_value,
    results_from_report,
    tensor_stats,
)
from app.results.export import load_csv, save_csv, save_npy


def test_stats_are_nan_aware_and_count_nan_and_inf() -> None:
    values = np.array([[1.0, np.nan, 3.0], [np.inf, -np.inf, 5.0]], dtype=np.float32)
    stats = tensor_stats(values)
    finite = np.array([1.0, 3.0, 5.0])
    assert (stats.shape, stats.dtype, stats.size) == ((2, 3), "float32", 6)
    assert (stats.min, stats.max) == (1.0, 5.0)
    assert stats.mean == pytest.approx(finite.mean())
    assert stats.std == pytest.approx(finite.std())
    assert (stats.nan, stats.inf) == (1, 2)
    assert "NaN 1" in stats.summary() and "inf 2" in stats.summary()


def test_stats_in_chunks_match_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    values = (rng.standard_normal(10_007) * 1000 + 1e6).astype(np.float64)
    values[17] = np.nan
    monkeypatch.setattr(graph.stats, "STATS_CHUNK", 1000)
    stats = tensor_stats(values)
    finite = values[np.isfinite(values)]
    assert stats.mean == pytest.approx(finite.mean(), rel=1e-12)
    assert stats.std == pytest.approx(finite.std(), rel=1e-9)
    assert (stats.min, stats.max, stats.nan) == (finite.min(), finite.max(), 1)


def test_stats_of_complex_use_the_magnitude_and_empty_is_empty() -> None:
    stats = tensor_stats(np.array([3 + 4j, 0 - 1j], dtype=np.complex64))
    assert (stats.min, stats.max, stats.mean) == (1.0, 5.0, 3.0)
    assert stats.complex_magnitude and "|z|" in stats.summary()
    empty = tensor_stats(np.zeros((1, 0, 0, 18), dtype=np.float32))
    assert empty.empty and empty.summary().endswith("empty")
    assert tensor_stats(np.array([np.nan])).summary().count("no finite values") == 1


def test_integer_extremes_stay_exact() -> None:
    big = np.array([2**62 + 1, -(2**62) - 3], dtype=np.int64)
    stats = tensor_stats(big)
    assert (stats.min, stats.max) == (-(2**62) - 3, 2**62 + 1)
    assert str(2**62 + 1) in stats.summary()


def test_value_text_is_compact_and_the_tooltip_exact() -> None:
    value = np.float32(0.1)
    assert format_value(value) == "0.1"
    assert exact_value(value) == repr(float(value)) == "0.10000000149011612"
    assert float(exact_value(value)) == float(value)
    assert format_value(np.float64(123456789.0)) == "1.23457e+08"
    assert exact_value(np.int64(-(2**63))) == str(-(2**63))
    assert format_value(np.complex64(1 - 2j)) == "1-2j"
    assert exact_value(np.complex128(1.5 + 0.25j)) == "(1.5+0.25j)"
    assert format_value(np.float32(-np.inf)) == "-inf"


def test_results_from_report_reads_a_run_report() -> None:
    array = np.ones((1, 2, 2, 1), np.float32)
    node = SimpleNamespace(node="a", block="Input", status="cached", seconds=0.5,
                           error=ValueError("boom"), inputs={"dtype": np.dtype("float32")},
                           attrs={}, outputs={"output": array})
    results = results_from_report(SimpleNamespace(nodes={"a": node}))
    assert list(results) == ["a"]
    result = results["a"]
    assert isinstance(result, NodeResult)
    assert (result.status, result.seconds, result.error) == ("cached", 0.5, "boom")
    assert result.outputs["output"] is array
    assert results_from_report(None) == {}


def test_npy_export_is_bit_exact(tmp_path: Path) -> None:
    tensor = np.array([[0.0, -0.0, np.nan], [np.inf, 1e-45, 3.4e38]], dtype=np.float32)
    path = tmp_path / "t.npy"
    save_npy(str(path), tensor)
    loaded = np.load(path, allow_pickle=False)
    assert loaded.dtype == tensor.dtype and loaded.shape == tensor.shape
    assert loaded.tobytes() == tensor.tobytes()


@pytest.mark.parametrize(
    "plane",
    [
        np.array([[0.1, 1 / 3, -2.5e-38], [np.float32(np.pi), 7.0, -0.0]], dtype=np.float32),
        np.array([[1 / 3, 2**-1074, 1e308]], dtype=np.float64),
        np.array([[2**62 + 1, -5]], dtype=np.int64),
        np.array([[1 + 2j, -0.1 - 1 / 3j]], dtype=np.complex128),
        np.array([1.5, 2.25], dtype=np.float16),
    ],
)
def test_csv_round_trips(tmp_path: Path, plane: np.ndarray) -> None:
    path = tmp_path / "slice.csv"
    save_csv(str(path), plane)
    loaded = load_csv(str(path), plane.dtype)
    expected = plane.reshape(-1, 1) if plane.ndim == 1 else plane
    assert loaded.tobytes() == expected.tobytes()


def test_difference_and_its_largest_magnitude() -> None:
    from app.results.views import difference  # imports Qt widgets, but needs no app

    a = np.array([[1.0, 2.0], [np.nan, 4.0]], dtype=np.float32)
    b = np.array([[0.5, 5.0], [1.0, 4.0]], dtype=np.float32)
    diff, largest = difference(a, b)
    np.testing.assert_array_equal(diff, np.array([[0.5, -3.0], [np.nan, 0.0]]))
    assert largest == 3.0
    diff, largest = difference(np.array([0], np.uint8), np.array([255], np.uint8))
    assert diff.tolist() == [-255] and largest == 255  # no uint8 wrap-around
    with pytest.raises(ValueError, match="shapes differ"):
        difference(a, b[:1])
    assert math.isnan(difference(np.array([np.nan]), np.array([1.0]))[1])
