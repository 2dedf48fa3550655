"""Data files an Input block reads: ``.npy``, ``name.npz:key``, ``.png``/``.jpg``/``.bmp``.

Images are read as ``[1, H, W, C]`` uint8 (grey images as C=1, palette images converted
to RGB/RGBA). Relative paths resolve against ``base_dir`` (the graph file's folder).
Nothing is unpickled (``allow_pickle=False``). ``peek_tensor_file`` gives shape and dtype
without reading the data (npy header, image header); ``file_signature`` is a cheap
stamp (resolved path, size, modification time) for the engine's cache. Errors are
:class:`blocks.errors.BlockFileError` naming the file and what was expected.

File names:

* ``a.npy`` — the array in it;
* ``b.npz:key`` — the array ``key`` of the archive; ``b.npz`` alone when the archive
  holds exactly one array (otherwise the error lists the keys). The ``:key`` suffix is
  only recognised after ``.npz`` so Windows drive letters (``C:\\x.npy``) are paths;
* ``c.png``, ``c.jpg``/``c.jpeg``, ``c.bmp`` — ``[1, H, W, C]``. Image modes: ``1`` and
  ``L`` -> uint8 C=1; ``LA`` -> C=2; ``RGB`` -> C=3; ``RGBA`` -> C=4; ``P`` -> RGB, or
  RGBA when it has transparency; ``PA`` -> RGBA; ``CMYK``/``YCbCr``/``LAB``/``HSV`` ->
  RGB; 16-bit grey (``I;16``, ``I;16B``...) -> uint16 C=1; ``I`` -> int32 C=1; ``F`` ->
  float32 C=1. Only the first frame of a multi-frame file is read.

Arrays must hold numbers or booleans (no object, string, structured or void arrays).
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from blocks.errors import BlockFileError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
ARRAY_SUFFIXES = (".npy", ".npz")
_NUMERIC_KINDS = "biufc"
_NPZ_MARK = ".npz:"


def _error(reason: str, path: str) -> BlockFileError:
    return BlockFileError(reason, file=path, port="file")


def _split_spec(spec: str) -> tuple[str, str | None]:
    """The path part and the npz key (``None`` when not given) of a file spec."""
    text = spec.strip()
    mark = text.lower().rfind(_NPZ_MARK)
    if mark >= 0:
        return text[: mark + 4], text[mark + len(_NPZ_MARK) :]
    return text, None


def _resolve(path_text: str, base_dir: Path | None, spec: str) -> Path:
    if not path_text:
        raise _error("expected a file name (.npy, name.npz:key or an image), found nothing", spec)
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    return path


def _suffix(path: Path, spec: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES + ARRAY_SUFFIXES:
        found = f"'{path.suffix}'" if path.suffix else "no extension"
        raise _error(
            "unsupported file type: expected .npy, .npz (as name.npz:key), .png, .jpg, .jpeg "
            f"or .bmp, found {found}",
            spec,
        )
    return suffix


def _existing(spec: str, base_dir: Path | None) -> tuple[Path, str, str | None]:
    """Resolved path, lower-case suffix and npz key, checking the file exists."""
    if not isinstance(spec, str):
        raise BlockFileError(f"expected a file name, found {type(spec).__name__}", port="file")
    path_text, key = _split_spec(spec)
    try:
        path = _resolve(path_text, base_dir, spec)
        suffix = _suffix(path, spec)
        if not path.exists():
            raise _error(f"file not found: {path}", spec)
        if not path.is_file():
            raise _error(f"expected a file, found a folder or special file: {path}", spec)
    except (OSError, ValueError, RuntimeError) as error:
        # A NUL byte, a name too long, an unknown ~user: the name cannot be a file.
        if isinstance(error, BlockFileError):
            raise
        raise _error(f"cannot use '{path_text}' as a file name: {error}", spec) from error
    return path, suffix, key


def _check_dtype(dtype: np.dtype[Any], spec: str, what: str) -> None:
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise _error(
            f"expected {what} of numbers or booleans, found dtype {dtype} "
            "(object, string and structured arrays are not supported)",
            spec,
        )


# ----------------------------------------------------------------------------- npz


def _npz_member(archive: zipfile.ZipFile, key: str | None, spec: str) -> str:
    """The member name of ``key`` in an npz archive (the only array when key is None)."""
    members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
    keys = ", ".join(sorted(members)) or "none"
    if key is None:
        if len(members) == 1:
            return next(iter(members.values()))
        raise _error(
            f"the archive holds {len(members)} arrays; expected name.npz:key with one of the "
            f"keys: {keys}",
            spec,
        )
    if key not in members:
        raise _error(f"no array '{key}' in the archive; its keys are: {keys}", spec)
    return members[key]


def _read_npz(path: Path, key: str | None, spec: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        zip_file = archive.zip
        member = _npz_member(zip_file, key, spec)
        return np.asarray(archive[member[:-4]])


def _peek_npy_stream(
    stream: BinaryIO, total_bytes: int
) -> tuple[tuple[int, ...], np.dtype[Any]] | None:
    """Shape and dtype from an npy header; ``None`` for header versions without a reader.

    ``total_bytes`` is the size of the whole npy data (file or archive member): a header
    promising more data than that is refused here, before NumPy would allocate it.
    """
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    else:
        return None  # version 3.0 (utf-8 header) has no public reader
    shape = tuple(int(d) for d in shape)
    dtype = np.dtype(dtype)
    if dtype.kind in _NUMERIC_KINDS and dtype.fields is None:
        needed = math.prod(shape) * dtype.itemsize
        available = total_bytes - stream.tell()
        if needed > available:
            raise _TruncatedError(
                f"truncated: its header promises {list(shape)} {dtype} ({needed} bytes of data) "
                f"but only {max(available, 0)} bytes follow"
            )
    return shape, dtype


class _TruncatedError(Exception):
    """An npy header promises more data than there is."""


# ----------------------------------------------------------------------------- images


def _image_plan(mode: str, info: dict[str, Any]) -> tuple[str | None, int, np.dtype[Any]]:
    """(mode to convert to or None, channels, dtype) for a Pillow image mode."""
    if mode in ("1", "L"):
        return ("L" if mode == "1" else None), 1, np.dtype(np.uint8)
    if mode == "LA":
        return None, 2, np.dtype(np.uint8)
    if mode == "RGB":
        return None, 3, np.dtype(np.uint8)
    if mode == "RGBA":
        return None, 4, np.dtype(np.uint8)
    if mode == "P":
        return (
            ("RGBA", 4, np.dtype(np.uint8))
            if "transparency" in info
            else ("RGB", 3, np.dtype(np.uint8))
        )
    if mode in ("PA", "RGBa", "La"):
        return ("RGBA", 4, np.dtype(np.uint8)) if mode != "La" else ("LA", 2, np.dtype(np.uint8))
    if mode.startswith("I;16"):
        return None, 1, np.dtype(np.uint16)
    if mode == "I":
        return None, 1, np.dtype(np.int32)
    if mode == "F":
        return None, 1, np.dtype(np.float32)
    return "RGB", 3, np.dtype(np.uint8)  # CMYK, YCbCr, LAB, HSV, RGBX, ...


def _open_image(path: Path, spec: str) -> Any:
    from PIL import Image  # Pillow is imported only when an image is read

    try:
        return Image.open(path)
    except Exception as error:  # Pillow raises many types for bad files
        raise _error(f"cannot read the image {path.name}: {error}", spec) from error


def _read_image(path: Path, spec: str) -> np.ndarray:
    image = _open_image(path, spec)
    try:
        with image:
            image.load()
            convert, channels, dtype = _image_plan(image.mode, image.info)
            if convert is not None:
                image = image.convert(convert)
            if image.mode.startswith("I;16"):
                # I;16 variants differ in byte order; the array view reads them right.
                array = np.asarray(image).astype(np.uint16)
            else:
                array = np.asarray(image)
    except BlockFileError:
        raise
    except Exception as error:
        raise _error(f"cannot read the image {path.name}: {error}", spec) from error
    array = np.ascontiguousarray(array, dtype=dtype)
    height, width = array.shape[:2]
    return array.reshape(1, height, width, channels)


def _peek_image(path: Path, spec: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    image = _open_image(path, spec)
    with image:
        width, height = image.size
        _, channels, dtype = _image_plan(image.mode, image.info)
    return (1, int(height), int(width), channels), dtype


# ----------------------------------------------------------------------------- public


def read_tensor_file(spec: str, base_dir: Path | None) -> np.ndarray:
    """The array stored in ``spec`` (``a.npy``, ``b.npz:key``, ``c.png``)."""
    path, suffix, key = _existing(spec, base_dir)
    if suffix in IMAGE_SUFFIXES:
        return _read_image(path, spec)
    # The header check first: it refuses non-npy data and object arrays with a clear
    # message before NumPy would mistake them for pickles.
    shape, dtype = peek_tensor_file(spec, base_dir)
    try:
        if suffix == ".npz":
            array = _read_npz(path, key, spec)
        else:
            array = np.asarray(np.load(path, allow_pickle=False))
    except BlockFileError:
        raise
    except Exception as error:  # ValueError, zipfile, OSError, EOFError from a corrupt file
        raise _invalid(path, suffix, error, spec) from error
    _check_dtype(array.dtype, spec, "an array")
    if array.shape != shape or array.dtype != dtype:  # pragma: no cover - file changed meanwhile
        raise _error(f"{path.name} changed while it was read", spec)
    return array


def _invalid(path: Path, suffix: str, error: Exception, spec: str) -> BlockFileError:
    if isinstance(error, OSError) and error.strerror:  # permissions, I/O errors
        return _error(f"cannot read {path}: {error.strerror}", spec)
    return _error(f"cannot read {path.name}: not a valid {suffix} file ({error})", spec)


def peek_tensor_file(spec: str, base_dir: Path | None) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of the array in ``spec`` without reading its data."""
    path, suffix, key = _existing(spec, base_dir)
    if suffix in IMAGE_SUFFIXES:
        return _peek_image(path, spec)
    try:
        if suffix == ".npz":
            with zipfile.ZipFile(path) as archive:
                member = _npz_member(archive, key, spec)
                size = archive.getinfo(member).file_size
                with archive.open(member) as stream:
                    found = _peek_npy_stream(stream, size)  # type: ignore[arg-type]
            if found is None:
                with np.load(path, allow_pickle=False) as npz:
                    array = npz[member[:-4]]
                found = array.shape, array.dtype
        else:
            with path.open("rb") as stream:
                found = _peek_npy_stream(stream, path.stat().st_size)
            if found is None:  # a memory map reads the header only
                mapped = np.load(path, mmap_mode="r", allow_pickle=False)
                found = mapped.shape, mapped.dtype
                del mapped
    except BlockFileError:
        raise
    except _TruncatedError as error:
        raise _error(f"cannot read {path.name}: {error}", spec) from error
    except Exception as error:  # bad magic, bad header, bad zip, OSError
        raise _invalid(path, suffix, error, spec) from error
    shape, dtype = found
    _check_dtype(dtype, spec, "an array")
    return shape, dtype


def file_signature(spec: str, base_dir: Path | None) -> str:
    """A stamp that changes when the file changes."""
    path, _, key = _existing(spec, base_dir)
    try:
        stat = path.stat()
    except OSError as error:
        raise _error(f"cannot read {path}: {error}", spec) from error
    suffix = "" if key is None else f":{key}"
    return f"{path.resolve()}{suffix}|{stat.st_size}|{stat.st_mtime_ns}"
