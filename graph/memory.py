"""The memory budget of a run: one limit for every tensor a run keeps and each step's work.

Contract:

* :func:`parse_memory_size` reads sizes as the command line takes them: ``512M``, ``4G``,
  ``1.5GiB``, ``1000000`` (bytes); binary units (K = 1024).
* :class:`MemoryBudget` counts bytes against one limit. ``reserve(nbytes, what)`` takes
  bytes before they are allocated and raises :class:`~blocks.errors.MemoryLimitError`
  naming ``what`` (node, port, file) and the bytes when they do not fit — nothing is then
  allocated; ``release(nbytes)`` gives bytes back. ``available`` is what is left.
* The engine (:mod:`graph.engine`) reserves, before calling a kernel, the step's working
  memory as the block declares it (its outputs plus scratch, see
  :func:`step_bytes`) on top of every tensor already kept by the run; after the step the
  scratch is released and the outputs stay reserved as kept tensors. So a run's peak
  memory stays within the limit plus the interpreter's own baseline.
* :func:`estimate_run` predicts, from inference alone (no kernel runs, file headers
  only), the bytes a run keeps and its peak; the batch runner sizes its chunks with it.
"""

from __future__ import annotations

import re

from blocks.errors import MemoryLimitError, TensorBlocksError
from blocks.spec import DEFAULT_MEMORY_LIMIT

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_memory_size(text: str) -> int:
    """Bytes in ``text`` (``512M``, ``4G``, ``1.5GiB``, ``1000000``); TensorBlocksError if not."""
    match = _SIZE.match(text) if len(text) < 64 else None
    if match is None:
        raise TensorBlocksError(
            f"expected a memory size such as 512M or 4G, got '{text[:64]}'"
        )
    number, unit = match.groups()
    nbytes = int(float(number) * _UNITS[unit.upper()])
    if nbytes <= 0:
        raise TensorBlocksError(f"expected a memory size above zero, got '{text}'")
    return nbytes


def format_bytes(nbytes: int) -> str:
    """``nbytes`` for a reader: ``3.00 GiB (3221225472 bytes)``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.2f} {unit} ({nbytes} bytes)"
    return f"{nbytes} bytes"


class MemoryBudget:
    """Bytes reserved against one limit (see the module docstring)."""

    def __init__(self, limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.limit = int(limit)
        self.used = 0
        #: The most bytes reserved at once.
        self.peak = 0

    @property
    def available(self) -> int:
        """Bytes that can still be reserved."""
        return max(self.limit - self.used, 0)

    def reserve(self, nbytes: int, what: str, **place: str | None) -> None:
        """Take ``nbytes`` for ``what``; MemoryLimitError (nothing taken) if they do not fit."""
        nbytes = max(int(nbytes), 0)
        if self.used + nbytes > self.limit:
            kept = f" with {format_bytes(self.used)} already in use" if self.used else ""
            raise MemoryLimitError(
                f"{what} needs {format_bytes(nbytes)}{kept}: more than the memory limit of "
                f"{format_bytes(self.limit)} (raise it with --memory-limit)",
                **place,
            )
        self.used += nbytes
        self.peak = max(self.peak, self.used)

    def release(self, nbytes: int) -> None:
        """Give back ``nbytes`` reserved earlier."""
        self.used = max(self.used - max(int(nbytes), 0), 0)
