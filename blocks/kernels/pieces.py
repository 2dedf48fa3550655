"""Work in pieces, shared with helper threads: how many threads, and how pieces are taken.

Contract:

* :func:`thread_count` — the threads a large kernel uses: the cores this process may run
  on (``os.sched_getaffinity``, else ``os.cpu_count``), at most 4, capped by the
  ``TENSORBLOCKS_THREADS`` environment variable (a positive integer; anything else is
  ignored), and by :func:`thread_limit` on the calling thread. It never depends on the
  current load, so a kernel's speed does not jump between runs because of a momentary
  guess.
* :func:`thread_limit(threads)` — a context manager capping :func:`thread_count` for
  kernels called on this thread: a batch run that already works one chunk per core sets
  1, so that kernels do not start helpers of their own and oversubscribe the cores.
* :func:`run_pieces(count, work, cancel, threads)` calls ``work(i)`` once for every piece
  ``i`` in ``range(count)``, on the calling thread and up to ``threads - 1`` pool
  helpers. Pieces are taken in turn from one counter, so the calling thread never waits
  for a helper that has not started (on a busy machine it simply does every piece
  itself). Each thread checks ``cancel`` before taking a piece; once it is set no new
  piece starts, the pieces under way finish, and :class:`~blocks.errors.CancelledError`
  is raised. An exception in a piece is raised to the caller. ``work`` must touch
  disjoint data per piece (numpy releases the GIL while it copies and computes, so the
  pieces really run at once).
* :func:`run_ranges(total, count, work, cancel, threads)` — :func:`run_pieces` over
  ``count`` ranges of ``0 .. total-1`` whose sizes differ by at most one, calling
  ``work(start, stop)``: no thread is left with a larger part.
* :func:`run_loop_ranges(loop, total, count, args, cancel, threads, counting=False)` —
  the same ranges for a compiled loop, called as ``loop(args[0], args[1], start, stop,
  *args[2:])`` (``counting``: it returns an integer per range; their sum is returned). With
  more than one thread and numba's threads usable here (:func:`shared_loops_usable`), the
  pieces are shared by numba's threads (:mod:`blocks.kernels.shared_loops`), entered in
  rounds of a few pieces per thread with ``cancel`` checked between rounds; otherwise as
  :func:`run_ranges`. Either way every range is computed once, by the same code.
* :func:`shared_loops_usable` — whether numba's threads may be used: never in a child
  forked from this process (GNU OpenMP, numba's usual layer, hangs there), never when
  ``TENSORBLOCKS_THREADS`` or :func:`thread_limit` leaves one thread.
* :func:`loop_threads(work, pool_min)` — the one rule for how many threads a compiled
  loop's work gets: numba's from :data:`LOOP_SHARED_MIN` on, the pool's from the op's
  own ``pool_min`` on where numba's cannot be used; :func:`shared_pieces(threads)` — the
  fewest pieces that work is cut into for them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from blocks.kernels.arguments import check_cancel
from blocks.kernels.compiled import compiled_loops

#: Environment variable that caps the number of threads (a positive integer).
THREADS_ENV = "TENSORBLOCKS_THREADS"
_MAX_THREADS = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_limits = threading.local()  # .threads: this thread's cap, set by thread_limit


def thread_count() -> int:
    """Threads a large kernel uses (see the module docstring)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    threads = min(cores, _MAX_THREADS)
    setting = os.environ.get(THREADS_ENV, "").strip()
    if setting.isdigit() and int(setting) > 0:
        threads = min(threads, int(setting))
    limit = getattr(_limits, "threads", None)
    if limit is not None:
        threads = min(threads, limit)
    return max(1, threads)


@contextlib.contextmanager
def thread_limit(threads: int) -> Iterator[None]:
    """Cap :func:`thread_count` at ``threads`` (at least 1) for kernels on this thread."""
    previous = getattr(_limits, "threads", None)
    _limits.threads = max(1, int(threads))
    try:
        yield
    finally:
        _limits.threads = previous


def _thread_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_MAX_THREADS, thread_name_prefix="tensorblocks-kernel")
        return _pool


def run_pieces(
    count: int, work: Callable[[int], None], cancel: threading.Event | None, threads: int
) -> None:
    """Call ``work(i)`` for ``i`` in ``range(count)``, shared by ``threads`` threads."""
    tickets = itertools.count()  # next() on a count is atomic under the GIL

    def take_pieces() -> None:
        for ticket in tickets:
            if ticket >= count or (cancel is not None and cancel.is_set()):
                return
            work(ticket)

    helpers = [_thread_pool().submit(take_pieces) for _ in range(min(threads, count) - 1)]
    try:
        take_pieces()
    finally:
        for helper in helpers:
            if not helper.cancel():  # started: it is finishing its last piece
                helper.result()
    check_cancel(cancel)


def _bounds(total: int, count: int) -> list[int]:
    """The bounds of ``count`` near-equal ranges of ``range(total)`` (sizes differ by at
    most one)."""
    return [total * index // count for index in range(count + 1)]


def run_ranges(
    total: int, count: int, work: Callable[[int, int], None], cancel: threading.Event | None,
    threads: int,
) -> None:
    """Call ``work(start, stop)`` over ``count`` near-equal ranges of ``range(total)``."""
    bounds = _bounds(total, count)
    run_pieces(count, lambda index: work(bounds[index], bounds[index + 1]), cancel, threads)


#: Pieces per thread in one entry into numba's threads: Stop waits for at most a round.
_ROUND_PIECES = 4
#: Pieces per thread of a compiled loop's shared work (:func:`shared_pieces`).
_PIECES_PER_THREAD = 4
#: Work (output floats times the op's cost per float relative to a bilinear lerp) from
#: which a compiled loop is shared on numba's threads, whose start costs no wake-up
#: (:func:`loop_threads`). Measured on bl-2 (1M floats, benchmarks/bench_ops.py)
#: round-robin with TF: 0.28-0.30 ms in 8 pieces, 0.44-0.46 in 2, 0.42-0.73 alone.
LOOP_SHARED_MIN = 1 << 18
_forked = False


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _numba_threads_ready() -> bool:
    """numba's threads can be entered here: not a forked child, a thread-safe layer."""
    return not _forked and bool(compiled_loops("shared_loops").usable())


def shared_loops_usable() -> bool:
    """Whether compiled loops may share pieces on numba's threads (see the module)."""
    return thread_count() >= 2 and _numba_threads_ready()


def loop_threads(work: float, pool_min: float) -> tuple[int, bool]:
    """``(threads, shared)`` for a compiled loop's ``work`` (as :data:`LOOP_SHARED_MIN`
    counts it): numba's threads share it from :data:`LOOP_SHARED_MIN` on (``shared``),
    the Python pool's from ``pool_min`` on where numba's cannot be used; else one thread."""
    if work < min(LOOP_SHARED_MIN, pool_min):
        return 1, False
    threads = thread_count()
    if threads < 2:
        return 1, False
    shared = work >= LOOP_SHARED_MIN and _numba_threads_ready()
    return (threads if shared or work >= pool_min else 1), shared


def shared_pieces(threads: int) -> int:
    """The pieces a compiled loop's work is cut into at least, for ``threads`` threads (1
    for one): several a thread, taken as threads come free, so pieces that cost more than
    others (a glimpse's items with fill, a crop's larger boxes) even out."""
    return _PIECES_PER_THREAD * threads if threads > 1 else 1


def run_loop_ranges(
    loop: Callable[..., Any], total: int, count: int, args: tuple[Any, ...],
    cancel: threading.Event | None, threads: int, *, counting: bool = False,
) -> int:
    """Call the compiled ``loop`` over ``count`` near-equal ranges of ``range(total)``;
    ``counting``: the loop returns an integer per range, and the sum is returned (else 0)."""
    if threads > 1 and count > 1 and _numba_threads_ready():
        shared = compiled_loops("shared_loops")
        bounds = np.array(_bounds(total, count), np.int64)
        step = _ROUND_PIECES * threads
        total_count = 0
        for begin in range(0, count, step):
            check_cancel(cancel)
            total_count += shared.run(loop, bounds[begin:begin + step + 1], threads, args,
                                      counting=counting)
        check_cancel(cancel)
        return total_count
    first, second, *rest = args
    counts: list[int] = []  # list.append is atomic under the GIL

    def piece(start: int, stop: int) -> None:
        result = loop(first, second, start, stop, *rest)
        if counting:
            counts.append(int(result))

    run_ranges(total, count, piece, cancel, threads)
    return sum(counts)
