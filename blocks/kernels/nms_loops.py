"""NonMaxSuppressionV3's compiled selection, for float32 boxes whose overlaps cannot be
NaN or touch a denormal.

Contract: ``plain_boxes(boxes)`` says whether every coordinate of ``boxes`` (``[N, 4]``
float32) is zero or of a magnitude in ``[2^-30, 10^18)``. For such boxes,
``select_plain(boxes, scores, score_threshold, iou_threshold, limit)`` returns the int32
indices TensorFlow 2.21 selects (as :mod:`blocks.kernels.nms` documents the algorithm):

* candidates are the boxes with ``score > score_threshold`` (NaN never is), taken best
  score first, ties by lower index, from a binary heap (like TF's priority queue, only
  the boxes taken are ordered);
* a candidate is dropped when its IOU with a box already selected is above
  ``iou_threshold``, else selected, until ``limit`` boxes are.

Why that suffices: with such coordinates every corner, difference, area, union and IOU
is finite and normal or zero, so no overlap is NaN, every soft-NMS weight is 1 and no
box ever goes back into TF's queue; IOU(a, b) and IOU(b, a) are the same float, so the
order in which selected boxes are compared cannot matter.

TF's IOU in float32, each step rounding once (no fast-math): corners by ``std::min``/
``std::max`` of each box's two ys and two xs, ``area = (ymax - ymin)*(xmax - xmin)``,
0 when either area is ``<= 0``, else ``inter / ((area_i + area_j) - inter)`` with
``inter = max(min(ymax) - max(ymin), 0) * max(min(xmax) - max(xmin), 0)``. Only whether
an IOU is above the threshold is used, so the sign of a zero cannot show.
"""

from __future__ import annotations

import numpy as np

from blocks.kernels.numba_cache import compiled

_F32 = np.float32
_ZERO = _F32(0)
#: Non-zero coordinates must be at least this large and below _LIMIT (see the docstring).
_SMALL = _F32(2.0**-30)
_LIMIT = _F32(1e18)

_jit = compiled(nogil=True)


@_jit
def plain_boxes(boxes: np.ndarray) -> bool:
    """Whether every coordinate is zero or of a magnitude in ``[2^-30, 10^18)``."""
    plain = True
    flat = boxes.reshape(-1)
    for k in range(flat.shape[0]):
        magnitude = abs(flat[k])
        plain &= (magnitude < _LIMIT) & ((magnitude >= _SMALL) | (magnitude == _ZERO))
    return plain


@_jit
def _before(scores: np.ndarray, a: int, b: int) -> bool:
    """Whether box ``a`` is taken before box ``b``: higher score, then lower index."""
    return scores[a] > scores[b] or (scores[a] == scores[b] and a < b)


@_jit
def _sift_down(heap: np.ndarray, size: int, at: int, scores: np.ndarray) -> None:
    """Restore the heap below position ``at`` (the best box at the root)."""
    while True:
        child = 2 * at + 1
        if child >= size:
            return
        if child + 1 < size and _before(scores, heap[child + 1], heap[child]):
            child += 1
        if not _before(scores, heap[child], heap[at]):
            return
        heap[at], heap[child] = heap[child], heap[at]
        at = child


@_jit
def _overlap(
    corners: np.ndarray, area: np.ndarray, i: int, j: int,
) -> np.float32:
    """TF's IOU of boxes ``i`` and ``j`` (corners ``[N, 4]``: ymin, xmin, ymax, xmax)."""
    if area[i] <= _ZERO or area[j] <= _ZERO:
        return _ZERO
    top = max(corners[i, 0], corners[j, 0])
    left = max(corners[i, 1], corners[j, 1])
    bottom = min(corners[i, 2], corners[j, 2])
    right = min(corners[i, 3], corners[j, 3])
    inter = _F32(max(_F32(bottom - top), _ZERO) * max(_F32(right - left), _ZERO))
    return _F32(inter / _F32(_F32(area[i] + area[j]) - inter))


@_jit
def select_plain(
    boxes: np.ndarray, scores: np.ndarray, score_threshold: np.float32,
    iou_threshold: np.float32, limit: int,
) -> np.ndarray:
    """The selected box indices, best first (see the module docstring)."""
    count = boxes.shape[0]
    corners = np.empty((count, 4), _F32)
    area = np.empty(count, _F32)
    heap = np.empty(count, np.int64)
    size = 0
    for i in range(count):
        y0, x0, y1, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        corners[i, 0] = y1 if y1 < y0 else y0  # std::min(a, b): b < a ? b : a
        corners[i, 1] = x1 if x1 < x0 else x0
        corners[i, 2] = y1 if y0 < y1 else y0  # std::max(a, b): a < b ? b : a
        corners[i, 3] = x1 if x0 < x1 else x0
        area[i] = _F32(_F32(corners[i, 2] - corners[i, 0]) * _F32(corners[i, 3] - corners[i, 1]))
        if scores[i] > score_threshold:
            heap[size] = i
            size += 1
    for at in range(size // 2 - 1, -1, -1):
        _sift_down(heap, size, at, scores)
    selected = np.empty(max(min(limit, size), 0), np.int32)
    taken = 0
    while taken < limit and size > 0:
        candidate = heap[0]
        size -= 1
        heap[0] = heap[size]
        _sift_down(heap, size, 0, scores)
        kept = True
        for k in range(taken - 1, -1, -1):  # newest first, as TF compares
            if _overlap(corners, area, candidate, selected[k]) > iou_threshold:
                kept = False
                break
        if kept:
            selected[taken] = candidate
            taken += 1
    return selected[:taken]
