"""Data files an Input block reads: ``.npy``, ``name.npz:key``, ``.png``/``.jpg``/``.bmp``.

Images are read as ``[1, H, W, C]`` uint8 (grey images as C=1, palette images converted
to RGB/RGBA). Relative paths resolve against ``base_dir`` (the graph file's folder).
Errors are :class:`blocks.errors.BlockFileError` naming the file and what was expected.

Files come from strangers:

* Nothing is unpickled or evaluated: npy headers (versions 1, 2 and 3, also inside an
  npz) are read by NumPy's header readers, object arrays are refused from the header.
* Only Pillow's PNG, JPEG and BMP decoders ever run, chosen by the suffix
  (``Image.open(..., formats=[...])``): a file whose content does not match its suffix
  (a PostScript, TIFF or GIF file named ``x.png``) is refused, never decoded. Peek and
  read use the same header rule, so ``check`` and ``run`` agree on the shape.
* :func:`peek_tensor_file` reads the header only. :func:`read_tensor_file` reads the
  header and the data through ONE open file handle and calls ``admit`` with what that
  header says (:class:`FileHeader`: shape, dtype, and the bytes reading will allocate)
  before allocating anything, so a file swapped after a check is checked again at the
  moment of reading. A header promising more data than the file holds is refused.
* :func:`array_layout` gives an ``.npy``/``.npz`` member's header and where its data
  starts in the file (for a batch run that maps only the rows it reads), with the same
  checks as a read.
* Images beyond Pillow's decompression-bomb limit are a clean error; below it the size
  is the caller's to judge through ``admit`` (Pillow's warning is not printed).
* :func:`file_signature` changes whenever the file is changed (see its docstring).

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

import hashlib
import io
import math
import os
import stat
import threading
import time
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from blocks.errors import BlockFileError, CancelledError, TensorBlocksError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
#: The only Pillow decoder each image suffix may run.
IMAGE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP"}
#: Bytes per pixel Pillow may hold while decoding and converting an image, beyond the
#: array returned: its own 4-byte-per-pixel buffer and one converted copy.
_IMAGE_SCRATCH_PER_PIXEL = 8
_IMAGE_MAGIC = {"PNG": b"\x89PNG\r\n\x1a\n", "JPEG": b"\xff\xd8\xff", "BMP": b"BM"}
_NPY_MAX_HEADER = 10000  # NumPy's own default: a header is a few hundred bytes
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


def resolve_file(spec: str, base_dir: Path | None) -> Path:
    """The absolute path ``spec`` names (``~`` expanded, ``:key`` dropped, links resolved),
    as reading it would open it; BlockFileError for a name that cannot be a file."""
    path_text, _ = _split_spec(spec)
    try:
        return _resolve(path_text, base_dir, spec).resolve()
    except BlockFileError:
        raise
    except (OSError, ValueError, RuntimeError) as error:
        raise _error(f"cannot use '{path_text}' as a file name: {error}", spec) from error


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


def _open_regular(path: Path, spec: str) -> BinaryIO:
    """``path`` opened for reading, refused unless what was opened is a regular file.

    Judged on the open descriptor (never blocking: a FIFO swapped in after the check
    would otherwise hang the read), so the file read is the file checked.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                         | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise _error(f"expected a file, found a folder or special file: {path}", spec)
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def check_dtype(dtype: np.dtype[Any], spec: str, what: str = "an array") -> None:
    """Only numbers and booleans are read (no object, string or structured arrays)."""
    if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
        raise _error(
            f"expected {what} of numbers or booleans, found dtype {dtype} "
            "(object, string and structured arrays are not supported)",
            spec,
        )


# ----------------------------------------------------------------------------- headers


@dataclass(frozen=True)
class FileHeader:
    """What a data file's header says: shape, dtype, and the bytes reading it allocates."""

    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    read_bytes: int


Admit = Callable[[FileHeader], None]


def _npy_header(stream: BinaryIO, total_bytes: int, spec: str, path: Path) -> tuple[
    tuple[int, ...], np.dtype[Any], bool
]:
    """(shape, dtype, fortran_order) of the npy data starting at ``stream``'s position.

    ``total_bytes`` is the size of the whole npy data (file or archive member): a header
    promising more data than that is refused here, before anything is allocated.
    """
    start = stream.tell()
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            stream, max_header_size=_NPY_MAX_HEADER
        )
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            stream, max_header_size=_NPY_MAX_HEADER
        )
    elif version == (3, 0):
        # Version 3 is version 2 with a UTF-8 header (for non-ASCII field names of
        # structured dtypes, refused anyway): an ASCII one reads as version 2.
        raw_length = stream.read(4)
        length = int.from_bytes(raw_length, "little") if len(raw_length) == 4 else -1
        if not 0 <= length <= _NPY_MAX_HEADER:
            raise ValueError("bad or too long version 3 header")
        header = stream.read(length)
        if not header.isascii():
            raise ValueError("a version 3 header with non-ASCII text (structured dtype)")
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            io.BytesIO(raw_length + header), max_header_size=_NPY_MAX_HEADER
        )
    else:  # pragma: no cover - read_magic accepts any version; numpy knows 1-3
        raise ValueError(f"unknown npy version {version}")
    header_end = stream.tell() - start
    shape = tuple(int(d) for d in shape)
    dtype = np.dtype(dtype)
    check_dtype(dtype, spec)
    needed = math.prod(shape) * dtype.itemsize
    available = total_bytes - header_end
    if needed > available:
        raise _TruncatedError(
            f"truncated: its header promises {list(shape)} {dtype} ({needed} bytes of data) "
            f"but only {max(available, 0)} bytes follow"
        )
    return shape, dtype, bool(fortran)


class _TruncatedError(Exception):
    """An npy header promises more data than there is."""


#: Data is read in pieces of this many bytes, so a Stop lands between them.
_READ_PIECE = 32 << 20


def _read_npy_data(
    stream: BinaryIO, shape: tuple[int, ...], dtype: np.dtype[Any], fortran: bool,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The array data following an npy header, read into one new array, in pieces (a set
    ``cancel`` event stops it between pieces with a CancelledError)."""
    if fortran:
        array = np.empty(shape[::-1], dtype).T  # F-ordered; its transpose is C-contiguous
        flat = array.T
    else:
        array = flat = np.empty(shape, dtype)
    view = flat.reshape(-1).view(np.uint8).data if flat.size else memoryview(bytearray())
    filled = 0
    while filled < len(view):
        if cancel is not None and cancel.is_set():
            raise CancelledError("cancelled while reading the file")
        count = stream.readinto(view[filled : filled + _READ_PIECE])  # type: ignore[attr-defined]
        if not count:
            raise _TruncatedError(
                f"truncated: {len(view) - filled} bytes of data missing at the end"
            )
        filled += count
    return array


# ----------------------------------------------------------------------------- npz

#: The most entries an npz may have: the zip directory is read whole (linear in entries),
#: and a small file can hold millions of empty entries.
MAX_NPZ_ENTRIES = 16384
_MAX_NPZ_DIRECTORY = 8 << 20
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"


def _check_zip_entries(stream: BinaryIO, path: Path, spec: str) -> None:
    """Refuse an archive whose directory lists too many entries, before reading it.

    The count comes from the end-of-directory record in the file's last 64 KiB (the
    zip64 record when there is one); an archive without one is left to zipfile's error.
    """
    size = stream.seek(0, os.SEEK_END)
    stream.seek(max(0, size - (1 << 16) - 22))
    tail = stream.read()
    stream.seek(0)
    count = directory = -1
    at = tail.rfind(_EOCD)
    if at >= 0 and len(tail) >= at + 16:
        count = int.from_bytes(tail[at + 10 : at + 12], "little")
        directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    at64 = tail.rfind(_EOCD64)
    if at64 >= 0 and len(tail) >= at64 + 48:
        count = max(count, int.from_bytes(tail[at64 + 32 : at64 + 40], "little"))
        directory = max(directory, int.from_bytes(tail[at64 + 40 : at64 + 48], "little"))
    if count > MAX_NPZ_ENTRIES or directory > _MAX_NPZ_DIRECTORY:
        raise _error(
            f"{path.name} lists {count} entries in a {directory}-byte directory; an .npz "
            f"may hold at most {MAX_NPZ_ENTRIES} entries in {_MAX_NPZ_DIRECTORY} bytes",
            spec,
        )



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


def _open_image(stream: BinaryIO, suffix: str, path: Path, spec: str) -> Any:
    """The image in ``stream`` opened (header only) by the one decoder its suffix allows."""
    from PIL import Image  # Pillow is imported only when an image is read

    expected = IMAGE_FORMATS[suffix]
    try:
        with warnings.catch_warnings():
            # Size is judged by the caller (admit); Pillow's warning would only print.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(stream, formats=[expected])
    except Image.UnidentifiedImageError:
        stream.seek(0)
        if stream.read(8).startswith(_IMAGE_MAGIC[expected]):
            raise _error(
                f"cannot read the image {path.name}: a damaged {expected} file", spec
            ) from None
        raise _error(
            f"{path.name} is not a {expected} image: its content does not match its "
            f"{suffix} suffix (only PNG, JPEG and BMP files are read, by their suffix)",
            spec,
        ) from None
    except Image.DecompressionBombError as error:
        raise _error(
            f"the image {path.name} is too large to decode safely ({error}); "
            "save it as a .npy file",
            spec,
        ) from None
    except Exception as error:  # Pillow raises many types for bad files
        raise _error(f"cannot read the image {path.name}: {error}", spec) from error


def _image_header(image: Any) -> tuple[FileHeader, str | None]:
    """The header of an opened image and the mode it is converted to (None: kept)."""
    width, height = (int(v) for v in image.size)
    convert, channels, dtype = _image_plan(image.mode, image.info)
    shape = (1, height, width, channels)
    pixels = height * width
    read_bytes = pixels * channels * dtype.itemsize + pixels * _IMAGE_SCRATCH_PER_PIXEL
    return FileHeader(shape, dtype, read_bytes), convert


def _read_image(stream: BinaryIO, suffix: str, path: Path, spec: str, admit: Admit | None) -> (
    np.ndarray
):
    image = _open_image(stream, suffix, path, spec)
    try:
        with image:
            header, convert = _image_header(image)
            if admit is not None:
                admit(header)
            mode = image.mode
            image.load()
            if image.mode != mode:  # the header's promise is what check reported
                raise _error(f"{path.name} changed its image mode while decoding", spec)
            if convert is not None:
                image = image.convert(convert)
            if image.mode.startswith("I;16"):
                # I;16 variants differ in byte order; the array view reads them right.
                array = np.asarray(image).astype(np.uint16)
            else:
                array = np.asarray(image)
    except (TensorBlocksError, MemoryError):
        raise
    except Exception as error:
        raise _error(f"cannot read the image {path.name}: {error}", spec) from error
    array = np.ascontiguousarray(array, dtype=header.dtype)
    return array.reshape(header.shape)


# ----------------------------------------------------------------------------- public


def _array_header(
    stream: BinaryIO, total_bytes: int, path: Path, suffix: str, spec: str
) -> tuple[FileHeader, bool]:
    try:
        shape, dtype, fortran = _npy_header(stream, total_bytes, spec, path)
    except BlockFileError:
        raise
    except _TruncatedError as error:
        raise _error(f"cannot read {path.name}: {error}", spec) from error
    except Exception as error:  # bad magic, bad header
        raise _invalid(path, suffix, error, spec) from error
    return FileHeader(shape, dtype, math.prod(shape) * dtype.itemsize), fortran


def _with_file(
    spec: str, base_dir: Path | None, admit: Admit | None, read: bool,
    cancel: threading.Event | None = None,
) -> tuple[FileHeader, np.ndarray | None]:
    """Open ``spec`` once: its header, and (``read``) its data after ``admit`` accepted it."""
    path, suffix, key = _existing(spec, base_dir)
    try:
        with _open_regular(path, spec) as raw:
            stream: BinaryIO = raw
            if suffix in IMAGE_SUFFIXES:
                if read:
                    array = _read_image(stream, suffix, path, spec, admit)
                    return FileHeader(array.shape, array.dtype, array.nbytes), array
                image = _open_image(stream, suffix, path, spec)
                with image:
                    return _image_header(image)[0], None
            if suffix == ".npz":
                _check_zip_entries(raw, path, spec)
                with zipfile.ZipFile(raw) as archive:
                    member = _npz_member(archive, key, spec)
                    size = archive.getinfo(member).file_size
                    with archive.open(member) as member_stream:
                        return _read_array(
                            member_stream, size, path, suffix, spec, admit, read,  # type: ignore[arg-type]
                            cancel,
                        )
            return _read_array(stream, os.fstat(raw.fileno()).st_size, path, suffix, spec,
                               admit, read, cancel)
    except (TensorBlocksError, MemoryError):  # ours, or admit's refusal
        raise
    except _TruncatedError as error:
        raise _error(f"cannot read {path.name}: {error}", spec) from error
    except Exception as error:  # zipfile, OSError, EOFError from a corrupt file
        raise _invalid(path, suffix, error, spec) from error


def _read_array(
    stream: BinaryIO, total_bytes: int, path: Path, suffix: str, spec: str,
    admit: Admit | None, read: bool, cancel: threading.Event | None = None,
) -> tuple[FileHeader, np.ndarray | None]:
    header, fortran = _array_header(stream, total_bytes, path, suffix, spec)
    if not read:
        return header, None
    if admit is not None:
        admit(header)
    return header, _read_npy_data(stream, header.shape, header.dtype, fortran, cancel)


def read_tensor_file(
    spec: str, base_dir: Path | None, *, admit: Admit | None = None,
    cancel: threading.Event | None = None,
) -> np.ndarray:
    """The array stored in ``spec`` (``a.npy``, ``b.npz:key``, ``c.png``).

    ``admit`` is called with the header read from the very handle the data is then read
    from, before anything is allocated; it raises to refuse (e.g. the memory budget).
    ``cancel``: an array file's data is read in pieces and a set event stops the read
    between them (CancelledError), so a Stop lands during a large file too.
    """
    _, array = _with_file(spec, base_dir, admit, read=True, cancel=cancel)
    assert array is not None
    return array


@dataclass(frozen=True)
class ArrayLayout:
    """Where an array file's data lies, for reading it in parts (a batch run's rows).

    ``data_offset`` is the byte offset of the data in the file at ``path`` (an ``.npy``, or a
    member stored without compression in an ``.npz``); ``None`` for a compressed member,
    which can only be read whole.
    """

    path: Path
    header: FileHeader
    fortran: bool
    data_offset: int | None


def array_layout(spec: str, base_dir: Path | None) -> ArrayLayout:
    """The header of the ``.npy`` or ``name.npz:key`` in ``spec`` and where its data lies,
    checked as every read is (sizes against the file, entry counts, dtypes), without
    reading the data."""
    path, suffix, key = _existing(spec, base_dir)
    if suffix not in ARRAY_SUFFIXES:
        raise _error(f"expected an array file (.npy, name.npz:key), found '{suffix}'", spec)
    try:
        with _open_regular(path, spec) as raw:
            if suffix == ".npy":
                header, fortran = _array_header(
                    raw, os.fstat(raw.fileno()).st_size, path, suffix, spec
                )
                return ArrayLayout(path, header, fortran, raw.tell())
            _check_zip_entries(raw, path, spec)
            with zipfile.ZipFile(raw) as archive:
                info = archive.getinfo(_npz_member(archive, key, spec))
                with archive.open(info) as member:
                    header, fortran = _array_header(
                        member, info.file_size, path, suffix, spec  # type: ignore[arg-type]
                    )
                    header_bytes = member.tell()
            offset = None
            if info.compress_type == zipfile.ZIP_STORED:
                offset = _member_data_start(raw, info, path, spec) + header_bytes
            return ArrayLayout(path, header, fortran, offset)
    except (TensorBlocksError, MemoryError):
        raise
    except Exception as error:  # zipfile, OSError, EOFError from a corrupt file
        raise _invalid(path, suffix, error, spec) from error


def _member_data_start(raw: BinaryIO, info: zipfile.ZipInfo, path: Path, spec: str) -> int:
    """Where a stored member's bytes start: after its local header (30 bytes, name, extra)."""
    raw.seek(info.header_offset)
    local = raw.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise _error(f"cannot read {path.name}: not a valid .npz file (bad local header)", spec)
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    return info.header_offset + 30 + name_length + extra_length


def read_header(spec: str, base_dir: Path | None) -> FileHeader:
    """The header of ``spec`` (shape, dtype, bytes reading allocates) without its data."""
    return _with_file(spec, base_dir, None, read=False)[0]


def _invalid(path: Path, suffix: str, error: Exception, spec: str) -> BlockFileError:
    if isinstance(error, OSError) and error.strerror:  # permissions, I/O errors
        return _error(f"cannot read {path}: {error.strerror}", spec)
    return _error(f"cannot read {path.name}: not a valid {suffix} file ({error})", spec)


def peek_tensor_file(spec: str, base_dir: Path | None) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """Shape and dtype of the array in ``spec`` without reading its data."""
    header = read_header(spec, base_dir)
    return header.shape, header.dtype


#: A file changed less than this long ago may change again within the same timestamp
#: tick (file system clocks are coarse); its signature then includes its content.
_RACY_SECONDS = 2.0


def file_signature(spec: str, base_dir: Path | None) -> str:
    """A stamp that changes whenever the file changes.

    Resolved path and npz key, device and inode (a file replaced by another), size,
    modification time and status-change time in nanoseconds (a rewrite that restores the
    size and the mtime still changes the ctime). Within a timestamp tick of a change
    (``_RACY_SECONDS``) the stamps cannot be trusted, so the content hash is added too.
    """
    path, _, key = _existing(spec, base_dir)
    try:
        info = path.stat()
        stamp = (
            f"{path.resolve()}{'' if key is None else ':' + key}|{info.st_dev}|{info.st_ino}"
            f"|{info.st_size}|{info.st_mtime_ns}|{info.st_ctime_ns}"
        )
        newest = max(info.st_mtime_ns, info.st_ctime_ns) / 1e9
        if time.time() - newest < _RACY_SECONDS:
            stamp += "|" + _content_hash(path)
    except OSError as error:
        raise _error(f"cannot read {path}: {error}", spec) from error
    return stamp


def _content_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with _open_regular(path, str(path)) as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
