"""The one atomic file writer of TensorBlocks (graph files, results, the editor's autosave).

Contract of :func:`write_atomically(path, payload) <write_atomically>`:

* The target is replaced as a whole or not at all: the content goes to a temporary file
  in the target's folder (a rename across file systems is not atomic), which is flushed,
  fsynced and renamed over the target (``os.replace``); the folder is fsynced after. On
  any failure (a full disk, an exception in ``payload``, Ctrl-C) the temporary file is
  removed and the previous file is intact.
* The temporary file is created with mode 0600 and gets the target's permission bits
  before any byte is written, so a 0600 target is never readable by others even for a
  moment; a new target gets the umask's mode.
* Refused with a :class:`~blocks.errors.GraphFileError`, target untouched: a target that
  exists and is not a regular file (a device such as ``/dev/full``, a FIFO, a folder —
  never replaced, even as root); a read-only target (no write permission bit: saving
  over it would silently drop the owner's protection); a folder that does not exist.
  A symbolic link is followed: the file it points at is replaced, the link kept.
* Stale temporary files: temporary names are ``.NAME.<pid>-<random>.tbtmp``. Before
  writing, temporaries of the same target left by a process that no longer exists (a
  save killed mid-way) are removed, so they cannot pile up.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from blocks.errors import GraphFileError

_TEMP_SUFFIX = ".tbtmp"
_TEMP_NAME = re.compile(
    r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}" + re.escape(_TEMP_SUFFIX) + "$"
)

Payload = bytes | Callable[[BinaryIO], Any]


def temp_name(target_name: str, pid: int | None = None) -> str:
    """A fresh temporary file name for ``target_name`` (in the same folder)."""
    owner = os.getpid() if pid is None else pid
    return f".{target_name}.{owner}-{secrets.token_hex(4)}{_TEMP_SUFFIX}"


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove temporaries of ``target`` left by dead processes; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or match["name"] != target.name:
            continue
        pid = int(match["pid"])
        if pid == os.getpid() or _process_alive(pid):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _checked_target(name: str) -> tuple[Path, int | None]:
    """The file to replace (links followed) and its permission bits (None: new file)."""
    target = Path(name)
    try:
        if target.is_symlink():  # replace the file the link points at, keep the link
            target = target.resolve()
        info = os.stat(target)
    except FileNotFoundError:
        if not target.parent.is_dir():
            raise GraphFileError(
                "cannot write the file: its folder does not exist", file=name
            ) from None
        return target, None
    except OSError as error:
        reason = error.strerror or error
        raise GraphFileError(f"cannot write the file: {reason}", file=name) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, FIFO or other special file"
        raise GraphFileError(
            f"cannot write the file: it exists and is {what}, not a regular file; "
            "choose another name",
            file=name,
        )
    mode = info.st_mode & 0o7777
    if not mode & 0o222:
        raise GraphFileError(
            "cannot write the file: it is read-only; make it writable or choose another name",
            file=name,
        )
    return target, mode


def write_atomically(path: str | os.PathLike[str], payload: Payload) -> None:
    """Replace ``path`` with ``payload`` (bytes, or a function writing to a binary stream).

    See the module docstring; GraphFileError (target intact) when it cannot be written.
    """
    name = os.fspath(path)
    target, mode = _checked_target(name)
    folder = target.parent
    remove_stale_temps(target)
    temp = folder / temp_name(target.name)
    try:
        # A new file gets the umask's mode (0666 & ~umask, as open() gives); over an
        # existing file, 0600 first and then exactly the target's bits, before any byte.
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        descriptor = os.open(temp, flags, 0o666 if mode is None else 0o600)
        try:
            if mode is not None:
                os.fchmod(descriptor, mode)
        except BaseException:
            os.close(descriptor)
            raise
        with os.fdopen(descriptor, "wb") as stream:
            if isinstance(payload, bytes | bytearray):
                stream.write(payload)
            else:
                payload(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(error, OSError):
            raise GraphFileError(
                f"cannot write the file: {error.strerror or error}", file=name
            ) from None
        raise
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    # Make the rename itself durable; not possible (nor needed) everywhere.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
