"""Export of product tensors, without Qt: ``.npy`` exactly, a 2-D slice as exact CSV.

Contract:

* :func:`save_npy` writes the tensor bit for bit (``np.save``; no pickle).
* :func:`save_csv` writes a 0-, 1- or 2-D array with ``np.savetxt`` in a format that
  reads back to the same values: floats with 17 significant digits (enough for float64,
  hence for float32/float16/bfloat16 widened exactly to float64), integers as integers,
  complex as ``re+imj``. :func:`load_csv` reads it back with the dtype given.
* Unwritable paths raise :class:`blocks.errors.TensorBlocksError` naming the file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from blocks.errors import TensorBlocksError


def save_npy(path: str, tensor: np.ndarray) -> None:
    """The tensor, exactly, to a .npy file."""
    try:
        with open(path, "wb") as handle:
            np.save(handle, np.asarray(tensor), allow_pickle=False)
    except OSError as error:
        raise TensorBlocksError(f"cannot write '{path}': {error.strerror or error}") from None


def _csv_ready(plane: np.ndarray) -> tuple[np.ndarray, str | list[str]]:
    """The array savetxt can format and the format for its dtype."""
    kind = plane.dtype.kind
    if kind == "c":  # one format per column: savetxt splits each value into (re, im)
        return plane.astype(np.complex128), ["%.17g%+.17gj"] * plane.shape[1]
    if kind in "iu":
        return plane, "%d"
    if kind == "b":
        return plane.astype(np.uint8), "%d"
    return plane.astype(np.float64), "%.17g"  # float16/32/bfloat16 widen exactly


def save_csv(path: str, plane: np.ndarray) -> None:
    """A 0-, 1- (one column) or 2-D array to CSV with full precision."""
    values = np.asarray(plane)
    if values.ndim == 0:
        values = values.reshape(1, 1)
    elif values.ndim == 1:
        values = values.reshape(-1, 1)
    elif values.ndim != 2:
        raise TensorBlocksError(f"CSV export needs at most 2 dims, got shape {list(values.shape)}")
    ready, fmt = _csv_ready(values)
    try:
        np.savetxt(path, ready, fmt=fmt, delimiter=",")
    except OSError as error:
        raise TensorBlocksError(f"cannot write '{path}': {error.strerror or error}") from None


def load_csv(path: str, dtype: Any) -> np.ndarray:
    """Read a CSV written by :func:`save_csv` back as a 2-D array of ``dtype``."""
    target = np.dtype(dtype)
    if target.kind == "c":
        text = np.loadtxt(path, delimiter=",", dtype=str, ndmin=2)
        return np.vectorize(complex)(text).astype(target)
    if target.kind in "iu":
        return np.loadtxt(path, delimiter=",", dtype=target, ndmin=2)
    return np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2).astype(target)
