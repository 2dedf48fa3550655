"""The compiled loops of Cast (float32 -> bfloat16), NonMaxSuppressionV3 and ConcatV2
against plain numpy references of the same rules, on inputs the fixtures do not reach:
every kind of float bits, large arrays cut into pieces and threads, many boxes.

The bits themselves are TensorFlow's (the fixtures in test_ops.py); these tests pin that
the compiled paths give what the numpy rules give.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from blocks.errors import CancelledError, InvalidArgumentError
from blocks.kernels import array_loops, array_ops, nms, nms_loops
from blocks.kernels import cast as cast_module
from blocks.kernels.op_checks import BFLOAT16
from blocks.kernels.pieces import thread_limit

needs_bfloat16 = pytest.mark.skipif(BFLOAT16 is None, reason="ml_dtypes is missing")


def reference_bfloat16(values: np.ndarray, signless_nan: bool, truncate: bool) -> np.ndarray:
    """The numpy rule: ml_dtypes' round to nearest even (after zeroing the low 16 bits
    with ``truncate``), then NaN as 0x7fc0 with the float's sign unless ``signless_nan``."""
    bits = values.view(np.uint32)
    nan = np.isnan(values)
    if truncate:
        values = np.where(nan, values, (bits & np.uint32(0xFFFF0000)).view(np.float32))
    with np.errstate(invalid="ignore"):
        out = values.astype(BFLOAT16).view(np.uint16).copy()
    sign = np.zeros(int(nan.sum()), np.uint32)
    if not signless_nan:
        sign = (bits[nan] >> np.uint32(16)) & np.uint32(0x8000)
    out[nan] = (sign | np.uint32(0x7FC0)).astype(np.uint16)
    return out


def every_kind_of_float(count: int) -> np.ndarray:
    """Random bits (NaNs of both signs and payloads, denormals, infinities), the values
    next to each rounding tie and the largest floats."""
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, count, dtype=np.uint64).astype(np.uint32)
    ties = rng.integers(0, 2**16, 64, dtype=np.uint64).astype(np.uint32) << np.uint32(16)
    edges = np.concatenate([ties | np.uint32(0x8000), ties | np.uint32(0x7FFF),
                            ties | np.uint32(0x8001), ties | np.uint32(0x18000)])
    special = np.array([0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x7F800000,
                        0xFF800000, 0x7F800001, 0xFFC00000, 0x7FFFFFFF, 0xFFFFFFFF,
                        0x00000001, 0x807FFFFF, 0x00008000, 0, 0x80000000], np.uint32)
    return np.concatenate([bits, edges, special]).view(np.float32)


@needs_bfloat16
@pytest.mark.parametrize("threads", [1, 4])
@pytest.mark.parametrize("count", [0, 1, 300, (1 << 19) + 3])
def test_float32_to_bfloat16_matches_the_numpy_rule(count: int, threads: int) -> None:
    values = every_kind_of_float(1 << 19)[-count:] if count else np.zeros(0, np.float32)
    with thread_limit(threads):
        plain = cast_module.cast(values, BFLOAT16)
        truncated = cast_module.cast(values, BFLOAT16, truncate=True)
    assert plain.dtype == BFLOAT16 and plain.shape == values.shape
    assert np.array_equal(plain.view(np.uint16), reference_bfloat16(values, True, False))
    assert np.array_equal(truncated.view(np.uint16), reference_bfloat16(values, False, True))


@needs_bfloat16
def test_bfloat16_from_other_sources_keeps_the_nan_sign() -> None:
    # float64 and int sources go through float32 and the signed NaN rule.
    values = np.array([np.nan, -np.nan, 1.00390625, -3.0e38, 7.0], np.float64)
    values[1] = -abs(values[1])
    out: Any = cast_module.cast(values, BFLOAT16).view(np.uint16)
    assert out.tolist() == [0x7FC0, 0xFFC0, 0x3F80, 0xFF62, 0x40E0]


@pytest.mark.parametrize("threads", [1, 4])
def test_float32_to_int32_in_one_pass_truncates_and_refuses_what_is_out_of_range(
    threads: int,
) -> None:
    values = every_kind_of_float(1 << 19)
    in_range = values[(values >= -(2.0**31)) & (values < 2.0**31)]  # NaNs dropped
    edges = np.array([-(2.0**31), 2.0**31 - 128, -1.5, -0.5, -0.0, 0.5, 1.5], np.float32)
    plain = np.concatenate([in_range, edges])
    with thread_limit(threads):
        out = cast_module.cast(plain, np.int32)
    expected = np.trunc(plain.astype(np.float64)).astype(np.int64)
    assert out.dtype == np.int32 and np.array_equal(out.astype(np.int64), expected)
    for bad in (np.nan, np.inf, -np.inf, 2.0**31, -(2.0**31) - 256):
        spoilt = plain.copy()
        spoilt[len(spoilt) // 2] = bad
        with thread_limit(threads), pytest.raises(InvalidArgumentError, match="outside its range"):
            cast_module.cast(spoilt, np.int32)


def numpy_nms(boxes: np.ndarray, scores: np.ndarray, limit: int, iou: float,
              floor: float) -> np.ndarray:
    """The numpy selection the compiled one replaces for plain float32 boxes."""
    geometry = nms._Geometry(boxes)
    keep = np.flatnonzero(scores > np.float32(floor))
    return nms._greedy(geometry, keep, scores, limit, np.float32(iou), np.float32)


@pytest.mark.parametrize("seed", range(12))
def test_compiled_nms_selects_as_the_numpy_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    count = int(rng.integers(1, 600))
    corners = rng.random((count, 2)).astype(np.float32) * 4 - 2
    sizes = rng.random((count, 2)).astype(np.float32) * rng.choice([0.05, 0.5, 2.0])
    boxes = np.concatenate([corners, corners + sizes], axis=1).astype(np.float32)
    flipped = rng.random(count) < 0.3  # corners given either way round
    boxes[flipped] = boxes[flipped][:, [2, 3, 0, 1]]
    flat = rng.random(count) < 0.05  # no height: empty boxes
    boxes[flat, 2] = boxes[flat, 0]
    boxes[rng.random((count, 4)) < 0.02] = 0  # zero coordinates and empty boxes
    scores = rng.choice(np.linspace(-1, 1, 9, dtype=np.float32), count)  # many ties
    scores[rng.random(count) < 0.05] = np.nan
    limit = int(rng.integers(0, count + 3))
    iou = float(rng.choice([0.0, 0.3, 0.5, 0.7, 1.0]))
    floor = float(rng.choice([-np.inf, -0.5, 0.0]))
    assert nms_loops.plain_boxes(boxes)
    ours = nms.non_max_suppression_v3(boxes, scores, np.int32(limit), np.float32(iou),
                                      np.float32(floor))
    assert ours.dtype == np.int32
    assert ours.tolist() == numpy_nms(boxes, scores, limit, iou, floor).tolist()


def test_only_plain_boxes_take_the_compiled_selection() -> None:
    plain = np.array([[0, 0, 1, 1], [0.5, 0.5, 2, 2]], np.float32)
    assert nms_loops.plain_boxes(plain)
    for bad in (np.nan, np.inf, 1e18, 1e-10, 1e-40):
        boxes = plain.copy()
        boxes[1, 2] = bad
        assert not nms_loops.plain_boxes(boxes)


CONCAT_DTYPES = ["bool", "uint8", "int16", "float16", "float32", "int64", "float64",
                 "complex64", "complex128"]


def concat_parts(dtype: Any, shapes: list[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """Random bits of ``dtype`` (NaN payloads and signed zeros included for floats)."""
    rng = np.random.default_rng(seed)
    itemsize = np.dtype(dtype).itemsize
    parts = []
    for shape in shapes:
        raw = rng.integers(0, 256, int(np.prod(shape)) * itemsize, dtype=np.uint8)
        if np.dtype(dtype) == np.bool_:
            raw &= 1
        parts.append(raw.view(dtype).reshape(shape))
    return parts


@pytest.mark.parametrize("dtype", [*CONCAT_DTYPES, pytest.param("bfloat16", marks=needs_bfloat16)])
@pytest.mark.parametrize("axis", [1, 2, -1])
def test_compiled_concat_copies_every_dtype_as_bits(
    dtype: str, axis: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_concat_rows(monkeypatch)
    kind = BFLOAT16 if dtype == "bfloat16" else np.dtype(dtype)
    base = [96, 40, 30, 4]
    shapes = []
    for extra in (1, 0, 5):  # a part with nothing along the axis too
        shape = list(base)
        shape[axis] = extra
        shapes.append(tuple(shape))
    parts = concat_parts(kind, shapes, seed=axis + 7)
    ours = array_ops.concat_v2(parts, np.int32(axis))
    expected = np.concatenate(parts, axis=axis)
    assert ours.dtype == expected.dtype and ours.shape == expected.shape
    assert ours.tobytes() == expected.tobytes()
    assert ours.flags.c_contiguous
    assert calls  # the compiled copy made it


def spy_on_concat_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the compiled copy's calls (one per piece of rows)."""
    calls: list[int] = []
    original = array_loops.concat_rows

    def counted(*args: Any) -> None:
        calls.append(1)
        original(*args)

    monkeypatch.setattr(array_loops, "concat_rows", counted)
    return calls


@pytest.mark.parametrize("threads", [1, 4])
def test_compiled_concat_in_pieces_and_threads(
    threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = spy_on_concat_rows(monkeypatch)
    # 12 MiB of output: several pieces of rows; widths 3, 1 and 7 (a general width).
    parts = concat_parts(np.float32, [(64, 128, 128, 3), (64, 128, 128, 1),
                                      (64, 128, 128, 7)], seed=3)
    with thread_limit(threads):
        ours = array_ops.concat_v2(parts, np.int64(-1))
    assert ours.tobytes() == np.concatenate(parts, axis=-1).tobytes()
    assert len(calls) > 1


def test_concat_of_views_and_along_the_first_axis() -> None:
    big = concat_parts(np.float32, [(64, 64, 64, 6)], seed=4)[0]
    views = [big[..., :3], big[..., 3:]]  # not contiguous: numpy's concatenate
    assert array_ops.concat_v2(views, 3).tobytes() == big.tobytes()
    halves = [big[:32], big[32:]]
    assert array_ops.concat_v2(halves, 0).tobytes() == big.tobytes()


def test_compiled_concat_of_more_inputs_than_a_group(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_concat_rows(monkeypatch)
    count = 2 * array_loops.GROUP + 3
    parts = concat_parts(np.int16, [(300, 40, 1 + n % 4) for n in range(count)], seed=9)
    ours = array_ops.concat_v2(parts, np.int32(2))
    assert ours.tobytes() == np.concatenate(parts, axis=2).tobytes()
    assert len(calls) == 3  # one piece, three groups


def test_stop_lands_between_pieces_of_a_large_concat() -> None:
    parts = concat_parts(np.float32, [(64, 128, 128, 3), (64, 128, 128, 3)], seed=5)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        array_ops.concat_v2(parts, 3, cancel)
    assert array_ops.concat_v2(parts, 3, threading.Event()).shape == (64, 128, 128, 6)


@pytest.mark.parametrize("threads", [1, 2])
def test_counted_pieces_add_up_on_either_kind_of_thread(threads: int) -> None:
    # float_to_int32 returns each piece's count of values out of range; the ranges run on
    # numba's threads (a driver that sums them) or on the pool, and the total is exact.
    from blocks.kernels import pieces
    from blocks.kernels.compiled import compiled_loops

    values = np.arange(1 << 18, dtype=np.float32)
    bad = np.random.default_rng(4).choice(values.size, 37, replace=False)
    values[bad] = np.array([np.nan, np.inf, 3.0e9, -3.0e9], np.float32)[bad % 4]
    out = np.empty(values.shape, np.int32)
    loop = compiled_loops("cast_loops").float_to_int32
    shared = compiled_loops("shared_loops")
    entries: list[bool] = []
    run = shared.run

    def watched(*args: Any, **kwargs: Any) -> int:
        entries.append(kwargs.get("counting", False))
        return int(run(*args, **kwargs))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(shared, "run", watched)
        with thread_limit(threads):
            total = pieces.run_loop_ranges(loop, values.size, 13, (values, out), None,
                                           threads, counting=True)
    assert total == 37
    good = np.setdiff1d(np.arange(values.size), bad)
    assert np.array_equal(out[good], values[good].astype(np.int32))
    if threads == 2 and shared.usable():
        assert entries == [True, True]  # 13 pieces, in rounds of four per thread
    else:
        assert entries == []
