"""numba's cache of the compiled loops: closures keyed by what they are, files locked."""

from __future__ import annotations

import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blocks.kernels.numba_cache import _described, compiled


def _twice(values: np.ndarray) -> np.ndarray:
    return values * 2


@pytest.fixture
def fresh() -> Iterator[Any]:
    """A compiled function of this file, its cache files removed before and after."""
    function = compiled(nogil=True)(_twice)
    files = function._cache._cache_file

    def remove() -> None:
        folder = Path(files._cache_path)
        for path in folder.glob(f"{files._index_name.rpartition('.nbi')[0]}*"):
            path.unlink()

    remove()
    yield function
    remove()


def test_a_load_waits_while_another_process_saves(fresh: Any) -> None:
    # numba numbers a new entry's data file from the index it read: two processes saving
    # at once could send one signature to the other's code. Saves hold the index's lock
    # exclusively and loads hold it shared, so a load waits for a save under way.
    lock_path = fresh._cache._cache_file._index_path + ".lock"
    finished = threading.Event()
    results: list[np.ndarray] = []

    def first_call() -> None:
        results.append(fresh(np.arange(3.0)))
        finished.set()

    with open(lock_path, "ab") as other:  # another process's save, under way
        fcntl.flock(other, fcntl.LOCK_EX)
        caller = threading.Thread(target=first_call)
        caller.start()
        time.sleep(0.5)
        assert not finished.is_set()
    caller.join(timeout=120)
    assert finished.is_set()
    np.testing.assert_array_equal(results[0], [0.0, 2.0, 4.0])
    assert Path(fresh._cache._cache_file._index_path).exists()  # saved, after the wait


def test_closure_cells_are_described_by_what_decides_the_code() -> None:
    def factory(channels: int) -> Any:
        @compiled()
        def inner(value: float) -> float:
            return value * channels

        @compiled()
        def outer(value: float) -> float:
            return inner(value) + 1

        return outer

    three, three_again, four = factory(3), factory(3), factory(4)
    cells = [_described(cell.cell_contents) for cell in three.py_func.__closure__]
    assert cells == [_described(cell.cell_contents) for cell in three_again.py_func.__closure__]
    assert cells != [_described(cell.cell_contents) for cell in four.py_func.__closure__]
    assert _described(object()) is None  # unknown cells keep numba's own key
