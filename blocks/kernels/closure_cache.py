"""numba's on-disk cache for compiled closures that call other compiled functions.

Contract: :func:`cached_closure(dispatcher)` makes numba's cache of ``dispatcher`` (a
function compiled with ``cache=True`` inside a factory, whose closure holds other compiled
functions, booleans, integers or strings) find, in a new process, what an earlier process
compiled for the same closure, and return the dispatcher. Call it before the first call.

Why: numba keys a cached closure by a hash of its cells pickled, and a compiled function
pickles with an identifier made afresh in every process. So a closure that calls another
compiled function (a factory's loop calling its helper, a parallel driver calling the
loop it shares) missed the cache in every process: it was compiled again at its first
call (about 1 s for a bilinear resize's rows, 1.2 s for a driver) and one more cache file
was written each time. Here the cells are described by what decides the compiled code:
a compiled function by its module, qualified name, bytecode and, in turn, its own cells;
a constant by its type and value. Anything else keeps numba's own key.
"""

from __future__ import annotations

import hashlib
from typing import Any

from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher


def _described(value: Any) -> object:
    """What in a closure cell decides the compiled code, or None if unknown here."""
    if isinstance(value, Dispatcher):
        function = value.py_func
        cells = tuple(_described(cell.cell_contents) for cell in function.__closure__ or ())
        if any(cell is None for cell in cells):
            return None
        code = hashlib.sha256(function.__code__.co_code).hexdigest()
        return ("compiled", function.__module__, function.__qualname__, code, cells)
    if isinstance(value, bool | int | float | str):
        return (type(value).__name__, value)
    return None


class _ClosureCache(FunctionCache):
    """numba's FunctionCache keyed by the described cells (see the module)."""

    def _index_key(self, sig: Any, codegen: Any) -> Any:
        key = super()._index_key(sig, codegen)
        closure = self._py_func.__closure__
        if closure is None:
            return key
        cells = tuple(_described(cell.cell_contents) for cell in closure)
        if any(cell is None for cell in cells):
            return key
        signature, magic, (code, _) = key
        return signature, magic, (code, hashlib.sha256(repr(cells).encode()).hexdigest())


def cached_closure(dispatcher: Any) -> Any:
    """``dispatcher``, its cache keyed by its described cells (see the module)."""
    dispatcher._cache = _ClosureCache(dispatcher.py_func)
    return dispatcher
