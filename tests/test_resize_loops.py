"""The compiled resize loops: pieces, threads, the plain and careful arithmetic and Stop.

The bits themselves are TensorFlow's (the fixtures in test_ops.py, and
``tools/diff_resize.py`` against an installed TF); these tests pin what the fixtures
cannot see: how the work is cut and which arithmetic a row takes must not change a bit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_patches import assert_same_bits

from blocks.errors import CancelledError
from blocks.kernels import crop_and_resize, pieces, resize, resize_filters, resize_loops
from blocks.kernels.compiled import compiled_loops
from blocks.kernels.float32_math import to_float32
from blocks.kernels.resize import resize_bilinear, resize_nearest_neighbor
from blocks.kernels.resize_filters import resize_area, resize_bicubic

ROOT = Path(__file__).resolve().parents[1]
Kernel = Callable[[np.ndarray, threading.Event | None], np.ndarray]

KERNELS: dict[str, Kernel] = {
    "bilinear": lambda images, cancel: resize_bilinear(
        images, (23, 31), cancel, half_pixel_centers=True),
    "bilinear-down": lambda images, cancel: resize_bilinear(images, (7, 8), cancel),
    # Whole-pixel samples (every lerp 0: the point rows), every second pixel, and every
    # second row of every pixel.
    "bilinear-point": lambda images, cancel: resize_bilinear(
        images, (8, 9), cancel, align_corners=True),
    "bilinear-point-rows": lambda images, cancel: resize_bilinear(
        images, (8, 17), cancel, align_corners=True),
    "bicubic": lambda images, cancel: resize_bicubic(
        images, (23, 31), cancel, align_corners=True),
    "bicubic-down": lambda images, cancel: resize_bicubic(
        images, (6, 9), cancel, half_pixel_centers=True),
    "area": lambda images, cancel: resize_area(images, (5, 7), cancel=cancel),
    # Even cells of 4 and of 2 pixels (16 columns; 3 channels take the even sums).
    "area-even-4": lambda images, cancel: resize_area(images[:, :, :16], (7, 4), cancel=cancel),
    "area-even-2": lambda images, cancel: resize_area(images[:, :, :16], (5, 8), cancel=cancel),
    "area-up": lambda images, cancel: resize_area(
        images, (29, 33), align_corners=True, cancel=cancel),
    "nearest": lambda images, cancel: resize_nearest_neighbor(
        images, (31, 12), cancel, half_pixel_centers=True),
    "nearest-up": lambda images, cancel: resize_nearest_neighbor(
        images, (45, 34), cancel, align_corners=True),
}
#: CropAndResize's bilinear samples share the loops' plain/careful rows (no pieces, no Stop).
CROP_BOXES = np.array([[0.1, 0.0, 0.9, 1.0], [0.2, 0.3, 0.5, 0.8], [0.0, 0.0, 1.0, 1.0]],
                      np.float32)


def crop(images: np.ndarray) -> np.ndarray:
    return crop_and_resize.crop_and_resize(
        images, CROP_BOXES, np.array([0, 1, 1], np.int32), np.array([13, 9], np.int32))


def mixed_images(channels: int = 3) -> np.ndarray:
    """Three images of tame floats; the middle one has NaNs (signalling too), infinities,
    denormals, -0 and huge values in a few rows only, so some rows take the careful
    arithmetic and the others the plain one."""
    rng = np.random.default_rng(5)
    images = (rng.standard_normal((3, 15, 17, channels)) * 40).astype(np.float32)
    special = np.array([0x7FC00001, 0xFF800000, 0x7F800001, 0x00000003, 0x80000000,
                        0x7F7FFFFF, 0xFFC00123], np.uint32).view(np.float32)
    for row in (4, 5, 11):
        picked = rng.choice(17, 6, replace=False)
        images[1, row, picked, rng.integers(channels)] = rng.choice(special, 6)
    return images


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_pieces_and_threads_do_not_change_bits(
    name: str, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = mixed_images(channels)
    kernel = KERNELS[name]
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "1")
    monkeypatch.setattr(resize, "_PIECE", 1 << 30)
    whole = kernel(images, None)  # one piece, one thread
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "4")
    monkeypatch.setattr(resize, "_PIECE", 8)  # a row a piece
    monkeypatch.setattr(resize, "_SHARED_MIN", 0)
    assert_same_bits(kernel(images, None), whole)


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_numba_threads_give_the_same_bits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bilinear and area share their row pieces on numba's threads (taken one at a time,
    # in rounds): every cut gives the bits of one piece on one thread, careful rows too.
    if not pieces.shared_loops_usable():
        pytest.skip("numba has no thread-safe threading layer on this machine")
    images = mixed_images(5)
    kernel = KERNELS[name]
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "1")
    monkeypatch.setattr(resize, "_PIECE", 1 << 30)
    whole = kernel(images, None)
    shared = compiled_loops("shared_loops")
    entries: list[int] = []

    def counted(loop: Any, bounds: np.ndarray, threads: int, args: tuple[Any, ...],
                **options: Any) -> int:
        entries.append(len(bounds) - 1)
        return int(run(loop, bounds, threads, args, **options))

    run = shared.run
    monkeypatch.setattr(shared, "run", counted)
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "2")
    monkeypatch.setattr(pieces, "LOOP_SHARED_MIN", 0)
    for piece in (8, 100, 1 << 30):  # a row a piece (several rounds), a few rows, one piece
        monkeypatch.setattr(resize, "_LOOP_PIECE", piece)
        entries.clear()
        assert_same_bits(kernel(images, None), whole)
        if name.startswith(("bilinear", "area", "nearest")):
            assert entries and sum(entries) >= 2  # the plain pass went through numba's threads
        else:
            assert not entries  # bicubic keeps a scratch per piece: the pool's threads


@pytest.mark.parametrize(
    ("dtype", "channels"),
    [("uint8", 3), ("uint8", 4), ("int16", 5), ("float16", 2), ("bfloat16", 3),
     ("float32", 16), ("int64", 1), ("float64", 3)],
)
def test_nearest_copies_every_pixel_as_bits_in_any_unit(dtype: str, channels: int) -> None:
    # The loop copies a pixel in the widest unsigned unit that divides its bytes (1, 2,
    # 4 or 8): every width against numpy's takes, NaN payloads and -0 included.
    import ml_dtypes  # noqa: F401  (registers bfloat16 with numpy)

    rng = np.random.default_rng(3)
    bits = rng.integers(0, 256, (3, 9, 11, channels * np.dtype(dtype).itemsize), np.uint8)
    images = bits.view(dtype).reshape(3, 9, 11, channels)
    for size, align, half in (((13, 4), False, True), ((9, 11), True, False),
                              ((20, 23), False, False)):
        ours = resize_nearest_neighbor(images, size, align_corners=align,
                                       half_pixel_centers=half)
        rows = resize.nearest_indices(9, size[0], align, half)
        cols = resize.nearest_indices(11, size[1], align, half)
        expected = np.take(np.take(images, rows, axis=1), cols, axis=2)
        assert ours.dtype == images.dtype
        assert ours.tobytes() == expected.tobytes()


def test_crop_boxes_on_numba_threads_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    # CropAndResize's bilinear boxes in pieces on numba's threads (each piece judges the
    # rows it reads again): the bits of one call on one thread, careful rows included.
    if not pieces.shared_loops_usable():
        pytest.skip("numba has no thread-safe threading layer on this machine")
    images = mixed_images(5)
    rng = np.random.default_rng(8)
    starts = rng.uniform(-0.2, 0.7, (40, 2))
    boxes = np.concatenate([starts, starts + rng.uniform(0.1, 0.6, (40, 2))], axis=1)
    boxes = boxes[:, [0, 1, 2, 3]].astype(np.float32)
    which = rng.integers(0, 3, 40).astype(np.int32)

    def crops() -> np.ndarray:
        return crop_and_resize.crop_and_resize(images, boxes, which, np.array([7, 9], np.int32))

    monkeypatch.setenv("TENSORBLOCKS_THREADS", "1")
    whole = crops()
    shared = compiled_loops("shared_loops")
    run = shared.run
    entries: list[int] = []

    def counted(loop: Any, bounds: np.ndarray, threads: int, args: tuple[Any, ...],
                **options: Any) -> int:
        entries.append(len(bounds) - 1)
        return int(run(loop, bounds, threads, args, **options))

    monkeypatch.setattr(shared, "run", counted)
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "2")
    monkeypatch.setattr(pieces, "LOOP_SHARED_MIN", 0)
    assert_same_bits(crops(), whole)
    assert entries == [8]  # four pieces of boxes per thread, in one round
    assert np.isnan(whole).any()


def test_numba_threads_stop_between_rounds(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stop set while a round runs on numba's threads: that round finishes, no other
    # starts, and the resize raises CancelledError.
    if not pieces.shared_loops_usable():
        pytest.skip("numba has no thread-safe threading layer on this machine")
    monkeypatch.setenv("TENSORBLOCKS_THREADS", "2")
    monkeypatch.setattr(pieces, "LOOP_SHARED_MIN", 0)
    monkeypatch.setattr(resize, "_LOOP_PIECE", 8)  # a row a piece: many rounds
    shared = compiled_loops("shared_loops")
    run = shared.run
    cancel = threading.Event()
    rounds: list[int] = []

    def cancelled_during(loop: Any, bounds: np.ndarray, threads: int,
                         args: tuple[Any, ...], **options: Any) -> int:
        rounds.append(len(bounds) - 1)
        done = int(run(loop, bounds, threads, args, **options))
        cancel.set()
        return done

    monkeypatch.setattr(shared, "run", cancelled_during)
    with pytest.raises(CancelledError):
        resize_bilinear(mixed_images(), (23, 31), cancel)
    assert rounds == [4 * 2]  # one round of four pieces per thread, then Stop


def test_numba_threads_are_not_entered_in_a_forked_child() -> None:
    # GNU OpenMP hangs in a child forked after the parent used it: the child's kernels
    # share their pieces with the pool instead, and still compute.
    images = mixed_images()
    expected = resize_bilinear(images, (23, 31), None)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        status = 1
        try:
            same = np.array_equal(resize_bilinear(images, (23, 31), None), expected,
                                  equal_nan=True)
            status = 0 if same and not pieces.shared_loops_usable() else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_without_a_thread_safe_numba_layer_the_pool_shares_the_pieces() -> None:
    # numba's workqueue layer aborts when two threads enter it: asked for it, the kernels
    # never do, and still give the same bits.
    script = (
        "import numpy as np, os\n"
        "from blocks.kernels import resize, pieces\n"
        "pieces.LOOP_SHARED_MIN = 0; resize._SHARED_MIN = 0\n"
        "x = np.random.default_rng(1).standard_normal((4, 32, 32, 5)).astype(np.float32)\n"
        "out = resize.resize_bilinear(x, (40, 50))\n"
        "print(pieces.shared_loops_usable(), out.shape, float(out.sum()))\n"
    )
    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "TENSORBLOCKS_THREADS": "2"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    images = np.random.default_rng(1).standard_normal((4, 32, 32, 5)).astype(np.float32)
    total = float(resize_bilinear(images, (40, 50)).sum())
    assert result.stdout.split() == ["False", "(4,", "40,", "50,", "5)", repr(total)]


@pytest.mark.parametrize("name", [*sorted(KERNELS), "crop"])
def test_plain_rows_give_the_careful_bits(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A limit of 0 judges every row careful (denormals flushed and the NaN order spelled
    # out everywhere); the plain arithmetic on the tame rows must give the same bits.
    images = mixed_images()
    kernel = KERNELS.get(name, lambda images, cancel: crop(images))
    mixed = kernel(images, None)
    assert np.isnan(mixed).any() and not np.isnan(mixed[0]).any()  # both kinds of rows ran

    def never_tame(growth: float, dtype: np.dtype[Any]) -> np.float32:
        return np.float32(0)

    monkeypatch.setattr(resize, "tame_limit", never_tame)
    monkeypatch.setattr(resize_filters, "tame_limit", never_tame)
    monkeypatch.setattr(crop_and_resize, "tame_limit", never_tame)
    assert_same_bits(mixed, kernel(images, None))


def test_rows_near_the_thresholds_are_judged_careful() -> None:
    # 2^-31 is below the plain path's smallest magnitude: products of it underflow
    # nowhere here, but the row must still be judged careful, and the result stay exact.
    from blocks.kernels import resize_loops

    limit = resize.tame_limit(4.0, np.dtype(np.float32))
    row = np.array([1.0, 2.0**-31, 0.0], np.float32)
    assert not resize_loops._is_tame(row, limit)
    assert resize_loops._is_tame(np.array([1.0, 2.0**-30, -0.0, 3.0], np.float32), limit)
    assert not resize_loops._is_tame(np.array([1.0, float(limit)], np.float32), limit)
    assert not resize_loops._is_tame(np.array([np.nan], np.float32), limit)
    assert resize.tame_limit(4.0, np.dtype(np.uint8)) == np.inf  # uint8 rows: not looked at
    assert resize.tame_limit(4.0, np.dtype(np.int16)) < np.inf


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_resize_stops_between_pieces(name: str) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(CancelledError):
        KERNELS[name](mixed_images(), cancel)


def test_even_cells_are_found_only_where_they_hold() -> None:
    def cells(in_w: int, out_w: int, channels: int = 3, align: bool = False) -> int:
        scale = resize.resize_scale(in_w, out_w, align)
        first, count, _, _ = resize_loops.area_axis(in_w, out_w, scale)
        return int(resize_loops.even_cells(first, count, in_w, channels))

    assert cells(224, 56) == 4 and cells(16, 8) == 2 and cells(224, 112) == 2
    assert cells(224, 56, channels=1) == 0  # 3 channels only
    assert cells(225, 56) == 0 and cells(24, 8) == 0  # uneven cells, cells of 3
    assert cells(13, 4, align=True) == 0  # cells of 4 from 4x, the last past the image
    assert cells(4, 1, align=True) == 4


def test_signalling_nans_come_out_quiet() -> None:
    # x86 quiets a signalling NaN in any arithmetic; LLVM folds `nan + 0` to the operand,
    # so the loops must not rely on it.
    images = np.full((1, 2, 2, 1), np.uint32(0x7F800001)).view(np.float32)
    for out in (resize_bilinear(images, (3, 3)), resize_bicubic(images, (3, 3)),
                resize_area(images, (1, 1))):
        assert set(out.view(np.uint32).reshape(-1).tolist()) == {0x7FC00001}


def numpy_bilinear_axis(
    in_size: int, out_size: int, align_corners: bool, half_pixel_centers: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bilinear tables as numpy made them before they were compiled."""
    coord = resize.source_coordinates(in_size, out_size, align_corners, half_pixel_centers)
    floor = np.floor(coord)
    upper = np.minimum(np.ceil(coord).astype(np.int64), in_size - 1)
    lower = np.minimum(np.maximum(floor.astype(np.int64), 0), upper)
    return lower, upper, (coord - floor).astype(np.float32)


def numpy_area_weight(index: np.ndarray, low: np.ndarray, high: np.ndarray,
                      scale: np.float32) -> np.ndarray:
    here, after = index.astype(np.float32), (index + 1).astype(np.float32)
    return np.where(here < low, np.where(after > high, scale, after - low),
                    np.where(after > high, high - here, np.float32(1))).astype(np.float32)


TABLE_SIZES = [1, 2, 3, 5, 7, 13, 56, 100, 150, 224, 299, 4097, 100003]


@pytest.mark.parametrize("in_size", TABLE_SIZES)
def test_compiled_tables_match_numpys(in_size: int) -> None:
    for out_size in TABLE_SIZES:
        for align, half in ((False, False), (False, True), (True, False)):
            scale = resize.resize_scale(in_size, out_size, align)
            ours = resize_loops.bilinear_axis(in_size, out_size, scale, half)
            for mine, theirs in zip(ours, numpy_bilinear_axis(in_size, out_size, align, half),
                                    strict=True):
                assert mine.dtype == theirs.dtype and mine.tobytes() == theirs.tobytes()
            index = np.arange(out_size)
            low = index.astype(np.float32) * scale
            high = (index + 1).astype(np.float32) * scale
            start = np.floor(low).astype(np.int64)
            count = np.ceil(high).astype(np.int64) - start
            steps = np.arange(max(1, int(count.max())))
            first, counted, weights, last = resize_loops.area_axis(in_size, out_size, scale)
            assert first.tolist() == start.tolist() and counted.tolist() == count.tolist()
            expected = numpy_area_weight(start[:, None] + steps, low[:, None], high[:, None],
                                         scale)
            assert weights.tobytes() == expected.tobytes()
            assert last.tobytes() == numpy_area_weight(start + count - 1, low, high,
                                                       scale).tobytes()


# Doubles and exact products around the smallest normal float, as x86's flush-to-zero
# (on in TF's threads) judges them: after rounding to 24 bits with an unbounded exponent.
SMALLEST = 2.0**-126
NEAR_SMALLEST = np.array([SMALLEST, SMALLEST - 2.0**-151, SMALLEST - 1.5 * 2.0**-151,
                          SMALLEST - 2.0**-150, -(SMALLEST - 2.0**-152), 2.0**-140])
#: tf.raw_ops.Cast / ResizeArea / ResizeBilinear / CropAndResize of NEAR_SMALLEST (TF 2.21):
#: the third rounds (IEEE) to the smallest normal float, but x86 flushes it.
TF_NEAR_SMALLEST = [0x00800000, 0x00800000, 0, 0, 0x80800000, 0]


def test_doubles_just_below_the_smallest_float_convert_as_tensorflow() -> None:
    image = NEAR_SMALLEST.reshape(1, 1, 6, 1)
    boxes = np.array([[0, 0, 1, 1]], np.float32)
    for out in (
        to_float32(NEAR_SMALLEST),
        resize_area(image, [1, 6]),
        resize_bilinear(image, [1, 6]),
        crop_and_resize.crop_and_resize(image, boxes, np.array([0]), [1, 6]),
    ):
        assert np.asarray(out, np.float32).view(np.uint32).ravel().tolist() == TF_NEAR_SMALLEST


def test_a_product_just_below_the_smallest_float_is_flushed_carefully() -> None:
    # 2^-125 * (0.5 - 2^-25) is exactly 2^-126 - 2^-150: IEEE rounds it up to 2^-126 (a tie
    # to even), but with 24 bits and no exponent limit it is itself, below 2^-126: tiny.
    value, weight = np.float32(2.0**-125), np.float32(0.5 - 2.0**-25)
    assert np.float32(value * weight) == np.float32(SMALLEST)
    assert resize_loops._mul(value, weight, True) == 0
    assert resize_loops._mul(value, weight, False) == np.float32(SMALLEST)
    assert resize_loops._mul(-value, np.float32(0.5), True) == -np.float32(2.0**-126)


def test_remembered_calls_still_refuse_what_differs_only_in_size() -> None:
    """checked_resize remembers calls that passed; a call that differs only in the size's
    dtype, element types or values is checked afresh (and the memory limit too)."""
    images = np.zeros((1, 4, 4, 1), np.float32)
    assert resize_bilinear(images, [2, 2]).shape == (1, 2, 2, 1)
    assert resize_bilinear(images, np.array([2, 2], np.int32)).shape == (1, 2, 2, 1)
    # [True, 2] passes too (a bool is an int), but with its own shape, not [2, 2]'s.
    assert resize_bilinear(images, [True, 2]).shape == (1, 1, 2, 1)
    for refused in ((2.0, 2), np.array([2, 2], np.float32), [2, -2]):
        with pytest.raises(Exception, match="size"):
            resize_bilinear(images, refused)
    with pytest.raises(Exception, match="size"):
        resize_bilinear(images, [2, 2], memory_limit=8)
    assert resize_bilinear(images, [2, 2]).shape == (1, 2, 2, 1)


def test_tables_are_made_once_per_geometry() -> None:
    """The per-geometry tables are kept (and the kept ones give the same bits)."""
    images = np.random.default_rng(5).random((2, 9, 11, 16)).astype(np.float32)
    resize.bilinear_tables.cache_clear()
    first = resize_bilinear(images, (17, 5), half_pixel_centers=True)
    again = resize_bilinear(images, (17, 5), half_pixel_centers=True)
    assert resize.bilinear_tables.cache_info().hits == 1
    assert_same_bits(first, again)


def test_compiled_closures_are_found_in_numbas_cache_by_a_new_process(tmp_path: Path) -> None:
    # The factories' loops call other compiled functions from their closures (and the
    # numba-threads driver calls the loop it shares): a second process must load them
    # from numba's cache, not compile them again and write one more cache file.
    script = (
        "import numpy as np\n"
        "from blocks.kernels import pieces, resize\n"
        "from blocks.kernels.resize_filters import resize_area, resize_bicubic\n"
        "pieces.LOOP_SHARED_MIN = 0\n"
        "x = np.random.default_rng(1).standard_normal((2, 16, 16, 3)).astype(np.float32)\n"
        "x[0, 3, 4, 1] = np.nan\n"  # a careful row too
        "resize.resize_bilinear(x, (20, 24)); resize_bicubic(x, (9, 7)); resize_area(x, (5, 6))\n"
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path), "NUMBA_DEBUG_CACHE": "1",
           "TENSORBLOCKS_THREADS": "2"}

    def saved() -> list[str]:
        result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                                text=True, env=env, cwd=ROOT, timeout=600, check=False)
        assert result.returncode == 0, result.stderr[-2000:]
        return [line for line in result.stdout.splitlines() if "data saved" in line]

    first = saved()
    assert any("_bilinear_rows_kind.locals.rows" in line for line in first)
    assert saved() == []
