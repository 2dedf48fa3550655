"""numba's on-disk cache of the compiled loops, made safe to share between processes and
right for closures: every compiled function of the kernels is made by :func:`compiled`.

Contract: ``compiled(**options)`` is ``numba.njit(cache=True, **options)`` whose cache

* keys a closure (a function compiled inside a factory, such as a loop specialised for
  three channels, or the parallel driver of :mod:`blocks.kernels.shared_loops`) by what
  decides its code: each cell that is a compiled function by its module, qualified
  name, bytecode and, in turn, its own cells; each constant by its type and value. numba
  keys it by its cells pickled, and a compiled function pickles with an identifier made
  afresh in every process: such closures missed the cache in every process, were
  compiled again at their first call (about 1 s for a bilinear resize's rows) and wrote
  one more cache file each time. Cells of any other kind keep numba's key.
* reads and writes a function's index and data files under a lock on the index
  (``fcntl.flock``: shared to load, exclusive to save). numba numbers a new entry's data
  file from the index it read, so two processes compiling two signatures of one
  function at once could both take the same number; the index then sent one signature
  to the other's machine code, and a process later loaded wrong code that gave wrong
  values (seen here with a benchmark and the tests compiling at once). Where the lock
  cannot be taken (no ``fcntl``, a read-only cache folder) numba's own behaviour stays.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Iterator
from typing import Any

import numba
from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]


def _described(value: Any) -> object:
    """What in a closure cell decides the compiled code, or None if unknown here."""
    if isinstance(value, Dispatcher):
        function = value.py_func
        cells = _described_cells(function)
        if cells is None:
            return None
        code = hashlib.sha256(function.__code__.co_code).hexdigest()
        return ("compiled", function.__module__, function.__qualname__, code, cells)
    if isinstance(value, bool | int | float | str):
        return (type(value).__name__, value)
    return None


def _described_cells(function: Callable[..., Any]) -> tuple[object, ...] | None:
    """Each closure cell of ``function`` described (:func:`_described`); None if one is
    unknown here."""
    cells = tuple(_described(cell.cell_contents) for cell in function.__closure__ or ())
    return None if any(cell is None for cell in cells) else cells


class _SafeCache(FunctionCache):
    """numba's FunctionCache keyed by described cells and locked (see the module)."""

    def _index_key(self, sig: Any, codegen: Any) -> Any:
        key = super()._index_key(sig, codegen)
        if self._py_func.__closure__ is None:
            return key
        cells = _described_cells(self._py_func)
        if cells is None:
            return key
        signature, magic, (code, _) = key
        return signature, magic, (code, hashlib.sha256(repr(cells).encode()).hexdigest())

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        handle = None
        if fcntl is not None:
            with contextlib.suppress(OSError):
                os.makedirs(self._cache_path, exist_ok=True)
                handle = open(self._cache_file._index_path + ".lock", "ab")  # noqa: SIM115
        try:
            if handle is not None:
                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            if handle is not None:
                handle.close()  # closing releases the lock

    def load_overload(self, sig: Any, target_context: Any) -> Any:
        with self._locked(exclusive=False):
            return super().load_overload(sig, target_context)

    def save_overload(self, sig: Any, data: Any) -> None:
        with self._locked(exclusive=True):
            super().save_overload(sig, data)


def compiled(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)`` with the cache of this module."""

    def make(function: Callable[..., Any]) -> Any:
        dispatcher = numba.njit(cache=True, **options)(function)
        dispatcher._cache = _SafeCache(dispatcher.py_func)
        return dispatcher

    return make
