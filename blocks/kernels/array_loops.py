"""ConcatV2's compiled copy: the inputs' rows interleaved into the output in one pass.

Contract: ``concat_rows(sources, out, start, stop)`` writes output rows
``start .. stop-1`` of ``out`` (``[R, W]``, unsigned integers of the dtype's item size)
as the inputs' rows side by side: row ``r`` of ``out`` is row ``r`` of ``sources[0]``,
then of ``sources[1]``, ... (``sources``: a numba typed list of ``[R, W_i]`` arrays of the
same unsigned type, ``sum(W_i) == W``). Values are copied as bits, so any dtype of that
item size is copied exactly (NaN payloads, signed zeros, bfloat16).

Each output byte is written once and each input byte read once. The rows go in blocks
of about 32 KiB of output, each input copied into the block in turn, so the block stays
in the cache while its parts arrive; the common narrow widths (1 to 4 items, e.g. the
channels of images concatenated along channels) are copied by loops compiled for that
width. The loop holds no Python objects and releases the GIL, so ranges of rows run on
the kernel threads.

Why compiled: numpy's concatenate copies along the last axis a few items at a time
with its general strided loop, 5 times slower than a memory copy of the same bytes.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)
#: Output bytes per block of rows (fits the first-level cache with its inputs).
_BLOCK_BYTES = 1 << 15


@_jit
def _copy_block(source: np.ndarray, target: np.ndarray, width: int) -> None:
    """``target[r, :width] = source[r, :width]`` for every row (LLVM inlines this; a
    constant ``width`` at the call site unrolls the row)."""
    for r in range(source.shape[0]):
        for k in range(width):
            target[r, k] = source[r, k]


@_jit
def concat_rows(sources: list[np.ndarray], out: np.ndarray, start: int, stop: int) -> None:
    """Output rows ``start .. stop-1`` from the inputs' rows (see the module docstring)."""
    total = out.shape[1]
    block = max(1, _BLOCK_BYTES // max(1, total * out.itemsize))
    for begin in range(start, stop, block):
        end = min(begin + block, stop)
        offset = 0
        for index in range(len(sources)):
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


def typed_sources(sources: list[np.ndarray]) -> list[np.ndarray]:
    """The inputs as the numba typed list :func:`concat_rows` takes (made here, so that
    its callers need not import numba)."""
    return numba.typed.List(sources)
