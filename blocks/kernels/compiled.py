"""The kernels' compiled loop modules, imported on first use and kept.

Contract: :func:`compiled_loops(name)` returns the module ``blocks.kernels.<name>`` (a
module of numba loops), importing it the first time. Importing numba costs about 0.15 s,
which ``import blocks`` (the editor's start, ``tensorblocks check``) should not pay; once
imported, the module is kept here, since an import statement per kernel call costs
microseconds that small calls notice.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_modules: dict[str, ModuleType] = {}


def compiled_loops(name: str) -> ModuleType:
    """The compiled loops module ``blocks.kernels.<name>``, imported on first use."""
    module = _modules.get(name)
    if module is None:
        module = _modules[name] = importlib.import_module(f"blocks.kernels.{name}")
    return module
