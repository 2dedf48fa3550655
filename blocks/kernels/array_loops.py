"""ConcatV2's compiled copy: the inputs' rows interleaved into the output in one pass.

Contract: ``concat_rows(sources, used, out, column, start, stop)`` writes output rows
``start .. stop-1`` of ``out`` (``[R, W]``, unsigned integers of the dtype's item size)
from column ``column`` on as the inputs' rows side by side: row ``r`` is row ``r`` of
``sources[0]``, then of ``sources[1]``, ... up to ``sources[used - 1]`` (``[R, W_i]``
arrays of the same unsigned type). :func:`in_groups` cuts any number of inputs into the
groups it takes. Values are copied as bits, so any dtype of that item size is copied
exactly (NaN payloads, signed zeros, bfloat16).

Each output byte is written once and each input byte read once (up to 8 inputs; each
further group of 8 is one more pass over the output rows). The rows go in blocks
of about 32 KiB of output, each input copied into the block in turn, so the block stays
in the cache while its parts arrive; the common narrow widths (1 to 4 items, e.g. the
channels of images concatenated along channels) are copied by loops compiled for that
width. The loop holds no Python objects and releases the GIL, so ranges of rows run on
the kernel threads.

Why compiled: numpy's concatenate copies along the last axis a few items at a time
with its general strided loop, 5 times slower than a memory copy of the same bytes.
"""

from __future__ import annotations

import numpy as np

from blocks.kernels.numba_cache import compiled

_jit = compiled(nogil=True)
#: Output bytes per block of rows (fits the first-level cache with its inputs).
_BLOCK_BYTES = 1 << 15
#: Inputs per call of :func:`concat_rows` (more inputs: one call per group of them).
GROUP = 8


@_jit
def _copy_block(source: np.ndarray, target: np.ndarray, width: int) -> None:
    """``target[r, :width] = source[r, :width]`` for every row (LLVM inlines this; a
    constant ``width`` at the call site unrolls the row)."""
    for r in range(source.shape[0]):
        for k in range(width):
            target[r, k] = source[r, k]


@_jit
def concat_rows(
    sources: tuple[np.ndarray, ...], used: int, out: np.ndarray, column: int, start: int,
    stop: int,
) -> None:
    """Output rows ``start .. stop-1`` from the rows of ``sources[:used]``, written from
    output column ``column`` on (see the module docstring)."""
    block = max(1, _BLOCK_BYTES // max(1, out.shape[1] * out.itemsize))
    for begin in range(start, stop, block):
        end = min(begin + block, stop)
        offset = column
        for index in range(used):
            source = sources[index][begin:end]
            width = source.shape[1]
            target = out[begin:end, offset:offset + width]
            if width == 3:
                _copy_block(source, target, 3)
            elif width == 1:
                _copy_block(source, target, 1)
            elif width == 2:
                _copy_block(source, target, 2)
            elif width == 4:
                _copy_block(source, target, 4)
            else:
                _copy_block(source, target, width)
            offset += width


def in_groups(sources: list[np.ndarray]) -> list[tuple[tuple[np.ndarray, ...], int, int]]:
    """The inputs as :func:`concat_rows` takes them: groups of at most ``GROUP``
    (``(sources, used, column)``), each group a tuple of exactly ``GROUP`` arrays padded
    with its first, so that one compiled entry per item size serves any number of
    inputs (numba compiles a function anew for every tuple length)."""
    groups = []
    column = 0
    for first in range(0, len(sources), GROUP):
        group = sources[first:first + GROUP]
        padded = tuple(group) + (group[0],) * (GROUP - len(group))
        groups.append((padded, len(group), column))
        column += sum(int(source.shape[1]) for source in group)
    return groups
