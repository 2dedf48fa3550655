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
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from blocks.kernels.float32_math import flush_denormals
from blocks.kernels.op_checks import check_dtype, dtypes, port_error, shape_text

NMS_DTYPES = dtypes("float16", "float32")
_F32 = np.float32


def _rank_text(shape: tuple[int | None, ...], rank: int) -> str:
    return f"{shape_text(shape)} (Shape must be rank {rank} but is rank {len(shape)})"


def nms_plan(
    boxes_shape: tuple[int | None, ...] | None,
    boxes_dtype: np.dtype[Any] | None,
    scores_shape: tuple[int | None, ...] | None,
    max_output_size: Any,
    max_output_shape: tuple[int | None, ...] | None,
    iou_threshold: Any,
    iou_shape: tuple[int | None, ...] | None,
    score_shape: tuple[int | None, ...] | None,
) -> tuple[int | None, ...]:
    """TF's checks in its order; returns the output shape ``[?]``."""
    check_dtype("boxes", boxes_dtype, NMS_DTYPES, "half, float")
    if max_output_shape is not None and len(max_output_shape) != 0:
        raise port_error("max_output_size", "max_output_size must be 0-D, got shape "
                         f"{_rank_text(max_output_shape, 0)}")
    if iou_shape is not None and len(iou_shape) != 0:
        raise port_error("iou_threshold", "iou_threshold must be 0-D, got shape "
                         f"{_rank_text(iou_shape, 0)}")
    if iou_threshold is not None:
        value = _threshold(iou_threshold, boxes_dtype)
        if not (value >= 0 and value <= 1):
            raise port_error("iou_threshold", f"iou_threshold must be in [0, 1], got {value}")
    if score_shape is not None and len(score_shape) != 0:
        raise port_error("score_threshold", "score_threshold must be 0-D, got shape "
                         f"{shape_text(score_shape)}")
    if boxes_shape is not None:
        if len(boxes_shape) != 2:
            raise port_error("boxes", f"boxes must be 2-D{_rank_text(boxes_shape, 2)}")
        if boxes_shape[1] is not None and boxes_shape[1] != 4:
            raise port_error("boxes", "boxes must have 4 columns (Dimension must be 4 but is "
                             f"{boxes_shape[1]})")
    if scores_shape is not None:
        if len(scores_shape) != 1:
            raise port_error("scores", f"scores must be 1-D{_rank_text(scores_shape, 1)}")
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


def _iou(boxes: np.ndarray, i: int, others: np.ndarray) -> np.ndarray:
    """TF's IOU of box ``i`` with each box in ``others``, float32, denormals as zero."""

    def lo(a: Any, b: Any) -> Any:  # std::min: b < a ? b : a
        return np.where(flush_denormals(np.asarray(b)) < flush_denormals(np.asarray(a)), b, a)

    def hi(a: Any, b: Any) -> Any:  # std::max: a < b ? b : a
        return np.where(flush_denormals(np.asarray(a)) < flush_denormals(np.asarray(b)), b, a)

    def f(x: Any) -> np.ndarray:
        return flush_denormals(np.asarray(x, _F32))

    one = boxes[i]
    many = boxes[others]
    ymin_i, xmin_i = lo(one[0], one[2]), lo(one[1], one[3])
    ymax_i, xmax_i = hi(one[0], one[2]), hi(one[1], one[3])
    ymin_j, xmin_j = lo(many[:, 0], many[:, 2]), lo(many[:, 1], many[:, 3])
    ymax_j, xmax_j = hi(many[:, 0], many[:, 2]), hi(many[:, 1], many[:, 3])
    with np.errstate(all="ignore"):
        area_i = f(f(f(ymax_i) - f(ymin_i)) * f(f(xmax_i) - f(xmin_i)))
        area_j = f(f(f(ymax_j) - f(ymin_j)) * f(f(xmax_j) - f(xmin_j)))
        top, left = hi(ymin_i, ymin_j), hi(xmin_i, xmin_j)
        bottom, right = lo(ymax_i, ymax_j), lo(xmax_i, xmax_j)
        height = hi(f(f(bottom) - f(top)), _F32(0))
        width = hi(f(f(right) - f(left)), _F32(0))
        inter = f(f(height) * f(width))
        union = f(f(f(area_i) + f(area_j)) - inter)
        ratio = f(inter / union)
    empty = (f(area_i) <= 0) | (f(area_j) <= 0)
    return np.where(empty, _F32(0), ratio)


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
    coords = boxes.astype(_F32)
    queue: list[tuple[float, int, Any, int]] = []
    for index, score in enumerate(scores):
        if score > floor_t:
            heapq.heappush(queue, (-float(score), index, t(score), 0))
    selected: list[int] = []
    wanted = int(limit)
    while len(selected) < wanted and queue:
        _, index, score, begin = heapq.heappop(queue)
        original = score
        hard = False
        if len(selected) > begin:
            earlier = np.array(selected[begin:][::-1], np.intp)  # newest first
            overlaps = _iou(coords, index, earlier)
            for overlap in (t(o) for o in overlaps):
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
