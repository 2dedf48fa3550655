"""ResizeBicubic's careful rows and TensorFlow's column cache.

TF's 3-channel bicubic code orders a column sum's additions by the cache slot the sum
was computed in, so the loops' careful rows read each slot where TF's cache took it
from (``resize_loops._careful_plan``). The bits themselves are TF's (the
``bc_*_nan_order_c3_*`` fixtures in test_ops.py, and ``tools/diff_resize.py``); these
tests pin the plan against a line-by-line transcription of TF's cache, and the order
tables' shape.
"""

from __future__ import annotations

import numpy as np
import pytest

from blocks.kernels import resize_filters, resize_loops
from blocks.kernels.op_checks import BFLOAT16


def tf_cache_origins(taps: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per output column, per slot: (slot, input column) where TF computed the value
    the slot holds. CachedInterpolationCalculator::Advance, then the value moves of
    interpolate_with_caching's switch (by 4 - advance), as in resize_bicubic_op.cc."""
    indexes = [-1, -1, -1, -1]
    values: list[tuple[int, int]] = [(-1, -1)] * 4
    origins = []
    for x in range(taps.shape[1]):
        new = [int(v) for v in taps[:, x]]
        cached_hand = new_hand = 0
        while cached_hand < 4:
            if indexes[cached_hand] == new[new_hand]:
                if new_hand < cached_hand:
                    indexes[new_hand] = indexes[cached_hand]
                new_hand += 1
            cached_hand += 1
        for slot in range(new_hand, 4):
            indexes[slot] = new[slot]
        advance = new_hand
        if 0 < advance < 4:
            values[:advance] = values[4 - advance:]
        for slot in range(advance, 4):
            values[slot] = (slot, new[slot])
        origins.append(list(values))
    return origins


SIZES = [(1, 1), (1, 5), (2, 7), (4, 9), (5, 3), (7, 11), (9, 4), (12, 3), (14, 5), (30, 7),
         (6, 6), (13, 29)]


@pytest.mark.parametrize(("in_size", "out_size"), SIZES)
@pytest.mark.parametrize(("align", "half"), [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("channels", [3, 2])
def test_careful_plan_follows_tfs_cache(
    in_size: int, out_size: int, align: bool, half: bool, channels: int
) -> None:
    taps, _ = resize_filters._cubic_taps(in_size, out_size, align, half)
    taps = taps.astype(np.uint64)
    slot_variant = np.array([0, 1, 0, 2], np.uint64)  # as float32's table
    row_floats = in_size * channels
    plan = np.empty((4, out_size + 1), np.uint64)
    spans = np.empty((3, 2), np.int64)
    resize_loops._careful_plan(taps, channels, row_floats, slot_variant, plan, spans)
    low = [row_floats] * 3
    high = [0] * 3
    for x, slots in enumerate(tf_cache_origins(taps)):
        for slot, (computed_in, column) in enumerate(slots):
            variant = int(slot_variant[computed_in])
            assert plan[slot, x] == variant * row_floats + column * channels
            low[variant] = min(low[variant], column * channels)
            high[variant] = max(high[variant], (column + 1) * channels)
    assert spans.tolist() == [[lo, hi] for lo, hi in zip(low, high, strict=True)]


def test_cache_moves_values_as_tf_does_not_as_it_matches() -> None:
    # Columns 0,0,1,2 then 0,1,2,3: the calculator matches slot 0 and slots 2-3 to the
    # new slots 0-2, but TF moves the values by one slot, so new slot 0 holds the value
    # of old slot 1 (column 0, computed in slot 1).
    taps = np.array([[0, 0], [0, 1], [1, 2], [2, 3]], np.uint64)
    plan = np.empty((4, 3), np.uint64)
    spans = np.empty((3, 2), np.int64)
    resize_loops._careful_plan(taps, 3, 12, np.array([0, 1, 0, 2], np.uint64), plan, spans)
    assert plan[:, 1].tolist() == [1 * 12 + 0, 0 * 12 + 3, 2 * 12 + 6, 2 * 12 + 9]


def test_order_tables() -> None:
    for dtype in (np.float32, np.float64, np.float16, BFLOAT16, np.uint8):
        if dtype is None:  # bfloat16 is optional
            continue
        lanes, slot_variant = resize_filters._column_sum_orders(np.dtype(dtype), 5, 3)
        assert lanes.shape[1] == 15 and not lanes[0].any()  # variant 0: the common order
        name = np.dtype(dtype).name
        table = np.array(resize_filters._THREE_CHANNEL_ORDERS.get(name, np.zeros((3, 4))))
        for slot in range(4):  # each slot's variant has its channels' bits, per pixel
            assert lanes[int(slot_variant[slot])].tolist() == table[:, slot].tolist() * 5
    lanes, slot_variant = resize_filters._column_sum_orders(np.dtype(np.float32), 4, 5)
    assert lanes.shape == (1, 20) and not lanes.any() and not slot_variant.any()
