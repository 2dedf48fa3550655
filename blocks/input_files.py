"""Data files an Input block reads: ``.npy``, ``name.npz:key``, ``.png``/``.jpg``/``.bmp``.

Images are read as ``[1, H, W, C]`` uint8 (grey images as C=1, palette images converted
to RGB/RGBA). Relative paths resolve against ``base_dir`` (the graph file's folder).
Nothing is unpickled (``allow_pickle=False``). ``peek_tensor_file`` gives shape and dtype
without reading the data (npy header, image header); ``file_signature`` is a cheap
stamp (resolved path, size, modification time) for the engine's cache. Errors are
:class:`blocks.errors.BlockFileError` naming the file and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def read_tensor_file(spec: str, base_dir: Path | None) -> np.ndarray:
    """The array stored in ``spec`` (``a.npy``, ``b.npz:key``, ``c.png``)."""
    raise NotImplementedError


def peek_tensor_file(spec: str, base_dir: Path | None) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of the array in ``spec`` without reading its data."""
    raise NotImplementedError


def file_signature(spec: str, base_dir: Path | None) -> str:
    """A stamp that changes when the file changes."""
    raise NotImplementedError
