"""NonMaxSuppressionV3, as TensorFlow 2.21 selects boxes.

Contract: ``non_max_suppression_v3(boxes, scores, max_output_size, iou_threshold,
score_threshold)`` returns the int32 indices of the selected boxes, best score first;
``nms_plan(...)`` checks the arguments without running, in TensorFlow's order (the
output length depends on the data, so inference knows only ``[?]`` int32).

TF's algorithm (``non_max_suppression_op.cc``, hard suppression): candidates are the
boxes whose score is above ``score_threshold`` (NaN scores never are), taken by score,
ties by lower index. A candidate is compared, newest first, with the boxes already
selected; its score is multiplied by a weight that is 1, or 0 where the overlap is NaN
(TF's soft-NMS machinery with sigma 0); an overlap above ``iou_threshold`` suppresses it.
A candidate whose score did not change is selected; one whose score changed but stayed
above the threshold goes back into the queue. The overlap is TF's IOU in float32 with
``std::min``/``std::max`` semantics and denormals as zero; for half boxes the overlap
and scores are compared as half.

Speed: float32 boxes whose coordinates are all zero or of a magnitude in
``[2^-30, 10^18)`` (no overlap can then be NaN or denormal) are selected by one compiled
loop (:mod:`blocks.kernels.nms_loops`, imported on first use); half boxes and boxes with
other coordinates take the numpy code below, which spells out the flushing and NaN rules.
"""

from __future__ import annotations

import heapq
from types import ModuleType
from typing import Any

import numpy as np

from blocks.kernels.compiled import compiled_loops
from blocks.kernels.float32_math import flush_denormals
from blocks.kernels.op_checks import (
    PartialShape,
    check_dim,
    check_dtype,
    check_rank,
    dtypes,
    port_error,
)

NMS_DTYPES = dtypes("float16", "float32")
_F32 = np.float32


def nms_plan(
    boxes_shape: PartialShape,
    boxes_dtype: np.dtype[Any] | None,
    scores_shape: PartialShape,
    max_output_size: Any,
    max_output_shape: PartialShape,
    iou_threshold: Any,
    iou_shape: PartialShape,
    score_shape: PartialShape,
) -> tuple[int | None, ...]:
    """TF's checks in its order; returns the output shape ``[?]``."""
    check_dtype("boxes", boxes_dtype, NMS_DTYPES, "half, float")
    check_rank("max_output_size", max_output_shape, 0, "max_output_size must be 0-D, got "
               "shape {shape} (Shape must be rank 0 but is rank {rank})")
    check_rank("iou_threshold", iou_shape, 0, "iou_threshold must be 0-D, got shape {shape} "
               "(Shape must be rank 0 but is rank {rank})")
    if iou_threshold is not None:
        value = _threshold(iou_threshold, boxes_dtype)
        if not (value >= 0 and value <= 1):
            raise port_error("iou_threshold", f"iou_threshold must be in [0, 1], got {value}")
    check_rank("score_threshold", score_shape, 0, "score_threshold must be 0-D, got shape {shape}")
    check_rank("boxes", boxes_shape, 2,
               "boxes must be 2-D{shape} (Shape must be rank 2 but is rank {rank})")
    check_dim("boxes", boxes_shape, 1, 4,
              "boxes must have 4 columns (Dimension must be 4 but is {dim})")
    if scores_shape is not None:
        check_rank("scores", scores_shape, 1,
                   "scores must be 1-D{shape} (Shape must be rank 1 but is rank {rank})")
        count = None if boxes_shape is None else boxes_shape[0]
        if None not in (count, scores_shape[0]) and count != scores_shape[0]:
            raise port_error("scores", "scores has incompatible shape (Dimensions must be "
                             f"equal, but are {count} and {scores_shape[0]})")
    if max_output_size is not None and int(np.asarray(max_output_size)) < 0:
        raise port_error("max_output_size", "output size must be non-negative, got "
                         f"{int(np.asarray(max_output_size))}")
    return (None,)


def _threshold(value: Any, dtype: np.dtype[Any] | None) -> Any:
    """A threshold as TF's GetScalar<T> reads it (float32, then T)."""
    single = _F32(np.asarray(value, dtype=np.float64))
    return np.float16(single) if dtype == np.float16 else single


def _f(x: Any) -> np.ndarray:
    return flush_denormals(np.asarray(x, _F32))


def _lo(a: Any, b: Any) -> Any:
    """std::min(a, b) = b < a ? b : a (compared with denormals as zero)."""
    return np.where(_f(b) < _f(a), b, a)


def _hi(a: Any, b: Any) -> Any:
    """std::max(a, b) = a < b ? b : a."""
    return np.where(_f(a) < _f(b), b, a)


#: Non-zero coordinates at least this large (and finite, below _FAST_LIMIT) keep every
#: difference, product and quotient of the IOU normal and NaN-free, so plain numpy
#: operations give TF's bits without flushing.
_PLAIN_MIN = 2.0**-30


class _Geometry:
    """Per box, what TF's IOU computes from that box alone: corners and area (float32)."""

    def __init__(self, boxes: np.ndarray) -> None:
        magnitude = np.abs(boxes)
        nonzero = magnitude[magnitude != 0]
        self.plain = bool(
            np.isfinite(boxes).all()
            and (magnitude < _FAST_LIMIT).all()
            and (nonzero.size == 0 or nonzero.min() >= _PLAIN_MIN)
        )
        self.ymin, self.xmin = _lo(boxes[:, 0], boxes[:, 2]), _lo(boxes[:, 1], boxes[:, 3])
        self.ymax, self.xmax = _hi(boxes[:, 0], boxes[:, 2]), _hi(boxes[:, 1], boxes[:, 3])
        with np.errstate(all="ignore"):
            self.area = _f(_f(_f(self.ymax) - _f(self.ymin)) * _f(_f(self.xmax) - _f(self.xmin)))

    def iou(self, i: Any, others: np.ndarray) -> np.ndarray:
        """TF's IOU of box ``i`` with each box in ``others`` (``i`` an index, or a column
        of indices for a matrix of overlaps)."""
        if self.plain:
            top = np.maximum(self.ymin[i], self.ymin[others])
            left = np.maximum(self.xmin[i], self.xmin[others])
            height = np.maximum(np.minimum(self.ymax[i], self.ymax[others]) - top, _F32(0))
            width = np.maximum(np.minimum(self.xmax[i], self.xmax[others]) - left, _F32(0))
            inter = height * width
            union = (self.area[i] + self.area[others]) - inter
            with np.errstate(all="ignore"):
                ratio = inter / union
            return np.where((self.area[i] <= 0) | (self.area[others] <= 0), _F32(0), ratio)
        with np.errstate(all="ignore"):
            top, left = _hi(self.ymin[i], self.ymin[others]), _hi(self.xmin[i], self.xmin[others])
            bottom = _lo(self.ymax[i], self.ymax[others])
            right = _lo(self.xmax[i], self.xmax[others])
            height = _hi(_f(_f(bottom) - _f(top)), _F32(0))
            width = _hi(_f(_f(right) - _f(left)), _F32(0))
            inter = _f(_f(height) * _f(width))
            union = _f(_f(self.area[i] + self.area[others]) - inter)
            ratio = _f(inter / union)
        empty = (self.area[i] <= 0) | (self.area[others] <= 0)
        return np.where(empty, _F32(0), ratio)


#: With every coordinate finite and below this, areas and unions stay finite and
#: positive, so no overlap is NaN, every weight is 1 and TF's queue never re-admits a box.
_FAST_LIMIT = 1e18


def _greedy(
    geometry: _Geometry, keep: np.ndarray, scores: np.ndarray, limit: int, iou_t: Any,
    t: Any,
) -> np.ndarray:
    """TF's selection when no overlap can be NaN: best first, ties by lower index; a box
    is taken unless a taken box overlaps it by more than the threshold. IOU(a, b) and
    IOU(b, a) decide alike, so candidates are judged a block at a time: one matrix of
    overlaps with the boxes taken so far, one among the block, then a walk down the
    block that only reads those matrices."""
    order = keep[np.lexsort((keep, -scores[keep].astype(np.float64)))]
    selected: list[int] = []
    block = max(32, min(256, limit))
    for start in range(0, len(order), block):
        if len(selected) >= limit:
            break
        candidates = order[start:start + block]
        alive = np.ones(len(candidates), bool)
        if selected:
            taken = np.array(selected, np.intp)[:, None]
            alive &= ~(geometry.iou(taken, candidates).astype(t) > iou_t).any(axis=0)
        among = geometry.iou(candidates[:, None], candidates).astype(t) > iou_t
        for j in np.flatnonzero(alive).tolist():
            if not alive[j]:
                continue
            selected.append(int(candidates[j]))
            if len(selected) >= limit:
                break
            alive[j + 1:] &= ~among[j, j + 1:]
    return np.array(selected, np.int32)


def _loops() -> ModuleType:
    return compiled_loops("nms_loops")


def non_max_suppression_v3(
    boxes: Any, scores: Any, max_output_size: Any, iou_threshold: Any = 0.5,
    score_threshold: Any = -np.inf,
) -> np.ndarray:
    """TensorFlow's NonMaxSuppressionV3: selected box indices, int32."""
    boxes, scores = np.asarray(boxes), np.asarray(scores)
    limit, iou, floor = (np.asarray(v) for v in (max_output_size, iou_threshold,
                                                 score_threshold))
    nms_plan(boxes.shape, boxes.dtype, scores.shape, limit if limit.ndim == 0 else None,
             limit.shape, iou if iou.ndim == 0 else None, iou.shape, floor.shape)
    if scores.dtype != boxes.dtype:
        raise port_error("scores", f"expected {boxes.dtype.name} scores like the boxes, got "
                         f"{scores.dtype.name}")
    half = boxes.dtype == np.float16
    t = np.float16 if half else _F32
    iou_t, floor_t = _threshold(iou, boxes.dtype), _threshold(floor, boxes.dtype)
    if not half:
        coords = np.ascontiguousarray(boxes)
        loops = _loops()
        if loops.plain_boxes(coords):
            return loops.select_plain(coords, np.ascontiguousarray(scores), floor_t, iou_t,
                                      int(limit))
    coords = boxes.astype(_F32)
    geometry = _Geometry(coords)
    with np.errstate(invalid="ignore"):
        keep = np.flatnonzero(scores > floor_t)
    bounded = bool(np.isfinite(coords).all() and (np.abs(coords) < _FAST_LIMIT).all())
    if bounded:
        return _greedy(geometry, keep, scores, int(limit), iou_t, t)
    queue: list[tuple[float, int, Any, int]] = []
    for box in keep.tolist():
        heapq.heappush(queue, (-float(scores[box]), box, t(scores[box]), 0))
    selected: list[int] = []
    wanted = int(limit)
    while len(selected) < wanted and queue:
        _, index, score, begin = heapq.heappop(queue)
        original = score
        hard = False
        if len(selected) > begin:
            earlier = np.array(selected[begin:][::-1], np.intp)  # newest first
            overlaps = geometry.iou(index, earlier).astype(t)
            if not np.isnan(overlaps).any():
                # Every weight is 1: the score stays; any overlap above the threshold
                # suppresses (the walk below would stop at the first such overlap).
                if not (overlaps > iou_t).any():
                    selected.append(index)
                continue
            for overlap in overlaps:
                with np.errstate(invalid="ignore"):
                    weight = t(1) if overlap <= iou_t else t(0)  # exp(0 * s * s) is 1
                    score = t(score * weight)
                if overlap > iou_t:
                    hard = True
                    break
                if score <= floor_t:
                    break
        begin = len(selected)
        if not hard:
            if score == original:
                selected.append(index)
            elif score > floor_t:
                heapq.heappush(queue, (-float(score), index, score, begin))
    return np.array(selected, np.int32)
