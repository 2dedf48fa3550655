"""Can Qt start here? One line naming what is missing and how to install it, before Qt aborts.

Qt's xcb platform plugin calls ``abort()`` (exit 134, a core dump) when a system library it
needs is absent or no X display is reachable; nothing can catch that once ``QApplication``
is being made. So ``tensorblocks edit`` asks this module first.

Contract (this module imports no Qt, so :mod:`app.cli` may use it before Qt loads):

* :func:`qt_platform` is the platform plugin Qt will pick (``QT_QPA_PLATFORM``, else
  ``wayland`` in a Wayland session, else ``xcb`` on Linux).
* :func:`startup_problem` returns ``None`` when Qt can be expected to start, else one line:
  no X display (DISPLAY unset, or a local display without its X socket), or the xcb
  plugin's missing libraries with the Debian/Ubuntu packages that
  hold them and the ``apt-get`` command (and ``tools/install_system_packages.sh``). Only the
  xcb plugin on Linux is checked; other platforms are left to Qt.
* :func:`library_problem` turns an import or load error naming a missing shared library
  (``libEGL.so.1: cannot open shared object file``) into the same kind of line, or ``None``.
* :func:`debian_package` is the Debian/Ubuntu package that ships a shared library.
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

SCRIPT = "tools/install_system_packages.sh"

#: Libraries whose package name does not follow the usual soname rule.
_PACKAGES = {
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
}

_MISSING = re.compile(r"(lib[\w.+-]+?\.so(?:\.\d+)*)\s*:\s*cannot open shared object file")
_LDD_MISSING = re.compile(r"^\s*(lib[\w.+-]+?\.so(?:\.\d+)*)\s*=>\s*not found", re.MULTILINE)


def debian_package(soname: str) -> str:
    """``libxcb-cursor.so.0`` -> ``libxcb-cursor0``; ``libxkbcommon-x11.so.0`` ->
    ``libxkbcommon-x11-0`` (Debian puts a hyphen between a name ending in a digit and
    its version)."""
    if soname in _PACKAGES:
        return _PACKAGES[soname]
    match = re.fullmatch(r"(lib[\w.+-]+?)\.so\.(\d+)(?:\.\d+)*", soname)
    if match is None:
        return soname
    name, version = match.group(1).lower(), match.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def _install_line(sonames: list[str]) -> str:
    packages = " ".join(dict.fromkeys(debian_package(name) for name in sonames))
    return (
        f"install them with 'sudo apt-get install {packages}' (Debian/Ubuntu), "
        f"or run {SCRIPT}"
    )


def qt_platform(environ: Mapping[str, str]) -> str:
    """The platform plugin Qt will load (see the module docstring)."""
    chosen = environ.get("QT_QPA_PLATFORM", "").strip()
    if chosen:
        # "xcb:option=..." and "wayland;xcb" (a fallback list): the first one is tried first.
        return chosen.split(";")[0].split(":")[0].strip().lower()
    if not sys.platform.startswith("linux"):
        return ""
    if environ.get("WAYLAND_DISPLAY") and environ.get("XDG_SESSION_TYPE") == "wayland":
        return "wayland"
    return "xcb"


def _xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.origin:
        return None
    plugin = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def _missing_libraries(plugin: Path, load_error: str) -> list[str]:
    """Every library ``plugin`` lacks (``ldd`` lists them all; ``dlopen`` names the first)."""
    missing: list[str] = []
    ldd = shutil.which("ldd")
    if ldd is not None:
        try:
            listing = subprocess.run(
                [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
            ).stdout
            missing = _LDD_MISSING.findall(listing)
        except (OSError, subprocess.SubprocessError):
            missing = []
    return list(dict.fromkeys(missing or _MISSING.findall(load_error)))


def library_problem(error: BaseException | str) -> str | None:
    """One line for an error that names a missing shared library, else ``None``."""
    names = list(dict.fromkeys(_MISSING.findall(str(error))))
    if not names:
        return None
    return f"Qt cannot start: {', '.join(names)} is missing; {_install_line(names)}"


def startup_problem(environ: Mapping[str, str]) -> str | None:
    """Why Qt would abort on start-up here, in one line, or ``None`` (see the docstring)."""
    if qt_platform(environ) != "xcb" or not sys.platform.startswith("linux"):
        return None
    if not environ.get("DISPLAY", "").strip():
        return (
            "Qt cannot start: no X display (DISPLAY is not set); start it from a desktop "
            "session, or take a screenshot without one: --screenshot PNG "
            "(QT_QPA_PLATFORM=offscreen)"
        )
    display = environ["DISPLAY"].strip()
    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if local is not None and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        return (
            f"Qt cannot start: no X server answers on display {display} (no socket "
            f"/tmp/.X11-unix/X{local.group(1)}); check DISPLAY"
        )
    plugin = _xcb_plugin()
    if plugin is None:
        return None
    try:
        # Loading the plugin resolves every library it needs, as Qt will; the same file is
        # loaded again by Qt later, so this costs nothing afterwards.
        ctypes.CDLL(str(plugin))
    except OSError as error:
        missing = _missing_libraries(plugin, str(error))
        if not missing:
            return f"Qt cannot start: its xcb platform plugin does not load: {error}"
        return (
            f"Qt cannot start: its xcb platform plugin needs {', '.join(missing)}, "
            f"missing on this machine; {_install_line(missing)}"
        )
    return None
