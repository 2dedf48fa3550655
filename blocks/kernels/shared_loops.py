"""A compiled loop's pieces shared by numba's own threads, entered once from Python.

Contract:

* :func:`usable` — whether this process can share compiled loops: numba found a
  thread-safe threading layer (OpenMP or TBB; several Python threads may then run
  kernels at once). It is decided once, on first use, by running a tiny parallel loop.
  Unless ``NUMBA_THREADING_LAYER`` says otherwise, numba is asked for a thread-safe layer
  (its default would fall back to the ``workqueue`` layer, which aborts the process when
  two threads enter it at once). Without one the kernels share their pieces with the
  Python pool of :mod:`blocks.kernels.pieces`, as before.
* :func:`run(loop, bounds, threads, args, counting=False)` calls ``loop(args[0],
  args[1], bounds[p], bounds[p + 1], *args[2:])`` for every piece ``p`` (``bounds``
  ascending int64) on
  ``threads`` threads — the calling one and numba's — the pieces taken one at a time by
  whichever thread is free (a chunk size of 1), so no thread has a share decided before
  it started. The driver for each ``loop`` is compiled once (numba's cache keeps it).
  ``loop`` must be a compiled function that writes disjoint data per piece; every value
  is computed by the same operations whatever the piece, so threads cannot change bits.
  With ``counting`` the loop returns an integer per piece (Cast's count of values out of
  range) and ``run`` returns their sum.

Used by ResizeBilinear, ResizeArea, ResizeNearestNeighbor, CropAndResize (bilinear),
Cast's compiled conversions and the glimpses, through
:func:`blocks.kernels.pieces.run_loop_ranges`.

Why numba's threads: handing a piece to a Python pool helper costs a futex wake, 30-100
us on a 2-core virtual machine, which outweighed the gain for work under about 2 ms (a
4 MB resize). A parallel region of numba's OpenMP layer starts on threads that spin for
a few milliseconds after the last one before they sleep (GNU
OpenMP's default; ``GOMP_SPINCOUNT`` and ``OMP_WAIT_POLICY`` set it), so kernels called
one after another, as a graph runs them, pay no wake-up (benchmarks/bench_ops.py bl-2).
A process that forks after using it must not enter it again in the child (GNU OpenMP is
not fork-safe): :mod:`blocks.kernels.pieces` stops using it in a forked child.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache, lru_cache
from typing import Any

import numba
import numpy as np

from blocks.kernels.numba_cache import compiled

#: numba's settings (set at import from the environment; typed loosely by numba).
_CONFIG: Any = numba.config
#: The layers several Python threads may enter at once.
_THREAD_SAFE = ("omp", "tbb")

if not os.environ.get("NUMBA_THREADING_LAYER"):
    # Before anything launches numba's threads: never the workqueue layer.
    _CONFIG.THREADING_LAYER = "threadsafe"


@compiled(nogil=True, parallel=True)
def _probe(count: int) -> int:
    total = 0
    for index in numba.prange(count):
        total += index
    return total


@lru_cache(maxsize=1)
def usable() -> bool:
    """Whether numba runs parallel loops here on a thread-safe layer (see the module)."""
    try:
        _probe(2)
    except (ValueError, ImportError, OSError):  # no layer could be loaded
        return False
    return numba.threading_layer() in _THREAD_SAFE


@cache
def _driver(loop: Callable[..., None]) -> Callable[..., None]:
    """The compiled driver of ``loop`` (:func:`run`)."""

    @compiled(nogil=True, parallel=True)  # keyed by the loop it calls (numba_cache)
    def driver(bounds: np.ndarray, first: Any, second: Any, *rest: Any) -> None:
        for piece in numba.prange(bounds.shape[0] - 1):
            loop(first, second, bounds[piece], bounds[piece + 1], *rest)

    return driver


@cache
def _counting_driver(loop: Callable[..., int]) -> Callable[..., int]:
    """The compiled driver of ``loop`` that returns the sum of what the pieces return."""

    @compiled(nogil=True, parallel=True)  # keyed by the loop it calls (numba_cache)
    def driver(bounds: np.ndarray, first: Any, second: Any, *rest: Any) -> int:
        counts = np.zeros(bounds.shape[0] - 1, np.int64)
        for piece in numba.prange(bounds.shape[0] - 1):
            counts[piece] = loop(first, second, bounds[piece], bounds[piece + 1], *rest)
        return int(counts.sum())

    return driver


def run(loop: Callable[..., Any], bounds: np.ndarray, threads: int,
        args: tuple[Any, ...], *, counting: bool = False) -> int:
    """Call ``loop`` on every piece of ``bounds`` on ``threads`` threads (see the module);
    ``counting``: ``loop`` returns an integer per piece, and their sum is returned (else 0)."""
    driver: Callable[..., Any] = _counting_driver(loop) if counting else _driver(loop)
    previous_threads = numba.get_num_threads()
    numba.set_num_threads(min(threads, _CONFIG.NUMBA_NUM_THREADS))
    previous_chunk = numba.set_parallel_chunksize(1)
    try:
        total = driver(bounds, *args)
    finally:
        numba.set_parallel_chunksize(previous_chunk)
        numba.set_num_threads(previous_threads)
    return int(total) if counting else 0
