"""Datasets a batch run reads, item by item along axis 0.

Contract (:func:`open_source`):

* A source is a sequence of *items*: item ``i`` is row ``i`` along axis 0 of an array, or
  one file of a glob. ``source.read(start, stop)`` returns items ``start..stop-1`` stacked
  along a new axis 0 (``[n, *item_shape]``); it never reads more than those items, so a
  run's memory follows its chunk, not the dataset.
* Forms of a source (``SOURCE`` on the command line, or a value from Python):

  - ``data.npy`` — read by memory-mapping only the rows asked for (the header is parsed
    with NumPy's header readers; the file must be C-ordered and hold numbers);
  - ``data.npz:key`` (``data.npz`` when it holds one array) — a member stored without
    compression is memory-mapped like an ``.npy``; a compressed member is decompressed
    once, after its size was checked against the run's memory budget;
  - ``data.zarr`` or ``data.zarr:path/in/store`` — a zarr array, read chunk by chunk;
  - a glob such as ``photos/*.png`` (any of ``*?[`` makes a glob) — the matching
    ``.npy``/``.png``/``.jpg``/``.jpeg``/``.bmp`` files in sorted order, one item per file:
    an image is read as ``[1, H, W, C]`` so its item is ``[H, W, C]``; an ``.npy`` file
    holds the item itself. Files are read with :mod:`blocks.input_files` (only the
    decoders the suffix names). Items of different shapes or dtypes are never stacked:
    :meth:`Source.runs` tells where they change;
  - from Python: a numpy array, a zarr array or a dask array.

* Relative paths resolve against the current folder (the data is the caller's, not the
  graph file's). Nothing is unpickled or evaluated; only numeric and boolean dtypes are
  accepted; headers are checked against the file's size before anything is mapped.
* ``source.fingerprint()`` stamps what was read (path, size, modification time, or a
  file list), so a resumed run can tell that its sources are the same.
* Every failure is a :class:`~blocks.errors.BlockFileError` naming the file and, for an
  item, ``location="item N"``.
"""

from __future__ import annotations

import glob as globbing
import hashlib
import math
import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from blocks.errors import BlockFileError, MemoryLimitError
from blocks.input_files import (
    ARRAY_SUFFIXES,
    IMAGE_SUFFIXES,
    array_layout,
    check_dtype,
    peek_tensor_file,
    read_tensor_file,
)
from blocks.spec import DEFAULT_MEMORY_LIMIT

_GLOB_CHARACTERS = "*?["
ItemShape = tuple[int, ...]


class Source(Protocol):
    """What a batch run needs of a dataset (see the module docstring)."""

    #: How the source is named in messages (a path or "a numpy array").
    name: str

    def __len__(self) -> int: ...

    def runs(self) -> list[tuple[int, int, ItemShape, np.dtype[Any]]]:
        """Maximal ranges ``(start, stop, item_shape, dtype)`` of items alike in shape and dtype."""
        ...

    def read(self, start: int, stop: int) -> np.ndarray:
        """Items ``start..stop-1`` stacked along axis 0 (all alike: within one run)."""
        ...

    def item_name(self, index: int) -> str:
        """How item ``index`` is named: its file for a glob, else its index."""
        ...

    def item_names(self) -> list[str] | None:
        """Every item's file for a glob; ``None`` where items are known by index."""
        ...

    def fingerprint(self) -> str:
        """A stamp of what the source holds (changes when its files change)."""
        ...


def _error(reason: str, name: str, item: int | None = None) -> BlockFileError:
    return BlockFileError(reason, file=name, location=None if item is None else f"item {item}")


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1e".join(parts).encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


# ----------------------------------------------------------------------------- arrays


@dataclass
class _Rows:
    """Items are rows of an array-like (numpy, zarr, a memory-mapped file)."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]

    def __len__(self) -> int:
        return self.shape[0]

    def runs(self) -> list[tuple[int, int, ItemShape, np.dtype[Any]]]:
        return [(0, self.shape[0], self.shape[1:], self.dtype)] if self.shape[0] else []

    def item_name(self, index: int) -> str:
        return str(index)

    def item_names(self) -> list[str] | None:
        return None

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.shape[0]:
            raise _error(f"items {start}..{stop - 1} are outside 0..{self.shape[0] - 1}",
                         self.name)


class ArraySource(_Rows):
    """A numpy, zarr or dask array held by the caller."""

    def __init__(self, array: Any, name: str | None = None) -> None:
        shape = tuple(int(d) for d in array.shape)
        if not shape:
            raise _error("expected an array with an item axis (axis 0), found a scalar",
                         name or "array")
        dtype = np.dtype(array.dtype)
        check_dtype(dtype, name or "array")
        super().__init__(name or f"a {type(array).__module__.split('.')[0]} array",
                         shape, dtype)
        self.array = array

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        part = self.array[start:stop]
        if hasattr(part, "compute"):  # a dask array: computed here, in this task's thread
            part = part.compute(scheduler="sync")
        return np.asarray(part)

    def fingerprint(self) -> str:
        return _digest("array", self.name, str(self.shape), str(self.dtype))


class NpySource(_Rows):
    """An ``.npy`` file, or an uncompressed ``.npz`` member: rows memory-mapped on demand."""

    def __init__(self, path: Path, name: str, *, data_offset: int,
                 shape: tuple[int, ...], dtype: np.dtype[Any], stamp: str) -> None:
        super().__init__(name, shape, dtype)
        self.path = path
        self.data_offset = data_offset
        self.stamp = stamp
        self.row_bytes = math.prod(shape[1:]) * dtype.itemsize

    def read(self, start: int, stop: int) -> np.ndarray:
        self._check_range(start, stop)
        count = stop - start
        if count == 0 or self.row_bytes == 0:
            return np.zeros((count, *self.shape[1:]), self.dtype)
        offset = self.data_offset + start * self.row_bytes
        length = count * self.row_bytes
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if offset + length > size:  # shrunk since it was opened
                    raise _error(f"the file is now {size} bytes, too short for items "
                                 f"{start}..{stop - 1}", self.name, start)
                # Only these rows are mapped (from the page below them), and the mapping
                # goes when the chunk's arrays do. mmap itself rather than np.memmap: no
                # path resolution and no memmap subclass riding along every operation.
                below = offset % mmap.ALLOCATIONGRANULARITY
                mapped = _map_rows(handle.fileno(), below + length, offset - below)
        except BlockFileError:
            raise
        except (OSError, ValueError) as error:
            raise _error(f"cannot read items {start}..{stop - 1}: {error}", self.name,
                         start) from error
        rows = np.frombuffer(mapped, self.dtype, count * math.prod(self.shape[1:]), below)
        return rows.reshape(count, *self.shape[1:])

    def fingerprint(self) -> str:
        return _digest("npy", self.stamp, str(self.shape), str(self.dtype))


#: Linux maps a chunk's pages in one go (``MAP_POPULATE``) rather than a fault at a time
#: as the kernels touch them: 5-10% of a glimpse over memory-mapped images
#: (benchmarks/bench_batch.py); elsewhere the pages come on demand.
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def _map_rows(fileno: int, length: int, offset: int) -> mmap.mmap:
    """``length`` bytes of the file from ``offset`` (a multiple of the allocation
    granularity), mapped read-only."""
    if _POPULATE:
        return mmap.mmap(fileno, length, flags=mmap.MAP_SHARED | _POPULATE,
                         prot=mmap.PROT_READ, offset=offset)
    return mmap.mmap(fileno, length, access=mmap.ACCESS_READ, offset=offset)


def _check_layout(shape: tuple[int, ...], fortran: bool, name: str) -> None:
    if not shape:
        raise _error("expected an array with an item axis (axis 0), found a scalar", name)
    if fortran and len(shape) > 1:
        raise _error("the array is stored in Fortran order, so its items are not contiguous; "
                     "save it with numpy.ascontiguousarray", name)


def _open_array_file(path: Path, key: str | None, name: str, memory_limit: int) -> Source:
    """An ``.npy`` or ``name.npz:key``: header and data offset from
    :func:`blocks.input_files.array_layout` (the checks every read makes); rows mapped on
    demand, or a compressed member read once within the budget."""
    member = "" if key is None else f":{key}"
    spec = f"{path}{member}"
    layout = array_layout(spec, None)
    header = layout.header
    _check_layout(header.shape, layout.fortran, name)
    stamp = _stamp(path) + member
    if layout.data_offset is not None:
        return NpySource(path, name, data_offset=layout.data_offset, shape=header.shape,
                         dtype=header.dtype, stamp=stamp)
    if header.read_bytes > memory_limit:
        raise MemoryLimitError(
            f"the compressed member holds {header.read_bytes} bytes, more than the memory "
            f"budget of {memory_limit} bytes; store it as .npy or zarr to stream it",
            file=name,
        )
    return ArraySource(read_tensor_file(spec, None), name)


class ZarrSource(ArraySource):
    """A zarr array in a store on disk, read chunk by chunk."""

    def __init__(self, path: Path, inner: str | None, name: str, memory_limit: int) -> None:
        import zarr  # imported on use: a plain run needs no zarr

        try:
            array = zarr.open_array(store=str(path), path=inner or "", mode="r")
        except Exception as error:  # zarr raises several types for a missing or bad store
            raise _error(f"not a readable zarr array ({type(error).__name__}: {error})",
                         name) from error
        super().__init__(array, name)  # refuses object and string dtypes before any read
        # Reading one item decodes its whole zarr chunk: a stranger's store with a huge
        # chunk would be a memory bomb, so the chunk must fit the budget.
        chunk_bytes = math.prod(int(d) for d in array.chunks) * self.dtype.itemsize
        if chunk_bytes > memory_limit:
            raise MemoryLimitError(
                f"one zarr chunk of {list(array.chunks)} holds {chunk_bytes} bytes, more than "
                f"the memory budget of {memory_limit} bytes; rechunk it along axis 0",
                file=name,
            )
        self.path, self.inner = path, inner or ""

    def fingerprint(self) -> str:
        # The array's own metadata, not a walk over every chunk file of a large store.
        folder = self.path / self.inner if self.inner else self.path
        metadata = [p for p in (folder / "zarr.json", folder / ".zarray") if p.is_file()]
        return _digest("zarr", str(self.path.resolve()), self.inner, str(self.shape),
                       str(self.dtype), *(f"{p}|{p.stat().st_mtime_ns}" for p in metadata))


# ----------------------------------------------------------------------------- globs


class GlobSource:
    """One item per file, in sorted order (see the module docstring)."""

    def __init__(self, pattern: str, files: Sequence[Path]) -> None:
        self.name = pattern
        #: The files as matched (what messages and the store's ``items`` show) and their
        #: absolute paths (what is read: a cluster's workers run in other folders).
        self.names = [str(file) for file in files]
        self.files = [file.absolute() for file in files]
        self._runs: list[tuple[int, int, ItemShape, np.dtype[Any]]] = []
        self._stamps: list[str] = []
        for index, file in enumerate(self.files):
            shape, dtype = self._peek(index)
            if self._runs and self._runs[-1][2] == shape and self._runs[-1][3] == dtype:
                start, _, _, _ = self._runs[-1]
                self._runs[-1] = (start, index + 1, shape, dtype)
            else:
                self._runs.append((index, index + 1, shape, dtype))
            stat = file.stat()
            self._stamps.append(f"{file}|{stat.st_size}|{stat.st_mtime_ns}")

    def __len__(self) -> int:
        return len(self.files)

    def runs(self) -> list[tuple[int, int, ItemShape, np.dtype[Any]]]:
        return list(self._runs)

    def item_name(self, index: int) -> str:
        return self.names[index]

    def item_names(self) -> list[str] | None:
        return self.names  # shared, not copied: callers only read it

    def _peek(self, index: int) -> tuple[ItemShape, np.dtype[Any]]:
        file = self.files[index]
        try:
            shape, dtype = peek_tensor_file(str(file), None)
        except BlockFileError as error:
            error.file = self.names[index]
            raise error.at(location=f"item {index}") from None
        return _item_shape(file, tuple(shape)), np.dtype(dtype)

    def read(self, start: int, stop: int) -> np.ndarray:
        items = []
        for index in range(start, stop):
            file = self.files[index]
            try:
                array = read_tensor_file(str(file), None)
            except BlockFileError as error:
                error.file = self.names[index]  # as the user wrote it, not the absolute path
                raise error.at(location=f"item {index}") from None
            items.append(array.reshape(_item_shape(file, tuple(array.shape))))
        if not items:
            return np.zeros((0,), np.uint8)
        first = items[0]
        for index, item in zip(range(start, stop), items, strict=True):
            if item.shape != first.shape or item.dtype != first.dtype:
                raise _error(
                    f"expected an item like item {start} ({list(first.shape)} {first.dtype}), "
                    f"found {list(item.shape)} {item.dtype} (the file changed since the run "
                    "began)", self.names[index], index,
                )
        return np.stack(items)

    def fingerprint(self) -> str:
        return _digest("glob", self.name, *self._stamps)


def _item_shape(file: Path, shape: tuple[int, ...]) -> ItemShape:
    """An image is read as [1, H, W, C]: its item is [H, W, C]; an .npy file is the item."""
    return shape[1:] if file.suffix.lower() in IMAGE_SUFFIXES else shape


def _glob(pattern: str) -> list[Path]:
    suffixes = (*IMAGE_SUFFIXES, ".npy")
    matches = sorted(globbing.glob(os.path.expanduser(pattern), recursive=True))
    files = [Path(m) for m in matches if Path(m).suffix.lower() in suffixes and Path(m).is_file()]
    if not files:
        others = len(matches)
        found = f"{others} files, none .npy/.png/.jpg/.jpeg/.bmp" if others else "no file"
        raise _error(f"the pattern matches {found}", pattern)
    return files


# ----------------------------------------------------------------------------- entry


def is_glob(text: str) -> bool:
    """Whether a SOURCE text is a glob pattern."""
    return any(character in text for character in _GLOB_CHARACTERS)


def open_source(
    value: Any, *, memory_limit: int = DEFAULT_MEMORY_LIMIT, base_dir: Path | None = None
) -> Source:
    """The :class:`Source` for ``value``: a path text or Path, or an array (see the module)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__getitem__"):
            return ArraySource(value)
        raise BlockFileError(
            f"expected a path, a glob or an array as a source, found {type(value).__name__}"
        )
    text = value.strip()
    if not text:
        raise BlockFileError("expected a source (a .npy, name.npz:key, .zarr or a glob), "
                             "found nothing")
    if is_glob(text):
        pattern = text if base_dir is None or os.path.isabs(text) else str(base_dir / text)
        return GlobSource(text, _glob(pattern))
    path_text, inner = text, None
    for mark in (".npz:", ".zarr:"):
        at = text.lower().rfind(mark)
        if at >= 0:
            path_text, inner = text[: at + len(mark) - 1], text[at + len(mark):] or None
            break
    path = Path(path_text).expanduser()
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    path = path.absolute()  # a cluster's workers run in other folders
    suffix = path.suffix.lower()
    if not path.exists():
        raise _error(f"no such file or folder: {path}", text)
    if suffix == ".zarr":
        return ZarrSource(path, inner, text, memory_limit)
    if suffix in ARRAY_SUFFIXES and not path.is_file():
        raise _error(f"expected a file, found a folder or special file: {path}", text)
    if suffix in ARRAY_SUFFIXES:
        return _open_array_file(path, inner, text, memory_limit)
    raise _error(
        "expected a .npy file, name.npz:key, a .zarr array or a quoted glob of files "
        f"(e.g. 'photos/*.png'), found '{path.suffix or 'no extension'}'", text,
    )
