"""Statistics of one tensor, the one function the command line's table and the results panel share.

Contract:

* :func:`tensor_stats(array) <tensor_stats>` returns a :class:`TensorStats`: shape, dtype,
  size, min, max, mean and std of the finite elements, the NaN count and the +inf / -inf
  counts. Integer (and bool) extremes are exact Python ints, even beyond 2**53. A complex
  tensor has no order: its min .. std are those of the magnitude ``|z|`` and
  ``complex_mean`` is the mean of the finite elements themselves.
* Memory is bounded whatever the tensor: the array is read in pieces of at most
  :data:`STATS_CHUNK` elements, each widened to float64 on its own (8 MiB of scratch), and a
  non-contiguous array is never flattened into a full-size copy. Means and variances of the
  pieces are merged with Chan's formula (numerically sound, one pass over the data).
* :func:`format_number` is the compact text of a number (6 significant digits, integers as
  is, ``nan``/``inf``/``-inf``), used wherever a statistic is printed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Elements per piece when computing statistics (bounds the float64 scratch memory to 8 MiB).
STATS_CHUNK = 1 << 20


@dataclass(frozen=True)
class TensorStats:
    """Summary of one tensor; ``min`` .. ``std`` are ``None`` when no finite element exists."""

    shape: tuple[int, ...]
    dtype: str
    size: int
    min: float | int | None
    max: float | int | None
    mean: float | None
    std: float | None
    nan: int
    inf: int
    complex_magnitude: bool = False
    #: How many of ``inf`` are +inf (the rest are -inf).
    pos_inf: int = 0
    #: The mean of a complex tensor's finite elements (``None`` for a real tensor).
    complex_mean: complex | None = None

    @property
    def empty(self) -> bool:
        return self.size == 0

    @property
    def neg_inf(self) -> int:
        return self.inf - self.pos_inf

    def shape_text(self) -> str:
        return "[" + ",".join(str(d) for d in self.shape) + "]"

    def summary(self) -> str:
        """One line: ``[1,4,4,3] float32  min 0  max 1  mean 0.5  std 0.2  NaN 0  inf 0``."""
        head = f"{self.shape_text()} {self.dtype}"
        if self.empty:
            return f"{head}  empty"
        if self.min is None:
            values = "no finite values"
        else:
            prefix = "|z| " if self.complex_magnitude else ""
            values = (
                f"{prefix}min {format_number(self.min)}  max {format_number(self.max)}  "
                f"mean {format_number(self.mean)}  std {format_number(self.std)}"
            )
        return f"{head}  {values}  NaN {self.nan}  inf {self.inf}"


def _pieces(array: np.ndarray, limit: int) -> Iterator[np.ndarray]:
    """``array``'s elements as 1-D pieces of at most ``limit`` elements (copies bounded too)."""
    if array.ndim == 0:
        yield array.reshape(1)
        return
    if array.flags.c_contiguous:
        flat = array.reshape(-1)  # a view
        for start in range(0, flat.size, limit):
            yield flat[start : start + limit]
        return
    row = int(np.prod(array.shape[1:], dtype=np.int64))
    if row > limit:
        for index in range(array.shape[0]):
            yield from _pieces(array[index], limit)
        return
    rows = max(1, limit // max(1, row))
    for start in range(0, array.shape[0], rows):
        yield array[start : start + rows].reshape(-1)  # copies at most ``limit`` elements


def tensor_stats(array: np.ndarray) -> TensorStats:
    """Statistics of ``array`` (see the module docstring)."""
    values = np.asarray(array)
    shape, dtype_name, size = tuple(values.shape), str(values.dtype.name), int(values.size)
    is_complex = values.dtype.kind == "c"
    integral = values.dtype.kind in "iub"
    nan = inf = pos_inf = count = 0
    mean = squares = 0.0
    complex_sum = 0j
    low, high = math.inf, -math.inf
    exact_low: int | None = None
    exact_high: int | None = None
    for piece in _pieces(values, STATS_CHUNK):
        if piece.size == 0:
            continue
        if integral:  # int64 beyond 2**53 would round in float64: the extremes stay exact
            piece_low, piece_high = int(piece.min()), int(piece.max())
            exact_low = piece_low if exact_low is None else min(exact_low, piece_low)
            exact_high = piece_high if exact_high is None else max(exact_high, piece_high)
            chunk = piece.astype(np.float64)
        elif is_complex:
            finite_mask = np.isfinite(piece)
            if not finite_mask.all():
                nan += int(np.count_nonzero(np.isnan(piece)))
                infinite = np.isinf(piece)
                inf += int(np.count_nonzero(infinite))
                piece = piece[finite_mask]
            complex_sum += complex(piece.astype(np.complex128).sum())
            chunk = np.abs(piece).astype(np.float64)
        else:
            chunk = piece.astype(np.float64)  # float16/32, bfloat16 and friends widen exactly
            chunk_low, chunk_high = float(chunk.min()), float(chunk.max())
            if not (math.isfinite(chunk_low) and math.isfinite(chunk_high)):
                # min/max propagate NaN and reach inf: only then pay for the masks.
                nan += int(np.count_nonzero(np.isnan(chunk)))
                pos_inf += int(np.count_nonzero(chunk == math.inf))
                inf += int(np.count_nonzero(np.isinf(chunk)))
                chunk = chunk[np.isfinite(chunk)]
        if chunk.size == 0:
            continue
        n = int(chunk.size)
        chunk_low, chunk_high = float(chunk.min()), float(chunk.max())
        chunk_mean = float(chunk.sum()) / n
        chunk -= chunk_mean  # a fresh float64 copy of the piece: deviations in place
        chunk_squares = float(np.dot(chunk, chunk))
        total = count + n
        delta = chunk_mean - mean
        mean += delta * n / total
        squares += chunk_squares + delta * delta * count * n / total
        count = total
        low, high = min(low, chunk_low), max(high, chunk_high)
    complex_mean = (complex_sum / count if count else complex(math.nan, math.nan)) \
        if is_complex else None
    if count == 0:
        return TensorStats(shape, dtype_name, size, None, None, None, None, nan, inf,
                           is_complex, pos_inf, complex_mean)
    std = math.sqrt(squares / count)
    result_low: float | int = low if exact_low is None else exact_low
    result_high: float | int = high if exact_high is None else exact_high
    return TensorStats(shape, dtype_name, size, result_low, result_high, mean, std, nan, inf,
                       is_complex, pos_inf, complex_mean)


def format_number(value: Any) -> str:
    """Compact text for a number: integers as is, floats with 6 significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (complex, np.complexfloating)):
        number = complex(value)
        real, imag = format_number(number.real), format_number(abs(number.imag))
        sign = "-" if math.copysign(1.0, number.imag) < 0 else "+"
        return f"{real}{sign}{imag}j"
    number = float(value)
    if math.isnan(number):
        return "nan"
    if math.isinf(number):
        return "inf" if number > 0 else "-inf"
    return f"{number:.6g}"
